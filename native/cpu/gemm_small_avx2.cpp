// Compiled with -mavx2 -mfma. Only intrinsics and functions local to this unit.
// Few rows of A against B stored [N, K] (the NT product of every projection
// during decoding): packing B would cost more than the product, so each output
// is a dot product of two contiguous rows.
#include "dot_avx2.h"
#include "gemm_kernels.h"

namespace genrm::cpu {

void gemm_small_nt_avx2(int64_t m, int64_t j_begin, int64_t j_end, int64_t k, float alpha, const float* a, int64_t lda,
                        const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  for (int64_t j = j_begin; j < j_end; ++j) {
    const float* bj = b + j * ldb;
    for (int64_t i = 0; i < m; ++i) {
      const float s = avx2::dot(a + i * lda, bj, k);
      float* cij = c + i * ldc + j;
      *cij = beta == 0.0f ? alpha * s : alpha * s + beta * *cij;
    }
  }
}

}  // namespace genrm::cpu
