// cuda::gemm: validation, the degenerate cases, the engine choice, and the SIMT
// fp32 kernel, the reference every other engine is tested against and the
// fallback for anything. It favours being obviously right over speed: smem
// tiles of op(A) and op(B), one fp32 FMA chain per element of C in k order.
#include <cuda_bf16.h>

#include <algorithm>
#include <string>

#include "../core/error.h"
#include "check.h"
#include "gemm_impl.h"
#include "launch.cuh"

namespace genrm::cuda {
namespace {

__device__ __forceinline__ float load_elem(const void* p, bool bf16, int64_t i) {
  if (bf16) return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
  return static_cast<const float*>(p)[i];
}

__device__ __forceinline__ void store_elem(void* p, bool bf16, int64_t i, float v) {
  if (bf16) {
    static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
  } else {
    static_cast<float*>(p)[i] = v;
  }
}

// C = beta * C (beta == 0: zeros, C not read): the k == 0 and alpha == 0 cases.
__global__ void scale_kernel(void* c, bool c_bf16, int64_t ldc, int64_t m, int64_t n, float beta) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= m * n) return;
  const int64_t at = (i / n) * ldc + i % n;
  store_elem(c, c_bf16, at, beta == 0.0f ? 0.0f : beta * load_elem(c, c_bf16, at));
}

// 64x64 tile of C per block of 256 threads, 4x4 elements per thread, k in steps of 16.
constexpr int kSimtTile = 64, kSimtK = 16;

struct SimtArgs {
  bool trans_a, trans_b, a_bf16, b_bf16, c_bf16;
  int64_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
  const void* a;
  const void* b;
  void* c;
};

__global__ void __launch_bounds__(256) simt_kernel(SimtArgs g) {
  // +4: rows of 68 floats keep the 16-byte alignment of the float4 reads below.
  __shared__ __align__(16) float as[kSimtK][kSimtTile + 4];  // as[p][i] = op(A)[m0 + i][k0 + p]
  __shared__ __align__(16) float bs[kSimtK][kSimtTile + 4];  // bs[p][j] = op(B)[k0 + p][n0 + j]
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kSimtTile, n0 = static_cast<int64_t>(blockIdx.x) * kSimtTile;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < g.k; k0 += kSimtK) {
    // 1,024 elements of each tile, 4 per thread; consecutive threads walk the
    // stored row (k for A, m for A^T) so the loads coalesce.
    for (int e = tid; e < kSimtK * kSimtTile; e += 256) {
      const int p = g.trans_a ? e / kSimtTile : e % kSimtK, i = g.trans_a ? e % kSimtTile : e / kSimtK;
      const int64_t row = m0 + i, col = k0 + p;
      float v = 0.0f;
      if (row < g.m && col < g.k) v = load_elem(g.a, g.a_bf16, g.trans_a ? col * g.lda + row : row * g.lda + col);
      as[p][i] = v;
    }
    for (int e = tid; e < kSimtK * kSimtTile; e += 256) {
      const int p = g.trans_b ? e % kSimtK : e / kSimtTile, j = g.trans_b ? e / kSimtK : e % kSimtTile;
      const int64_t row = k0 + p, col = n0 + j;
      float v = 0.0f;
      if (row < g.k && col < g.n) v = load_elem(g.b, g.b_bf16, g.trans_b ? col * g.ldb + row : row * g.ldb + col);
      bs[p][j] = v;
    }
    __syncthreads();
#pragma unroll
    for (int p = 0; p < kSimtK; ++p) {
      const float4 av = *reinterpret_cast<const float4*>(&as[p][ty * 4]);
      const float4 bv = *reinterpret_cast<const float4*>(&bs[p][tx * 4]);
      const float ar[4] = {av.x, av.y, av.z, av.w}, br[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i) {
    const int64_t row = m0 + ty * 4 + i;
    if (row >= g.m) continue;
    for (int j = 0; j < 4; ++j) {
      const int64_t col = n0 + tx * 4 + j;
      if (col >= g.n) continue;
      const int64_t at = row * g.ldc + col;
      float out = g.alpha * acc[i][j];
      if (g.beta != 0.0f) out = fmaf(g.beta, load_elem(g.c, g.c_bf16, at), out);
      store_elem(g.c, g.c_bf16, at, out);
    }
  }
}

}  // namespace

namespace detail {

void gemm_simt(const GemmArgs& g) {
  const SimtArgs s{g.trans_a,
                   g.trans_b,
                   g.a_type == DType::BF16,
                   g.b_type == DType::BF16,
                   g.c_type == DType::BF16,
                   g.m,
                   g.n,
                   g.k,
                   g.lda,
                   g.ldb,
                   g.ldc,
                   g.alpha,
                   g.beta,
                   g.a,
                   g.b,
                   g.c};
  const int64_t tiles_m = (g.m + kSimtTile - 1) / kSimtTile, tiles_n = (g.n + kSimtTile - 1) / kSimtTile;
  if (tiles_m > 65535) throw_arg("m", "at most " + std::to_string(65535 * kSimtTile) + " for the SIMT GEMM", g.m);
  if (tiles_n > 2147483647) throw_arg("n", "at most 2^31 - 1 tiles of 64 for the SIMT GEMM", g.n);
  simt_kernel<<<dim3(static_cast<unsigned>(tiles_n), static_cast<unsigned>(tiles_m)), 256>>>(s);
  check_launch("gemm (SIMT)");
}

}  // namespace detail

void validate_gemm(const GemmArgs& g) {
  if (g.m < 0) throw_arg("m", "a non-negative integer", g.m);
  if (g.n < 0) throw_arg("n", "a non-negative integer", g.n);
  if (g.k < 0) throw_arg("k", "a non-negative integer", g.k);
  const int64_t a_cols = std::max<int64_t>(1, g.trans_a ? g.m : g.k),
                b_cols = std::max<int64_t>(1, g.trans_b ? g.k : g.n), c_cols = std::max<int64_t>(1, g.n);
  if (g.lda < a_cols) throw_arg("lda", ">= " + std::to_string(a_cols), g.lda);
  if (g.ldb < b_cols) throw_arg("ldb", ">= " + std::to_string(b_cols), g.ldb);
  if (g.ldc < c_cols) throw_arg("ldc", ">= " + std::to_string(c_cols), g.ldc);
  if (g.m > 0 && g.n > 0 && !g.c) throw Error(ErrorKind::Argument, "c: expected a device buffer, got null");
  if (g.m > 0 && g.n > 0 && g.k > 0 && (!g.a || !g.b))
    throw Error(ErrorKind::Argument, std::string(!g.a ? "a" : "b") + ": expected a device buffer, got null");
}

bool have_cublas() {
#ifdef GENRM_CUBLAS
  return true;
#else
  return false;
#endif
}

const char* gemm_engine_name(GemmEngine e) {
  switch (e) {
    case GemmEngine::Auto: return "auto";
    case GemmEngine::Own: return "own";
    case GemmEngine::Cublas: return "cublas";
    case GemmEngine::Simt: return "simt";
  }
  return "unknown";
}

void gemm_reserve(const GemmArgs& g, GemmEngine engine) {
#ifdef GENRM_CUBLAS
  if ((engine == GemmEngine::Cublas || engine == GemmEngine::Auto) && g.m > 0 && g.n > 0 && g.k > 0 && g.alpha != 0.0f)
    detail::gemm_cublas_reserve(g);
#else
  (void)g;
  (void)engine;
#endif
}

void gemm(const GemmArgs& g, GemmEngine engine) {
  validate_gemm(g);
  if (engine == GemmEngine::Cublas && !have_cublas())
    throw Error(ErrorKind::Argument, "engine: expected auto, own or simt, got cublas (this build has no cuBLAS)");
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0 || g.alpha == 0.0f) {
    const int64_t total = g.m * g.n;
    scale_kernel<<<blocks_for(total), kThreads>>>(g.c, g.c_type == DType::BF16, g.ldc, g.m, g.n, g.beta);
    check_launch("gemm (C = beta C)");
    return;
  }
  switch (engine) {
    case GemmEngine::Simt: detail::gemm_simt(g); return;
    case GemmEngine::Own: detail::gemm_mma(g); return;
    case GemmEngine::Cublas:
    case GemmEngine::Auto:
#ifdef GENRM_CUBLAS
      detail::gemm_cublas(g);
#else
      detail::gemm_mma(g);
#endif
      return;
  }
}

}  // namespace genrm::cuda
