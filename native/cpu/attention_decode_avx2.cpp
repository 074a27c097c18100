// Compiled with -mavx2 -mfma. Only intrinsics and functions local to this unit.
// One query row against n cached keys: dot products 8 lanes wide, the softmax
// weights, then the weighted sum of values kept in registers 8 lanes at a time.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "attention_decode.h"
#include "dot_avx2.h"

namespace genrm::cpu {

void attention_decode_head_avx2(const float* q, const float* k, const float* v, int64_t n, int64_t d, int64_t stride,
                                float scale, float* p, float* out) {
  const int64_t d8 = d - d % 8;
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    p[j] = avx2::dot(q, k + j * stride, d) * scale;
    mx = std::max(mx, p[j]);
  }
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (p[j] = std::exp(p[j] - mx));
  const float inv = 1.0f / sum;
  // 8 columns of the output at a time, accumulated over every key in a register.
  for (int64_t t = 0; t < d8; t += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; ++j)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(p[j] * inv), _mm256_loadu_ps(v + j * stride + t), acc);
    _mm256_storeu_ps(out + t, acc);
  }
  for (int64_t t = d8; t < d; ++t) {
    float acc = 0;
    for (int64_t j = 0; j < n; ++j) acc += p[j] * inv * v[j * stride + t];
    out[t] = acc;
  }
}

}  // namespace genrm::cpu
