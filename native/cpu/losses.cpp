#include "losses.h"

#include <cmath>

#include "../core/error.h"

namespace genrm::cpu {

double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

namespace {
double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }
}  // namespace

double sft_loss(const float* seq_logp, const float* seq_count, int64_t seqs, float* dlogp) {
  double sum = 0, count = 0;
  for (int64_t s = 0; s < seqs; ++s) {
    sum += seq_logp[s];
    count += seq_count[s];
  }
  if (count <= 0)
    throw Error(ErrorKind::Argument, "lossMask: expected at least one target token in the batch, got none");
  for (int64_t s = 0; s < seqs; ++s) dlogp[s] = static_cast<float>(-1.0 / count);
  return -sum / count;
}

DpoLoss parse_dpo_loss(const std::string& name) {
  if (name == "sigmoid") return DpoLoss::Sigmoid;
  if (name == "ipo") return DpoLoss::Ipo;
  if (name == "hinge") return DpoLoss::Hinge;
  if (name == "robust") return DpoLoss::Robust;
  throw_arg("lossType", "one of \"sigmoid\", \"ipo\", \"hinge\", \"robust\"", "\"" + name + "\"");
}

// h = (pi_c - ref_c) - (pi_r - ref_r) (per token for ipo). With z = beta h:
//   sigmoid: -(1-e) logsig(z) - e logsig(-z)
//   robust:  (-(1-e) logsig(z) + e logsig(-z)) / (1 - 2e)
//   hinge:   relu(1 - z)
//   ipo:     (h - 1/(2 beta))^2
DpoMetrics dpo_loss(const DpoArgs& a, float* dlogp) {
  DpoMetrics m{};
  if (a.num_pairs <= 0)
    throw Error(ErrorKind::Argument, "pairs: expected at least one (chosen, rejected) pair, got none");
  const double e = a.label_smoothing, beta = a.beta, P = static_cast<double>(a.num_pairs);
  for (int64_t i = 0; i < a.num_pairs; ++i) {
    const int32_t c = a.pairs[2 * i], r = a.pairs[2 * i + 1];
    double pc = a.policy_logps[c], pr = a.policy_logps[r], rc = a.ref_logps[c], rr = a.ref_logps[r];
    double scale_c = 1, scale_r = 1;
    if (a.kind == DpoLoss::Ipo) {
      scale_c = 1.0 / std::max(1.0f, a.counts[c]);
      scale_r = 1.0 / std::max(1.0f, a.counts[r]);
    }
    const double h = (pc - rc) * scale_c - (pr - rr) * scale_r, z = beta * h;
    double loss = 0, dh = 0;  // dh = d loss / d h
    switch (a.kind) {
      case DpoLoss::Sigmoid:
        loss = -(1 - e) * log_sigmoid(z) - e * log_sigmoid(-z);
        dh = beta * (-(1 - e) * sigmoid(-z) + e * sigmoid(z));
        break;
      case DpoLoss::Robust:
        loss = (-(1 - e) * log_sigmoid(z) + e * log_sigmoid(-z)) / (1 - 2 * e);
        dh = beta * (-(1 - e) * sigmoid(-z) - e * sigmoid(z)) / (1 - 2 * e);
        break;
      case DpoLoss::Hinge:
        loss = std::max(0.0, 1 - z);
        dh = z < 1 ? -beta : 0;
        break;
      case DpoLoss::Ipo: {
        const double d = h - 1 / (2 * beta);
        loss = d * d;
        dh = 2 * d;
        break;
      }
    }
    m.loss += loss / P;
    dlogp[c] += static_cast<float>(dh * scale_c / P);
    dlogp[r] -= static_cast<float>(dh * scale_r / P);
    const double rew_c = beta * (pc - rc), rew_r = beta * (pr - rr);
    m.rewards_chosen += rew_c / P;
    m.rewards_rejected += rew_r / P;
    m.rewards_margins += (rew_c - rew_r) / P;
    m.rewards_accuracies += (rew_c > rew_r ? 1.0 : 0.0) / P;
    m.logps_chosen += pc / P;
    m.logps_rejected += pr / P;
  }
  return m;
}

BtMetrics bt_loss(const float* rewards, const int32_t* pairs, const float* margins, int64_t num_pairs, double center,
                  float* drewards) {
  BtMetrics m{};
  if (num_pairs <= 0)
    throw Error(ErrorKind::Argument, "pairs: expected at least one (chosen, rejected) pair, got none");
  const double P = static_cast<double>(num_pairs);
  for (int64_t i = 0; i < num_pairs; ++i) {
    const int32_t c = pairs[2 * i], r = pairs[2 * i + 1];
    const double rc = rewards[c], rr = rewards[r], margin = margins ? margins[i] : 0.0;
    const double x = rc - rr - margin;
    m.loss += -log_sigmoid(x) / P + center * (rc + rr) * (rc + rr) / P;
    const double dx = -sigmoid(-x) / P, dcenter = 2 * center * (rc + rr) / P;
    drewards[c] += static_cast<float>(dx + dcenter);
    drewards[r] += static_cast<float>(-dx + dcenter);
    m.accuracy += (rc > rr ? 1.0 : 0.0) / P;
    m.rewards_chosen += rc / P;
    m.rewards_rejected += rr / P;
    m.margin += (rc - rr) / P;
  }
  return m;
}

NamedMetrics named(const DpoMetrics& m) {
  return {{"loss", m.loss},
          {"rewards/chosen", m.rewards_chosen},
          {"rewards/rejected", m.rewards_rejected},
          {"rewards/margins", m.rewards_margins},
          {"rewards/accuracies", m.rewards_accuracies},
          {"logps/chosen", m.logps_chosen},
          {"logps/rejected", m.logps_rejected}};
}

NamedMetrics named(const BtMetrics& m) {
  return {{"loss", m.loss},
          {"rewards/chosen", m.rewards_chosen},
          {"rewards/rejected", m.rewards_rejected},
          {"rewards/margins", m.margin},
          {"rewards/accuracies", m.accuracy}};
}

}  // namespace genrm::cpu
