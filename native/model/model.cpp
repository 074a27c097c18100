#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "../core/error.h"
#include "../core/rng.h"
#include "../core/thread_pool.h"
#include "../cpu/attention.h"
#include "../cpu/embedding.h"
#include "../cpu/gemm.h"
#include "../cpu/logprob.h"
#include "../cpu/rmsnorm.h"
#include "../cpu/rope.h"
#include "../cpu/swiglu.h"
#include "../cuda/model_device.h"
#include "objective.h"

namespace genrm::model {
namespace {

// Each tensor gets its own stream, so initialisation depends only on the seed and the layout.
// Box-Muller over one stream: elements 2j and 2j + 1 come from its draws 2j
// and 2j + 1. Blocks of the tensor start their own copy of the stream where
// they begin (SplitMix64 can skip ahead), so they run on all engine threads
// and every value is the one a single sequential pass gives.
void fill_normal(float* x, int64_t n, double std, uint64_t seed) {
  constexpr int64_t kBlock = int64_t(1) << 16;  // even: a block starts on a pair
  parallel_for((n + kBlock - 1) / kBlock, [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kBlock, i1 = std::min(n, i0 + kBlock);
      SplitMix64 r = SplitMix64{seed}.skipped(static_cast<uint64_t>(i0));
      for (int64_t i = i0; i < i1; i += 2) {
        const double u1 = r.uniform_open(), u2 = r.uniform_open();
        const double rad = std::sqrt(-2.0 * std::log(u1)) * std, ang = 2.0 * M_PI * u2;
        x[i] = static_cast<float>(rad * std::cos(ang));
        if (i + 1 < i1) x[i + 1] = static_cast<float>(rad * std::sin(ang));
      }
    }
  });
}

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

std::string at(const char* field, int64_t i) { return std::string(field) + "[" + std::to_string(i) + "]"; }

}  // namespace

void validate_batch(const Config& c, Batch& b) {
  const int64_t n = b.tokens();
  if (n == 0) throw Error(ErrorKind::Argument, "ids: expected at least one token, got an empty batch");
  if (b.cu_seqlens.size() < 2)
    throw_arg("cuSeqlens.length", "at least 2 (one sequence)", b.cu_seqlens.size());
  if (b.cu_seqlens[0] != 0) throw_arg("cuSeqlens[0]", 0, b.cu_seqlens[0]);
  if (b.cu_seqlens.back() != n)
    throw_arg(at("cuSeqlens", b.seqs()), "the token count " + std::to_string(n), b.cu_seqlens.back());
  for (int64_t s = 0; s < b.seqs(); ++s) {
    const int64_t len = static_cast<int64_t>(b.cu_seqlens[s + 1]) - b.cu_seqlens[s];
    if (len < 0)
      throw_arg(at("cuSeqlens", s + 1), ">= cuSeqlens[" + std::to_string(s) + "] (" + std::to_string(b.cu_seqlens[s]) + ")", b.cu_seqlens[s + 1]);
    if (len > c.max_position_embeddings)
      throw_arg("sequence " + std::to_string(s) + " length", "at most max_position_embeddings (" + std::to_string(c.max_position_embeddings) + ")",
                len, ErrorKind::Range);
  }
  for (int64_t t = 0; t < n; ++t)
    if (b.ids[t] < 0 || b.ids[t] >= c.vocab_size)
      throw_arg(at("ids", t), "a token id in [0, " + std::to_string(c.vocab_size) + ")", b.ids[t], ErrorKind::Range);
  if (!b.loss_mask.empty()) {
    if (static_cast<int64_t>(b.loss_mask.size()) != n) throw_arg("lossMask.length", n, b.loss_mask.size());
    for (int64_t s = 0; s < b.seqs(); ++s) {
      const int32_t s0 = b.cu_seqlens[s];
      if (b.cu_seqlens[s + 1] > s0 && b.loss_mask[s0])
        throw_arg(at("lossMask", s0), "0 (the first token of sequence " + std::to_string(s) + " has no prediction)", 1);
    }
    for (int64_t t = 0; t < n; ++t)
      if (b.loss_mask[t] > 1) throw_arg(at("lossMask", t), "0 or 1", static_cast<int>(b.loss_mask[t]));
  }
  b.positions.resize(n);
  for (int64_t s = 0; s < b.seqs(); ++s)
    for (int32_t t = b.cu_seqlens[s]; t < b.cu_seqlens[s + 1]; ++t) b.positions[t] = t - b.cu_seqlens[s];
}

Model::Model(const Config& config, uint64_t seed, bool initialize, Device device, Precision precision,
             bool deterministic)
    : config_(config), layout_(parameter_layout(config)), precision_(precision), deterministic_(deterministic) {
  const ParamInfo& last = layout_.back();
  const int64_t total = last.offset + last.size;
  // The device first: a model too large for the GPU fails before the host pays for it.
  if (device == Device::Cuda) {
    // The device made its gradients and moments zero, as the host's will be.
    device_.reset(cuda::device_model_create(config_, layout_, total, precision == Precision::Fp32, deterministic));
    newer_[slot(Buffer::Params)] = Newer::Host;  // uploaded before the first run
  }
  params_.assign(total, 0.0f);
  for (size_t i = 0; initialize && i < layout_.size(); ++i) {
    const ParamInfo& p = layout_[i];
    float* x = params_.data() + p.offset;
    if (!p.decay) {
      for (int64_t j = 0; j < p.size; ++j) x[j] = 1.0f;  // norm weights
    } else {
      fill_normal(x, p.size, config.initializer_range, seed * 0x100000001b3ull + i);
    }
  }
  rng_state_ = seed ^ 0x5851f42d4c957f2dull;
}

Model::~Model() = default;

void Model::DeviceDeleter::operator()(cuda::DeviceModel* m) const { cuda::device_model_destroy(m); }

void Model::ensure_train_state() {
  if (!grads_.empty()) return;
  grads_.assign(params_.size(), 0.0f);
  m_.assign(params_.size(), 0.0f);
  v_.assign(params_.size(), 0.0f);
}

std::vector<float>& Model::host_vector(Buffer b) {
  if (b != Buffer::Params) ensure_train_state();
  switch (b) {
    case Buffer::Params: return params_;
    case Buffer::Grads: return grads_;
    case Buffer::AdamM: return m_;
    case Buffer::AdamV: return v_;
  }
  return params_;
}

void Model::sync_host(Buffer b) {
  Newer& n = newer_[slot(b)];
  if (n != Newer::Device) return;
  cuda::device_model_download(*device_, static_cast<cuda::ModelBuffer>(b), host_vector(b).data());
  n = Newer::Neither;
}

const std::vector<float>& Model::view(Buffer b) {
  if (device_) sync_host(b);
  return host_vector(b);
}

std::vector<float>& Model::buffer(Buffer b) {
  if (device_) {
    sync_host(b);
    newer_[slot(b)] = Newer::Host;
  }
  return host_vector(b);
}

void Model::use_device(std::initializer_list<Buffer> changed) {
  for (Buffer b : {Buffer::Params, Buffer::Grads, Buffer::AdamM, Buffer::AdamV}) {
    Newer& n = newer_[slot(b)];
    if (n == Newer::Host) {
      cuda::device_model_upload(*device_, static_cast<cuda::ModelBuffer>(b), host_vector(b).data());
      n = Newer::Neither;
    }
  }
  for (Buffer b : changed) newer_[slot(b)] = Newer::Device;
}

Model::Layer Model::layer(int64_t i, const std::vector<float>& buf) const {
  const size_t base = 1 + 9 * static_cast<size_t>(i);
  auto p = [&](size_t k) { return buf.data() + layout_[base + k].offset; };
  return {p(0), p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8)};
}

const float* Model::lm_head() const {
  return params_.data() + (config_.tie_word_embeddings ? layout_[0].offset : layout_[2 + 9 * config_.num_hidden_layers].offset);
}

const float* Model::score() const { return params_.data() + layout_.back().offset; }

void Model::forward(const Batch& b) {
  const Config& c = config_;
  const int64_t N = b.tokens(), d = c.hidden_size, f = c.intermediate_size, L = c.num_hidden_layers;
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim();
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  const float eps = static_cast<float>(c.rms_norm_eps);
  Acts& A = acts_;
  A.tokens = N;
  resize(A.x, (L + 1) * N * d);
  resize(A.h1, L * N * d);
  resize(A.h2, L * N * d);
  resize(A.xmid, L * N * d);
  resize(A.rstd1, L * N);
  resize(A.rstd2, L * N);
  resize(A.q, L * N * qd);
  resize(A.att, L * N * qd);
  resize(A.k, L * N * kvd);
  resize(A.v, L * N * kvd);
  resize(A.lse, L * N * H);
  resize(A.g, L * N * f);
  resize(A.u, L * N * f);
  resize(A.a, L * N * f);
  resize(A.hf, N * d);
  resize(A.rstdf, N);

  cpu::embedding_forward(params_.data() + layout_[0].offset, b.ids.data(), A.x.data(), N, d);
  int64_t longest = 0;
  for (int64_t s = 0; s < b.seqs(); ++s) longest = std::max<int64_t>(longest, b.cu_seqlens[s + 1] - b.cu_seqlens[s]);
  resize(scratch_.rope_cos, longest * (D / 2));
  resize(scratch_.rope_sin, longest * (D / 2));
  cpu::rope_table(static_cast<float>(c.rope_theta), D, longest, scratch_.rope_cos.data(), scratch_.rope_sin.data());
  const float* rcos = scratch_.rope_cos.data();
  const float* rsin = scratch_.rope_sin.data();
  const cpu::AttentionArgs att = attention_args(c, b);
  std::vector<float>& tmp = scratch_.tmp;
  resize(tmp, N * d);
  for (int64_t l = 0; l < L; ++l) {
    const Layer P = layer(l, params_);
    const float* x = A.x.data() + l * N * d;
    float* h1 = A.h1.data() + l * N * d;
    float* q = A.q.data() + l * N * qd;
    float* k = A.k.data() + l * N * kvd;
    float* v = A.v.data() + l * N * kvd;
    float* o = A.att.data() + l * N * qd;
    float* xmid = A.xmid.data() + l * N * d;
    float* h2 = A.h2.data() + l * N * d;
    float* g = A.g.data() + l * N * f;
    float* u = A.u.data() + l * N * f;
    float* a = A.a.data() + l * N * f;
    float* xout = A.x.data() + (l + 1) * N * d;

    cpu::rmsnorm_forward(x, P.in_norm, h1, A.rstd1.data() + l * N, N, d, eps);
    linear(h1, P.wq, q, N, d, qd);
    linear(h1, P.wk, k, N, d, kvd);
    linear(h1, P.wv, v, N, d, kvd);
    cpu::rope_apply_table(q, b.positions.data(), N, H, D, rcos, rsin, false);
    cpu::rope_apply_table(k, b.positions.data(), N, KV, D, rcos, rsin, false);
    cpu::attention_forward(att, q, k, v, o, A.lse.data() + l * N * H, default_isa());
    linear(o, P.wo, tmp.data(), N, qd, d);
    add(x, tmp.data(), xmid, N * d);
    cpu::rmsnorm_forward(xmid, P.post_norm, h2, A.rstd2.data() + l * N, N, d, eps);
    linear(h2, P.wg, g, N, d, f);
    linear(h2, P.wu, u, N, d, f);
    cpu::swiglu_forward(g, u, a, N * f, default_isa());
    linear(a, P.wd, tmp.data(), N, f, d);
    add(xmid, tmp.data(), xout, N * d);
  }
  const float* final_norm = params_.data() + layout_[1 + 9 * L].offset;
  cpu::rmsnorm_forward(A.x.data() + L * N * d, final_norm, A.hf.data(), A.rstdf.data(), N, d, eps);
}

void Model::backward(const Batch& b, std::vector<float>& dhf) {
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
  const float* final_norm = params_.data() + layout_[1 + 9 * L].offset;
  cpu::rmsnorm_backward(A.x.data() + L * N * d, final_norm, A.rstdf.data(), dhf.data(), dx.data(), grad_of(final_norm), N, d);

  const cpu::AttentionArgs att = attention_args(c, b);
  for (int64_t l = L - 1; l >= 0; --l) {
    const Layer P = layer(l, params_);
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
    linear_dx(dx.data(), P.wd, dtmp.data(), N, f, d, false);
    linear_dw(dx.data(), a, grad_of(P.wd), N, f, d);
    cpu::swiglu_backward(g, u, dtmp.data(), dg.data(), du.data(), N * f, default_isa());
    linear_dx(dg.data(), P.wg, dh.data(), N, d, f, false);
    linear_dx(du.data(), P.wu, dh.data(), N, d, f, true);
    linear_dw(dg.data(), h2, grad_of(P.wg), N, d, f);
    linear_dw(du.data(), h2, grad_of(P.wu), N, d, f);
    cpu::rmsnorm_backward(xmid, P.post_norm, A.rstd2.data() + l * N, dh.data(), dx.data(), grad_of(P.post_norm), N, d);
    // Attention: xmid = x + o_proj(attn(rope(q), rope(k), v)). dx now holds d xmid.
    linear_dx(dx.data(), P.wo, datt.data(), N, qd, d, false);
    linear_dw(dx.data(), o, grad_of(P.wo), N, qd, d);
    cpu::attention_backward(att, q, k, v, o, A.lse.data() + l * N * H, datt.data(), dq.data(), dk.data(), dv.data(), default_isa());
    cpu::rope_apply_table(dq.data(), b.positions.data(), N, H, D, scratch_.rope_cos.data(), scratch_.rope_sin.data(), true);
    cpu::rope_apply_table(dk.data(), b.positions.data(), N, KV, D, scratch_.rope_cos.data(), scratch_.rope_sin.data(), true);
    linear_dx(dq.data(), P.wq, dh.data(), N, d, qd, false);
    linear_dx(dk.data(), P.wk, dh.data(), N, d, kvd, true);
    linear_dx(dv.data(), P.wv, dh.data(), N, d, kvd, true);
    linear_dw(dq.data(), h1, grad_of(P.wq), N, d, qd);
    linear_dw(dk.data(), h1, grad_of(P.wk), N, d, kvd);
    linear_dw(dv.data(), h1, grad_of(P.wv), N, d, kvd);
    cpu::rmsnorm_backward(x, P.in_norm, A.rstd1.data() + l * N, dh.data(), dx.data(), grad_of(P.in_norm), N, d);
  }
  cpu::embedding_backward(b.ids.data(), dx.data(), grads_.data() + layout_[0].offset, N, d);
}

Result Model::run(const Batch& b, const Objective& o, bool with_grad, const LogitsRequest& lr) {
  const Config& c = config_;
  const int64_t N = b.tokens(), S = b.seqs(), d = c.hidden_size, V = c.vocab_size;
  validate_objective(c, b, o, lr);
  if (device_) {
    use_device({});
    if (with_grad && o.kind != ObjectiveKind::None) newer_[slot(Buffer::Grads)] = Newer::Device;
    return cuda::device_model_run(*device_, b, o, with_grad, lr);
  }
  if (with_grad) ensure_train_state();
  const bool logps = wants_logps(b, o), rewards = wants_rewards(c, o);

  forward(b);
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
  la.weight = lm_head();
  la.targets = row_target.data();
  if (logps) {
    for (int64_t i = 0; i < R; ++i) std::memcpy(hsel.data() + i * d, hf + static_cast<int64_t>(row_pos[i]) * d, sizeof(float) * d);
    if (fused_sft) {
      const std::vector<float> drow(R, static_cast<float>(-o.loss_scale / static_cast<double>(R)));
      resize(scratch_.dhsel, R * d);
      std::fill(scratch_.dhsel.begin(), scratch_.dhsel.end(), 0.0f);
      resize(scratch_.head_grad, V * d);
      std::fill(scratch_.head_grad.begin(), scratch_.head_grad.end(), 0.0f);
      cpu::logprob_forward_backward(la, drow.data(), row_logp.data(), scratch_.dhsel.data(), scratch_.head_grad.data(), default_isa());
    } else {
      cpu::logprob_forward(la, row_logp.data(), default_isa());
    }
    sum_by_sequence(rows, row_logp.data(), S, r);
  }
  if (rewards) {
    r.rewards.assign(S, 0.0f);
    const float* w = score();
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
    linear(hf + lr.row0 * d, lm_head(), r.logits.data(), lr.rows, d, V);
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
    float* dw = grads_.data() + (lm_head() - params_.data());
    if (fused_sft) {
      add(dw, scratch_.head_grad.data(), dw, V * d);
    } else {
      std::vector<float> drow(R);
      for (int64_t i = 0; i < R; ++i) drow[i] = dseq[row_seq[i]] * scale;
      resize(dhsel, R * d);
      std::fill(dhsel.begin(), dhsel.end(), 0.0f);
      cpu::logprob_backward(la, drow.data(), dhsel.data(), dw, default_isa());
    }
    for (int64_t i = 0; i < R; ++i) add_into(dhf.data() + static_cast<int64_t>(row_pos[i]) * d, dhsel.data() + i * d, d);
  } else {
    const float* w = score();
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

void Model::zero_grad() {
  if (device_) {
    // The device's zeros are the gradients now; the host copy is fetched only if
    // read (filling it here would be a full host pass per step for nothing).
    cuda::device_model_zero_grad(*device_);
    newer_[slot(Buffer::Grads)] = Newer::Device;
    return;
  }
  std::fill(grads_.begin(), grads_.end(), 0.0f);  // (none allocated yet: they are zero already)
}

StepResult Model::optimizer_step(const OptimConfig& o) {
  StepResult out;
  if (device_) {
    use_device({});
    out.learning_rate = cpu::scheduled_lr(o.adam.lr, o.schedule, step_);
    try {
      out.grad_norm = cuda::device_model_optimizer_step(*device_, o, out.learning_rate, step_ + 1);
    } catch (...) {
      newer_[slot(Buffer::Grads)] = Newer::Device;  // the device cleared its gradients
      throw;
    }
    // The device holds the new parameters and moments, and zeroed gradients.
    for (Buffer b : {Buffer::Params, Buffer::Grads, Buffer::AdamM, Buffer::AdamV}) newer_[slot(b)] = Newer::Device;
    ++step_;
    out.step = step_;
    return out;
  }
  ensure_train_state();
  out.grad_norm = cpu::l2_norm(grads_.data(), num_params());
  if (!std::isfinite(out.grad_norm)) {
    zero_grad();
    throw Error(ErrorKind::Runtime, "gradient norm is not finite; the step was skipped, the gradients were cleared and the parameters are unchanged");
  }
  if (o.max_grad_norm > 0) {
    const double coef = o.max_grad_norm / (out.grad_norm + 1e-6);
    if (coef < 1) cpu::scale(grads_.data(), num_params(), static_cast<float>(coef));
  }
  out.learning_rate = cpu::scheduled_lr(o.adam.lr, o.schedule, step_);
  std::vector<cpu::DecaySpan> spans;
  for (const ParamInfo& p : layout_) spans.push_back({p.offset, p.offset + p.size, p.decay});
  cpu::adamw_step(params_.data(), grads_.data(), m_.data(), v_.data(), spans, o.adam, out.learning_rate, step_ + 1);
  ++step_;
  out.step = step_;
  zero_grad();
  return out;
}

}  // namespace genrm::model
