#include "model.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "../core/error.h"
#include "../core/rng.h"
#include "../core/thread_pool.h"
#include "../cpu/adamw.h"
#include "objective.h"

namespace genrm::model {
namespace {

// Each tensor gets its own stream, so initialisation depends only on the seed and the layout.
// Box-Muller over one stream: elements 2j and 2j + 1 come from its draws 2j
// and 2j + 1. Blocks of the tensor start their own copy of the stream where
// they begin (SplitMix64 can skip ahead), so they run on all engine threads
// and every value is the one a single sequential pass gives.
void fill_normal(float* x, int64_t n, double std, uint64_t seed) {
  constexpr int64_t kBlock = int64_t(1) << 16;  // even: a block starts on a pair
  parallel_for((n + kBlock - 1) / kBlock, [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kBlock, i1 = std::min(n, i0 + kBlock);
      SplitMix64 r = SplitMix64{seed}.skipped(static_cast<uint64_t>(i0));
      for (int64_t i = i0; i < i1; i += 2) {
        const double u1 = r.uniform_open(), u2 = r.uniform_open();
        const double rad = std::sqrt(-2.0 * std::log(u1)) * std, ang = 2.0 * M_PI * u2;
        x[i] = static_cast<float>(rad * std::cos(ang));
        if (i + 1 < i1) x[i + 1] = static_cast<float>(rad * std::sin(ang));
      }
    }
  });
}

std::string at(const char* field, int64_t i) { return std::string(field) + "[" + std::to_string(i) + "]"; }

}  // namespace

void validate_batch(const Config& c, Batch& b) {
  const int64_t n = b.tokens();
  if (n == 0) throw Error(ErrorKind::Argument, "ids: expected at least one token, got an empty batch");
  if (b.cu_seqlens.size() < 2) throw_arg("cuSeqlens.length", "at least 2 (one sequence)", b.cu_seqlens.size());
  if (b.cu_seqlens[0] != 0) throw_arg("cuSeqlens[0]", 0, b.cu_seqlens[0]);
  if (b.cu_seqlens.back() != n)
    throw_arg(at("cuSeqlens", b.seqs()), "the token count " + std::to_string(n), b.cu_seqlens.back());
  for (int64_t s = 0; s < b.seqs(); ++s) {
    const int64_t len = static_cast<int64_t>(b.cu_seqlens[s + 1]) - b.cu_seqlens[s];
    if (len < 0)
      throw_arg(at("cuSeqlens", s + 1),
                ">= cuSeqlens[" + std::to_string(s) + "] (" + std::to_string(b.cu_seqlens[s]) + ")",
                b.cu_seqlens[s + 1]);
    if (len > c.max_position_embeddings)
      throw_arg("sequence " + std::to_string(s) + " length",
                "at most max_position_embeddings (" + std::to_string(c.max_position_embeddings) + ")", len,
                ErrorKind::Range);
    if (c.sliding_window > 0 && len > c.sliding_window)
      throw_arg("sequence " + std::to_string(s) + " length",
                "at most sliding_window (" + std::to_string(c.sliding_window) +
                    "; genrm does not compute windowed attention, which differs from full attention only beyond it)",
                len, ErrorKind::Range);
  }
  for (int64_t t = 0; t < n; ++t)
    if (b.ids[t] < 0 || b.ids[t] >= c.vocab_size)
      throw_arg(at("ids", t), "a token id in [0, " + std::to_string(c.vocab_size) + ")", b.ids[t], ErrorKind::Range);
  if (!b.loss_mask.empty()) {
    if (static_cast<int64_t>(b.loss_mask.size()) != n) throw_arg("lossMask.length", n, b.loss_mask.size());
    for (int64_t s = 0; s < b.seqs(); ++s) {
      const int32_t s0 = b.cu_seqlens[s];
      if (b.cu_seqlens[s + 1] > s0 && b.loss_mask[s0])
        throw_arg(at("lossMask", s0), "0 (the first token of sequence " + std::to_string(s) + " has no prediction)", 1);
    }
    for (int64_t t = 0; t < n; ++t)
      if (b.loss_mask[t] > 1) throw_arg(at("lossMask", t), "0 or 1", static_cast<int>(b.loss_mask[t]));
  }
  b.positions.resize(n);
  for (int64_t s = 0; s < b.seqs(); ++s)
    for (int32_t t = b.cu_seqlens[s]; t < b.cu_seqlens[s + 1]; ++t) b.positions[t] = t - b.cu_seqlens[s];
}

void Backend::step_sample(const std::vector<int64_t>&, const std::vector<int32_t>&, const cpu::SamplingParams&,
                          const std::vector<double>&, std::vector<int32_t>&, std::vector<double>&) {
  throw Error(ErrorKind::State, "this backend draws tokens on the host (Backend::samples() is false)");
}

namespace {
std::atomic<int64_t> live_models{0};
}

Model::Model(const Config& config, uint64_t seed, bool initialize, Device device, Precision precision,
             bool deterministic)
    : config_(config),
      layout_(config),
      // A CUDA backend claims device memory before the host's copies: a model
      // too large for the GPU fails before the host pays for it.
      backend_(device == Device::Cuda ? make_cuda_backend(config_, layout_, precision, deterministic)
                                      : make_cpu_backend(config_, layout_)) {
  // Asked for even when left at zero: a device backend then uploads it before the first run.
  std::vector<float>& params = backend_->buffer(Buffer::Params);
  for (size_t i = 0; initialize && i < layout_.size(); ++i) {
    const ParamInfo& p = layout_[i];
    float* x = params.data() + p.offset;
    if (p.init == Init::Normal) {
      fill_normal(x, p.size, config.initializer_range, seed * 0x100000001b3ull + i);
    } else {
      std::fill(x, x + p.size, p.init == Init::Ones ? 1.0f : 0.0f);
    }
  }
  rng_state_ = seed ^ 0x5851f42d4c957f2dull;
  live_models.fetch_add(1);  // last: a constructor that throws never counts
}

Model::~Model() { live_models.fetch_sub(1); }

int64_t Model::live_count() { return live_models.load(); }

Result Model::run(const Batch& b, const Objective& o, bool with_grad, const LogitsRequest& lr) {
  validate_objective(config_, b, o, lr);
  return backend_->run(b, o, with_grad, lr);
}

StepResult Model::optimizer_step(const OptimConfig& o) {
  StepResult out;
  out.learning_rate = cpu::scheduled_lr(o.adam.lr, o.schedule, step_);
  out.grad_norm = backend_->optimizer_step(o, out.learning_rate, step_ + 1);
  ++step_;
  out.step = step_;
  return out;
}

}  // namespace genrm::model
