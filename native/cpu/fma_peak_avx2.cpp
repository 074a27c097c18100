// Compiled with -mavx2 -mfma. Only intrinsics and functions local to this unit.
#include <immintrin.h>

#include "fma_peak.h"

namespace genrm::cpu {

float fma_loop_avx2(long iters) {
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  // Each chain starts from its own value: chains that start equal compute the
  // same numbers, and the compiler keeps one of them (then a twelfth of the
  // counted FMAs run, latency-bound, and the "peak" comes out inflated).
  __m256 a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_ps(1.0f + static_cast<float>(j) / 64);
  for (long i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm256_fmadd_ps(a[j], x, y);
  __m256 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, a[j]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0] + out[7];
}

}  // namespace genrm::cpu
