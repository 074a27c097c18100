// The whole model on the device against the same model on the CPU: losses,
// per-sequence log-probs, rewards and every parameter's gradient for the SFT,
// DPO and Bradley-Terry objectives; a short AdamW run whose loss curves must
// agree; buffers that travel between host and device when read or written;
// reproducible bits; out-of-memory that names the allocation and leaves the
// device usable.
//
// Tolerances: the device multiplies bf16-rounded operands (8 significant bits,
// up to 2^-8 relative per operand) with fp32 accumulation, the CPU in fp32.
// On the CPU stand-in for the device (native/tests/host_double/), which rounds
// the GEMM, attention and log-prob operands the same way, these cases give
// losses within 1.0e-3 relative and gradients within 1.9e-2 (relative L2 per
// tensor, worst tensor). The GPU adds roundings the stand-in does not make
// (attention's P and dS, the log-prob's dz, all bf16), so losses are held to
// 1e-2 and gradients to 8e-2; a wiring or kernel bug gives errors of order 1.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "../cpu/losses.h"
#include "../cuda/check.h"
#include "../cuda/gemm.h"
#include "../model/model.h"
#include "have_device.h"
#include "util.h"

using namespace genrm;
using test::have_device;

namespace {

model::Config config(bool tied) {
  model::Config c;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;  // head_dim 16: the tensor-core attention path
  c.num_key_value_heads = 2;
  c.vocab_size = 101;
  c.max_position_embeddings = 128;
  c.rope_theta = 10000;
  c.rms_norm_eps = 1e-5;
  c.initializer_range = 0.1;
  c.tie_word_embeddings = tied;
  c.reward_head = true;
  return c;
}

// The families' pieces on the same small model: Qwen2's q/k/v biases, Llama's
// attention_bias (those and o_proj's) with mlp_bias (gate, up, down), Qwen3's
// q/k norms on a head_dim that is not hidden / heads.
enum class Family { Llama, Qwen2, LlamaBiases, Qwen3 };

model::Config config(Family f) {
  model::Config c = config(false);
  c.qkv_bias = f == Family::Qwen2 || f == Family::LlamaBiases;
  c.o_bias = c.mlp_bias = f == Family::LlamaBiases;
  c.qk_norm = f == Family::Qwen3;
  if (f == Family::Qwen3) c.explicit_head_dim = 32;
  return c;
}

const char* family_name(Family f) {
  switch (f) {
    case Family::Llama: return "llama";
    case Family::Qwen2: return "qwen2";
    case Family::LlamaBiases: return "llama biases";
    case Family::Qwen3: return "qwen3";
  }
  return "";
}

// New models start with zero biases and unit norm weights, which would hide a
// missing add or a missing scale: give the model's biases and q/k norm weights
// values of their own (host writes reach the device's next run).
void perturb(model::Model& m) {
  std::vector<float>& p = m.params();
  uint32_t state = 12345;
  for (const model::ParamInfo& info : m.layout()) {
    const bool bias = info.name.find(".bias") != std::string::npos;
    const bool norm = info.name.find("q_norm") != std::string::npos || info.name.find("k_norm") != std::string::npos;
    if (!bias && !norm) continue;
    for (int64_t i = 0; i < info.size; ++i) {
      state = state * 1664525u + 1013904223u;
      const float u = static_cast<float>(state >> 8) / 16777216.0f - 0.5f;  // [-0.5, 0.5)
      p[info.offset + i] = norm ? 1.0f + u : 0.4f * u;
    }
  }
}

model::Batch batch(const model::Config& c) {
  model::Batch b;
  b.cu_seqlens = {0, 37, 38, 90, 121};
  const int n = b.cu_seqlens.back();
  for (int i = 0; i < n; ++i) b.ids.push_back((i * 37 + 11) % static_cast<int>(c.vocab_size));
  b.loss_mask.assign(n, 1);
  for (int s = 0; s + 1 < static_cast<int>(b.cu_seqlens.size()); ++s) b.loss_mask[b.cu_seqlens[s]] = 0;
  b.loss_mask[50] = 0;
  model::validate_batch(c, b);
  return b;
}

// A sequence over 64 tokens: attention's backward sums dQ over two key tiles.
model::Batch long_batch(const model::Config& c) {
  model::Batch b;
  b.cu_seqlens = {0, 100, 121};
  const int n = b.cu_seqlens.back();
  for (int i = 0; i < n; ++i) b.ids.push_back((i * 29 + 5) % static_cast<int>(c.vocab_size));
  b.loss_mask.assign(n, 1);
  b.loss_mask[0] = b.loss_mask[100] = 0;
  model::validate_batch(c, b);
  return b;
}

model::Objective objective(model::ObjectiveKind kind) {
  model::Objective o;
  o.kind = kind;
  // Sequence 1 is one token, so it has no target: BT reads its last token, DPO
  // refuses a pair without targets, so DPO pairs sequence 3 with 0 (used twice).
  o.pairs = kind == model::ObjectiveKind::Dpo ? std::vector<int32_t>{0, 2, 3, 0} : std::vector<int32_t>{0, 2, 3, 1};
  o.beta = 0.5;
  o.ref_logps = {-170.0f, 0.0f, -240.0f, -150.0f};
  o.margins = {0.2f, -0.1f};
  return o;
}

double rel_diff(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num) / (std::sqrt(den) + 1e-30);
}

bool close(double got, double want, double rtol) { return std::fabs(got - want) <= rtol * (std::fabs(want) + 1e-6); }

void compare_run(const model::Config& c, model::ObjectiveKind kind, const std::string& name,
                 model::Precision precision = model::Precision::Bf16, bool deterministic = true,
                 bool long_sequence = false) {
  // fp32 on the device differs from the CPU only in summation order.
  const bool exact = precision == model::Precision::Fp32;
  const double loss_tol = exact ? 1e-5 : 1e-2, grad_tol = exact ? 1e-4 : 8e-2;
  model::Model cpu_m(c, 5), gpu_m(c, 5, true, model::Device::Cuda, precision, deterministic);
  perturb(cpu_m);
  perturb(gpu_m);
  const model::Batch b = long_sequence ? long_batch(c) : batch(c);
  const model::Objective o = objective(kind);
  const model::Result rc = cpu_m.run(b, o, true, {}), rg = gpu_m.run(b, o, true, {});
  // DPO's loss sees absolute log-prob errors: within bf16's tolerance on sequences of
  // -150 to -240 nats its margins move by tenths (the CUDA simulator measured a loss
  // 1.3% off the CPU's with every log-prob within 0.04%). So in bf16 the device's DPO
  // loss must be exactly the loss of its own log-probs, and those must match the CPU's.
  double want_loss = rc.metrics[0].second, tol = loss_tol;
  if (kind == model::ObjectiveKind::Dpo && !exact) {
    cpu::DpoArgs a;
    a.kind = o.dpo_loss;
    a.beta = o.beta;
    a.label_smoothing = o.label_smoothing;
    a.pairs = o.pairs.data();
    a.num_pairs = static_cast<int64_t>(o.pairs.size() / 2);
    a.policy_logps = rg.seq_logps.data();
    a.ref_logps = o.ref_logps.data();
    a.counts = rg.seq_counts.data();
    std::vector<float> dlogp(rg.seq_logps.size(), 0.0f);
    want_loss = cpu::dpo_loss(a, dlogp.data()).loss;
    tol = 1e-5;
  }
  // The same for BT's loss, a function of reward differences (checked against
  // the CPU's rewards below).
  if (kind == model::ObjectiveKind::Bt && !exact) {
    std::vector<float> drew(rg.rewards.size(), 0.0f);
    want_loss = cpu::bt_loss(rg.rewards.data(), o.pairs.data(), o.margins.data(),
                             static_cast<int64_t>(o.pairs.size() / 2), o.center_rewards_coefficient, drew.data())
                    .loss;
    tol = 1e-5;
  }
  if (!close(rg.metrics[0].second, want_loss, tol))
    test::fail(
        __FILE__, __LINE__,
        std::string(name) + ": loss " + std::to_string(rg.metrics[0].second) + " vs " + std::to_string(want_loss));
  double worst_logp = 0;
  for (size_t s = 0; s < rc.seq_logps.size(); ++s) {
    if (!close(rg.seq_logps[s], rc.seq_logps[s], loss_tol))
      test::fail(__FILE__, __LINE__, std::string(name) + ": seq_logps[" + std::to_string(s) + "]");
    worst_logp =
        std::max(worst_logp, std::fabs(rg.seq_logps[s] - rc.seq_logps[s]) / (std::fabs(rc.seq_logps[s]) + 1e-6));
  }
  // A reward is one dot product of the last token's hidden state, with no
  // average to shrink its bf16 error as the losses' do: held to 3e-2 of (1 + |r|).
  const double reward_tol = exact ? loss_tol : 3e-2;
  double worst_reward = 0;
  for (size_t s = 0; s < rc.rewards.size(); ++s) {
    const double e = std::fabs(rg.rewards[s] - rc.rewards[s]) / (1 + std::fabs(rc.rewards[s]));
    worst_reward = std::max(worst_reward, e);
    if (!(e <= reward_tol))
      test::fail(__FILE__, __LINE__,
                 std::string(name) + ": rewards[" + std::to_string(s) + "] " + std::to_string(rg.rewards[s]) + " vs " +
                     std::to_string(rc.rewards[s]));
  }
  const std::vector<float>& gc = cpu_m.view(model::Buffer::Grads);
  const std::vector<float>& gg = gpu_m.view(model::Buffer::Grads);
  double worst = -1;
  std::string worst_name;
  for (const model::ParamInfo& p : cpu_m.layout()) {
    double ref_norm = 0;
    for (int64_t i = 0; i < p.size; ++i) ref_norm += std::fabs(gc[p.offset + i]);
    if (ref_norm == 0) continue;  // e.g. the reward head under SFT
    const double e = rel_diff(gg.data() + p.offset, gc.data() + p.offset, p.size);
    if (!(e <= grad_tol))
      test::fail(__FILE__, __LINE__,
                 std::string(name) + ": gradient of " + p.name + " differs by " + std::to_string(e));
    if (!(e <= worst)) {
      worst = e;
      worst_name = p.name;
    }
  }
  // The margins, for the log: how close each run came to its tolerances.
  std::printf("    %s: loss %.3e relative, sequence log-probs %.3e, rewards %.3e, worst gradient %.3e (%s)\n",
              name.c_str(),
              std::fabs(rg.metrics[0].second - rc.metrics[0].second) / (std::fabs(rc.metrics[0].second) + 1e-6),
              worst_logp, worst_reward, worst, worst_name.c_str());
}

}  // namespace

TEST(cuda_model_sft_matches_cpu) {
  if (!have_device()) return;
  compare_run(config(false), model::ObjectiveKind::Sft, "sft");
  compare_run(config(true), model::ObjectiveKind::Sft, "sft tied");
}

TEST(cuda_model_dpo_matches_cpu) {
  if (!have_device()) return;
  compare_run(config(false), model::ObjectiveKind::Dpo, "dpo");
}

TEST(cuda_model_bt_matches_cpu) {
  if (!have_device()) return;
  compare_run(config(false), model::ObjectiveKind::Bt, "bt");
}

// Biases and q/k norms: every objective in both precisions.
TEST(cuda_model_families_match_cpu) {
  if (!have_device()) return;
  for (Family f : {Family::Qwen2, Family::LlamaBiases, Family::Qwen3})
    for (model::Precision p : {model::Precision::Bf16, model::Precision::Fp32})
      for (model::ObjectiveKind k : {model::ObjectiveKind::Sft, model::ObjectiveKind::Dpo, model::ObjectiveKind::Bt}) {
        const char* kind = k == model::ObjectiveKind::Sft ? "sft" : k == model::ObjectiveKind::Dpo ? "dpo" : "bt";
        compare_run(config(f), k,
                    std::string(family_name(f)) + " " + kind + (p == model::Precision::Fp32 ? " fp32" : ""), p);
      }
}

#ifdef GENRM_CUDA_STAND_IN
namespace genrm::cuda::stand_in {
extern bool last_backward_deterministic;  // what model.cu asked of the last attention backward
}
#endif

// deterministic = false: attention's dQ by atomics, on a sequence of two key
// tiles. Within the same tolerances, and the top layer's key and value
// projections get the same gradient bits either way (dK and dV come from the
// same code). (dQ's bits mostly agree too: it is summed in another order in
// fp32, then stored in bf16.) On the CPU stand-in: model.cu passes the choice on.
TEST(cuda_model_atomic_attention_backward_matches_cpu) {
  if (!have_device()) return;
  compare_run(config(false), model::ObjectiveKind::Sft, "sft, atomic dQ", model::Precision::Bf16, false, true);
  const model::Config c = config(false);
  model::Model det(c, 5, true, model::Device::Cuda),
      fast(c, 5, true, model::Device::Cuda, model::Precision::Bf16, false);
  CHECK(det.deterministic() && !fast.deterministic());
  const model::Batch b = long_batch(c);
  const model::Objective o = objective(model::ObjectiveKind::Sft);
  fast.run(b, o, true, {});
#ifdef GENRM_CUDA_STAND_IN
  CHECK(!cuda::stand_in::last_backward_deterministic);
#endif
  det.run(b, o, true, {});
#ifdef GENRM_CUDA_STAND_IN
  CHECK(cuda::stand_in::last_backward_deterministic);
#endif
  const std::vector<float>&gd = det.view(model::Buffer::Grads), &gf = fast.view(model::Buffer::Grads);
  const std::string top = "model.layers." + std::to_string(c.num_hidden_layers - 1) + ".self_attn.";
  int seen = 0;
  for (const model::ParamInfo& p : det.layout())
    if (p.name == top + "k_proj.weight" || p.name == top + "v_proj.weight") {
      CHECK(std::equal(gd.begin() + p.offset, gd.begin() + p.offset + p.size, gf.begin() + p.offset));
      ++seen;
    }
  CHECK(seen == 2);
}

#ifdef GENRM_CUDA_STAND_IN
namespace genrm::cuda::stand_in {
extern unsigned gemm_engines_seen;  // a bit per GemmEngine that model.cu asked the products for
}
#endif

// GENRM_CUDA_GEMM=own makes a bf16 model run every product on the project's own
// kernel (the shipped prebuild's, which has no cuBLAS), so its speed can be
// measured where cuBLAS exists; a bad value is an error naming the variable;
// fp32 precision keeps its SIMT products whatever the variable says.
TEST(cuda_model_gemm_engine_from_the_environment) {
  if (!have_device()) return;
  struct Restore {
    ~Restore() { unsetenv("GENRM_CUDA_GEMM"); }
  } restore;
  const model::Config c = config(false);
  const model::Batch b = batch(c);
  const model::Objective o = objective(model::ObjectiveKind::Sft);
  auto refused = [&](const char* value, const char* expected) {
    setenv("GENRM_CUDA_GEMM", value, 1);
    std::string what;
    try {
      model::Model m(c, 5, true, model::Device::Cuda);
    } catch (const std::exception& e) {
      what = e.what();
    }
    CHECK(what.find("GENRM_CUDA_GEMM") != std::string::npos);
    CHECK(what.find(std::string("\"") + value + "\"") != std::string::npos);
    CHECK(what.find(expected) != std::string::npos);
  };
  refused("fast", cuda::have_cublas() ? "auto, own or cublas" : "auto or own");
  if (!cuda::have_cublas()) refused("cublas", "no cuBLAS");

  auto grads_after_run = [&](const char* value, unsigned& engines, model::Precision p = model::Precision::Bf16) {
    if (value)
      setenv("GENRM_CUDA_GEMM", value, 1);
    else
      unsetenv("GENRM_CUDA_GEMM");
    model::Model m(c, 5, true, model::Device::Cuda, p);
#ifdef GENRM_CUDA_STAND_IN
    cuda::stand_in::gemm_engines_seen = 0;
#endif
    m.run(b, o, true, {});
#ifdef GENRM_CUDA_STAND_IN
    engines = cuda::stand_in::gemm_engines_seen;
#else
    engines = 0;
#endif
    return m.view(model::Buffer::Grads);
  };
  unsigned seen_own = 0, seen_auto = 0, seen_fp32 = 0;
  const std::vector<float> own = grads_after_run("own", seen_own), dflt = grads_after_run(nullptr, seen_auto);
  grads_after_run("own", seen_fp32, model::Precision::Fp32);
  const auto bit = [](cuda::GemmEngine e) { return 1u << static_cast<unsigned>(e); };
#ifdef GENRM_CUDA_STAND_IN
  CHECK(seen_own == bit(cuda::GemmEngine::Own));
  CHECK(seen_auto == bit(cuda::GemmEngine::Auto));
  CHECK(seen_fp32 == bit(cuda::GemmEngine::Simt));
#else
  (void)bit;
#endif
  // Without cuBLAS, Auto is the own kernel: the same bits. With it, two GEMMs
  // that sum in other orders: the same gradients within bf16's reach.
  if (!cuda::have_cublas()) {
    CHECK(own == dflt);
  } else {
    CHECK(rel_diff(own.data(), dflt.data(), static_cast<int64_t>(own.size())) < 2e-2);
  }
}

TEST(cuda_model_fp32_precision_matches_cpu_to_float_rounding) {
  if (!have_device()) return;
  compare_run(config(false), model::ObjectiveKind::Sft, "sft fp32", model::Precision::Fp32);
  compare_run(config(true), model::ObjectiveKind::Dpo, "dpo fp32 tied", model::Precision::Fp32);
  compare_run(config(false), model::ObjectiveKind::Bt, "bt fp32", model::Precision::Fp32);
}

// The same short training run on both: the loss curves agree step by step.
TEST(cuda_model_training_curve_matches_cpu) {
  if (!have_device()) return;
  const model::Config c = config(false);
  model::Model cpu_m(c, 9), gpu_m(c, 9, true, model::Device::Cuda);
  const model::Batch b = batch(c);
  const model::Objective o = objective(model::ObjectiveKind::Sft);
  model::OptimConfig opt;
  opt.adam.lr = 3e-3;
  opt.adam.weight_decay = 0.1;
  opt.max_grad_norm = 1.0;
  std::printf("    step  cpu loss  cuda loss\n");
  double worst = 0;
  for (int step = 0; step < 12; ++step) {
    const double lc = cpu_m.run(b, o, true, {}).metrics[0].second;
    const double lg = gpu_m.run(b, o, true, {}).metrics[0].second;
    const model::StepResult sc = cpu_m.optimizer_step(opt), sg = gpu_m.optimizer_step(opt);
    std::printf("    %4d  %.5f  %.5f  (grad norm %.4f / %.4f)\n", step, lc, lg, sc.grad_norm, sg.grad_norm);
    worst = std::max(worst, std::fabs(lg - lc) / lc);
    CHECK(sg.step == sc.step);
  }
  std::printf("    worst relative loss difference over 12 steps: %.2e\n", worst);
  CHECK(worst <= 2e-2);
}

// Host reads fetch the device's values; host writes reach the next device run.
TEST(cuda_model_buffers_travel_both_ways) {
  if (!have_device()) return;
  const model::Config c = config(false);
  model::Model cpu_m(c, 3), gpu_m(c, 3, true, model::Device::Cuda);
  const model::Batch b = batch(c);
  const model::Objective o = objective(model::ObjectiveKind::Sft);
  model::OptimConfig opt;
  opt.adam.lr = 1e-2;
  cpu_m.run(b, o, true, {});
  gpu_m.run(b, o, true, {});
  cpu_m.optimizer_step(opt);
  gpu_m.optimizer_step(opt);
  // Parameters after one step on the device, read back on the host. AdamW's
  // first step moves each parameter by about lr whatever its gradient's size, so
  // gradient elements near zero whose sign bf16 rounding flips move 2 lr apart:
  // 1.0e-2 on the simulator, where reading the parameters from before the step
  // would give 8.4e-2.
  const std::vector<float>& pc = cpu_m.view(model::Buffer::Params);
  const std::vector<float>& pg = gpu_m.view(model::Buffer::Params);
  CHECK(rel_diff(pg.data(), pc.data(), cpu_m.num_params()) <= 3e-2);
  CHECK(rel_diff(gpu_m.view(model::Buffer::AdamV).data(), cpu_m.view(model::Buffer::AdamV).data(),
                 cpu_m.num_params()) <= 5e-2);
  // Gradients were cleared by the step on both sides.
  for (float g : gpu_m.view(model::Buffer::Grads)) CHECK(g == 0.0f);
  // Writing the CPU model's parameters into the device model makes their runs agree again.
  const std::vector<float> copy = cpu_m.view(model::Buffer::Params);
  gpu_m.params() = copy;
  const double lc = cpu_m.run(b, o, false, {}).metrics[0].second, lg = gpu_m.run(b, o, false, {}).metrics[0].second;
  CHECK(close(lg, lc, 1e-2));
}

TEST(cuda_model_runs_are_bitwise_reproducible) {
  if (!have_device()) return;
  const model::Config c = config(false);
  model::Model m(c, 4, true, model::Device::Cuda);
  const model::Batch b = batch(c);
  const model::Objective o = objective(model::ObjectiveKind::Dpo);
  const double l1 = m.run(b, o, true, {}).metrics[0].second;
  const std::vector<float> g1 = m.view(model::Buffer::Grads);
  m.zero_grad();
  const double l2 = m.run(b, o, true, {}).metrics[0].second;
  const std::vector<float>& g2 = m.view(model::Buffer::Grads);
  CHECK(l1 == l2);
  CHECK(g1 == g2);
}

TEST(cuda_model_out_of_memory_names_the_allocation) {
  if (!have_device()) return;
  model::Config c = config(false);
  // embed_tokens + lm_head: 2 x 2^23 x 4096 fp32 = 256 GiB of parameters alone,
  // beyond any one GPU; the device buffers are claimed before the host's.
  c.vocab_size = int64_t(1) << 23;
  c.hidden_size = 4096;
  c.intermediate_size = 4096;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.num_hidden_layers = 1;
  bool threw = false;
  try {
    model::Model m(c, 1, false, model::Device::Cuda);
  } catch (const std::exception& e) {
    threw = true;
    const std::string what = e.what();
    CHECK(what.find("out of GPU memory") != std::string::npos);
  }
  CHECK(threw);
  // The device still works.
  const model::Config small = config(false);
  model::Model m(small, 2, true, model::Device::Cuda);
  CHECK(std::isfinite(m.run(batch(small), objective(model::ObjectiveKind::Sft), false, {}).metrics[0].second));
}

// A model that only scores or samples holds its parameters alone: fp32 and, in
// bf16 precision, the products' bf16 copy (6 bytes per parameter, not 18).
// Gradients and both AdamW moments come with the first training call, all
// three or none: an out-of-memory among them leaves no part behind and the
// model usable. Counted by the engine's own accounting of device memory.
TEST(cuda_model_holds_training_state_only_once_it_trains) {
  if (!have_device()) return;
  const model::Config c = config(false);
  const model::Objective o = objective(model::ObjectiveKind::Sft);
  for (model::Precision p : {model::Precision::Bf16, model::Precision::Fp32}) {
    const size_t n = static_cast<size_t>(model::ParamLayout(c).total());
    const size_t weights = n * (p == model::Precision::Bf16 ? 6 : 4);
    cuda::release_device_scratch();
    const size_t base = cuda::device_memory().in_use;
    model::Model m(c, 5, true, model::Device::Cuda, p);
    CHECK(cuda::device_memory().in_use - base == weights);
    m.run(batch(c), o, false, {});
    std::vector<float> g = m.view(model::Buffer::Grads);  // zeros, from the host: nothing on the device yet
    CHECK(g.size() == n && std::all_of(g.begin(), g.end(), [](float x) { return x == 0.0f; }));
    const size_t scoring = cuda::device_memory().in_use;
    cuda::fail_device_alloc_after(1);  // the first moments fail after the gradients were had
    bool threw = false;
    try {
      m.run(batch(c), o, true, {});
    } catch (const std::exception& e) {
      threw = std::string(e.what()).find("AdamW first moments") != std::string::npos;
    }
    cuda::fail_device_alloc_after(-1);
    CHECK(threw);
    CHECK(cuda::device_memory().in_use == scoring);
    m.run(batch(c), o, true, {});
    CHECK(cuda::device_memory().in_use >= scoring + 3 * 4 * n);
    g = m.view(model::Buffer::Grads);
    CHECK(std::any_of(g.begin(), g.end(), [](float x) { return x != 0.0f; }));
  }
}

// A run without gradients (scoring, judging, a prefill) holds one layer's
// activations, not every layer's: a 4-layer model's scoring run holds exactly
// what a 2-layer model's does plus the two extra layers' keys and values (a
// prefill's cache source). A training run still holds every layer's.
TEST(cuda_model_scoring_memory_does_not_grow_with_depth) {
  if (!have_device()) return;
  const model::Objective o = objective(model::ObjectiveKind::Sft);
  auto activations = [&](int64_t layers, bool grad) {
    model::Config c = config(false);
    c.num_hidden_layers = layers;
    cuda::release_device_scratch();
    model::Model m(c, 5, true, model::Device::Cuda);
    if (grad) m.optimizer_step(model::OptimConfig());  // the training state first, so it is not counted
    const size_t before = cuda::device_memory().in_use;
    m.run(batch(c), o, grad, {});
    return static_cast<int64_t>(cuda::device_memory().in_use - before);
  };
  const model::Config c = config(false);
  const int64_t tokens = batch(c).tokens(), kv_bytes = 2 * tokens * c.kv_dim() * 2;  // k and v, bf16, per layer
  const int64_t scoring2 = activations(2, false), scoring4 = activations(4, false);
  const int64_t training2 = activations(2, true), training4 = activations(4, true);
  std::printf("    activations held: scoring %lld / %lld bytes, training %lld / %lld bytes (2 / 4 layers)\n",
              static_cast<long long>(scoring2), static_cast<long long>(scoring4), static_cast<long long>(training2),
              static_cast<long long>(training4));
  CHECK(scoring4 - scoring2 == 2 * kv_bytes);
  CHECK(training4 - training2 > 8 * kv_bytes);
  CHECK(training2 > 2 * scoring2);
}

// An out-of-memory anywhere in a run leaves the gradients as they were (and in
// an optimizer step, the whole model): for k =
// 0, 1, 2, ... a fresh model runs a small batch, then a larger one (its buffers
// must grow) with the k-th device allocation of that run failing; the gradients
// must be the small batch's. Once k passes the run's last allocation the run
// goes through and must match a model that never failed, bit for bit. With
// dQ by atomics, whose scratch is the largest the backward takes.
TEST(cuda_model_out_of_memory_mid_run_or_step_changes_nothing) {
  if (!have_device()) return;
  const model::Config c = config(false);
  const model::Objective o = objective(model::ObjectiveKind::Dpo);
  model::Batch big = long_batch(c);  // more tokens than batch(c): buffers must grow
  for (int n : {7, 5}) {             // four sequences, as the DPO pairs index
    const int32_t start = big.cu_seqlens.back();
    big.cu_seqlens.push_back(start + n);
    big.ids.resize(start + n, 3);
    big.loss_mask.resize(start + n, 1);
    big.loss_mask[start] = 0;
  }
  model::validate_batch(c, big);
  auto fresh = [&] {  // the same allocations every time: the engine's scratch starts empty too
    cuda::release_device_scratch();
    auto m = std::make_unique<model::Model>(c, 5, true, model::Device::Cuda, model::Precision::Bf16, false);
    m->run(batch(c), o, true, {});
    return m;
  };
  const auto ref = fresh();
  const std::vector<float> before = ref->view(model::Buffer::Grads);
  ref->run(big, o, true, {});
  int k = 0;
  for (; k < 200; ++k) {
    const auto m = fresh();
    cuda::fail_device_alloc_after(k);
    bool failed = false;
    try {
      m->run(big, o, true, {});
    } catch (const std::exception& e) {
      failed = true;
      if (std::string(e.what()).find("out of GPU memory") == std::string::npos)
        test::fail(__FILE__, __LINE__, std::string("not an out-of-memory: ") + e.what());
      if (m->view(model::Buffer::Grads) != before)
        test::fail(__FILE__, __LINE__, "gradients changed by a run that failed with: " + std::string(e.what()));
    }
    cuda::fail_device_alloc_after(-1);
    if (!failed) {
      CHECK(m->view(model::Buffer::Grads) == ref->view(model::Buffer::Grads));
      break;
    }
  }
  std::printf("    the larger run's %d device allocations each failed in turn\n", k);
  CHECK(k > 0 && k < 200);

  // The optimizer step: a failed one changes no buffer; the first that goes through matches.
  model::OptimConfig opt;
  opt.adam.lr = 1e-2;
  auto buffers = [](model::Model& m) {
    std::vector<std::vector<float>> all;
    for (model::Buffer b : {model::Buffer::Params, model::Buffer::Grads, model::Buffer::AdamM, model::Buffer::AdamV})
      all.push_back(m.view(b));
    return all;
  };
  const auto ref_step = fresh();
  const auto unstepped = buffers(*ref_step);
  ref_step->optimizer_step(opt);
  int s = 0;
  for (; s < 50; ++s) {
    const auto m = fresh();
    cuda::fail_device_alloc_after(s);
    bool failed = false;
    try {
      m->optimizer_step(opt);
    } catch (const std::exception& e) {
      failed = true;
      if (buffers(*m) != unstepped)
        test::fail(__FILE__, __LINE__, "a step that failed with \"" + std::string(e.what()) + "\" changed the model");
    }
    cuda::fail_device_alloc_after(-1);
    if (!failed) {
      CHECK(buffers(*m) == buffers(*ref_step));
      break;
    }
  }
  std::printf("    the optimizer step's %d device allocations each failed in turn\n", s);
  CHECK(s < 50);
}

// Generation on the device (cache and decoder there, sampling on the host)
// against the CPU's, for each family's attention pieces; a bf16 model's cache is
// bf16, half the CPU's bytes: in fp32 the same tokens and logits within float rounding;
// in bf16 the prefill's logits within bf16 tolerance.
TEST(cuda_model_generation_matches_cpu) {
  if (!have_device()) return;
  for (Family f : {Family::Llama, Family::Qwen2, Family::LlamaBiases, Family::Qwen3}) {
    const model::Config c = config(f);
    std::vector<model::GenerateRequest> reqs(3);
    reqs[0].prompt = {1, 5, 9, 2};
    reqs[0].n = 2;
    reqs[0].seed = 7;
    reqs[1].prompt = {4};
    reqs[2].prompt = {8, 8, 3, 60, 61, 62, 7, 1, 0, 2, 33};
    reqs[2].n = 3;
    model::SamplingConfig s;
    s.max_new_tokens = 9;
    s.return_logits = true;
    s.max_batch = 4;  // fewer slots than samples: finished slots take the next sample
    for (model::Precision prec : {model::Precision::Fp32, model::Precision::Bf16}) {
      model::Model cpu_m(c, 11), gpu_m(c, 11, true, model::Device::Cuda, prec);
      perturb(cpu_m);
      perturb(gpu_m);
      const bool exact = prec == model::Precision::Fp32;
      s.filter.temperature = exact ? 0.8 : 0.0;
      const model::GenerateResult rc = cpu_m.generate(reqs, s), rg = gpu_m.generate(reqs, s);
      CHECK(rg.tokens.size() == rc.tokens.size());
      CHECK(rg.cache_bytes * (exact ? 1 : 2) == rc.cache_bytes);  // a bf16 model caches bf16 keys and values
      for (size_t i = 0; i < rc.tokens.size() && i < rg.tokens.size(); ++i) {
        const int64_t V = c.vocab_size;
        if (exact) {
          CHECK(rg.tokens[i] == rc.tokens[i]);
          CHECK(rg.logits[i].size() == rc.logits[i].size());
          if (rg.logits[i].size() == rc.logits[i].size())
            CHECK(rel_diff(rg.logits[i].data(), rc.logits[i].data(), static_cast<int64_t>(rc.logits[i].size())) <=
                  1e-4);
        } else {
          CHECK(rel_diff(rg.logits[i].data(), rc.logits[i].data(), V) <= 3e-2);  // the first step: the prefill
        }
      }
    }
  }
}

// Without return_logits the decode steps draw on the device (cuda/sampling.h):
// the same model's tokens must be those the host draws from the same logits
// (return_logits keeps the draws on the host), for greedy, temperature, top-k
// and top-p, in both precisions, with slots refilled; log-probs to rounding.
TEST(cuda_model_draws_on_the_device_match_the_hosts) {
  if (!have_device()) return;
  const model::Config c = config(false);
  std::vector<model::GenerateRequest> reqs(3);
  reqs[0].prompt = {1, 5, 9, 2};
  reqs[0].n = 3;
  reqs[0].seed = 7;
  reqs[1].prompt = {4};
  reqs[1].seed = 2;
  reqs[2].prompt = {8, 8, 3, 60, 61, 62, 7, 1, 0, 2, 33};
  reqs[2].n = 2;
  reqs[2].seed = 19;
  struct Filter {
    double temperature, top_p;
    int64_t top_k;
  };
  for (model::Precision prec : {model::Precision::Fp32, model::Precision::Bf16}) {
    model::Model m(c, 13, true, model::Device::Cuda, prec);
    for (const Filter& f :
         {Filter{0.0, 1.0, 0}, Filter{0.8, 0.9, 0}, Filter{1.0, 0.95, 20}, Filter{1.2, 1.0, 0}, Filter{1.0, 1.0, 5}}) {
      model::SamplingConfig s;
      s.max_new_tokens = 12;
      s.max_batch = 4;  // fewer slots than samples
      s.filter.temperature = f.temperature;
      s.filter.top_p = f.top_p;
      s.filter.top_k = f.top_k;
      s.return_logits = true;
      const model::GenerateResult host = m.generate(reqs, s);
      s.return_logits = false;
      const model::GenerateResult device = m.generate(reqs, s);
      CHECK(device.tokens == host.tokens);
      CHECK(device.finish == host.finish);
      double worst = 0;
      for (size_t i = 0; i < host.logprob.size() && i < device.logprob.size(); ++i)
        worst = std::max(worst, std::fabs(device.logprob[i] - host.logprob[i]) / (1.0 + std::fabs(host.logprob[i])));
      CHECK(worst <= 1e-9);
    }
  }
}
