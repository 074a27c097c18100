// AdamW on fp32 master weights, one thread per parameter (the CPU's formula).
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2, float step,
                             float inv_sqrt_bc2, float eps, float decay) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float gi = g[i];
  const float mi = b1 * m[i] + (1.0f - b1) * gi, vi = b2 * v[i] + (1.0f - b2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = p[i] * decay - step * (mi / (sqrtf(vi) * inv_sqrt_bc2 + eps));
}

}  // namespace

void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2, float step,
                 float inv_sqrt_bc2, float eps, float decay) {
  if (n <= 0) return;
  adamw_kernel<<<blocks_for(n), kThreads>>>(p, g, m, v, n, b1, b2, step, inv_sqrt_bc2, eps, decay);
  check_launch("adamw");
}

}  // namespace genrm::cuda
