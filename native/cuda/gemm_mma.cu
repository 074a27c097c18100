// The project's own tensor-core GEMM: mma.sync m16n8k16 bf16 x bf16 -> fp32.
//
// Block tile 128 (m) x 128 (n) x 32 (k), 8 warps as 2 (m) x 4 (n), each warp
// 64 x 32 of C: 4 m16 tiles x 4 n8 tiles = 16 MMAs and 64 fp32 accumulators
// per thread per k16 step, fed by 6 ldmatrix.x4 (4 for A, 2 for B). 128 x 128
// gives 64 FLOP per byte of smem tile, enough for mma.sync to stay fed from
// L2 on A100/H100, and 64 accumulators leave room for two blocks per SM (16
// warps) when both operands take the cp.async path.
//
// Pipeline: 4 stages of smem (16 KiB each: A and B tiles of 4,096 bf16). At
// step kt the block waits for tile kt, issues the loads of tile kt + 3, and
// computes tile kt. An operand that is bf16 with 16-byte-aligned rows is copied
// by cp.async (zero-filled past the edges). Any other operand (fp32, or bf16
// with odd strides) is loaded into registers before the compute of the step,
// rounded to bf16 (nearest even) and stored to smem after it, so its global
// latency hides behind the MMAs as well.
//
// Determinism: one block owns each 128 x 128 tile of C; every thread's
// accumulators see k in increasing order; no atomics, no split-K.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "../core/error.h"
#include "check.h"
#include "gemm_impl.h"
#include "ptx.cuh"

namespace genrm::cuda {
namespace {

constexpr int kBM = 128, kBN = 128, kBK = 32, kStages = 4, kThreads = 256;
constexpr int kTileElems = kBM * kBK;  // one operand's tile per stage (bf16): 4,096
constexpr int kTileBytes = kTileElems * 2;
constexpr int kStageBytes = 2 * kTileBytes;
constexpr int kSmemBytes = kStages * kStageBytes;            // 64 KiB
constexpr int kChunksPerThread = kTileElems / 8 / kThreads;  // 16-byte chunks: 2
static_assert(kBM == kBN, "both operand tiles share one geometry");
static_assert(kChunksPerThread * 8 * kThreads == kTileElems, "chunks cover the tile");

// An operand as stored: a rows x cols row-major matrix (A: M x K, or K x M when
// trans_a; B: K x N, or N x K when trans_b).
struct Operand {
  const void* p;
  int64_t ld, rows, cols;
  bool bf16;
  bool vec;  // fp32 with 16-byte-aligned rows: float4 loads
};

struct MmaArgs {
  Operand a, b;
  void* c;
  int64_t ldc, m, n, k;
  float alpha, beta;
  bool c_bf16, c_pair;  // c_pair: element pairs (even column) may be stored as one 8- or 4-byte word
  int tiles_m, tiles_n;
};

// Smem tile layouts (bf16 elements; 16-byte chunks of 8 consecutive elements
// along the stored row, XOR-swizzled so that the 8 row addresses of one
// ldmatrix phase fall in 8 distinct 16-byte bank groups):
//  K-major (A not transposed, B transposed): 128 rows (m or n) x 32 k: 64-byte
//    rows, 4 chunks; chunk c of row r lives at chunk c ^ ((r >> 1) & 3). Rows
//    r..r+7 (r a multiple of 8) then cover 2 x 4 distinct chunks of 128 bytes.
//  MN-major (A transposed, B not): 32 rows (k) x 128 m or n: 256-byte rows,
//    16 chunks; chunk c of row r lives at c ^ (r & 7).
template <bool KMajor>
struct Tile {
  static constexpr int kCols = KMajor ? kBK : kBM;
  static constexpr int kChunksPerRow = kCols / 8;
  __device__ static __forceinline__ uint32_t offset_bytes(int r, int chunk) {
    const int phys = KMajor ? (chunk ^ ((r >> 1) & 3)) : (chunk ^ (r & 7));
    return static_cast<uint32_t>((r * kCols + phys * 8) * 2);
  }
};

// This thread's chunks of a tile: chunk q = tid + i * 256, row q / chunks-per-row.
// Consecutive threads take consecutive 16-byte pieces of a stored row (coalesced).
template <bool KMajor>
__device__ __forceinline__ void chunk_coords(int tid, int i, int& r, int& ch) {
  const int q = tid + i * kThreads;
  r = q / Tile<KMajor>::kChunksPerRow;
  ch = q % Tile<KMajor>::kChunksPerRow;
}

// How many of the chunk's 8 elements lie inside the stored matrix (0..8).
__device__ __forceinline__ int chunk_valid(const Operand& o, int64_t row, int64_t col) {
  if (row >= o.rows || col >= o.cols) return 0;
  const int64_t left = o.cols - col;
  return left >= 8 ? 8 : static_cast<int>(left);
}

// Tile (row0, col0) of the stored matrix into smem by cp.async (bf16, aligned rows).
template <bool KMajor>
__device__ __forceinline__ void load_async(const Operand& o, uint32_t smem, int64_t row0, int64_t col0, int tid) {
#pragma unroll
  for (int i = 0; i < kChunksPerThread; ++i) {
    int r, ch;
    chunk_coords<KMajor>(tid, i, r, ch);
    const int64_t row = row0 + r, col = col0 + ch * 8;
    const int valid = chunk_valid(o, row, col);
    const void* src = valid ? static_cast<const void*>(static_cast<const __nv_bfloat16*>(o.p) + row * o.ld + col) : o.p;
    cp_async16(smem + Tile<KMajor>::offset_bytes(r, ch), src, valid * 2);
  }
}

// The same tile into registers, raw bits (fp32 bits, or bf16 bits in the low
// half); zeros past the edges. Not converted yet: converting would wait for the load.
template <bool KMajor>
__device__ __forceinline__ void load_regs(const Operand& o, int64_t row0, int64_t col0, int tid,
                                          uint32_t (&raw)[kChunksPerThread][8]) {
#pragma unroll
  for (int i = 0; i < kChunksPerThread; ++i) {
    int r, ch;
    chunk_coords<KMajor>(tid, i, r, ch);
    const int64_t row = row0 + r, col = col0 + ch * 8;
    const int valid = chunk_valid(o, row, col);
    const int64_t at = row * o.ld + col;
    if (o.bf16) {
      const uint16_t* p = static_cast<const uint16_t*>(o.p) + at;
#pragma unroll
      for (int e = 0; e < 8; ++e) raw[i][e] = e < valid ? p[e] : 0u;
    } else if (o.vec && valid == 8) {
      const float4* p = reinterpret_cast<const float4*>(static_cast<const float*>(o.p) + at);
      const float4 x = p[0], y = p[1];
      raw[i][0] = __float_as_uint(x.x), raw[i][1] = __float_as_uint(x.y), raw[i][2] = __float_as_uint(x.z),
      raw[i][3] = __float_as_uint(x.w), raw[i][4] = __float_as_uint(y.x), raw[i][5] = __float_as_uint(y.y),
      raw[i][6] = __float_as_uint(y.z), raw[i][7] = __float_as_uint(y.w);
    } else {
      const float* p = static_cast<const float*>(o.p) + at;
#pragma unroll
      for (int e = 0; e < 8; ++e) raw[i][e] = e < valid ? __float_as_uint(p[e]) : 0u;
    }
  }
}

// Two raw elements as a packed bf16 pair (first in the low half), fp32 rounded to nearest even.
__device__ __forceinline__ uint32_t pack_pair(bool bf16, uint32_t lo, uint32_t hi) {
  if (bf16) return lo | (hi << 16);
  const __nv_bfloat162 v = __floats2bfloat162_rn(__uint_as_float(lo), __uint_as_float(hi));  // .x: low half
  return *reinterpret_cast<const uint32_t*>(&v);
}

template <bool KMajor>
__device__ __forceinline__ void store_regs(bool bf16, uint32_t smem, int tid,
                                           const uint32_t (&raw)[kChunksPerThread][8]) {
#pragma unroll
  for (int i = 0; i < kChunksPerThread; ++i) {
    int r, ch;
    chunk_coords<KMajor>(tid, i, r, ch);
    st_shared_v4(smem + Tile<KMajor>::offset_bytes(r, ch), pack_pair(bf16, raw[i][0], raw[i][1]),
                 pack_pair(bf16, raw[i][2], raw[i][3]), pack_pair(bf16, raw[i][4], raw[i][5]),
                 pack_pair(bf16, raw[i][6], raw[i][7]));
  }
}

__device__ __forceinline__ void store_c(const MmaArgs& g, int64_t row, int64_t col, float v0, float v1) {
  if (row >= g.m || col >= g.n) return;
  const int64_t at = row * g.ldc + col;
  const bool two = col + 1 < g.n;
  if (g.c_bf16) {
    __nv_bfloat16* c = static_cast<__nv_bfloat16*>(g.c) + at;
    float o0 = g.alpha * v0, o1 = g.alpha * v1;
    if (g.beta != 0.0f) {
      o0 = fmaf(g.beta, __bfloat162float(c[0]), o0);
      if (two) o1 = fmaf(g.beta, __bfloat162float(c[1]), o1);
    }
    if (two && g.c_pair) {
      *reinterpret_cast<__nv_bfloat162*>(c) = __floats2bfloat162_rn(o0, o1);
    } else {
      c[0] = __float2bfloat16_rn(o0);
      if (two) c[1] = __float2bfloat16_rn(o1);
    }
  } else {
    float* c = static_cast<float*>(g.c) + at;
    float o0 = g.alpha * v0, o1 = g.alpha * v1;
    if (two && g.c_pair) {
      if (g.beta != 0.0f) {
        const float2 old = *reinterpret_cast<const float2*>(c);
        o0 = fmaf(g.beta, old.x, o0);
        o1 = fmaf(g.beta, old.y, o1);
      }
      *reinterpret_cast<float2*>(c) = make_float2(o0, o1);
    } else {
      if (g.beta != 0.0f) {
        o0 = fmaf(g.beta, c[0], o0);
        if (two) o1 = fmaf(g.beta, c[1], o1);
      }
      c[0] = o0;
      if (two) c[1] = o1;
    }
  }
}

// TA, TB: trans_a, trans_b. AsyncA, AsyncB: the operand takes the cp.async path.
template <bool TA, bool TB, bool AsyncA, bool AsyncB>
__global__ void __launch_bounds__(kThreads, (AsyncA && AsyncB) ? 2 : 1) mma_kernel(const MmaArgs g) {
  constexpr bool kAK = !TA;  // A's tile is K-major
  constexpr bool kBKm = TB;  // B's tile is K-major
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const uint32_t smem = smem_u32(smem_raw);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp >> 2, wn = warp & 3;  // warp tile: rows wm*64 .. +63, cols wn*32 .. +31

  // Blocks run in groups of 8 tile rows, column by column within a group, so the
  // blocks resident at once share A rows and B columns in L2.
  constexpr int kGroup = 8;
  const int bid = blockIdx.x, per_group = kGroup * g.tiles_n, first_m = (bid / per_group) * kGroup;
  const int group_rows = min(g.tiles_m - first_m, kGroup);
  const int tm = first_m + (bid % per_group) % group_rows, tn = (bid % per_group) / group_rows;
  const int64_t m0 = static_cast<int64_t>(tm) * kBM, n0 = static_cast<int64_t>(tn) * kBN;

  // Origin of k-tile kt in each stored matrix.
  auto a_row0 = [&](int kt) -> int64_t { return kAK ? m0 : static_cast<int64_t>(kt) * kBK; };
  auto a_col0 = [&](int kt) -> int64_t { return kAK ? static_cast<int64_t>(kt) * kBK : m0; };
  auto b_row0 = [&](int kt) -> int64_t { return kBKm ? n0 : static_cast<int64_t>(kt) * kBK; };
  auto b_col0 = [&](int kt) -> int64_t { return kBKm ? static_cast<int64_t>(kt) * kBK : n0; };
  auto a_smem = [&](int stage) -> uint32_t { return smem + stage * kStageBytes; };
  auto b_smem = [&](int stage) -> uint32_t { return smem + stage * kStageBytes + kTileBytes; };

  const int ktiles = static_cast<int>((g.k + kBK - 1) / kBK);
  uint32_t raw_a[kChunksPerThread][8], raw_b[kChunksPerThread][8];

  // Prologue: tiles 0 .. kStages-2, one cp.async group each (empty past the end,
  // so the group count stays uniform); register-path tiles are stored directly.
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < ktiles) {
      if constexpr (AsyncA) {
        load_async<kAK>(g.a, a_smem(s), a_row0(s), a_col0(s), tid);
      } else {
        load_regs<kAK>(g.a, a_row0(s), a_col0(s), tid, raw_a);
        store_regs<kAK>(g.a.bf16, a_smem(s), tid, raw_a);
      }
      if constexpr (AsyncB) {
        load_async<kBKm>(g.b, b_smem(s), b_row0(s), b_col0(s), tid);
      } else {
        load_regs<kBKm>(g.b, b_row0(s), b_col0(s), tid, raw_b);
        store_regs<kBKm>(g.b.bf16, b_smem(s), tid, raw_b);
      }
    }
    cp_async_commit();
  }

  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

  for (int kt = 0; kt < ktiles; ++kt) {
    // Groups committed so far: kStages-1 + kt; at most kStages-2 pending means tile kt has landed.
    cp_async_wait<kStages - 2>();
    // All threads' copies (and register stores) of tile kt are visible, and every
    // warp is done with tile kt-1, whose stage the loads below overwrite.
    __syncthreads();
    const int next = kt + kStages - 1, next_stage = next % kStages;
    const bool load_next = next < ktiles;
    if (load_next) {
      if constexpr (AsyncA)
        load_async<kAK>(g.a, a_smem(next_stage), a_row0(next), a_col0(next), tid);
      else
        load_regs<kAK>(g.a, a_row0(next), a_col0(next), tid, raw_a);
      if constexpr (AsyncB)
        load_async<kBKm>(g.b, b_smem(next_stage), b_row0(next), b_col0(next), tid);
      else
        load_regs<kBKm>(g.b, b_row0(next), b_col0(next), tid, raw_b);
    }
    cp_async_commit();

    const int stage = kt % kStages;
    const uint32_t as = a_smem(stage), bs = b_smem(stage);
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      uint32_t af[4][4], bfr[4][2];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        // Matrices 0..3 of the x4 = a0..a3 of m16 tile i (see mma_bf16 in ptx.cuh).
        if constexpr (kAK) {
          // Stored [m][k]: lane l gives row (l & 15), k chunk (l >> 4): matrices
          // (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15).
          const int r = wm * 64 + i * 16 + (lane & 15), ch = kk * 2 + (lane >> 4);
          ldsm_x4(af[i], as + Tile<true>::offset_bytes(r, ch));
        } else {
          // Stored [k][m], .trans: lane l gives k row (l & 7) + 8 (l >> 4), m chunk
          // + ((l >> 3) & 1): the same four 8 x 8 blocks, transposed on load.
          const int r = kk * 16 + (lane & 7) + ((lane >> 4) << 3), ch = (wm * 64 + i * 16) / 8 + ((lane >> 3) & 1);
          ldsm_x4_trans(af[i], as + Tile<false>::offset_bytes(r, ch));
        }
      }
#pragma unroll
      for (int p = 0; p < 2; ++p) {
        // One x4 covers n8 tiles 2p and 2p+1: registers = b0, b1 of tile 2p, then of tile 2p+1.
        const int nb = wn * 32 + p * 16;
        uint32_t r4[4];
        if constexpr (kBKm) {
          // Stored [n][k]: lane l gives n row nb + (l & 7) + 8 (l >> 4), k chunk + ((l >> 3) & 1).
          const int r = nb + (lane & 7) + ((lane >> 4) << 3), ch = kk * 2 + ((lane >> 3) & 1);
          ldsm_x4(r4, bs + Tile<true>::offset_bytes(r, ch));
        } else {
          // Stored [k][n], .trans: lane l gives k row (l & 15), n chunk nb / 8 + (l >> 4).
          const int r = kk * 16 + (lane & 15), ch = nb / 8 + (lane >> 4);
          ldsm_x4_trans(r4, bs + Tile<false>::offset_bytes(r, ch));
        }
        bfr[2 * p][0] = r4[0];
        bfr[2 * p][1] = r4[1];
        bfr[2 * p + 1][0] = r4[2];
        bfr[2 * p + 1][1] = r4[3];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) mma_bf16(acc[i][j], af[i], bfr[j][0], bfr[j][1]);
    }

    // Register-path tile kt + kStages-1 into the stage freed by tile kt-1 (see the barrier above).
    if (load_next) {
      if constexpr (!AsyncA) store_regs<kAK>(g.a.bf16, a_smem(next_stage), tid, raw_a);
      if constexpr (!AsyncB) store_regs<kBKm>(g.b.bf16, b_smem(next_stage), tid, raw_b);
    }
  }
  cp_async_wait<0>();

  // Epilogue: accumulator (i, j) holds rows g, g+8 and columns 2t, 2t+1 of the
  // 16 x 8 tile at (wm*64 + 16i, wn*32 + 8j); each element is written once.
  const int gr = lane >> 2, tc = (lane & 3) * 2;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t row = m0 + wm * 64 + i * 16 + gr, col = n0 + wn * 32 + j * 8 + tc;
      store_c(g, row, col, acc[i][j][0], acc[i][j][1]);
      store_c(g, row + 8, col, acc[i][j][2], acc[i][j][3]);
    }
  }
}

template <bool TA, bool TB, bool AsyncA, bool AsyncB>
void launch(const MmaArgs& a, unsigned blocks) {
  auto kernel = mma_kernel<TA, TB, AsyncA, AsyncB>;
  static bool configured = false;  // per instantiation; one host thread drives the device
  if (!configured) {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes),
          "gemm (own): allowing 64 KiB of shared memory");
    configured = true;
  }
  kernel<<<blocks, kThreads, kSmemBytes>>>(a);
}

template <bool TA, bool TB>
void launch_modes(const MmaArgs& a, unsigned blocks, bool async_a, bool async_b) {
  if (async_a && async_b)
    launch<TA, TB, true, true>(a, blocks);
  else if (async_a)
    launch<TA, TB, true, false>(a, blocks);
  else if (async_b)
    launch<TA, TB, false, true>(a, blocks);
  else
    launch<TA, TB, false, false>(a, blocks);
}

bool aligned(const void* p, uintptr_t n) { return reinterpret_cast<uintptr_t>(p) % n == 0; }

}  // namespace

namespace detail {

void gemm_mma(const GemmArgs& g) {
  MmaArgs a;
  a.a = Operand{g.a,
                g.lda,
                g.trans_a ? g.k : g.m,
                g.trans_a ? g.m : g.k,
                g.a_type == DType::BF16,
                g.a_type == DType::F32 && aligned(g.a, 16) && g.lda % 4 == 0};
  a.b = Operand{g.b,
                g.ldb,
                g.trans_b ? g.n : g.k,
                g.trans_b ? g.k : g.n,
                g.b_type == DType::BF16,
                g.b_type == DType::F32 && aligned(g.b, 16) && g.ldb % 4 == 0};
  a.c = g.c;
  a.ldc = g.ldc;
  a.m = g.m;
  a.n = g.n;
  a.k = g.k;
  a.alpha = g.alpha;
  a.beta = g.beta;
  a.c_bf16 = g.c_type == DType::BF16;
  a.c_pair = aligned(g.c, a.c_bf16 ? 4 : 8) && g.ldc % 2 == 0;
  const int64_t tiles_m = (g.m + kBM - 1) / kBM, tiles_n = (g.n + kBN - 1) / kBN;
  if (tiles_m * tiles_n > 2147483647 || tiles_n > (1 << 27) || g.k > 2147483647LL * kBK)
    throw Error(ErrorKind::Argument, "gemm (own): expected at most 2^31 - 1 tiles of 128 x 128, got m = " +
                                         std::to_string(g.m) + ", n = " + std::to_string(g.n));
  a.tiles_m = static_cast<int>(tiles_m);
  a.tiles_n = static_cast<int>(tiles_n);
  // cp.async moves 16-byte chunks: bf16 storage, a 16-byte-aligned base and rows a multiple of 8 elements apart.
  const bool async_a = a.a.bf16 && aligned(g.a, 16) && g.lda % 8 == 0;
  const bool async_b = a.b.bf16 && aligned(g.b, 16) && g.ldb % 8 == 0;
  const unsigned blocks = static_cast<unsigned>(tiles_m * tiles_n);
  if (!g.trans_a && !g.trans_b)
    launch_modes<false, false>(a, blocks, async_a, async_b);
  else if (!g.trans_a && g.trans_b)
    launch_modes<false, true>(a, blocks, async_a, async_b);
  else if (g.trans_a && !g.trans_b)
    launch_modes<true, false>(a, blocks, async_a, async_b);
  else
    launch_modes<true, true>(a, blocks, async_a, async_b);
  check_launch("gemm (own, mma.sync)");
}

}  // namespace detail
}  // namespace genrm::cuda
