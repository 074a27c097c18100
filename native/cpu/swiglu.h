// SwiGLU gate: a = silu(g) * u, with silu(g) = g * sigmoid(g).
#pragma once
#include <cstdint>

#include "../core/cpu_features.h"

namespace genrm::cpu {

void swiglu_forward(const float* g, const float* u, float* a, int64_t n, Isa isa);
// Writes dg and du (overwriting) from da.
void swiglu_backward(const float* g, const float* u, const float* da, float* dg, float* du, int64_t n, Isa isa);

}  // namespace genrm::cpu
