// GEMM on the device, row-major, the CPU engine's semantics (cpu/gemm.h):
// C = alpha * op(A) op(B) + beta * C; op(A) is M x K (A stored K x M when
// trans_a), op(B) is K x N (B stored N x K when trans_b); lda/ldb/ldc are row
// strides in elements; beta == 0 never reads C (it may hold NaN).
// Each operand may be stored as fp32 or bf16. Tensor-core paths round A and B to
// bf16 and accumulate in fp32; the SIMT path multiplies in fp32 (the plain
// reference the others are tested against, and the fallback for any shape).
#pragma once
#include <cstdint>

#include "dtype.h"

namespace genrm::cuda {

struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const void* a = nullptr;
  DType a_type = DType::F32;
  int64_t lda = 0;
  const void* b = nullptr;
  DType b_type = DType::F32;
  int64_t ldb = 0;
  float beta = 0.0f;
  void* c = nullptr;
  DType c_type = DType::F32;
  int64_t ldc = 0;
};

enum class GemmEngine {
  Auto,    // cuBLAS when this build has it, else the project's tensor-core kernel
  Own,     // the project's tensor-core kernel (mma.sync bf16, fp32 accumulation)
  Cublas,  // cuBLAS(Lt); an error when this build has no cuBLAS
  Simt,    // fp32 FMA, no tensor cores: the reference
};

// Throws genrm::Error naming the bad field (shape, stride, null pointer) before any launch.
void validate_gemm(const GemmArgs& g);
void gemm(const GemmArgs& g, GemmEngine engine = GemmEngine::Auto);
// Claims now the device scratch gemm(g, engine) will take (cuBLAS's bf16 copies
// of fp32 operands in a mixed product; nothing elsewhere), so that a caller's
// out-of-memory comes before it touches anything. Pointers are not read.
void gemm_reserve(const GemmArgs& g, GemmEngine engine = GemmEngine::Auto);
// Whether this build was linked with cuBLAS (decided at build time: the CI
// machine has no cuBLAS and the build must work there).
bool have_cublas();
const char* gemm_engine_name(GemmEngine e);

// y[m, out] = x[m, in] W^T with W stored [out, in] (a Linear layer).
inline GemmArgs linear_args(const void* x, DType xt, const void* w, DType wt, void* y, DType yt, int64_t m, int64_t in,
                            int64_t out) {
  GemmArgs g;
  g.trans_b = true;
  g.m = m;
  g.n = out;
  g.k = in;
  g.a = x;
  g.a_type = xt;
  g.lda = in;
  g.b = w;
  g.b_type = wt;
  g.ldb = in;
  g.c = y;
  g.c_type = yt;
  g.ldc = out;
  return g;
}

}  // namespace genrm::cuda
