// Micro-kernels for the packed GEMM. Each computes one MR x NR tile of
// acc = sum_k a[k][0..MR) * b[k][0..NR) from packed panels and stores
// C = alpha * acc (+ beta * C when beta != 0). The AVX2 and AVX-512 kernels live
// in their own translation units compiled with -mavx2 -mfma (-mavx512f), which
// must not define any inline or template function shared with other units (the
// linker could keep that copy and run it on a CPU without those instructions).
#pragma once
#include <cstdint>

namespace genrm::cpu {

using GemmMicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                                 float alpha, float beta);

struct GemmKernelInfo {
  int mr, nr;
  GemmMicroKernel fn;
};

GemmKernelInfo gemm_kernel_portable();
GemmKernelInfo gemm_kernel_avx2();
GemmKernelInfo gemm_kernel_avx512();

}  // namespace genrm::cpu
