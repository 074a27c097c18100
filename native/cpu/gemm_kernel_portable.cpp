#include "gemm_kernels.h"

namespace genrm::cpu {
namespace {

constexpr int kMr = 4, kNr = 8;

// Written so the compiler vectorizes the NR loop with whatever baseline SIMD the
// target has (SSE2 on any x86-64).
void kernel_4x8(int64_t kc, const float* a, int64_t a_step, const float* b, int64_t b_step, float* c, int64_t ldc,
                float alpha, float beta) {
  float acc[kMr][kNr] = {};
  for (int64_t p = 0; p < kc; ++p) {
    for (int r = 0; r < kMr; ++r) {
      float av = a[r];
      for (int j = 0; j < kNr; ++j) acc[r][j] += av * b[j];
    }
    a += a_step;
    b += b_step;
  }
  for (int r = 0; r < kMr; ++r) {
    float* cr = c + r * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < kNr; ++j) cr[j] = alpha * acc[r][j];
    } else {
      for (int j = 0; j < kNr; ++j) cr[j] = alpha * acc[r][j] + beta * cr[j];
    }
  }
}

}  // namespace

GemmKernelInfo gemm_kernel_portable() { return {kMr, kNr, kernel_4x8}; }

}  // namespace genrm::cpu
