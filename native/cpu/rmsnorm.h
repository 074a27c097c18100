// RMSNorm over the last dimension: y = x / sqrt(mean(x^2) + eps) * w.
#pragma once
#include <cstdint>

namespace genrm::cpu {

// x, y: [rows, dim]; w: [dim]; rstd (optional output): [rows], 1/sqrt(mean(x^2)+eps).
void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t dim, float eps);

// Given dy, accumulates dx (+=) and dw (+=), from x, w and the saved rstd.
// dw is reduced over rows in a fixed order, so it is independent of the thread count.
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                      int64_t rows, int64_t dim);

}  // namespace genrm::cpu
