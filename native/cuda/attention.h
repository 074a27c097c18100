// Causal self-attention on the device over packed variable-length sequences with
// grouped-query heads: the CPU engine's semantics and layouts (cpu/attention.h).
// q, out, dout, dq: [tokens, heads, head_dim]; k, v, dk, dv: [tokens, kv_heads,
// head_dim]; lse: [tokens, heads] fp32 (log-sum-exp of each softmax row, natural
// log, of the scaled scores). Sequence s covers tokens [cu_seqlens[s],
// cu_seqlens[s+1]) and attends only within itself; query head h reads kv head
// h / (heads / kv_heads).
// Flash-style: tiles of queries and keys with an online softmax, never a
// tokens x tokens matrix. Tensor-core path (head_dim a multiple of 16, up to
// 128): bf16 operands, fp32 accumulation and softmax. Other head dims (up to
// 256) run a plain fp32 path.
#pragma once
#include <cstdint>

#include "dtype.h"

namespace genrm::cuda {

struct AttentionArgs {
  int64_t tokens = 0, heads = 0, kv_heads = 0, head_dim = 0;
  const int32_t* cu_seqlens = nullptr;  // device, [num_seqs + 1]
  int64_t num_seqs = 0;
  int64_t max_seqlen = 0;    // longest sequence (the caller knows it from its host copy)
  float scale = 0;           // usually 1/sqrt(head_dim)
  DType dtype = DType::F32;  // storage of q, k, v, out, dout, dq, dk, dv
  // Backward on tensor cores: true sums every gradient element in a fixed order
  // (two kernels); false adds dQ by fp32 atomics from the dK/dV kernel (fewer
  // tile products; the last bits of dQ vary from run to run). The plain path is
  // always deterministic.
  bool deterministic = true;
};

enum class AttentionPath {
  Auto,        // tensor cores where head_dim allows, else plain
  TensorCore,  // an error where head_dim does not allow it
  Plain,       // fp32 SIMT: the reference for the tensor-core path
};

// Throws genrm::Error naming the bad field (heads not a multiple of kv_heads,
// head_dim out of range, null pointers...). Offsets are device memory and are
// trusted to tile [0, tokens): the caller validated its host copy.
void validate_attention(const AttentionArgs& a);
void attention_forward(const AttentionArgs& a, const void* q, const void* k, const void* v, void* out, float* lse,
                       AttentionPath path = AttentionPath::Auto);
// Recomputes probabilities from q, k and lse. Overwrites dq, dk, dv.
// With a.deterministic: no atomics; every gradient element is summed in a fixed
// order (dk/dv by one pass over query tiles per key tile, dq by one pass over
// key tiles per query tile).
void attention_backward(const AttentionArgs& a, const void* q, const void* k, const void* v, const void* out,
                        const float* lse, const void* dout, void* dq, void* dk, void* dv,
                        AttentionPath path = AttentionPath::Auto);
// Claims now the device scratch a backward with these arguments will take (the
// row terms; dQ's fp32 accumulator for the atomic path in bf16), so that an
// out-of-memory comes before a caller touches anything. No tensors needed.
void attention_reserve_backward(const AttentionArgs& a);

}  // namespace genrm::cuda
