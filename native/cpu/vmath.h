// Vectorised transcendental loops: exp-based row reductions (log-softmax) and the
// SwiGLU gate. libm's scalar expf kept these loops from vectorising, and they were
// 5-8% of a training step. Each function has an AVX2+FMA body (vmath_avx2.cpp) and
// a portable one (vmath.cpp); `isa` picks, and Portable is the reference.
#pragma once
#include <cstdint>

#include "../core/cpu_features.h"

namespace genrm::cpu {

// y[i] = exp(x[i]); 0 below the float range, inf above it, NaN kept.
void exp_rows(const float* x, float* y, int64_t n, Isa isa);

// Max-subtracted log(sum_i exp(z[i])) of one row, the sum kept in double.
float row_logsumexp(const float* z, int64_t n, Isa isa);

// z[i] = -g * exp(z[i] - lse): the softmax part of d(logp)/dz, scaled.
void scaled_softmax_row(float* z, int64_t n, float lse, float g, Isa isa);

// a[i] = silu(g[i]) * u[i] over [0, n).
void swiglu_forward_range(const float* g, const float* u, float* a, int64_t n, Isa isa);
// dg, du (overwritten) from da over [0, n).
void swiglu_backward_range(const float* g, const float* u, const float* da, float* dg, float* du, int64_t n, Isa isa);

// AVX2 bodies (vmath_avx2.cpp): call only when the CPU has AVX2 and FMA.
namespace avx2 {
void exp_rows(const float* x, float* y, int64_t n);
float row_logsumexp(const float* z, int64_t n);
void scaled_softmax_row(float* z, int64_t n, float lse, float g);
void swiglu_forward_range(const float* g, const float* u, float* a, int64_t n);
void swiglu_backward_range(const float* g, const float* u, const float* da, float* dg, float* du, int64_t n);
}  // namespace avx2

}  // namespace genrm::cpu
