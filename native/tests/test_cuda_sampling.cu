// cuda::sample_rows against the CPU's filter and draw (cpu::sampling_filter +
// cpu::sampling_draw, and generation's log-prob), on fresh random rows: ties,
// signed zeros and a very peaked row, at vocabulary sizes that are no multiple
// of the block, for greedy, temperature alone (the id-order draw), top-k, top-p
// and both. Draws may differ only where u lies within rounding of a boundary
// or a prefix's mass within rounding of top_p (sampling.h), which these inputs
// make improbable (the exact-boundary rows use power-of-two counts, where every
// sum is exact), so every token must match. Outputs start poisoned. The
// argument checks run without a device.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../cpu/sampling.h"
#include "../cuda/sampling.h"
#include "cuda_util.cuh"

using namespace genrm;
using test::Dev;
using test::have_device;

namespace {

struct Filter {
  const char* name;
  double temperature;
  int64_t top_k;  // -1: vocab (the filter is off)
  double top_p;
};

const Filter kFilters[] = {
    {"greedy", 0.0, 0, 1.0},
    {"greedy, filters ignored", 0.0, 50, 0.8},
    {"temperature 0.7", 0.7, 0, 1.0},
    {"top-k 1", 1.0, 1, 1.0},
    {"top-k 40", 1.0, 40, 1.0},
    {"top-k >= vocab", 1.0, -1, 1.0},
    {"top-p 0.9", 1.0, 0, 0.9},
    {"top-k 50, top-p 0.8", 1.0, 50, 0.8},
    {"temperature 1.3, top-p 0.95", 1.3, 0, 0.95},
};

// Rows of four kinds in turn: logits rounded to quarters (ties, signed zeros,
// and -inf at id 0: a zero weight, which u = 0 must pass over); plain normal
// logits; a very peaked row (one logit 60 above the rest, so the others'
// weights vanish next to its own at every temperature used here); and small
// integers (many ties, signed zeros).
std::vector<float> make_logits(int64_t rows, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_int_distribution<int> level(-6, 6), coin(0, 1);
  std::uniform_int_distribution<int64_t> id(0, vocab - 1);
  std::vector<float> logits(static_cast<size_t>(rows * vocab));
  for (int64_t r = 0; r < rows; ++r) {
    float* x = logits.data() + r * vocab;
    for (int64_t i = 0; i < vocab; ++i) {
      switch (r % 4) {
        case 0: x[i] = std::round(nd(rng) * 2.5f * 4.0f) / 4.0f; break;
        case 1: x[i] = nd(rng) * 3.0f; break;
        case 2: x[i] = nd(rng) * 2.0f; break;
        default: x[i] = static_cast<float>(level(rng)); break;
      }
      if (x[i] == 0.0f) x[i] = coin(rng) ? -0.0f : 0.0f;
    }
    if (r % 4 == 0 && vocab > 1) x[0] = -INFINITY;
    if (r % 4 == 2) {
      const int64_t peak = id(rng);
      x[peak] = *std::max_element(x, x + vocab) + 60.0f;
    }
  }
  return logits;
}

// u in [0, 1): the two ends on rows 0 and 1, random elsewhere.
std::vector<double> make_u(int64_t rows, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(0.0, 1.0);
  std::vector<double> u(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) u[r] = r == 0 ? 0.0 : r == 1 ? 0.999999999 : d(rng);
  return u;
}

// What generation does on the host for one row.
void reference(const float* logits, int64_t vocab, const cpu::SamplingParams& s, double u, int32_t* token,
               double* logprob) {
  cpu::Candidates c;
  *token = cpu::sample_row(logits, vocab, s, u, c, logprob);
}

cpu::SamplingParams params(const Filter& f, int64_t vocab) {
  cpu::SamplingParams s;
  s.temperature = f.temperature;
  s.top_k = f.top_k < 0 ? vocab : f.top_k;
  s.top_p = f.top_p;
  return s;
}

// The device's tokens and log-probs for these rows against the reference's.
void compare(const std::vector<float>& logits, int64_t rows, int64_t vocab, const Filter& f,
             const std::vector<double>& u, bool twice = false) {
  const cpu::SamplingParams s = params(f, vocab);
  Dev<float> logits_d(logits);
  Dev<double> u_d(u), logprob_d(static_cast<size_t>(rows));
  Dev<int32_t> tokens_d(static_cast<size_t>(rows));
  // Greedy never reads u: pass none.
  cuda::sample_rows(logits_d.p, rows, vocab, s, f.temperature == 0.0 ? nullptr : u_d.p, tokens_d.p, logprob_d.p);
  const std::vector<int32_t> tokens = tokens_d.host();
  const std::vector<double> logprob = logprob_d.host();
  const std::string where = std::string(f.name) + ", vocab " + std::to_string(vocab);
  for (int64_t r = 0; r < rows; ++r) {
    int32_t want_token;
    double want_logprob;
    reference(logits.data() + r * vocab, vocab, s, u[r], &want_token, &want_logprob);
    if (tokens[r] != want_token) {
      test::fail(__FILE__, __LINE__,
                 where + ", row " + std::to_string(r) + ": token " + std::to_string(tokens[r]) + ", want " +
                     std::to_string(want_token));
      continue;
    }
    const double err = std::fabs(logprob[r] - want_logprob) / std::max(1.0, std::fabs(want_logprob));
    if (!(err <= 1e-9))
      test::fail(__FILE__, __LINE__,
                 where + ", row " + std::to_string(r) + ": log-prob " + std::to_string(logprob[r]) + ", want " +
                     std::to_string(want_logprob));
  }
  if (twice) {  // deterministic: the same bits again
    Dev<int32_t> tokens2(static_cast<size_t>(rows));
    Dev<double> logprob2(static_cast<size_t>(rows));
    cuda::sample_rows(logits_d.p, rows, vocab, s, u_d.p, tokens2.p, logprob2.p);
    CHECK(tokens2.host() == tokens);
    const std::vector<double> lp2 = logprob2.host();
    CHECK(std::equal(lp2.begin(), lp2.end(), logprob.begin(),
                     [](double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }));
  }
}

void check_rows(int64_t rows, int64_t vocab, const Filter& f, uint32_t seed, bool twice = false) {
  compare(make_logits(rows, vocab, seed), rows, vocab, f, make_u(rows, seed + 1), twice);
}

// f() must throw genrm::Error whose message starts with the field's name.
template <typename F>
void expect_error_naming(const char* field, int line, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.rfind(std::string(field) + ":", 0) != 0 || e.kind() == ErrorKind::Runtime)
      test::fail(__FILE__, line, std::string("expected an argument error naming ") + field + ", got: " + msg);
    return;
  }
  test::fail(__FILE__, line, std::string("expected an error naming ") + field);
}

}  // namespace

TEST(cuda_sampling_matches_cpu) {
  if (!have_device()) return;
  uint32_t seed = 100;
  for (int64_t vocab : {1, 7, 4097, 32000, 128256}) {
    const int64_t rows = vocab > 100000 ? 4 : 6;
    for (const Filter& f : kFilters) check_rows(rows, vocab, f, seed++, vocab == 4097);
  }
}

// More rows than one sort holds (4M keys): two chunks, the second partial.
TEST(cuda_sampling_matches_cpu_across_chunks) {
  if (!have_device()) return;
  uint32_t seed = 500;
  for (const Filter& f : kFilters)
    if (f.top_p < 1.0 || f.temperature == 0.7 || f.temperature == 0.0) check_rows(140, 32000, f, seed++);
}

// Rows of equal weights, where every sum is a small integer (exact in any
// order) and the boundaries are hit exactly: the top-p cut must take the first
// position whose mass reaches top_p (>=), the draw the first whose running sum
// exceeds u * total (>); equal logits (-0 and +0 among them) go in id order.
TEST(cuda_sampling_exact_boundaries) {
  if (!have_device()) return;
  const std::vector<double> u = {0.0, 0.25, 0.5, 0.75, 0.999999999};
  const int64_t rows = static_cast<int64_t>(u.size());
  for (int64_t vocab : {4, 8}) {
    std::vector<float> logits(static_cast<size_t>(rows * vocab));
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = (i * 7 % 3 == 0) ? -0.0f : 0.0f;
    for (const Filter& f : {Filter{"equal, top-p 0.5", 1.0, 0, 0.5}, Filter{"equal, top-p 0.75", 0.7, 0, 0.75},
                            Filter{"equal, top-k 2", 1.0, 2, 1.0}, Filter{"equal, top-k 3, top-p 0.5", 1.0, 3, 0.5},
                            Filter{"equal, no filter", 1.3, 0, 1.0}, Filter{"equal, greedy", 0.0, 0, 1.0}})
      compare(logits, rows, vocab, f, u);
  }
  // The first maximum when it is a zero of either sign.
  const std::vector<float> zeros = {-1.0f, -0.0f, 0.0f, -0.0f, -1.0f, 0.0f, -2.0f};
  compare(zeros, 1, 7, Filter{"greedy over zeros", 0.0, 0, 1.0}, {0.5});
}

// NaN logits (a diverged model): greedy takes std::max_element's answer (id 0
// when it is NaN, else the first maximum of the others), and every draw is a
// valid id. An all-NaN row once gave token -1 at temperature 0.
TEST(cuda_sampling_nan_rows_give_valid_tokens) {
  if (!have_device()) return;
  const int64_t vocab = 700, rows = 3;
  std::vector<float> logits(static_cast<size_t>(rows * vocab));
  for (int64_t i = 0; i < rows * vocab; ++i) logits[i] = static_cast<float>((i * 37) % 11) - 5.0f;
  for (int64_t i = 0; i < vocab; ++i) logits[i] = NAN;  // row 0: all NaN
  logits[vocab] = NAN;                                  // row 1: NaN at id 0
  logits[2 * vocab + 300] = NAN;                        // row 2: a NaN inside
  const std::vector<double> u = {0.3, 0.6, 0.9};
  Dev<float> logits_d(logits);
  Dev<double> u_d(u);
  for (const Filter& f : kFilters) {
    const cpu::SamplingParams s = params(f, vocab);
    Dev<int32_t> tokens_d(static_cast<size_t>(rows));
    Dev<double> logprob_d(static_cast<size_t>(rows));
    cuda::sample_rows(logits_d.p, rows, vocab, s, f.temperature == 0.0 ? nullptr : u_d.p, tokens_d.p, logprob_d.p);
    const std::vector<int32_t> tokens = tokens_d.host();
    for (int64_t r = 0; r < rows; ++r) {
      CHECK(tokens[r] >= 0 && tokens[r] < vocab);
      if (f.temperature == 0.0) {
        const float* z = logits.data() + r * vocab;
        CHECK(tokens[r] == std::max_element(z, z + vocab) - z);
      }
    }
  }
}

TEST(cuda_sampling_rejects_bad_arguments) {
  // Never dereferenced: validation comes before any CUDA call.
  float logits = 0;
  double u = 0.5, logprob = 0;
  int32_t token = 0;
  const cpu::SamplingParams ok;
  auto call = [&](int64_t rows, int64_t vocab, const cpu::SamplingParams& s, const float* l, const double* uu,
                  int32_t* t, double* lp) { cuda::sample_rows(l, rows, vocab, s, uu, t, lp); };
  expect_error_naming("sample_rows rows", __LINE__, [&] { call(0, 10, ok, &logits, &u, &token, &logprob); });
  expect_error_naming("sample_rows rows", __LINE__, [&] { call(-3, 10, ok, &logits, &u, &token, &logprob); });
  expect_error_naming("sample_rows rows", __LINE__,
                      [&] { call(INT64_MAX / 4, 1000, ok, &logits, &u, &token, &logprob); });
  expect_error_naming("sample_rows vocab", __LINE__, [&] { call(1, 0, ok, &logits, &u, &token, &logprob); });
  expect_error_naming("sample_rows vocab", __LINE__,
                      [&] { call(1, int64_t(1) << 31, ok, &logits, &u, &token, &logprob); });
  expect_error_naming("sample_rows logits", __LINE__, [&] { call(1, 10, ok, nullptr, &u, &token, &logprob); });
  expect_error_naming("sample_rows u", __LINE__, [&] { call(1, 10, ok, &logits, nullptr, &token, &logprob); });
  expect_error_naming("sample_rows tokens", __LINE__, [&] { call(1, 10, ok, &logits, &u, nullptr, &logprob); });
  expect_error_naming("sample_rows logprob", __LINE__, [&] { call(1, 10, ok, &logits, &u, &token, nullptr); });
  cpu::SamplingParams s;
  s.temperature = -1;
  expect_error_naming("temperature", __LINE__, [&] { call(1, 10, s, &logits, &u, &token, &logprob); });
  s.temperature = NAN;
  expect_error_naming("temperature", __LINE__, [&] { call(1, 10, s, &logits, &u, &token, &logprob); });
  s = ok;
  s.top_p = 0;
  expect_error_naming("topP", __LINE__, [&] { call(1, 10, s, &logits, &u, &token, &logprob); });
  s.top_p = 1.5;
  expect_error_naming("topP", __LINE__, [&] { call(1, 10, s, &logits, &u, &token, &logprob); });
  s = ok;
  s.top_k = -1;
  expect_error_naming("topK", __LINE__, [&] { call(1, 10, s, &logits, &u, &token, &logprob); });
  // Greedy needs no u, but still everything else.
  s = ok;
  s.temperature = 0;
  expect_error_naming("sample_rows tokens", __LINE__, [&] { call(1, 10, s, &logits, nullptr, nullptr, &logprob); });
  CHECK_THROWS(call(1, 10, ok, &logits, nullptr, &token, &logprob));
}
