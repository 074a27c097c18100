// Micro-kernels for the packed GEMM. Each computes one MR x NR tile of
// acc = sum_k a[k][0..MR) * b[k][0..NR) from packed panels and stores
// C = alpha * acc (+ beta * C when beta != 0). The AVX2 and AVX-512 kernels live
// in their own translation units compiled with -mavx2 -mfma (-mavx512f), which
// must not define any inline or template function shared with other units (the
// linker could keep that copy and run it on a CPU without those instructions).
#pragma once
#include <cstdint>

namespace genrm::cpu {

// a_step and b_step: floats from one k to the next (MR and NR for packed panels;
// a row stride when a panel is read where it lies, unpacked).
using GemmMicroKernel = void (*)(int64_t kc, const float* a, int64_t a_step, const float* b, int64_t b_step, float* c,
                                 int64_t ldc, float alpha, float beta);

struct GemmKernelInfo {
  int mr, nr;
  GemmMicroKernel fn;
};

GemmKernelInfo gemm_kernel_portable();
GemmKernelInfo gemm_kernel_avx2();
GemmKernelInfo gemm_kernel_avx512();

// C[0..m)[j_begin..j_end) = alpha * A B^T (+ beta C) for B stored [N, K], without
// packing (gemm_rowwise_nt); each row's result is independent of m.
void gemm_small_nt_avx2(int64_t m, int64_t j_begin, int64_t j_end, int64_t k, float alpha, const float* a, int64_t lda,
                        const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Packing into w-wide panels, each k-major (w values per k), zero-padded (AVX2).
// Transposed: panel value (p, r) = src[(panel w + r) ld + p] for `rows` rows of
// kc contiguous values (A not transposed; B transposed, as weights are stored).
void pack_transposed_avx2(const float* src, int64_t ld, int64_t rows, int64_t kc, int w, float* out);
// Copied: panel value (p, j) = src[p ld + panel w + j] for `cols` columns.
void pack_copied_avx2(const float* src, int64_t ld, int64_t cols, int64_t kc, int w, float* out);

}  // namespace genrm::cpu
