// Fused log-probability of target tokens: hidden rows x lm_head -> log-softmax ->
// the target's log-prob, in chunks of rows so the rows x vocab logits are never
// all held at once (memory: one chunk of logits, whatever the batch).
#pragma once
#include <cstdint>

#include "../core/cpu_features.h"

namespace genrm::cpu {

struct LogprobArgs {
  int64_t rows = 0, dim = 0, vocab = 0;
  const float* hidden = nullptr;     // [rows, dim]: the state that predicts each target
  const float* weight = nullptr;     // [vocab, dim]: lm_head (or the tied embedding)
  const int32_t* targets = nullptr;  // [rows], each in [0, vocab)
};

// Rows per chunk: one chunk of logits stays near 16M floats (64 MiB), whatever the batch.
int64_t logprob_chunk_rows(int64_t vocab);

// logp[r] = log_softmax(hidden[r] W^T)[targets[r]].
void logprob_forward(const LogprobArgs& a, float* logp, Isa isa);

// Given dlogp[r] (the loss's gradient w.r.t. logp[r]), accumulates
// dhidden[r] += dlogp[r] * (onehot - softmax) W and dweight += its transpose product.
// Recomputes each chunk's logits instead of storing them.
void logprob_backward(const LogprobArgs& a, const float* dlogp, float* dhidden, float* dweight, Isa isa);

// Both in one pass, when the upstream gradient is known before the log-probs
// (SFT: -1/targets for every row): computes logp and accumulates dhidden and
// dweight from the same chunk of logits, one lm_head product fewer.
void logprob_forward_backward(const LogprobArgs& a, const float* dlogp, float* logp, float* dhidden, float* dweight,
                              Isa isa);

// Plain reference in double, one row at a time.
void logprob_forward_reference(const LogprobArgs& a, float* logp);

}  // namespace genrm::cpu
