// Drawing tokens on the device: the CPU sampling filter's semantics
// (cpu/sampling.h) over rows of device logits, so a decode step sends back one
// token id and one log-prob per row instead of [rows, vocab] logits.
#pragma once
#include <cstdint>

#include "../cpu/sampling.h"

namespace genrm::cuda {

// For each row r of logits ([rows, vocab], device fp32):
//  - temperature 0: the first maximum (u is not read);
//  - otherwise the candidates of cpu::sampling_filter (weights exp((logit -
//    max) / temperature); top-k, then top-p over what top-k kept; most likely
//    first, equal logits by id; in id order when neither filter is on), and the
//    candidate cpu::sampling_draw picks for u[r]: the first whose running sum of
//    weights exceeds u[r] times the kept total (the last kept one if rounding
//    leaves u past the end).
// tokens[r] (device) gets the token and logprob[r] (device) its log-prob under
// the unfiltered softmax at temperature 1: logits[token] - log-sum-exp(row).
// u (device, [rows], each in [0, 1)) is drawn by the host from each sample's
// own stream, so a row's token depends only on its logits and its u.
// Sums run in a fixed order, but not the CPU's sequential one (which adds
// w_i / total one by one for the top-p cut): a draw may differ from the CPU's
// only where u lies within rounding (~1e-15 relative) of a boundary between two
// candidates, or where a prefix's mass lies within rounding of top_p (the cut
// may then differ by one candidate: ten equal logits with top_p 0.8 keep 9 on
// the CPU, whose running sum of eight 0.1s falls just short of 0.8, and 8 here). Deterministic:
// the same inputs give the same tokens. Validates its arguments (the params as cpu::validate_sampling;
// rows, vocab >= 1; vocab < 2^31; non-null pointers) before any launch.
void sample_rows(const float* logits, int64_t rows, int64_t vocab, const cpu::SamplingParams& s, const double* u,
                 int32_t* tokens, double* logprob);

}  // namespace genrm::cuda
