// Include only from *_avx2.cpp units (compiled with -mavx2 -mfma): a dot
// product of two float rows, 16 lanes per step, in a fixed order. static, so
// each unit keeps its own copy and no AVX2 code can leak into a portable one.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace genrm::cpu::avx2 {

static inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

static inline float dot(const float* a, const float* b, int64_t k) {
  const int64_t k8 = k - k % 8;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 16 <= k8; p += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p), _mm256_loadu_ps(b + p), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p + 8), _mm256_loadu_ps(b + p + 8), acc1);
  }
  for (; p < k8; p += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p), _mm256_loadu_ps(b + p), acc0);
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; p < k; ++p) s += a[p] * b[p];
  return s;
}

}  // namespace genrm::cpu::avx2
