// Causal self-attention over packed variable-length sequences with grouped-query
// heads. Layouts: q, out, dout, dq: [tokens, heads, head_dim]; k, v, dk, dv:
// [tokens, kv_heads, head_dim]; lse: [tokens, heads] (log-sum-exp of each softmax
// row, saved by the forward for the backward). Sequence s covers tokens
// [cu_seqlens[s], cu_seqlens[s+1]) and attends only within itself. Query head h
// reads kv head h / (heads / kv_heads).
#pragma once
#include <cstdint>

#include "../core/cpu_features.h"

namespace genrm::cpu {

struct AttentionArgs {
  int64_t tokens = 0, heads = 0, kv_heads = 0, head_dim = 0;
  const int32_t* cu_seqlens = nullptr;
  int64_t num_seqs = 0;
  float scale = 0;  // usually 1/sqrt(head_dim)
};

// Throws genrm::Error when the shape or the segment offsets are inconsistent.
void validate_attention(const AttentionArgs& a);

// Flash-style: tiles of queries and keys with an online softmax; never holds a
// tokens x tokens matrix; memory is linear in the sequence length.
void attention_forward(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out, float* lse,
                       Isa isa);
// Recomputes the probabilities tile by tile from q, k and lse. Overwrites dq, dk, dv.
// Deterministic: every gradient element is accumulated by one thread in a fixed order.
void attention_backward(const AttentionArgs& a, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv, Isa isa);

// Plain references: materialise each sequence's score matrix, accumulate in double.
void attention_forward_reference(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out,
                                 float* lse);
void attention_backward_reference(const AttentionArgs& a, const float* q, const float* k, const float* v,
                                  const float* dout, float* dq, float* dk, float* dv);

// One tile task of the flash kernels, per kernel path (attention_kernel.inc).
// Each takes kAttentionScratch floats of scratch.
struct AttentionTileKernels {
  // Forward for query rows [q0, q0+nq) of head h in the sequence [s0, s1).
  void (*forward)(const AttentionArgs&, const float* q, const float* k, const float* v, float* out, float* lse,
                  int64_t s0, int64_t q0, int64_t nq, int64_t h, float* scratch);
  // dk, dv for key rows [k0, k0+nk) of kv head g in the sequence [s0, s1).
  void (*backward_kv)(const AttentionArgs&, const float* q, const float* k, const float* v, const float* lse,
                      const float* dout, const float* drow, float* dk, float* dv, int64_t s1, int64_t k0, int64_t nk,
                      int64_t g, float* scratch);
  // dq for query rows [q0, q0+nq) of head h in the sequence starting at s0.
  void (*backward_q)(const AttentionArgs&, const float* q, const float* k, const float* v, const float* lse,
                     const float* dout, const float* drow, float* dq, int64_t s0, int64_t q0, int64_t nq, int64_t h,
                     float* scratch);
};

AttentionTileKernels attention_kernels_portable();
AttentionTileKernels attention_kernels_avx2();
AttentionTileKernels attention_kernels_avx512();

constexpr int64_t kAttentionBlock = 64;  // query and key tile size
constexpr int64_t kAttentionMaxHeadDim = 256;
// Floats of scratch one tile call needs (the caller provides it, 64-byte aligned).
constexpr int64_t kAttentionScratch =
    4 * kAttentionBlock * kAttentionMaxHeadDim + 2 * kAttentionBlock * kAttentionBlock;

}  // namespace genrm::cpu
