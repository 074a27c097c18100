#include "adamw.h"

#include <cmath>

#include "../core/cpu_features.h"
#include "../core/thread_pool.h"

namespace genrm::cpu {
namespace {

bool use_avx2() { return default_isa() != Isa::Portable && isa_supported(Isa::Avx2); }

}  // namespace

void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2, float step,
                 float inv_sqrt_bc2, float eps, float decay, Isa isa) {
  if (isa != Isa::Portable && isa_supported(Isa::Avx2))
    return avx2::adamw_range(p, g, m, v, n, b1, b2, step, inv_sqrt_bc2, eps, decay);
  for (int64_t i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    p[i] = p[i] * decay - step * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
}

void adamw_step(float* params, const float* grads, float* m, float* v, const std::vector<DecaySpan>& spans,
                const AdamWConfig& c, double lr, int64_t t) {
  const double bc1 = 1 - std::pow(c.beta1, static_cast<double>(t)), bc2 = 1 - std::pow(c.beta2, static_cast<double>(t));
  const float b1 = static_cast<float>(c.beta1), b2 = static_cast<float>(c.beta2);
  const float step = static_cast<float>(lr / bc1), inv_sqrt_bc2 = static_cast<float>(1 / std::sqrt(bc2));
  const float eps = static_cast<float>(c.eps);
  const Isa isa = default_isa();
  for (const DecaySpan& span : spans) {
    const float decay = span.decay ? static_cast<float>(1 - lr * c.weight_decay) : 1.0f;
    parallel_for((span.end - span.begin + 16383) / 16384, [&](int64_t b, int64_t e, int) {
      const int64_t i0 = span.begin + b * 16384, i1 = std::min(span.end, span.begin + e * 16384);
      adamw_range(params + i0, grads + i0, m + i0, v + i0, i1 - i0, b1, b2, step, inv_sqrt_bc2, eps, decay, isa);
    });
  }
}

double l2_norm(const float* x, int64_t n) {
  constexpr int64_t kBlock = 65536;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(blocks, 0.0);
  const bool simd = use_avx2();
  parallel_for(blocks, [&](int64_t b, int64_t e, int) {
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t i0 = blk * kBlock, i1 = std::min(n, (blk + 1) * kBlock);
      double s = 0;
      if (simd) {
        s = avx2::sum_squares(x + i0, i1 - i0);
      } else {
        for (int64_t i = i0; i < i1; ++i) s += static_cast<double>(x[i]) * x[i];
      }
      partial[blk] = s;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return std::sqrt(total);
}

void scale(float* x, int64_t n, float s) {
  parallel_for((n + 65535) / 65536, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b * 65536, end = std::min(n, e * 65536); i < end; ++i) x[i] *= s;
  });
}

double scheduled_lr(double base_lr, const ScheduleConfig& s, int64_t step) {
  if (step < s.warmup_steps) return base_lr * static_cast<double>(step) / std::max<int64_t>(1, s.warmup_steps);
  if (s.total_steps <= 0) return base_lr;
  const double progress =
      static_cast<double>(step - s.warmup_steps) / std::max<int64_t>(1, s.total_steps - s.warmup_steps);
  const double cosine = std::max(0.0, 0.5 * (1 + std::cos(M_PI * std::min(1.0, progress))));
  return base_lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * cosine);
}

}  // namespace genrm::cpu
