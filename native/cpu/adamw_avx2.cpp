// Compiled with -mavx2 -mfma. AdamW's update and the sum of squares, 8 floats
// at a time: the scalar loops were bound by divss/sqrtss and addsd latency, not
// by memory (perf: 8.6% and 2.1% of a 56M-parameter training step).
#include <immintrin.h>

#include "adamw.h"

namespace genrm::cpu::avx2 {

void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2, float step,
                 float inv_sqrt_bc2, float eps, float decay) {
  const __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2), vc1 = _mm256_set1_ps(1 - b1),
               vc2 = _mm256_set1_ps(1 - b2), vstep = _mm256_set1_ps(step), vbc = _mm256_set1_ps(inv_sqrt_bc2),
               veps = _mm256_set1_ps(eps), vdecay = _mm256_set1_ps(decay);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gi = _mm256_loadu_ps(g + i);
    const __m256 mi = _mm256_fmadd_ps(vb1, _mm256_loadu_ps(m + i), _mm256_mul_ps(vc1, gi));
    const __m256 vi = _mm256_fmadd_ps(vb2, _mm256_loadu_ps(v + i), _mm256_mul_ps(vc2, _mm256_mul_ps(gi, gi)));
    const __m256 den = _mm256_fmadd_ps(_mm256_sqrt_ps(vi), vbc, veps);
    const __m256 pi = _mm256_fnmadd_ps(vstep, _mm256_div_ps(mi, den), _mm256_mul_ps(_mm256_loadu_ps(p + i), vdecay));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    _mm256_storeu_ps(p + i, pi);
  }
  for (; i < n; ++i) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    p[i] = p[i] * decay - step * (m[i] / (__builtin_sqrtf(v[i]) * inv_sqrt_bc2 + eps));
  }
}

double sum_squares(const float* x, int64_t n) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xi = _mm256_loadu_ps(x + i);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(xi)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(xi, 1));
    s0 = _mm256_fmadd_pd(lo, lo, s0);
    s1 = _mm256_fmadd_pd(hi, hi, s1);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(s0, s1));
  double s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return s;
}

}  // namespace genrm::cpu::avx2
