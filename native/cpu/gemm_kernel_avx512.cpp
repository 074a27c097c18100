// Compiled with -mavx512f -mavx2 -mfma. Only intrinsics and functions local to this unit.
#include <immintrin.h>

#include "gemm_kernels.h"

namespace genrm::cpu {
namespace {

constexpr int kMr = 8, kNr = 32;

// 8 x 32 tile: 16 zmm accumulators, 2 for the B row, 1 for the A broadcast (of 32).
// Zen 5 issues two 512-bit FMAs per cycle; 16 independent chains of latency 4 fill them.
void kernel_8x32(int64_t kc, const float* a, int64_t a_step, const float* b, int64_t b_step, float* c, int64_t ldc,
                 float alpha, float beta) {
  __m512 acc[kMr][2];
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    for (int r = 0; r < kMr; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
    a += a_step;
    b += b_step;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
    for (int r = 0; r < kMr; ++r) {
      _mm512_storeu_ps(c + r * ldc, _mm512_mul_ps(va, acc[r][0]));
      _mm512_storeu_ps(c + r * ldc + 16, _mm512_mul_ps(va, acc[r][1]));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
    for (int r = 0; r < kMr; ++r) {
      float* cr = c + r * ldc;
      _mm512_storeu_ps(cr, _mm512_fmadd_ps(va, acc[r][0], _mm512_mul_ps(vb, _mm512_loadu_ps(cr))));
      _mm512_storeu_ps(cr + 16, _mm512_fmadd_ps(va, acc[r][1], _mm512_mul_ps(vb, _mm512_loadu_ps(cr + 16))));
    }
  }
}

}  // namespace

GemmKernelInfo gemm_kernel_avx512() { return {kMr, kNr, kernel_8x32}; }

}  // namespace genrm::cpu
