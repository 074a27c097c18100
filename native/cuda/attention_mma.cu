// Flash-attention-2 style causal attention on tensor cores (mma.sync m16n8k16,
// bf16 operands, fp32 accumulation), templated on head_dim (16, 32, 64, 128)
// and on the storage type (fp32 tiles are rounded to bf16 as they are staged in
// shared memory; bf16 tiles are copied with cp.async). attention.cu validates
// and dispatches; everything here trusts its arguments.
//
// Kernels (every CTA owns one tile of one head of one sequence; the grid runs
// over tiles of max_seqlen and a CTA past its sequence's end exits at once):
// - forward: a CTA per (query tile, head, sequence), 16 query rows per warp, key
//   tiles of 64 up to the causal diagonal, double-buffered; online softmax in
//   fp32 with exp2 (scale * log2 e folded in); P rounded to bf16 for P.V.
// - dK/dV: a CTA per (key tile of 64, kv head, sequence), 16 keys per warp,
//   looping over the group's query heads and, for each, the query tiles from
//   the diagonal on (a fixed order: deterministic, no atomics).
// - dQ: a CTA per (query tile of 64, head, sequence), looping over key tiles.
// - or, when the caller does not ask for determinism, dQ from the dK/dV CTAs by
//   atomics (dkdv_kernel's kAtomicDq), and no dQ kernel.
//
// Fragment layouts of mma.m16n8k16 and ldmatrix: see ptx.cuh.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "attention.h"
#include "check.h"
#include "kernels.h"
#include "ptx.cuh"

namespace genrm::cuda {
namespace {

using bf16 = __nv_bfloat16;
constexpr float kLog2e = 1.4426950408889634f;
constexpr int kBN = 64;  // key rows per tile (forward, dQ) and per dK/dV CTA

// ---------------------------------------------------------------------------
// bf16 packing (the PTX wrappers are in ptx.cuh)

// Two floats as a bf16 pair (round to nearest even), lo in the lower 16 bits.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x = lo: the lower half
  return *reinterpret_cast<const uint32_t*>(&v);
}

// ---------------------------------------------------------------------------
// Fragments from shared tiles. Tiles are row-major bf16 with rows LDS = D + 8
// elements apart: the 16-byte pad shifts consecutive rows by 4 banks, so the 8
// row addresses of each ldmatrix phase hit distinct banks.

// A fragment of the 16x16 block at (r0, c0) of a row-major [m][k] tile:
// matrices 0..3 = (rows +0, cols +0), (rows +8, cols +0), (rows +0, cols +8),
// (rows +8, cols +8) -> a0..a3 as listed above.
template <int LDS>
__device__ __forceinline__ void frag_a(uint32_t (&a)[4], const bf16* s, int r0, int c0, int lane) {
  ldsm_x4(a, smem_u32(s + (r0 + (lane & 15)) * LDS + c0 + (lane >> 4) * 8));
}

// B fragments of two n-blocks (n0..n0+7 and n0+8..n0+15) over k0..k0+15 from a
// tile stored [n][k] (k contiguous: K for Q.K^T, Q for K.Q^T, V for dO.V^T):
// B[k][n] = tile[n][k], so b0 of n-block j is row g of the 8x8 matrix at
// (n0 + 8j, k0) and b1 the one at (n0 + 8j, k0 + 8). Matrices 0..3 =
// (n +0, k +0), (n +0, k +8), (n +8, k +0), (n +8, k +8):
// b[0], b[1] for n-block n0, b[2], b[3] for n-block n0 + 8.
template <int LDS>
__device__ __forceinline__ void frag_b_nk(uint32_t (&b)[4], const bf16* s, int n0, int k0, int lane) {
  ldsm_x4(b, smem_u32(s + (n0 + (lane & 7) + (lane >> 4) * 8) * LDS + k0 + ((lane >> 3) & 1) * 8));
}

// B fragments of two n-blocks over k0..k0+15 from a tile stored [k][n] (n
// contiguous: V for P.V, dO for P^T.dO, Q for dS^T.Q, K for dS.K), transposed
// by ldmatrix.trans: b0 of n-block j is the transpose of the 8x8 matrix at
// (k0, n0 + 8j), b1 the one at (k0 + 8, n0 + 8j). Matrices 0..3 = (k +0, n +0),
// (k +8, n +0), (k +0, n +8), (k +8, n +8): b[0], b[1] for n-block n0, b[2],
// b[3] for n-block n0 + 8.
template <int LDS>
__device__ __forceinline__ void frag_b_kn(uint32_t (&b)[4], const bf16* s, int k0, int n0, int lane) {
  ldsm_x4_trans(b, smem_u32(s + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + n0 + (lane >> 4) * 8));
}

// The C fragments of n-blocks 2c and 2c+1 (columns 16c..16c+15) as the A
// fragment of k-chunk c: a0 = (g, 2t..) = lo c0,c1; a1 = (g+8, 2t..) = lo c2,c3;
// a2 = (g, 8+2t..) = hi c0,c1; a3 = (g+8, 8+2t..) = hi c2,c3.
__device__ __forceinline__ void c_to_a(uint32_t (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
  a[0] = pack_bf16(lo[0], lo[1]);
  a[1] = pack_bf16(lo[2], lo[3]);
  a[2] = pack_bf16(hi[0], hi[1]);
  a[3] = pack_bf16(hi[2], hi[3]);
}

// ---------------------------------------------------------------------------
// Global <-> shared

// Rows [0, ROWS) of a tile whose rows are `stride` elements apart in global
// memory, staged as bf16 rows LDS apart. Rows >= valid are zero-filled: scores
// against them are masked, but a NaN there would survive 0 * NaN in the mma.
// `any` is an address inside the tensor, given to the zero-filling copies.
template <int ROWS, int D, int THREADS>
__device__ __forceinline__ void load_tile(bf16* s, const bf16* g, int64_t stride, int valid, const bf16* any) {
  constexpr int kChunks = D / 8, LDS = D + 8;  // 8 elements = 16 bytes
#pragma unroll
  for (int i = 0; i < (ROWS * kChunks + THREADS - 1) / THREADS; ++i) {
    const int c = i * THREADS + threadIdx.x;
    if ((ROWS * kChunks) % THREADS != 0 && c >= ROWS * kChunks) break;
    const int r = c / kChunks, col = (c % kChunks) * 8;
    const bool ok = r < valid;
    cp_async16(smem_u32(s + r * LDS + col), ok ? g + r * stride + col : any, ok ? 16 : 0);
  }
}
template <int ROWS, int D, int THREADS>
__device__ __forceinline__ void load_tile(bf16* s, const float* g, int64_t stride, int valid, const float*) {
  constexpr int kChunks = D / 8, LDS = D + 8;
#pragma unroll
  for (int i = 0; i < (ROWS * kChunks + THREADS - 1) / THREADS; ++i) {
    const int c = i * THREADS + threadIdx.x;
    if ((ROWS * kChunks) % THREADS != 0 && c >= ROWS * kChunks) break;
    const int r = c / kChunks, col = (c % kChunks) * 8;
    uint4 w = make_uint4(0u, 0u, 0u, 0u);
    if (r < valid) {
      const float4* p = reinterpret_cast<const float4*>(g + r * stride + col);
      const float4 x = __ldg(p), y = __ldg(p + 1);
      w = make_uint4(pack_bf16(x.x, x.y), pack_bf16(x.z, x.w), pack_bf16(y.x, y.y), pack_bf16(y.z, y.w));
    }
    *reinterpret_cast<uint4*>(s + r * LDS + col) = w;
  }
}

__device__ __forceinline__ void store2(float* p, float a, float b) {
  *reinterpret_cast<float2*>(p) = make_float2(a, b);
}
__device__ __forceinline__ void store2(bf16* p, float a, float b) {
  *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(a, b);
}

// ---------------------------------------------------------------------------
// Grid

struct Geometry {
  const int32_t* cu_seqlens;
  int64_t num_seqs;
  int heads, kv_heads, group;  // group = heads / kv_heads
  int tiles;                   // tiles over max_seqlen
  float scale;
};

struct Block {
  int tile;
  int64_t seq;
  int head;
};

// blockIdx.x = tile-major over (tile, sequence, head). heavy_first walks the
// tiles from the last (the causal forward's and dQ's longest loops) so the
// long CTAs start first and the short ones fill the tail.
__device__ __forceinline__ Block block_of(const Geometry& geo, int heads, bool heavy_first) {
  const int64_t per_tile = geo.num_seqs * heads, b = blockIdx.x;
  const int t = static_cast<int>(b / per_tile);
  const int64_t rest = b - t * per_tile;
  return {heavy_first ? geo.tiles - 1 - t : t, rest / heads, static_cast<int>(rest % heads)};
}

// ---------------------------------------------------------------------------
// Forward. smem: Q [BM][LDS], K [2][BN][LDS], V [2][BN][LDS] (bf16).

template <int D, int WARPS>
__host__ __device__ constexpr int forward_smem() {
  return (WARPS * 16 + 4 * kBN) * (D + 8) * 2;
}

template <int D, int WARPS, typename T>
__global__ void __launch_bounds__(WARPS * 32, 256 / (WARPS * 32) * (D <= 64 ? 2 : 1))
    forward_kernel(Geometry geo, const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                   T* __restrict__ out, float* __restrict__ lse) {
  constexpr int BM = WARPS * 16, BN = kBN, LDS = D + 8, THREADS = WARPS * 32;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* sQ = reinterpret_cast<bf16*>(smem_raw);
  bf16* sK = sQ + BM * LDS;
  bf16* sV = sK + 2 * BN * LDS;

  const Block blk = block_of(geo, geo.heads, true);
  const int64_t s0 = geo.cu_seqlens[blk.seq];
  const int len = static_cast<int>(geo.cu_seqlens[blk.seq + 1] - s0);
  const int q0 = blk.tile * BM;
  if (q0 >= len) return;
  const int h = blk.head, kvh = h / geo.group;
  const int64_t qstride = static_cast<int64_t>(geo.heads) * D, kstride = static_cast<int64_t>(geo.kv_heads) * D;
  const T* qg = q + ((s0 + q0) * geo.heads + h) * D;
  const T* kg = k + (s0 * geo.kv_heads + kvh) * D;
  const T* vg = v + (s0 * geo.kv_heads + kvh) * D;
  const int n_last = (min(q0 + BM, len) - 1) / BN;

  load_tile<BM, D, THREADS>(sQ, qg, qstride, len - q0, q);
  load_tile<BN, D, THREADS>(sK, kg, kstride, len, k);
  load_tile<BN, D, THREADS>(sV, vg, kstride, len, v);
  cp_async_commit();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gid = lane >> 2, tig = lane & 3;
  const int wrow0 = q0 + warp * 16;                     // the warp's first row in the sequence
  const int row_lo = wrow0 + gid, row_hi = row_lo + 8;  // this lane's C-fragment rows
  const float sl2 = geo.scale * kLog2e;

  cp_async_wait<0>();
  __syncthreads();
  uint32_t qf[D / 16][4];  // the warp's 16 query rows as A fragments, for every k-chunk of head_dim
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) frag_a<LDS>(qf[kk], sQ, warp * 16, kk * 16, lane);

  float o[D / 8][4];  // C fragments: rows (lo, hi) x head_dim columns db*8 + 2t, +1
#pragma unroll
  for (int db = 0; db < D / 8; ++db) o[db][0] = o[db][1] = o[db][2] = o[db][3] = 0.0f;
  // Running max of the raw scores (the scale is positive, so it commutes) and
  // this lane's partial row sums (its 2 columns per n-block; the 4 lanes of a
  // row see the same max, so the partials add up at the end).
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.0f, l_hi = 0.0f;

  for (int n = 0; n <= n_last; ++n) {
    const int stage = n & 1;
    if (n < n_last) {  // prefetch the next key tile into the other stage
      const int64_t off = static_cast<int64_t>(n + 1) * BN * kstride;
      const int valid = len - (n + 1) * BN;
      load_tile<BN, D, THREADS>(sK + (stage ^ 1) * BN * LDS, kg + off, kstride, valid, k);
      load_tile<BN, D, THREADS>(sV + (stage ^ 1) * BN * LDS, vg + off, kstride, valid, v);
    }
    cp_async_commit();
    cp_async_wait<1>();  // tile n landed (this thread's copies) ...
    __syncthreads();     // ... and everyone's

    const int key0 = n * BN;
    if (key0 <= wrow0 + 15) {  // else every key of the tile is after every row of the warp
      const bf16* cK = sK + stage * BN * LDS;
      const bf16* cV = sV + stage * BN * LDS;
      float s[BN / 8][4];
#pragma unroll
      for (int nb = 0; nb < BN / 8; ++nb) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
        for (int nb2 = 0; nb2 < BN / 16; ++nb2) {
          uint32_t b[4];
          frag_b_nk<LDS>(b, cK, nb2 * 16, kk * 16, lane);
          mma_bf16(s[2 * nb2], qf[kk], b[0], b[1]);
          mma_bf16(s[2 * nb2 + 1], qf[kk], b[2], b[3]);
        }
      if (key0 + BN - 1 > wrow0) {  // the tile crosses the diagonal of some row of this warp
#pragma unroll
        for (int nb = 0; nb < BN / 8; ++nb)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int key = key0 + nb * 8 + 2 * tig + (e & 1);
            if (key > (e < 2 ? row_lo : row_hi)) s[nb][e] = -INFINITY;
          }
      }
      float mx_lo = m_lo, mx_hi = m_hi;
#pragma unroll
      for (int nb = 0; nb < BN / 8; ++nb) {
        mx_lo = fmaxf(mx_lo, fmaxf(s[nb][0], s[nb][1]));
        mx_hi = fmaxf(mx_hi, fmaxf(s[nb][2], s[nb][3]));
      }
#pragma unroll
      for (int o_ = 1; o_ <= 2; o_ <<= 1) {  // the 4 lanes of a row: lanes 4g..4g+3
        mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, o_));
        mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, o_));
      }
      // Finite: key 0 is in tile 0 and never after a row, so every row has a
      // finite max from its first tile on (and m = -inf gives alpha = 0).
      const float alpha_lo = exp2f((m_lo - mx_lo) * sl2), alpha_hi = exp2f((m_hi - mx_hi) * sl2);
      m_lo = mx_lo;
      m_hi = mx_hi;
      const float sub_lo = mx_lo * sl2, sub_hi = mx_hi * sl2;
      float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
      for (int nb = 0; nb < BN / 8; ++nb) {
        s[nb][0] = exp2f(fmaf(s[nb][0], sl2, -sub_lo));  // -inf (masked) -> 0
        s[nb][1] = exp2f(fmaf(s[nb][1], sl2, -sub_lo));
        s[nb][2] = exp2f(fmaf(s[nb][2], sl2, -sub_hi));
        s[nb][3] = exp2f(fmaf(s[nb][3], sl2, -sub_hi));
        sum_lo += s[nb][0] + s[nb][1];
        sum_hi += s[nb][2] + s[nb][3];
      }
      l_lo = l_lo * alpha_lo + sum_lo;
      l_hi = l_hi * alpha_hi + sum_hi;
#pragma unroll
      for (int db = 0; db < D / 8; ++db) {
        o[db][0] *= alpha_lo;
        o[db][1] *= alpha_lo;
        o[db][2] *= alpha_hi;
        o[db][3] *= alpha_hi;
      }
      // O += P V: P (16 x BN, bf16 from the C fragments) as A, V [key][d] as B (k = key).
#pragma unroll
      for (int kc = 0; kc < BN / 16; ++kc) {
        uint32_t a[4];
        c_to_a(a, s[2 * kc], s[2 * kc + 1]);
#pragma unroll
        for (int db2 = 0; db2 < D / 16; ++db2) {
          uint32_t b[4];
          frag_b_kn<LDS>(b, cV, kc * 16, db2 * 16, lane);
          mma_bf16(o[2 * db2], a, b[0], b[1]);
          mma_bf16(o[2 * db2 + 1], a, b[2], b[3]);
        }
      }
    }
    __syncthreads();  // the stage read here is refilled by the next iteration's prefetch
  }

#pragma unroll
  for (int o_ = 1; o_ <= 2; o_ <<= 1) {
    l_lo += __shfl_xor_sync(0xffffffffu, l_lo, o_);
    l_hi += __shfl_xor_sync(0xffffffffu, l_hi, o_);
  }
  const float inv_lo = 1.0f / l_lo, inv_hi = 1.0f / l_hi;  // l >= 1: the max term is exp2(0)
#pragma unroll
  for (int db = 0; db < D / 8; ++db) {
    const int col = db * 8 + 2 * tig;
    if (row_lo < len) store2(out + ((s0 + row_lo) * geo.heads + h) * D + col, o[db][0] * inv_lo, o[db][1] * inv_lo);
    if (row_hi < len) store2(out + ((s0 + row_hi) * geo.heads + h) * D + col, o[db][2] * inv_hi, o[db][3] * inv_hi);
  }
  if (tig == 0) {  // natural log of the scaled scores' sum: m * scale + ln(l)
    if (row_lo < len) lse[(s0 + row_lo) * geo.heads + h] = m_lo * geo.scale + logf(l_lo);
    if (row_hi < len) lse[(s0 + row_hi) * geo.heads + h] = m_hi * geo.scale + logf(l_hi);
  }
}

// ---------------------------------------------------------------------------
// Backward, dK and dV. smem: K [BN][LDS], V [BN][LDS], Q [2][BMQ][LDS],
// dO [2][BMQ][LDS] (bf16), then lse * log2 e [2][BMQ] and drow [2][BMQ] (fp32),
// then (kAtomicDq) dS [BMQ][BN + 8] (bf16).
// Warp w owns keys 16w..16w+15 of the tile and computes transposed scores
// S^T = K Q^T (keys as rows), so dK and dV stay in its registers.
//
// kAtomicDq: the same CTA also adds this key tile's share of dQ: the warps put
// their dS^T in shared memory as dS [query][key], then warp w takes query rows
// 16w..16w+15 of dS K (all 64 keys) and adds them, scaled, to an fp32 dQ with
// atomics. Five tile products per (query tile, key tile) instead of the seven of
// the two-kernel split (dQ's kernel recomputes S and dP), at the price of the
// order of the additions: not deterministic.

template <int D>
__host__ __device__ constexpr int dkdv_bmq() {
  return 64;
}
template <int D, bool kAtomicDq = false>
__host__ __device__ constexpr int dkdv_smem() {
  return (2 * kBN + 4 * dkdv_bmq<D>()) * (D + 8) * 2 + 4 * dkdv_bmq<D>() * 4 +
         (kAtomicDq ? dkdv_bmq<D>() * (kBN + 8) * 2 : 0);
}

template <int D, typename T, bool kAtomicDq>
__global__ void __launch_bounds__(128)
    dkdv_kernel(Geometry geo, const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                const float* __restrict__ lse, const T* __restrict__ dout, const float* __restrict__ drow,
                T* __restrict__ dk, T* __restrict__ dv, float* __restrict__ dq_acc) {
  constexpr int BN = kBN, BMQ = dkdv_bmq<D>(), LDS = D + 8, THREADS = 128, LDSS = BN + 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* sK = reinterpret_cast<bf16*>(smem_raw);
  bf16* sV = sK + BN * LDS;
  bf16* sQ = sV + BN * LDS;                                  // [2][BMQ][LDS]
  bf16* sO = sQ + 2 * BMQ * LDS;                             // dO, [2][BMQ][LDS]
  float* sL = reinterpret_cast<float*>(sO + 2 * BMQ * LDS);  // [2][BMQ]
  float* sR = sL + 2 * BMQ;                                  // [2][BMQ]
  bf16* sS = reinterpret_cast<bf16*>(sR + 2 * BMQ);          // kAtomicDq: dS [BMQ][LDSS]

  const Block blk = block_of(geo, geo.kv_heads, false);  // key tile 0 has the longest loop
  const int64_t s0 = geo.cu_seqlens[blk.seq];
  const int len = static_cast<int>(geo.cu_seqlens[blk.seq + 1] - s0);
  const int k0 = blk.tile * BN;
  if (k0 >= len) return;
  const int kvh = blk.head;
  const int64_t qstride = static_cast<int64_t>(geo.heads) * D, kstride = static_cast<int64_t>(geo.kv_heads) * D;

  load_tile<BN, D, THREADS>(sK, k + ((s0 + k0) * geo.kv_heads + kvh) * D, kstride, len - k0, k);
  load_tile<BN, D, THREADS>(sV, v + ((s0 + k0) * geo.kv_heads + kvh) * D, kstride, len - k0, v);

  // Iterations: for each query head of the group, the query tiles from the one
  // holding key k0 (the first row that may see the tile) to the sequence's end.
  const int qt0 = k0 / BMQ, nq = (len + BMQ - 1) / BMQ - qt0, iters = geo.group * nq;
  auto issue = [&](int it, int stage) {
    const int h = kvh * geo.group + it / nq, r0 = (qt0 + it % nq) * BMQ;
    const int64_t off = ((s0 + r0) * geo.heads + h) * D;
    load_tile<BMQ, D, THREADS>(sQ + stage * BMQ * LDS, q + off, qstride, len - r0, q);
    load_tile<BMQ, D, THREADS>(sO + stage * BMQ * LDS, dout + off, qstride, len - r0, dout);
    for (int r = threadIdx.x; r < BMQ; r += THREADS) {
      const bool ok = r0 + r < len;
      const int64_t i = (s0 + r0 + r) * geo.heads + h;
      sL[stage * BMQ + r] = ok ? lse[i] * kLog2e : 0.0f;
      sR[stage * BMQ + r] = ok ? drow[i] : 0.0f;
    }
  };
  issue(0, 0);
  cp_async_commit();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gid = lane >> 2, tig = lane & 3;
  const int key_lo = k0 + warp * 16 + gid, key_hi = key_lo + 8;  // this lane's C-fragment rows (keys)
  const float sl2 = geo.scale * kLog2e;

  float acc_dk[D / 8][4], acc_dv[D / 8][4];
#pragma unroll
  for (int db = 0; db < D / 8; ++db)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc_dk[db][e] = acc_dv[db][e] = 0.0f;

  for (int it = 0; it < iters; ++it) {
    const int stage = it & 1;
    if (it + 1 < iters) issue(it + 1, stage ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();

    const int r0 = (qt0 + it % nq) * BMQ;  // the query tile's first row in the sequence
    const bf16* cQ = sQ + stage * BMQ * LDS;
    const bf16* cO = sO + stage * BMQ * LDS;
    const float* cL = sL + stage * BMQ;
    const float* cR = sR + stage * BMQ;
    if (r0 + BMQ - 1 >= k0 + warp * 16) {  // else every row of the tile is before every key of the warp
      // S^T = K Q^T and dP^T = V dO^T: 16 keys x BMQ queries.
      float st[BMQ / 8][4], dpt[BMQ / 8][4];
#pragma unroll
      for (int nb = 0; nb < BMQ / 8; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) st[nb][e] = dpt[nb][e] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t ka[4], va[4];
        frag_a<LDS>(ka, sK, warp * 16, kk * 16, lane);
        frag_a<LDS>(va, sV, warp * 16, kk * 16, lane);
#pragma unroll
        for (int nb2 = 0; nb2 < BMQ / 16; ++nb2) {
          uint32_t b[4];
          frag_b_nk<LDS>(b, cQ, nb2 * 16, kk * 16, lane);
          mma_bf16(st[2 * nb2], ka, b[0], b[1]);
          mma_bf16(st[2 * nb2 + 1], ka, b[2], b[3]);
          frag_b_nk<LDS>(b, cO, nb2 * 16, kk * 16, lane);
          mma_bf16(dpt[2 * nb2], va, b[0], b[1]);
          mma_bf16(dpt[2 * nb2 + 1], va, b[2], b[3]);
        }
      }
      // P^T = exp2(S^T scale log2e - lse log2e) where query >= key and query < len;
      // dS^T = P^T (dP^T - drow). Column (query) of element e: nb*8 + 2t + (e & 1).
#pragma unroll
      for (int nb = 0; nb < BMQ / 8; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int c = nb * 8 + 2 * tig + (e & 1), qrow = r0 + c;
          const bool ok = qrow < len && qrow >= (e < 2 ? key_lo : key_hi);
          const float p = ok ? exp2f(fmaf(st[nb][e], sl2, -cL[c])) : 0.0f;
          st[nb][e] = p;
          dpt[nb][e] = p * (dpt[nb][e] - cR[c]);
        }
      // dV += P^T dO and dK += dS^T Q (scaled at the end): A from the C
      // fragments (k = query), B = dO / Q stored [query][d] (k-major, .trans).
#pragma unroll
      for (int kc = 0; kc < BMQ / 16; ++kc) {
        uint32_t pa[4], sa[4];
        c_to_a(pa, st[2 * kc], st[2 * kc + 1]);
        c_to_a(sa, dpt[2 * kc], dpt[2 * kc + 1]);
#pragma unroll
        for (int db2 = 0; db2 < D / 16; ++db2) {
          uint32_t b[4];
          frag_b_kn<LDS>(b, cO, kc * 16, db2 * 16, lane);
          mma_bf16(acc_dv[2 * db2], pa, b[0], b[1]);
          mma_bf16(acc_dv[2 * db2 + 1], pa, b[2], b[3]);
          frag_b_kn<LDS>(b, cQ, kc * 16, db2 * 16, lane);
          mma_bf16(acc_dk[2 * db2], sa, b[0], b[1]);
          mma_bf16(acc_dk[2 * db2 + 1], sa, b[2], b[3]);
        }
      }
      if constexpr (kAtomicDq) {  // dS^T (key row, query column) -> sS[query][key]
#pragma unroll
        for (int nb = 0; nb < BMQ / 8; ++nb)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            sS[(nb * 8 + 2 * tig + (e & 1)) * LDSS + warp * 16 + gid + (e < 2 ? 0 : 8)] =
                __float2bfloat16_rn(dpt[nb][e]);
      }
    }
    if constexpr (kAtomicDq) {
      // Every warp wrote its part of sS above: query tiles are whole multiples of
      // the key tile, so each one ends at or after every key of this CTA and the
      // test before the products never fails here.
      static_assert(BMQ % BN == 0, "a query tile must cover the key tile's rows");
      __syncthreads();                // every warp's dS is in sS
      const int qr = r0 + warp * 16;  // this warp's first query row (>= k0: r0 >= k0 when BMQ == BN)
      if (qr < len) {
        const int h = kvh * geo.group + it / nq, row_lo = qr + gid, row_hi = row_lo + 8;
        constexpr int DC = D < 64 ? D : 64;  // dQ columns per pass: bounds the live accumulators
#pragma unroll
        for (int dc = 0; dc < D; dc += DC) {
          float acc[DC / 8][4];
#pragma unroll
          for (int db = 0; db < DC / 8; ++db) acc[db][0] = acc[db][1] = acc[db][2] = acc[db][3] = 0.0f;
#pragma unroll
          for (int kc = 0; kc < BN / 16; ++kc) {  // dS [query][key] as A (k = key), K [key][d] (.trans)
            uint32_t a[4];
            frag_a<LDSS>(a, sS, warp * 16, kc * 16, lane);
#pragma unroll
            for (int db2 = 0; db2 < DC / 16; ++db2) {
              uint32_t b[4];
              frag_b_kn<LDS>(b, sK, kc * 16, dc + db2 * 16, lane);
              mma_bf16(acc[2 * db2], a, b[0], b[1]);
              mma_bf16(acc[2 * db2 + 1], a, b[2], b[3]);
            }
          }
#pragma unroll
          for (int db = 0; db < DC / 8; ++db) {
            const int col = dc + db * 8 + 2 * tig;
            if (row_lo < len) {
              float* o = dq_acc + ((s0 + row_lo) * geo.heads + h) * D + col;
              atomicAdd(o, acc[db][0] * geo.scale);
              atomicAdd(o + 1, acc[db][1] * geo.scale);
            }
            if (row_hi < len) {
              float* o = dq_acc + ((s0 + row_hi) * geo.heads + h) * D + col;
              atomicAdd(o, acc[db][2] * geo.scale);
              atomicAdd(o + 1, acc[db][3] * geo.scale);
            }
          }
        }
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int db = 0; db < D / 8; ++db) {
    const int col = db * 8 + 2 * tig;
    if (key_lo < len) {
      const int64_t i = ((s0 + key_lo) * geo.kv_heads + kvh) * D + col;
      store2(dk + i, acc_dk[db][0] * geo.scale, acc_dk[db][1] * geo.scale);
      store2(dv + i, acc_dv[db][0], acc_dv[db][1]);
    }
    if (key_hi < len) {
      const int64_t i = ((s0 + key_hi) * geo.kv_heads + kvh) * D + col;
      store2(dk + i, acc_dk[db][2] * geo.scale, acc_dk[db][3] * geo.scale);
      store2(dv + i, acc_dv[db][2], acc_dv[db][3]);
    }
  }
}

// ---------------------------------------------------------------------------
// Backward, dQ. smem: Q [BM][LDS], dO [BM][LDS], K [2][BN][LDS], V [2][BN][LDS].
// Warp w owns query rows 16w..16w+15: S = Q K^T, dP = dO V^T, dS = P (dP - drow),
// dQ += dS K, scaled at the end.

constexpr int kDqBM = 64;
template <int D>
__host__ __device__ constexpr int dq_smem() {
  return (2 * kDqBM + 4 * kBN) * (D + 8) * 2;
}

template <int D, typename T>
__global__ void __launch_bounds__(128)
    dq_kernel(Geometry geo, const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
              const float* __restrict__ lse, const T* __restrict__ dout, const float* __restrict__ drow,
              T* __restrict__ dq) {
  constexpr int BM = kDqBM, BN = kBN, LDS = D + 8, THREADS = 128;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* sQ = reinterpret_cast<bf16*>(smem_raw);
  bf16* sO = sQ + BM * LDS;
  bf16* sK = sO + BM * LDS;      // [2][BN][LDS]
  bf16* sV = sK + 2 * BN * LDS;  // [2][BN][LDS]

  const Block blk = block_of(geo, geo.heads, true);
  const int64_t s0 = geo.cu_seqlens[blk.seq];
  const int len = static_cast<int>(geo.cu_seqlens[blk.seq + 1] - s0);
  const int q0 = blk.tile * BM;
  if (q0 >= len) return;
  const int h = blk.head, kvh = h / geo.group;
  const int64_t qstride = static_cast<int64_t>(geo.heads) * D, kstride = static_cast<int64_t>(geo.kv_heads) * D;
  const int64_t qoff = ((s0 + q0) * geo.heads + h) * D;
  const T* kg = k + (s0 * geo.kv_heads + kvh) * D;
  const T* vg = v + (s0 * geo.kv_heads + kvh) * D;
  const int n_last = (min(q0 + BM, len) - 1) / BN;

  load_tile<BM, D, THREADS>(sQ, q + qoff, qstride, len - q0, q);
  load_tile<BM, D, THREADS>(sO, dout + qoff, qstride, len - q0, dout);
  load_tile<BN, D, THREADS>(sK, kg, kstride, len, k);
  load_tile<BN, D, THREADS>(sV, vg, kstride, len, v);
  cp_async_commit();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gid = lane >> 2, tig = lane & 3;
  const int wrow0 = q0 + warp * 16;
  const int row_lo = wrow0 + gid, row_hi = row_lo + 8;
  const float sl2 = geo.scale * kLog2e;
  // Rows past the sequence: zero Q and dO give dS = 0 (and they are masked anyway).
  const float l2_lo = row_lo < len ? lse[(s0 + row_lo) * geo.heads + h] * kLog2e : 0.0f;
  const float l2_hi = row_hi < len ? lse[(s0 + row_hi) * geo.heads + h] * kLog2e : 0.0f;
  const float dr_lo = row_lo < len ? drow[(s0 + row_lo) * geo.heads + h] : 0.0f;
  const float dr_hi = row_hi < len ? drow[(s0 + row_hi) * geo.heads + h] : 0.0f;

  float acc[D / 8][4];
#pragma unroll
  for (int db = 0; db < D / 8; ++db) acc[db][0] = acc[db][1] = acc[db][2] = acc[db][3] = 0.0f;

  for (int n = 0; n <= n_last; ++n) {
    const int stage = n & 1;
    if (n < n_last) {
      const int64_t off = static_cast<int64_t>(n + 1) * BN * kstride;
      const int valid = len - (n + 1) * BN;
      load_tile<BN, D, THREADS>(sK + (stage ^ 1) * BN * LDS, kg + off, kstride, valid, k);
      load_tile<BN, D, THREADS>(sV + (stage ^ 1) * BN * LDS, vg + off, kstride, valid, v);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();

    const int key0 = n * BN;
    if (key0 <= wrow0 + 15) {
      const bf16* cK = sK + stage * BN * LDS;
      const bf16* cV = sV + stage * BN * LDS;
      float s[BN / 8][4], dp[BN / 8][4];
#pragma unroll
      for (int nb = 0; nb < BN / 8; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[nb][e] = dp[nb][e] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t qa[4], oa[4];
        frag_a<LDS>(qa, sQ, warp * 16, kk * 16, lane);
        frag_a<LDS>(oa, sO, warp * 16, kk * 16, lane);
#pragma unroll
        for (int nb2 = 0; nb2 < BN / 16; ++nb2) {
          uint32_t b[4];
          frag_b_nk<LDS>(b, cK, nb2 * 16, kk * 16, lane);
          mma_bf16(s[2 * nb2], qa, b[0], b[1]);
          mma_bf16(s[2 * nb2 + 1], qa, b[2], b[3]);
          frag_b_nk<LDS>(b, cV, nb2 * 16, kk * 16, lane);
          mma_bf16(dp[2 * nb2], oa, b[0], b[1]);
          mma_bf16(dp[2 * nb2 + 1], oa, b[2], b[3]);
        }
      }
#pragma unroll
      for (int nb = 0; nb < BN / 8; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = key0 + nb * 8 + 2 * tig + (e & 1), row = e < 2 ? row_lo : row_hi;
          const bool ok = key <= row && row < len;
          const float p = ok ? exp2f(fmaf(s[nb][e], sl2, -(e < 2 ? l2_lo : l2_hi))) : 0.0f;
          dp[nb][e] = p * (dp[nb][e] - (e < 2 ? dr_lo : dr_hi));
        }
      // dQ += dS K: dS (16 x BN) as A (k = key), K stored [key][d] (k-major, .trans).
#pragma unroll
      for (int kc = 0; kc < BN / 16; ++kc) {
        uint32_t a[4];
        c_to_a(a, dp[2 * kc], dp[2 * kc + 1]);
#pragma unroll
        for (int db2 = 0; db2 < D / 16; ++db2) {
          uint32_t b[4];
          frag_b_kn<LDS>(b, cK, kc * 16, db2 * 16, lane);
          mma_bf16(acc[2 * db2], a, b[0], b[1]);
          mma_bf16(acc[2 * db2 + 1], a, b[2], b[3]);
        }
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int db = 0; db < D / 8; ++db) {
    const int col = db * 8 + 2 * tig;
    if (row_lo < len)
      store2(dq + ((s0 + row_lo) * geo.heads + h) * D + col, acc[db][0] * geo.scale, acc[db][1] * geo.scale);
    if (row_hi < len)
      store2(dq + ((s0 + row_hi) * geo.heads + h) * D + col, acc[db][2] * geo.scale, acc[db][3] * geo.scale);
  }
}

// ---------------------------------------------------------------------------
// Host side
//
// Dynamic shared memory per CTA (bytes; opt-in above 48 KB), head dim 16/32/64/128:
//   forward (64, 64, 128, 64 query rows): 15,360 / 25,600 / 55,296 / 87,040
//   dK/dV (64 keys, 64-query tiles):      16,384 / 26,624 / 56,320 / 105,472
//   dQ (64 queries, 64-key tiles):        15,360 / 25,600 / 55,296 / 104,448
//   dK/dV with atomic dQ (+ dS tile):     25,600 / 35,840 / 65,536 / 114,688
// All fit sm_80 (163 KB) and sm_90 (227 KB), two CTAs per SM on sm_90 at D128;
// sm_86/89 (99 KB) run D128 on the plain path (attention.cu checks the limit).
// Registers (ptxas -v, sm_90, fp32 / bf16 storage), all at D128 the largest:
//   forward 255 / 235, dK/dV 255 (56 B spilled) / 255 (4 B), dQ 243 / 232.

template <int D>
__host__ __device__ constexpr int forward_warps() {
  // 128 query rows halve the K/V reads per flop; D128 keeps 64 rows so that two
  // CTAs (2 x 4 warps of ~230 registers) share an SM; D16/D32 keep 64 rows for
  // short sequences.
  return D == 64 ? 8 : 4;
}

Geometry geometry(const AttentionArgs& a, int64_t tile_rows) {
  return {a.cu_seqlens,
          a.num_seqs,
          static_cast<int>(a.heads),
          static_cast<int>(a.kv_heads),
          static_cast<int>(a.heads / a.kv_heads),
          static_cast<int>((a.max_seqlen + tile_rows - 1) / tile_rows),
          a.scale};
}

unsigned grid_of(const Geometry& g, int heads) {
  return static_cast<unsigned>(static_cast<int64_t>(g.tiles) * g.num_seqs * heads);
}

// Dynamic shared memory above 48 KB needs an opt-in per kernel, once.
template <typename K>
void allow_smem(K kernel, int bytes, bool& done) {
  if (done || bytes <= 48 * 1024) return;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
        "attention: shared memory opt-in");
  done = true;
}

template <int D, typename T>
void forward_impl(const AttentionArgs& a, const void* q, const void* k, const void* v, void* out, float* lse) {
  constexpr int W = forward_warps<D>(), smem = forward_smem<D, W>();
  static bool opted = false;
  allow_smem(forward_kernel<D, W, T>, smem, opted);
  const Geometry g = geometry(a, W * 16);
  forward_kernel<D, W, T><<<grid_of(g, g.heads), W * 32, smem>>>(g, static_cast<const T*>(q), static_cast<const T*>(k),
                                                                 static_cast<const T*>(v), static_cast<T*>(out), lse);
  check_launch("attention_forward (tensor cores)");
}

// The atomic path's fp32 dQ when dq itself is bf16 (grow-only scratch).
float* dq_accumulator(int64_t n) {
  return static_cast<float*>(
      device_scratch(Scratch::AttentionDq, sizeof(float) * static_cast<size_t>(n), "attention_backward fp32 dq"));
}

template <int D, typename T>
void backward_impl(const AttentionArgs& a, const void* q, const void* k, const void* v, const float* lse,
                   const void* dout, const float* drow, void* dq, void* dk, void* dv) {
  const Geometry gk = geometry(a, kBN);
  if (!a.deterministic) {  // one kernel, dQ by atomics into fp32 (dq itself when it is fp32)
    static bool opted = false;
    allow_smem(dkdv_kernel<D, T, true>, dkdv_smem<D, true>(), opted);
    const size_t n = static_cast<size_t>(a.tokens * a.heads * D);
    float* acc = std::is_same_v<T, float> ? static_cast<float*>(dq) : dq_accumulator(static_cast<int64_t>(n));
    fill_zero(acc, sizeof(float) * n, "attention_backward dq = 0");
    dkdv_kernel<D, T, true><<<grid_of(gk, gk.kv_heads), 128, dkdv_smem<D, true>()>>>(
        gk, static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), lse,
        static_cast<const T*>(dout), drow, static_cast<T*>(dk), static_cast<T*>(dv), acc);
    check_launch("attention_backward dk/dv/dq (tensor cores, atomic dq)");
    if (!std::is_same_v<T, float>) to_bf16(acc, dq, static_cast<int64_t>(n));
    return;
  }
  static bool opted_kv = false, opted_q = false;
  allow_smem(dkdv_kernel<D, T, false>, dkdv_smem<D>(), opted_kv);
  allow_smem(dq_kernel<D, T>, dq_smem<D>(), opted_q);
  dkdv_kernel<D, T, false><<<grid_of(gk, gk.kv_heads), 128, dkdv_smem<D>()>>>(
      gk, static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), lse,
      static_cast<const T*>(dout), drow, static_cast<T*>(dk), static_cast<T*>(dv), nullptr);
  check_launch("attention_backward dk/dv (tensor cores)");
  const Geometry gq = geometry(a, kDqBM);
  dq_kernel<D, T><<<grid_of(gq, gq.heads), 128, dq_smem<D>()>>>(gq, static_cast<const T*>(q), static_cast<const T*>(k),
                                                                static_cast<const T*>(v), lse,
                                                                static_cast<const T*>(dout), drow, static_cast<T*>(dq));
  check_launch("attention_backward dq (tensor cores)");
}

template <typename T>
void forward_t(const AttentionArgs& a, const void* q, const void* k, const void* v, void* out, float* lse) {
  switch (a.head_dim) {
    case 16: return forward_impl<16, T>(a, q, k, v, out, lse);
    case 32: return forward_impl<32, T>(a, q, k, v, out, lse);
    case 64: return forward_impl<64, T>(a, q, k, v, out, lse);
    default: return forward_impl<128, T>(a, q, k, v, out, lse);
  }
}

template <typename T>
void backward_t(const AttentionArgs& a, const void* q, const void* k, const void* v, const float* lse, const void* dout,
                const float* drow, void* dq, void* dk, void* dv) {
  switch (a.head_dim) {
    case 16: return backward_impl<16, T>(a, q, k, v, lse, dout, drow, dq, dk, dv);
    case 32: return backward_impl<32, T>(a, q, k, v, lse, dout, drow, dq, dk, dv);
    case 64: return backward_impl<64, T>(a, q, k, v, lse, dout, drow, dq, dk, dv);
    default: return backward_impl<128, T>(a, q, k, v, lse, dout, drow, dq, dk, dv);
  }
}

template <int D>
int smem_of() {
  const int f = forward_smem<D, forward_warps<D>()>(),
            b = dkdv_smem<D, true>() > dq_smem<D>() ? dkdv_smem<D, true>() : dq_smem<D>();
  return f > b ? f : b;
}

}  // namespace

// Entry points for attention.cu (declared there).
namespace detail {

void attention_mma_reserve_backward(const AttentionArgs& a) {
  if (!a.deterministic && a.dtype == DType::BF16) dq_accumulator(a.tokens * a.heads * a.head_dim);
}

bool attention_mma_head_dim(int64_t head_dim) {
  return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

int64_t attention_mma_smem(int64_t head_dim) {
  switch (head_dim) {
    case 16: return smem_of<16>();
    case 32: return smem_of<32>();
    case 64: return smem_of<64>();
    default: return smem_of<128>();
  }
}

int64_t attention_mma_max_tiles(const AttentionArgs& a) {
  // The largest grid of the three kernels: tiles of 64 rows over max_seqlen.
  return (a.max_seqlen + kBN - 1) / kBN * a.num_seqs * a.heads;
}

void attention_mma_forward(const AttentionArgs& a, const void* q, const void* k, const void* v, void* out, float* lse) {
  if (a.dtype == DType::BF16)
    forward_t<bf16>(a, q, k, v, out, lse);
  else
    forward_t<float>(a, q, k, v, out, lse);
}

void attention_mma_backward(const AttentionArgs& a, const void* q, const void* k, const void* v, const float* lse,
                            const void* dout, const float* drow, void* dq, void* dk, void* dv) {
  if (a.dtype == DType::BF16)
    backward_t<bf16>(a, q, k, v, lse, dout, drow, dq, dk, dv);
  else
    backward_t<float>(a, q, k, v, lse, dout, drow, dq, dk, dv);
}

}  // namespace detail
}  // namespace genrm::cuda
