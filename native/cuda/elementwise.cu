// The model's glue on the device: residual adds, row gathers and scatters for
// the target rows, the reward head's dot products, and the gradient's sum of
// squares. Reductions run in a fixed order (no atomics).
#include <cuda_runtime.h>

#include <vector>

#include "check.h"
#include "kernels.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

__global__ void add_kernel(const float* a, const float* b, float* out, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}

__global__ void to_bf16_kernel(const float* x, __nv_bfloat16* out, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = __float2bfloat16_rn(x[i]);
}

__global__ void to_f32_kernel(const __nv_bfloat16* x, float* out, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = __bfloat162float(x[i]);
}

__global__ void scale_kernel(float* x, int64_t n, float s) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) x[i] *= s;
}

// One block per row.
__global__ void gather_kernel(const float* x, const int32_t* rows, float* out, int64_t dim) {
  const float* src = x + static_cast<int64_t>(rows[blockIdx.x]) * dim;
  float* dst = out + blockIdx.x * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = src[i];
}

__global__ void scatter_add_kernel(const float* y, const int32_t* rows, float* x, int64_t dim) {
  float* dst = x + static_cast<int64_t>(rows[blockIdx.x]) * dim;
  const float* src = y + blockIdx.x * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dst[i] += src[i];
}

__global__ void rows_dot_kernel(const float* x, const int32_t* rows, const float* w, float* out, int64_t dim) {
  const float* xr = x + static_cast<int64_t>(rows[blockIdx.x]) * dim;
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) acc += xr[i] * w[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[blockIdx.x] = acc;
}

__global__ void rows_dot_dx_kernel(const int32_t* rows, const float* w, const float* g, float* dx, int64_t dim) {
  float* dr = dx + static_cast<int64_t>(rows[blockIdx.x]) * dim;
  const float gi = g[blockIdx.x];
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dr[i] += gi * w[i];
}

// One thread per column, rows in order.
__global__ void rows_dot_dw_kernel(const float* x, const int32_t* rows, const float* g, float* dw, int64_t n,
                                   int64_t dim) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= dim) return;
  float acc = dw[i];
  for (int64_t r = 0; r < n; ++r) acc += g[r] * x[static_cast<int64_t>(rows[r]) * dim + i];
  dw[i] = acc;
}

constexpr int64_t kSquaresBlock = 65536;  // values per partial sum

__global__ void sum_squares_kernel(const float* x, int64_t n, double* partial) {
  __shared__ double warp_sums[32];
  const int64_t i0 = blockIdx.x * kSquaresBlock, i1 = i0 + kSquaresBlock < n ? i0 + kSquaresBlock : n;
  double s = 0;
  for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) s += static_cast<double>(x[i]) * x[i];
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double t = 0;
    for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) t += warp_sums[w];
    partial[blockIdx.x] = t;
  }
}

unsigned row_threads(int64_t dim) { return dim >= 512 ? 256 : dim >= 128 ? 128 : 64; }

}  // namespace

void add(const float* a, const float* b, float* out, int64_t n) {
  if (n <= 0) return;
  add_kernel<<<blocks_for(n), kThreads>>>(a, b, out, n);
  check_launch("add");
}

void to_bf16(const float* x, void* out, int64_t n) {
  if (n <= 0) return;
  to_bf16_kernel<<<blocks_for(n), kThreads>>>(x, static_cast<__nv_bfloat16*>(out), n);
  check_launch("to_bf16");
}

void to_f32(const void* x_bf16, float* out, int64_t n) {
  if (n <= 0) return;
  to_f32_kernel<<<blocks_for(n), kThreads>>>(static_cast<const __nv_bfloat16*>(x_bf16), out, n);
  check_launch("to_f32");
}

void scale(float* x, int64_t n, float s) {
  if (n <= 0) return;
  scale_kernel<<<blocks_for(n), kThreads>>>(x, n, s);
  check_launch("scale");
}

void gather_rows(const float* x, const int32_t* rows, float* out, int64_t n, int64_t dim) {
  if (n <= 0 || dim <= 0) return;
  gather_kernel<<<static_cast<unsigned>(n), row_threads(dim)>>>(x, rows, out, dim);
  check_launch("gather_rows");
}

void scatter_add_rows(const float* y, const int32_t* rows, float* x, int64_t n, int64_t dim) {
  if (n <= 0 || dim <= 0) return;
  scatter_add_kernel<<<static_cast<unsigned>(n), row_threads(dim)>>>(y, rows, x, dim);
  check_launch("scatter_add_rows");
}

void rows_dot(const float* x, const int32_t* rows, const float* w, float* out, int64_t n, int64_t dim) {
  if (n <= 0) return;
  rows_dot_kernel<<<static_cast<unsigned>(n), row_threads(dim)>>>(x, rows, w, out, dim);
  check_launch("rows_dot");
}

void rows_dot_backward(const float* x, const int32_t* rows, const float* w, const float* g, float* dx, float* dw,
                       int64_t n, int64_t dim) {
  if (n <= 0 || dim <= 0) return;
  rows_dot_dx_kernel<<<static_cast<unsigned>(n), row_threads(dim)>>>(rows, w, g, dx, dim);
  check_launch("rows_dot_backward dx");
  rows_dot_dw_kernel<<<blocks_for(dim), kThreads>>>(x, rows, g, dw, n, dim);
  check_launch("rows_dot_backward dw");
}

double sum_squares(const float* x, int64_t n) {
  if (n <= 0) return 0;
  const int64_t blocks = (n + kSquaresBlock - 1) / kSquaresBlock;
  double* partial =
      static_cast<double*>(device_scratch(Scratch::Model, sizeof(double) * blocks, "gradient norm partial sums"));
  sum_squares_kernel<<<static_cast<unsigned>(blocks), kThreads>>>(x, n, partial);
  check_launch("sum_squares");
  std::vector<double> host(blocks);
  check(cudaMemcpy(host.data(), partial, sizeof(double) * blocks, cudaMemcpyDeviceToHost), "sum_squares download");
  double total = 0;
  for (double p : host) total += p;
  return total;
}

}  // namespace genrm::cuda
