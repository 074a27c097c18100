// Whole-model gradient checks: for every parameter tensor, the directional
// derivative along a random direction from central differences of the loss
// must match the analytic gradient, for the SFT, DPO and BT objectives.
#include <cmath>
#include <cstring>
#include <vector>

#include "../core/rng.h"
#include "../core/thread_pool.h"
#include "../model/model.h"
#include "harness.h"
#include "util.h"

using namespace genrm;
using namespace genrm::test;

namespace {

model::Config tiny_config(bool tied) {
  model::Config c;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.vocab_size = 23;
  c.max_position_embeddings = 32;
  c.rope_theta = 10000;
  c.rms_norm_eps = 1e-5;
  c.initializer_range = 0.3;
  c.tie_word_embeddings = tied;
  c.reward_head = true;
  return c;
}

model::Batch tiny_batch() {
  model::Batch b;
  b.cu_seqlens = {0, 6, 7, 15, 20};
  for (int i = 0; i < 20; ++i) b.ids.push_back((i * 7 + 3) % 23);
  b.loss_mask.assign(20, 1);
  for (int s : {0, 6, 7, 15}) b.loss_mask[s] = 0;
  b.loss_mask[8] = 0;
  return b;
}

model::Objective objective(model::ObjectiveKind kind) {
  model::Objective o;
  o.kind = kind;
  o.pairs = {0, 2, 3, 0};
  o.beta = 0.7;
  o.label_smoothing = 0.1;
  o.ref_logps = {-10.0f, 0.0f, -20.0f, -8.0f};
  o.margins = {0.2f, -0.1f};
  o.center_rewards_coefficient = 0.05;
  return o;
}

void check_gradients(bool tied, model::ObjectiveKind kind) {
  model::Model m(tiny_config(tied), 7);
  model::Batch b = tiny_batch();
  model::validate_batch(m.config(), b);
  const model::Objective o = objective(kind);
  m.zero_grad();
  m.run(b, o, true, {});
  const std::vector<float> grad = m.grads();
  std::vector<float>& p = m.params();
  auto loss = [&]() { return m.run(b, o, false, {}).metrics[0].second; };
  uint32_t seed = 100;
  for (const model::ParamInfo& info : m.layout()) {
    const std::vector<float> dir = randn(info.size, seed++);
    double analytic = 0;
    for (int64_t i = 0; i < info.size; ++i) analytic += static_cast<double>(grad[info.offset + i]) * dir[i];
    const std::vector<float> saved(p.begin() + info.offset, p.begin() + info.offset + info.size);
    const double h = 1e-3;
    for (int64_t i = 0; i < info.size; ++i) p[info.offset + i] = saved[i] + static_cast<float>(h) * dir[i];
    const double up = loss();
    for (int64_t i = 0; i < info.size; ++i) p[info.offset + i] = saved[i] - static_cast<float>(h) * dir[i];
    const double down = loss();
    std::copy(saved.begin(), saved.end(), p.begin() + info.offset);
    const double numeric = (up - down) / (2 * h);
    const bool ok = std::fabs(numeric - analytic) <= 2e-3 + 2e-2 * std::fabs(numeric);
    if (!ok) std::printf("    %s: numeric %.6g analytic %.6g\n", info.name.c_str(), numeric, analytic);
    CHECK(ok);
  }
}

}  // namespace

TEST(model_gradients_sft) { check_gradients(false, model::ObjectiveKind::Sft); }
TEST(model_gradients_dpo_tied) { check_gradients(true, model::ObjectiveKind::Dpo); }
TEST(model_gradients_bt) { check_gradients(false, model::ObjectiveKind::Bt); }

// Random initialisation fills blocks of a tensor on all threads, each block
// skipping ahead in the tensor's stream: the values must be those of one
// sequential Box-Muller pass over the stream (what models were always created
// with), whatever the thread count. The embedding here spans several blocks.
TEST(model_initialisation_is_the_sequential_stream_on_any_thread_count) {
  model::Config c = tiny_config(false);
  c.vocab_size = 3001;
  c.hidden_size = 48;
  c.intermediate_size = 40;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  const uint64_t seed = 42;
  const int64_t n = c.vocab_size * c.hidden_size;  // the embedding, parameter 0
  std::vector<float> want(static_cast<size_t>(n));
  SplitMix64 r{seed * 0x100000001b3ull + 0};
  for (int64_t i = 0; i < n; i += 2) {
    const double u1 = r.uniform_open(), u2 = r.uniform_open();
    const double rad = std::sqrt(-2.0 * std::log(u1)) * c.initializer_range, ang = 2.0 * M_PI * u2;
    want[i] = static_cast<float>(rad * std::cos(ang));
    if (i + 1 < n) want[i + 1] = static_cast<float>(rad * std::sin(ang));
  }
  const int saved = num_threads();
  std::vector<float> first;
  for (int threads : {1, 3, 2}) {
    set_num_threads(threads);
    model::Model m(c, seed);
    const std::vector<float>& p = m.params();
    CHECK(std::equal(want.begin(), want.end(), p.begin()));
    if (first.empty()) first = p;
    CHECK(p == first);
  }
  set_num_threads(saved);
}

TEST(model_loss_bitwise_identical_across_runs_and_threads) {
  model::Batch b = tiny_batch();
  std::vector<double> losses;
  int saved = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    model::Model m(tiny_config(false), 11);
    model::validate_batch(m.config(), b);
    model::OptimConfig oc;
    oc.adam.lr = 1e-2;
    oc.max_grad_norm = 1.0;
    double last = 0;
    for (int step = 0; step < 3; ++step) {
      last = m.run(b, objective(model::ObjectiveKind::Sft), true, {}).metrics[0].second;
      m.optimizer_step(oc);
    }
    losses.push_back(last);
  }
  set_num_threads(saved);
  CHECK(losses[0] == losses[1]);
  CHECK(losses[1] == losses[2]);
}

TEST(model_batch_validation) {
  model::Model m(tiny_config(false), 1);
  model::Batch b = tiny_batch();
  b.ids[3] = 23;
  CHECK_THROWS(model::validate_batch(m.config(), b));
  b = tiny_batch();
  b.loss_mask[6] = 1;  // first token of sequence 1
  CHECK_THROWS(model::validate_batch(m.config(), b));
  b = tiny_batch();
  b.cu_seqlens = {0, 40};
  b.ids.assign(40, 1);
  b.loss_mask.clear();
  CHECK_THROWS(model::validate_batch(m.config(), b));  // longer than max_position_embeddings
  b = tiny_batch();
  b.cu_seqlens = {0, 6, 5, 20};
  CHECK_THROWS(model::validate_batch(m.config(), b));
}

TEST(model_nan_loss_leaves_parameters_unchanged) {
  model::Model m(tiny_config(false), 3);
  model::Batch b = tiny_batch();
  model::validate_batch(m.config(), b);
  model::Objective o = objective(model::ObjectiveKind::Dpo);
  o.ref_logps[0] = NAN;
  const std::vector<float> before = m.params();
  CHECK_THROWS(m.run(b, o, true, {}));
  CHECK(std::memcmp(before.data(), m.params().data(), before.size() * sizeof(float)) == 0);
  for (float g : m.grads()) CHECK(g == 0.0f);
}
