// What one call into the decoder takes and gives back, whatever runs it: a
// packed batch, an objective, the requested logits, the per-sequence results
// and metrics, and the optimizer's settings.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../cpu/adamw.h"
#include "../cpu/losses.h"
#include "config.h"

namespace genrm::model {

// Where a model's arithmetic runs.
enum class Device { Cpu, Cuda };
// The device's matrix arithmetic: Bf16 rounds the operands of every matrix
// product and attention score to bf16 (tensor cores, fp32 accumulation); Fp32
// multiplies in fp32 (slower, within float rounding of the CPU). The CPU is always fp32.
enum class Precision { Bf16, Fp32 };
// The four flat buffers laid out by ParamLayout.
enum class Buffer { Params, Grads, AdamM, AdamV };

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

// The values here are placeholders: callers set every field (the defaults
// live in the TypeScript layer, lib/defaults.ts).
struct Objective {
  ObjectiveKind kind = ObjectiveKind::None;
  std::vector<int32_t> pairs;  // DPO and BT: [pairs, 2] (chosen, rejected) sequence indices
  // DPO
  cpu::DpoLoss dpo_loss = cpu::DpoLoss::Sigmoid;
  double beta = 1.0, label_smoothing = 0.0;
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

struct StepResult {
  double grad_norm = 0, learning_rate = 0;
  int64_t step = 0;  // optimizer steps taken, after this one
};

}  // namespace genrm::model
