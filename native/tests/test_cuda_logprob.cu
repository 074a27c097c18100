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
  void* mut() { return f ? static_cast<void*>(f->p) : static_cast<void*>(b->p); }
  std::vector<float> host() const {
    if (f) return f->host();
    std::vector<float> out;
    for (uint16_t x : b->host()) out.push_back(test::from_bf16_bits(x));
    return out;
  }
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
void abs_sums(const Problem& p, const std::vector<float>& h, const std::vector<float>& w,
              const std::vector<float>& dlogp, std::vector<double>& sh, std::vector<double>& sw) {
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

// |got - want| <= c * scale + 1e-6 |want| + 1e-7 everywhere. Outputs stored in
// bf16 round the running value at each of `roundings` accumulations: each errs
// by <= 2^-8 of a running value, and those stay within |want| + 2 scale.
void expect_within(const std::vector<float>& got, const std::vector<float>& want, const std::vector<double>& scale,
                   double c, const std::string& what, int roundings = 0) {
  const double u = roundings * std::ldexp(1.0, -8);
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double w = std::fabs(static_cast<double>(want[i]));
    const double e =
        std::fabs(static_cast<double>(got[i]) - want[i]) / (c * scale[i] + u * (w + 2 * scale[i]) + 1e-6 * w + 1e-7);
    if (!(e <= worst)) worst = std::isnan(e) ? INFINITY : e;
  }
  if (!(worst <= 1)) test::fail(__FILE__, __LINE__, what + ": scaled error " + std::to_string(worst));
}

std::string label(const char* what, cuda::GemmEngine e, const Problem& p, const DeviceProblem& d) {
  return std::string(what) + " (" + cuda::gemm_engine_name(e) + ", hidden " + cuda::dtype_name(d.hidden.type) +
         ", weight " + cuda::dtype_name(d.weight.type) + ", vocab " + std::to_string(p.vocab) + ")";
}

void check_against_cpu(const Problem& p, int64_t chunk_rows, cuda::GemmEngine e, cuda::DType ht, cuda::DType wt,
                       cuda::DType gt = cuda::DType::F32) {
  const DeviceProblem d(p, ht, wt);
  const bool simt = e == cuda::GemmEngine::Simt;
  // What the products see: the stored values on Simt; bf16-rounded on the tensor cores.
  const std::vector<float> h = simt ? d.hidden.held : test::round_bf16(p.hidden);
  const std::vector<float> w = simt ? d.weight.held : test::round_bf16(p.weight);
  const cpu::LogprobArgs ca = cpu_args(p, h, w);
  cuda::LogprobArgs a = d.args(p, e, chunk_rows);
  a.grad_type = gt;
  const std::string grads = gt == cuda::DType::BF16 ? " into bf16" : "";

  std::vector<float> want_logp(p.rows);
  cpu::logprob_forward_reference(ca, want_logp.data());
  Dev<float> logp(p.rows);  // poisoned
  cuda::logprob_forward(a, logp.p);
  // cuBLAS's FAST_16BF (fp32 operands) rounds to bf16 its own way, not necessarily
  // to nearest even as the reference does: allowed the GEMM test's 2^-6 relative per term.
  const bool fast16 =
      e == cuda::GemmEngine::Auto && cuda::have_cublas() && ht == cuda::DType::F32 && wt == cuda::DType::F32;
  expect_close(logp.host(), want_logp, simt ? 1e-4 : fast16 ? 3e-2 : 3e-4, 1e-5, label("logp", e, p, d).c_str());

  const auto dlogp = test::randn(p.rows, 100);
  Stored dh_d(test::randn(p.rows * p.dim, 101), gt), dw_d(test::randn(p.vocab * p.dim, 102), gt);  // accumulated into
  std::vector<float> dh = dh_d.held, dw = dw_d.held;
  Dev<float> dlogp_d(dlogp);
  cuda::logprob_backward(a, dlogp_d.p, dh_d.mut(), dw_d.mut());
  cpu::logprob_backward(ca, dlogp.data(), dh.data(), dw.data(), default_isa());
  std::vector<double> sh, sw;
  abs_sums(p, h, w, dlogp, sh, sw);
  const double c = simt ? 1e-4 : (fast16 ? std::ldexp(1.0, -6) : 0.0) + std::ldexp(1.0, -7) + 1e-4;
  // bf16 gradients: dhidden's rows are written by one chunk, dweight by every chunk.
  const int chunks = chunk_rows > 0 ? static_cast<int>((p.rows + chunk_rows - 1) / chunk_rows) : 1;
  const bool bf = gt == cuda::DType::BF16;
  expect_within(dh_d.host(), dh, sh, c, label("dhidden", e, p, d) + grads, bf ? 1 : 0);
  expect_within(dw_d.host(), dw, sw, c, label("dweight", e, p, d) + grads, bf ? chunks : 0);
}

// Own and Auto differ where the build has cuBLAS (Auto is then cuBLAS).
const cuda::GemmEngine kEngines[] = {cuda::GemmEngine::Simt, cuda::GemmEngine::Own, cuda::GemmEngine::Auto};
const cuda::DType kTypes[][2] = {{cuda::DType::F32, cuda::DType::F32},
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
  // Gradients kept in bf16 (what a bf16 model's autograd holds), accumulated over 5 chunks.
  for (cuda::GemmEngine e : kEngines)
    check_against_cpu(small, 8, e, cuda::DType::BF16, cuda::DType::BF16, cuda::DType::BF16);
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

// The grouped pass against the CPU: log-probs equal to the plain forward's, and
// the gradients of the DPO loss of the log-probs the callback saw equal to the
// CPU's backward with that dlogp, within check_against_cpu's bounds (the two-phase
// chunk's extra rounding of the scaled hidden rows fits them: 2 x 2^-8 per term).
// With 8 rows per chunk the group [18, 30) is over budget: it runs in two phases,
// in slices of 2 rows.
TEST(cuda_logprob_grouped_dpo_matches_cpu) {
  if (!have_device()) return;
  const Problem p = make_problem(37, 48, 1000, 40);
  // With 8 rows per chunk: [0,4) [4,10) [10,18) [18,30) (a group of 12, alone) [30,37).
  const std::vector<int64_t> ends = {4, 10, 13, 18, 30, 32, 37};
  const std::vector<std::pair<int64_t, int64_t>> want_chunks = {{0, 4}, {4, 10}, {10, 18}, {18, 30}, {30, 37}};
  const auto dh0 = test::randn(p.rows * p.dim, 41), dw0 = test::randn(p.vocab * p.dim, 42);
  auto run = [&](cuda::GemmEngine e, cuda::DType ht, cuda::DType wt, cuda::DType gt) {
    const DeviceProblem d(p, ht, wt);
    cuda::LogprobArgs a = d.args(p, e, 8);
    a.grad_type = gt;
    const bool simt = e == cuda::GemmEngine::Simt, bf = gt == cuda::DType::BF16;
    const std::string en = label("grouped", e, p, d) + (bf ? " into bf16" : "");

    Dev<float> logp1(p.rows);
    cuda::logprob_forward(a, logp1.p);
    const std::vector<float> lp1 = logp1.host();

    Dev<float> logp2(p.rows);
    Stored dh2(dh0, gt), dw2(dw0, gt);
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
        logp2.p, dh2.mut(), dw2.mut());
    CHECK(chunks == want_chunks);
    const std::vector<float> lp2 = logp2.host();
    CHECK(seen == lp2);  // the callback saw exactly what was written
    // Other chunk sizes: a GEMM may sum in another order.
    expect_close(lp2, lp1, 1e-5, 1e-6, (en + " logp").c_str());

    const std::vector<float> h = simt ? d.hidden.held : test::round_bf16(p.hidden);
    const std::vector<float> w = simt ? d.weight.held : test::round_bf16(p.weight);
    std::vector<float> dlogp(p.rows, 0.0f), dh = dh2.held, dw = dw2.held;
    dpo_gradient(ends, 0, p.rows, seen.data(), dlogp.data());
    cpu::logprob_backward(cpu_args(p, h, w), dlogp.data(), dh.data(), dw.data(), default_isa());
    std::vector<double> sh, sw;
    abs_sums(p, h, w, dlogp, sh, sw);
    const bool fast16 =
        e == cuda::GemmEngine::Auto && cuda::have_cublas() && ht == cuda::DType::F32 && wt == cuda::DType::F32;
    const double c = simt ? 1e-4 : (fast16 ? std::ldexp(1.0, -6) : 0.0) + std::ldexp(1.0, -7) + 1e-4;
    const std::vector<float> got_dh = dh2.host(), got_dw = dw2.host();
    expect_within(got_dh, dh, sh, c, en + " dhidden", bf ? 1 : 0);
    expect_within(got_dw, dw, sw, c, en + " dweight", bf ? static_cast<int>(want_chunks.size()) : 0);

    // Null outputs: only logp (and the callback) run; one output alone gives the same bits.
    Dev<float> logp3(p.rows);
    Stored dh3(dh0, gt), dw3(dw0, gt);
    int calls = 0;
    auto count = [&](int64_t r0, int64_t r1, const float* lp, float* dl) {
      ++calls;
      dpo_gradient(ends, r0, r1, lp, dl);
    };
    cuda::logprob_grouped(a, ends, count, logp3.p, nullptr, nullptr);
    CHECK(calls == 5);
    CHECK(logp3.host() == lp2);
    cuda::logprob_grouped(a, ends, count, logp3.p, dh3.mut(), nullptr);
    cuda::logprob_grouped(a, ends, count, logp3.p, nullptr, dw3.mut());
    CHECK(dh3.host() == got_dh);
    CHECK(dw3.host() == got_dw);
  };
  for (cuda::GemmEngine e : kEngines) {
    for (const auto& t : kTypes) run(e, t[0], t[1], cuda::DType::F32);
    run(e, cuda::DType::BF16, cuda::DType::BF16, cuda::DType::BF16);
  }
}

// The grouped pass's memory at the anchor's DPO shape (8 pairs of 1,024-token
// sequences, vocab 128,256, dim 4,096, bf16 operands): each pair (2,048 rows) is
// over the 1,024-row budget, so no chunk of fp32 logits is held whole. Host-only:
// the plan is what logprob_grouped allocates.
TEST(cuda_logprob_grouped_plan_at_the_dpo_anchor_shape) {
  static uint16_t dummy[1];
  static int32_t dummy_t[1];
  cuda::LogprobArgs a;
  a.rows = 16 * 1024;
  a.dim = 4096;
  a.vocab = 128256;
  a.hidden = dummy;
  a.hidden_type = cuda::DType::BF16;
  a.weight = dummy;
  a.weight_type = cuda::DType::BF16;
  a.targets = dummy_t;
  a.engine = cuda::GemmEngine::Own;  // bf16 softmax - onehot on every tensor-core engine with a bf16 head
  std::vector<int64_t> pairs;
  for (int64_t e = 2048; e <= a.rows; e += 2048) pairs.push_back(e);
  const cuda::GroupedPlan p = cuda::plan_logprob_grouped(a, pairs, true);
  CHECK(p.chunk_ends == pairs);
  CHECK(p.slice_rows == 256);
  CHECK(p.probs_bytes == size_t(2048) * 128256 * 2);  // 501 MiB: the pair's softmax - onehot in bf16
  CHECK(p.logits_bytes == size_t(256) * 128256 * 4);  // 125 MiB: one slice of fp32 logits
  CHECK(p.aux_bytes == size_t(2048) * 2 * 4);
  CHECK(p.scratch_bytes() < (size_t(5) << 27));  // 0.61 GiB, under 0.625 (one fp32 pair: 0.98)
  // Forward only: no group buffer.
  const cuda::GroupedPlan f = cuda::plan_logprob_grouped(a, pairs, false);
  CHECK(f.probs_bytes == 0);
  CHECK(f.logits_bytes == size_t(256) * 128256 * 4);
  // Groups within the budget (single sequences, as SFT-like grouping): one pass, 1,024-row chunks.
  std::vector<int64_t> seqs;
  for (int64_t e = 1024; e <= a.rows; e += 1024) seqs.push_back(e);
  const cuda::GroupedPlan s = cuda::plan_logprob_grouped(a, seqs, true);
  CHECK(s.chunk_ends == seqs);
  CHECK(s.slice_rows == 0);
  CHECK(s.probs_bytes == 0);
  CHECK(s.logits_bytes == size_t(1024) * 128256 * 4);
  // A small vocabulary with a wide model: the phase-two temporaries set the logits scratch.
  a.vocab = 1000;
  a.chunk_rows = 64;
  const cuda::GroupedPlan w = cuda::plan_logprob_grouped(a, {100, a.rows}, true);
  CHECK(w.slice_rows == 16);
  CHECK(w.logits_bytes == size_t(a.rows - 100) * 4096 * (4 + 2));
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
  expect_arg_error([&] { cuda::logprob_forward(with([](auto& a) { a.engine = cuda::GemmEngine(9); }), out); },
                   "engine");
  expect_arg_error([&] { cuda::logprob_backward(with([](auto& a) { a.grad_type = cuda::DType(7); }), out, out, out); },
                   "grad_type");
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
