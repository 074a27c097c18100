// RoPE from a cos/sin table, one thread per rotated pair (HF's rotate-half layout).
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

// Each thread reads its pair before writing it and no other thread touches the
// pair, so out may be x (of the same type).
template <typename In, typename Out>
__global__ void rope_kernel(const In* x, Out* out, const int32_t* positions, int64_t tokens, int64_t heads,
                            int64_t head_dim, const float* cos_table, const float* sin_table, float sign) {
  const int64_t half = head_dim / 2;
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= tokens * heads * half) return;
  const int64_t i = idx % half, th = idx / half, t = th / heads;
  const int64_t at = static_cast<int64_t>(positions[t]) * half + i;
  const In* v = x + th * head_dim;
  Out* o = out + th * head_dim;
  const float x1 = load(v + i), x2 = load(v + i + half), c = cos_table[at], s = sign * sin_table[at];
  store(o + i, x1 * c - x2 * s);
  store(o + i + half, x2 * c + x1 * s);
}

template <typename In>
void launch_rope(const In* x, void* out, DType out_type, const int32_t* positions, int64_t n, int64_t tokens,
                 int64_t heads, int64_t head_dim, const float* cos_table, const float* sin_table, float sign) {
  if (out_type == DType::BF16)
    rope_kernel<<<blocks_for(n), kThreads>>>(x, static_cast<__nv_bfloat16*>(out), positions, tokens, heads, head_dim,
                                             cos_table, sin_table, sign);
  else
    rope_kernel<<<blocks_for(n), kThreads>>>(x, static_cast<float*>(out), positions, tokens, heads, head_dim, cos_table,
                                             sin_table, sign);
}

}  // namespace

void rope_apply_table_to(const void* x, DType x_type, void* out, DType out_type, const int32_t* positions,
                         int64_t tokens, int64_t heads, int64_t head_dim, const float* cos_table,
                         const float* sin_table, bool inverse) {
  const int64_t n = tokens * heads * (head_dim / 2);
  if (n <= 0) return;
  const float sign = inverse ? -1.0f : 1.0f;
  if (x_type == DType::BF16)
    launch_rope(static_cast<const __nv_bfloat16*>(x), out, out_type, positions, n, tokens, heads, head_dim, cos_table,
                sin_table, sign);
  else
    launch_rope(static_cast<const float*>(x), out, out_type, positions, n, tokens, heads, head_dim, cos_table,
                sin_table, sign);
  check_launch("rope_apply_table");
}

void rope_apply_table(float* x, const int32_t* positions, int64_t tokens, int64_t heads, int64_t head_dim,
                      const float* cos_table, const float* sin_table, bool inverse) {
  rope_apply_table_to(x, DType::F32, x, DType::F32, positions, tokens, heads, head_dim, cos_table, sin_table, inverse);
}

}  // namespace genrm::cuda
