// AdamW over one contiguous parameter / gradient / state buffer, global-norm
// clipping, and the warmup + cosine learning-rate schedule (Hugging Face's).
#pragma once
#include <cstdint>
#include <vector>

#include "../core/cpu_features.h"

namespace genrm::cpu {

struct AdamWConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

// A range of the flat buffer and whether weight decay applies to it (norm
// weights and biases are excluded, as the Hugging Face Trainer does).
struct DecaySpan {
  int64_t begin, end;
  bool decay;
};

// One step, t >= 1 (bias correction uses t). torch.optim.AdamW semantics:
// p -= lr * wd * p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
void adamw_step(float* params, const float* grads, float* m, float* v, const std::vector<DecaySpan>& spans,
                const AdamWConfig& c, double lr, int64_t t);

// The update of n values with the step's constants folded in: step = lr / (1 -
// b1^t), inv_sqrt_bc2 = 1 / sqrt(1 - b2^t), decay = 1 - lr * wd (1 where weight
// decay is off). AVX2 unless isa is portable or the CPU lacks it.
void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2, float step,
                 float inv_sqrt_bc2, float eps, float decay, Isa isa);
// L2 norm of a buffer: partial sums over fixed 64Ki blocks, added in order, so
// the result does not depend on the thread count.
double l2_norm(const float* x, int64_t n);

// Scales x by s in place.
void scale(float* x, int64_t n, float s);

struct ScheduleConfig {
  int64_t warmup_steps = 0, total_steps = 0;  // total 0: constant after warmup
  double min_lr_ratio = 0.0;
};

// get_cosine_schedule_with_warmup: step counts from 0 (the first step's rate).
double scheduled_lr(double base_lr, const ScheduleConfig& s, int64_t step);

// AVX2 bodies (adamw_avx2.cpp), used when the CPU has AVX2 and the default path is not portable.
namespace avx2 {
void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2, float step,
                 float inv_sqrt_bc2, float eps, float decay);
double sum_squares(const float* x, int64_t n);
}  // namespace avx2

}  // namespace genrm::cpu
