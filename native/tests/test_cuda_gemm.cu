// cuda::gemm against cpu::gemm_reference (double accumulation) for every engine
// (Simt, Own, and Cublas when the build has it), every transpose combination,
// fp32/bf16 storage of A, B and C, shapes that are no multiple of any tile,
// strided and misaligned submatrices, alpha/beta. Stride padding holds NaN and
// must never be read; with beta == 0 C starts as NaN and must never be read;
// the padding of C must come back bit for bit.
//
// Tolerance, per element (a bound, not a guess, so a pass is not luck and a
// wrong element mapping, of the order of one product or more, cannot hide):
//   |got - ref| <= |alpha| S (K u_acc + u_in) + 2^-22 (|alpha| S + |beta c|) + [C bf16] 2^-8 |ref|
// with S = sum_p |a_ip b_pj| (the reference run on |A|, |B|). K u_acc bounds
// fp32 accumulation of K terms in any order: the worst case of round-to-nearest
// is about K 2^-24; Simt gets K 2^-23, the tensor-core engines K 2^-22 (their
// adders may truncate). Tensor-core engines are compared with a reference on
// inputs rounded to bf16, so their products are exact and u_in = 0, except
// cuBLAS on fp32 operands (COMPUTE_32F_FAST_16BF rounds inside cuBLAS, possibly
// otherwise than to nearest even, or to TF32): u_in = 2^-6, one bf16 ulp on each
// factor. 2^-22 covers the alpha and beta roundings; a bf16 C adds its own
// rounding, at most 2^-8 relative (8 significant bits). cuBLAS with a bf16 C
// and beta != 0 rounds twice: alpha * acc to bf16, then the sum with beta * C
// (on the H200, 64x1000x96 with beta 1: acc -2.07243 became -2.078125, and
// + 2.046875 gave -0.03125 for -0.025555), so it gets 2^-8 |alpha acc| more.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../cpu/gemm.h"
#include "../cuda/gemm.h"
#include "cuda_util.cuh"

using namespace genrm;
using cuda::DType;
using cuda::GemmEngine;
using test::Dev;
using test::have_device;

namespace {

// A host matrix and its device copy in the chosen storage type.
struct Mat {
  std::vector<float> host;  // what was stored (bf16 storage: the rounded values)
  DType type = DType::F32;
  std::unique_ptr<Dev<float>> f;
  std::unique_ptr<Dev<uint16_t>> h;
  size_t offset = 0;  // elements skipped at the front (misaligned base)

  Mat(std::vector<float> v, DType t, size_t off) : type(t), offset(off) {
    std::vector<float> padded(off, 0.0f);
    padded.insert(padded.end(), v.begin(), v.end());
    if (t == DType::BF16) {
      h = std::make_unique<Dev<uint16_t>>(test::to_bf16_bits(padded));
      host = test::round_bf16(v);
    } else {
      f = std::make_unique<Dev<float>>(padded);
      host = std::move(v);
    }
  }
  void* ptr() const { return f ? static_cast<void*>(f->p + offset) : static_cast<void*>(h->p + offset); }
  std::vector<float> download() const {
    std::vector<float> all = f ? f->host() : test::from_bf16_bits(h->host());
    return std::vector<float>(all.begin() + offset, all.end());
  }
  std::vector<uint32_t> bits() const {  // the raw device bits, for the padding check
    std::vector<uint32_t> out;
    if (f) {
      for (float x : f->host()) {
        uint32_t u;
        std::memcpy(&u, &x, 4);
        out.push_back(u);
      }
    } else {
      for (uint16_t x : h->host()) out.push_back(x);
    }
    return std::vector<uint32_t>(out.begin() + offset, out.end());
  }
};

struct Shape {
  int64_t m, n, k;
};

// How a case lays out its operands: stride padding, base offset, alpha, beta.
struct Variant {
  int pad_kind;  // 0: ld = cols; 1: ld = cols rounded up to 8, + 8; 2: ld = cols + 3 (odd); 3: cols rounded up to 8
  size_t offset;
  float alpha, beta;
  int64_t ldc_pad;
};
const Variant kVariants[] = {
    {0, 0, 1.0f, 0.0f, 0},
    {1, 0, 0.5f, 0.75f, 5},
    {2, 1, -1.25f, 0.0f, 2},
    {3, 0, 1.0f, 1.0f, 0},
};

int64_t padded_ld(int64_t cols, int kind) {
  const int64_t up8 = (cols + 7) / 8 * 8;
  return kind == 0 ? cols : kind == 1 ? up8 + 8 : kind == 2 ? cols + 3 : up8;
}

std::string describe(GemmEngine e, bool ta, bool tb, DType at, DType bt, DType ct, const Shape& s, int variant) {
  return std::string(cuda::gemm_engine_name(e)) + (ta ? " T" : " N") + (tb ? "T " : "N ") + cuda::dtype_name(at) + "*" +
         cuda::dtype_name(bt) + "->" + cuda::dtype_name(ct) + " " + std::to_string(s.m) + "x" + std::to_string(s.n) +
         "x" + std::to_string(s.k) + " variant " + std::to_string(variant);
}

std::vector<GemmEngine> engines() {
  std::vector<GemmEngine> e = {GemmEngine::Simt, GemmEngine::Own};
  if (cuda::have_cublas()) e.push_back(GemmEngine::Cublas);
  return e;
}

// One problem, all engines: inputs built and uploaded once.
void check_case(bool ta, bool tb, DType at, DType bt, DType ct, const Shape& s, int variant, uint32_t seed,
                const std::vector<GemmEngine>& which) {
  const Variant& v = kVariants[variant];
  const int64_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k, b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
  const int64_t lda = padded_ld(a_cols, v.pad_kind), ldb = padded_ld(b_cols, v.pad_kind), ldc = s.n + v.ldc_pad;
  const float nan = std::nanf("");
  auto fill = [&](int64_t rows, int64_t cols, int64_t ld, uint32_t sd) {
    std::vector<float> x = test::randn(rows * ld, sd);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = cols; c < ld; ++c) x[r * ld + c] = nan;  // never to be read
    return x;
  };
  const Mat a(fill(a_rows, a_cols, lda, seed), at, v.offset), b(fill(b_rows, b_cols, ldb, seed + 1), bt, v.offset);
  // C: random (beta != 0; stride padding too, which must survive) or NaN everywhere (beta == 0).
  std::vector<float> c0 = test::randn(s.m * ldc, seed + 2);
  if (v.beta == 0.0f) c0.assign(c0.size(), nan);
  const Mat c_init(c0, ct, 0);
  c0 = c_init.host;  // as stored
  const std::vector<uint32_t> c0_bits = c_init.bits();

  // References: on the stored values (Simt), on the values rounded to bf16 (tensor cores).
  auto reference = [&](const std::vector<float>& av, const std::vector<float>& bv, const std::vector<float>& cv,
                       float alpha, float beta) {
    std::vector<float> out = cv;
    cpu::GemmArgs g;
    g.trans_a = ta, g.trans_b = tb, g.m = s.m, g.n = s.n, g.k = s.k, g.alpha = alpha, g.beta = beta;
    g.a = av.data(), g.lda = lda, g.b = bv.data(), g.ldb = ldb, g.c = out.data(), g.ldc = ldc;
    cpu::gemm_reference(g);
    return out;
  };
  auto absolute = [](std::vector<float> x) {
    for (float& e : x) e = std::fabs(e);
    return x;
  };
  const std::vector<float> ref_bf = reference(test::round_bf16(a.host), test::round_bf16(b.host), c0, v.alpha, v.beta);
  const bool raw_differs = at == DType::F32 || bt == DType::F32;  // bf16 storage is already rounded
  const std::vector<float> ref_raw = raw_differs ? reference(a.host, b.host, c0, v.alpha, v.beta) : ref_bf;
  const std::vector<float> sums =
      reference(absolute(a.host), absolute(b.host), std::vector<float>(c0.size(), 0.0f), 1.0f, 0.0f);

  for (GemmEngine e : which) {
    const Mat c(c0, ct, 0);  // a fresh copy of the initial C (bits equal to c_init's)
    cuda::GemmArgs g;
    g.trans_a = ta, g.trans_b = tb, g.m = s.m, g.n = s.n, g.k = s.k, g.alpha = v.alpha, g.beta = v.beta;
    g.a = a.ptr(), g.a_type = at, g.lda = lda, g.b = b.ptr(), g.b_type = bt, g.ldb = ldb;
    g.c = c.ptr(), g.c_type = ct, g.ldc = ldc;
    cuda::gemm(g, e);
    const std::vector<float> got = c.download();
    const std::vector<uint32_t> got_bits = c.bits();
    const bool simt = e == GemmEngine::Simt;
    const std::vector<float>& ref = simt ? ref_raw : ref_bf;
    const double u_acc = simt ? std::ldexp(1.0, -23) : std::ldexp(1.0, -22);
    const double u_in =
        e == GemmEngine::Cublas && at == DType::F32 && bt == DType::F32 && ct == DType::F32 ? std::ldexp(1.0, -6) : 0.0;
    const double alpha = std::fabs(v.alpha), beta = std::fabs(v.beta);
    const bool cublas_bf16_epilogue = e == GemmEngine::Cublas && ct == DType::BF16 && v.beta != 0.0f;
    double worst = 0;
    int64_t worst_at = -1, bad_padding = 0;
    for (int64_t i = 0; i < s.m; ++i) {
      for (int64_t j = 0; j < ldc; ++j) {
        const int64_t at_ij = i * ldc + j;
        if (j >= s.n) {
          bad_padding += got_bits[at_ij] != c0_bits[at_ij];
          continue;
        }
        const double sum = sums[at_ij], old = v.beta != 0.0f ? std::fabs(static_cast<double>(c0[at_ij])) : 0.0;
        double tol = alpha * sum * (s.k * u_acc + u_in) + std::ldexp(alpha * sum + beta * old, -22) + 1e-30;
        if (ct == DType::BF16) tol += std::ldexp(std::fabs(static_cast<double>(ref[at_ij])), -8);
        // cuBLAS with a bf16 C and beta != 0 rounds alpha * acc to bf16 before adding beta * C.
        if (cublas_bf16_epilogue)
          tol += std::ldexp(std::fabs(ref[at_ij] - v.beta * static_cast<double>(c0[at_ij])), -8);
        const double err = std::fabs(static_cast<double>(got[at_ij]) - ref[at_ij]) / tol;
        if (!(err <= worst)) {  // NaN counts as the worst
          worst = std::isnan(err) ? INFINITY : err;
          worst_at = at_ij;
        }
      }
    }
    const std::string what = describe(e, ta, tb, at, bt, ct, s, variant);
    if (worst > 1) {
      const int64_t r = worst_at / ldc, col = worst_at % ldc;
      test::fail(__FILE__, __LINE__,
                 what + ": error " + std::to_string(worst) + " x tolerance at (" + std::to_string(r) + ", " +
                     std::to_string(col) + "): got " + std::to_string(got[worst_at]) + ", want " +
                     std::to_string(ref[worst_at]));
    }
    if (bad_padding)
      test::fail(__FILE__, __LINE__,
                 what + ": " + std::to_string(bad_padding) + " elements of C's stride padding written");
  }
}

const DType kTypes[] = {DType::F32, DType::BF16};

}  // namespace

// Every engine x transpose combination x storage type of A, B, C, on shapes that
// are no tile multiples; the variant (strides, misalignment, alpha, beta) rotates.
TEST(cuda_gemm_matches_reference_all_types) {
  if (!have_device()) return;
  const Shape shapes[] = {{1, 1, 1}, {7, 13, 5}, {37, 53, 71}, {130, 67, 257}};
  uint32_t seed = 100;
  for (size_t si = 0; si < std::size(shapes); ++si)
    for (int t = 0; t < 4; ++t)
      for (int d = 0; d < 8; ++d)
        check_case(t & 1, t & 2, kTypes[d & 1], kTypes[(d >> 1) & 1], kTypes[(d >> 2) & 1], shapes[si],
                   static_cast<int>((si + t + d) % 4), seed += 3, engines());
}

// Wide and tall shapes (many tiles, the grouped block order: 1100 rows = 9 tile
// rows), in the storage combinations that training uses.
TEST(cuda_gemm_matches_reference_wide_shapes) {
  if (!have_device()) return;
  const Shape shapes[] = {{65, 300, 40}, {64, 1000, 96}, {1100, 260, 64}};
  const DType combos[][3] = {{DType::F32, DType::F32, DType::F32},
                             {DType::BF16, DType::BF16, DType::F32},
                             {DType::BF16, DType::BF16, DType::BF16},
                             {DType::BF16, DType::F32, DType::F32}};
  uint32_t seed = 500;
  for (size_t si = 0; si < std::size(shapes); ++si)
    for (int t = 0; t < 4; ++t)
      for (size_t d = 0; d < std::size(combos); ++d)
        check_case(t & 1, t & 2, combos[d][0], combos[d][1], combos[d][2], shapes[si],
                   static_cast<int>((si + t + d) % 4), seed += 3, engines());
}

// The Own kernel's load paths at an edge shape with many k tiles (9 > 4 stages),
// for every transpose: cp.async with zero-filled partial chunks (bf16, variants 1
// and 3), registers with bf16 at odd strides and misaligned bases (variant 2),
// fp32 with float4 loads (variants 1, 3) and with scalar loads (0, 2).
TEST(cuda_gemm_own_every_load_path) {
  if (!have_device()) return;
  uint32_t seed = 900;
  for (int t = 0; t < 4; ++t)
    for (int variant = 0; variant < 4; ++variant)
      for (int d : {0, 3, 5, 6})
        check_case(t & 1, t & 2, kTypes[d & 1], kTypes[(d >> 1) & 1], kTypes[(d >> 2) & 1], {130, 67, 257}, variant,
                   seed += 3, {GemmEngine::Own});
}

TEST(cuda_gemm_k_zero_and_alpha_zero_scale_c) {
  if (!have_device()) return;
  const int64_t m = 5, n = 7;
  const std::vector<float> c0 = test::randn(m * n, 1234);
  for (GemmEngine e : engines()) {
    for (float beta : {0.0f, 0.5f}) {
      for (int64_t k : {0, 3}) {
        Dev<float> c(c0), a(std::vector<float>(m * 3, 1.0f)), b(std::vector<float>(3 * n, 1.0f));
        if (beta == 0.0f) cuda::check(cudaMemset(c.p, 0xff, sizeof(float) * c.n), "poison");
        cuda::GemmArgs g;
        g.m = m, g.n = n, g.k = k, g.alpha = k ? 0.0f : 1.0f, g.beta = beta;
        g.a = a.p, g.lda = 3, g.b = b.p, g.ldb = n, g.c = c.p, g.ldc = n;
        cuda::gemm(g, e);
        std::vector<float> want(c0.size());
        for (size_t i = 0; i < want.size(); ++i) want[i] = beta * c0[i];
        CHECK(c.host() == want);
      }
    }
  }
}

// The same call twice gives the same bytes (no atomics, fixed k order), on a
// shape with many blocks and k tiles.
TEST(cuda_gemm_is_bitwise_deterministic) {
  if (!have_device()) return;
  const int64_t m = 300, n = 500, k = 1000;
  const Mat a(test::randn(m * k, 77), DType::BF16, 0), b(test::randn(n * k, 78), DType::BF16, 0);
  const Mat af(test::randn(m * k, 79), DType::F32, 0);
  for (GemmEngine e : engines()) {
    for (bool fp32_a : {false, true}) {
      std::vector<uint32_t> first;
      for (int run = 0; run < 2; ++run) {
        const Mat c(std::vector<float>(m * n, std::nanf("")), DType::F32, 0);
        cuda::GemmArgs g = cuda::linear_args(fp32_a ? af.ptr() : a.ptr(), fp32_a ? DType::F32 : DType::BF16, b.ptr(),
                                             DType::BF16, c.ptr(), DType::F32, m, k, n);
        cuda::gemm(g, e);
        if (run == 0)
          first = c.bits();
        else if (c.bits() != first)
          test::fail(__FILE__, __LINE__, std::string(cuda::gemm_engine_name(e)) + ": two runs differ");
      }
    }
  }
}

// Bad arguments throw a genrm::Error naming the field, before any launch (no device needed).
TEST(cuda_gemm_validates_before_launch) {
  float dummy = 0;
  auto base = [&] {
    cuda::GemmArgs g;
    g.m = 4, g.n = 5, g.k = 6;
    g.a = &dummy, g.lda = 6, g.b = &dummy, g.ldb = 5, g.c = &dummy, g.ldc = 5;
    return g;
  };
  auto names = [](cuda::GemmArgs g, const char* field) {
    try {
      cuda::gemm(g, GemmEngine::Simt);
    } catch (const std::exception& e) {
      return std::string(e.what()).rfind(field, 0) == 0;  // the message starts with the field
    }
    return false;
  };
  cuda::GemmArgs g = base();
  g.m = -1;
  CHECK(names(g, "m"));
  g = base(), g.k = -2;
  CHECK(names(g, "k"));
  g = base(), g.lda = 5;  // A stored m x k: lda >= k = 6
  CHECK(names(g, "lda"));
  g = base(), g.trans_a = true, g.lda = 3;  // A stored k x m: lda >= m = 4
  CHECK(names(g, "lda"));
  g = base(), g.ldb = 4;  // B stored k x n: ldb >= n = 5
  CHECK(names(g, "ldb"));
  g = base(), g.trans_b = true;  // B stored n x k: ldb >= k = 6
  CHECK(names(g, "ldb"));
  g = base(), g.ldc = 4;
  CHECK(names(g, "ldc"));
  g = base(), g.c = nullptr;
  CHECK(names(g, "c"));
  g = base(), g.a = nullptr;
  CHECK(names(g, "a"));
  g = base(), g.b = nullptr;
  CHECK(names(g, "b"));
  g = base(), g.k = 0, g.a = nullptr, g.b = nullptr;  // nothing to read: A and B may be null
  cuda::validate_gemm(g);
  g.c = nullptr;
  CHECK_THROWS(cuda::validate_gemm(g));
  if (!cuda::have_cublas()) CHECK_THROWS(cuda::gemm(base(), GemmEngine::Cublas));
}
