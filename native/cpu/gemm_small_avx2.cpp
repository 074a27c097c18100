// Compiled with -mavx2 -mfma. Only intrinsics and functions local to this unit.
// Few rows of A against B stored [N, K] (the NT product of every projection
// during decoding): packing B would cost more than the product, so each output
// is a dot product of two contiguous rows.
#include <immintrin.h>

#include "gemm_kernels.h"

namespace genrm::cpu {
namespace {

inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

}  // namespace

void gemm_small_nt_avx2(int64_t m, int64_t j_begin, int64_t j_end, int64_t k, float alpha, const float* a, int64_t lda,
                        const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const int64_t k8 = k - k % 8;
  for (int64_t j = j_begin; j < j_end; ++j) {
    const float* bj = b + j * ldb;
    for (int64_t i = 0; i < m; ++i) {
      const float* ai = a + i * lda;
      __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
      int64_t p = 0;
      for (; p + 16 <= k8; p += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(ai + p), _mm256_loadu_ps(bj + p), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(ai + p + 8), _mm256_loadu_ps(bj + p + 8), acc1);
      }
      for (; p < k8; p += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(ai + p), _mm256_loadu_ps(bj + p), acc0);
      float s = hsum(_mm256_add_ps(acc0, acc1));
      for (; p < k; ++p) s += ai[p] * bj[p];
      float* cij = c + i * ldc + j;
      *cij = beta == 0.0f ? alpha * s : alpha * s + beta * *cij;
    }
  }
}

}  // namespace genrm::cpu
