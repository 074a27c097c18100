#include "rmsnorm.h"

#include <cmath>
#include <vector>

#include "../core/thread_pool.h"

namespace genrm::cpu {

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t dim, float eps) {
  parallel_for(rows, [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * dim;
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      float s = static_cast<float>(1.0 / std::sqrt(ss / dim + eps));
      if (rstd) rstd[r] = s;
      float* yr = y + r * dim;
      for (int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * s * w[i];
    }
  });
}

// y_i = x_i s w_i with s = (mean(x^2)+eps)^-1/2, so
// dx_j = s w_j dy_j - x_j s^3 / dim * sum_i(dy_i w_i x_i);  dw_i = sum_rows dy_i x_i s.
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                      int64_t rows, int64_t dim) {
  parallel_for(rows, [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * dim;
      const float* dyr = dy + r * dim;
      float s = rstd[r];
      double dot = 0;
      for (int64_t i = 0; i < dim; ++i) dot += static_cast<double>(dyr[i]) * w[i] * xr[i];
      float c = static_cast<float>(dot * s * s * s / dim);
      float* dxr = dx + r * dim;
      for (int64_t i = 0; i < dim; ++i) dxr[i] += s * w[i] * dyr[i] - xr[i] * c;
    }
  });
  // dw: columns split across threads; each column summed over rows in order.
  parallel_for(dim, [&](int64_t b, int64_t e, int) {
    std::vector<double> acc(e - b, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * dim;
      const float* dyr = dy + r * dim;
      float s = rstd[r];
      for (int64_t i = b; i < e; ++i) acc[i - b] += static_cast<double>(dyr[i]) * xr[i] * s;
    }
    for (int64_t i = b; i < e; ++i) dw[i] += static_cast<float>(acc[i - b]);
  });
}

}  // namespace genrm::cpu
