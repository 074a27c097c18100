#include "objective.h"

#include <cmath>
#include <string>

#include "../core/error.h"
#include "../cpu/losses.h"

namespace genrm::model {
namespace {

std::string at(const char* field, int64_t i) { return std::string(field) + "[" + std::to_string(i) + "]"; }

}  // namespace

bool wants_logps(const Batch& b, const Objective& o) {
  return o.kind == ObjectiveKind::Sft || o.kind == ObjectiveKind::Dpo ||
         (o.kind == ObjectiveKind::None && !b.loss_mask.empty());
}

bool wants_rewards(const Config& c, const Objective& o) {
  return o.kind == ObjectiveKind::Bt || (o.kind == ObjectiveKind::None && c.reward_head);
}

void validate_objective(const Config& c, const Batch& b, const Objective& o, const LogitsRequest& lr) {
  const int64_t N = b.tokens(), S = b.seqs();
  if ((o.kind == ObjectiveKind::Sft || o.kind == ObjectiveKind::Dpo) && b.loss_mask.empty())
    throw Error(ErrorKind::Argument, "lossMask: this objective needs target tokens, got no lossMask");
  if (o.kind == ObjectiveKind::Bt && !c.reward_head)
    throw Error(ErrorKind::State, "objective bt: this model has no reward head (create it with reward_head: true)");
  if (lr.rows < 0 || lr.row0 < 0 || lr.row0 + lr.rows > N)
    throw_arg("logits", "a row range within [0, " + std::to_string(N) + ")",
              std::to_string(lr.row0) + "+" + std::to_string(lr.rows));
  const int64_t P = static_cast<int64_t>(o.pairs.size()) / 2;
  if (o.kind == ObjectiveKind::Dpo || o.kind == ObjectiveKind::Bt) {
    for (int64_t i = 0; i < 2 * P; ++i)
      if (o.pairs[i] < 0 || o.pairs[i] >= S)
        throw_arg(at("pairs", i / 2) + (i % 2 ? ".rejected" : ".chosen"),
                  "a sequence index in [0, " + std::to_string(S) + ")", o.pairs[i], ErrorKind::Range);
  }
  if (o.kind == ObjectiveKind::Dpo && static_cast<int64_t>(o.ref_logps.size()) != S)
    throw_arg("refLogps.length", S, o.ref_logps.size());
  if (o.kind == ObjectiveKind::Dpo) {
    // A sequence without targets has log-prob 0 whatever the model: its pair
    // would train on nothing (SFT refuses such a batch too).
    for (int64_t i = 0; i < 2 * P; ++i) {
      const int32_t s = o.pairs[i];
      bool any = false;
      for (int32_t t = b.cu_seqlens[s] + 1; t < b.cu_seqlens[s + 1] && !any; ++t) any = b.loss_mask[t] != 0;
      if (!any)
        throw_arg(at("pairs", i / 2) + (i % 2 ? ".rejected" : ".chosen"),
                  "a sequence with at least one target token (lossMask)",
                  "sequence " + std::to_string(s) + " with none");
    }
  }
  if (o.kind == ObjectiveKind::Bt) {
    if (!o.margins.empty() && static_cast<int64_t>(o.margins.size()) != P)
      throw_arg("margins.length", P, o.margins.size());
    for (int64_t i = 0; i < 2 * P; ++i)
      if (b.cu_seqlens[o.pairs[i]] == b.cu_seqlens[o.pairs[i] + 1])
        throw_arg(at("pairs", i / 2), "non-empty sequences (the reward is read at the last token)",
                  "an empty sequence " + std::to_string(o.pairs[i]));
  }
}

TargetRows target_rows(const Batch& b) {
  TargetRows r;
  for (int64_t s = 0; s < b.seqs(); ++s)
    for (int32_t t = b.cu_seqlens[s] + 1; t < b.cu_seqlens[s + 1]; ++t)
      if (b.loss_mask[t]) {
        r.pos.push_back(t - 1);
        r.target.push_back(b.ids[t]);
        r.seq.push_back(static_cast<int32_t>(s));
      }
  return r;
}

void sum_by_sequence(const TargetRows& rows, const float* row_logp, int64_t seqs, Result& r) {
  std::vector<double> sums(seqs, 0.0);
  r.seq_counts.assign(seqs, 0.0f);
  for (int64_t i = 0; i < rows.size(); ++i) {
    sums[rows.seq[i]] += row_logp[i];
    r.seq_counts[rows.seq[i]] += 1.0f;
  }
  r.seq_logps.assign(seqs, 0.0f);
  for (int64_t s = 0; s < seqs; ++s) r.seq_logps[s] = static_cast<float>(sums[s]);
}

double objective_loss(const Objective& o, int64_t S, Result& r, std::vector<float>& dseq, std::vector<float>& drew) {
  dseq.assign(S, 0.0f);
  drew.assign(S, 0.0f);
  const int64_t P = static_cast<int64_t>(o.pairs.size()) / 2;
  double loss = 0;
  switch (o.kind) {
    case ObjectiveKind::None: return 0;
    case ObjectiveKind::Sft: {
      loss = cpu::sft_loss(r.seq_logps.data(), r.seq_counts.data(), S, dseq.data());
      double count = 0;
      for (float x : r.seq_counts) count += x;
      r.metrics = {{"loss", loss}, {"num_tokens", count}};
      break;
    }
    case ObjectiveKind::Dpo: {
      cpu::DpoArgs da;
      da.kind = o.dpo_loss;
      da.beta = o.beta;
      da.label_smoothing = o.label_smoothing;
      da.pairs = o.pairs.data();
      da.num_pairs = P;
      da.policy_logps = r.seq_logps.data();
      da.ref_logps = o.ref_logps.data();
      da.counts = r.seq_counts.data();
      const cpu::DpoMetrics m = cpu::dpo_loss(da, dseq.data());
      loss = m.loss;
      r.metrics = cpu::named(m);
      break;
    }
    case ObjectiveKind::Bt: {
      const cpu::BtMetrics m =
          cpu::bt_loss(r.rewards.data(), o.pairs.data(), o.margins.empty() ? nullptr : o.margins.data(), P,
                       o.center_rewards_coefficient, drew.data());
      loss = m.loss;
      r.metrics = cpu::named(m);
      break;
    }
  }
  if (!std::isfinite(loss))
    throw Error(ErrorKind::Runtime, "loss is " + std::string(std::isnan(loss) ? "NaN" : "infinite") +
                                        "; the step was stopped and the parameters and gradients are unchanged");
  return loss;
}

}  // namespace genrm::model
