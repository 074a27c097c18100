// The Llama decoder on a CUDA device: the same run (forward, heads, losses,
// backward) and optimizer step as model::Model's CPU path, on device copies of
// the parameter, gradient and AdamW buffers. model::Model owns one when it was
// created for CUDA and decides when buffers travel (model.cpp). Plain C++: the
// CPU build links native/cuda/no_cuda.cpp's versions, which refuse.
#pragma once
#include <cstdint>
#include <vector>

#include "../model/model.h"

namespace genrm::cuda {

struct DeviceModel;

// Throws genrm::Error saying why when no CUDA device is usable, or naming the
// allocation when the device has too little memory. fp32_math: matrix products
// and attention on the fp32 SIMT kernels instead of bf16 tensor cores.
// deterministic = false: attention's backward adds dQ by atomics (AttentionArgs).
DeviceModel* device_model_create(const model::Config& c, const std::vector<model::ParamInfo>& layout, int64_t n,
                                 bool fp32_math, bool deterministic = true);
void device_model_destroy(DeviceModel* m);

enum class ModelBuffer { Params, Grads, AdamM, AdamV };
void device_model_upload(DeviceModel& m, ModelBuffer which, const float* host);
void device_model_download(DeviceModel& m, ModelBuffer which, float* host);

// Batch and objective already validated (model::Model::run does it).
model::Result device_model_run(DeviceModel& m, const model::Batch& b, const model::Objective& o, bool with_grad,
                               const model::LogitsRequest& lr);
// Clip and AdamW at step t (1-based) with learning rate lr; zeroes the
// gradients. Returns the gradient norm before clipping; a non-finite norm
// zeroes the gradients, leaves the rest unchanged and throws.
double device_model_optimizer_step(DeviceModel& m, const model::OptimConfig& o, double lr, int64_t t);
void device_model_zero_grad(DeviceModel& m);

// Generation on the device. The host keeps the loop (slots, sampling, stop
// strings: model/generate.cpp); the device runs the decoder and holds the
// key/value cache. prefill: the packed forward over the prompts (a validated
// batch), a cache of `slots` x `capacity` tokens, and each prompt's
// next-token logits [seqs, vocab] (host). start: prompt `seq`'s keys and
// values into cache slot `slot`. step: one token per listed slot, appended to
// its cache; logits [rows, vocab] (host). end: frees the cache.
void device_generate_prefill(DeviceModel& m, const model::Batch& prompts, int64_t slots, int64_t capacity,
                             std::vector<float>& first_logits);
void device_generate_start(DeviceModel& m, int64_t slot, int64_t seq);
void device_generate_step(DeviceModel& m, const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens,
                          std::vector<float>& logits);
// The same step with the draws on the device (cuda/sampling.h): u[i] is row
// i's uniform (unread at temperature 0); each row's token and log-prob come
// back instead of its logits.
void device_generate_step_sample(DeviceModel& m, const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens,
                                 const cpu::SamplingParams& s, const std::vector<double>& u, std::vector<int32_t>& drawn,
                                 std::vector<double>& logprob);
void device_generate_end(DeviceModel& m);

}  // namespace genrm::cuda
