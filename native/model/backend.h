// The interface between the model and the hardware that runs it. A backend owns
// the decoder's arithmetic and its own copies of the four flat buffers; the
// model (model.h) keeps what is the same everywhere: the config and layout,
// argument checks, the step count and learning-rate schedule, initialisation
// and the generation loop. Backends include this header and the model core's
// host helpers (objective.h); the core reaches them only through the two
// factories below, so no backend includes another.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "../cpu/sampling.h"
#include "layout.h"
#include "run.h"

namespace genrm::model {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual Precision precision() const = 0;
  virtual bool deterministic() const = 0;

  // Host copies of the flat buffers. A device backend first fetches the
  // device's newer values; the mutable form also marks the device copy stale,
  // so what the caller writes is uploaded before the next call (only the next:
  // a reference kept across calls must be asked for again before writing).
  // Gradients and AdamW moments exist from their first use (a run with
  // gradients, a step, a read): a model that only scores or generates holds
  // its parameters alone.
  virtual const std::vector<float>& view(Buffer b) = 0;
  virtual std::vector<float>& buffer(Buffer b) = 0;

  // Forward, heads and losses, and with with_grad the gradients accumulated
  // into the gradient buffer. Batch and objective are validated by the caller.
  // A non-finite loss throws before any gradient is touched.
  virtual Result run(const Batch& b, const Objective& o, bool with_grad, const LogitsRequest& lr) = 0;
  // Clip and AdamW at step t (1-based) with learning rate lr, then zero the
  // gradients; returns the gradient norm before clipping. A non-finite norm
  // zeroes the gradients, leaves the rest unchanged and throws.
  virtual double optimizer_step(const OptimConfig& o, double lr, int64_t t) = 0;
  virtual void zero_grad() = 0;

  // Generation's decoder calls; the loop itself (slots, sampling, stop strings)
  // is the model's. prefill: the packed forward over the prompts (a validated
  // batch), a key/value cache of `slots` x `capacity` tokens, and each prompt's
  // next-token logits [seqs, vocab]. start: prompt `seq`'s keys and values into
  // cache slot `slot`. step: one token per listed slot, appended to its cache;
  // logits [rows, vocab]. end: frees the cache.
  virtual void prefill(const Batch& prompts, int64_t slots, int64_t capacity, std::vector<float>& first_logits) = 0;
  // Bytes per cached key or value element (the CPU caches fp32; the GPU caches
  // in its operands' storage type).
  virtual int64_t cache_value_bytes() const { return sizeof(float); }
  virtual void start(int64_t slot, int64_t seq) = 0;
  virtual void step(const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens,
                    std::vector<float>& logits) = 0;
  virtual void end() = 0;
  // Whether step_sample is available: the step with the draws made where the
  // logits are (u[i] is row i's uniform, unread at temperature 0), each row's
  // token and log-prob coming back instead of its logits.
  virtual bool samples() const { return false; }
  virtual void step_sample(const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens,
                           const cpu::SamplingParams& s, const std::vector<double>& u, std::vector<int32_t>& drawn,
                           std::vector<double>& logprob);
};

// The CPU engine (cpu_backend.cpp).
std::unique_ptr<Backend> make_cpu_backend(const Config& c, const ParamLayout& layout);
// The CUDA engine (native/cuda/model.cu; a build without CUDA links
// native/cuda/no_cuda.cpp's, which refuses). Throws genrm::Error saying why when
// no CUDA device is usable, or naming the allocation when memory runs out.
// deterministic = false lets attention's backward add dQ with atomics.
std::unique_ptr<Backend> make_cuda_backend(const Config& c, const ParamLayout& layout, Precision precision,
                                           bool deterministic);

}  // namespace genrm::model
