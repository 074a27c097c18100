// Fused log-probability of target tokens on the device (cpu/logprob.h's
// semantics): hidden rows x lm_head -> log-softmax -> the target's log-prob, in
// chunks of rows so the rows x vocab logits are never all held at once. The
// lm_head products run on cuda::gemm (tensor cores); log-softmax, the target's
// gather and the softmax gradient are fp32. The gradients accumulate into fp32
// or bf16 outputs (grad_type; bf16 is what a bf16 model's autograd keeps).
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
  DType grad_type = DType::F32;  // storage of dhidden and dweight
};

void validate_logprob(const LogprobArgs& a);
int64_t logprob_chunk_rows(const LogprobArgs& a);

// logp[r] = log_softmax(hidden[r] W^T)[targets[r]] (device, fp32).
void logprob_forward(const LogprobArgs& a, float* logp);
// Given dlogp[r] (device), accumulates dhidden[r] += dlogp[r] * (onehot - softmax) W
// and dweight += its transpose product (device, grad_type; either may be null to skip it).
void logprob_backward(const LogprobArgs& a, const float* dlogp, void* dhidden, void* dweight);
// Forward and backward from the same chunk of logits (one lm_head product fewer)
// when dlogp is known before the log-probs (SFT).
void logprob_forward_backward(const LogprobArgs& a, const float* dlogp, float* logp, void* dhidden, void* dweight);

// Forward and backward in one pass when the loss couples rows only within
// groups (DPO: a pair's chosen and rejected rows; the caller orders rows so each
// group is contiguous). group_ends: ascending end rows of the groups, the last
// == rows. Chunks hold whole groups (a group larger than the chunk budget gets a
// chunk of its own). After a chunk's forward, grad(r0, r1, logp_host, dlogp_host)
// is called on the host with the chunk's log-probs (rows [r0, r1), already
// copied to the host) and fills dlogp_host; the chunk's backward then runs with
// it. logp (device, all rows) is written too.
//
// A chunk over the row budget (one group larger than chunk_rows) runs in two
// phases, so its fp32 logits are never all held: slices of a quarter of the
// budget each give their log-probs and (softmax - onehot) stored in bf16 (fp32
// on Simt or where the dlogits are fp32) in a buffer for the whole group; once
// the callback has the group's gradient, the head's products read that buffer,
// each row's scale applied to the other operand (hidden rows for dweight, the
// fp32 product for dhidden). Same three lm_head products; the bf16 rounding of
// the scaled hidden rows is the one rounding the single pass does not have.
using ChunkGradient = std::function<void(int64_t r0, int64_t r1, const float* logp, float* dlogp)>;
void logprob_grouped(const LogprobArgs& a, const std::vector<int64_t>& group_ends, const ChunkGradient& grad,
                     float* logp, void* dhidden, void* dweight);

// How logprob_grouped will run (its own plan, exposed so the memory it takes can
// be checked without running it): chunk ends; rows per forward slice in the
// two-phase chunks (0: none); and the scratch it holds, in bytes. Not counted:
// the GEMM engine's own scratch, which cuBLAS takes to copy an fp32 operand to
// bf16 when a product mixes storage types (an fp32 lm_head with bf16 dlogits:
// all of W, in Scratch::Gemm).
struct GroupedPlan {
  std::vector<int64_t> chunk_ends;
  int64_t slice_rows = 0;
  size_t logits_bytes = 0, probs_bytes = 0, aux_bytes = 0;
  size_t scratch_bytes() const { return logits_bytes + probs_bytes + aux_bytes; }
};
GroupedPlan plan_logprob_grouped(const LogprobArgs& a, const std::vector<int64_t>& group_ends, bool backward);

}  // namespace genrm::cuda
