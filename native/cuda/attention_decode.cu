// Key/value-cache decoding: one new query row per sample against that sample's
// cached keys and values (cpu/attention_decode.h's semantics), and the append of
// each step's keys and values to the cache. The cache is
// [slots][layers][capacity][kv_heads * head_dim]; a block per (row, head) so a
// sample's numbers do not depend on what else shares the step.
#include <cfloat>

#include "check.h"
#include "kernels.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

constexpr int kDecodeThreads = 128;

__device__ inline float block_max(float v) {
  __shared__ float warp_max[32];
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  if (lane == 0) warp_max[warp] = v;
  __syncthreads();
  v = lane < warps ? warp_max[lane] : -FLT_MAX;
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  return v;
}

// scores: [rows, heads, capacity] scratch for the probabilities.
__global__ void decode_kernel(const float* q, const float* k_cache, const float* v_cache, const int32_t* slots,
                              const int32_t* n_keys, float* out, float* scores, int64_t heads, int64_t kv_heads,
                              int64_t head_dim, int64_t layers, int64_t layer, int64_t capacity, float scale) {
  const int64_t row = blockIdx.x, h = blockIdx.y, g = h / (heads / kv_heads), kvd = kv_heads * head_dim;
  const int64_t n = n_keys[row];
  const int64_t base = (static_cast<int64_t>(slots[row]) * layers + layer) * capacity * kvd + g * head_dim;
  const float* qr = q + (row * heads + h) * head_dim;
  float* p = scores + (row * heads + h) * capacity;
  float mx = -FLT_MAX;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    const float* kj = k_cache + base + j * kvd;
    float s = 0.0f;
    for (int64_t i = 0; i < head_dim; ++i) s += qr[i] * kj[i];
    s *= scale;
    p[j] = s;
    mx = fmaxf(mx, s);
  }
  mx = block_max(mx);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    const float e = __expf(p[j] - mx);
    p[j] = e;
    sum += e;
  }
  sum = block_sum(sum);  // its __syncthreads also publishes p[] to the block
  const float inv = 1.0f / sum;
  float* o = out + (row * heads + h) * head_dim;
  for (int64_t i = threadIdx.x; i < head_dim; i += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < n; ++j) acc += p[j] * v_cache[base + j * kvd + i];
    o[i] = acc * inv;
  }
}

__global__ void append_kernel(const float* k, const float* v, float* k_cache, float* v_cache, const int32_t* slots,
                              const int32_t* pos, int64_t kv_dim, int64_t layers, int64_t layer, int64_t capacity) {
  const int64_t row = blockIdx.x;
  const int64_t at = ((static_cast<int64_t>(slots[row]) * layers + layer) * capacity + pos[row]) * kv_dim;
  for (int64_t i = threadIdx.x; i < kv_dim; i += blockDim.x) {
    k_cache[at + i] = k[row * kv_dim + i];
    v_cache[at + i] = v[row * kv_dim + i];
  }
}

}  // namespace

void attention_decode(const float* q, const float* k_cache, const float* v_cache, const int32_t* slots,
                      const int32_t* n_keys, float* out, float* scores, int64_t rows, int64_t heads, int64_t kv_heads,
                      int64_t head_dim, int64_t layers, int64_t layer, int64_t capacity, float scale) {
  if (rows <= 0) return;
  decode_kernel<<<dim3(static_cast<unsigned>(rows), static_cast<unsigned>(heads)), kDecodeThreads>>>(
      q, k_cache, v_cache, slots, n_keys, out, scores, heads, kv_heads, head_dim, layers, layer, capacity, scale);
  check_launch("attention_decode");
}

void kv_cache_append(const float* k, const float* v, float* k_cache, float* v_cache, const int32_t* slots,
                     const int32_t* pos, int64_t rows, int64_t kv_dim, int64_t layers, int64_t layer, int64_t capacity) {
  if (rows <= 0) return;
  append_kernel<<<static_cast<unsigned>(rows), 128>>>(k, v, k_cache, v_cache, slots, pos, kv_dim, layers, layer, capacity);
  check_launch("kv_cache_append");
}

}  // namespace genrm::cuda
