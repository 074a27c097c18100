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

// One block per distinct token; threads over the columns.
__global__ void backward_sorted_kernel(const int32_t* ids, const int32_t* starts, const int32_t* order,
                                       const float* dout, float* dtable, int64_t dim) {
  const int64_t u = blockIdx.x;
  float* row = dtable + static_cast<int64_t>(ids[u]) * dim;
  const int32_t i0 = starts[u], i1 = starts[u + 1];
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    float acc = row[d];
    for (int32_t i = i0; i < i1; ++i) acc += dout[static_cast<int64_t>(order[i]) * dim + d];
    row[d] = acc;
  }
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

void embedding_backward_sorted(const int32_t* ids, const int32_t* starts, const int32_t* order, int64_t unique,
                               const float* dout, float* dtable, int64_t dim) {
  if (unique <= 0 || dim <= 0) return;
  const unsigned threads = dim < kThreads ? 128 : kThreads;
  backward_sorted_kernel<<<static_cast<unsigned>(unique), threads>>>(ids, starts, order, dout, dtable, dim);
  check_launch("embedding_backward_sorted");
}

}  // namespace genrm::cuda
