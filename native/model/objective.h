// The parts of a run that do not depend on where the decoder runs (CPU or CUDA):
// checking an objective against its batch, choosing the target rows, and the
// losses on per-sequence quantities with their gradients.
#pragma once
#include <cstdint>
#include <vector>

#include "run.h"

namespace genrm::model {

// Throws genrm::Error naming the field: a loss mask where the objective needs
// targets, pair indices in range, ref_logps and margins of the right length,
// non-empty sequences under a reward, a logits row range within the batch.
void validate_objective(const Config& c, const Batch& b, const Objective& o, const LogitsRequest& lr);

// What the objective reads from the final hidden states.
bool wants_logps(const Batch& b, const Objective& o);
bool wants_rewards(const Config& c, const Objective& o);

// Target rows in batch order: position pos[i] predicts token target[i] of sequence seq[i].
struct TargetRows {
  std::vector<int32_t> pos, target, seq;
  int64_t size() const { return static_cast<int64_t>(pos.size()); }
};
TargetRows target_rows(const Batch& b);

// Fills r.seq_logps and r.seq_counts from the rows' log-probs (summed in double, in row order).
void sum_by_sequence(const TargetRows& rows, const float* row_logp, int64_t seqs, Result& r);

// The loss of the objective on r's per-sequence values; fills r.metrics and the
// gradients w.r.t. the sequences' log-probs (dseq) and rewards (drew), both
// [seqs] and zeroed here. Throws (Runtime) when the loss is not finite.
double objective_loss(const Objective& o, int64_t seqs, Result& r, std::vector<float>& dseq, std::vector<float>& drew);

}  // namespace genrm::model
