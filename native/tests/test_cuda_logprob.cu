// The fused log-prob on the device against the CPU path, on fresh random inputs
// at sizes that are no multiple of anything, with small chunks so several run.
//
// Tolerances. Logits are dots of dim = 48 terms, |z| < ~10; fp32 accumulation
// errs by < 48 * 2^-24 * sum|h w| ~ 3e-5 per logit on any engine (bf16 x bf16
// products are exact in fp32), so log-probs get 1e-4 absolute (a third of that
// again on the tensor-core engines for a different summation tree). Gradients are
// checked element by element against S, the same sum taken over absolute values
// (S_h[r,d] = sum_j |dz_rj| |W_jd|, S_w[j,d] = sum_r |dz_rj| |h_rd|, in double):
// Simt computes in fp32 like the CPU, so |err| <= 1e-4 S (fp32 sums of up to
// 50,257 terms; a host emulation of these sums measured 1.2e-5 S). The
// tensor-core engines also round dlogits to bf16, a relative error <= 2^-8 (8
// significant bits) per element, so |err| <= 2^-8 S exactly; the emulation
// reached 0.94 of that where one term dominates an element, so the check
// allows 2^-7 S + 1e-4 S. Accumulating into random starting values adds 1e-6
// |want| (the final fp32 addition).
#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/error.h"
#include "../cpu/logprob.h"
#include "../cuda/logprob.h"
#include "cuda_util.cuh"

using namespace genrm;
using test::Dev;
using test::expect_close;
using test::have_device;

namespace {

struct Problem {
  int64_t rows, dim, vocab;
  std::vector<float> hidden, weight;
  std::vector<int32_t> targets;
};

Problem make_problem(int64_t rows, int64_t dim, int64_t vocab, uint32_t seed) {
  Problem p{rows, dim, vocab, test::randn(rows * dim, seed), test::randn(vocab * dim, seed + 1, 0.3f), {}};
  p.targets.resize(rows);
  for (int64_t r = 0; r < rows; ++r) p.targets[r] = static_cast<int32_t>((r * 7919 + seed * 31) % vocab);
  p.targets[0] = 0;  // both ends of the vocabulary
  if (rows > 1) p.targets[rows - 1] = static_cast<int32_t>(vocab - 1);
  return p;
}

// A matrix on the device in fp32 or bf16 storage, and the floats it holds.
struct Stored {
  std::unique_ptr<Dev<float>> f;
  std::unique_ptr<Dev<uint16_t>> b;
  std::vector<float> held;
  cuda::DType type;
  Stored(const std::vector<float>& v, cuda::DType t) : type(t) {
    if (t == cuda::DType::F32) {
      f = std::make_unique<Dev<float>>(v);
      held = v;
    } else {
      b = std::make_unique<Dev<uint16_t>>(test::to_bf16_bits(v));
      held = test::round_bf16(v);
    }
  }
  const void* ptr() const { return f ? static_cast<const void*>(f->p) : static_cast<const void*>(b->p); }
};

struct DeviceProblem {
  Stored hidden, weight;
  Dev<int32_t> targets;
  DeviceProblem(const Problem& p, cuda::DType ht, cuda::DType wt)
      : hidden(p.hidden, ht), weight(p.weight, wt), targets(p.targets) {}
  cuda::LogprobArgs args(const Problem& p, cuda::GemmEngine e, int64_t chunk_rows) const {
    cuda::LogprobArgs a;
    a.rows = p.rows;
    a.dim = p.dim;
    a.vocab = p.vocab;
    a.hidden = hidden.ptr();
    a.hidden_type = hidden.type;
    a.weight = weight.ptr();
    a.weight_type = weight.type;
    a.targets = targets.p;
    a.engine = e;
    a.chunk_rows = chunk_rows;
    return a;
  }
};

cpu::LogprobArgs cpu_args(const Problem& p, const std::vector<float>& h, const std::vector<float>& w) {
  cpu::LogprobArgs a;
  a.rows = p.rows;
  a.dim = p.dim;
  a.vocab = p.vocab;
  a.hidden = h.data();
  a.weight = w.data();
  a.targets = p.targets.data();
  return a;
}

// S_h and S_w of the header comment, from dz computed in double.
void abs_sums(const Problem& p, const std::vector<float>& h, const std::vector<float>& w, const std::vector<float>& dlogp,
              std::vector<double>& sh, std::vector<double>& sw) {
  const int64_t R = p.rows, D = p.dim, V = p.vocab;
  sh.assign(R * D, 0.0);
  sw.assign(V * D, 0.0);
  std::vector<double> z(V);
  for (int64_t r = 0; r < R; ++r) {
    double mx = -INFINITY;
    for (int64_t j = 0; j < V; ++j) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += static_cast<double>(h[r * D + d]) * w[j * D + d];
      z[j] = s;
      mx = std::max(mx, s);
    }
    double sum = 0;
    for (double x : z) sum += std::exp(x - mx);
    for (int64_t j = 0; j < V; ++j) {
      const double pj = std::exp(z[j] - mx) / sum;
      const double adz = std::fabs(dlogp[r] * ((j == p.targets[r] ? 1.0 : 0.0) - pj));
      for (int64_t d = 0; d < D; ++d) {
        sh[r * D + d] += adz * std::fabs(w[j * D + d]);
        sw[j * D + d] += adz * std::fabs(h[r * D + d]);
      }
    }
  }
}

// |got - want| <= c * scale + 1e-6 |want| + 1e-7 everywhere.
void expect_within(const std::vector<float>& got, const std::vector<float>& want, const std::vector<double>& scale,
                   double c, const std::string& what) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double e = std::fabs(static_cast<double>(got[i]) - want[i]) / (c * scale[i] + 1e-6 * std::fabs(want[i]) + 1e-7);
    if (!(e <= worst)) worst = std::isnan(e) ? INFINITY : e;
  }
  if (!(worst <= 1)) test::fail(__FILE__, __LINE__, what + ": scaled error " + std::to_string(worst));
}

std::string label(const char* what, cuda::GemmEngine e, const Problem& p, const DeviceProblem& d) {
  return std::string(what) + " (" + cuda::gemm_engine_name(e) + ", hidden " + cuda::dtype_name(d.hidden.type) +
         ", weight " + cuda::dtype_name(d.weight.type) + ", vocab " + std::to_string(p.vocab) + ")";
}

void check_against_cpu(const Problem& p, int64_t chunk_rows, cuda::GemmEngine e, cuda::DType ht, cuda::DType wt) {
  const DeviceProblem d(p, ht, wt);
  const bool simt = e == cuda::GemmEngine::Simt;
  // What the products see: the stored values on Simt; bf16-rounded on the tensor cores.
  const std::vector<float> h = simt ? d.hidden.held : test::round_bf16(p.hidden);
  const std::vector<float> w = simt ? d.weight.held : test::round_bf16(p.weight);
  const cpu::LogprobArgs ca = cpu_args(p, h, w);
  const cuda::LogprobArgs a = d.args(p, e, chunk_rows);

  std::vector<float> want_logp(p.rows);
  cpu::logprob_forward_reference(ca, want_logp.data());
  Dev<float> logp(p.rows);  // poisoned
  cuda::logprob_forward(a, logp.p);
  // cuBLAS's FAST_16BF (fp32 operands) rounds to bf16 its own way, not necessarily
  // to nearest even as the reference does: allowed the GEMM test's 2^-6 relative per term.
  const bool fast16 = e == cuda::GemmEngine::Auto && cuda::have_cublas() && ht == cuda::DType::F32 &&
                      wt == cuda::DType::F32;
  expect_close(logp.host(), want_logp, simt ? 1e-4 : fast16 ? 3e-2 : 3e-4, 1e-5, label("logp", e, p, d).c_str());

  const auto dlogp = test::randn(p.rows, 100);
  auto dh = test::randn(p.rows * p.dim, 101), dw = test::randn(p.vocab * p.dim, 102);  // accumulated into
  Dev<float> dlogp_d(dlogp), dh_d(dh), dw_d(dw);
  cuda::logprob_backward(a, dlogp_d.p, dh_d.p, dw_d.p);
  cpu::logprob_backward(ca, dlogp.data(), dh.data(), dw.data(), default_isa());
  std::vector<double> sh, sw;
  abs_sums(p, h, w, dlogp, sh, sw);
  const double c = simt ? 1e-4 : (fast16 ? std::ldexp(1.0, -6) : 0.0) + std::ldexp(1.0, -7) + 1e-4;
  expect_within(dh_d.host(), dh, sh, c, label("dhidden", e, p, d));
  expect_within(dw_d.host(), dw, sw, c, label("dweight", e, p, d));
}

// Own and Auto differ where the build has cuBLAS (Auto is then cuBLAS).
const cuda::GemmEngine kEngines[] = {cuda::GemmEngine::Simt, cuda::GemmEngine::Own, cuda::GemmEngine::Auto};
const cuda::DType kTypes[][2] = {
    {cuda::DType::F32, cuda::DType::F32},
    {cuda::DType::BF16, cuda::DType::BF16},
    {cuda::DType::F32, cuda::DType::BF16},
    {cuda::DType::BF16, cuda::DType::F32}};

// DPO-like loss: a group's first half is the chosen sequence, the rest the
// rejected one; loss = -log sigmoid(beta (sum chosen logp - sum rejected logp)).
// Fills dlogp for the groups inside [r0, r1); logp and dlogp are the range's own.
void dpo_gradient(const std::vector<int64_t>& ends, int64_t r0, int64_t r1, const float* logp, float* dlogp) {
  const double beta = 0.5;
  int64_t g0 = 0;
  for (int64_t e : ends) {
    if (g0 >= r0 && e <= r1) {
      const int64_t half = g0 + (e - g0 + 1) / 2;
      double margin = 0;
      for (int64_t r = g0; r < e; ++r) margin += (r < half ? 1.0 : -1.0) * logp[r - r0];
      const double s = 1.0 / (1.0 + std::exp(beta * margin));  // sigmoid(-beta margin)
      for (int64_t r = g0; r < e; ++r) dlogp[r - r0] = static_cast<float>((r < half ? -beta : beta) * s);
    }
    g0 = e;
  }
}

bool all_poison(const std::vector<float>& v) {
  for (float x : v) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if (u != 0xffffffffu) return false;
  }
  return true;
}

// Runs fn, which must throw a genrm::Error of the Argument kind whose message
// names `field` ("logprob <field>: expected ..."; the word alone would match
// inside "logprob").
template <typename F>
void expect_arg_error(F fn, const std::string& field) {
  try {
    fn();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Argument || std::string(e.what()).find(" " + field + ":") == std::string::npos)
      test::fail(__FILE__, __LINE__, "expected an argument error naming " + field + ", got: " + e.what());
    return;
  } catch (const std::exception& e) {
    test::fail(__FILE__, __LINE__, "expected an argument error naming " + field + ", got: " + e.what());
    return;
  }
  test::fail(__FILE__, __LINE__, "expected an argument error naming " + field + ", nothing thrown");
}

}  // namespace

TEST(cuda_logprob_matches_cpu_in_several_chunks) {
  if (!have_device()) return;
  const Problem small = make_problem(37, 48, 1000, 20), wide = make_problem(5, 48, 50257, 21);
  for (cuda::GemmEngine e : kEngines)
    for (const auto& t : kTypes) {
      check_against_cpu(small, 8, e, t[0], t[1]);
      check_against_cpu(wide, 2, e, t[0], t[1]);
    }
  check_against_cpu(small, 0, cuda::GemmEngine::Auto, cuda::DType::BF16, cuda::DType::BF16);  // default: one chunk
}

TEST(cuda_logprob_forward_backward_equals_forward_plus_backward) {
  if (!have_device()) return;
  const Problem p = make_problem(37, 48, 1003, 30);  // odd vocab: the scalar row path
  for (cuda::GemmEngine e : kEngines) {
    const DeviceProblem d(p, cuda::DType::BF16, cuda::DType::BF16);
    const cuda::LogprobArgs a = d.args(p, e, 8);
    const auto dlogp = test::randn(p.rows, 31), dh0 = test::randn(p.rows * p.dim, 32),
               dw0 = test::randn(p.vocab * p.dim, 33);
    Dev<float> dlogp_d(dlogp), logp1(p.rows), dh1(dh0), dw1(dw0);
    cuda::logprob_forward(a, logp1.p);
    cuda::logprob_backward(a, dlogp_d.p, dh1.p, dw1.p);
    // Same GEMMs and row kernels on the same chunks: equal up to GEMM nondeterminism (none expected).
    const std::string en = cuda::gemm_engine_name(e);
    for (int mask = 0; mask < 4; ++mask) {  // which of dhidden and dweight are asked for
      Dev<float> logp2(p.rows), dh2(dh0), dw2(dw0);
      cuda::logprob_forward_backward(a, dlogp_d.p, logp2.p, mask & 1 ? dh2.p : nullptr, mask & 2 ? dw2.p : nullptr);
      const std::string m = " (" + en + ", mask " + std::to_string(mask) + ")";
      expect_close(logp2.host(), logp1.host(), 1e-7, 1e-6, ("fused logp" + m).c_str());
      expect_close(dh2.host(), mask & 1 ? dh1.host() : dh0, 1e-7, 1e-6, ("fused dhidden" + m).c_str());
      expect_close(dw2.host(), mask & 2 ? dw1.host() : dw0, 1e-7, 1e-6, ("fused dweight" + m).c_str());
    }
    // Backward with one output: the other stays untouched, the one asked for matches.
    Dev<float> dh3(dh0), dw3(dw0);
    cuda::logprob_backward(a, dlogp_d.p, dh3.p, nullptr);
    cuda::logprob_backward(a, dlogp_d.p, nullptr, dw3.p);
    expect_close(dh3.host(), dh1.host(), 1e-7, 1e-6, ("backward dhidden alone " + en).c_str());
    expect_close(dw3.host(), dw1.host(), 1e-7, 1e-6, ("backward dweight alone " + en).c_str());
  }
}

TEST(cuda_logprob_grouped_dpo_equals_logps_then_backward) {
  if (!have_device()) return;
  const Problem p = make_problem(37, 48, 1000, 40);
  // With 8 rows per chunk: [0,4) [4,10) [10,18) [18,30) (a group of 12, alone) [30,37).
  const std::vector<int64_t> ends = {4, 10, 13, 18, 30, 32, 37};
  const std::vector<std::pair<int64_t, int64_t>> want_chunks = {{0, 4}, {4, 10}, {10, 18}, {18, 30}, {30, 37}};
  for (cuda::GemmEngine e : kEngines)
    for (const auto& t : kTypes) {
      const DeviceProblem d(p, t[0], t[1]);
      const cuda::LogprobArgs a = d.args(p, e, 8);
      const std::string en = label("grouped", e, p, d);
      const auto dh0 = test::randn(p.rows * p.dim, 41), dw0 = test::randn(p.vocab * p.dim, 42);

      // All log-probs first, the DPO gradient on the host, then the backward.
      Dev<float> logp1(p.rows), dh1(dh0), dw1(dw0);
      cuda::logprob_forward(a, logp1.p);
      const std::vector<float> lp1 = logp1.host();
      std::vector<float> dlogp(p.rows, 0.0f);
      dpo_gradient(ends, 0, p.rows, lp1.data(), dlogp.data());
      Dev<float> dlogp_d(dlogp);
      cuda::logprob_backward(a, dlogp_d.p, dh1.p, dw1.p);

      Dev<float> logp2(p.rows), dh2(dh0), dw2(dw0);
      std::vector<std::pair<int64_t, int64_t>> chunks;
      std::vector<float> seen(p.rows, NAN);  // the log-probs handed to the callback
      cuda::logprob_grouped(
          a, ends,
          [&](int64_t r0, int64_t r1, const float* lp, float* dl) {
            chunks.push_back({r0, r1});
            for (int64_t r = r0; r < r1; ++r) {
              seen[r] = lp[r - r0];
              CHECK(dl[r - r0] == 0.0f);  // starts zeroed
            }
            dpo_gradient(ends, r0, r1, lp, dl);
          },
          logp2.p, dh2.p, dw2.p);
      CHECK(chunks == want_chunks);
      const std::vector<float> lp2 = logp2.host();
      CHECK(seen == lp2);  // the callback saw exactly what was written
      // Different chunks: a GEMM may sum in another order, and dweight's chunk sums differ.
      expect_close(lp2, lp1, 1e-5, 1e-6, (en + " logp").c_str());
      expect_close(dh2.host(), dh1.host(), 1e-5, 1e-5, (en + " dhidden").c_str());
      expect_close(dw2.host(), dw1.host(), 1e-5, 1e-5, (en + " dweight").c_str());

      // Null outputs: only logp (and the callback) run; one output alone matches.
      Dev<float> logp3(p.rows), dh3(dh0), dw3(dw0);
      int calls = 0;
      auto count = [&](int64_t r0, int64_t r1, const float* lp, float* dl) {
        ++calls;
        dpo_gradient(ends, r0, r1, lp, dl);
      };
      cuda::logprob_grouped(a, ends, count, logp3.p, nullptr, nullptr);
      CHECK(calls == 5);
      CHECK(logp3.host() == lp2);
      cuda::logprob_grouped(a, ends, count, logp3.p, dh3.p, nullptr);
      cuda::logprob_grouped(a, ends, count, logp3.p, nullptr, dw3.p);
      expect_close(dh3.host(), dh2.host(), 1e-7, 1e-6, (en + " dhidden alone").c_str());
      expect_close(dw3.host(), dw2.host(), 1e-7, 1e-6, (en + " dweight alone").c_str());
    }
}

TEST(cuda_logprob_chunk_rows) {
  cuda::LogprobArgs a;
  a.rows = 16384;
  a.dim = 4096;
  a.vocab = 128256;
  CHECK(cuda::logprob_chunk_rows(a) == 1024);  // 1,024 x 128,256 fp32 = 501 MiB
  a.rows = 100;
  CHECK(cuda::logprob_chunk_rows(a) == 100);
  a.chunk_rows = 8;
  CHECK(cuda::logprob_chunk_rows(a) == 8);
  a.chunk_rows = 0;
  a.rows = 1 << 20;
  a.vocab = 1000;
  CHECK(cuda::logprob_chunk_rows(a) == 134208);  // 2^27 / 1000 = 134,217, down to a multiple of 64
}

// Argument errors need no device: they are thrown before any CUDA call (with
// dummy pointers, a missed check would reach the device and fail differently).
TEST(cuda_logprob_validation_names_the_field) {
  static float dummy[4];
  static int32_t dummy_t[4];
  cuda::LogprobArgs ok;
  ok.rows = 4;
  ok.dim = 3;
  ok.vocab = 5;
  ok.hidden = dummy;
  ok.weight = dummy;
  ok.targets = dummy_t;
  float* out = dummy;
  auto with = [&](auto edit) {
    cuda::LogprobArgs a = ok;
    edit(a);
    return a;
  };
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.rows = -1; }), out); }, "rows");
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.dim = 0; }), out); }, "dim");
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.vocab = 0; }), out); }, "vocab");
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.vocab = int64_t(1) << 31; }), out); }, "vocab");
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.hidden = nullptr; }), out); }, "hidden");
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.weight = nullptr; }), out); }, "weight");
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.targets = nullptr; }), out); }, "targets");
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.chunk_rows = -1; }), out); }, "chunk_rows");
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.hidden_type = cuda::DType(7); }), out); },
                   "hidden_type");
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.weight_type = cuda::DType(7); }), out); },
                   "weight_type");
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.engine = cuda::GemmEngine(9); }), out); }, "engine");
  expect_arg_error([&] { cuda::logprob_forward(ok, nullptr); }, "logp");
  expect_arg_error([&] { cuda::logprob_backward(ok, nullptr, out, out); }, "dlogp");
  expect_arg_error([&] { cuda::logprob_forward_backward(ok, nullptr, out, out, nullptr); }, "dlogp");
  expect_arg_error([&] { cuda::logprob_forward_backward(ok, out, nullptr, out, out); }, "logp");
  auto noop = [](int64_t, int64_t, const float*, float*) {};
  expect_arg_error([&] { cuda::logprob_grouped(ok, {}, noop, out, out, out); }, "group_ends");
  expect_arg_error([&] { cuda::logprob_grouped(ok, {2, 2, 4}, noop, out, out, out); }, "group_ends[1]");
  expect_arg_error([&] { cuda::logprob_grouped(ok, {3, 1, 4}, noop, out, out, out); }, "group_ends[1]");
  expect_arg_error([&] { cuda::logprob_grouped(ok, {0, 4}, noop, out, out, out); }, "group_ends[0]");
  expect_arg_error([&] { cuda::logprob_grouped(ok, {2, 3}, noop, out, out, out); }, "group_ends (last)");
  expect_arg_error([&] { cuda::logprob_grouped(ok, {2, 5}, noop, out, out, out); }, "group_ends (last)");
  expect_arg_error([&] { cuda::logprob_grouped(ok, {4}, cuda::ChunkGradient(), out, out, out); }, "grad");
  expect_arg_error([&] { cuda::logprob_grouped(ok, {4}, noop, nullptr, out, out); }, "logp");
}

// On the device: a bad group list late in the list throws before the first chunk
// runs (logp stays poisoned, the callback is never called, nothing accumulates).
TEST(cuda_logprob_validation_throws_before_any_launch) {
  if (!have_device()) return;
  const Problem p = make_problem(37, 48, 1000, 50);
  const DeviceProblem d(p, cuda::DType::BF16, cuda::DType::BF16);
  const cuda::LogprobArgs a = d.args(p, cuda::GemmEngine::Auto, 8);
  const auto dh0 = test::randn(p.rows * p.dim, 51);
  Dev<float> logp(p.rows), dh(dh0), dlogp(std::vector<float>(p.rows, 1.0f));
  int calls = 0;
  auto grad = [&](int64_t, int64_t, const float*, float*) { ++calls; };
  CHECK_THROWS(cuda::logprob_grouped(a, {4, 10, 9, 37}, grad, logp.p, dh.p, nullptr));
  CHECK_THROWS(cuda::logprob_grouped(a, {4, 10, 36}, grad, logp.p, dh.p, nullptr));
  cuda::LogprobArgs bad = a;
  bad.targets = nullptr;
  CHECK_THROWS(cuda::logprob_forward_backward(bad, dlogp.p, logp.p, dh.p, nullptr));
  CHECK(calls == 0);
  CHECK(all_poison(logp.host()));
  CHECK(dh.host() == dh0);
}
