// Compiled with -mavx2 -mfma. Only intrinsics and functions local to this unit.
#include <immintrin.h>

#include "gemm_kernels.h"

namespace genrm::cpu {
namespace {

constexpr int kMr = 6, kNr = 16;

// 6 x 16 tile: 12 ymm accumulators, 2 for the B row, 1 for the A broadcast.
// Zen 3 has two FMA pipes of latency 4, so 12 independent chains keep both busy.
void kernel_6x16(int64_t kc, const float* a, int64_t a_step, const float* b, int64_t b_step, float* c, int64_t ldc,
                 float alpha, float beta) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 av = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
    a += a_step;
    b += b_step;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  __m256 acc[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (beta == 0.0f) {
    for (int r = 0; r < kMr; ++r) {
      _mm256_storeu_ps(c + r * ldc, _mm256_mul_ps(va, acc[r][0]));
      _mm256_storeu_ps(c + r * ldc + 8, _mm256_mul_ps(va, acc[r][1]));
    }
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
    for (int r = 0; r < kMr; ++r) {
      float* cr = c + r * ldc;
      _mm256_storeu_ps(cr, _mm256_fmadd_ps(va, acc[r][0], _mm256_mul_ps(vb, _mm256_loadu_ps(cr))));
      _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(va, acc[r][1], _mm256_mul_ps(vb, _mm256_loadu_ps(cr + 8))));
    }
  }
}

}  // namespace

GemmKernelInfo gemm_kernel_avx2() { return {kMr, kNr, kernel_6x16}; }

}  // namespace genrm::cpu
