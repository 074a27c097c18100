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
// also gets fp32 dlogits, since cuBLAS takes a bf16 x fp32 pair only by copying
// the fp32 operand (all of W, every chunk) to bf16 first, while fp32 x fp32 runs
// on bf16 tensor cores directly (same rounding).
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
#include <vector>

#include "../core/error.h"
#include "check.h"
#include "launch.cuh"
#include "logprob.h"

namespace genrm::cuda {
namespace {

constexpr int64_t kChunkBytes = int64_t(512) << 20;  // default fp32 logits per chunk
constexpr int kUnroll = 4;                             // vectors each thread has in flight

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
__device__ inline void store_vec(float* z, int64_t i, const float (&d)[kVec]) {
  if constexpr (kBf16) {
    if constexpr (kVec == 4) {
      __nv_bfloat162* o = reinterpret_cast<__nv_bfloat162*>(z) + 2 * i;
      o[0] = __floats2bfloat162_rn(d[0], d[1]);
      o[1] = __floats2bfloat162_rn(d[2], d[3]);
    } else {
      reinterpret_cast<__nv_bfloat16*>(z)[i] = __float2bfloat16_rn(d[0]);
    }
  } else {
    if constexpr (kVec == 4) {
      reinterpret_cast<float4*>(z)[i] = make_float4(d[0], d[1], d[2], d[3]);
    } else {
      z[i] = d[0];
    }
  }
}

// Row in place -> dz = g (onehot - exp(z - lse)), the CPU's formula and order
// (-g * p, then + g at the target). lse comes from lse_in (the grouped pass's
// forward stored it) or is computed here; logp is written when asked.
//
// bf16 output overwrites the row's own bytes front to back: the bf16 of element j
// lands on fp32 element j / 2. So the row is walked in tiles, all of a tile read
// (into registers) before a barrier, then written: a tile's writes only touch fp32
// elements of this or earlier tiles, all of which every thread has already read.
template <int kVec, bool kBf16>
__global__ void dlogits_kernel(float* logits, int64_t vocab, const int32_t* targets, const float* dlogp,
                               const float* lse_in, float* logp) {
  const int64_t row = blockIdx.x;
  float* z = logits + row * vocab;
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
  const float g = valid ? dlogp[row] : NAN;
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
      store_vec<kVec, kBf16>(z, i, d);
    }
  }
}

void check_dtype(DType t, const char* field) {
  if (t != DType::F32 && t != DType::BF16) throw_arg(field, "f32 or bf16", static_cast<int>(t));
}

void require(const void* p, const char* field) {
  if (!p) throw_arg(field, "a device pointer", "null");
}

// The chunk's three products. The dlogits operand is bf16 with row stride 2 *
// vocab, or fp32 with stride vocab (see the top for which).
bool bf16_dlogits(const LogprobArgs& a) {
  if (a.engine == GemmEngine::Simt) return false;
  const bool cublas = a.engine == GemmEngine::Cublas || (a.engine == GemmEngine::Auto && have_cublas());
  return !(cublas && a.weight_type == DType::F32);
}

const void* hidden_rows(const LogprobArgs& a, int64_t r0) {
  return static_cast<const char*>(a.hidden) + r0 * a.dim * static_cast<int64_t>(dtype_size(a.hidden_type));
}

GemmArgs logits_gemm(const LogprobArgs& a, int64_t r0, int64_t n, float* logits) {
  return linear_args(hidden_rows(a, r0), a.hidden_type, a.weight, a.weight_type, logits, DType::F32, n, a.dim, a.vocab);
}

GemmArgs dhidden_gemm(const LogprobArgs& a, int64_t r0, int64_t n, const float* dz, float* dhidden) {
  GemmArgs g;  // dhidden[r0:r0+n] += dz W
  g.m = n;
  g.n = a.dim;
  g.k = a.vocab;
  g.a = dz;
  g.a_type = bf16_dlogits(a) ? DType::BF16 : DType::F32;
  g.lda = bf16_dlogits(a) ? 2 * a.vocab : a.vocab;
  g.b = a.weight;
  g.b_type = a.weight_type;
  g.ldb = a.dim;
  g.beta = 1.0f;
  g.c = dhidden + r0 * a.dim;
  g.ldc = a.dim;
  return g;
}

GemmArgs dweight_gemm(const LogprobArgs& a, int64_t r0, int64_t n, const float* dz, float* dweight) {
  GemmArgs g;  // dweight += dz^T hidden[r0:r0+n]
  g.trans_a = true;
  g.m = a.vocab;
  g.n = a.dim;
  g.k = n;
  g.a = dz;
  g.a_type = bf16_dlogits(a) ? DType::BF16 : DType::F32;
  g.lda = bf16_dlogits(a) ? 2 * a.vocab : a.vocab;
  g.b = hidden_rows(a, r0);
  g.b_type = a.hidden_type;
  g.ldb = a.dim;
  g.beta = 1.0f;
  g.c = dweight;
  g.ldc = a.dim;
  return g;
}

// The GEMMs validate themselves, but only when launched: check the first chunk's
// (the largest; later ones differ only in smaller row counts and offsets) up front
// so a bad argument throws before anything runs.
void validate_products(const LogprobArgs& a, int64_t n, float* logits, float* dhidden, float* dweight) {
  validate_gemm(logits_gemm(a, 0, n, logits));
  if (dhidden) validate_gemm(dhidden_gemm(a, 0, n, logits, dhidden));
  if (dweight) validate_gemm(dweight_gemm(a, 0, n, logits, dweight));
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

// dlogp, lse_in: this chunk's rows (index 0 = row r0). logp: all rows, or null.
void launch_dlogits(const LogprobArgs& a, int64_t r0, int64_t n, float* logits, const float* dlogp,
                    const float* lse_in, float* logp) {
  const unsigned blocks = static_cast<unsigned>(n);
  const int32_t* t = a.targets + r0;
  float* lp = logp ? logp + r0 : nullptr;
  const bool vec = a.vocab % 4 == 0;
  if (bf16_dlogits(a)) {
    if (vec)
      dlogits_kernel<4, true><<<blocks, kThreads>>>(logits, a.vocab, t, dlogp, lse_in, lp);
    else
      dlogits_kernel<1, true><<<blocks, kThreads>>>(logits, a.vocab, t, dlogp, lse_in, lp);
  } else {
    if (vec)
      dlogits_kernel<4, false><<<blocks, kThreads>>>(logits, a.vocab, t, dlogp, lse_in, lp);
    else
      dlogits_kernel<1, false><<<blocks, kThreads>>>(logits, a.vocab, t, dlogp, lse_in, lp);
  }
  check_launch("logprob (dlogits)");
}

void chunk_products(const LogprobArgs& a, int64_t r0, int64_t n, const float* dz, float* dhidden, float* dweight) {
  if (dhidden) gemm(dhidden_gemm(a, r0, n, dz, dhidden), a.engine);
  if (dweight) gemm(dweight_gemm(a, r0, n, dz, dweight), a.engine);
}

// Forward (dlogp null), backward (logp null) or both, chunk by chunk.
void run_chunks(const LogprobArgs& a, const float* dlogp, float* logp, float* dhidden, float* dweight) {
  const bool backward = dlogp && (dhidden || dweight);
  const int64_t chunk = logprob_chunk_rows(a);
  float* logits = logits_scratch(a, chunk);
  validate_products(a, chunk, logits, backward ? dhidden : nullptr, backward ? dweight : nullptr);
  for (int64_t r0 = 0; r0 < a.rows; r0 += chunk) {
    const int64_t n = std::min(chunk, a.rows - r0);
    gemm(logits_gemm(a, r0, n, logits), a.engine);
    if (backward) {
      launch_dlogits(a, r0, n, logits, dlogp + r0, nullptr, logp);
      chunk_products(a, r0, n, logits, dhidden, dweight);
    } else if (logp) {
      launch_logp(a, r0, n, logits, logp, nullptr);
    }
  }
}

}  // namespace

void validate_logprob(const LogprobArgs& a) {
  if (a.rows < 0) throw_arg("logprob rows", ">= 0", a.rows);
  if (a.dim < 1) throw_arg("logprob dim", ">= 1", a.dim);
  if (a.vocab < 1 || a.vocab > INT32_MAX) throw_arg("logprob vocab", "in [1, 2^31) (targets are int32)", a.vocab);
  if (a.chunk_rows < 0) throw_arg("logprob chunk_rows", ">= 0 (0: the default)", a.chunk_rows);
  check_dtype(a.hidden_type, "logprob hidden_type");
  check_dtype(a.weight_type, "logprob weight_type");
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

void logprob_backward(const LogprobArgs& a, const float* dlogp, float* dhidden, float* dweight) {
  validate_logprob(a);
  if (a.rows == 0 || (!dhidden && !dweight)) return;
  require(dlogp, "logprob dlogp");
  run_chunks(a, dlogp, nullptr, dhidden, dweight);
}

void logprob_forward_backward(const LogprobArgs& a, const float* dlogp, float* logp, float* dhidden,
                              float* dweight) {
  validate_logprob(a);
  if (a.rows == 0) return;
  require(logp, "logprob logp");
  if (dhidden || dweight) require(dlogp, "logprob dlogp");
  run_chunks(a, dlogp, logp, dhidden, dweight);
}

// The callback's pointers are the chunk's own: logp[i] and dlogp[i] are row r0 + i.
// dlogp starts zeroed, so rows the callback leaves alone contribute nothing.
void logprob_grouped(const LogprobArgs& a, const std::vector<int64_t>& group_ends, const ChunkGradient& grad,
                     float* logp, float* dhidden, float* dweight) {
  validate_logprob(a);
  if (!grad) throw_arg("logprob grad", "a callback", "an empty function");
  if (a.rows > 0 && group_ends.empty()) throw_arg("logprob group_ends", "at least one group", "none");
  int64_t prev = 0;
  for (size_t i = 0; i < group_ends.size(); ++i) {
    if (group_ends[i] <= prev)
      throw_arg("logprob group_ends[" + std::to_string(i) + "]", "> " + std::to_string(prev) + " (ascending)",
                group_ends[i]);
    prev = group_ends[i];
  }
  if (prev != a.rows) throw_arg("logprob group_ends (last)", "rows (" + std::to_string(a.rows) + ")", prev);
  if (a.rows == 0) return;
  require(logp, "logprob logp");

  // Whole groups per chunk, as many as the row budget holds; an oversized group alone.
  const int64_t budget = logprob_chunk_rows(a);
  std::vector<int64_t> chunk_ends;
  int64_t r0 = 0, largest = 0;
  prev = 0;
  for (int64_t e : group_ends) {
    if (e - r0 > budget && prev > r0) {
      chunk_ends.push_back(prev);
      largest = std::max(largest, prev - r0);
      r0 = prev;
    }
    prev = e;
  }
  chunk_ends.push_back(a.rows);
  largest = std::max(largest, a.rows - r0);
  if (largest > INT32_MAX || largest > (INT64_MAX / 8) / a.vocab)
    throw_arg("logprob group_ends", "groups of rows x vocab logits that fit in memory", largest);

  float* logits = logits_scratch(a, largest);
  // This chunk's dlogp (uploaded from the callback) and log-sum-exps (kept from the forward).
  float* aux = static_cast<float*>(
      device_scratch(Scratch::LogitsAux, sizeof(float) * 2 * static_cast<size_t>(largest), "log-prob chunk dlogp"));
  float* dlogp_dev = aux;
  float* lse = aux + largest;
  validate_products(a, largest, logits, dhidden, dweight);
  std::vector<float> logp_host(largest), dlogp_host(largest);

  r0 = 0;
  for (int64_t r1 : chunk_ends) {
    const int64_t n = r1 - r0;
    gemm(logits_gemm(a, r0, n, logits), a.engine);
    launch_logp(a, r0, n, logits, logp, lse);
    // Synchronous on the default stream: waits for the kernel above.
    check(cudaMemcpy(logp_host.data(), logp + r0, sizeof(float) * n, cudaMemcpyDeviceToHost),
          "logprob_grouped: log-probs to the host");
    std::fill(dlogp_host.begin(), dlogp_host.begin() + n, 0.0f);
    grad(r0, r1, logp_host.data(), dlogp_host.data());
    if (dhidden || dweight) {
      check(cudaMemcpy(dlogp_dev, dlogp_host.data(), sizeof(float) * n, cudaMemcpyHostToDevice),
            "logprob_grouped: dlogp to the device");
      launch_dlogits(a, r0, n, logits, dlogp_dev, lse, nullptr);
      chunk_products(a, r0, n, logits, dhidden, dweight);
    }
    r0 = r1;
  }
}

}  // namespace genrm::cuda
