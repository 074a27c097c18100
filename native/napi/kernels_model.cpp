// The `kernels` namespace, part 2: the transformer's kernels one by one
// (attention, RMSNorm, RoPE, SwiGLU, embedding, fused log-prob, the losses,
// AdamW, the sampling filter) on typed arrays, for tests and benchmarks. Outputs
// are new arrays.
#include <algorithm>
#include <cmath>
#include <utility>

#include "../cpu/adamw.h"
#include "../cpu/attention.h"
#include "../cpu/embedding.h"
#include "../cpu/logprob.h"
#include "../cpu/losses.h"
#include "../cpu/rmsnorm.h"
#include "../cpu/rope.h"
#include "../cpu/sampling.h"
#include "../cpu/swiglu.h"
#include "args.h"
#include "modules.h"

namespace genrm::napi {
namespace {

constexpr int64_t kMax = int64_t(1) << 31;

// Every array a kernel call returns is bounded before it is allocated: a
// shape that asks for more is a named error, not an abort of the process
// when V8 cannot find the memory.
constexpr int64_t kMaxOutput = int64_t(1) << 30;  // floats (4 GiB)

Napi::Float32Array f32_new(Napi::Env env, int64_t n, const char* what = "an output array") {
  if (n > kMaxOutput)
    throw_arg(what, "at most 2^30 elements (4 GiB; a kernel call's outputs are bounded)",
              std::to_string(n) + " elements", ErrorKind::Range);
  return Napi::Float32Array::New(env, static_cast<size_t>(n));
}

Napi::Int32Array i32_field(const Napi::Object& o, const char* key, int64_t length) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw_arg(key, "an Int32Array", "another type");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  if (length >= 0 && static_cast<int64_t>(a.ElementLength()) != length)
    throw_arg(std::string(key) + ".length", length, a.ElementLength());
  return a;
}

Isa isa_of(const Napi::Object& o) {
  return has(o, "isa") ? parse_isa(string_field(o, "isa", ""), "isa") : default_isa();
}

cpu::AttentionArgs attention_args(const Napi::Object& o, Napi::Int32Array& cu) {
  cpu::AttentionArgs a;
  a.heads = int_field(o, "heads", 1, 4096);
  a.kv_heads = int_field(o, "kvHeads", 1, 4096, a.heads);
  a.head_dim = int_field(o, "headDim", 1, cpu::kAttentionMaxHeadDim);
  cu = i32_field(o, "cuSeqlens", -1);
  if (cu.ElementLength() < 1) throw_arg("cuSeqlens.length", "at least 1", 0);
  a.num_seqs = static_cast<int64_t>(cu.ElementLength()) - 1;
  a.cu_seqlens = cu.Data();
  a.tokens = cu.Data()[a.num_seqs];
  if (a.tokens < 0) throw_arg("cuSeqlens (last)", "a non-negative token count", a.tokens);
  a.scale = static_cast<float>(number_field(o, "scale", 1.0 / std::sqrt(static_cast<double>(a.head_dim))));
  cpu::validate_attention(a);
  return a;
}

Napi::Value attention(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    Napi::Int32Array cu;
    cpu::AttentionArgs a = attention_args(o, cu);
    const int64_t nq = a.tokens * a.heads * a.head_dim, nk = a.tokens * a.kv_heads * a.head_dim;
    Napi::Float32Array q = f32_field(o, "q", nq), k = f32_field(o, "k", nk), v = f32_field(o, "v", nk);
    Napi::Env env = info.Env();
    Napi::Float32Array out = f32_new(env, nq), lse = f32_new(env, a.tokens * a.heads);
    if (bool_field(o, "reference", false))
      cpu::attention_forward_reference(a, q.Data(), k.Data(), v.Data(), out.Data(), lse.Data());
    else
      cpu::attention_forward(a, q.Data(), k.Data(), v.Data(), out.Data(), lse.Data(), isa_of(o));
    Napi::Object r = Napi::Object::New(env);
    r.Set("out", out);
    r.Set("lse", lse);
    return r;
  });
}

Napi::Value attention_backward(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    Napi::Int32Array cu;
    cpu::AttentionArgs a = attention_args(o, cu);
    const int64_t nq = a.tokens * a.heads * a.head_dim, nk = a.tokens * a.kv_heads * a.head_dim;
    Napi::Float32Array q = f32_field(o, "q", nq), k = f32_field(o, "k", nk), v = f32_field(o, "v", nk);
    Napi::Float32Array dout = f32_field(o, "dout", nq);
    const bool reference = bool_field(o, "reference", false);
    Napi::Env env = info.Env();
    Napi::Float32Array dq = f32_new(env, nq), dk = f32_new(env, nk), dv = f32_new(env, nk);
    if (reference) {
      cpu::attention_backward_reference(a, q.Data(), k.Data(), v.Data(), dout.Data(), dq.Data(), dk.Data(), dv.Data());
    } else {
      Napi::Float32Array out = f32_field(o, "out", nq), lse = f32_field(o, "lse", a.tokens * a.heads);
      cpu::attention_backward(a, q.Data(), k.Data(), v.Data(), out.Data(), lse.Data(), dout.Data(), dq.Data(),
                              dk.Data(), dv.Data(), isa_of(o));
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("dq", dq);
    r.Set("dk", dk);
    r.Set("dv", dv);
    return r;
  });
}

Napi::Value rmsnorm(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    const int64_t rows = int_field(o, "rows", 0, kMax), dim = int_field(o, "dim", 1, kMax);
    const double eps = number_field(o, "eps", 1e-6);
    if (!(eps > 0 && std::isfinite(eps))) throw_arg("eps", "a positive number", eps, ErrorKind::Range);
    Napi::Float32Array x = f32_field(o, "x", rows * dim), w = f32_field(o, "weight", dim);
    Napi::Env env = info.Env();
    Napi::Float32Array y = f32_new(env, rows * dim), rstd = f32_new(env, rows);
    cpu::rmsnorm_forward(x.Data(), w.Data(), y.Data(), rstd.Data(), rows, dim, static_cast<float>(eps));
    Napi::Object r = Napi::Object::New(env);
    r.Set("y", y);
    r.Set("rstd", rstd);
    return r;
  });
}

Napi::Value rmsnorm_backward(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    const int64_t rows = int_field(o, "rows", 0, kMax), dim = int_field(o, "dim", 1, kMax);
    Napi::Float32Array x = f32_field(o, "x", rows * dim), w = f32_field(o, "weight", dim);
    Napi::Float32Array rstd = f32_field(o, "rstd", rows), dy = f32_field(o, "dy", rows * dim);
    Napi::Env env = info.Env();
    Napi::Float32Array dx = f32_new(env, rows * dim), dw = f32_new(env, dim);
    cpu::rmsnorm_backward(x.Data(), w.Data(), rstd.Data(), dy.Data(), dx.Data(), dw.Data(), rows, dim);
    Napi::Object r = Napi::Object::New(env);
    r.Set("dx", dx);
    r.Set("dweight", dw);
    return r;
  });
}

Napi::Value rope(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    const int64_t heads = int_field(o, "heads", 1, 4096), head_dim = int_field(o, "headDim", 2, 4096);
    if (head_dim % 2) throw_arg("headDim", "an even number", head_dim);
    Napi::Int32Array pos = i32_field(o, "positions", -1);
    const int64_t tokens = static_cast<int64_t>(pos.ElementLength());
    for (int64_t t = 0; t < tokens; ++t)
      if (pos.Data()[t] < 0) throw_arg("positions[" + std::to_string(t) + "]", "a non-negative integer", pos.Data()[t]);
    const double theta = number_field(o, "theta", 10000.0);
    if (!(theta > 0 && std::isfinite(theta))) throw_arg("theta", "a positive number", theta, ErrorKind::Range);
    Napi::Float32Array x = f32_field(o, "x", tokens * heads * head_dim);
    Napi::Float32Array y = f32_new(info.Env(), tokens * heads * head_dim);
    std::copy(x.Data(), x.Data() + x.ElementLength(), y.Data());
    const std::vector<double> inv_freq = cpu::rope_default_inv_freq(static_cast<float>(theta), head_dim);
    cpu::rope_apply(y.Data(), pos.Data(), tokens, heads, head_dim, inv_freq.data(), bool_field(o, "inverse", false));
    return y;
  });
}

Napi::Value swiglu(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    Napi::Value gv = o.Get("gate");
    if (!gv.IsTypedArray() || gv.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw_arg("gate", "a Float32Array", "another type");
    const int64_t n = static_cast<int64_t>(gv.As<Napi::Float32Array>().ElementLength());
    Napi::Float32Array g = f32_field(o, "gate", n), u = f32_field(o, "up", n);
    Napi::Env env = info.Env();
    if (has(o, "dout")) {
      Napi::Float32Array da = f32_field(o, "dout", n);
      Napi::Float32Array dg = f32_new(env, n), du = f32_new(env, n);
      cpu::swiglu_backward(g.Data(), u.Data(), da.Data(), dg.Data(), du.Data(), n, isa_of(o));
      Napi::Object r = Napi::Object::New(env);
      r.Set("dgate", dg);
      r.Set("dup", du);
      return r;
    }
    Napi::Float32Array a = f32_new(env, n);
    cpu::swiglu_forward(g.Data(), u.Data(), a.Data(), n, isa_of(o));
    return a;
  });
}

Napi::Value embedding(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    const int64_t vocab = int_field(o, "vocab", 1, kMax), dim = int_field(o, "dim", 1, kMax);
    Napi::Int32Array ids = i32_field(o, "ids", -1);
    const int64_t n = static_cast<int64_t>(ids.ElementLength());
    for (int64_t t = 0; t < n; ++t)
      if (ids.Data()[t] < 0 || ids.Data()[t] >= vocab)
        throw_arg("ids[" + std::to_string(t) + "]", "a token id in [0, " + std::to_string(vocab) + ")", ids.Data()[t],
                  ErrorKind::Range);
    Napi::Env env = info.Env();
    if (has(o, "dout")) {
      Napi::Float32Array dout = f32_field(o, "dout", n * dim);
      Napi::Float32Array dtable = f32_new(env, vocab * dim, "vocab * dim (the table's gradient)");
      cpu::embedding_backward(ids.Data(), dout.Data(), dtable.Data(), n, dim);
      return dtable;
    }
    Napi::Float32Array table = f32_field(o, "table", vocab * dim);
    Napi::Float32Array out = f32_new(env, n * dim);
    cpu::embedding_forward(table.Data(), ids.Data(), out.Data(), n, dim);
    return out;
  });
}

cpu::LogprobArgs logprob_args(const Napi::Object& o, Napi::Float32Array& h, Napi::Float32Array& w,
                              Napi::Int32Array& t) {
  cpu::LogprobArgs a;
  a.rows = int_field(o, "rows", 0, kMax);
  a.dim = int_field(o, "dim", 1, kMax);
  a.vocab = int_field(o, "vocab", 1, kMax);
  h = f32_field(o, "hidden", a.rows * a.dim);
  w = f32_field(o, "weight", a.vocab * a.dim);
  t = i32_field(o, "targets", a.rows);
  for (int64_t r = 0; r < a.rows; ++r)
    if (t.Data()[r] < 0 || t.Data()[r] >= a.vocab)
      throw_arg("targets[" + std::to_string(r) + "]", "a token id in [0, " + std::to_string(a.vocab) + ")", t.Data()[r],
                ErrorKind::Range);
  a.hidden = h.Data();
  a.weight = w.Data();
  a.targets = t.Data();
  return a;
}

Napi::Value logprob(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    Napi::Float32Array h, w;
    Napi::Int32Array t;
    cpu::LogprobArgs a = logprob_args(o, h, w, t);
    Napi::Env env = info.Env();
    if (has(o, "dlogp")) {
      Napi::Float32Array g = f32_field(o, "dlogp", a.rows);
      Napi::Float32Array dh = f32_new(env, a.rows * a.dim, "rows * dim"),
                         dw = f32_new(env, a.vocab * a.dim, "vocab * dim (the weight's gradient)");
      cpu::logprob_backward(a, g.Data(), dh.Data(), dw.Data(), isa_of(o));
      Napi::Object r = Napi::Object::New(env);
      r.Set("dhidden", dh);
      r.Set("dweight", dw);
      return r;
    }
    Napi::Float32Array lp = f32_new(env, a.rows);
    if (bool_field(o, "reference", false))
      cpu::logprob_forward_reference(a, lp.Data());
    else
      cpu::logprob_forward(a, lp.Data(), isa_of(o));
    return lp;
  });
}

void check_pairs(const Napi::Int32Array& pairs, int64_t seqs) {
  if (pairs.ElementLength() == 0 || pairs.ElementLength() % 2)
    throw_arg("pairs.length", "a positive even number", pairs.ElementLength());
  for (size_t i = 0; i < pairs.ElementLength(); ++i)
    if (pairs.Data()[i] < 0 || pairs.Data()[i] >= seqs)
      throw_arg("pairs[" + std::to_string(i) + "]", "a sequence index in [0, " + std::to_string(seqs) + ")",
                pairs.Data()[i], ErrorKind::Range);
}

Napi::Value dpo_loss(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    std::vector<float> pol = finite_f32_vector(o, "policyLogps");
    const int64_t S = static_cast<int64_t>(pol.size());
    std::vector<float> ref = finite_f32_vector(o, "refLogps");
    if (static_cast<int64_t>(ref.size()) != S) throw_arg("refLogps.length", S, ref.size());
    std::vector<float> counts(S, 1.0f);
    if (has(o, "counts")) {
      counts = finite_f32_vector(o, "counts");
      if (static_cast<int64_t>(counts.size()) != S) throw_arg("counts.length", S, counts.size());
    }
    Napi::Int32Array pairs = i32_field(o, "pairs", -1);
    check_pairs(pairs, S);
    cpu::DpoArgs a;
    a.kind = cpu::parse_dpo_loss(string_field(o, "lossType", "sigmoid"));
    a.beta = number_field(o, "beta", 0.1);
    if (!(a.beta > 0 && std::isfinite(a.beta))) throw_arg("beta", "a positive number", a.beta, ErrorKind::Range);
    a.label_smoothing = number_field(o, "labelSmoothing", 0.0);
    if (!(a.label_smoothing >= 0 && a.label_smoothing < 0.5))
      throw_arg("labelSmoothing", "a number in [0, 0.5)", a.label_smoothing, ErrorKind::Range);
    a.pairs = pairs.Data();
    a.num_pairs = static_cast<int64_t>(pairs.ElementLength() / 2);
    a.policy_logps = pol.data();
    a.ref_logps = ref.data();
    a.counts = counts.data();
    Napi::Env env = info.Env();
    Napi::Float32Array d = f32_new(env, S);
    Napi::Object r = Napi::Object::New(env);
    for (const auto& kv : cpu::named(cpu::dpo_loss(a, d.Data()))) r.Set(kv.first, kv.second);
    r.Set("dlogps", d);
    return r;
  });
}

Napi::Value bt_loss(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    std::vector<float> rewards = finite_f32_vector(o, "rewards");
    const int64_t S = static_cast<int64_t>(rewards.size());
    Napi::Int32Array pairs = i32_field(o, "pairs", -1);
    check_pairs(pairs, S);
    const int64_t P = static_cast<int64_t>(pairs.ElementLength() / 2);
    std::vector<float> margins;
    if (has(o, "margins")) {
      margins = finite_f32_vector(o, "margins");
      if (static_cast<int64_t>(margins.size()) != P) throw_arg("margins.length", P, margins.size());
    }
    const double center = number_field(o, "centerRewardsCoefficient", 0.0);
    if (!(center >= 0 && std::isfinite(center)))
      throw_arg("centerRewardsCoefficient", "a non-negative number", center, ErrorKind::Range);
    Napi::Env env = info.Env();
    Napi::Float32Array d = f32_new(env, S);
    const cpu::BtMetrics m =
        cpu::bt_loss(rewards.data(), pairs.Data(), margins.empty() ? nullptr : margins.data(), P, center, d.Data());
    Napi::Object r = Napi::Object::New(env);
    for (const auto& kv : cpu::named(m)) r.Set(kv.first, kv.second);
    r.Set("drewards", d);
    return r;
  });
}

Napi::Value sft_loss(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    std::vector<float> lp = finite_f32_vector(o, "seqLogps");
    std::vector<float> counts = finite_f32_vector(o, "seqCounts");
    if (counts.size() != lp.size()) throw_arg("seqCounts.length", lp.size(), counts.size());
    Napi::Env env = info.Env();
    Napi::Float32Array d = f32_new(env, static_cast<int64_t>(lp.size()));
    const double loss = cpu::sft_loss(lp.data(), counts.data(), static_cast<int64_t>(lp.size()), d.Data());
    Napi::Object r = Napi::Object::New(env);
    r.Set("loss", loss);
    r.Set("dlogps", d);
    return r;
  });
}

// adamw({ params, grads, m, v, lr, beta1, beta2, eps, weightDecay, step }): updates
// params, m and v in place (one tensor, decay on).
Napi::Value adamw(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    Napi::Value pv = o.Get("params");
    if (!pv.IsTypedArray() || pv.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw_arg("params", "a Float32Array", "another type");
    const int64_t n = static_cast<int64_t>(pv.As<Napi::Float32Array>().ElementLength());
    Napi::Float32Array p = f32_field(o, "params", n), g = f32_field(o, "grads", n), m = f32_field(o, "m", n),
                       v = f32_field(o, "v", n);
    check_disjoint(p, "params", m, "m");
    check_disjoint(p, "params", v, "v");
    check_disjoint(m, "m", v, "v");
    cpu::AdamWConfig c;
    c.lr = number_field(o, "lr", 1e-3);
    c.beta1 = number_field(o, "beta1", 0.9);
    c.beta2 = number_field(o, "beta2", 0.999);
    c.eps = number_field(o, "eps", 1e-8);
    c.weight_decay = number_field(o, "weightDecay", 0.0);
    if (!(c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1))
      throw_arg("beta1, beta2", "numbers in [0, 1)", "other values", ErrorKind::Range);
    if (!(c.eps > 0 && c.lr >= 0 && c.weight_decay >= 0))
      throw_arg("eps, lr, weightDecay", "eps > 0, lr >= 0, weightDecay >= 0", "other values", ErrorKind::Range);
    const int64_t step = int_field(o, "step", 1, int64_t(1) << 50);
    cpu::adamw_step(p.Data(), g.Data(), m.Data(), v.Data(), {{0, n, true}}, c, c.lr, step);
    return info.Env().Undefined();
  });
}

// samplingFilter({ logits, temperature?, topK?, topP? }) -> { ids, probs }: the
// tokens generation may draw from one row of logits, in ascending id order, with
// their probabilities after filtering (renormalised to sum to 1).
Napi::Value sampling_filter(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    const std::vector<float> logits = finite_f32_vector(o, "logits");
    if (logits.empty()) throw_arg("logits.length", "at least 1", 0);
    if (static_cast<int64_t>(logits.size()) > kMax)
      throw_arg("logits.length", "at most 2^31", logits.size(), ErrorKind::Range);
    cpu::SamplingParams p;
    p.temperature = number_field(o, "temperature", 1.0);
    p.top_k = int_field(o, "topK", 0, kMax, 0);
    p.top_p = number_field(o, "topP", 1.0);
    cpu::validate_sampling(p);
    cpu::Candidates c;
    cpu::sampling_filter(logits.data(), static_cast<int64_t>(logits.size()), p, c);
    std::vector<std::pair<int32_t, double>> kept(static_cast<size_t>(c.kept));
    for (int64_t i = 0; i < c.kept; ++i) kept[i] = {c.ids[i], c.weights[i] / c.total};
    std::sort(kept.begin(), kept.end());
    Napi::Env env = info.Env();
    Napi::Int32Array ids = Napi::Int32Array::New(env, kept.size());
    Napi::Float64Array probs = Napi::Float64Array::New(env, kept.size());
    for (size_t i = 0; i < kept.size(); ++i) {
      ids[i] = kept[i].first;
      probs[i] = kept[i].second;
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("ids", ids);
    r.Set("probs", probs);
    return r;
  });
}

}  // namespace

void register_model_kernels(Napi::Env env, Napi::Object k) {
  k.Set("attention", Napi::Function::New(env, attention));
  k.Set("attentionBackward", Napi::Function::New(env, attention_backward));
  k.Set("rmsnorm", Napi::Function::New(env, rmsnorm));
  k.Set("rmsnormBackward", Napi::Function::New(env, rmsnorm_backward));
  k.Set("rope", Napi::Function::New(env, rope));
  k.Set("swiglu", Napi::Function::New(env, swiglu));
  k.Set("embedding", Napi::Function::New(env, embedding));
  k.Set("logprob", Napi::Function::New(env, logprob));
  k.Set("sftLoss", Napi::Function::New(env, sft_loss));
  k.Set("dpoLoss", Napi::Function::New(env, dpo_loss));
  k.Set("btLoss", Napi::Function::New(env, bt_loss));
  k.Set("adamw", Napi::Function::New(env, adamw));
  k.Set("samplingFilter", Napi::Function::New(env, sampling_filter));
}

}  // namespace genrm::napi
