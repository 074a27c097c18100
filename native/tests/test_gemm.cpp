// GEMM properties beyond the table of ops' parity check (op_gemm): padded row
// strides (the padding is never written), several thread counts (results must be
// bitwise identical), NaN in an ignored C, k = 0, bad strides, and the rowwise
// kernel's independence from other rows.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "../core/thread_pool.h"
#include "../cpu/gemm.h"
#include "harness.h"

using namespace genrm;
using genrm::cpu::GemmArgs;

namespace {

struct Problem {
  bool ta, tb;
  int64_t m, n, k, pad;
  float alpha, beta;
};

struct Buffers {
  std::vector<float> a, b, c0;
  GemmArgs args;
};

Buffers make(const Problem& p, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Buffers out;
  GemmArgs& g = out.args;
  g.trans_a = p.ta;
  g.trans_b = p.tb;
  g.m = p.m;
  g.n = p.n;
  g.k = p.k;
  g.alpha = p.alpha;
  g.beta = p.beta;
  int64_t a_rows = p.ta ? p.k : p.m, a_cols = p.ta ? p.m : p.k;
  int64_t b_rows = p.tb ? p.n : p.k, b_cols = p.tb ? p.k : p.n;
  g.lda = std::max<int64_t>(1, a_cols) + p.pad;
  g.ldb = std::max<int64_t>(1, b_cols) + p.pad;
  g.ldc = std::max<int64_t>(1, p.n) + p.pad;
  out.a.resize(std::max<int64_t>(1, a_rows * g.lda));
  out.b.resize(std::max<int64_t>(1, b_rows * g.ldb));
  out.c0.resize(std::max<int64_t>(1, p.m * g.ldc));
  for (float& x : out.a) x = u(rng);
  for (float& x : out.b) x = u(rng);
  for (float& x : out.c0) x = u(rng);
  return out;
}

std::vector<float> run(Buffers& buf, bool reference, Isa isa) {
  std::vector<float> c = buf.c0;
  GemmArgs g = buf.args;
  g.a = buf.a.data();
  g.b = buf.b.data();
  g.c = c.data();
  if (reference)
    cpu::gemm_reference(g);
  else
    cpu::gemm(g, isa);
  return c;
}

const Problem kProblems[] = {
    {false, false, 1, 1, 1, 0, 1.0f, 0.0f},
    {false, true, 7, 5, 3, 0, 1.0f, 0.0f},
    {true, false, 13, 17, 19, 3, 0.5f, 0.0f},
    {true, true, 6, 16, 256, 0, 1.0f, 1.0f},
    {false, true, 150, 70, 300, 1, 1.0f, -0.5f},
    {false, false, 290, 33, 513, 0, 2.0f, 0.25f},
    {true, true, 64, 3100, 40, 2, 1.0f, 0.0f},
    {false, true, 1, 300, 129, 0, 1.0f, 0.0f},
    {true, false, 200, 1, 77, 5, -1.0f, 1.0f},
    {false, true, 3, 70, 37, 2, 0.5f, 1.0f},
    {false, true, 4, 130, 16, 0, 1.0f, 0.0f},
    // short and wide (the lm_head, weight gradients): M a multiple of every MR, and not
    {true, false, 528, 700, 300, 1, 1.0f, 0.5f},
    {false, true, 517, 300, 513, 0, 1.0f, 0.0f},
};

}  // namespace

TEST(gemm_padded_strides_match_reference_and_leave_padding) {
  uint32_t seed = 1;
  for (const Problem& p : kProblems) {
    if (p.pad == 0) continue;  // contiguous shapes: op_gemm
    Buffers buf = make(p, seed++);
    std::vector<float> ref = run(buf, true, Isa::Portable);
    for (Isa isa : supported_isas()) {
      std::vector<float> got = run(buf, false, isa);
      double max_err = 0;
      for (int64_t i = 0; i < p.m; ++i)
        for (int64_t j = 0; j < p.n + p.pad; ++j) {
          size_t idx = i * buf.args.ldc + j;
          if (j >= p.n) {  // padding columns must be untouched
            CHECK(got[idx] == buf.c0[idx]);
            continue;
          }
          double tol = 1e-5 * (std::sqrt(static_cast<double>(p.k)) + 1) * 4;
          max_err = std::max(max_err, std::fabs(got[idx] - ref[idx]) / tol);
        }
      CHECK(max_err <= 1.0);
    }
  }
}

TEST(gemm_bitwise_identical_across_thread_counts) {
  // Both loop schemes: tall (M > 768) and short-and-wide, the latter with A^T read in place.
  const Problem problems[] = {{false, true, 900, 200, 300, 0, 1.0f, 0.0f}, {true, false, 264, 700, 600, 0, 1.0f, 0.0f}};
  int saved = num_threads();
  for (const Problem& p : problems) {
    Buffers buf = make(p, 42);
    for (Isa isa : supported_isas()) {
      set_num_threads(1);
      std::vector<float> one = run(buf, false, isa);
      for (int t : {2, 3, 5}) {
        set_num_threads(t);
        std::vector<float> many = run(buf, false, isa);
        CHECK(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)) == 0);
      }
    }
  }
  set_num_threads(saved);
}

TEST(gemm_beta_zero_ignores_nan_in_c) {
  Problem p{false, false, 9, 20, 11, 0, 1.0f, 0.0f};
  Buffers buf = make(p, 7);
  for (float& x : buf.c0) x = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : supported_isas()) {
    std::vector<float> got = run(buf, false, isa);
    for (float x : got) CHECK(std::isfinite(x));
  }
}

TEST(gemm_k_zero_scales_c) {
  Problem p{false, false, 4, 5, 0, 0, 1.0f, 0.5f};
  Buffers buf = make(p, 9);
  std::vector<float> got = run(buf, false, default_isa());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == buf.c0[i] * 0.5f);
}

TEST(gemm_rejects_bad_strides) {
  GemmArgs g;
  g.m = 2;
  g.n = 3;
  g.k = 4;
  std::vector<float> a(8), b(12), c(6);
  g.a = a.data();
  g.b = b.data();
  g.c = c.data();
  g.lda = 3;  // must be >= k
  g.ldb = 3;
  g.ldc = 3;
  CHECK_THROWS(cpu::gemm(g));
  g.lda = 4;
  g.m = -1;
  CHECK_THROWS(cpu::gemm(g));
}

TEST(gemm_rowwise_matches_reference_and_ignores_other_rows) {
  for (Isa isa : supported_isas()) {
    Problem p{false, true, 9, 77, 131, 1, 1.0f, 0.5f};
    Buffers buf = make(p, 21);
    std::vector<float> ref = run(buf, true, isa);
    std::vector<float> got = buf.c0;
    GemmArgs g = buf.args;
    g.a = buf.a.data();
    g.b = buf.b.data();
    g.c = got.data();
    cpu::gemm_rowwise_nt(g, isa);
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j) CHECK(std::fabs(got[i * g.ldc + j] - ref[i * g.ldc + j]) < 1e-4);
    // Row 4 alone gives the same bits as row 4 among nine.
    std::vector<float> one(buf.c0.begin() + 4 * g.ldc, buf.c0.begin() + 5 * g.ldc);
    GemmArgs g1 = g;
    g1.m = 1;
    g1.a = buf.a.data() + 4 * g.lda;
    g1.c = one.data();
    cpu::gemm_rowwise_nt(g1, isa);
    CHECK(std::memcmp(one.data(), got.data() + 4 * g.ldc, sizeof(float) * p.n) == 0);
  }
}
