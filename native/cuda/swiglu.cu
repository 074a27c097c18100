// SwiGLU gate a = silu(g) u and its backward, one thread per element.
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

__device__ inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__global__ void forward_kernel(const float* g, const float* u, float* a, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) a[i] = g[i] * sigmoid(g[i]) * u[i];
}

// d silu(g)/dg = s (1 + g (1 - s)) with s = sigmoid(g).
__global__ void backward_kernel(const float* g, const float* u, const float* da, float* dg, float* du, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float s = sigmoid(g[i]);
  du[i] = da[i] * g[i] * s;
  dg[i] = da[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
}

}  // namespace

void swiglu_forward(const float* g, const float* u, float* a, int64_t n) {
  if (n <= 0) return;
  forward_kernel<<<blocks_for(n), kThreads>>>(g, u, a, n);
  check_launch("swiglu_forward");
}

void swiglu_backward(const float* g, const float* u, const float* da, float* dg, float* du, int64_t n) {
  if (n <= 0) return;
  backward_kernel<<<blocks_for(n), kThreads>>>(g, u, da, dg, du, n);
  check_launch("swiglu_backward");
}

}  // namespace genrm::cuda
