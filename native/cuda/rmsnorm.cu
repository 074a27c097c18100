// RMSNorm forward and backward: one block per row; dw in two passes (per-chunk
// column sums, then the chunks added in order) so it does not depend on timing.
#include <string>

#include "../core/error.h"
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

constexpr int64_t kRowsPerChunk = 256;

template <typename Y>
__global__ void forward_kernel(const float* x, const float* w, Y* y, float* rstd, int64_t dim, float eps) {
  const float* xr = x + blockIdx.x * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  const float s = 1.0f / sqrtf(block_sum(ss) / static_cast<float>(dim) + eps);
  if (rstd && threadIdx.x == 0) rstd[blockIdx.x] = s;
  Y* yr = y + blockIdx.x * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) store(yr + i, xr[i] * s * w[i]);
}

// dx_j += s w_j dy_j - x_j s^3 / dim * sum_i(dy_i w_i x_i)
__global__ void dx_kernel(const float* x, const float* w, const float* rstd, const float* dy, float* dx, int64_t dim) {
  const float* xr = x + blockIdx.x * dim;
  const float* dyr = dy + blockIdx.x * dim;
  float dot = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dot += dyr[i] * w[i] * xr[i];
  const float s = rstd[blockIdx.x], c = block_sum(dot) * s * s * s / static_cast<float>(dim);
  float* dxr = dx + blockIdx.x * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dxr[i] += s * w[i] * dyr[i] - xr[i] * c;
}

// partial[chunk][i] = sum over the chunk's rows of dy x s, rows in order.
__global__ void dw_partial_kernel(const float* x, const float* rstd, const float* dy, float* partial, int64_t rows,
                                  int64_t dim) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= dim) return;
  const int64_t r0 = blockIdx.y * kRowsPerChunk, r1 = r0 + kRowsPerChunk < rows ? r0 + kRowsPerChunk : rows;
  float acc = 0.0f;
  for (int64_t r = r0; r < r1; ++r) acc += dy[r * dim + i] * x[r * dim + i] * rstd[r];
  partial[blockIdx.y * dim + i] = acc;
}

__global__ void dw_sum_kernel(const float* partial, float* dw, int64_t chunks, int64_t dim) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= dim) return;
  float acc = 0.0f;
  for (int64_t c = 0; c < chunks; ++c) acc += partial[c * dim + i];
  dw[i] += acc;
}

}  // namespace

void rmsnorm_forward(const float* x, const float* w, void* y, float* rstd, int64_t rows, int64_t dim, float eps,
                     DType y_type) {
  if (rows <= 0 || dim <= 0) return;
  if (y_type == DType::BF16)
    forward_kernel<<<static_cast<unsigned>(rows), kThreads>>>(x, w, static_cast<__nv_bfloat16*>(y), rstd, dim, eps);
  else
    forward_kernel<<<static_cast<unsigned>(rows), kThreads>>>(x, w, static_cast<float*>(y), rstd, dim, eps);
  check_launch("rmsnorm_forward");
}

void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                      int64_t rows, int64_t dim) {
  if (rows <= 0 || dim <= 0) return;
  dx_kernel<<<static_cast<unsigned>(rows), kThreads>>>(x, w, rstd, dy, dx, dim);
  check_launch("rmsnorm_backward (dx)");
  const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  if (chunks > 65535)  // the chunks run on the grid's y dimension
    throw Error(ErrorKind::Range, "rmsnorm_backward: rows must be <= " + std::to_string(65535 * kRowsPerChunk) +
                                      ", got " + std::to_string(rows));
  float* partial = static_cast<float*>(
      device_scratch(Scratch::Rmsnorm, sizeof(float) * chunks * dim, "rmsnorm_backward partial sums"));
  dw_partial_kernel<<<dim3(blocks_for(dim), static_cast<unsigned>(chunks)), kThreads>>>(x, rstd, dy, partial, rows,
                                                                                        dim);
  check_launch("rmsnorm_backward (dw partial sums)");
  dw_sum_kernel<<<blocks_for(dim), kThreads>>>(partial, dw, chunks, dim);
  check_launch("rmsnorm_backward (dw)");
}

}  // namespace genrm::cuda
