// Cache-blocked GEMM in the BLIS style: for each (NC column block, KC depth block)
// B is packed once into NR-wide panels shared by all threads; each task packs an
// MC x KC block of A into MR-high panels (kept in L2) and sweeps the micro-kernel
// over its tiles. Tasks split M blocks, and also N when M is too short to feed
// every thread (decoding, small batches). Short and wide products take
// gemm_wide's loop order instead (below). Packing and the kernels are chosen by
// isa; the AVX2 packers serve the AVX-512 kernel too (AVX-512 implies AVX2 here).
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "../core/error.h"
#include "../core/thread_pool.h"
#include "gemm_kernels.h"

namespace genrm::cpu {
namespace {

constexpr int64_t kKc = 256;   // depth block: one B panel (KC x 16 floats = 16 KiB) stays in L1
constexpr int64_t kMc = 144;   // A block 144 x 256 floats = 144 KiB, in L2 (512 KiB on Zen 3)
constexpr int64_t kNc = 3072;  // B block 256 x 3072 floats = 3 MiB, in L3

constexpr int64_t kWideMaxM = 768;  // gemm_wide's packed A block: up to 768 x 256 floats = 768 KiB
std::atomic<uint64_t> g_region{0};  // numbers each parallel region of packed A blocks

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

// Grow-only 64-byte-aligned scratch, one per thread, reused across calls.
float* scratch(std::unique_ptr<float[], AlignedFree>& buf, size_t& cap, size_t n) {
  if (n > cap) {
    size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
    float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!p)
      throw Error(ErrorKind::Runtime,
                  "gemm: out of memory for a packing buffer of " + std::to_string(bytes) + " bytes");
    buf.reset(p);
    cap = n;
  }
  return buf.get();
}

float* a_scratch(size_t n) {
  thread_local std::unique_ptr<float[], AlignedFree> buf;
  thread_local size_t cap = 0;
  return scratch(buf, cap, n);
}

float* b_scratch(size_t n) {
  thread_local std::unique_ptr<float[], AlignedFree> buf;
  thread_local size_t cap = 0;
  return scratch(buf, cap, n);
}

// Packs rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into MR-high panels,
// each laid out k-major (MR values per k), zero-padded past mc.
// simd: the AVX2 packers (same layout), for the AVX2 and AVX-512 kernels' widths.
void pack_a(const GemmArgs& g, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, bool simd, float* out) {
  if (simd) {
    if (!g.trans_a)
      pack_transposed_avx2(g.a + i0 * g.lda + p0, g.lda, mc, kc, mr, out);
    else
      pack_copied_avx2(g.a + p0 * g.lda + i0, g.lda, mc, kc, mr, out);
    return;
  }
  for (int64_t ir = 0; ir < mc; ir += mr) {
    int64_t rows = std::min<int64_t>(mr, mc - ir);
    if (!g.trans_a) {
      for (int64_t r = 0; r < rows; ++r) {
        const float* src = g.a + (i0 + ir + r) * g.lda + p0;
        for (int64_t p = 0; p < kc; ++p) out[p * mr + r] = src[p];
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = g.a + (p0 + p) * g.lda + i0 + ir;
        for (int64_t r = 0; r < rows; ++r) out[p * mr + r] = src[r];
      }
    }
    if (rows < mr)
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t r = rows; r < mr; ++r) out[p * mr + r] = 0.0f;
    out += kc * mr;
  }
}

// Packs NR-wide panels [panel_begin, panel_end) of the kc x nc block of op(B)
// starting at (p0, j0) to out (the first at out); each panel is k-major (NR
// values per k), zero-padded.
void pack_b(const GemmArgs& g, int64_t j0, int64_t nc, int64_t p0, int64_t kc, int nr, int64_t panel_begin,
            int64_t panel_end, bool simd, float* out) {
  if (simd && panel_begin < panel_end) {
    const int64_t jb = j0 + panel_begin * nr, cols = std::min(nc - panel_begin * nr, (panel_end - panel_begin) * nr);
    if (!g.trans_b)
      pack_copied_avx2(g.b + p0 * g.ldb + jb, g.ldb, cols, kc, nr, out);
    else
      pack_transposed_avx2(g.b + jb * g.ldb + p0, g.ldb, cols, kc, nr, out);
    return;
  }
  for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
    int64_t jr = panel * nr;
    int64_t cols = std::min<int64_t>(nr, nc - jr);
    float* dst = out + (panel - panel_begin) * kc * nr;
    if (!g.trans_b) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = g.b + (p0 + p) * g.ldb + j0 + jr;
        float* d = dst + p * nr;
        for (int64_t j = 0; j < cols; ++j) d[j] = src[j];
        for (int64_t j = cols; j < nr; ++j) d[j] = 0.0f;
      }
    } else {
      for (int64_t j = 0; j < cols; ++j) {
        const float* src = g.b + (j0 + jr + j) * g.ldb + p0;
        for (int64_t p = 0; p < kc; ++p) dst[p * nr + j] = src[p];
      }
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t j = cols; j < nr; ++j) dst[p * nr + j] = 0.0f;
    }
  }
}

// One MR x NR tile of C += the product of an A panel and a B panel; tiles cut by
// the edge of C go through a scratch tile (the same arithmetic, then a copy).
void tile(const GemmKernelInfo& kern, int64_t kc, const float* apanel, int64_t a_step, const float* bpanel, float* c,
          int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta) {
  if (rows == kern.mr && cols == kern.nr) {
    kern.fn(kc, apanel, a_step, bpanel, kern.nr, c, ldc, alpha, beta);
    return;
  }
  alignas(64) float edge[16 * 32];
  kern.fn(kc, apanel, a_step, bpanel, kern.nr, edge, kern.nr, 1.0f, 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      const float v = alpha * edge[r * kern.nr + j];
      c[r * ldc + j] = beta == 0.0f ? v : v + beta * c[r * ldc + j];
    }
}

float* panel_scratch(size_t n) {
  thread_local std::unique_ptr<float[], AlignedFree> buf;
  thread_local size_t cap = 0;
  return scratch(buf, cap, n);
}

// Short and wide products (M <= kWideMaxM: the lm_head over a chunk of rows,
// weight gradients): all of op(A)'s kc-deep block is packed once and stays in
// L2, and each thread packs one B panel at a time right before the kernel
// sweeps it down the whole of M, so B goes from memory to L1 once, with no
// shared packed copy written out and read back. Same blocking over K as the
// general path, so every element of C gets the same bits either way.
void gemm_wide(const GemmArgs& g, const GemmKernelInfo& kern, bool simd) {
  const int mr = kern.mr, nr = kern.nr;
  const int64_t n_panels = (g.n + nr - 1) / nr, m_panels = (g.m + mr - 1) / mr;
  const bool direct_a = simd && g.trans_a && g.m % mr == 0;
  for (int64_t p0 = 0; p0 < g.k; p0 += kKc) {
    const int64_t kc = std::min(kKc, g.k - p0);
    const float beta = p0 == 0 ? g.beta : 1.0f;
    float* ap = nullptr;
    if (!direct_a) {
      ap = b_scratch(static_cast<size_t>(m_panels * kc * mr));
      parallel_for(m_panels, [&](int64_t b, int64_t e, int) {
        pack_a(g, b * mr, std::min(g.m, e * mr) - b * mr, p0, kc, mr, simd, ap + b * kc * mr);
      });
    }
    parallel_for(n_panels, [&](int64_t b, int64_t e, int) {
      float* bpanel = panel_scratch(static_cast<size_t>(kc * nr));
      for (int64_t panel = b; panel < e; ++panel) {
        const int64_t jr = panel * nr, cols = std::min<int64_t>(nr, g.n - jr);
        pack_b(g, 0, g.n, p0, kc, nr, panel, panel + 1, simd, bpanel);
        for (int64_t ip = 0; ip < m_panels; ++ip) {
          const int64_t i = ip * mr;
          const float* apanel = direct_a ? g.a + p0 * g.lda + i : ap + ip * kc * mr;
          tile(kern, kc, apanel, direct_a ? g.lda : mr, bpanel, g.c + i * g.ldc + jr, g.ldc,
               std::min<int64_t>(mr, g.m - i), cols, g.alpha, beta);
        }
      }
    });
  }
}

void scale_c(const GemmArgs& g) {
  // K == 0: C = beta * C (and beta == 0 writes zeros without reading).
  for (int64_t i = 0; i < g.m; ++i) {
    float* c = g.c + i * g.ldc;
    if (g.beta == 0.0f)
      std::memset(c, 0, sizeof(float) * g.n);
    else
      for (int64_t j = 0; j < g.n; ++j) c[j] *= g.beta;
  }
}

}  // namespace

void validate_gemm(const GemmArgs& g) {
  if (g.m < 0) throw_arg("m", "a non-negative integer", g.m);
  if (g.n < 0) throw_arg("n", "a non-negative integer", g.n);
  if (g.k < 0) throw_arg("k", "a non-negative integer", g.k);
  int64_t a_cols = g.trans_a ? g.m : g.k, b_cols = g.trans_b ? g.k : g.n;
  if (g.lda < std::max<int64_t>(1, a_cols))
    throw_arg("lda", ">= " + std::to_string(std::max<int64_t>(1, a_cols)), g.lda);
  if (g.ldb < std::max<int64_t>(1, b_cols))
    throw_arg("ldb", ">= " + std::to_string(std::max<int64_t>(1, b_cols)), g.ldb);
  if (g.ldc < std::max<int64_t>(1, g.n)) throw_arg("ldc", ">= " + std::to_string(std::max<int64_t>(1, g.n)), g.ldc);
  if (g.m > 0 && g.n > 0 && !g.c) throw Error(ErrorKind::Argument, "c: expected a buffer, got null");
  if (g.m > 0 && g.n > 0 && g.k > 0 && (!g.a || !g.b))
    throw Error(ErrorKind::Argument, "a, b: expected buffers, got null");
}

void gemm(const GemmArgs& g, Isa isa) {
  validate_gemm(g);
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0 || g.alpha == 0.0f) {
    scale_c(g);
    return;
  }
  if (!isa_supported(isa))
    throw Error(ErrorKind::Argument, std::string("isa: this CPU does not support \"") + isa_name(isa) + "\"");
  const GemmKernelInfo kern = isa == Isa::Avx512 ? gemm_kernel_avx512()
                              : isa == Isa::Avx2 ? gemm_kernel_avx2()
                                                 : gemm_kernel_portable();
  const int mr = kern.mr, nr = kern.nr;
  const auto simd_width = [](int w) { return w == 6 || w % 8 == 0; };
  const bool simd = isa != Isa::Portable && simd_width(mr) && simd_width(nr);
  if (simd && g.m <= kWideMaxM && g.n >= 8 * nr) return gemm_wide(g, kern, simd);
  const int threads = num_threads();

  for (int64_t j0 = 0; j0 < g.n; j0 += kNc) {
    const int64_t nc = std::min(kNc, g.n - j0);
    const int64_t n_panels = (nc + nr - 1) / nr;
    for (int64_t p0 = 0; p0 < g.k; p0 += kKc) {
      const int64_t kc = std::min(kKc, g.k - p0);
      const float beta = p0 == 0 ? g.beta : 1.0f;
      float* bp = b_scratch(static_cast<size_t>(n_panels * kc * nr));
      parallel_for(n_panels, [&](int64_t begin, int64_t end, int) {
        pack_b(g, j0, nc, p0, kc, nr, begin, end, simd, bp + begin * kc * nr);
      });

      // Split M into equal blocks of at most kMc rows (multiples of MR), and the
      // panels of N into groups so there are a few tasks per thread: uneven
      // blocks (say 144 + 112 rows on 2 threads) would leave a core idle.
      const int64_t m_blocks = (g.m + kMc - 1) / kMc;
      const int64_t mc_step = ((g.m + m_blocks - 1) / m_blocks + mr - 1) / mr * mr;
      int64_t n_groups = 1;
      if (m_blocks < 4 * threads) n_groups = std::min<int64_t>(n_panels, (4 * threads + m_blocks - 1) / m_blocks);
      const int64_t tasks = m_blocks * n_groups;
      // A thread runs its tasks in several pieces (the pool steals work), so the
      // A block it packed last is remembered across pieces of this region.
      const uint64_t region = g_region.fetch_add(1, std::memory_order_relaxed) + 1;
      parallel_for(tasks, [&](int64_t t_begin, int64_t t_end, int) {
        float* ap = a_scratch(static_cast<size_t>(mc_step * kc));
        thread_local uint64_t packed_region = 0;
        thread_local int64_t packed_block = -1;
        if (packed_region != region) {
          packed_region = region;
          packed_block = -1;
        }
        for (int64_t t = t_begin; t < t_end; ++t) {
          const int64_t mb = t / n_groups, ng = t % n_groups;
          const int64_t i0 = mb * mc_step, mc = std::min(mc_step, g.m - i0);
          if (mc <= 0) continue;
          // op(A) = A^T: each k of an MR-row panel is MR contiguous floats of one
          // row of A already, so the kernel reads A where it lies (lda apart)
          // instead of copying it; edge panels (mc not a multiple of MR) are packed.
          const bool direct_a = simd && g.trans_a && mc % mr == 0;
          if (!direct_a && packed_block != mb) {
            pack_a(g, i0, mc, p0, kc, mr, simd, ap);
            packed_block = mb;
          }
          const int64_t panel_begin = n_panels * ng / n_groups, panel_end = n_panels * (ng + 1) / n_groups;
          for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
            const int64_t jr = panel * nr, cols = std::min<int64_t>(nr, nc - jr);
            const float* bpanel = bp + panel * kc * nr;
            for (int64_t ir = 0; ir < mc; ir += mr) {
              const int64_t rows = std::min<int64_t>(mr, mc - ir);
              const float* apanel = direct_a ? g.a + p0 * g.lda + i0 + ir : ap + (ir / mr) * kc * mr;
              const int64_t a_step = direct_a ? g.lda : mr;
              tile(kern, kc, apanel, a_step, bpanel, g.c + (i0 + ir) * g.ldc + j0 + jr, g.ldc, rows, cols, g.alpha,
                   beta);
            }
          }
        }
      });
    }
  }
}

void gemm_rowwise_nt(const GemmArgs& g, Isa isa) {
  validate_gemm(g);
  if (!g.trans_b || g.trans_a) throw Error(ErrorKind::Argument, "gemm_rowwise_nt: expected transB without transA");
  if (!isa_supported(isa))
    throw Error(ErrorKind::Argument, std::string("isa: this CPU does not support \"") + isa_name(isa) + "\"");
  if (g.m == 0 || g.n == 0) return;
  parallel_for((g.n + 63) / 64, [&](int64_t b0, int64_t b1, int) {
    const int64_t j0 = b0 * 64, j1 = std::min(g.n, b1 * 64);
    if (isa != Isa::Portable) {
      gemm_small_nt_avx2(g.m, j0, j1, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc);
      return;
    }
    for (int64_t j = j0; j < j1; ++j)
      for (int64_t i = 0; i < g.m; ++i) {
        const float* ai = g.a + i * g.lda;
        const float* bj = g.b + j * g.ldb;
        float s = 0;
        for (int64_t p = 0; p < g.k; ++p) s += ai[p] * bj[p];
        float* c = g.c + i * g.ldc + j;
        *c = g.beta == 0.0f ? g.alpha * s : g.alpha * s + g.beta * *c;
      }
  });
}

}  // namespace genrm::cpu
