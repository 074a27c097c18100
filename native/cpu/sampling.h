// The sampling filter of generation, as Hugging Face applies its warpers:
// temperature, then top-k, then top-p (nucleus), each over what the previous one
// kept. Equal logits are ordered by id, so the kept set is deterministic.
#pragma once
#include <cstdint>
#include <vector>

namespace genrm::cpu {

struct SamplingParams {
  double temperature = 1.0;  // 0: greedy (the first maximum)
  int64_t top_k = 0;         // 0 (or >= vocab): off
  double top_p = 1.0;        // 1: off
};

// Throws genrm::Error naming temperature, topK or topP when one is out of range.
void validate_sampling(const SamplingParams& s);

// What a filter keeps: ids[0 .. kept) with unnormalised probabilities weights[0 ..
// kept) = exp((logit - max) / temperature) and their sum. Most likely first when
// top-k or top-p is on; in id order when neither is (no sort is needed then).
// The vectors keep their capacity between calls.
struct Candidates {
  std::vector<int32_t> ids;
  std::vector<double> weights;
  int64_t kept = 0;
  double total = 0;
  std::vector<uint64_t> keys, keys_tmp;  // the sort's scratch
  std::vector<uint32_t> radix_count;
  std::vector<double> exps;  // a caller's scratch for exp_shifted
};

// exps[i] = exp(logits[i] - max) in double, id order; returns their sum (the
// softmax's normaliser, which generation needs for each token's log-prob).
double exp_shifted(const float* logits, int64_t vocab, float max, double* exps);

// exps (optional): exp_shifted's output for these logits. At temperature 1 the
// weights are exactly those values, so the filter takes them instead of
// computing them again (half the exponentials of a draw); other temperatures
// ignore it. The result is the same either way.
void sampling_filter(const float* logits, int64_t vocab, const SamplingParams& s, Candidates& c,
                     const double* exps = nullptr);

// ids[0 .. vocab) in the filter's order (highest logit first, equal logits by
// id; -0 and +0 equal), by a radix sort of (logit, id) keys: the order a
// comparison sort gives, in linear time. Logits must not be NaN.
void sort_by_logit(const float* logits, int64_t vocab, Candidates& c);

// The kept token that u (uniform in [0, 1)) selects, each with probability weight / total.
int32_t sampling_draw(const Candidates& c, double u);

// One token from a row of logits: the filter's candidates (at temperature 0 the
// first maximum; u is then not read) and the one u selects; *logprob gets its
// log-prob under the unfiltered softmax at temperature 1. c is scratch.
int32_t sample_row(const float* logits, int64_t vocab, const SamplingParams& s, double u, Candidates& c,
                   double* logprob);

}  // namespace genrm::cpu
