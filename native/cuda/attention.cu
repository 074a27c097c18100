// Attention on the device: validation, dispatch between the tensor-core kernels
// (attention_mma.cu) and the plain fp32 SIMT kernels here, which are the
// reference for the fast path and the fallback for any head_dim up to 256.
// Plain kernels: one warp per output row, lanes over head_dim (lane + 32c), dot
// products by an xor butterfly (every lane ends with the same sum), exp/log in
// full fp32 precision. Simple rather than fast: every score is recomputed from
// global memory.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "../core/error.h"
#include "attention.h"
#include "check.h"

namespace genrm::cuda {

namespace detail {  // attention_mma.cu
bool attention_mma_head_dim(int64_t head_dim);
int64_t attention_mma_smem(int64_t head_dim);  // the largest dynamic shared memory of its kernels
int64_t attention_mma_max_tiles(const AttentionArgs& a);
void attention_mma_reserve_backward(const AttentionArgs& a);  // the scratch its backward will take
void attention_mma_forward(const AttentionArgs& a, const void* q, const void* k, const void* v, void* out, float* lse);
void attention_mma_backward(const AttentionArgs& a, const void* q, const void* k, const void* v, const float* lse,
                            const void* dout, const float* drow, void* dq, void* dk, void* dv);
}  // namespace detail

namespace {

using bf16 = __nv_bfloat16;
constexpr int64_t kMaxHeadDim = 256;
constexpr int kChunks = kMaxHeadDim / 32;  // head_dim elements per lane, at most
constexpr int kWarps = 4;                  // warps (rows) per block of the plain kernels

__device__ __forceinline__ float ld(const float* p) { return __ldg(p); }
__device__ __forceinline__ float ld(const bf16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void st(float* p, float x) { *p = x; }
__device__ __forceinline__ void st(bf16* p, float x) { *p = __float2bfloat16_rn(x); }

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

struct Plain {
  const int32_t* cu_seqlens;
  int64_t num_seqs, max_seqlen, heads, kv_heads, group;
  int head_dim;
  float scale;
};

// The warp's row: (sequence, position in it, head) over num_seqs x max_seqlen x
// heads; false when the position is past the sequence's end (or the grid's).
struct Row {
  int64_t s0, len, i, head;
};
__device__ __forceinline__ bool row_of(const Plain& p, int64_t heads, Row& r) {
  const int64_t w = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  if (w >= p.num_seqs * p.max_seqlen * heads) return false;
  r.head = w % heads;
  const int64_t rest = w / heads, s = rest / p.max_seqlen;
  r.i = rest % p.max_seqlen;
  r.s0 = p.cu_seqlens[s];
  r.len = p.cu_seqlens[s + 1] - r.s0;
  return r.i < r.len;
}

// The row's head_dim values in this lane's slots (zero past head_dim).
template <typename T>
__device__ __forceinline__ void load_row(float (&x)[kChunks], const T* row, int D, int lane) {
#pragma unroll
  for (int c = 0; c < kChunks; ++c) x[c] = lane + 32 * c < D ? ld(row + lane + 32 * c) : 0.0f;
}
template <typename T>
__device__ __forceinline__ float dot_row(const float (&x)[kChunks], const T* row, int D, int lane) {
  float s = 0.0f;
#pragma unroll
  for (int c = 0; c < kChunks; ++c)
    if (lane + 32 * c < D) s += x[c] * ld(row + lane + 32 * c);
  return warp_sum(s);
}

// Online softmax over keys 0..i of the row's sequence.
template <typename T>
__global__ void plain_forward_kernel(Plain p, const T* q, const T* k, const T* v, T* out, float* lse) {
  Row r;
  if (!row_of(p, p.heads, r)) return;
  const int lane = threadIdx.x & 31, D = p.head_dim;
  const int64_t g = r.head / p.group, t = r.s0 + r.i;
  float qr[kChunks], acc[kChunks];
  load_row(qr, q + (t * p.heads + r.head) * D, D, lane);
#pragma unroll
  for (int c = 0; c < kChunks; ++c) acc[c] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = r.s0; j <= t; ++j) {
    const int64_t kv = (j * p.kv_heads + g) * D;
    const float x = dot_row(qr, k + kv, D, lane) * p.scale;
    const float mn = fmaxf(m, x), alpha = expf(m - mn), e = expf(x - mn);  // m = -inf first: alpha = 0
    l = l * alpha + e;
#pragma unroll
    for (int c = 0; c < kChunks; ++c)
      if (lane + 32 * c < D) acc[c] = acc[c] * alpha + e * ld(v + kv + lane + 32 * c);
    m = mn;
  }
  T* o = out + (t * p.heads + r.head) * D;
#pragma unroll
  for (int c = 0; c < kChunks; ++c)
    if (lane + 32 * c < D) st(o + lane + 32 * c, acc[c] / l);
  if (lane == 0) lse[t * p.heads + r.head] = m + logf(l);
}

// drow[t][h] = dO . O, the softmax backward's row term (both paths).
template <typename T>
__global__ void drow_kernel(const T* out, const T* dout, float* drow, int64_t rows, int D) {
  const int64_t w = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  if (w >= rows) return;
  const int lane = threadIdx.x & 31;
  float s = 0.0f;
  for (int d = lane; d < D; d += 32) s += ld(out + w * D + d) * ld(dout + w * D + d);
  s = warp_sum(s);
  if (lane == 0) drow[w] = s;
}

// dK, dV of key j (a warp per key row and kv head): over the group's heads and
// queries i >= j in order, P = exp(scale q.k - lse_i), dV += P dO_i,
// dS = P (dO_i . v_j - drow_i), dK += scale dS q_i.
template <typename T>
__global__ void plain_dkdv_kernel(Plain p, const T* q, const T* k, const T* v, const float* lse, const T* dout,
                                  const float* drow, T* dk, T* dv) {
  Row r;
  if (!row_of(p, p.kv_heads, r)) return;
  const int lane = threadIdx.x & 31, D = p.head_dim;
  const int64_t t = r.s0 + r.i, kvi = (t * p.kv_heads + r.head) * D;
  float kr[kChunks], vr[kChunks], gk[kChunks], gv[kChunks];
  load_row(kr, k + kvi, D, lane);
  load_row(vr, v + kvi, D, lane);
#pragma unroll
  for (int c = 0; c < kChunks; ++c) gk[c] = gv[c] = 0.0f;
  for (int64_t hh = 0; hh < p.group; ++hh) {
    const int64_t h = r.head * p.group + hh;
    for (int64_t i = t; i < r.s0 + r.len; ++i) {
      const int64_t qi = (i * p.heads + h) * D;
      const float pr = expf(dot_row(kr, q + qi, D, lane) * p.scale - lse[i * p.heads + h]);
      const float ds = pr * (dot_row(vr, dout + qi, D, lane) - drow[i * p.heads + h]);
#pragma unroll
      for (int c = 0; c < kChunks; ++c)
        if (lane + 32 * c < D) {
          gv[c] += pr * ld(dout + qi + lane + 32 * c);
          gk[c] += ds * ld(q + qi + lane + 32 * c);
        }
    }
  }
#pragma unroll
  for (int c = 0; c < kChunks; ++c)
    if (lane + 32 * c < D) {
      st(dk + kvi + lane + 32 * c, gk[c] * p.scale);
      st(dv + kvi + lane + 32 * c, gv[c]);
    }
}

// dQ of query i (a warp per row and head): over keys j <= i in order, dQ += scale dS k_j.
template <typename T>
__global__ void plain_dq_kernel(Plain p, const T* q, const T* k, const T* v, const float* lse, const T* dout,
                                const float* drow, T* dq) {
  Row r;
  if (!row_of(p, p.heads, r)) return;
  const int lane = threadIdx.x & 31, D = p.head_dim;
  const int64_t t = r.s0 + r.i, qi = (t * p.heads + r.head) * D, g = r.head / p.group;
  float qr[kChunks], dor[kChunks], gq[kChunks];
  load_row(qr, q + qi, D, lane);
  load_row(dor, dout + qi, D, lane);
#pragma unroll
  for (int c = 0; c < kChunks; ++c) gq[c] = 0.0f;
  const float l = lse[t * p.heads + r.head], dr = drow[t * p.heads + r.head];
  for (int64_t j = r.s0; j <= t; ++j) {
    const int64_t kv = (j * p.kv_heads + g) * D;
    const float pr = expf(dot_row(qr, k + kv, D, lane) * p.scale - l);
    const float ds = pr * (dot_row(dor, v + kv, D, lane) - dr);
#pragma unroll
    for (int c = 0; c < kChunks; ++c)
      if (lane + 32 * c < D) gq[c] += ds * ld(k + kv + lane + 32 * c);
  }
#pragma unroll
  for (int c = 0; c < kChunks; ++c)
    if (lane + 32 * c < D) st(dq + qi + lane + 32 * c, gq[c] * p.scale);
}

Plain plain_of(const AttentionArgs& a) {
  return {
      a.cu_seqlens, a.num_seqs, a.max_seqlen, a.heads, a.kv_heads, a.heads / a.kv_heads, static_cast<int>(a.head_dim),
      a.scale};
}

unsigned warp_blocks(int64_t warps) { return static_cast<unsigned>((warps + kWarps - 1) / kWarps); }

template <typename T>
void plain_forward(const AttentionArgs& a, const void* q, const void* k, const void* v, void* out, float* lse) {
  const Plain p = plain_of(a);
  plain_forward_kernel<T><<<warp_blocks(a.num_seqs * a.max_seqlen * a.heads), kWarps * 32>>>(
      p, static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), static_cast<T*>(out), lse);
  check_launch("attention_forward (plain)");
}

template <typename T>
void plain_backward(const AttentionArgs& a, const void* q, const void* k, const void* v, const float* lse,
                    const void* dout, const float* drow, void* dq, void* dk, void* dv) {
  const Plain p = plain_of(a);
  plain_dkdv_kernel<T><<<warp_blocks(a.num_seqs * a.max_seqlen * a.kv_heads), kWarps * 32>>>(
      p, static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), lse, static_cast<const T*>(dout),
      drow, static_cast<T*>(dk), static_cast<T*>(dv));
  check_launch("attention_backward dk/dv (plain)");
  plain_dq_kernel<T><<<warp_blocks(a.num_seqs * a.max_seqlen * a.heads), kWarps * 32>>>(
      p, static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), lse, static_cast<const T*>(dout),
      drow, static_cast<T*>(dq));
  check_launch("attention_backward dq (plain)");
}

void require_pointer(const void* p, const char* name) {
  if (!p) throw Error(ErrorKind::Argument, std::string(name) + ": expected a device pointer, got null");
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// The opt-in shared memory limit per block of the current device (163 KB on
// sm_80, 227 KB on sm_90, 99 KB on sm_86/89), queried once.
int64_t smem_optin() {
  static int64_t bytes = -1;
  if (bytes < 0) {
    int dev = 0, v = 0;
    check(cudaGetDevice(&dev), "attention: cudaGetDevice");
    check(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
          "attention: shared memory per block");
    bytes = v;
  }
  return bytes;
}

// Tensor cores or not, before anything is launched. `ptrs` are the bf16/fp32
// tensors the kernels read and write in 16-byte pieces.
bool use_tensor_cores(const AttentionArgs& a, AttentionPath path, std::initializer_list<const void*> ptrs) {
  if (path == AttentionPath::Plain) return false;
  const bool strict = path == AttentionPath::TensorCore;
  if (!detail::attention_mma_head_dim(a.head_dim)) {
    if (strict) throw_arg("headDim", "16, 32, 64 or 128 for the tensor-core path", a.head_dim);
    return false;
  }
  for (const void* p : ptrs)
    if (!aligned16(p)) {
      if (strict) throw Error(ErrorKind::Argument, "attention: the tensor-core path needs 16-byte aligned tensors");
      return false;
    }
  if (detail::attention_mma_max_tiles(a) > INT32_MAX) {
    if (strict) throw_arg("tokens", "at most 2^31 tiles of 64 rows x heads for the tensor-core path", a.tokens);
    return false;
  }
  if (detail::attention_mma_smem(a.head_dim) > smem_optin()) {
    if (strict)
      throw_arg("headDim",
                "a head dim whose tiles fit this device's shared memory (" + std::to_string(smem_optin()) +
                    " bytes per block)",
                a.head_dim);
    return false;
  }
  return true;
}

void check_plain_grid(const AttentionArgs& a) {
  // A warp per (sequence, position, head): the block count must fit the x dimension.
  if ((a.num_seqs * a.max_seqlen * a.heads + kWarps - 1) / kWarps > INT32_MAX)
    throw_arg("maxSeqlen", "num_seqs x max_seqlen x heads below 2^33", a.max_seqlen);
}

// The backward's rowsum(dO * O) per (token, head).
float* row_terms(int64_t rows) {
  return static_cast<float*>(device_scratch(Scratch::Attention, sizeof(float) * rows, "attention_backward row terms"));
}

}  // namespace

void validate_attention(const AttentionArgs& a) {
  if (a.tokens < 0) throw_arg("tokens", "a non-negative integer", a.tokens);
  if (a.heads < 1) throw_arg("heads", "a positive integer", a.heads);
  if (a.kv_heads < 1 || a.heads % a.kv_heads != 0)
    throw_arg("kvHeads", "a positive divisor of heads (" + std::to_string(a.heads) + ")", a.kv_heads);
  if (a.head_dim < 1 || a.head_dim > kMaxHeadDim)
    throw_arg("headDim", "an integer in [1, " + std::to_string(kMaxHeadDim) + "]", a.head_dim);
  if (a.num_seqs < 0) throw_arg("numSeqs", "a non-negative integer", a.num_seqs);
  if (a.tokens > 0 && a.num_seqs < 1)
    throw_arg("numSeqs", "at least 1 for " + std::to_string(a.tokens) + " tokens", a.num_seqs);
  if (!a.cu_seqlens) throw Error(ErrorKind::Argument, "cuSeqlens: expected a device pointer, got null");
  if (a.max_seqlen < 0 || a.max_seqlen > a.tokens)
    throw_arg("maxSeqlen", "an integer in [0, tokens = " + std::to_string(a.tokens) + "]", a.max_seqlen);
  // Necessary for offsets that tile [0, tokens) (the caller checked them on its host copy).
  if (a.tokens > 0 && a.max_seqlen * a.num_seqs < a.tokens)
    throw_arg("maxSeqlen",
              "at least tokens / numSeqs (" + std::to_string(a.tokens) + " / " + std::to_string(a.num_seqs) + ")",
              a.max_seqlen);
  if (!(std::isfinite(a.scale) && a.scale > 0)) throw_arg("scale", "a positive finite number", a.scale);
  if (a.dtype != DType::F32 && a.dtype != DType::BF16) throw_arg("dtype", "f32 or bf16", static_cast<int>(a.dtype));
}

void attention_forward(const AttentionArgs& a, const void* q, const void* k, const void* v, void* out, float* lse,
                       AttentionPath path) {
  validate_attention(a);
  if (a.tokens == 0) return;
  require_pointer(q, "q");
  require_pointer(k, "k");
  require_pointer(v, "v");
  require_pointer(out, "out");
  require_pointer(lse, "lse");
  if (use_tensor_cores(a, path, {q, k, v, out})) {
    detail::attention_mma_forward(a, q, k, v, out, lse);
    return;
  }
  check_plain_grid(a);
  if (a.dtype == DType::BF16)
    plain_forward<bf16>(a, q, k, v, out, lse);
  else
    plain_forward<float>(a, q, k, v, out, lse);
}

void attention_reserve_backward(const AttentionArgs& a) {
  validate_attention(a);
  row_terms(a.tokens * a.heads);
  if (detail::attention_mma_head_dim(a.head_dim)) detail::attention_mma_reserve_backward(a);
}

void attention_backward(const AttentionArgs& a, const void* q, const void* k, const void* v, const void* out,
                        const float* lse, const void* dout, void* dq, void* dk, void* dv, AttentionPath path) {
  validate_attention(a);
  if (a.tokens == 0) return;
  require_pointer(q, "q");
  require_pointer(k, "k");
  require_pointer(v, "v");
  require_pointer(out, "out");
  require_pointer(lse, "lse");
  require_pointer(dout, "dout");
  require_pointer(dq, "dq");
  require_pointer(dk, "dk");
  require_pointer(dv, "dv");
  const bool tc = use_tensor_cores(a, path, {q, k, v, dout, dq, dk, dv});
  if (!tc) check_plain_grid(a);
  const int64_t rows = a.tokens * a.heads;
  float* drow = row_terms(rows);
  const unsigned blocks = warp_blocks(rows);
  if (a.dtype == DType::BF16)
    drow_kernel<bf16><<<blocks, kWarps * 32>>>(static_cast<const bf16*>(out), static_cast<const bf16*>(dout), drow,
                                               rows, static_cast<int>(a.head_dim));
  else
    drow_kernel<float><<<blocks, kWarps * 32>>>(static_cast<const float*>(out), static_cast<const float*>(dout), drow,
                                                rows, static_cast<int>(a.head_dim));
  check_launch("attention_backward row terms");
  if (tc)
    detail::attention_mma_backward(a, q, k, v, lse, dout, drow, dq, dk, dv);
  else if (a.dtype == DType::BF16)
    plain_backward<bf16>(a, q, k, v, lse, dout, drow, dq, dk, dv);
  else
    plain_backward<float>(a, q, k, v, lse, dout, drow, dq, dk, dv);
}

}  // namespace genrm::cuda
