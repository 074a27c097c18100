// SwiGLU gate a = silu(g) u and its backward, one thread per element.
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

__device__ inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

template <typename A>
__global__ void forward_kernel(const float* g, const float* u, A* a, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) store(a + i, g[i] * sigmoid(g[i]) * u[i]);
}

// d silu(g)/dg = s (1 + g (1 - s)) with s = sigmoid(g).
template <typename G>
__global__ void backward_kernel(const float* g, const float* u, const float* da, G* dg, G* du, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float s = sigmoid(g[i]);
  store(du + i, da[i] * g[i] * s);
  store(dg + i, da[i] * u[i] * s * (1.0f + g[i] * (1.0f - s)));
}

}  // namespace

void swiglu_forward(const float* g, const float* u, void* a, int64_t n, DType a_type) {
  if (n <= 0) return;
  if (a_type == DType::BF16)
    forward_kernel<<<blocks_for(n), kThreads>>>(g, u, static_cast<__nv_bfloat16*>(a), n);
  else
    forward_kernel<<<blocks_for(n), kThreads>>>(g, u, static_cast<float*>(a), n);
  check_launch("swiglu_forward");
}

void swiglu_backward(const float* g, const float* u, const float* da, void* dg, void* du, int64_t n, DType grad_type) {
  if (n <= 0) return;
  if (grad_type == DType::BF16)
    backward_kernel<<<blocks_for(n), kThreads>>>(g, u, da, static_cast<__nv_bfloat16*>(dg),
                                                 static_cast<__nv_bfloat16*>(du), n);
  else
    backward_kernel<<<blocks_for(n), kThreads>>>(g, u, da, static_cast<float*>(dg), static_cast<float*>(du), n);
  check_launch("swiglu_backward");
}

}  // namespace genrm::cuda
