// Fused log-probability of target tokens on the device (cpu/logprob.h's
// semantics): hidden rows x lm_head -> log-softmax -> the target's log-prob, in
// chunks of rows so the rows x vocab logits are never all held at once. The
// lm_head products run on cuda::gemm (tensor cores); log-softmax, the target's
// gather and the softmax gradient are fp32.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "dtype.h"
#include "gemm.h"

namespace genrm::cuda {

struct LogprobArgs {
  int64_t rows = 0, dim = 0, vocab = 0;
  const void* hidden = nullptr;  // device [rows, dim]
  DType hidden_type = DType::F32;
  const void* weight = nullptr;  // device [vocab, dim]: lm_head (or the tied embedding)
  DType weight_type = DType::F32;
  const int32_t* targets = nullptr;  // device [rows], each in [0, vocab) (validated by the caller's host copy)
  GemmEngine engine = GemmEngine::Auto;
  // Rows per chunk; 0: as many as keep one fp32 chunk of logits near 512 MiB.
  int64_t chunk_rows = 0;
};

void validate_logprob(const LogprobArgs& a);
int64_t logprob_chunk_rows(const LogprobArgs& a);

// logp[r] = log_softmax(hidden[r] W^T)[targets[r]] (device, fp32).
void logprob_forward(const LogprobArgs& a, float* logp);
// Given dlogp[r] (device), accumulates dhidden[r] += dlogp[r] * (onehot - softmax) W
// and dweight += its transpose product (both device fp32; either may be null to skip it).
void logprob_backward(const LogprobArgs& a, const float* dlogp, float* dhidden, float* dweight);
// Forward and backward from the same chunk of logits (one lm_head product fewer)
// when dlogp is known before the log-probs (SFT).
void logprob_forward_backward(const LogprobArgs& a, const float* dlogp, float* logp, float* dhidden, float* dweight);

// Forward and backward in one pass when the loss couples rows only within
// groups (DPO: a pair's chosen and rejected rows; the caller orders rows so each
// group is contiguous). group_ends: ascending end rows of the groups, the last
// == rows. Chunks hold whole groups (a group larger than the chunk budget gets a
// chunk of its own). After a chunk's forward, grad(r0, r1, logp_host, dlogp_host)
// is called on the host with the chunk's log-probs (rows [r0, r1), already
// copied to the host) and fills dlogp_host; the chunk's backward then runs with
// it. logp (device, all rows) is written too.
using ChunkGradient = std::function<void(int64_t r0, int64_t r1, const float* logp, float* dlogp)>;
void logprob_grouped(const LogprobArgs& a, const std::vector<int64_t>& group_ends, const ChunkGradient& grad,
                     float* logp, float* dhidden, float* dweight);

}  // namespace genrm::cuda
