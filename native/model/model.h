// The Llama-style decoder: parameters, gradients and AdamW state in three flat
// buffers; a forward over a packed batch that keeps what the backward needs; the
// heads (fused log-prob for SFT/DPO, the Bradley-Terry reward head) and their
// losses; and the optimizer step.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "../cpu/adamw.h"
#include "../cpu/losses.h"
#include "config.h"

namespace genrm::model {

// Several sequences back to back: sequence s is ids[cu_seqlens[s] .. cu_seqlens[s+1]).
// loss_mask[t] = 1 makes token t a target predicted from position t-1 of its
// sequence (so it must be 0 at each sequence's first token). Empty: no targets.
struct Batch {
  std::vector<int32_t> ids, cu_seqlens;
  std::vector<uint8_t> loss_mask;
  std::vector<int32_t> positions;  // filled by validate_batch: restart at 0 per sequence
  int64_t tokens() const { return static_cast<int64_t>(ids.size()); }
  int64_t seqs() const { return static_cast<int64_t>(cu_seqlens.size()) - 1; }
};

// Checks every field against the config (ids in the vocabulary, segments that
// tile the batch, lengths within max_position_embeddings, no target at a
// sequence start) and fills positions. Throws genrm::Error naming the field.
void validate_batch(const Config& c, Batch& b);

enum class ObjectiveKind { None, Sft, Dpo, Bt };

struct Objective {
  ObjectiveKind kind = ObjectiveKind::None;
  std::vector<int32_t> pairs;  // DPO and BT: [pairs, 2] (chosen, rejected) sequence indices
  // DPO
  cpu::DpoLoss dpo_loss = cpu::DpoLoss::Sigmoid;
  double beta = 0.1, label_smoothing = 0.0;
  std::vector<float> ref_logps;  // [seqs]
  // BT
  std::vector<float> margins;  // [pairs] or empty
  double center_rewards_coefficient = 0.0;
  // Multiplies the gradients (1/accumulation steps when accumulating).
  double loss_scale = 1.0;
};

struct LogitsRequest {
  int64_t row0 = 0, rows = 0;  // rows of the batch whose full logits are returned
};

struct Result {
  std::vector<float> seq_logps, seq_counts, rewards;
  std::vector<std::pair<std::string, double>> metrics;
  std::vector<float> logits;  // [rows, vocab]
};

struct OptimConfig {
  cpu::AdamWConfig adam;
  cpu::ScheduleConfig schedule;
  double max_grad_norm = 0.0;  // 0: no clipping
};

// Generation: each request's prompt is prefilled once and its n samples branch
// from that shared prefill; up to max_batch samples decode together, one token
// per step, each stopping on its own (a stop token or max_new_tokens), and a
// finished sample's cache slot goes to the next waiting sample.
struct GenerateRequest {
  std::vector<int32_t> prompt;
  int64_t n = 1;
  uint64_t seed = 0;  // sample j of this request draws from a stream seeded by (seed, j)
};

struct SamplingConfig {
  int64_t max_new_tokens = 16;
  double temperature = 1.0;  // 0: greedy
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // 1: off
  std::vector<int32_t> stop_tokens;
  bool return_logits = false;  // every step's logits (tests); memory grows with steps x vocab
  int64_t max_batch = 0;  // samples decoding at once (cache slots); finished slots take the next waiting sample. 0: all
};

// Receives each decode round's (sample index, token) pairs while generation runs.
using TokenSink = std::function<void(const std::vector<std::pair<int64_t, int32_t>>&)>;

struct GenerateResult {
  // One entry per sample, requests in order, samples of a request in order.
  std::vector<std::vector<int32_t>> tokens;
  std::vector<double> logprob;     // sum of the generated tokens' log-probs under the model (temperature 1)
  std::vector<std::string> finish; // "stop", "length", or "abort" (cancelled before finishing)
  std::vector<std::vector<float>> logits;  // [steps * vocab] per sample when return_logits
  int64_t cache_bytes = 0;
};

struct StepResult {
  double grad_norm = 0, learning_rate = 0;
  int64_t step = 0;  // optimizer steps taken, after this one
};

class Model {
 public:
  // initialize = false leaves the weights at zero, for a caller about to load
  // them all (random init of a large model would take seconds for nothing).
  Model(const Config& config, uint64_t seed, bool initialize = true);

  const Config& config() const { return config_; }
  const std::vector<ParamInfo>& layout() const { return layout_; }
  int64_t num_params() const { return static_cast<int64_t>(params_.size()); }

  std::vector<float>& params() { return params_; }
  std::vector<float>& grads() { return grads_; }
  std::vector<float>& adam_m() { return m_; }
  std::vector<float>& adam_v() { return v_; }
  int64_t step() const { return step_; }
  void set_step(int64_t s) { step_ = s; }
  uint64_t rng_state() const { return rng_state_; }
  void set_rng_state(uint64_t s) { rng_state_ = s; }

  // Forward (and, when with_grad is set, the gradient accumulated into grads()).
  // A non-finite loss throws before any gradient is touched.
  Result run(const Batch& batch, const Objective& objective, bool with_grad, const LogitsRequest& logits);

  // Clip, AdamW, zero the gradients. A non-finite gradient norm throws, zeroes
  // the gradients and leaves the parameters and optimizer state unchanged.
  StepResult optimizer_step(const OptimConfig& o);
  void zero_grad();

  // Sampling with a key/value cache (generate.cpp).
  // on_tokens (optional) sees each round's new tokens; cancel (optional) stops
  // after the current round.
  GenerateResult generate(const std::vector<GenerateRequest>& requests, const SamplingConfig& s,
                          const TokenSink* on_tokens = nullptr, const std::atomic<bool>* cancel = nullptr);

 private:
  struct Layer {
    const float *in_norm, *wq, *wk, *wv, *wo, *post_norm, *wg, *wu, *wd;
  };
  Layer layer(int64_t i, const std::vector<float>& buf) const;
  float* grad_of(const float* param) { return grads_.data() + (param - params_.data()); }
  const float* lm_head() const;
  const float* score() const;

  void forward(const Batch& b);
  // One decode step for `rows` sequences: token ids in, logits [rows, vocab] out;
  // appends each sequence's key/value to the cache at its position.
  struct Cache;
  void decode_step(Cache& cache, const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens,
                   std::vector<float>& logits);
  void backward(const Batch& b, std::vector<float>& dhf);

  Config config_;
  std::vector<ParamInfo> layout_;
  std::vector<float> params_, grads_, m_, v_;
  int64_t step_ = 0;
  uint64_t rng_state_ = 0;

  // Activations of the last forward, kept for the backward; [tokens, ...] each.
  struct Acts {
    std::vector<float> x;                 // residual stream: (layers + 1) x [N, d]
    std::vector<float> h1, h2, xmid;      // per layer [N, d]: normed inputs, residual after attention
    std::vector<float> rstd1, rstd2;      // per layer [N]
    std::vector<float> q, att;            // per layer [N, H*D]
    std::vector<float> k, v;              // per layer [N, KV*D]
    std::vector<float> lse;               // per layer [N, H]
    std::vector<float> g, u, a;           // per layer [N, f]
    std::vector<float> hf, rstdf;         // final norm output [N, d] and its rstd [N]
    int64_t tokens = 0;
  } acts_;
  // Scratch reused across calls (fresh allocations each step cost page faults).
  struct Scratch {
    std::vector<float> tmp, dx, dh, dtmp, dg, du, dq, dk, dv, datt, dhf;
    std::vector<float> rope_cos, rope_sin;  // [longest sequence][head_dim / 2]
    std::vector<float> hsel, dhsel;         // target rows' hidden states and their gradients
    std::vector<float> head_grad;           // fused SFT pass: lm_head gradient until the loss is known finite
  } scratch_;
};

}  // namespace genrm::model
