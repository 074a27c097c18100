// The objectives on per-sequence quantities: SFT on log-prob sums, the DPO family
// on policy and reference log-probs of (chosen, rejected) pairs, and the
// Bradley-Terry loss on scalar rewards. Each returns the loss and writes its
// gradient w.r.t. the per-sequence inputs; metrics follow TRL's names.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace genrm::cpu {

// Numerically stable log(sigmoid(x)) = -softplus(-x).
double log_sigmoid(double x);

// Token-mean negative log-likelihood: -sum(logp) / sum(count). dlogp[s] = -1/sum(count).
double sft_loss(const float* seq_logp, const float* seq_count, int64_t seqs, float* dlogp);

enum class DpoLoss { Sigmoid, Ipo, Hinge, Robust };
DpoLoss parse_dpo_loss(const std::string& name);  // "sigmoid" | "ipo" | "hinge" | "robust"

struct DpoArgs {
  DpoLoss kind = DpoLoss::Sigmoid;
  double beta = 0.1, label_smoothing = 0.0;
  const int32_t* pairs = nullptr;  // [pairs, 2]: (chosen, rejected) sequence indices
  int64_t num_pairs = 0;
  const float* policy_logps = nullptr;  // [seqs]
  const float* ref_logps = nullptr;     // [seqs]
  const float* counts = nullptr;        // [seqs] target tokens (ipo normalises by length)
};

struct DpoMetrics {
  double loss, rewards_chosen, rewards_rejected, rewards_margins, rewards_accuracies, logps_chosen, logps_rejected;
};

// Mean over pairs. dlogp (size seqs, zeroed by the caller) receives d loss / d policy logp.
DpoMetrics dpo_loss(const DpoArgs& a, float* dlogp);

struct BtMetrics {
  double loss, accuracy, rewards_chosen, rewards_rejected, margin;
};

// mean(-log sigmoid(r_c - r_r - margin)) + center * mean((r_c + r_r)^2).
// drewards (size seqs, zeroed by the caller) receives d loss / d r.
BtMetrics bt_loss(const float* rewards, const int32_t* pairs, const float* margins, int64_t num_pairs, double center,
                  float* drewards);

// The metrics under TRL's names (loss, rewards/chosen, ...), the one place they are spelled.
using NamedMetrics = std::vector<std::pair<std::string, double>>;
NamedMetrics named(const DpoMetrics& m);
NamedMetrics named(const BtMetrics& m);

}  // namespace genrm::cpu
