#include "swiglu.h"

#include <algorithm>
#include <cmath>

#include "../core/thread_pool.h"

namespace genrm::cpu {

namespace {
inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
}  // namespace

void swiglu_forward(const float* g, const float* u, float* a, int64_t n) {
  parallel_for((n + 4095) / 4096, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b * 4096, end = std::min(n, e * 4096); i < end; ++i) a[i] = g[i] * sigmoid(g[i]) * u[i];
  });
}

// d silu(g)/dg = s (1 + g (1 - s)) with s = sigmoid(g).
void swiglu_backward(const float* g, const float* u, const float* da, float* dg, float* du, int64_t n) {
  parallel_for((n + 4095) / 4096, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b * 4096, end = std::min(n, e * 4096); i < end; ++i) {
      float s = sigmoid(g[i]);
      float silu = g[i] * s;
      du[i] = da[i] * silu;
      dg[i] = da[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
    }
  });
}

}  // namespace genrm::cpu
