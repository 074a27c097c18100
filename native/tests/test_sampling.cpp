// The sampling filter's radix sort gives exactly the order of a comparison sort
// (highest logit first, equal logits by id, -0 equal to +0), on logits with many
// ties, signed zeros and infinities, at vocabulary sizes around the radix's
// digit boundaries.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "../core/thread_pool.h"
#include "../cpu/sampling.h"
#include "../model/model.h"
#include "harness.h"

using namespace genrm;

TEST(sort_by_logit_matches_a_comparison_sort) {
  std::mt19937 rng(5);
  for (int64_t vocab : {1, 2, 7, 2047, 2048, 2049, 4097, 50000, 131072}) {
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<float> logits(static_cast<size_t>(vocab));
      std::uniform_int_distribution<int> level(-40, 40);
      std::uniform_int_distribution<int> special(0, 99);
      for (float& x : logits) {
        const int k = special(rng);
        x = k == 0   ? -0.0f
            : k == 1 ? 0.0f
            : k == 2 ? -INFINITY
            : k == 3 ? INFINITY
                     : 0.25f * static_cast<float>(level(rng));
        if (trial == 2) x = std::ldexp(x, -130);  // subnormals and their ties
      }
      std::vector<int32_t> want(static_cast<size_t>(vocab));
      std::iota(want.begin(), want.end(), 0);
      std::sort(want.begin(), want.end(),
                [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
      cpu::Candidates c;
      cpu::sort_by_logit(logits.data(), vocab, c);
      CHECK(c.ids == want);
    }
  }
}

// The filter through the fast sort keeps what it kept before: the top-p prefix
// of the comparison-sorted order, with the same weights.
TEST(top_p_filter_keeps_the_comparison_sorted_prefix) {
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  const int64_t vocab = 5000;
  std::vector<float> logits(vocab);
  for (float& x : logits) x = std::round(nd(rng) * 4.0f) / 4.0f;  // ties
  cpu::SamplingParams p;
  p.temperature = 0.7;
  p.top_p = 0.9;
  cpu::Candidates c;
  cpu::sampling_filter(logits.data(), vocab, p, c);
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  const float mx = logits[order[0]];
  double total = 0;
  std::vector<double> w(vocab);
  const double inv_t = 1.0 / 0.7;  // the filter's own arithmetic
  for (int64_t i = 0; i < vocab; ++i) total += (w[i] = std::exp((logits[order[i]] - mx) * inv_t));
  double acc = 0;
  int64_t cut = vocab;
  for (int64_t i = 0; i < vocab; ++i) {
    acc += w[i] / total;
    if (acc >= 0.9) {
      cut = i + 1;
      break;
    }
  }
  CHECK(c.kept == cut);
  for (int64_t i = 0; i < cut && i < c.kept; ++i) {
    CHECK(c.ids[i] == order[i]);
    CHECK(c.weights[i] == w[i]);
  }
}

// Weights taken from exp_shifted's values (temperature 1) are the ones the
// filter computes itself, to the bit, whatever else is on; other temperatures
// ignore them.
TEST(filter_with_precomputed_exponentials_gives_the_same_candidates) {
  std::mt19937 rng(21);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  const int64_t vocab = 3001;
  std::vector<float> logits(vocab);
  for (float& x : logits) x = std::round(nd(rng) * 8.0f) / 8.0f;  // ties
  const float mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> exps(vocab);
  double z = cpu::exp_shifted(logits.data(), vocab, mx, exps.data()), want_z = 0;
  for (int64_t i = 0; i < vocab; ++i) want_z += std::exp(static_cast<double>(logits[i] - mx));
  CHECK(z == want_z);
  struct Filter {
    double temperature, top_p;
    int64_t top_k;
  };
  for (const Filter& f : {Filter{1.0, 0.9, 0}, Filter{1.0, 1.0, 50}, Filter{1.0, 0.95, 400}, Filter{1.0, 1.0, 0},
                          Filter{0.7, 0.9, 0}, Filter{1.3, 1.0, 20}}) {
    cpu::SamplingParams p;
    p.temperature = f.temperature;
    p.top_p = f.top_p;
    p.top_k = f.top_k;
    cpu::Candidates plain, given;
    cpu::sampling_filter(logits.data(), vocab, p, plain);
    cpu::sampling_filter(logits.data(), vocab, p, given, exps.data());
    CHECK(plain.kept == given.kept);
    CHECK(plain.total == given.total);
    bool same = true;
    for (int64_t i = 0; i < plain.kept && i < given.kept; ++i)
      same = same && plain.ids[i] == given.ids[i] && plain.weights[i] == given.weights[i];
    CHECK(same);
  }
}

// Another thread may resize the engine's pool (configure({ threads })) while a
// generation is drawing tokens in parallel: per-thread scratch must not be sized
// by the thread count seen when the generation began. The tokens stay those of
// a run on a fixed pool.
TEST(generation_survives_the_pool_resized_while_it_draws) {
  model::Config c;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.vocab_size = 4000;  // a top-p sort per draw long enough to overlap the resizes
  c.max_position_embeddings = 128;
  c.initializer_range = 0.5;
  model::Model m(c, 3);
  model::SamplingConfig s;
  s.max_new_tokens = 40;
  s.filter.temperature = 1.0;
  s.filter.top_p = 0.9;
  const std::vector<model::GenerateRequest> requests = {{{1, 2, 3}, 24, 7}, {{5}, 9, 8}};

  const int saved = num_threads();
  set_num_threads(1);
  const model::GenerateResult want = m.generate(requests, s);
  for (int round = 0; round < 4; ++round) {
    set_num_threads(1);
    std::atomic<bool> finished{false};
    model::GenerateResult got;
    std::thread runner([&] {
      got = m.generate(requests, s);
      finished.store(true);
    });
    for (int n = 2; !finished.load(); n = n % 6 + 1) set_num_threads(n);
    runner.join();
    CHECK(got.tokens == want.tokens);
  }
  set_num_threads(saved);
}
