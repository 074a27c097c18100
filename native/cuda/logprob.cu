// Fused log-prob of target tokens, in chunks of rows. Per chunk: the logits
// [c, vocab] (fp32, Scratch::Logits) from one lm_head product; one block per row
// takes the log-sum-exp and the target's log-prob; for the backward the same
// block turns its row, in place, into dlogits = dlogp (onehot - softmax), then
// dhidden += dlogits W and dweight += dlogits^T hidden (beta = 1).
//
// dlogits storage: on the tensor-core engines (Auto, Own, Cublas) the GEMM rounds
// its operands to bf16 anyway, so the row kernel writes bf16 (round to nearest
// even, as the GEMM would) into the first half of the row's own fp32 bytes (row
// stride 2 * vocab bf16 elements): identical products, half the traffic, no
// second buffer. On Simt it stays fp32 in place, so Simt remains an exact
// fp32 reference of the CPU path. One exception: cuBLAS with an fp32 lm_head
// and fp32 gradients also gets fp32 dlogits, since cuBLAS takes a bf16 x fp32
// pair only by copying the fp32 operand (all of W, every chunk) to bf16 first,
// while fp32 x fp32 into fp32 runs on bf16 tensor cores directly (same
// rounding). Into bf16 gradients cuBLAS copies every fp32 operand anyway, so
// there the dlogits are bf16 (W's copy is the one left).
//
// A grouped chunk over the row budget (one large DPO pair) runs in two phases
// instead (logprob.h): slices' logits -> softmax - onehot in a group buffer, then
// the products with each row's scale moved to the other operand.
//
// Gradients accumulate into fp32 or bf16 (grad_type): the products' C operand.
//
// Reductions run in a fixed order (each thread's elements in index order, then a
// fixed shuffle tree), so results do not depend on timing, and the forward, the
// fused pass and the grouped pass get bit-identical log-sum-exps from the same logits.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.h"
#include "check.h"
#include "launch.cuh"
#include "logprob.h"

namespace genrm::cuda {
namespace {

constexpr int64_t kChunkBytes = int64_t(512) << 20;  // default fp32 logits per chunk
constexpr int kUnroll = 4;                           // vectors each thread has in flight

// Running max and sum of exp(x - max).
struct Lse {
  float m, s;
};

__device__ inline void lse_add(Lse& st, float x) {
  if (x > st.m) {
    st.s = st.s * expf(st.m - x) + 1.0f;
    st.m = x;
  } else {
    st.s += expf(x - st.m);  // a NaN logit lands here and makes the sum NaN, as on the CPU
  }
}

// Commutative bit for bit (fmaxf, and a sum of two rounded products: the _rn
// intrinsics forbid contracting one product into an FMA, which would round the
// two orders differently), so every lane of a xor-shuffle tree gets the same answer.
__device__ inline Lse lse_merge(Lse a, Lse b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return {m, 0.0f};  // both empty: avoid exp(-inf - -inf)
  return {m, __fadd_rn(__fmul_rn(a.s, expf(a.m - m)), __fmul_rn(b.s, expf(b.m - m)))};
}

__device__ inline Lse shfl_xor(Lse a, int o) {
  return {__shfl_xor_sync(0xffffffffu, a.m, o), __shfl_xor_sync(0xffffffffu, a.s, o)};
}

__device__ inline void lse_add4(Lse& st, float4 q) {
  lse_add(st, q.x);
  lse_add(st, q.y);
  lse_add(st, q.z);
  lse_add(st, q.w);
}

// Log-sum-exp of one row over the block (blockDim.x a multiple of 32), returned
// to every thread. Called once per kernel; its barrier orders every read of the
// row before anything after the call (the in-place writes of dlogits_kernel).
template <int kVec>
__device__ float row_lse(const float* z, int64_t vocab) {
  Lse st{-INFINITY, 0.0f};
  const int64_t step = blockDim.x;
  int64_t i = threadIdx.x;
  if constexpr (kVec == 4) {
    const float4* z4 = reinterpret_cast<const float4*>(z);
    const int64_t n = vocab / 4;
    for (; i + 3 * step < n; i += 4 * step) {  // four independent loads in flight
      const float4 q0 = z4[i], q1 = z4[i + step], q2 = z4[i + 2 * step], q3 = z4[i + 3 * step];
      lse_add4(st, q0);
      lse_add4(st, q1);
      lse_add4(st, q2);
      lse_add4(st, q3);
    }
    for (; i < n; i += step) lse_add4(st, z4[i]);
  } else {
    for (; i + 3 * step < vocab; i += 4 * step) {
      const float a = z[i], b = z[i + step], c = z[i + 2 * step], d = z[i + 3 * step];
      lse_add(st, a);
      lse_add(st, b);
      lse_add(st, c);
      lse_add(st, d);
    }
    for (; i < vocab; i += step) lse_add(st, z[i]);
  }
  st = block_reduce(st, [](Lse a, Lse b) { return lse_merge(a, b); }, Lse{-INFINITY, 0.0f});
  return st.m + logf(st.s);
}

// logp[r] = z[t] - lse (and lse[r] when asked, for a later backward of the same
// chunk). An out-of-range target (the caller's host copy should have caught it)
// gives NaN rather than a stray read.
template <int kVec>
__global__ void logp_kernel(const float* logits, int64_t vocab, const int32_t* targets, float* logp, float* lse_out) {
  const int64_t row = blockIdx.x;
  const float* z = logits + row * vocab;
  const float lse = row_lse<kVec>(z, vocab);
  if (threadIdx.x == 0) {
    const int32_t t = targets[row];
    logp[row] = t >= 0 && t < vocab ? z[t] - lse : NAN;
    if (lse_out) lse_out[row] = lse;
  }
}

template <int kVec>
__device__ inline void load_vec(const float* z, int64_t i, float (&v)[kVec]) {
  if constexpr (kVec == 4) {
    const float4 q = reinterpret_cast<const float4*>(z)[i];
    v[0] = q.x;
    v[1] = q.y;
    v[2] = q.z;
    v[3] = q.w;
  } else {
    v[0] = z[i];
  }
}

template <int kVec, bool kBf16>
__device__ inline void store_vec(void* out, int64_t i, const float (&d)[kVec]) {
  if constexpr (kBf16) {
    if constexpr (kVec == 4) {
      __nv_bfloat162* o = reinterpret_cast<__nv_bfloat162*>(out) + 2 * i;
      o[0] = __floats2bfloat162_rn(d[0], d[1]);
      o[1] = __floats2bfloat162_rn(d[2], d[3]);
    } else {
      reinterpret_cast<__nv_bfloat16*>(out)[i] = __float2bfloat16_rn(d[0]);
    }
  } else {
    if constexpr (kVec == 4) {
      reinterpret_cast<float4*>(out)[i] = make_float4(d[0], d[1], d[2], d[3]);
    } else {
      static_cast<float*>(out)[i] = d[0];
    }
  }
}

// Row -> dz = g (onehot - exp(z - lse)), the CPU's formula and order (-g * p,
// then + g at the target), written to out (row stride out_ld elements of the
// output type): the row's own bytes, or another buffer. dlogp null means g = -1,
// so dz = softmax - onehot (the two-phase pass scales it later). lse comes from
// lse_in (the grouped pass's forward stored it) or is computed here; logp is
// written when asked.
//
// bf16 output in place overwrites the row's own bytes front to back: the bf16 of
// element j lands on fp32 element j / 2. So the row is walked in tiles, all of a
// tile read (into registers) before a barrier, then written: a tile's writes only
// touch fp32 elements of this or earlier tiles, all of which every thread has
// already read.
template <int kVec, bool kBf16>
__global__ void dlogits_kernel(const float* logits, int64_t vocab, const int32_t* targets, const float* dlogp,
                               const float* lse_in, float* logp, void* out, int64_t out_ld) {
  const int64_t row = blockIdx.x;
  const float* z = logits + row * vocab;
  void* o = kBf16 ? static_cast<void*>(static_cast<__nv_bfloat16*>(out) + row * out_ld)
                  : static_cast<void*>(static_cast<float*>(out) + row * out_ld);
  const int32_t t = targets[row];
  const bool valid = t >= 0 && t < vocab;
  float zt = 0.0f;
  if (logp && threadIdx.x == 0 && valid) zt = z[t];  // before any write: row_lse / the barrier below order it
  float lse;
  if (lse_in) {
    lse = lse_in[row];
    __syncthreads();  // thread 0's read of z[t] precedes every write
  } else {
    lse = row_lse<kVec>(z, vocab);
  }
  if (logp && threadIdx.x == 0) logp[row] = valid ? zt - lse : NAN;
  const float g = valid ? (dlogp ? dlogp[row] : -1.0f) : NAN;
  const int64_t n = vocab / kVec, tile = static_cast<int64_t>(blockDim.x) * kUnroll;
  for (int64_t base = 0; base < n; base += tile) {  // same trip count in every thread: the barrier is safe
    float v[kUnroll][kVec];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * static_cast<int64_t>(blockDim.x) + threadIdx.x;
      if (i < n) load_vec<kVec>(z, i, v[u]);
    }
    if constexpr (kBf16) __syncthreads();
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * static_cast<int64_t>(blockDim.x) + threadIdx.x;
      if (i >= n) continue;
      float d[kVec];
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        d[k] = -g * expf(v[u][k] - lse);
        if (i * kVec + k == t) d[k] += g;
      }
      store_vec<kVec, kBf16>(o, i, d);
    }
  }
}

// The two-phase pass's row scales (dz = -g P, P = softmax - onehot), applied to
// the other operand of each product: out[r] = -g[r] h[r] (dweight += P^T out),
// and d[r] += -g[r] t[r] where t = P W (dhidden).
template <typename In, typename Out>
__global__ void scale_rows_kernel(const In* h, const float* g, Out* out, int64_t rows, int64_t dim) {
  const int64_t total = rows * dim, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    store(out + i, -g[i / dim] * load(h + i));
}

template <typename D>
__global__ void add_scaled_rows_kernel(D* d, const float* g, const float* t, int64_t rows, int64_t dim) {
  const int64_t total = rows * dim, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    store(d + i, load(d + i) - g[i / dim] * t[i]);
}

void check_dtype(DType t, const char* field) {
  if (t != DType::F32 && t != DType::BF16) throw_arg(field, "f32 or bf16", static_cast<int>(t));
}

void require(const void* p, const char* field) {
  if (!p) throw_arg(field, "a device pointer", "null");
}

// Whether the dlogits the products read are bf16 (see the top for which).
bool bf16_dlogits(const LogprobArgs& a) {
  if (a.engine == GemmEngine::Simt) return false;
  const bool cublas = a.engine == GemmEngine::Cublas || (a.engine == GemmEngine::Auto && have_cublas());
  return !(cublas && a.weight_type == DType::F32 && a.grad_type == DType::F32);
}

DType dlogits_type(const LogprobArgs& a) { return bf16_dlogits(a) ? DType::BF16 : DType::F32; }

template <typename T>
T* rows_at(T* base, int64_t r0, int64_t dim, DType t) {
  using Byte = std::conditional_t<std::is_const_v<T>, const char, char>;
  return reinterpret_cast<T*>(reinterpret_cast<Byte*>(base) + r0 * dim * static_cast<int64_t>(dtype_size(t)));
}

const void* hidden_rows(const LogprobArgs& a, int64_t r0) { return rows_at(a.hidden, r0, a.dim, a.hidden_type); }

// The dlogits (or softmax - onehot) operand of the backward products.
struct DzView {
  const void* p;
  DType type;
  int64_t ld;
};

// The single pass's dlogits: in place in the chunk's fp32 logits (bf16 at row stride 2 * vocab).
DzView in_place(const LogprobArgs& a, const float* logits) {
  return {logits, dlogits_type(a), bf16_dlogits(a) ? 2 * a.vocab : a.vocab};
}

GemmArgs logits_gemm(const LogprobArgs& a, int64_t r0, int64_t n, float* logits) {
  return linear_args(hidden_rows(a, r0), a.hidden_type, a.weight, a.weight_type, logits, DType::F32, n, a.dim, a.vocab);
}

GemmArgs dhidden_gemm(const LogprobArgs& a, DzView dz, int64_t n, void* c, DType c_type, float beta) {
  GemmArgs g;  // c[n, dim] = dz W (+ beta c)
  g.m = n;
  g.n = a.dim;
  g.k = a.vocab;
  g.a = dz.p;
  g.a_type = dz.type;
  g.lda = dz.ld;
  g.b = a.weight;
  g.b_type = a.weight_type;
  g.ldb = a.dim;
  g.beta = beta;
  g.c = c;
  g.c_type = c_type;
  g.ldc = a.dim;
  return g;
}

GemmArgs dweight_gemm(const LogprobArgs& a, DzView dz, int64_t n, const void* rows, DType rows_type, void* dweight) {
  GemmArgs g;  // dweight += dz^T rows
  g.trans_a = true;
  g.m = a.vocab;
  g.n = a.dim;
  g.k = n;
  g.a = dz.p;
  g.a_type = dz.type;
  g.lda = dz.ld;
  g.b = rows;
  g.b_type = rows_type;
  g.ldb = a.dim;
  g.beta = 1.0f;
  g.c = dweight;
  g.c_type = a.grad_type;
  g.ldc = a.dim;
  return g;
}

// The GEMMs validate themselves, but only when launched: check the first chunk's
// (the largest; later ones differ only in smaller row counts and offsets) up front
// so a bad argument throws before anything runs.
void validate_products(const LogprobArgs& a, int64_t n, float* logits, void* dhidden, void* dweight) {
  validate_gemm(logits_gemm(a, 0, n, logits));
  if (dhidden) validate_gemm(dhidden_gemm(a, in_place(a, logits), n, dhidden, a.grad_type, 1.0f));
  if (dweight) validate_gemm(dweight_gemm(a, in_place(a, logits), n, a.hidden, a.hidden_type, dweight));
}

float* logits_scratch(const LogprobArgs& a, int64_t rows) {
  return static_cast<float*>(
      device_scratch(Scratch::Logits, sizeof(float) * static_cast<size_t>(rows * a.vocab), "log-prob chunk of logits"));
}

void launch_logp(const LogprobArgs& a, int64_t r0, int64_t n, const float* logits, float* logp, float* lse_out) {
  const unsigned blocks = static_cast<unsigned>(n);
  if (a.vocab % 4 == 0)
    logp_kernel<4><<<blocks, kThreads>>>(logits, a.vocab, a.targets + r0, logp + r0, lse_out);
  else
    logp_kernel<1><<<blocks, kThreads>>>(logits, a.vocab, a.targets + r0, logp + r0, lse_out);
  check_launch("logprob (log-softmax)");
}

// dlogp, lse_in: this chunk's rows (index 0 = row r0), dlogp null for softmax -
// onehot. logp: all rows, or null. out: the chunk's first output row.
void launch_dlogits(const LogprobArgs& a, int64_t r0, int64_t n, const float* logits, const float* dlogp,
                    const float* lse_in, float* logp, DzView out) {
  const unsigned blocks = static_cast<unsigned>(n);
  const int32_t* t = a.targets + r0;
  float* lp = logp ? logp + r0 : nullptr;
  void* o = const_cast<void*>(out.p);
  const bool vec = a.vocab % 4 == 0;
  if (out.type == DType::BF16) {
    if (vec)
      dlogits_kernel<4, true><<<blocks, kThreads>>>(logits, a.vocab, t, dlogp, lse_in, lp, o, out.ld);
    else
      dlogits_kernel<1, true><<<blocks, kThreads>>>(logits, a.vocab, t, dlogp, lse_in, lp, o, out.ld);
  } else {
    if (vec)
      dlogits_kernel<4, false><<<blocks, kThreads>>>(logits, a.vocab, t, dlogp, lse_in, lp, o, out.ld);
    else
      dlogits_kernel<1, false><<<blocks, kThreads>>>(logits, a.vocab, t, dlogp, lse_in, lp, o, out.ld);
  }
  check_launch("logprob (dlogits)");
}

// The single pass's products, from the dlogits left in place in the chunk's logits.
void chunk_products(const LogprobArgs& a, int64_t r0, int64_t n, const float* logits, void* dhidden, void* dweight) {
  const DzView dz = in_place(a, logits);
  if (dhidden) gemm(dhidden_gemm(a, dz, n, rows_at(dhidden, r0, a.dim, a.grad_type), a.grad_type, 1.0f), a.engine);
  if (dweight) gemm(dweight_gemm(a, dz, n, hidden_rows(a, r0), a.hidden_type, dweight), a.engine);
}

// Forward (dlogp null), backward (logp null) or both, chunk by chunk.
void run_chunks(const LogprobArgs& a, const float* dlogp, float* logp, void* dhidden, void* dweight) {
  const bool backward = dlogp && (dhidden || dweight);
  const int64_t chunk = logprob_chunk_rows(a);
  float* logits = logits_scratch(a, chunk);
  validate_products(a, chunk, logits, backward ? dhidden : nullptr, backward ? dweight : nullptr);
  for (int64_t r0 = 0; r0 < a.rows; r0 += chunk) {
    const int64_t n = std::min(chunk, a.rows - r0);
    gemm(logits_gemm(a, r0, n, logits), a.engine);
    if (backward) {
      launch_dlogits(a, r0, n, logits, dlogp + r0, nullptr, logp, in_place(a, logits));
      chunk_products(a, r0, n, logits, dhidden, dweight);
    } else if (logp) {
      launch_logp(a, r0, n, logits, logp, nullptr);
    }
  }
}

// Forward slices of an over-budget chunk: a quarter of the budget each, whole
// GEMM tiles where the budget allows.
int64_t slice_rows(int64_t budget) {
  int64_t s = budget / 4;
  if (s >= 64) s -= s % 64;
  return std::max<int64_t>(s, 1);
}

constexpr size_t kAlign = 256;
size_t align_up(size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }

// The two-phase pass's temporaries in the logits scratch (free once the slices
// are done): t = P W (fp32 [n, dim]) and the scaled hidden rows ([n, dim], P's type).
size_t phase_two_bytes(const LogprobArgs& a, int64_t n) {
  return align_up(sizeof(float) * static_cast<size_t>(n * a.dim)) +
         dtype_size(dlogits_type(a)) * static_cast<size_t>(n * a.dim);
}

}  // namespace

void validate_logprob(const LogprobArgs& a) {
  if (a.rows < 0) throw_arg("logprob rows", ">= 0", a.rows);
  if (a.dim < 1) throw_arg("logprob dim", ">= 1", a.dim);
  if (a.vocab < 1 || a.vocab > INT32_MAX) throw_arg("logprob vocab", "in [1, 2^31) (targets are int32)", a.vocab);
  if (a.chunk_rows < 0) throw_arg("logprob chunk_rows", ">= 0 (0: the default)", a.chunk_rows);
  check_dtype(a.hidden_type, "logprob hidden_type");
  check_dtype(a.weight_type, "logprob weight_type");
  check_dtype(a.grad_type, "logprob grad_type");
  if (a.engine != GemmEngine::Auto && a.engine != GemmEngine::Own && a.engine != GemmEngine::Cublas &&
      a.engine != GemmEngine::Simt)
    throw_arg("logprob engine", "Auto, Own, Cublas or Simt", static_cast<int>(a.engine));
  if (a.engine == GemmEngine::Cublas && !have_cublas())
    throw_arg("logprob engine", "auto, own or simt (this build has no cuBLAS)", "cublas");
  require(a.weight, "logprob weight");
  if (a.rows > 0) {
    require(a.hidden, "logprob hidden");
    require(a.targets, "logprob targets");
  }
  // One block per row of a chunk, and the chunk's bytes must be addressable.
  const int64_t chunk = a.chunk_rows > 0 ? std::min(a.chunk_rows, a.rows) : 0;
  if (chunk > INT32_MAX || (chunk > 0 && chunk > (INT64_MAX / 8) / a.vocab))
    throw_arg("logprob chunk_rows", "a chunk of rows x vocab logits that fits in memory", a.chunk_rows);
}

int64_t logprob_chunk_rows(const LogprobArgs& a) {
  const int64_t rows = std::max<int64_t>(a.rows, 1);
  if (a.chunk_rows > 0) return std::min(a.chunk_rows, rows);
  int64_t c = kChunkBytes / (static_cast<int64_t>(sizeof(float)) * std::max<int64_t>(a.vocab, 1));
  if (c >= 64) c -= c % 64;  // whole GEMM tiles (1,024 rows at vocab 128,256)
  return std::min(std::max<int64_t>(c, 1), rows);
}

void logprob_forward(const LogprobArgs& a, float* logp) {
  validate_logprob(a);
  if (a.rows == 0) return;
  require(logp, "logprob logp");
  run_chunks(a, nullptr, logp, nullptr, nullptr);
}

void logprob_backward(const LogprobArgs& a, const float* dlogp, void* dhidden, void* dweight) {
  validate_logprob(a);
  if (a.rows == 0 || (!dhidden && !dweight)) return;
  require(dlogp, "logprob dlogp");
  run_chunks(a, dlogp, nullptr, dhidden, dweight);
}

void logprob_forward_backward(const LogprobArgs& a, const float* dlogp, float* logp, void* dhidden, void* dweight) {
  validate_logprob(a);
  if (a.rows == 0) return;
  require(logp, "logprob logp");
  if (dhidden || dweight) require(dlogp, "logprob dlogp");
  run_chunks(a, dlogp, logp, dhidden, dweight);
}

GroupedPlan plan_logprob_grouped(const LogprobArgs& a, const std::vector<int64_t>& group_ends, bool backward) {
  validate_logprob(a);
  if (a.rows > 0 && group_ends.empty()) throw_arg("logprob group_ends", "at least one group", "none");
  int64_t prev = 0;
  for (size_t i = 0; i < group_ends.size(); ++i) {
    if (group_ends[i] <= prev)
      throw_arg("logprob group_ends[" + std::to_string(i) + "]", "> " + std::to_string(prev) + " (ascending)",
                group_ends[i]);
    prev = group_ends[i];
  }
  if (prev != a.rows) throw_arg("logprob group_ends (last)", "rows (" + std::to_string(a.rows) + ")", prev);
  GroupedPlan p;
  if (a.rows == 0) return p;

  // Whole groups per chunk, as many as the row budget holds; an oversized group alone.
  const int64_t budget = logprob_chunk_rows(a);
  int64_t r0 = 0;
  prev = 0;
  for (int64_t e : group_ends) {
    if (e - r0 > budget && prev > r0) {
      p.chunk_ends.push_back(prev);
      r0 = prev;
    }
    prev = e;
  }
  p.chunk_ends.push_back(a.rows);

  int64_t within = 0, over = 0;  // the largest chunk within the budget, and beyond it
  r0 = 0;
  for (int64_t e : p.chunk_ends) {
    int64_t& m = e - r0 <= budget ? within : over;
    m = std::max(m, e - r0);
    r0 = e;
  }
  const int64_t largest = std::max(within, over);
  if (largest > INT32_MAX || largest > (INT64_MAX / 8) / a.vocab)
    throw_arg("logprob group_ends", "groups of rows x vocab logits that fit in memory", largest);
  if (over > 0) p.slice_rows = slice_rows(budget);
  const size_t v = static_cast<size_t>(a.vocab);
  p.logits_bytes = sizeof(float) * v * static_cast<size_t>(std::max(within, p.slice_rows));
  if (over > 0 && backward) {
    p.logits_bytes = std::max(p.logits_bytes, phase_two_bytes(a, over));
    p.probs_bytes = dtype_size(dlogits_type(a)) * v * static_cast<size_t>(over);
  }
  p.aux_bytes = sizeof(float) * 2 * static_cast<size_t>(largest);  // a chunk's dlogp and log-sum-exps
  return p;
}

// The callback's pointers are the chunk's own: logp[i] and dlogp[i] are row r0 + i.
// dlogp starts zeroed, so rows the callback leaves alone contribute nothing.
void logprob_grouped(const LogprobArgs& a, const std::vector<int64_t>& group_ends, const ChunkGradient& grad,
                     float* logp, void* dhidden, void* dweight) {
  if (!grad) throw_arg("logprob grad", "a callback", "an empty function");
  const bool backward = dhidden || dweight;
  const GroupedPlan plan = plan_logprob_grouped(a, group_ends, backward);
  if (a.rows == 0) return;
  require(logp, "logprob logp");

  const int64_t budget = logprob_chunk_rows(a);
  int64_t largest = 0, r0 = 0;
  for (int64_t e : plan.chunk_ends) largest = std::max(largest, e - r0), r0 = e;
  float* logits = static_cast<float*>(device_scratch(Scratch::Logits, plan.logits_bytes, "log-prob chunk of logits"));
  float* aux = static_cast<float*>(device_scratch(Scratch::LogitsAux, plan.aux_bytes, "log-prob chunk dlogp"));
  float* dlogp_dev = aux;
  float* lse = aux + largest;
  void* probs = plan.probs_bytes
                    ? device_scratch(Scratch::LogitsGroup, plan.probs_bytes, "log-prob group's softmax - onehot")
                    : nullptr;
  const DType pt = dlogits_type(a);
  validate_products(a, std::min(largest, budget), logits, dhidden, dweight);
  if (probs) {
    const DzView pv{probs, pt, a.vocab};
    validate_gemm(logits_gemm(a, 0, plan.slice_rows, logits));
    if (dhidden) validate_gemm(dhidden_gemm(a, pv, largest, logits, DType::F32, 0.0f));
    if (dweight) validate_gemm(dweight_gemm(a, pv, largest, logits, pt, dweight));
  }
  std::vector<float> logp_host(largest), dlogp_host(largest);

  // The callback's turn: log-probs of rows [r0, r1) to the host, its gradient back.
  auto chunk_gradient = [&](int64_t c0, int64_t c1) {
    const int64_t n = c1 - c0;
    // Synchronous on the default stream: waits for the kernels before it.
    check(cudaMemcpy(logp_host.data(), logp + c0, sizeof(float) * n, cudaMemcpyDeviceToHost),
          "logprob_grouped: log-probs to the host");
    std::fill(dlogp_host.begin(), dlogp_host.begin() + n, 0.0f);
    grad(c0, c1, logp_host.data(), dlogp_host.data());
    if (backward)
      check(cudaMemcpy(dlogp_dev, dlogp_host.data(), sizeof(float) * n, cudaMemcpyHostToDevice),
            "logprob_grouped: dlogp to the device");
  };

  r0 = 0;
  for (int64_t r1 : plan.chunk_ends) {
    const int64_t n = r1 - r0;
    if (n <= budget) {  // one pass: the logits stay until the gradient is known
      gemm(logits_gemm(a, r0, n, logits), a.engine);
      launch_logp(a, r0, n, logits, logp, lse);
      chunk_gradient(r0, r1);
      if (backward) {
        launch_dlogits(a, r0, n, logits, dlogp_dev, lse, nullptr, in_place(a, logits));
        chunk_products(a, r0, n, logits, dhidden, dweight);
      }
    } else {  // two phases (see logprob.h)
      for (int64_t s0 = r0; s0 < r1; s0 += plan.slice_rows) {
        const int64_t m = std::min(plan.slice_rows, r1 - s0);
        gemm(logits_gemm(a, s0, m, logits), a.engine);
        if (backward) {
          void* out = rows_at(probs, s0 - r0, a.vocab, pt);
          launch_dlogits(a, s0, m, logits, nullptr, nullptr, logp, {out, pt, a.vocab});
        } else {
          launch_logp(a, s0, m, logits, logp, nullptr);
        }
      }
      chunk_gradient(r0, r1);
      const DzView pv{probs, pt, a.vocab};
      const unsigned blocks = blocks_for(n * a.dim);
      if (dweight) {
        void* scaled = reinterpret_cast<char*>(logits) + align_up(sizeof(float) * static_cast<size_t>(n * a.dim));
        const void* h = hidden_rows(a, r0);
        if (a.hidden_type == DType::BF16 && pt == DType::BF16)
          scale_rows_kernel<<<blocks, kThreads>>>(static_cast<const __nv_bfloat16*>(h), dlogp_dev,
                                                  static_cast<__nv_bfloat16*>(scaled), n, a.dim);
        else if (a.hidden_type == DType::BF16)
          scale_rows_kernel<<<blocks, kThreads>>>(static_cast<const __nv_bfloat16*>(h), dlogp_dev,
                                                  static_cast<float*>(scaled), n, a.dim);
        else if (pt == DType::BF16)
          scale_rows_kernel<<<blocks, kThreads>>>(static_cast<const float*>(h), dlogp_dev,
                                                  static_cast<__nv_bfloat16*>(scaled), n, a.dim);
        else
          scale_rows_kernel<<<blocks, kThreads>>>(static_cast<const float*>(h), dlogp_dev, static_cast<float*>(scaled),
                                                  n, a.dim);
        check_launch("logprob (scaled hidden rows)");
        gemm(dweight_gemm(a, pv, n, scaled, pt, dweight), a.engine);
      }
      if (dhidden) {
        gemm(dhidden_gemm(a, pv, n, logits, DType::F32, 0.0f), a.engine);
        void* d = rows_at(dhidden, r0, a.dim, a.grad_type);
        if (a.grad_type == DType::BF16)
          add_scaled_rows_kernel<<<blocks, kThreads>>>(static_cast<__nv_bfloat16*>(d), dlogp_dev, logits, n, a.dim);
        else
          add_scaled_rows_kernel<<<blocks, kThreads>>>(static_cast<float*>(d), dlogp_dev, logits, n, a.dim);
        check_launch("logprob (scaled dhidden rows)");
      }
    }
    r0 = r1;
  }
}

}  // namespace genrm::cuda
