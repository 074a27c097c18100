// Embedding lookup (one thread per output value) and its gradient: one thread
// per column walks the tokens in order, as the CPU does, so repeated tokens add
// up in a fixed order (no atomics, reproducible bits).
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

__global__ void forward_kernel(const float* table, const int32_t* tokens, float* out, int64_t n, int64_t dim) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= n * dim) return;
  const int64_t t = idx / dim, d = idx % dim;
  out[idx] = table[static_cast<int64_t>(tokens[t]) * dim + d];
}

__global__ void backward_kernel(const int32_t* tokens, const float* dout, float* dtable, int64_t n, int64_t dim) {
  const int64_t d = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (d >= dim) return;
  for (int64_t t = 0; t < n; ++t) dtable[static_cast<int64_t>(tokens[t]) * dim + d] += dout[t * dim + d];
}

}  // namespace

void embedding_forward(const float* table, const int32_t* tokens, float* out, int64_t n, int64_t dim) {
  if (n <= 0 || dim <= 0) return;
  forward_kernel<<<blocks_for(n * dim), kThreads>>>(table, tokens, out, n, dim);
  check_launch("embedding_forward");
}

void embedding_backward(const int32_t* tokens, const float* dout, float* dtable, int64_t n, int64_t dim) {
  if (n <= 0 || dim <= 0) return;
  backward_kernel<<<blocks_for(dim), kThreads>>>(tokens, dout, dtable, n, dim);
  check_launch("embedding_backward");
}

}  // namespace genrm::cuda
