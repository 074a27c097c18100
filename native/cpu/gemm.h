// Single-precision GEMM, row-major: C = alpha * op(A) * op(B) + beta * C.
// op(A) is M x K (A stored K x M when trans_a), op(B) is K x N (B stored N x K when
// trans_b). lda/ldb/ldc are row strides in elements. beta == 0 overwrites C without
// reading it, so C may hold garbage (even NaN) on entry.
#pragma once
#include <cstdint>

#include "../core/cpu_features.h"

namespace genrm::cpu {

struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  float beta = 0.0f;
  float* c = nullptr;
  int64_t ldc = 0;
};

// y[m, out] = x[m, in] W^T with W stored [out, in], as a Linear layer (and
// Hugging Face) stores it: the product of every projection.
inline GemmArgs linear_args(const float* x, const float* w, float* y, int64_t m, int64_t in, int64_t out) {
  GemmArgs g;
  g.trans_b = true;
  g.m = m;
  g.n = out;
  g.k = in;
  g.a = x;
  g.lda = in;
  g.b = w;
  g.ldb = in;
  g.c = y;
  g.ldc = out;
  return g;
}

// Packed, cache-blocked, multithreaded on the engine pool; the micro-kernel is
// chosen by isa. Bitwise identical for any thread count (each element of C is
// accumulated in the same order by exactly one thread).
void gemm(const GemmArgs& g, Isa isa);
inline void gemm(const GemmArgs& g) { gemm(g, default_isa()); }

// C = alpha * A B^T + beta * C for B stored [N, K] (trans_b, not trans_a), without
// packing: each row of C is computed exactly the same way whatever the other
// rows are, so results do not depend on m. Generation decodes with it, so a
// sample's tokens do not depend on what else shares its batch; it is also the
// fast path for a few rows (packing B would cost more than the product).
void gemm_rowwise_nt(const GemmArgs& g, Isa isa);

// Plain triple loop accumulating in double: the reference the fast path is tested against.
void gemm_reference(const GemmArgs& g);

// Checks shapes, strides and pointers; throws genrm::Error naming the bad field.
void validate_gemm(const GemmArgs& g);

}  // namespace genrm::cpu
