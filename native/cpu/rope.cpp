#include "rope.h"

#include <cmath>
#include <vector>

#include "../core/thread_pool.h"

namespace genrm::cpu {

std::vector<double> rope_default_inv_freq(double theta, int64_t head_dim) {
  // As HF computes it: theta ** (arange(0, D, 2) / D), in float64 here for accuracy.
  std::vector<double> inv_freq(head_dim / 2);
  for (int64_t i = 0; i < head_dim / 2; ++i) inv_freq[i] = 1.0 / std::pow(theta, (2.0 * i) / head_dim);
  return inv_freq;
}

void rope_apply(float* x, const int32_t* positions, int64_t tokens, int64_t heads, int64_t head_dim,
                const double* inv_freq, bool inverse) {
  const int64_t half = head_dim / 2;
  const float sign = inverse ? -1.0f : 1.0f;
  parallel_for(tokens, [&](int64_t b, int64_t e, int) {
    std::vector<float> cs(half), sn(half);
    for (int64_t t = b; t < e; ++t) {
      double pos = positions[t];
      for (int64_t i = 0; i < half; ++i) {
        double a = pos * inv_freq[i];
        cs[i] = static_cast<float>(std::cos(a));
        sn[i] = sign * static_cast<float>(std::sin(a));
      }
      for (int64_t h = 0; h < heads; ++h) {
        float* v = x + (t * heads + h) * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          float x1 = v[i], x2 = v[i + half];
          v[i] = x1 * cs[i] - x2 * sn[i];
          v[i + half] = x2 * cs[i] + x1 * sn[i];
        }
      }
    }
  });
}

void rope_table(const double* inv_freq, int64_t head_dim, int64_t max_position, float* cos_out, float* sin_out) {
  const int64_t half = head_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    for (int64_t p = 0; p < max_position; ++p) {
      cos_out[p * half + i] = static_cast<float>(std::cos(p * inv_freq[i]));
      sin_out[p * half + i] = static_cast<float>(std::sin(p * inv_freq[i]));
    }
  }
}

void rope_apply_table(float* x, const int32_t* positions, int64_t tokens, int64_t heads, int64_t head_dim,
                      const float* cos_table, const float* sin_table, bool inverse) {
  const int64_t half = head_dim / 2;
  const float sign = inverse ? -1.0f : 1.0f;
  parallel_for(tokens, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) {
      const float* cs = cos_table + static_cast<int64_t>(positions[t]) * half;
      const float* sn = sin_table + static_cast<int64_t>(positions[t]) * half;
      for (int64_t h = 0; h < heads; ++h) {
        float* v = x + (t * heads + h) * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const float x1 = v[i], x2 = v[i + half], s = sign * sn[i];
          v[i] = x1 * cs[i] - x2 * s;
          v[i + half] = x2 * cs[i] + x1 * s;
        }
      }
    }
  });
}

}  // namespace genrm::cpu
