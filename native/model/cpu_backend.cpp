// The CPU backend: the decoder's forward, backward, heads and optimizer step
// over host buffers, on the engine's CPU kernels (native/cpu), and the
// key/value-cache decode step of generation.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "../core/error.h"
#include "../core/thread_pool.h"
#include "../cpu/adamw.h"
#include "../cpu/attention.h"
#include "../cpu/attention_decode.h"
#include "../cpu/bias.h"
#include "../cpu/embedding.h"
#include "../cpu/gemm.h"
#include "../cpu/logprob.h"
#include "../cpu/rmsnorm.h"
#include "../cpu/rope.h"
#include "../cpu/swiglu.h"
#include "backend.h"
#include "host_buffers.h"
#include "objective.h"

namespace genrm::model {
namespace {

// y[N, out] = x[N, in] W^T (W is [out, in], as Hugging Face stores Linear weights).
void linear(const float* x, const float* w, float* y, int64_t n, int64_t in, int64_t out) {
  cpu::gemm(cpu::linear_args(x, w, y, n, in, out));
}

// dx[N, in] (= or +=) dy[N, out] W.
void linear_dx(const float* dy, const float* w, float* dx, int64_t n, int64_t in, int64_t out, bool accumulate) {
  cpu::GemmArgs g;
  g.m = n;
  g.n = in;
  g.k = out;
  g.a = dy;
  g.lda = out;
  g.b = w;
  g.ldb = in;
  g.beta = accumulate ? 1.0f : 0.0f;
  g.c = dx;
  g.ldc = in;
  cpu::gemm(g);
}

// dW[out, in] += dy^T x.
void linear_dw(const float* dy, const float* x, float* dw, int64_t n, int64_t in, int64_t out) {
  cpu::GemmArgs g;
  g.trans_a = true;
  g.m = out;
  g.n = in;
  g.k = n;
  g.a = dy;
  g.lda = out;
  g.b = x;
  g.ldb = in;
  g.beta = 1.0f;
  g.c = dw;
  g.ldc = in;
  cpu::gemm(g);
}

void add_into(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

// out = a + b over n floats, split across the pool (the residual stream).
void add(const float* a, const float* b, float* out, int64_t n) {
  parallel_for((n + 16383) / 16384, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin * 16384, stop = std::min(n, end * 16384); i < stop; ++i) out[i] = a[i] + b[i];
  });
}

// Adds the gate and up biases to `rows` tokens' products, where the layer has them.
void add_mlp_biases(const LayerTensors<const float>& P, float* g, float* u, int64_t rows, int64_t f) {
  if (!P.gate_bias) return;
  cpu::bias_add(g, P.gate_bias, rows, f);
  cpu::bias_add(u, P.up_bias, rows, f);
}

// Adds the q, k and v biases (widths qd, kvd, kvd) to `rows` projected tokens, where the layer has them.
void add_biases(const LayerTensors<const float>& P, float* q, float* k, float* v, int64_t rows, int64_t qd,
                int64_t kvd) {
  if (!P.q_bias) return;
  cpu::bias_add(q, P.q_bias, rows, qd);
  cpu::bias_add(k, P.k_bias, rows, kvd);
  cpu::bias_add(v, P.v_bias, rows, kvd);
}

cpu::AttentionArgs attention_args(const Config& c, const Batch& b) {
  cpu::AttentionArgs att;
  att.tokens = b.tokens();
  att.heads = c.num_attention_heads;
  att.kv_heads = c.num_key_value_heads;
  att.head_dim = c.head_dim();
  att.cu_seqlens = b.cu_seqlens.data();
  att.num_seqs = b.seqs();
  att.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim())));
  return att;
}

// Activation and scratch buffers only grow: every element a pass reads was
// written earlier in that pass, so a batch of another size (token-budget
// batches differ every step) reuses the memory with no reallocation, zero-fill
// or page faults. The model keeps its largest batch's memory.
template <typename T>
void resize(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

// y[M, out] = x[M, in] W^T, row by row (gemm_rowwise_nt): a sample's numbers do
// not depend on how many others share its decode step.
void project(const float* x, const float* w, float* y, int64_t m, int64_t in, int64_t out) {
  cpu::gemm_rowwise_nt(cpu::linear_args(x, w, y, m, in, out), default_isa());
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Config& c, const ParamLayout& layout)
      : config_(c), layout_(layout), host_(layout.total()), inv_freq_(rope_inv_freq(c)) {}

  Device device() const override { return Device::Cpu; }
  Precision precision() const override { return Precision::Fp32; }
  bool deterministic() const override { return true; }
  const std::vector<float>& view(Buffer b) override { return host_.get(b); }
  std::vector<float>& buffer(Buffer b) override { return host_.get(b); }

  Result run(const Batch& b, const Objective& o, bool with_grad, const LogitsRequest& lr) override;
  double optimizer_step(const OptimConfig& o, double lr, int64_t t) override;
  void zero_grad() override;

  void prefill(const Batch& prompts, int64_t slots, int64_t capacity, std::vector<float>& first_logits) override;
  void start(int64_t slot, int64_t seq) override;
  void step(const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens, std::vector<float>& logits) override;
  void end() override { cache_ = Cache(); }

 private:
  LayerTensors<const float> layer(int64_t l) const {
    return layout_.layer(l, static_cast<const float*>(host_.params.data()));
  }
  const float* param(const ParamInfo& p) const { return host_.params.data() + p.offset; }
  float* grad_of(const float* param) { return host_.grads.data() + (param - host_.params.data()); }

  // keep: every layer's activations stay for a backward; without it each layer
  // reuses one layer's buffers, so scoring's memory does not grow with the depth
  // (keys and values stay per layer: a prefill's cache source).
  void forward(const Batch& b, bool keep);
  void backward(const Batch& b, std::vector<float>& dhf);

  Config config_;
  ParamLayout layout_;
  HostBuffers host_;
  std::vector<double> inv_freq_;  // RoPE's, with the config's scaling

  // Activations of the last forward, kept for the backward; [tokens, ...] each.
  struct Acts {
    std::vector<float> x;             // residual stream: (layers + 1) x [N, d]
    std::vector<float> h1, h2, xmid;  // per layer [N, d]: normed inputs, residual after attention
    std::vector<float> rstd1, rstd2;  // per layer [N]
    std::vector<float> q, att;        // per layer [N, H*D]
    std::vector<float> k, v;          // per layer [N, KV*D]
    std::vector<float> lse;           // per layer [N, H]
    // With q/k norms (Qwen3): q and k before their norms, and the norms' rstd per (token, head).
    std::vector<float> q_pre, k_pre, q_rstd, k_rstd;
    std::vector<float> g, u, a;    // per layer [N, f]
    std::vector<float> hf, rstdf;  // final norm output [N, d] and its rstd [N]
    int64_t tokens = 0;
  } acts_;
  // Scratch reused across calls (fresh allocations each step cost page faults).
  struct Scratch {
    std::vector<float> tmp, dx, dh, dtmp, dg, du, dq, dk, dv, datt, dhf, dpre;
    std::vector<float> rope_cos, rope_sin;  // [longest sequence][head_dim / 2]
    std::vector<float> hsel, dhsel;         // target rows' hidden states and their gradients
    std::vector<float> head_grad;           // fused SFT pass: lm_head gradient until the loss is known finite
  } scratch_;

  struct Cache {
    int64_t slots = 0, capacity = 0, layers = 0, kv_dim = 0;
    // [slot][layer][capacity][kv_dim]; left uninitialised (only positions < len are
    // ever read), so a large cache costs no zero-filling pass.
    std::unique_ptr<float[]> k, v;
    std::vector<int64_t> len;             // tokens cached per slot
    std::vector<int32_t> prompt_offsets;  // the prompts' cu_seqlens in the prefill's activations
    // Per-step buffers, kept across steps: allocating them anew each step made
    // glibc map and unmap the large ones, so every step paid page faults and zeroing.
    std::vector<float> x, h, q, k_new, v_new, o, tmp, g, u, a;
    float* k_at(int64_t slot, int64_t layer) { return k.get() + ((slot * layers + layer) * capacity) * kv_dim; }
    float* v_at(int64_t slot, int64_t layer) { return v.get() + ((slot * layers + layer) * capacity) * kv_dim; }
  };
  Cache cache_;
};

void CpuBackend::forward(const Batch& b, bool keep) {
  const Config& c = config_;
  const int64_t N = b.tokens(), d = c.hidden_size, f = c.intermediate_size, L = c.num_hidden_layers;
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim();
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  const float eps = static_cast<float>(c.rms_norm_eps);
  // Layers whose activations are held, and the residual stream's slots (without
  // keep: two, a layer's input and output, alternating).
  const int64_t LA = keep ? L : 1, XS = keep ? L + 1 : 2;
  const auto slot = [&](int64_t layer) { return keep ? layer : layer % XS; };
  Acts& A = acts_;
  A.tokens = N;
  resize(A.x, XS * N * d);
  resize(A.h1, LA * N * d);
  resize(A.h2, LA * N * d);
  resize(A.xmid, LA * N * d);
  resize(A.rstd1, LA * N);
  resize(A.rstd2, LA * N);
  resize(A.q, LA * N * qd);
  resize(A.att, LA * N * qd);
  if (c.qk_norm) {
    resize(A.q_pre, LA * N * qd);
    resize(A.k_pre, LA * N * kvd);
    resize(A.q_rstd, LA * N * H);
    resize(A.k_rstd, LA * N * KV);
  }
  resize(A.k, L * N * kvd);
  resize(A.v, L * N * kvd);
  resize(A.lse, LA * N * H);
  resize(A.g, LA * N * f);
  resize(A.u, LA * N * f);
  resize(A.a, LA * N * f);
  resize(A.hf, N * d);
  resize(A.rstdf, N);

  cpu::embedding_forward(param(layout_.embed()), b.ids.data(), A.x.data(), N, d);
  int64_t longest = 0;
  for (int64_t s = 0; s < b.seqs(); ++s) longest = std::max<int64_t>(longest, b.cu_seqlens[s + 1] - b.cu_seqlens[s]);
  resize(scratch_.rope_cos, longest * (D / 2));
  resize(scratch_.rope_sin, longest * (D / 2));
  cpu::rope_table(inv_freq_.data(), D, longest, scratch_.rope_cos.data(), scratch_.rope_sin.data());
  const float* rcos = scratch_.rope_cos.data();
  const float* rsin = scratch_.rope_sin.data();
  const cpu::AttentionArgs att = attention_args(c, b);
  std::vector<float>& tmp = scratch_.tmp;
  resize(tmp, N * d);
  for (int64_t l = 0; l < L; ++l) {
    const LayerTensors<const float> P = layer(l);
    const int64_t s = keep ? l : 0;  // this layer's activation slot
    const float* x = A.x.data() + slot(l) * N * d;
    float* h1 = A.h1.data() + s * N * d;
    float* q = A.q.data() + s * N * qd;
    float* k = A.k.data() + l * N * kvd;
    float* v = A.v.data() + l * N * kvd;
    float* o = A.att.data() + s * N * qd;
    float* xmid = A.xmid.data() + s * N * d;
    float* h2 = A.h2.data() + s * N * d;
    float* g = A.g.data() + s * N * f;
    float* u = A.u.data() + s * N * f;
    float* a = A.a.data() + s * N * f;
    float* xout = A.x.data() + slot(l + 1) * N * d;

    cpu::rmsnorm_forward(x, P.input_norm, h1, A.rstd1.data() + s * N, N, d, eps);
    linear(h1, P.q, q, N, d, qd);
    linear(h1, P.k, k, N, d, kvd);
    linear(h1, P.v, v, N, d, kvd);
    add_biases(P, q, k, v, N, qd, kvd);
    if (P.q_norm) {
      // Qwen3: an RMSNorm over each head of q and k, before RoPE; the inputs are kept for the backward.
      float* q_pre = A.q_pre.data() + s * N * qd;
      float* k_pre = A.k_pre.data() + s * N * kvd;
      std::copy(q, q + N * qd, q_pre);
      std::copy(k, k + N * kvd, k_pre);
      cpu::rmsnorm_forward(q_pre, P.q_norm, q, A.q_rstd.data() + s * N * H, N * H, D, eps);
      cpu::rmsnorm_forward(k_pre, P.k_norm, k, A.k_rstd.data() + s * N * KV, N * KV, D, eps);
    }
    cpu::rope_apply_table(q, b.positions.data(), N, H, D, rcos, rsin, false);
    cpu::rope_apply_table(k, b.positions.data(), N, KV, D, rcos, rsin, false);
    cpu::attention_forward(att, q, k, v, o, A.lse.data() + s * N * H, default_isa());
    linear(o, P.o, tmp.data(), N, qd, d);
    if (P.o_bias) cpu::bias_add(tmp.data(), P.o_bias, N, d);
    add(x, tmp.data(), xmid, N * d);
    cpu::rmsnorm_forward(xmid, P.post_norm, h2, A.rstd2.data() + s * N, N, d, eps);
    linear(h2, P.gate, g, N, d, f);
    linear(h2, P.up, u, N, d, f);
    add_mlp_biases(P, g, u, N, f);
    cpu::swiglu_forward(g, u, a, N * f, default_isa());
    linear(a, P.down, tmp.data(), N, f, d);
    if (P.down_bias) cpu::bias_add(tmp.data(), P.down_bias, N, d);
    add(xmid, tmp.data(), xout, N * d);
  }
  const float* final_norm = param(layout_.final_norm());
  cpu::rmsnorm_forward(A.x.data() + slot(L) * N * d, final_norm, A.hf.data(), A.rstdf.data(), N, d, eps);
}

void CpuBackend::backward(const Batch& b, std::vector<float>& dhf) {
  const Config& c = config_;
  const int64_t N = b.tokens(), d = c.hidden_size, f = c.intermediate_size, L = c.num_hidden_layers;
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim();
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  Acts& A = acts_;
  Scratch& S = scratch_;
  std::vector<float>&dx = S.dx, &dh = S.dh, &dtmp = S.dtmp, &dg = S.dg, &du = S.du;
  std::vector<float>&dq = S.dq, &dk = S.dk, &dv = S.dv, &datt = S.datt;
  resize(dx, N * d);
  std::fill(dx.begin(), dx.end(), 0.0f);  // the norm backward accumulates into it
  resize(dh, N * d);
  resize(dtmp, N * f);
  resize(dg, N * f);
  resize(du, N * f);
  resize(dq, N * qd);
  resize(dk, N * kvd);
  resize(dv, N * kvd);
  resize(datt, N * qd);
  const float* final_norm = param(layout_.final_norm());
  cpu::rmsnorm_backward(A.x.data() + L * N * d, final_norm, A.rstdf.data(), dhf.data(), dx.data(), grad_of(final_norm),
                        N, d);

  const cpu::AttentionArgs att = attention_args(c, b);
  for (int64_t l = L - 1; l >= 0; --l) {
    const LayerTensors<const float> P = layer(l);
    const float* x = A.x.data() + l * N * d;
    const float* h1 = A.h1.data() + l * N * d;
    const float* q = A.q.data() + l * N * qd;
    const float* k = A.k.data() + l * N * kvd;
    const float* v = A.v.data() + l * N * kvd;
    const float* o = A.att.data() + l * N * qd;
    const float* xmid = A.xmid.data() + l * N * d;
    const float* h2 = A.h2.data() + l * N * d;
    const float* g = A.g.data() + l * N * f;
    const float* u = A.u.data() + l * N * f;
    const float* a = A.a.data() + l * N * f;

    // MLP: xout = xmid + down(silu(gate h2) * up h2). dx holds d xout.
    linear_dx(dx.data(), P.down, dtmp.data(), N, f, d, false);
    linear_dw(dx.data(), a, grad_of(P.down), N, f, d);
    if (P.down_bias) cpu::bias_backward(dx.data(), grad_of(P.down_bias), N, d);
    cpu::swiglu_backward(g, u, dtmp.data(), dg.data(), du.data(), N * f, default_isa());
    if (P.gate_bias) {
      cpu::bias_backward(dg.data(), grad_of(P.gate_bias), N, f);
      cpu::bias_backward(du.data(), grad_of(P.up_bias), N, f);
    }
    linear_dx(dg.data(), P.gate, dh.data(), N, d, f, false);
    linear_dx(du.data(), P.up, dh.data(), N, d, f, true);
    linear_dw(dg.data(), h2, grad_of(P.gate), N, d, f);
    linear_dw(du.data(), h2, grad_of(P.up), N, d, f);
    cpu::rmsnorm_backward(xmid, P.post_norm, A.rstd2.data() + l * N, dh.data(), dx.data(), grad_of(P.post_norm), N, d);
    // Attention: xmid = x + o_proj(attn(rope(q), rope(k), v)). dx now holds d xmid.
    linear_dx(dx.data(), P.o, datt.data(), N, qd, d, false);
    linear_dw(dx.data(), o, grad_of(P.o), N, qd, d);
    if (P.o_bias) cpu::bias_backward(dx.data(), grad_of(P.o_bias), N, d);
    cpu::attention_backward(att, q, k, v, o, A.lse.data() + l * N * H, datt.data(), dq.data(), dk.data(), dv.data(),
                            default_isa());
    cpu::rope_apply_table(dq.data(), b.positions.data(), N, H, D, scratch_.rope_cos.data(), scratch_.rope_sin.data(),
                          true);
    cpu::rope_apply_table(dk.data(), b.positions.data(), N, KV, D, scratch_.rope_cos.data(), scratch_.rope_sin.data(),
                          true);
    if (P.q_norm) {
      // Through the q/k norms: dq and dk become the gradients of the projections' outputs.
      resize(scratch_.dpre, N * std::max(qd, kvd));
      float* dpre = scratch_.dpre.data();
      std::fill(dpre, dpre + N * qd, 0.0f);
      cpu::rmsnorm_backward(A.q_pre.data() + l * N * qd, P.q_norm, A.q_rstd.data() + l * N * H, dq.data(), dpre,
                            grad_of(P.q_norm), N * H, D);
      std::copy(dpre, dpre + N * qd, dq.data());
      std::fill(dpre, dpre + N * kvd, 0.0f);
      cpu::rmsnorm_backward(A.k_pre.data() + l * N * kvd, P.k_norm, A.k_rstd.data() + l * N * KV, dk.data(), dpre,
                            grad_of(P.k_norm), N * KV, D);
      std::copy(dpre, dpre + N * kvd, dk.data());
    }
    linear_dx(dq.data(), P.q, dh.data(), N, d, qd, false);
    linear_dx(dk.data(), P.k, dh.data(), N, d, kvd, true);
    linear_dx(dv.data(), P.v, dh.data(), N, d, kvd, true);
    linear_dw(dq.data(), h1, grad_of(P.q), N, d, qd);
    linear_dw(dk.data(), h1, grad_of(P.k), N, d, kvd);
    linear_dw(dv.data(), h1, grad_of(P.v), N, d, kvd);
    if (P.q_bias) {
      cpu::bias_backward(dq.data(), grad_of(P.q_bias), N, qd);
      cpu::bias_backward(dk.data(), grad_of(P.k_bias), N, kvd);
      cpu::bias_backward(dv.data(), grad_of(P.v_bias), N, kvd);
    }
    cpu::rmsnorm_backward(x, P.input_norm, A.rstd1.data() + l * N, dh.data(), dx.data(), grad_of(P.input_norm), N, d);
  }
  cpu::embedding_backward(b.ids.data(), dx.data(), grad_of(param(layout_.embed())), N, d);
}

Result CpuBackend::run(const Batch& b, const Objective& o, bool with_grad, const LogitsRequest& lr) {
  const Config& c = config_;
  const int64_t N = b.tokens(), S = b.seqs(), d = c.hidden_size, V = c.vocab_size;
  if (with_grad) host_.ensure_train_state();
  const bool logps = wants_logps(b, o), rewards = wants_rewards(c, o);

  forward(b, with_grad && o.kind != ObjectiveKind::None);
  const float* hf = acts_.hf.data();
  Result r;

  // Target rows: position t-1 predicts token t where the mask is set.
  const TargetRows rows = logps ? target_rows(b) : TargetRows();
  const std::vector<int32_t>&row_pos = rows.pos, &row_target = rows.target, &row_seq = rows.seq;
  const int64_t R = static_cast<int64_t>(row_pos.size());
  std::vector<float>& hsel = scratch_.hsel;
  resize(hsel, R * d);
  std::vector<float> row_logp(R);
  // SFT knows its per-row gradient (-scale / targets) before the log-probs, so one
  // pass over the lm_head yields both; the head's gradient waits in scratch until
  // the loss is known to be finite.
  const bool fused_sft = with_grad && o.kind == ObjectiveKind::Sft && R > 0;
  cpu::LogprobArgs la;
  la.rows = R;
  la.dim = d;
  la.vocab = V;
  la.hidden = hsel.data();
  la.weight = param(layout_.lm_head());
  la.targets = row_target.data();
  if (logps) {
    for (int64_t i = 0; i < R; ++i)
      std::memcpy(hsel.data() + i * d, hf + static_cast<int64_t>(row_pos[i]) * d, sizeof(float) * d);
    if (fused_sft) {
      const std::vector<float> drow(R, static_cast<float>(-o.loss_scale / static_cast<double>(R)));
      resize(scratch_.dhsel, R * d);
      std::fill(scratch_.dhsel.begin(), scratch_.dhsel.end(), 0.0f);
      resize(scratch_.head_grad, V * d);
      std::fill(scratch_.head_grad.begin(), scratch_.head_grad.end(), 0.0f);
      cpu::logprob_forward_backward(la, drow.data(), row_logp.data(), scratch_.dhsel.data(), scratch_.head_grad.data(),
                                    default_isa());
    } else {
      cpu::logprob_forward(la, row_logp.data(), default_isa());
    }
    sum_by_sequence(rows, row_logp.data(), S, r);
  }
  if (rewards) {
    r.rewards.assign(S, 0.0f);
    const float* w = param(layout_.score());
    for (int64_t s = 0; s < S; ++s) {
      if (b.cu_seqlens[s + 1] == b.cu_seqlens[s]) continue;
      const float* h = hf + static_cast<int64_t>(b.cu_seqlens[s + 1] - 1) * d;
      double acc = 0;
      for (int64_t i = 0; i < d; ++i) acc += static_cast<double>(w[i]) * h[i];
      r.rewards[s] = static_cast<float>(acc);
    }
  }
  if (lr.rows > 0) {
    r.logits.assign(lr.rows * V, 0.0f);
    linear(hf + lr.row0 * d, param(layout_.lm_head()), r.logits.data(), lr.rows, d, V);
  }

  // Loss and its gradient w.r.t. the per-sequence quantities.
  std::vector<float> dseq, drew;
  objective_loss(o, S, r, dseq, drew);
  if (!with_grad || o.kind == ObjectiveKind::None) return r;

  // Backward: from the per-sequence gradients to d hf, then through the decoder.
  const float scale = static_cast<float>(o.loss_scale);
  std::vector<float>& dhf = scratch_.dhf;
  resize(dhf, N * d);
  std::fill(dhf.begin(), dhf.end(), 0.0f);
  if (o.kind == ObjectiveKind::Sft || o.kind == ObjectiveKind::Dpo) {
    std::vector<float>& dhsel = scratch_.dhsel;
    float* dw = host_.grads.data() + (param(layout_.lm_head()) - host_.params.data());
    if (fused_sft) {
      add(dw, scratch_.head_grad.data(), dw, V * d);
    } else {
      std::vector<float> drow(R);
      for (int64_t i = 0; i < R; ++i) drow[i] = dseq[row_seq[i]] * scale;
      resize(dhsel, R * d);
      std::fill(dhsel.begin(), dhsel.end(), 0.0f);
      cpu::logprob_backward(la, drow.data(), dhsel.data(), dw, default_isa());
    }
    for (int64_t i = 0; i < R; ++i)
      add_into(dhf.data() + static_cast<int64_t>(row_pos[i]) * d, dhsel.data() + i * d, d);
  } else {
    const float* w = param(layout_.score());
    float* dw = grad_of(w);
    for (int64_t s = 0; s < S; ++s) {
      const float gs = drew[s] * scale;
      if (gs == 0.0f) continue;
      const int64_t t = b.cu_seqlens[s + 1] - 1;
      for (int64_t i = 0; i < d; ++i) {
        dhf[t * d + i] += gs * w[i];
        dw[i] += gs * hf[t * d + i];
      }
    }
  }
  backward(b, dhf);
  return r;
}

double CpuBackend::optimizer_step(const OptimConfig& o, double lr, int64_t t) {
  host_.ensure_train_state();
  std::vector<float>& grads = host_.grads;
  const int64_t n = layout_.total();
  const double norm = cpu::l2_norm(grads.data(), n);
  if (!std::isfinite(norm)) {
    zero_grad();
    throw Error(ErrorKind::Runtime,
                "gradient norm is not finite; the step was skipped, the gradients were cleared and the parameters are "
                "unchanged");
  }
  if (o.max_grad_norm > 0) {
    const double coef = o.max_grad_norm / (norm + 1e-6);
    if (coef < 1) cpu::scale(grads.data(), n, static_cast<float>(coef));
  }
  std::vector<cpu::DecaySpan> spans;
  for (const ParamInfo& p : layout_) spans.push_back({p.offset, p.offset + p.size, p.decay});
  cpu::adamw_step(host_.params.data(), grads.data(), host_.m.data(), host_.v.data(), spans, o.adam, lr, t);
  zero_grad();
  return norm;
}

void CpuBackend::zero_grad() {
  std::fill(host_.grads.begin(), host_.grads.end(), 0.0f);  // (none allocated yet: they are zero already)
}

// Generation: the prompts go through the ordinary packed forward, which keeps
// every layer's post-RoPE keys and values; a sample starting to decode copies
// its prompt's into its cache slot, so the n samples of a prompt share one prefill.
void CpuBackend::prefill(const Batch& prompts, int64_t slots, int64_t capacity, std::vector<float>& first_logits) {
  const Config& c = config_;
  const int64_t S = prompts.seqs(), d = c.hidden_size, V = c.vocab_size, L = c.num_hidden_layers, kvd = c.kv_dim();
  cache_ = Cache();
  cache_.slots = slots;
  cache_.capacity = capacity;
  cache_.layers = L;
  cache_.kv_dim = kvd;
  cache_.len.assign(static_cast<size_t>(slots), 0);
  cache_.k.reset(new float[static_cast<size_t>(slots * L * capacity * kvd)]);
  cache_.v.reset(new float[static_cast<size_t>(slots * L * capacity * kvd)]);
  cache_.prompt_offsets = prompts.cu_seqlens;
  forward(prompts, false);
  std::vector<float> last_hidden(static_cast<size_t>(S * d));
  for (int64_t r = 0; r < S; ++r)
    std::memcpy(last_hidden.data() + r * d, acts_.hf.data() + (prompts.cu_seqlens[r + 1] - 1) * d, sizeof(float) * d);
  first_logits.resize(static_cast<size_t>(S * V));
  project(last_hidden.data(), param(layout_.lm_head()), first_logits.data(), S, d, V);
}

void CpuBackend::start(int64_t slot, int64_t seq) {
  const int64_t L = config_.num_hidden_layers, kvd = config_.kv_dim(), N = acts_.tokens;
  const int64_t p0 = cache_.prompt_offsets[seq], n = cache_.prompt_offsets[seq + 1] - p0;
  for (int64_t l = 0; l < L; ++l) {
    std::memcpy(cache_.k_at(slot, l), acts_.k.data() + (l * N + p0) * kvd, sizeof(float) * n * kvd);
    std::memcpy(cache_.v_at(slot, l), acts_.v.data() + (l * N + p0) * kvd, sizeof(float) * n * kvd);
  }
  cache_.len[slot] = n;
}

void CpuBackend::step(const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens,
                      std::vector<float>& logits) {
  Cache& cache = cache_;
  const Config& c = config_;
  const int64_t M = static_cast<int64_t>(slots.size()), d = c.hidden_size, f = c.intermediate_size;
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim();
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  const float eps = static_cast<float>(c.rms_norm_eps),
              scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  // Grow-only views of the cache's step buffers (every element read below is written first).
  auto buf = [](std::vector<float>& b, int64_t n) -> std::vector<float>& {
    if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
    return b;
  };
  std::vector<float>& x = buf(cache.x, M * d);
  std::vector<float>& h = buf(cache.h, M * d);
  std::vector<float>& q = buf(cache.q, M * qd);
  std::vector<float>& k = buf(cache.k_new, M * kvd);
  std::vector<float>& v = buf(cache.v_new, M * kvd);
  std::vector<float>& o = buf(cache.o, M * qd);
  std::vector<float>& tmp = buf(cache.tmp, M * d);
  std::vector<float>& g = buf(cache.g, M * f);
  std::vector<float>& u = buf(cache.u, M * f);
  std::vector<float>& a = buf(cache.a, M * f);
  std::vector<int32_t> pos(M);
  std::vector<int64_t> n(M);
  std::vector<const float*> kp(M), vp(M);
  for (int64_t i = 0; i < M; ++i) {
    pos[i] = static_cast<int32_t>(cache.len[slots[i]]);
    n[i] = pos[i] + 1;
    std::memcpy(x.data() + i * d, param(layout_.embed()) + static_cast<int64_t>(tokens[i]) * d, sizeof(float) * d);
  }
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerTensors<const float> P = layer(l);
    cpu::rmsnorm_forward(x.data(), P.input_norm, h.data(), nullptr, M, d, eps);
    project(h.data(), P.q, q.data(), M, d, qd);
    project(h.data(), P.k, k.data(), M, d, kvd);
    project(h.data(), P.v, v.data(), M, d, kvd);
    add_biases(P, q.data(), k.data(), v.data(), M, qd, kvd);
    if (P.q_norm) {  // in place: each row of D is read whole before it is written
      cpu::rmsnorm_forward(q.data(), P.q_norm, q.data(), nullptr, M * H, D, eps);
      cpu::rmsnorm_forward(k.data(), P.k_norm, k.data(), nullptr, M * KV, D, eps);
    }
    cpu::rope_apply(q.data(), pos.data(), M, H, D, inv_freq_.data(), false);
    cpu::rope_apply(k.data(), pos.data(), M, KV, D, inv_freq_.data(), false);
    for (int64_t i = 0; i < M; ++i) {
      std::memcpy(cache.k_at(slots[i], l) + pos[i] * kvd, k.data() + i * kvd, sizeof(float) * kvd);
      std::memcpy(cache.v_at(slots[i], l) + pos[i] * kvd, v.data() + i * kvd, sizeof(float) * kvd);
    }
    // One query row against its own sample's cached keys, per (row, head).
    for (int64_t i = 0; i < M; ++i) {
      kp[i] = cache.k_at(slots[i], l);
      vp[i] = cache.v_at(slots[i], l);
    }
    cpu::DecodeAttentionArgs da;
    da.rows = M;
    da.heads = H;
    da.kv_heads = KV;
    da.head_dim = D;
    da.k = kp.data();
    da.v = vp.data();
    da.kv_stride = kvd;
    da.n = n.data();
    da.scale = scale;
    cpu::attention_decode(da, q.data(), o.data(), default_isa());
    project(o.data(), P.o, tmp.data(), M, qd, d);
    if (P.o_bias) cpu::bias_add(tmp.data(), P.o_bias, M, d);
    for (int64_t i = 0; i < M * d; ++i) x[i] += tmp[i];
    cpu::rmsnorm_forward(x.data(), P.post_norm, h.data(), nullptr, M, d, eps);
    project(h.data(), P.gate, g.data(), M, d, f);
    project(h.data(), P.up, u.data(), M, d, f);
    add_mlp_biases(P, g.data(), u.data(), M, f);
    cpu::swiglu_forward(g.data(), u.data(), a.data(), M * f, default_isa());
    project(a.data(), P.down, tmp.data(), M, f, d);
    if (P.down_bias) cpu::bias_add(tmp.data(), P.down_bias, M, d);
    for (int64_t i = 0; i < M * d; ++i) x[i] += tmp[i];
  }
  for (int64_t i = 0; i < M; ++i) cache.len[slots[i]] += 1;
  cpu::rmsnorm_forward(x.data(), param(layout_.final_norm()), h.data(), nullptr, M, d, eps);
  logits.resize(M * c.vocab_size);
  project(h.data(), param(layout_.lm_head()), logits.data(), M, d, c.vocab_size);
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const Config& c, const ParamLayout& layout) {
  return std::make_unique<CpuBackend>(c, layout);
}

}  // namespace genrm::model
