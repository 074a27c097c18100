// Key/value-cache decoding: one new query row per sample against that sample's
// cached keys and values (cpu/attention_decode.h's semantics), and the append of
// each step's keys and values to the cache. The cache is
// [slots][layers][capacity][kv_heads * head_dim], fp32 or bf16; a block per
// (row, head) so a sample's numbers do not depend on what else shares the step.
#include <cfloat>
#include <string>

#include "../core/error.h"
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

constexpr int kDecodeThreads = 128;

__device__ inline float block_max(float v) {
  return block_reduce(v, [](float a, float b) { return fmaxf(a, b); }, -FLT_MAX);
}

// scores: [rows, heads, capacity] scratch for the probabilities. Each warp
// takes every kWarps-th key: its lanes read one key (or value) row together,
// coalesced, so a pass over the cache streams it at memory speed.
constexpr int kWarps = kDecodeThreads / 32;
constexpr int kMaxHeadDim = 256;

template <typename T>
__global__ void decode_kernel(const float* __restrict__ q, const T* __restrict__ k_cache, const T* __restrict__ v_cache,
                              const int32_t* slots, const int32_t* n_keys, float* __restrict__ out,
                              float* __restrict__ scores, int64_t heads, int64_t kv_heads, int64_t head_dim,
                              int64_t layers, int64_t layer, int64_t capacity, float scale) {
  __shared__ float qs[kMaxHeadDim];
  __shared__ float part[kWarps][kMaxHeadDim];
  const int64_t row = blockIdx.x, h = blockIdx.y, g = h / (heads / kv_heads), kvd = kv_heads * head_dim;
  const int64_t n = n_keys[row];
  const int64_t base = (static_cast<int64_t>(slots[row]) * layers + layer) * capacity * kvd + g * head_dim;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t i = threadIdx.x; i < head_dim; i += blockDim.x) qs[i] = q[(row * heads + h) * head_dim + i];
  __syncthreads();
  float* p = scores + (row * heads + h) * capacity;
  // Scores: a warp per key, lanes over the head dim, a shuffle sum (fixed order).
  float mx = -FLT_MAX;
  for (int64_t j = warp; j < n; j += kWarps) {
    const T* kj = k_cache + base + j * kvd;
    float s = 0.0f;
    for (int64_t i = lane; i < head_dim; i += 32) s += qs[i] * load(kj + i);
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    s *= scale;
    if (lane == 0) p[j] = s;
    mx = fmaxf(mx, s);
  }
  mx = block_max(mx);  // its barriers also publish p[] to the block
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    const float e = __expf(p[j] - mx);
    p[j] = e;
    sum += e;
  }
  sum = block_sum(sum);
  // Values: each warp sums its keys' rows (lanes over the head dim, in registers),
  // then the warps' partial sums are added in warp order.
  constexpr int kPerLane = kMaxHeadDim / 32;
  float acc[kPerLane];
  for (int c = 0; c < kPerLane; ++c) acc[c] = 0.0f;
  for (int64_t j = warp; j < n; j += kWarps) {
    const float pj = p[j];
    const T* vj = v_cache + base + j * kvd;
#pragma unroll
    for (int c = 0; c < kPerLane; ++c) {
      const int64_t i = lane + 32 * c;
      if (i < head_dim) acc[c] += pj * load(vj + i);
    }
  }
#pragma unroll
  for (int c = 0; c < kPerLane; ++c) {
    const int64_t i = lane + 32 * c;
    if (i < head_dim) part[warp][i] = acc[c];
  }
  __syncthreads();
  const float inv = n > 0 ? 1.0f / sum : 0.0f;  // no keys: zeros, not 0 * inf
  float* o = out + (row * heads + h) * head_dim;
  for (int64_t i = threadIdx.x; i < head_dim; i += blockDim.x) {
    float t = 0.0f;
    for (int w = 0; w < kWarps; ++w) t += part[w][i];
    o[i] = t * inv;
  }
}

template <typename T>
__global__ void append_kernel(const float* k, const float* v, T* k_cache, T* v_cache, const int32_t* slots,
                              const int32_t* pos, int64_t kv_dim, int64_t layers, int64_t layer, int64_t capacity) {
  const int64_t row = blockIdx.x;
  const int64_t at = ((static_cast<int64_t>(slots[row]) * layers + layer) * capacity + pos[row]) * kv_dim;
  for (int64_t i = threadIdx.x; i < kv_dim; i += blockDim.x) {
    store(k_cache + at + i, k[row * kv_dim + i]);
    store(v_cache + at + i, v[row * kv_dim + i]);
  }
}

}  // namespace

void attention_decode(const float* q, const void* k_cache, const void* v_cache, DType cache_type, const int32_t* slots,
                      const int32_t* n_keys, float* out, float* scores, int64_t rows, int64_t heads, int64_t kv_heads,
                      int64_t head_dim, int64_t layers, int64_t layer, int64_t capacity, float scale) {
  if (rows <= 0) return;
  if (head_dim > kMaxHeadDim || heads > 65535)
    throw Error(ErrorKind::Argument, "attention_decode: head_dim must be <= " + std::to_string(kMaxHeadDim) +
                                         " and heads <= 65535, got " + std::to_string(head_dim) + " and " +
                                         std::to_string(heads));
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(heads));
  if (cache_type == DType::BF16)
    decode_kernel<<<grid, kDecodeThreads>>>(q, static_cast<const __nv_bfloat16*>(k_cache),
                                            static_cast<const __nv_bfloat16*>(v_cache), slots, n_keys, out, scores,
                                            heads, kv_heads, head_dim, layers, layer, capacity, scale);
  else
    decode_kernel<<<grid, kDecodeThreads>>>(q, static_cast<const float*>(k_cache), static_cast<const float*>(v_cache),
                                            slots, n_keys, out, scores, heads, kv_heads, head_dim, layers, layer,
                                            capacity, scale);
  check_launch("attention_decode");
}

void kv_cache_append(const float* k, const float* v, void* k_cache, void* v_cache, DType cache_type,
                     const int32_t* slots, const int32_t* pos, int64_t rows, int64_t kv_dim, int64_t layers,
                     int64_t layer, int64_t capacity) {
  if (rows <= 0) return;
  if (cache_type == DType::BF16)
    append_kernel<<<static_cast<unsigned>(rows), 128>>>(k, v, static_cast<__nv_bfloat16*>(k_cache),
                                                        static_cast<__nv_bfloat16*>(v_cache), slots, pos, kv_dim,
                                                        layers, layer, capacity);
  else
    append_kernel<<<static_cast<unsigned>(rows), 128>>>(
        k, v, static_cast<float*>(k_cache), static_cast<float*>(v_cache), slots, pos, kv_dim, layers, layer, capacity);
  check_launch("kv_cache_append");
}

}  // namespace genrm::cuda
