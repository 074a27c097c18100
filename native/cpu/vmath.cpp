// Portable bodies of vmath.h (libm, one element at a time) and the dispatch.
#include "vmath.h"

#include <cmath>

namespace genrm::cpu {
namespace {

bool use_avx2(Isa isa) { return isa != Isa::Portable && isa_supported(Isa::Avx2); }
inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

void exp_rows(const float* x, float* y, int64_t n, Isa isa) {
  if (use_avx2(isa)) return avx2::exp_rows(x, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

float row_logsumexp(const float* z, int64_t n, Isa isa) {
  if (use_avx2(isa)) return avx2::row_logsumexp(z, n);
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = z[i] > mx ? z[i] : mx;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(z[i] - mx));
  return mx + static_cast<float>(std::log(s));
}

void scaled_softmax_row(float* z, int64_t n, float lse, float g, Isa isa) {
  if (use_avx2(isa)) return avx2::scaled_softmax_row(z, n, lse, g);
  for (int64_t i = 0; i < n; ++i) z[i] = -g * std::exp(z[i] - lse);
}

void swiglu_forward_range(const float* g, const float* u, float* a, int64_t n, Isa isa) {
  if (use_avx2(isa)) return avx2::swiglu_forward_range(g, u, a, n);
  for (int64_t i = 0; i < n; ++i) a[i] = g[i] * sigmoid(g[i]) * u[i];
}

// d silu(g)/dg = s (1 + g (1 - s)) with s = sigmoid(g).
void swiglu_backward_range(const float* g, const float* u, const float* da, float* dg, float* du, int64_t n, Isa isa) {
  if (use_avx2(isa)) return avx2::swiglu_backward_range(g, u, da, dg, du, n);
  for (int64_t i = 0; i < n; ++i) {
    const float s = sigmoid(g[i]), silu = g[i] * s;
    du[i] = da[i] * silu;
    dg[i] = da[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
  }
}

}  // namespace genrm::cpu
