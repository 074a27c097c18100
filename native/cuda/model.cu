// The CUDA backend of the model (model/backend.h): the decoder's run, optimizer
// step and decode step on the device, step for step the CPU backend
// (model/cpu_backend.cpp): fp32 master weights, gradients, AdamW state
// and activations in device memory; every matrix product on cuda::gemm (tensor
// cores: bf16 operands, fp32 accumulation) and attention on the flash kernels.
// In bf16 precision the products read a bf16 copy of the weights (refreshed by
// each upload and optimizer step), and what only products read (the norms'
// outputs, SwiGLU's output and gradients) is stored in bf16: the products would
// round it to bf16 anyway, so this halves those bytes without changing a
// result. Attention's tensors are bf16 too (q, k, v, its output and their
// gradients, as in flash attention's bf16 training): rounded once more than
// the products alone would (q and k after the rotation, dQ and dK before and
// after the inverse rotation, the output read again for the backward's row
// terms). The residual stream, the key/value cache and everything the
// elementwise kernels read stay fp32.
// The per-sequence losses are a few floats and run on the host with the CPU
// engine's own functions (model/objective.cpp), so both paths share them.
// One host thread drives the device at a time (a process-wide lock): the
// kernels share grow-only scratch buffers. Host code only (no kernels, no CUDA
// runtime calls: check.h's copies): the C++ tests also run it on the CPU, over a
// stand-in for the device (native/tests/host_double/).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../cpu/losses.h"
#include "../cpu/rope.h"
#include "../model/backend.h"
#include "../model/host_buffers.h"
#include "../model/objective.h"
#include "attention.h"
#include "check.h"
#include "device.h"
#include "gemm.h"
#include "kernels.h"
#include "logprob.h"
#include "sampling.h"

namespace genrm::cuda {

// A grow-only device buffer: a batch of another size reuses the memory; every
// element a pass reads is written earlier in that pass.
template <typename T>
struct Buf {
  T* p = nullptr;
  int64_t cap = 0;
  const char* what = "";
  explicit Buf(const char* name) : what(name) {}
  ~Buf() { device_free(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  T* get(int64_t n) {
    if (n > cap) {
      T* grown = static_cast<T*>(device_alloc(sizeof(T) * static_cast<size_t>(n), what));
      device_free(p);
      p = grown;
      cap = n;
    }
    return p;
  }
  T* upload(const std::vector<T>& h) {
    T* d = get(static_cast<int64_t>(h.size()) > 0 ? static_cast<int64_t>(h.size()) : 1);
    copy(d, h.data(), sizeof(T) * h.size(), CopyKind::HostToDevice, what);
    return d;
  }
};

// A stored operand: device pointer and element type.
struct Ref {
  const void* p;
  DType t;
};
inline Ref f32(const float* p) { return {p, DType::F32}; }

// A grow-only buffer of fp32 or bf16 elements (chosen when the model is made).
struct TypedBuf {
  Buf<uint16_t> raw;  // in 2-byte units
  DType t = DType::F32;
  explicit TypedBuf(const char* name) : raw(name) {}
  int64_t units(int64_t n) const { return n * static_cast<int64_t>(dtype_size(t) / 2); }
  void* get(int64_t n) { return raw.get(units(n)); }
  void* at(int64_t i) const { return raw.p + units(i); }
  Ref ref(int64_t i) const { return {at(i), t}; }
};

namespace {

std::mutex& device_lock() {
  static std::mutex m;
  return m;
}

void zero(float* p, int64_t n) {
  if (n > 0) fill_zero(p, sizeof(float) * static_cast<size_t>(n), "zero fill");
}

std::vector<float> download(const float* p, int64_t n, const char* what) {
  std::vector<float> h(static_cast<size_t>(n));
  copy(h.data(), p, sizeof(float) * h.size(), CopyKind::DeviceToHost, what);
  return h;
}

void linear(Ref x, Ref w, void* y, int64_t n, int64_t in, int64_t out, GemmEngine e, DType y_type = DType::F32) {
  gemm(linear_args(x.p, x.t, w.p, w.t, y, y_type, n, in, out), e);
}

// dx[N, in] (= or +=) dy[N, out] W.
GemmArgs linear_dx_args(Ref dy, Ref w, void* dx, int64_t n, int64_t in, int64_t out, bool accumulate,
                        DType dx_type = DType::F32) {
  GemmArgs g;
  g.m = n;
  g.n = in;
  g.k = out;
  g.a = dy.p;
  g.a_type = dy.t;
  g.lda = out;
  g.b = w.p;
  g.b_type = w.t;
  g.ldb = in;
  g.beta = accumulate ? 1.0f : 0.0f;
  g.c = dx;
  g.c_type = dx_type;
  g.ldc = in;
  return g;
}

void linear_dx(Ref dy, Ref w, void* dx, int64_t n, int64_t in, int64_t out, bool accumulate, GemmEngine e,
               DType dx_type = DType::F32) {
  gemm(linear_dx_args(dy, w, dx, n, in, out, accumulate, dx_type), e);
}

// dW[out, in] += dy^T x.
void linear_dw(Ref dy, Ref x, float* dw, int64_t n, int64_t in, int64_t out, GemmEngine e) {
  GemmArgs g;
  g.trans_a = true;
  g.m = out;
  g.n = in;
  g.k = n;
  g.a = dy.p;
  g.a_type = dy.t;
  g.lda = out;
  g.b = x.p;
  g.b_type = x.t;
  g.ldb = in;
  g.beta = 1.0f;
  g.c = dw;
  g.ldc = in;
  gemm(g, e);
}

// DPO's rows in an order where each group of sequences joined by pairs is
// contiguous (usually a pair: its chosen and its rejected rows), so the
// single-pass log-prob can take the loss chunk by chunk. perm[i]: the target row
// at position i; group_ends: where each group ends.
struct GroupedRows {
  std::vector<int32_t> perm;
  std::vector<int64_t> group_ends;
};

GroupedRows group_rows_by_pairs(const model::TargetRows& rows, const std::vector<int32_t>& pairs, int64_t seqs) {
  std::vector<int32_t> parent(static_cast<size_t>(seqs));
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](int32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
    const int32_t a = find(pairs[i]), b = find(pairs[i + 1]);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
  // Groups in the order of their first row, rows in batch order within a group.
  std::vector<int32_t> group_of_root(static_cast<size_t>(seqs), -1);
  std::vector<std::vector<int32_t>> members;
  for (int64_t i = 0; i < rows.size(); ++i) {
    const int32_t root = find(rows.seq[i]);
    if (group_of_root[root] < 0) {
      group_of_root[root] = static_cast<int32_t>(members.size());
      members.emplace_back();
    }
    members[group_of_root[root]].push_back(static_cast<int32_t>(i));
  }
  GroupedRows g;
  for (const std::vector<int32_t>& m : members) {
    g.perm.insert(g.perm.end(), m.begin(), m.end());
    g.group_ends.push_back(static_cast<int64_t>(g.perm.size()));
  }
  return g;
}

// The products' engine of a bf16 model: cuBLAS where the build has it (Auto),
// unless GENRM_CUDA_GEMM asks for the project's own kernel, which is what a
// build without cuBLAS (the shipped prebuild) runs, so its speed can be measured
// on a machine that has cuBLAS. Read when a model is created.
GemmEngine engine_from_env() {
  const char* env = std::getenv("GENRM_CUDA_GEMM");
  const std::string v = env ? env : "";
  if (v.empty() || v == "auto") return GemmEngine::Auto;
  if (v == "own") return GemmEngine::Own;
  if (v == "cublas" && have_cublas()) return GemmEngine::Cublas;
  throw_arg("GENRM_CUDA_GEMM", have_cublas() ? "auto, own or cublas" : "auto or own (this build has no cuBLAS)",
            "\"" + v + "\"");
}

}  // namespace

struct DeviceModel {
  DeviceModel(const model::Config& config, const model::ParamLayout& l) : c(config), layout(l), n(l.total()) {}
  model::Config c;
  model::ParamLayout layout;
  int64_t n = 0;
  GemmEngine engine = GemmEngine::Auto;
  AttentionPath attention_path = AttentionPath::Auto;
  bool deterministic = true;  // attention's backward: false adds dQ by atomics
  float *params = nullptr, *grads = nullptr, *m = nullptr, *v = nullptr;
  // The products' operand storage: bf16 (tensor cores) or fp32 (SIMT). With
  // bf16, params_bf16 is the parameters rounded to bf16, the copy products read.
  DType st = DType::F32;
  uint16_t* params_bf16 = nullptr;

  // Activations of the last forward, per layer where the CPU path keeps them
  // (the TypedBufs hold what only products and attention read, in the operand
  // storage).
  Buf<float> x{"activations x"}, xmid{"activations xmid"}, rstd1{"activations rstd1"}, rstd2{"activations rstd2"},
      lse{"activations lse"}, g{"activations g"}, u{"activations u"}, hf{"activations hf"}, rstdf{"activations rstdf"};
  TypedBuf h1{"activations h1"}, h2{"activations h2"}, a{"activations a"}, q{"activations q"}, k{"activations k"},
      vv{"activations v"}, att{"activations att"};
  // Scratch of a run.
  TypedBuf dg{"scratch dg"}, du{"scratch du"}, dq{"scratch dq"}, dk{"scratch dk"}, dv{"scratch dv"},
      datt{"scratch datt"};
  Buf<float> tmp{"scratch tmp"}, dx{"scratch dx"}, dh{"scratch dh"}, dtmp{"scratch dtmp"}, dhf{"scratch dhf"},
      qk_tmp{"scratch q/k before rotation"}, rope_cos{"rope cos table"}, rope_sin{"rope sin table"},
      hsel{"target rows"}, dhsel{"target rows gradient"}, head_grad{"lm_head gradient (held until the loss is finite)"},
      row_logp{"target log-probs"}, drow{"target gradients"}, rewards{"rewards"}, drew{"reward gradients"},
      logits{"requested logits"};
  // Qwen3's q/k norms: their inputs and 1/rms per head (activations), and the
  // backward's fp32 gradients of q or k around the norm (scratch).
  Buf<float> q_pre{"activations q before its norm"}, k_pre{"activations k before its norm"},
      q_rstd{"activations q norm rstd"}, k_rstd{"activations k norm rstd"}, dqk{"scratch dq/dk (fp32)"},
      dqk_pre{"scratch dq/dk before the norm"};
  Buf<int32_t> ids{"token ids"}, positions{"positions"}, cu_seqlens{"sequence offsets"}, row_pos{"target positions"},
      row_target{"target ids"}, last_rows{"last tokens"}, emb_ids{"embedding ids"}, emb_starts{"embedding offsets"},
      emb_order{"embedding order"};

  // Generation: the key/value cache and one decode step's buffers.
  struct Generation {
    // [slots][layers][capacity][kv_dim], in the operands' storage (the prefill's
    // keys and values are copied in as attention stored them).
    void *k = nullptr, *v = nullptr;
    int64_t slots = 0, capacity = 0;
    std::vector<int32_t> len;         // tokens cached per slot
    std::vector<int32_t> cu_seqlens;  // the prompts' offsets in the prefill's activations
    int64_t prompt_tokens = 0;
  } gen;
  Buf<float> gx{"decode x"}, gq{"decode q"}, gk{"decode k"}, gv{"decode v"}, go{"decode attention"}, gtmp{"decode tmp"},
      gg{"decode gate"}, gu{"decode up"}, gscores{"decode scores"}, glogits{"decode logits"};
  TypedBuf gh{"decode h"}, ga{"decode swiglu"};
  Buf<int32_t> gtok{"decode tokens"}, gpos{"decode positions"}, gslot{"decode slots"}, gn{"decode key counts"},
      gdrawn{"drawn tokens"};
  Buf<double> guniform{"draws' uniforms"}, gdrawn_lp{"drawn tokens' log-probs"};

  // Makes the products' operands bf16 (tensor-core precision): the weights' copy and the typed buffers.
  void use_bf16_operands() {
    st = DType::BF16;
    for (TypedBuf* b : {&h1, &h2, &a, &q, &k, &vv, &att, &dg, &du, &dq, &dk, &dv, &datt, &gh, &ga}) b->t = st;
    params_bf16 =
        static_cast<uint16_t*>(device_alloc(sizeof(uint16_t) * static_cast<size_t>(n), "parameters (bf16 copy)"));
  }
  // Gradients and AdamW moments, zeros, from the first call that needs them (a
  // model that only scores or samples never holds them); all three or none.
  void ensure_train_state() {
    if (grads) return;
    const size_t bytes = sizeof(float) * static_cast<size_t>(n);
    float *g = nullptr, *m1 = nullptr, *m2 = nullptr;
    try {
      g = static_cast<float*>(device_alloc(bytes, "gradients"));
      m1 = static_cast<float*>(device_alloc(bytes, "AdamW first moments"));
      m2 = static_cast<float*>(device_alloc(bytes, "AdamW second moments"));
    } catch (...) {
      device_free(g);
      device_free(m1);
      throw;
    }
    for (float* b : {g, m1, m2}) zero(b, n);
    grads = g;
    m = m1;
    v = m2;
  }
  // Refreshes the bf16 copy after the parameters changed other than by a step.
  void refresh_weights() {
    if (params_bf16) to_bf16(params, params_bf16, n);
  }
  // The stored copy of parameter p that products read.
  Ref weight(const float* p) const {
    if (params_bf16) return {params_bf16 + (p - params), DType::BF16};
    return f32(p);
  }

  void free_generation() {
    device_free(gen.k);
    device_free(gen.v);
    gen = Generation();
  }
  void prefill(const model::Batch& prompts, int64_t slots, int64_t capacity, std::vector<float>& first_logits);
  void start(int64_t slot, int64_t seq);
  // One decode step; returns the device's [rows, vocab] logits.
  float* step(const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens);

  const float* P(const model::ParamInfo& p) const { return params + p.offset; }
  float* G(const float* param) { return grads + (param - params); }
  const float* lm_head() const { return P(layout.lm_head()); }
  const float* score() const { return P(layout.score()); }
  const float* final_norm() const { return P(layout.final_norm()); }
  using Layer = model::LayerTensors<const float>;
  Layer layer(int64_t l) const { return layout.layer(l, static_cast<const float*>(params)); }

  AttentionArgs attention_args(const model::Batch& b, int64_t longest) const {
    AttentionArgs at;
    at.tokens = b.tokens();
    at.heads = c.num_attention_heads;
    at.kv_heads = c.num_key_value_heads;
    at.head_dim = c.head_dim();
    at.cu_seqlens = cu_seqlens.p;
    at.num_seqs = b.seqs();
    at.max_seqlen = longest;
    at.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim())));
    at.dtype = st;
    at.deterministic = deterministic;
    return at;
  }

  // keep: every layer's activations stay for a backward; without it each layer
  // reuses one layer's buffers (scoring, judging, a prefill), so the memory does
  // not grow with the depth. Keys and values stay per layer (a prefill's cache source).
  void forward(const model::Batch& b, int64_t longest, bool keep);
  // Claims the backward's buffers (and attention's scratch), so an out-of-memory
  // comes before any gradient is touched.
  void reserve_backward(const model::Batch& b, int64_t longest) {
    const int64_t N = b.tokens(), d = c.hidden_size, f = c.intermediate_size;
    attention_reserve_backward(attention_args(b, longest));
    // The largest product with an fp32 operand (dX, [N, d]; the head's hidden rows
    // are fewer): cuBLAS's bf16 copy of it.
    gemm_reserve(linear_dx_args(f32(dx.get(N * d)), weight(layer(0).down), dtmp.get(N * f), N, f, d, false), engine);
    for (Buf<float>* b : {&dx, &dh, &dhf}) b->get(N * d);
    dtmp.get(N * f);
    for (TypedBuf* b : {&dg, &du}) b->get(N * f);
    for (TypedBuf* b : {&dq, &datt}) b->get(N * c.q_dim());
    for (TypedBuf* b : {&dk, &dv}) b->get(N * c.kv_dim());
    for (Buf<int32_t>* b : {&emb_ids, &emb_order}) b->get(N);
    emb_starts.get(N + 1);
    if (c.qkv_bias || c.qk_norm) dqk.get(N * std::max(c.q_dim(), c.kv_dim()));
    if (c.qk_norm) dqk_pre.get(N * std::max(c.q_dim(), c.kv_dim()));
  }
  void backward(const model::Batch& b, int64_t longest);
  model::Result run(const model::Batch& b, const model::Objective& o, bool with_grad, const model::LogitsRequest& lr);
};

void DeviceModel::forward(const model::Batch& b, int64_t longest, bool keep) {
  const int64_t N = b.tokens(), d = c.hidden_size, f = c.intermediate_size, L = c.num_hidden_layers;
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim();
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  const float eps = static_cast<float>(c.rms_norm_eps);
  // Layers whose activations are held, and the residual stream's slots (without
  // keep: two, a layer's input and output, alternating).
  const int64_t LA = keep ? L : 1, XS = keep ? L + 1 : 2;
  float* X = x.get(XS * N * d);
  float* XM = xmid.get(LA * N * d);
  for (TypedBuf* b : {&h1, &h2}) b->get(LA * N * d);
  a.get(LA * N * f);
  float *R1 = rstd1.get(LA * N), *R2 = rstd2.get(LA * N);
  for (TypedBuf* b : {&q, &att}) b->get(LA * N * qd);
  for (TypedBuf* b : {&k, &vv}) b->get(L * N * kvd);
  // bf16: q and k leave the product in fp32 and are rounded once, after the rotation.
  float* RT = st == DType::F32 ? nullptr : qk_tmp.get(N * std::max(qd, kvd));
  float* LSE = lse.get(LA * N * H);
  float *Gg = g.get(LA * N * f), *U = u.get(LA * N * f);
  float* T = tmp.get(N * d);
  float *QP = nullptr, *KP = nullptr, *QR = nullptr, *KR = nullptr;
  if (c.qk_norm) {
    QP = q_pre.get(LA * N * qd);
    KP = k_pre.get(LA * N * kvd);
    QR = q_rstd.get(LA * N * H);
    KR = k_rstd.get(LA * N * KV);
  }
  const auto slot = [&](int64_t layer) { return keep ? layer : layer % XS; };

  ids.upload(b.ids);
  positions.upload(b.positions);
  cu_seqlens.upload(b.cu_seqlens);
  std::vector<float> cs(static_cast<size_t>(longest * (D / 2))), sn(cs.size());
  cpu::rope_table(model::rope_inv_freq(c).data(), D, longest, cs.data(), sn.data());
  const float* rc = rope_cos.upload(cs);
  const float* rs = rope_sin.upload(sn);
  const AttentionArgs at = attention_args(b, longest);

  embedding_forward(P(layout.embed()), ids.p, X, N, d);
  for (int64_t l = 0; l < L; ++l) {
    const Layer W = layer(l);
    const int64_t s = keep ? l : 0;  // this layer's activation slot
    const float* xin = X + slot(l) * N * d;
    void *ql = q.at(s * N * qd), *kl = k.at(l * N * kvd), *vl = vv.at(l * N * kvd), *ol = att.at(s * N * qd);
    float* xm = XM + s * N * d;
    float *gl = Gg + s * N * f, *ul = U + s * N * f, *xout = X + slot(l + 1) * N * d;
    const Ref h1l = h1.ref(s * N * d), h2l = h2.ref(s * N * d), al = a.ref(s * N * f);
    rmsnorm_forward(xin, W.input_norm, h1.at(s * N * d), R1 + s * N, N, d, eps, st);
    // q or k: product, bias, per-head norm (its input kept in pre), rotation.
    auto rotated = [&](const float* w, const float* bias, const float* norm, float* pre, float* rstd, void* out,
                       int64_t width, int64_t heads) {
      float* y = RT ? RT : static_cast<float*>(out);  // fp32: rotated in place
      float* lin = norm ? pre : y;
      linear(h1l, weight(w), lin, N, d, width, engine);
      if (bias) bias_add(lin, bias, N, width);
      if (norm) rmsnorm_forward(pre, norm, y, rstd, N * heads, D, eps);
      rope_apply_table_to(y, DType::F32, out, st, positions.p, N, heads, D, rc, rs, false);
    };
    rotated(W.q, W.q_bias, W.q_norm, QP ? QP + s * N * qd : nullptr, QR ? QR + s * N * H : nullptr, ql, qd, H);
    rotated(W.k, W.k_bias, W.k_norm, KP ? KP + s * N * kvd : nullptr, KR ? KR + s * N * KV : nullptr, kl, kvd, KV);
    if (W.v_bias) {  // the bias is added in fp32, then v is stored
      float* y = RT ? RT : static_cast<float*>(vl);
      linear(h1l, weight(W.v), y, N, d, kvd, engine);
      bias_add(y, W.v_bias, N, kvd);
      if (RT) to_bf16(RT, vl, N * kvd);
    } else {
      linear(h1l, weight(W.v), vl, N, d, kvd, engine, st);
    }
    attention_forward(at, ql, kl, vl, ol, LSE + s * N * H, attention_path);
    linear(att.ref(s * N * qd), weight(W.o), T, N, qd, d, engine);
    if (W.o_bias) bias_add(T, W.o_bias, N, d);
    add(xin, T, xm, N * d);
    rmsnorm_forward(xm, W.post_norm, h2.at(s * N * d), R2 + s * N, N, d, eps, st);
    linear(h2l, weight(W.gate), gl, N, d, f, engine);
    linear(h2l, weight(W.up), ul, N, d, f, engine);
    if (W.gate_bias) {
      bias_add(gl, W.gate_bias, N, f);
      bias_add(ul, W.up_bias, N, f);
    }
    swiglu_forward(gl, ul, a.at(s * N * f), N * f, st);
    linear(al, weight(W.down), T, N, f, d, engine);
    if (W.down_bias) bias_add(T, W.down_bias, N, d);
    add(xm, T, xout, N * d);
  }
  rmsnorm_forward(X + slot(L) * N * d, final_norm(), hf.get(N * d), rstdf.get(N), N, d, eps);
}

// dhf (N x d) holds the gradient w.r.t. the final norm's output.
void DeviceModel::backward(const model::Batch& b, int64_t longest) {
  const int64_t N = b.tokens(), d = c.hidden_size, f = c.intermediate_size, L = c.num_hidden_layers;
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim();
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  float *DX = dx.get(N * d), *DH = dh.get(N * d), *DT = dtmp.get(N * f);
  void *DQ = dq.get(N * qd), *DK = dk.get(N * kvd), *DV = dv.get(N * kvd), *DA = datt.get(N * qd);
  void *DG = dg.get(N * f), *DU = du.get(N * f);
  auto op = [&](void* p) { return Ref{p, st}; };
  zero(DX, N * d);  // the norm backward accumulates into it
  rmsnorm_backward(x.p + L * N * d, final_norm(), rstdf.p, dhf.p, DX, G(final_norm()), N, d);
  const AttentionArgs at = attention_args(b, longest);
  for (int64_t l = L - 1; l >= 0; --l) {
    const Layer W = layer(l);
    const float* xin = x.p + l * N * d;
    const void *ql = q.at(l * N * qd), *kl = k.at(l * N * kvd), *vl = vv.at(l * N * kvd), *ol = att.at(l * N * qd);
    const float* xm = xmid.p + l * N * d;
    const float *gl = g.p + l * N * f, *ul = u.p + l * N * f;
    const Ref h1l = h1.ref(l * N * d), h2l = h2.ref(l * N * d), al = a.ref(l * N * f);
    // MLP: xout = xmid + down(silu(gate h2) * up h2). DX holds d xout.
    linear_dx(f32(DX), weight(W.down), DT, N, f, d, false, engine);
    linear_dw(f32(DX), al, G(W.down), N, f, d, engine);
    if (W.down_bias) bias_backward(DX, DType::F32, G(W.down_bias), N, d);
    swiglu_backward(gl, ul, DT, DG, DU, N * f, st);
    if (W.gate_bias) {
      bias_backward(DG, st, G(W.gate_bias), N, f);
      bias_backward(DU, st, G(W.up_bias), N, f);
    }
    linear_dx(op(DG), weight(W.gate), DH, N, d, f, false, engine);
    linear_dx(op(DU), weight(W.up), DH, N, d, f, true, engine);
    linear_dw(op(DG), h2l, G(W.gate), N, d, f, engine);
    linear_dw(op(DU), h2l, G(W.up), N, d, f, engine);
    rmsnorm_backward(xm, W.post_norm, rstd2.p + l * N, DH, DX, G(W.post_norm), N, d);
    // Attention: xmid = x + o_proj(attn(rope(q), rope(k), v)). DX now holds d xmid.
    if (W.o_bias) bias_backward(DX, DType::F32, G(W.o_bias), N, d);
    linear_dx(f32(DX), weight(W.o), DA, N, qd, d, false, engine, st);
    linear_dw(f32(DX), att.ref(l * N * qd), G(W.o), N, qd, d, engine);
    attention_backward(at, ql, kl, vl, ol, lse.p + l * N * H, DA, DQ, DK, DV, attention_path);
    if (W.v_bias) bias_backward(DV, st, G(W.v_bias), N, kvd);
    // Undo the rotation on dQ and dK (bf16: a second rounding of theirs), then
    // the norm and the bias, where the layer has them, in fp32.
    auto unrotate = [&](void* grad, const float* bias, const float* norm, const float* pre, const float* rstd,
                        int64_t width, int64_t heads) {
      if (!bias && !norm) {
        rope_apply_table_to(grad, st, grad, st, positions.p, N, heads, D, rope_cos.p, rope_sin.p, true);
        return;
      }
      float* g32 = dqk.get(N * width);
      rope_apply_table_to(grad, st, g32, DType::F32, positions.p, N, heads, D, rope_cos.p, rope_sin.p, true);
      if (norm) {
        float* dpre = dqk_pre.get(N * width);
        zero(dpre, N * width);  // the norm backward accumulates into it
        rmsnorm_backward(pre, norm, rstd, g32, dpre, G(norm), N * heads, D);
        g32 = dpre;
      }
      if (bias) bias_backward(g32, DType::F32, G(bias), N, width);
      if (st == DType::F32)
        copy(grad, g32, sizeof(float) * static_cast<size_t>(N * width), CopyKind::DeviceToDevice, "dq/dk");
      else
        to_bf16(g32, grad, N * width);
    };
    unrotate(DQ, W.q_bias, W.q_norm, W.q_norm ? q_pre.p + l * N * qd : nullptr,
             W.q_norm ? q_rstd.p + l * N * H : nullptr, qd, H);
    unrotate(DK, W.k_bias, W.k_norm, W.k_norm ? k_pre.p + l * N * kvd : nullptr,
             W.k_norm ? k_rstd.p + l * N * KV : nullptr, kvd, KV);
    linear_dx(op(DQ), weight(W.q), DH, N, d, qd, false, engine);
    linear_dx(op(DK), weight(W.k), DH, N, d, kvd, true, engine);
    linear_dx(op(DV), weight(W.v), DH, N, d, kvd, true, engine);
    linear_dw(op(DQ), h1l, G(W.q), N, d, qd, engine);
    linear_dw(op(DK), h1l, G(W.k), N, d, kvd, engine);
    linear_dw(op(DV), h1l, G(W.v), N, d, kvd, engine);
    rmsnorm_backward(xin, W.input_norm, rstd1.p + l * N, DH, DX, G(W.input_norm), N, d);
  }
  // Embedding gradient, parallel over distinct tokens: positions grouped by id
  // (stable, so each row adds in token order, as the CPU does).
  std::vector<int32_t> order(static_cast<size_t>(N));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t i, int32_t j) { return b.ids[i] < b.ids[j]; });
  std::vector<int32_t> uniq, starts;
  for (int64_t i = 0; i < N; ++i)
    if (i == 0 || b.ids[order[i]] != b.ids[order[i - 1]]) {
      uniq.push_back(b.ids[order[i]]);
      starts.push_back(static_cast<int32_t>(i));
    }
  starts.push_back(static_cast<int32_t>(N));
  embedding_backward_sorted(emb_ids.upload(uniq), emb_starts.upload(starts), emb_order.upload(order),
                            static_cast<int64_t>(uniq.size()), DX, grads + layout.embed().offset, d);
}

model::Result DeviceModel::run(const model::Batch& b, const model::Objective& o, bool with_grad,
                               const model::LogitsRequest& lr) {
  const int64_t N = b.tokens(), S = b.seqs(), d = c.hidden_size, V = c.vocab_size;
  const bool logps = model::wants_logps(b, o), wants_rewards = model::wants_rewards(c, o);
  int64_t longest = 1;
  for (int64_t s = 0; s < S; ++s) longest = std::max<int64_t>(longest, b.cu_seqlens[s + 1] - b.cu_seqlens[s]);
  const bool trains = with_grad && o.kind != model::ObjectiveKind::None;
  forward(b, longest, trains);
  model::Result r;

  const model::TargetRows rows = logps ? model::target_rows(b) : model::TargetRows();
  const int64_t R = rows.size();
  LogprobArgs la;
  la.rows = R;
  la.dim = d;
  la.vocab = V;
  const Ref head = weight(lm_head());
  la.weight = head.p;
  la.weight_type = head.t;
  la.engine = engine;
  const bool fused_sft = with_grad && o.kind == model::ObjectiveKind::Sft && R > 0;
  // DPO in one pass over the lm_head (3 products instead of 4): rows grouped by
  // pair, each chunk's loss taken as soon as its log-probs are known.
  const bool grouped_dpo = with_grad && o.kind == model::ObjectiveKind::Dpo && R > 0;
  if (with_grad && o.kind != model::ObjectiveKind::None) reserve_backward(b, longest);
  if (grouped_dpo) {
    const GroupedRows gr = group_rows_by_pairs(rows, o.pairs, S);
    std::vector<int32_t> pos(static_cast<size_t>(R)), target(static_cast<size_t>(R));
    for (int64_t i = 0; i < R; ++i) {
      pos[i] = rows.pos[gr.perm[i]];
      target[i] = rows.target[gr.perm[i]];
    }
    float* HS = hsel.get(R * d);
    gather_rows(hf.p, row_pos.upload(pos), HS, R, d);  // row_pos now holds the grouped order
    la.hidden = HS;
    la.targets = row_target.upload(target);
    zero(dhsel.get(R * d), R * d);
    zero(head_grad.get(V * d), V * d);  // the head's gradient waits here until every chunk's loss is finite
    const int64_t P = static_cast<int64_t>(o.pairs.size()) / 2;
    auto chunk_gradient = [&](int64_t r0, int64_t r1, const float* lp, float* dlp) {
      std::vector<double> sums(static_cast<size_t>(S), 0.0);
      std::vector<float> policy(static_cast<size_t>(S), 0.0f), counts(static_cast<size_t>(S), 0.0f);
      std::vector<char> here(static_cast<size_t>(S), 0);
      for (int64_t i = r0; i < r1; ++i) {
        const int32_t s = rows.seq[gr.perm[i]];
        sums[s] += lp[i - r0];
        counts[s] += 1.0f;
        here[s] = 1;
      }
      for (int64_t s = 0; s < S; ++s) policy[s] = static_cast<float>(sums[s]);
      std::vector<int32_t> sub;  // the pairs whose rows are in this chunk (groups are whole)
      for (int64_t p = 0; p < P; ++p)
        if (here[o.pairs[2 * p]] || here[o.pairs[2 * p + 1]])
          sub.insert(sub.end(), {o.pairs[2 * p], o.pairs[2 * p + 1]});
      if (sub.empty()) return;
      cpu::DpoArgs da;
      da.kind = o.dpo_loss;
      da.beta = o.beta;
      da.label_smoothing = o.label_smoothing;
      da.pairs = sub.data();
      da.num_pairs = static_cast<int64_t>(sub.size()) / 2;
      da.policy_logps = policy.data();
      da.ref_logps = o.ref_logps.data();
      da.counts = counts.data();
      std::vector<float> dseq(static_cast<size_t>(S), 0.0f);
      const double loss = cpu::dpo_loss(da, dseq.data()).loss;
      if (!std::isfinite(loss))
        throw Error(ErrorKind::Runtime, "loss is " + std::string(std::isnan(loss) ? "NaN" : "infinite") +
                                            "; the step was stopped and the parameters and gradients are unchanged");
      // dpo_loss averages over the pairs it was given; the loss averages over all P.
      const double f = o.loss_scale * static_cast<double>(da.num_pairs) / static_cast<double>(P);
      for (int64_t i = r0; i < r1; ++i) dlp[i - r0] = static_cast<float>(dseq[rows.seq[gr.perm[i]]] * f);
    };
    float* LP = row_logp.get(R);
    logprob_grouped(la, gr.group_ends, chunk_gradient, LP, dhsel.p, head_grad.p);
    const std::vector<float> grouped = download(LP, R, "target log-probs");
    std::vector<float> lp(static_cast<size_t>(R));
    for (int64_t i = 0; i < R; ++i) lp[gr.perm[i]] = grouped[i];
    model::sum_by_sequence(rows, lp.data(), S, r);
  } else if (logps && R > 0) {
    float* HS = hsel.get(R * d);
    gather_rows(hf.p, row_pos.upload(rows.pos), HS, R, d);
    la.hidden = HS;
    la.targets = row_target.upload(rows.target);
    float* LP = row_logp.get(R);
    if (fused_sft) {
      // SFT knows its per-row gradient first: one lm_head pass gives both; the
      // head's gradient waits in scratch until the loss is known to be finite.
      const std::vector<float> g_rows(static_cast<size_t>(R),
                                      static_cast<float>(-o.loss_scale / static_cast<double>(R)));
      const float* DR = drow.upload(g_rows);
      zero(dhsel.get(R * d), R * d);
      zero(head_grad.get(V * d), V * d);
      logprob_forward_backward(la, DR, LP, dhsel.p, head_grad.p);
    } else {
      logprob_forward(la, LP);
    }
    const std::vector<float> lp = download(LP, R, "target log-probs");
    model::sum_by_sequence(rows, lp.data(), S, r);
  } else if (logps) {
    model::sum_by_sequence(rows, nullptr, S, r);
  }
  // Reward rows: each non-empty sequence's last token.
  std::vector<int32_t> last, last_seq;
  if (wants_rewards) {
    for (int64_t s = 0; s < S; ++s)
      if (b.cu_seqlens[s + 1] > b.cu_seqlens[s]) {
        last.push_back(b.cu_seqlens[s + 1] - 1);
        last_seq.push_back(static_cast<int32_t>(s));
      }
    const int64_t n = static_cast<int64_t>(last.size());
    r.rewards.assign(static_cast<size_t>(S), 0.0f);
    if (n > 0) {
      float* RW = rewards.get(n);
      rows_dot(hf.p, last_rows.upload(last), score(), RW, n, d);
      const std::vector<float> rw = download(RW, n, "rewards");
      for (int64_t i = 0; i < n; ++i) r.rewards[last_seq[i]] = rw[i];
    }
  }
  if (lr.rows > 0) {
    float* LG = logits.get(lr.rows * V);
    linear(f32(hf.p + lr.row0 * d), weight(lm_head()), LG, lr.rows, d, V, engine);
    r.logits = download(LG, lr.rows * V, "logits");
  }

  std::vector<float> dseq, drew_host;
  model::objective_loss(o, S, r, dseq, drew_host);
  if (!with_grad || o.kind == model::ObjectiveKind::None) return r;

  const float scale_f = static_cast<float>(o.loss_scale);
  float* DHF = dhf.get(N * d);
  zero(DHF, N * d);
  if (o.kind == model::ObjectiveKind::Sft || o.kind == model::ObjectiveKind::Dpo) {
    float* dw = G(lm_head());
    if (R > 0) {
      if (fused_sft || grouped_dpo) {
        add(dw, head_grad.p, dw, V * d);
      } else {
        std::vector<float> g_rows(static_cast<size_t>(R));
        for (int64_t i = 0; i < R; ++i) g_rows[i] = dseq[rows.seq[i]] * scale_f;
        zero(dhsel.get(R * d), R * d);
        logprob_backward(la, drow.upload(g_rows), dhsel.p, dw);
      }
      scatter_add_rows(dhsel.p, row_pos.p, DHF, R, d);
    }
  } else {
    std::vector<float> g_last(last.size());
    for (size_t i = 0; i < last.size(); ++i) g_last[i] = drew_host[last_seq[i]] * scale_f;
    rows_dot_backward(hf.p, last_rows.p, score(), drew.upload(g_last), DHF, G(score()),
                      static_cast<int64_t>(last.size()), d);
  }
  backward(b, longest);
  return r;
}

void DeviceModel::prefill(const model::Batch& prompts, int64_t slots, int64_t capacity,
                          std::vector<float>& first_logits) {
  free_generation();
  const int64_t S = prompts.seqs(), d = c.hidden_size, V = c.vocab_size, L = c.num_hidden_layers, D = c.head_dim();
  const size_t cache = dtype_size(st) * static_cast<size_t>(slots * L * capacity * c.kv_dim());
  gen.k = device_alloc(cache, "key cache");
  try {
    gen.v = device_alloc(cache, "value cache");
  } catch (...) {
    free_generation();
    throw;
  }
  gen.slots = slots;
  gen.capacity = capacity;
  gen.len.assign(static_cast<size_t>(slots), 0);
  gen.cu_seqlens = prompts.cu_seqlens;
  gen.prompt_tokens = prompts.tokens();
  int64_t longest = 1;
  for (int64_t s = 0; s < S; ++s)
    longest = std::max<int64_t>(longest, prompts.cu_seqlens[s + 1] - prompts.cu_seqlens[s]);
  forward(prompts, longest, false);
  // The rope table for every position a sample can reach (forward's covers the prompts only).
  std::vector<float> cs(static_cast<size_t>(capacity * (D / 2))), sn(cs.size());
  cpu::rope_table(model::rope_inv_freq(c).data(), D, capacity, cs.data(), sn.data());
  rope_cos.upload(cs);
  rope_sin.upload(sn);
  std::vector<int32_t> last(static_cast<size_t>(S));
  for (int64_t s = 0; s < S; ++s) last[s] = prompts.cu_seqlens[s + 1] - 1;
  float* H = hsel.get(S * d);
  gather_rows(hf.p, last_rows.upload(last), H, S, d);
  float* LG = glogits.get(S * V);
  linear(f32(H), weight(lm_head()), LG, S, d, V, engine);
  first_logits = download(LG, S * V, "first logits");
}

void DeviceModel::start(int64_t slot, int64_t seq) {
  const int64_t L = c.num_hidden_layers, kvd = c.kv_dim(), N = gen.prompt_tokens;
  const int64_t p0 = gen.cu_seqlens[seq], n = gen.cu_seqlens[seq + 1] - p0;
  const size_t size = dtype_size(st), bytes = size * static_cast<size_t>(n * kvd);
  // The cache and the prefill's keys and values share the operands' storage type.
  auto fill = [&](void* cache, const TypedBuf& from, int64_t at, int64_t i, const char* what) {
    copy(static_cast<char*>(cache) + size * static_cast<size_t>(at), from.at(i), bytes, CopyKind::DeviceToDevice, what);
  };
  for (int64_t l = 0; l < L; ++l) {
    const int64_t at = (slot * L + l) * gen.capacity * kvd, from = (l * N + p0) * kvd;
    fill(gen.k, k, at, from, "key cache fill");
    fill(gen.v, vv, at, from, "value cache fill");
  }
  gen.len[slot] = static_cast<int32_t>(n);
}

float* DeviceModel::step(const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens) {
  const int64_t M = static_cast<int64_t>(slots.size()), d = c.hidden_size, f = c.intermediate_size, V = c.vocab_size;
  const int64_t L = c.num_hidden_layers, H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim();
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  const float eps = static_cast<float>(c.rms_norm_eps),
              sc = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  std::vector<int32_t> slot32(static_cast<size_t>(M)), pos(static_cast<size_t>(M)), n(static_cast<size_t>(M));
  for (int64_t i = 0; i < M; ++i) {
    slot32[i] = static_cast<int32_t>(slots[i]);
    pos[i] = gen.len[slots[i]];
    n[i] = pos[i] + 1;
  }
  const int32_t *TK = gtok.upload(tokens), *PS = gpos.upload(pos), *SL = gslot.upload(slot32), *NK = gn.upload(n);
  float *X = gx.get(M * d), *Q = gq.get(M * qd), *K = gk.get(M * kvd), *Vv = gv.get(M * kvd);
  float *O = go.get(M * qd), *T = gtmp.get(M * d), *G = gg.get(M * f), *U = gu.get(M * f);
  void *Hh = gh.get(M * d), *A = ga.get(M * f);
  const Ref h = {Hh, st}, act = {A, st};
  float* SC = gscores.get(M * H * gen.capacity);
  embedding_forward(P(layout.embed()), TK, X, M, d);
  for (int64_t l = 0; l < L; ++l) {
    const Layer W = layer(l);
    rmsnorm_forward(X, W.input_norm, Hh, nullptr, M, d, eps, st);
    linear(h, weight(W.q), Q, M, d, qd, engine);
    linear(h, weight(W.k), K, M, d, kvd, engine);
    linear(h, weight(W.v), Vv, M, d, kvd, engine);
    if (W.q_bias) {
      bias_add(Q, W.q_bias, M, qd);
      bias_add(K, W.k_bias, M, kvd);
      bias_add(Vv, W.v_bias, M, kvd);
    }
    if (W.q_norm) {  // in place: each row is read whole before it is written
      rmsnorm_forward(Q, W.q_norm, Q, nullptr, M * H, D, eps);
      rmsnorm_forward(K, W.k_norm, K, nullptr, M * KV, D, eps);
    }
    rope_apply_table(Q, PS, M, H, D, rope_cos.p, rope_sin.p, false);
    rope_apply_table(K, PS, M, KV, D, rope_cos.p, rope_sin.p, false);
    kv_cache_append(K, Vv, gen.k, gen.v, st, SL, PS, M, kvd, L, l, gen.capacity);
    attention_decode(Q, gen.k, gen.v, st, SL, NK, O, SC, M, H, KV, D, L, l, gen.capacity, sc);
    linear(f32(O), weight(W.o), T, M, qd, d, engine);
    if (W.o_bias) bias_add(T, W.o_bias, M, d);
    add(X, T, X, M * d);
    rmsnorm_forward(X, W.post_norm, Hh, nullptr, M, d, eps, st);
    linear(h, weight(W.gate), G, M, d, f, engine);
    linear(h, weight(W.up), U, M, d, f, engine);
    if (W.gate_bias) {
      bias_add(G, W.gate_bias, M, f);
      bias_add(U, W.up_bias, M, f);
    }
    swiglu_forward(G, U, A, M * f, st);
    linear(act, weight(W.down), T, M, f, d, engine);
    if (W.down_bias) bias_add(T, W.down_bias, M, d);
    add(X, T, X, M * d);
  }
  for (int64_t i = 0; i < M; ++i) gen.len[slots[i]] += 1;
  rmsnorm_forward(X, final_norm(), Hh, nullptr, M, d, eps, st);
  float* LG = glogits.get(M * V);
  linear(h, weight(lm_head()), LG, M, d, V, engine);
  return LG;
}

namespace {

// The model's backend on a CUDA device: the DeviceModel above, and the host
// copies of its four buffers, fetched or uploaded only when the other side has
// newer values.
class CudaBackend final : public model::Backend {
 public:
  CudaBackend(const model::Config& c, const model::ParamLayout& layout, model::Precision precision, bool deterministic)
      : precision_(precision),
        deterministic_(deterministic),
        dev_(create(c, layout, precision, deterministic)),
        host_(layout.total()) {
    newer_[slot(model::Buffer::Params)] = Newer::Host;  // uploaded before the first run
  }

  model::Device device() const override { return model::Device::Cuda; }
  model::Precision precision() const override { return precision_; }
  bool deterministic() const override { return deterministic_; }

  const std::vector<float>& view(model::Buffer b) override {
    sync_host(b);
    return host_.get(b);
  }
  std::vector<float>& buffer(model::Buffer b) override {
    sync_host(b);
    newer_[slot(b)] = Newer::Host;
    return host_.get(b);
  }

  model::Result run(const model::Batch& b, const model::Objective& o, bool with_grad,
                    const model::LogitsRequest& lr) override {
    const bool grad = with_grad && o.kind != model::ObjectiveKind::None;
    if (grad) {
      std::lock_guard<std::mutex> lock(device_lock());
      dev_->ensure_train_state();
    }
    use_device();
    if (grad) newer_[slot(model::Buffer::Grads)] = Newer::Device;
    std::lock_guard<std::mutex> lock(device_lock());
    return dev_->run(b, o, with_grad, lr);
  }

  double optimizer_step(const model::OptimConfig& o, double lr, int64_t t) override;

  void zero_grad() override {
    // The device's zeros are the gradients now; the host copy is fetched only if
    // read (filling it here would be a full host pass per step for nothing).
    std::lock_guard<std::mutex> lock(device_lock());
    if (!dev_->grads) {  // none on the device yet: the host's copy, if any, is the one to clear
      if (newer_[slot(model::Buffer::Grads)] == Newer::Host) {
        std::vector<float>& h = host_.get(model::Buffer::Grads);
        std::fill(h.begin(), h.end(), 0.0f);
      }
      return;
    }
    zero(dev_->grads, dev_->n);
    newer_[slot(model::Buffer::Grads)] = Newer::Device;
  }

  void prefill(const model::Batch& prompts, int64_t slots, int64_t capacity,
               std::vector<float>& first_logits) override {
    use_device();
    std::lock_guard<std::mutex> lock(device_lock());
    dev_->prefill(prompts, slots, capacity, first_logits);
  }
  void start(int64_t slot, int64_t seq) override {
    std::lock_guard<std::mutex> lock(device_lock());
    dev_->start(slot, seq);
  }
  void step(const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens,
            std::vector<float>& logits) override {
    std::lock_guard<std::mutex> lock(device_lock());
    const float* LG = dev_->step(slots, tokens);
    logits = download(LG, static_cast<int64_t>(slots.size()) * dev_->c.vocab_size, "decode logits");
  }
  bool samples() const override { return true; }
  int64_t cache_value_bytes() const override { return static_cast<int64_t>(dtype_size(dev_->st)); }
  void step_sample(const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens, const cpu::SamplingParams& s,
                   const std::vector<double>& u, std::vector<int32_t>& drawn, std::vector<double>& logprob) override;
  void end() override {
    std::lock_guard<std::mutex> lock(device_lock());
    dev_->free_generation();
  }

 private:
  struct Destroy {
    void operator()(DeviceModel* m) const;
  };
  static DeviceModel* create(const model::Config& c, const model::ParamLayout& layout, model::Precision precision,
                             bool deterministic);

  // Which copy of each buffer holds the current values.
  enum class Newer : uint8_t { Neither, Host, Device };
  static int slot(model::Buffer b) {
    return static_cast<int>(b) & 3;
  }  // the four buffers; the mask keeps the index provably in range
  float* device_buffer(model::Buffer b) const {
    switch (b) {
      case model::Buffer::Params: return dev_->params;
      case model::Buffer::Grads: return dev_->grads;
      case model::Buffer::AdamM: return dev_->m;
      case model::Buffer::AdamV: return dev_->v;
    }
    return nullptr;
  }
  void sync_host(model::Buffer b) {
    Newer& n = newer_[slot(b)];
    if (n != Newer::Device) return;
    std::vector<float>& h = host_.get(b);
    std::lock_guard<std::mutex> lock(device_lock());
    copy(h.data(), device_buffer(b), sizeof(float) * h.size(), CopyKind::DeviceToHost, "downloading model buffer");
    n = Newer::Neither;
  }
  // Uploads what the host changed (the training state's buffers are made on
  // the device first when the host wrote them).
  void use_device() {
    for (model::Buffer b : {model::Buffer::Params, model::Buffer::Grads, model::Buffer::AdamM, model::Buffer::AdamV}) {
      Newer& n = newer_[slot(b)];
      if (n != Newer::Host) continue;
      const std::vector<float>& h = host_.get(b);
      std::lock_guard<std::mutex> lock(device_lock());
      if (b != model::Buffer::Params) dev_->ensure_train_state();
      copy(device_buffer(b), h.data(), sizeof(float) * h.size(), CopyKind::HostToDevice, "uploading model buffer");
      if (b == model::Buffer::Params) dev_->refresh_weights();
      n = Newer::Neither;
    }
  }

  model::Precision precision_;
  bool deterministic_;
  // The device first: a model too large for the GPU fails before the host pays for it.
  std::unique_ptr<DeviceModel, Destroy> dev_;
  model::HostBuffers host_;
  Newer newer_[4] = {Newer::Neither, Newer::Neither, Newer::Neither, Newer::Neither};
};

void CudaBackend::step_sample(const std::vector<int64_t>& slots, const std::vector<int32_t>& tokens,
                              const cpu::SamplingParams& s, const std::vector<double>& u, std::vector<int32_t>& drawn,
                              std::vector<double>& logprob) {
  std::lock_guard<std::mutex> lock(device_lock());
  DeviceModel& m = *dev_;
  const int64_t M = static_cast<int64_t>(slots.size());
  const float* LG = m.step(slots, tokens);
  int32_t* T = m.gdrawn.get(M);
  double* LP = m.gdrawn_lp.get(M);
  sample_rows(LG, M, m.c.vocab_size, s, s.temperature == 0.0 ? nullptr : m.guniform.upload(u), T, LP);
  drawn.resize(static_cast<size_t>(M));
  logprob.resize(static_cast<size_t>(M));
  copy(drawn.data(), T, sizeof(int32_t) * drawn.size(), CopyKind::DeviceToHost, "drawn tokens");
  copy(logprob.data(), LP, sizeof(double) * logprob.size(), CopyKind::DeviceToHost, "drawn tokens' log-probs");
}

DeviceModel* CudaBackend::create(const model::Config& c, const model::ParamLayout& layout, model::Precision precision,
                                 bool deterministic) {
  const Status& s = status();
  if (!s.usable()) throw Error(ErrorKind::State, "device cuda: no usable CUDA device: " + s.error);
  const bool fp32_math = precision == model::Precision::Fp32;
  const GemmEngine engine = fp32_math ? GemmEngine::Simt : engine_from_env();
  std::lock_guard<std::mutex> lock(device_lock());
  auto* m = new DeviceModel(c, layout);
  m->engine = engine;
  m->attention_path = fp32_math ? AttentionPath::Plain : AttentionPath::Auto;
  m->deterministic = deterministic;
  try {
    const size_t bytes = sizeof(float) * static_cast<size_t>(m->n);
    m->params = static_cast<float*>(device_alloc(bytes, "parameters"));
    if (!fp32_math) m->use_bf16_operands();
  } catch (...) {
    Destroy()(m);
    throw;
  }
  return m;
}

void CudaBackend::Destroy::operator()(DeviceModel* m) const {
  if (!m) return;
  m->free_generation();
  device_free(m->params);
  device_free(m->grads);
  device_free(m->m);
  device_free(m->v);
  device_free(m->params_bf16);
  delete m;
}

double CudaBackend::optimizer_step(const model::OptimConfig& o, double lr, int64_t t) {
  {
    std::lock_guard<std::mutex> lock(device_lock());
    dev_->ensure_train_state();
  }
  use_device();
  newer_[slot(model::Buffer::Grads)] = Newer::Device;  // zeroed below, whether the step is taken or not
  std::lock_guard<std::mutex> lock(device_lock());
  DeviceModel& m = *dev_;
  const double norm = std::sqrt(sum_squares(m.grads, m.n));
  if (!std::isfinite(norm)) {
    zero(m.grads, m.n);
    throw Error(ErrorKind::Runtime,
                "gradient norm is not finite; the step was skipped, the gradients were cleared and the parameters are "
                "unchanged");
  }
  if (o.max_grad_norm > 0) {
    const double coef = o.max_grad_norm / (norm + 1e-6);
    if (coef < 1) scale(m.grads, m.n, static_cast<float>(coef));
  }
  // The CPU's arithmetic (cpu::adamw_step): bias corrections in double, then fp32 per element.
  const cpu::AdamWConfig& a = o.adam;
  const double bc1 = 1 - std::pow(a.beta1, static_cast<double>(t)), bc2 = 1 - std::pow(a.beta2, static_cast<double>(t));
  const float step = static_cast<float>(lr / bc1), inv_sqrt_bc2 = static_cast<float>(1 / std::sqrt(bc2));
  for (const model::ParamInfo& p : m.layout) {
    const float decay = p.decay ? static_cast<float>(1 - lr * a.weight_decay) : 1.0f;
    adamw_range(m.params + p.offset, m.grads + p.offset, m.m + p.offset, m.v + p.offset, p.size,
                static_cast<float>(a.beta1), static_cast<float>(a.beta2), step, inv_sqrt_bc2, static_cast<float>(a.eps),
                decay, m.params_bf16 ? m.params_bf16 + p.offset : nullptr);
  }
  zero(m.grads, m.n);
  for (model::Buffer b : {model::Buffer::Params, model::Buffer::AdamM, model::Buffer::AdamV})
    newer_[slot(b)] = Newer::Device;
  return norm;
}

}  // namespace

}  // namespace genrm::cuda

namespace genrm::model {

std::unique_ptr<Backend> make_cuda_backend(const Config& c, const ParamLayout& layout, Precision precision,
                                           bool deterministic) {
  return std::make_unique<cuda::CudaBackend>(c, layout, precision, deterministic);
}

}  // namespace genrm::model
