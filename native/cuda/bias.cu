// A linear layer's bias on the device (native/cpu/bias.h): added to every row,
// and its gradient, the column sums of the output gradient. The sums run in two
// passes (per-chunk column sums with the chunk's rows in order, then the chunks
// in order), so they do not depend on timing.
#include <string>

#include "../core/error.h"
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

constexpr int64_t kRowsPerChunk = 256;

__global__ void add_kernel(float* y, const float* b, int64_t n, int64_t cols) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) y[i] += b[i % cols];
}

template <typename T>
__global__ void partial_kernel(const T* dy, float* partial, int64_t rows, int64_t cols) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  const int64_t r0 = blockIdx.y * kRowsPerChunk, r1 = r0 + kRowsPerChunk < rows ? r0 + kRowsPerChunk : rows;
  float acc = 0.0f;
  for (int64_t r = r0; r < r1; ++r) acc += load(dy + r * cols + c);
  partial[blockIdx.y * cols + c] = acc;
}

__global__ void sum_kernel(const float* partial, float* db, int64_t chunks, int64_t cols) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  float acc = 0.0f;
  for (int64_t k = 0; k < chunks; ++k) acc += partial[k * cols + c];
  db[c] += acc;
}

}  // namespace

void bias_add(float* y, const float* b, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t n = rows * cols;
  add_kernel<<<blocks_for(n), kThreads>>>(y, b, n, cols);
  check_launch("bias_add");
}

void bias_backward(const void* dy, DType dy_type, float* db, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  if (chunks > 65535)  // the chunks run on the grid's y dimension
    throw Error(ErrorKind::Range, "bias_backward: rows must be <= " + std::to_string(65535 * kRowsPerChunk) + ", got " +
                                      std::to_string(rows));
  float* partial =
      static_cast<float*>(device_scratch(Scratch::Bias, sizeof(float) * chunks * cols, "bias_backward partial sums"));
  const dim3 grid(blocks_for(cols), static_cast<unsigned>(chunks));
  if (dy_type == DType::BF16)
    partial_kernel<<<grid, kThreads>>>(static_cast<const __nv_bfloat16*>(dy), partial, rows, cols);
  else
    partial_kernel<<<grid, kThreads>>>(static_cast<const float*>(dy), partial, rows, cols);
  check_launch("bias_backward (partial sums)");
  sum_kernel<<<blocks_for(cols), kThreads>>>(partial, db, chunks, cols);
  check_launch("bias_backward (sums)");
}

}  // namespace genrm::cuda
