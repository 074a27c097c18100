// GPU benchmark of the engine: GEMM, attention, the fused log-prob + DPO step, a
// whole training step of a 125M Llama and sampling from it, on the shapes of the PyTorch anchors
// (bench/gpu/torch_reference.py measures the same rows). Writes one JSON file;
// bench/gpu/table.py sets it against PyTorch's. README.md beside this file
// says what each row counts.
//
//   genrm_cuda_bench OUT.json [--budget SECONDS] [--only NAME,...] [--fp32-train] [--no-fork]
//
// Every row runs in a child process of its own (fork before the parent touches
// CUDA): a kernel that faults leaves a sticky error that would poison every
// later row in the same context, and a kernel that hangs must not eat the
// whole run. The child sends its row back as JSON through a pipe; a crash, a
// time-out or an exception becomes that row's "error" and the rest go on.
// Timings: cudaEvents around each call, warm-up first, the median of the reps,
// each measurement capped in time.
#include <cuda_runtime.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../../native/core/thread_pool.h"
#include "../../native/cpu/losses.h"
#include "../../native/cuda/attention.h"
#include "../../native/cuda/check.h"
#include "../../native/cuda/device.h"
#include "../../native/cuda/dtype.h"
#include "../../native/cuda/gemm.h"
#include "../../native/cuda/logprob.h"
#include "../../native/model/config.h"
#include "../../native/model/model.h"

using namespace genrm;
using cuda::DType;

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// ---- a small JSON writer: objects keep their keys in insertion order ----

std::string quote(const std::string& s) {
  std::string o = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      o += '\\';
      o += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      o += buf;
    } else {
      o += static_cast<char>(ch);
    }
  }
  return o + "\"";
}

class Obj {
 public:
  Obj& num(const std::string& k, double v) {
    if (!std::isfinite(v)) return raw(k, "null");  // JSON has no NaN
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.7g", v);
    return raw(k, buf);
  }
  Obj& integer(const std::string& k, int64_t v) { return raw(k, std::to_string(v)); }
  Obj& str(const std::string& k, const std::string& v) { return raw(k, quote(v)); }
  Obj& boolean(const std::string& k, bool v) { return raw(k, v ? "true" : "false"); }
  Obj& raw(const std::string& k, const std::string& json) {
    for (auto& kv : kv_)
      if (kv.first == k) {
        kv.second = json;
        return *this;
      }
    kv_.emplace_back(k, json);
    return *this;
  }
  bool has(const std::string& k) const {
    for (auto& kv : kv_)
      if (kv.first == k) return true;
    return false;
  }
  std::string dump() const {
    std::string o = "{";
    for (size_t i = 0; i < kv_.size(); ++i) o += (i ? ", " : "") + quote(kv_[i].first) + ": " + kv_[i].second;
    return o + "}";
  }

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

// ---- device helpers ----

struct DevBuf {
  void* p = nullptr;
  size_t bytes = 0;
  DevBuf(size_t n, const char* what) : p(cuda::device_alloc(n ? n : 1, what)), bytes(n) {}
  ~DevBuf() { cuda::device_free(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

struct Event {
  cudaEvent_t e = nullptr;
  Event() { cuda::check(cudaEventCreate(&e), "cudaEventCreate"); }
  ~Event() { cudaEventDestroy(e); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

size_t free_bytes() {
  size_t f = 0, t = 0;
  cuda::check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
  return f;
}

uint16_t to_bf16(float f) {  // round to nearest even, as the device kernels do
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
  float normal() {
    const double u1 = uniform() + 1e-300, u2 = uniform();
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
};

// Normal(0, scale) values. Drawing a billion numbers on one host core would take
// seconds, so a block of a prime number of elements is drawn and tiled on the
// device; the prime period keeps rows of any width from repeating exactly.
void fill_normal(void* dev, int64_t n, DType t, float scale, uint64_t seed) {
  const int64_t period = std::min<int64_t>(n, 1048573);
  const size_t es = cuda::dtype_size(t);
  std::vector<unsigned char> host(static_cast<size_t>(period) * es);
  Rng r(seed);
  for (int64_t i = 0; i < period; ++i) {
    const float v = r.normal() * scale;
    if (t == DType::BF16) {
      const uint16_t b = to_bf16(v);
      std::memcpy(host.data() + i * es, &b, 2);
    } else {
      std::memcpy(host.data() + i * es, &v, 4);
    }
  }
  char* d = static_cast<char*>(dev);
  cuda::check(cudaMemcpy(d, host.data(), host.size(), cudaMemcpyHostToDevice), "fill: upload");
  for (int64_t filled = period; filled < n;) {
    const int64_t c = std::min(filled, n - filled);
    cuda::check(cudaMemcpy(d + filled * es, d, static_cast<size_t>(c) * es, cudaMemcpyDeviceToDevice), "fill: tile");
    filled += c;
  }
}

void sync(const char* what) { cuda::check(cudaDeviceSynchronize(), what); }

struct Stats {
  double median_ms = 0, mean_ms = 0, min_ms = 0;
  int reps = 0;
};

// Warm-up calls, then timed reps until max_reps or budget_s has passed (at least
// one rep). A slow path is still measured, just with fewer reps.
Stats time_device(const std::function<void()>& fn, int warm, int max_reps, double budget_s) {
  const double t0 = now_s();
  for (int i = 0; i < warm && (i == 0 || now_s() - t0 < budget_s / 2); ++i) fn();
  sync("warm-up");
  Event a, b;
  std::vector<double> ts;
  const double t1 = now_s();
  while (static_cast<int>(ts.size()) < max_reps) {
    cuda::check(cudaEventRecord(a.e), "cudaEventRecord");
    fn();
    cuda::check(cudaEventRecord(b.e), "cudaEventRecord");
    cuda::check(cudaEventSynchronize(b.e), "cudaEventSynchronize");
    float ms = 0;
    cuda::check(cudaEventElapsedTime(&ms, a.e, b.e), "cudaEventElapsedTime");
    ts.push_back(ms);
    if (now_s() - t1 > budget_s) break;
  }
  Stats s;
  s.reps = static_cast<int>(ts.size());
  double sum = 0;
  for (double t : ts) sum += t;
  s.mean_ms = sum / ts.size();
  std::sort(ts.begin(), ts.end());
  s.min_ms = ts.front();
  s.median_ms = ts.size() % 2 ? ts[ts.size() / 2] : 0.5 * (ts[ts.size() / 2 - 1] + ts[ts.size() / 2]);
  return s;
}

void progress(const std::string& s) { std::fprintf(stderr, "[bench] %s\n", s.c_str()); }

// cuBLAS's handle and the CUDA context allocate device memory on first use;
// PyTorch's memory_allocated() never sees either, so run one tiny product
// before any memory baseline is taken.
void warm_gemm_engine() {
  DevBuf a(16 * 16 * 2, "warm-up a"), c(16 * 16 * 4, "warm-up c");
  cuda::check(cudaMemset(a.p, 0, a.bytes), "memset");
  cuda::GemmArgs g = cuda::linear_args(a.p, DType::BF16, a.p, DType::BF16, c.p, DType::F32, 16, 16, 16);
  cuda::gemm(g, cuda::GemmEngine::Auto);
  sync("warm-up gemm");
}

// ---- rows ----

void row_device(Obj& r) {
  const cuda::Status& s = cuda::status();
  r.boolean("usable", s.usable()).str("architectures", s.architectures);
  r.integer("runtime_version", s.runtime_version).integer("driver_version", s.driver_version);
  if (!s.devices.empty()) {
    const cuda::Device& d = s.devices[0];
    r.str("name", d.name).str("compute_capability", std::to_string(d.major) + "." + std::to_string(d.minor));
    r.num("memory_GiB", d.total_memory / kGiB).integer("multiprocessors", d.multiprocessors);
  }
  r.boolean("cublas", cuda::have_cublas());
  if (!s.usable()) throw std::runtime_error("no usable CUDA device: " + s.error);
}

void row_gemm(Obj& r, int64_t m, int64_t n, int64_t k, DType storage, cuda::GemmEngine engine) {
  DevBuf a(m * k * cuda::dtype_size(storage), "gemm A"), b(n * k * cuda::dtype_size(storage), "gemm B"),
      c(m * n * cuda::dtype_size(storage), "gemm C");
  fill_normal(a.p, m * k, storage, 1.0f, 1);
  fill_normal(b.p, n * k, storage, 1.0f, 2);
  // y = x W^T, W stored [n, k]: how every Linear of the model calls it.
  const cuda::GemmArgs g = cuda::linear_args(a.p, storage, b.p, storage, c.p, storage, m, k, n);
  const Stats s = time_device([&] { cuda::gemm(g, engine); }, 3, 20, 1.5);
  const double tflops = 2.0 * m * n * k / (s.median_ms * 1e9);
  r.num("ms", s.median_ms).num("min_ms", s.min_ms).integer("reps", s.reps).num("tflops", tflops);
  char buf[160];
  std::snprintf(buf, sizeof buf, "gemm %lldx%lldx%lld %s %s: %.3f ms, %.1f TFLOP/s", (long long)m, (long long)n,
                (long long)k, cuda::dtype_name(storage), cuda::gemm_engine_name(engine), s.median_ms, tflops);
  progress(buf);
}

// B equal-length causal sequences packed back to back, bf16 storage.
void row_attention(Obj& r, int64_t B, int64_t H, int64_t T, int64_t D) {
  const int64_t N = B * T, elems = N * H * D;
  std::vector<int32_t> cu(B + 1);
  for (int64_t i = 0; i <= B; ++i) cu[i] = static_cast<int32_t>(i * T);
  DevBuf cu_d(cu.size() * 4, "cu_seqlens");
  cuda::check(cudaMemcpy(cu_d.p, cu.data(), cu.size() * 4, cudaMemcpyHostToDevice), "cu_seqlens upload");
  const size_t bytes = elems * 2;
  DevBuf q(bytes, "q"), k(bytes, "k"), v(bytes, "v"), o(bytes, "out"), dout(bytes, "dout"), dq(bytes, "dq"),
      dk(bytes, "dk"), dv(bytes, "dv"), lse(N * H * 4, "lse");
  fill_normal(q.p, elems, DType::BF16, 1.0f, 11);
  fill_normal(k.p, elems, DType::BF16, 1.0f, 12);
  fill_normal(v.p, elems, DType::BF16, 1.0f, 13);
  fill_normal(dout.p, elems, DType::BF16, 1.0f, 14);
  cuda::AttentionArgs a;
  a.tokens = N;
  a.heads = a.kv_heads = H;
  a.head_dim = D;
  a.cu_seqlens = cu_d.as<int32_t>();
  a.num_seqs = B;
  a.max_seqlen = T;
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  a.dtype = DType::BF16;
  const double flops_f = 4.0 * B * H * T * T * D * 0.5;  // causal: half the score matrix
  auto fwd = [&] { cuda::attention_forward(a, q.p, k.p, v.p, o.p, lse.as<float>()); };
  const Stats f = time_device(fwd, 3, 20, 1.0);
  r.num("fwd_ms", f.median_ms).num("fwd_tflops", flops_f / (f.median_ms * 1e9));
  // Forward + backward, the backward deterministic or with dQ by atomics (as PyTorch's flash backward).
  auto fwd_bwd = [&](bool deterministic, double cap_s) {
    cuda::AttentionArgs b = a;
    b.deterministic = deterministic;
    return time_device(
        [&] {
          fwd();
          cuda::attention_backward(b, q.p, k.p, v.p, o.p, lse.as<float>(), dout.p, dq.p, dk.p, dv.p);
        },
        3, 20, cap_s);
  };
  const Stats fb = fwd_bwd(true, 1.5);
  r.num("fwdbwd_ms", fb.median_ms).num("fwdbwd_tflops", 3.5 * flops_f / (fb.median_ms * 1e9));
  const Stats fa = fwd_bwd(false, 1.0);
  r.num("fwdbwd_atomic_ms", fa.median_ms).num("fwdbwd_atomic_tflops", 3.5 * flops_f / (fa.median_ms * 1e9));
  char buf[240];
  std::snprintf(buf, sizeof buf,
                "attention B%lld H%lld T%lld D%lld: fwd %.3f ms, fwd+bwd %.3f ms (%.1f TFLOP/s), atomic dQ %.3f ms",
                (long long)B, (long long)H, (long long)T, (long long)D, f.median_ms, fb.median_ms,
                3.5 * flops_f / (fb.median_ms * 1e9), fa.median_ms);
  progress(buf);
}

// One DPO step's log-prob part: 2B sequences of T tokens (pair p = sequences 2p
// chosen, 2p+1 rejected, contiguous), fused lm_head -> log-softmax -> target
// log-prob -> sigmoid DPO loss on the host -> gradients of hidden and weight.
//
// Memory, mirroring the anchor (gpu_torch.py takes its baseline after h, W,
// targets and reference log-probs exist, so the gradients of h and W and every
// temporary count as extra): baseline = free device memory once the inputs
// (bf16 h and W, targets, the logp output) exist and the GEMM engine is
// initialised; peak_extra = baseline - the least free memory seen, sampled in
// the per-chunk callback (mid-step, when the chunk's scratch is live) and after
// each sampled call. It includes dhidden/dweight, bf16 as PyTorch's (grad_type),
// and the engine's grow-only scratch, which stays allocated after the first
// call (reported as scratch_held_GiB; plan_scratch_GiB is what the grouped
// pass's plan says it takes). grads_GiB and workspace_GiB (= peak_extra -
// grads) split the two.
void row_dpo(Obj& r, int64_t B, int64_t T, int64_t d, int64_t V) {
  const int64_t seqs = 2 * B, rows = seqs * T;
  warm_gemm_engine();
  DevBuf h(rows * d * 2, "hidden"), w(V * d * 2, "lm_head"), tg(rows * 4, "targets"), lp(rows * 4, "logp");
  fill_normal(h.p, rows * d, DType::BF16, 0.05f, 21);
  fill_normal(w.p, V * d, DType::BF16, 0.02f, 22);
  {
    std::vector<int32_t> t(rows);
    Rng g(23);
    for (auto& x : t) x = static_cast<int32_t>(g.next() % static_cast<uint64_t>(V));
    cuda::check(cudaMemcpy(tg.p, t.data(), rows * 4, cudaMemcpyHostToDevice), "targets upload");
  }
  std::vector<float> ref(seqs);
  {
    Rng g(24);
    for (auto& x : ref) x = g.normal();
  }
  sync("dpo inputs");
  const size_t free_base = free_bytes();
  DevBuf dh(rows * d * 2, "dhidden"), dw(V * d * 2, "dweight");
  cuda::check(cudaMemset(dh.p, 0, dh.bytes), "memset dhidden");
  cuda::check(cudaMemset(dw.p, 0, dw.bytes), "memset dweight");
  sync("dpo grads");
  const double grads_bytes = static_cast<double>(dh.bytes + dw.bytes);

  cuda::LogprobArgs a;
  a.rows = rows;
  a.dim = d;
  a.vocab = V;
  a.hidden = h.p;
  a.hidden_type = DType::BF16;
  a.weight = w.p;
  a.weight_type = DType::BF16;
  a.targets = tg.as<int32_t>();
  a.grad_type = DType::BF16;
  std::vector<int64_t> group_ends;
  for (int64_t p = 1; p <= B; ++p) group_ends.push_back(p * 2 * T);

  bool sample = false;
  size_t min_free = free_base;
  double loss = 0;
  std::vector<float> seq_lp, dseq, counts;
  std::vector<int32_t> pairs;
  // The callback sees whole pairs (chunks hold whole groups). cpu::dpo_loss
  // averages over the pairs it is given, so each chunk's share is scaled by
  // its pairs / all pairs: the sum over chunks is the batch mean.
  const cuda::ChunkGradient grad = [&](int64_t r0, int64_t r1, const float* logp, float* dlogp) {
    if (sample) min_free = std::min(min_free, free_bytes());
    if (r0 % (2 * T) || (r1 - r0) % (2 * T)) throw std::runtime_error("a chunk split a DPO pair");
    const int64_t ns = (r1 - r0) / T, np = ns / 2, s0 = r0 / T;
    seq_lp.assign(ns, 0.0f);
    dseq.assign(ns, 0.0f);
    counts.assign(ns, static_cast<float>(T));
    pairs.clear();
    for (int64_t p = 0; p < np; ++p) {
      pairs.push_back(static_cast<int32_t>(2 * p));
      pairs.push_back(static_cast<int32_t>(2 * p + 1));
    }
    for (int64_t s = 0; s < ns; ++s) {
      double acc = 0;
      for (int64_t t = 0; t < T; ++t) acc += logp[s * T + t];
      seq_lp[s] = static_cast<float>(acc);
    }
    cpu::DpoArgs da;
    da.kind = cpu::DpoLoss::Sigmoid;
    da.beta = 0.1;
    da.pairs = pairs.data();
    da.num_pairs = np;
    da.policy_logps = seq_lp.data();
    da.ref_logps = ref.data() + s0;
    da.counts = counts.data();
    const double share = static_cast<double>(np) / B;
    loss += cpu::dpo_loss(da, dseq.data()).loss * share;
    for (int64_t i = 0; i < r1 - r0; ++i) dlogp[i] = static_cast<float>(dseq[i / T] * share);
  };
  auto step = [&] {
    loss = 0;
    cuda::logprob_grouped(a, group_ends, grad, lp.as<float>(), dh.p, dw.p);
  };

  // First call: the scratch buffers grow here.
  sample = true;
  double t0 = now_s();
  step();
  sync("dpo first call");
  const double first_ms = (now_s() - t0) * 1e3;
  min_free = std::min(min_free, free_bytes());
  const size_t free_after_first = free_bytes();
  const double first_peak = static_cast<double>(free_base) - static_cast<double>(min_free);
  const double first_loss = loss;
  sample = false;
  r.num("first_call_ms", first_ms).num("loss", first_loss);
  r.num("first_call_peak_extra_GiB", first_peak / kGiB);

  const Stats s = time_device(step, 1, 5, 3.0);
  // One more sampled call in the steady state (scratch already grown).
  sample = true;
  step();
  sync("dpo sampled call");
  min_free = std::min(min_free, free_bytes());
  sample = false;
  const double peak = static_cast<double>(free_base) - static_cast<double>(min_free);
  const double held = static_cast<double>(free_base) - static_cast<double>(free_after_first) - grads_bytes;
  const double flops = 3.0 * 2.0 * static_cast<double>(rows) * d * V;
  r.num("step_ms", s.median_ms)
      .num("min_ms", s.min_ms)
      .integer("reps", s.reps)
      .num("tflops", flops / (s.median_ms * 1e9));
  r.num("peak_extra_GiB", peak / kGiB)
      .num("grads_GiB", grads_bytes / kGiB)
      .num("workspace_GiB", (peak - grads_bytes) / kGiB);
  const cuda::GroupedPlan plan = cuda::plan_logprob_grouped(a, group_ends, true);
  r.num("scratch_held_GiB", held / kGiB).integer("chunk_rows_budget", cuda::logprob_chunk_rows(a));
  r.num("plan_scratch_GiB", static_cast<double>(plan.scratch_bytes()) / kGiB).integer("slice_rows", plan.slice_rows);
  char buf[240];
  std::snprintf(buf, sizeof buf,
                "dpo B%lld T%lld d%lld V%lld: step %.2f ms (first %.1f ms), peak extra %.2f GiB (grads %.2f, "
                "workspace %.2f), loss %.4f",
                (long long)B, (long long)T, (long long)d, (long long)V, s.median_ms, first_ms, peak / kGiB,
                grads_bytes / kGiB, (peak - grads_bytes) / kGiB, first_loss);
  progress(buf);
}

// The 125M Llama of the anchors (torch_llama.py's first GPU config, hf_generate.py's model).
model::Config llama_125m() {
  model::Config c;
  c.vocab_size = 32000;
  c.hidden_size = 768;
  c.num_hidden_layers = 12;
  c.num_attention_heads = 12;
  c.num_key_value_heads = 4;
  c.intermediate_size = 2048;
  c.max_position_embeddings = 1024;
  c.rope_theta = 10000;
  c.rms_norm_eps = 1e-5;
  c.initializer_range = 0.02;
  c.tie_word_embeddings = false;
  return c;
}

// The 125M model trained with the SFT objective on every token but each
// sequence's first, AdamW.
void row_train(Obj& r, model::Precision precision, int max_steps, double budget_s, bool deterministic = true) {
  const model::Config c = llama_125m();
  const int64_t B = 16, T = 1024;
  double t0 = now_s();
  model::Model m(c, 1, true, model::Device::Cuda, precision, deterministic);
  r.num("init_s", now_s() - t0).integer("params", m.num_params());
  model::Batch b;
  Rng g(31);
  for (int64_t s = 0; s <= B; ++s) b.cu_seqlens.push_back(static_cast<int32_t>(s * T));
  for (int64_t i = 0; i < B * T; ++i) b.ids.push_back(static_cast<int32_t>(g.next() % c.vocab_size));
  b.loss_mask.assign(B * T, 1);
  for (int64_t s = 0; s < B; ++s) b.loss_mask[s * T] = 0;
  model::validate_batch(c, b);
  model::Objective o;
  o.kind = model::ObjectiveKind::Sft;
  model::OptimConfig opt;
  opt.adam.lr = 1e-4;
  opt.adam.weight_decay = 0.01;  // torch.optim.AdamW's default, as the anchor ran it
  double loss = 0;
  auto step = [&] {
    const model::Result res = m.run(b, o, true, {});
    if (!res.metrics.empty()) loss = res.metrics[0].second;
    m.optimizer_step(opt);
    sync("train step");
  };
  // Wall clock with a sync per step, like the anchor: the step's host work counts.
  for (int i = 0; i < 2; ++i) {
    t0 = now_s();
    step();
    if (i == 0) r.num("first_step_ms", (now_s() - t0) * 1e3).num("first_loss", loss);
  }
  std::vector<double> ts;
  const double t1 = now_s();
  while (static_cast<int>(ts.size()) < max_steps && (ts.empty() || now_s() - t1 < budget_s)) {
    t0 = now_s();
    step();
    ts.push_back((now_s() - t0) * 1e3);
  }
  double mean = 0;
  for (double t : ts) mean += t;
  mean /= ts.size();
  std::sort(ts.begin(), ts.end());
  const double med = ts[ts.size() / 2];
  const double N = static_cast<double>(m.num_params());
  const double flops_tok = 6 * N + 6.0 * c.num_hidden_layers * c.hidden_size * T;  // 6N + 6LdT, as the anchor
  r.num("step_ms", med).num("mean_step_ms", mean).integer("steps", static_cast<int64_t>(ts.size()));
  r.num("tokens_per_s", B * T / (med / 1e3)).num("tflops", flops_tok * B * T / (med * 1e9)).num("loss", loss);
  size_t f = 0, total = 0;
  cuda::check(cudaMemGetInfo(&f, &total), "cudaMemGetInfo");
  r.num("device_used_GiB", (total - f) / kGiB);
  char buf[200];
  std::snprintf(buf, sizeof buf, "train 125M %s: step %.1f ms, %.0f tokens/s, loss %.3f",
                precision == model::Precision::Bf16 ? "bf16" : "fp32", med, B * T / (med / 1e3), loss);
  progress(buf);
}

// Sampling as the hf_generate anchor ran it: `batch` random 256-token prompts,
// 128 new tokens each (no stop token), temperature 1, top-p 0.95, bf16. Wall
// clock of the whole generate call (prefill, decode, the draws, the host's
// loop), after a short warm-up call.
void row_generate(Obj& r, int64_t batch) {
  const model::Config c = llama_125m();
  double t0 = now_s();
  model::Model m(c, 1, true, model::Device::Cuda, model::Precision::Bf16);
  r.num("init_s", now_s() - t0).integer("params", m.num_params());
  Rng g(37);
  std::vector<model::GenerateRequest> requests(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) {
    for (int t = 0; t < 256; ++t) requests[i].prompt.push_back(static_cast<int32_t>(g.next() % c.vocab_size));
    requests[i].seed = static_cast<uint64_t>(i + 1);
  }
  model::SamplingConfig s;
  s.filter.temperature = 1.0;
  s.filter.top_p = 0.95;
  s.max_new_tokens = 8;
  m.generate(requests, s);  // warm-up: allocations, the cache, first launches
  s.max_new_tokens = 128;
  t0 = now_s();
  const model::GenerateResult res = m.generate(requests, s);
  const double dt = now_s() - t0;
  int64_t tokens = 0;
  for (const std::vector<int32_t>& t : res.tokens) tokens += static_cast<int64_t>(t.size());
  r.num("s", dt).integer("new_tokens", tokens).num("new_tokens_per_s", tokens / dt);
  r.num("ms_per_step", dt * 1e3 / 128).integer("threads", num_threads());
  char buf[160];
  std::snprintf(buf, sizeof buf, "generate 125M batch %lld: %.2f s, %.0f new tokens/s", static_cast<long long>(batch),
                dt, tokens / dt);
  progress(buf);
}

// ---- jobs: one row each, run in a child process ----

struct Job {
  std::string section, name;
  Obj base;  // identifies the row; kept when the row fails
  double timeout_s;
  std::function<void(Obj&)> fn;
};

std::string run_inline(const Job& j) {
  Obj r = j.base;
  try {
    j.fn(r);
  } catch (const std::exception& e) {
    r.str("error", e.what());
    progress(j.name + ": error: " + e.what());
  } catch (...) {
    r.str("error", "unknown exception");
  }
  return r.dump();
}

std::string run_forked(const Job& j, double timeout_s) {
  Obj fail = j.base;
  int fds[2];
  if (pipe(fds) != 0) return fail.str("error", "pipe() failed").dump();
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return fail.str("error", "fork() failed").dump();
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the parent (a caller's time limit)
    close(fds[0]);
    const std::string out = run_inline(j);
    size_t off = 0;
    while (off < out.size()) {
      const ssize_t w = write(fds[1], out.data() + off, out.size() - off);
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    close(fds[1]);
    _exit(0);  // skip static destructors and CUDA teardown; the driver frees the context
  }
  close(fds[1]);
  std::string got;
  const double deadline = now_s() + timeout_s;
  bool timed_out = false;
  for (;;) {
    const double left = deadline - now_s();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int pr = poll(&p, 1, static_cast<int>(std::min(left, 1.0) * 1000) + 1);
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child is done
    got.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    char msg[80];
    std::snprintf(msg, sizeof msg, "timed out after %.0f s (killed)", timeout_s);
    progress(j.name + ": " + msg);
    return fail.str("error", msg).dump();
  }
  const bool complete = got.size() >= 2 && got.front() == '{' && got.back() == '}';
  if (WIFSIGNALED(status) || !complete) {
    const std::string why =
        WIFSIGNALED(status) ? "child died with signal " + std::to_string(WTERMSIG(status))
                            : "child exited with status " + std::to_string(WEXITSTATUS(status)) + " without a result";
    progress(j.name + ": " + why);
    return fail.str("error", why).dump();
  }
  return got;
}

// Without persistence mode the driver tears the GPU's state down whenever no
// process holds it, and every row's process would pay its start-up again (up
// to seconds each). One idle process holding a context keeps it up meanwhile.
pid_t start_keeper() {
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // An exclusive-process GPU admits one context: then keep nothing.
    int mode = -1;
    if (cudaDeviceGetAttribute(&mode, cudaDevAttrComputeMode, 0) != cudaSuccess || mode != cudaComputeModeDefault)
      _exit(0);
    cudaFree(nullptr);  // creates the context
    for (;;) pause();
  }
  return pid;
}

void stop_keeper(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

bool wanted(const std::vector<std::string>& only, const Job& j) {
  if (only.empty()) return true;
  for (const std::string& o : only)
    if (o == j.section || o == j.name) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr,
                 "usage: %s OUT.json [--budget SECONDS] [--only SECTION|ROW,...] [--fp32-train] [--no-fork]\n"
                 "sections: device gemm attention dpo_logprob train generate\n",
                 argv[0]);
    return 2;
  }
  const std::string out_path = argv[1];
  double budget = 75;
  bool fork_rows = true, fp32_train = false;
  std::vector<std::string> only;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--budget" && i + 1 < argc) {
      budget = std::atof(argv[++i]);
    } else if (a == "--only" && i + 1 < argc) {
      std::string s = argv[++i];
      for (size_t p = 0; p <= s.size();) {
        const size_t q = std::min(s.find(',', p), s.size());
        if (q > p) only.push_back(s.substr(p, q - p));
        p = q + 1;
      }
    } else if (a == "--fp32-train") {
      fp32_train = true;
    } else if (a == "--no-fork") {
      fork_rows = false;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  {  // A bad output path fails before minutes of work; no stale result survives.
    FILE* f = std::fopen(out_path.c_str(), "w");
    if (!f || std::fputs("{\"engine\": \"genrm\", \"complete\": false}\n", f) < 0 || std::fclose(f) != 0) {
      std::fprintf(stderr, "cannot write %s\n", out_path.c_str());
      return 2;
    }
  }

  std::vector<Job> jobs;
  jobs.push_back({"device", "device", Obj(), 30, row_device});
  using E = cuda::GemmEngine;
  struct G {
    const char* name;
    int64_t m, n, k;
    DType t;
  };
  // 8192^3 bf16: the anchor's figure. 16384x2048x768 fp32 storage: the 125M
  // model's MLP up-projection forward (B16 x T1024 tokens), as training calls it.
  for (const G& s : {G{"bf16 8192^3", 8192, 8192, 8192, DType::BF16},
                     G{"fp32-storage 16384x2048x768", 16384, 2048, 768, DType::F32}})
    for (E e : {E::Own, E::Cublas}) {
      Obj b;
      b.str("name", s.name).str("engine", cuda::gemm_engine_name(e)).integer("m", s.m).integer("n", s.n);
      b.integer("k", s.k).str("storage", cuda::dtype_name(s.t));
      std::function<void(Obj&)> fn = [s, e](Obj& r) { row_gemm(r, s.m, s.n, s.k, s.t, e); };
      if (e == E::Cublas && !cuda::have_cublas()) fn = [](Obj& r) { r.str("skipped", "this build has no cuBLAS"); };
      jobs.push_back({"gemm", std::string("gemm ") + s.name + " " + cuda::gemm_engine_name(e), b, 30, fn});
    }
  for (auto [B, H, T, D] : {std::array<int64_t, 4>{4, 16, 1024, 64}, {4, 16, 2048, 128}, {2, 16, 4096, 128}}) {
    Obj b;
    b.integer("B", B).integer("H", H).integer("T", T).integer("D", D).boolean("causal", true).str("dtype", "bf16");
    jobs.push_back({"attention", "attention T" + std::to_string(T) + " D" + std::to_string(D), b, 30,
                    [B = B, H = H, T = T, D = D](Obj& r) { row_attention(r, B, H, T, D); }});
  }
  for (auto [B, T, d, V] : {std::array<int64_t, 4>{8, 1024, 4096, 128256}, {16, 512, 2048, 32000}}) {
    Obj b;
    b.integer("B", B).integer("T", T).integer("d", d).integer("V", V);
    jobs.push_back({"dpo_logprob", "dpo V" + std::to_string(V), b, 45,
                    [B = B, T = T, d = d, V = V](Obj& r) { row_dpo(r, B, T, d, V); }});
  }
  auto train_base = [](const char* precision, bool deterministic = true, const char* gemm = "auto") {
    Obj b;
    b.str("model", "llama-125m").integer("V", 32000).integer("hidden", 768).integer("layers", 12);
    b.integer("heads", 12).integer("kv_heads", 4).integer("ff", 2048).integer("T", 1024).integer("B", 16);
    return b.str("precision", precision).boolean("deterministic", deterministic).str("gemm", gemm);
  };
  jobs.push_back(
      {"train", "train bf16", train_base("bf16"), 60, [](Obj& r) { row_train(r, model::Precision::Bf16, 8, 4.0); }});
  if (fp32_train)
    jobs.push_back(
        {"train", "train fp32", train_base("fp32"), 90, [](Obj& r) { row_train(r, model::Precision::Fp32, 3, 6.0); }});
  for (int64_t batch : {64, 1}) {
    Obj b;
    b.str("model", "llama-125m").integer("batch", batch).integer("prompt", 256).integer("new_tokens", 128);
    b.num("temperature", 1.0).num("top_p", 0.95);
    jobs.push_back(
        {"generate", "generate batch " + std::to_string(batch), b, 40, [batch](Obj& r) { row_generate(r, batch); }});
  }
  // Last, for information: the same training with attention's dQ by atomics.
  jobs.push_back({"train", "train bf16 atomic dQ", train_base("bf16", false), 40,
                  [](Obj& r) { row_train(r, model::Precision::Bf16, 6, 3.0, false); }});
  // And every product on the project's own GEMM: what the shipped CUDA prebuild
  // (built without cuBLAS) runs. The row runs in its own child process, so the
  // variable reaches no other row.
  if (cuda::have_cublas())
    jobs.push_back({"train", "train bf16 own GEMM", train_base("bf16", true, "own"), 40, [](Obj& r) {
                      setenv("GENRM_CUDA_GEMM", "own", 1);
                      row_train(r, model::Precision::Bf16, 6, 3.0);
                    }});

  const double start = now_s();
  std::vector<std::string> sections;
  std::vector<std::vector<std::string>> rows;
  // Rewritten after every row (temp file, rename): if the caller's own time
  // limit kills the benchmark, the rows measured so far are still there.
  auto write = [&](bool done) {
    std::string json = "{\n \"engine\": \"genrm\"";
    for (size_t i = 0; i < sections.size(); ++i) {
      json += ",\n " + quote(sections[i]) + ": ";
      if (sections[i] == "device") {  // one object; every other section a list of rows
        json += rows[i].empty() ? "{}" : rows[i][0];
      } else {
        json += "[";
        for (size_t k = 0; k < rows[i].size(); ++k) json += (k ? ",\n  " : "\n  ") + rows[i][k];
        json += "\n ]";
      }
    }
    char buf[80];
    std::snprintf(buf, sizeof buf, ",\n \"complete\": %s,\n \"wall_s\": %.1f\n}\n", done ? "true" : "false",
                  now_s() - start);
    json += buf;
    const std::string tmp = out_path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    bool ok = f && std::fputs(json.c_str(), f) >= 0;
    if (f) ok = std::fclose(f) == 0 && ok;
    ok = ok && std::rename(tmp.c_str(), out_path.c_str()) == 0;
    if (!ok) progress("failed to write " + out_path);
    return ok;
  };
  const pid_t keeper = fork_rows ? start_keeper() : -1;
  for (const Job& j : jobs) {
    if (!wanted(only, j)) continue;
    auto it = std::find(sections.begin(), sections.end(), j.section);
    if (it == sections.end()) {
      sections.push_back(j.section);
      rows.emplace_back();
      it = sections.end() - 1;
    }
    std::vector<std::string>& dst = rows[it - sections.begin()];
    const double left = budget - (now_s() - start);
    if (left < 3) {
      Obj r = j.base;
      dst.push_back(r.str("error", "skipped: the benchmark's time budget was spent").dump());
      progress(j.name + ": skipped (time budget)");
    } else {
      progress(j.name + " ...");
      dst.push_back(fork_rows ? run_forked(j, std::min(j.timeout_s, left)) : run_inline(j));
    }
    write(false);
  }
  stop_keeper(keeper);
  const bool ok = write(true);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.1f s", now_s() - start);
  if (ok) progress("wrote " + out_path + " after " + buf);
  return ok ? 0 : 1;
}
