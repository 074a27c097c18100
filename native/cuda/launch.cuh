// Shared device helpers for the .cu units (CUDA only).
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

namespace genrm::cuda {

constexpr int kThreads = 256;  // a multiple of the warp size

inline unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// Stores v in an output of either storage type (bf16: rounded to nearest even).
__device__ inline void store(float* p, float v) { *p = v; }
__device__ inline void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
__device__ inline float load(const float* p) { return *p; }
__device__ inline float load(const __nv_bfloat16* p) { return __bfloat162float(*p); }

// A value's butterfly partner within the warp (lane ^ o). Pair types of the
// kernels (sampling's Best, logprob's Lse) add their own overloads.
__device__ inline float shfl_xor(float v, int o) { return __shfl_xor_sync(0xffffffffu, v, o); }
__device__ inline double shfl_xor(double v, int o) { return __shfl_xor_sync(0xffffffffu, v, o); }
__device__ inline int64_t shfl_xor(int64_t v, int o) { return __shfl_xor_sync(0xffffffffu, v, o); }

// Reduction over the block (blockDim.x a multiple of 32, at most 1,024) by one
// fixed tree: a butterfly within each warp, then the warps' results through a
// butterfly again (`identity` fills the lanes past the last warp). With an op
// that is commutative bit for bit, every thread gets the same bits. Ends with a
// barrier, so a next call may reuse the shared scratch.
template <typename T, typename Op>
__device__ inline T block_reduce(T v, Op op, T identity) {
  __shared__ T partial[32];
  for (int o = 16; o > 0; o >>= 1) v = op(v, shfl_xor(v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : identity;
  for (int o = 16; o > 0; o >>= 1) v = op(v, shfl_xor(v, o));
  __syncthreads();
  return v;
}

// Sum over the block, returned to every thread.
__device__ inline float block_sum(float v) {
  return block_reduce(v, [](float a, float b) { return a + b; }, 0.0f);
}

}  // namespace genrm::cuda
