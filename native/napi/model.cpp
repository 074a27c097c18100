// The Model handle: one engine model per JS object. Each heavy call (run, step)
// is one AsyncWorker off the event loop that resolves a promise. A model runs one
// call at a time: a second call while one runs is refused with a clear error
// (the TypeScript Model queues calls, so its users never see that).
#include "../model/model.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>

#include "args.h"
#include "modules.h"

namespace genrm::napi {
namespace {

model::Config parse_config(const Napi::Object& o) {
  model::Config c;
  c.hidden_size = int_field(o, "hidden_size", 1, 1 << 16);
  c.intermediate_size = int_field(o, "intermediate_size", 1, 1 << 18);
  c.num_hidden_layers = int_field(o, "num_hidden_layers", 1, 1024);
  c.num_attention_heads = int_field(o, "num_attention_heads", 1, 1024);
  c.num_key_value_heads = int_field(o, "num_key_value_heads", 1, 1024, c.num_attention_heads);
  c.vocab_size = int_field(o, "vocab_size", 1, 1 << 24);
  c.max_position_embeddings = int_field(o, "max_position_embeddings", 1, 1 << 24, 2048);
  c.rope_theta = number_field(o, "rope_theta", 10000.0);
  // head_dim, sliding_window and rope_scaling as lib/model/config.ts normalises them (null or absent: the plain
  // model).
  if (has(o, "head_dim") && !o.Get("head_dim").IsNull()) c.explicit_head_dim = int_field(o, "head_dim", 1, 1024);
  if (has(o, "sliding_window") && !o.Get("sliding_window").IsNull())
    c.sliding_window = int_field(o, "sliding_window", 1, 1 << 24);
  if (has(o, "rope_scaling") && !o.Get("rope_scaling").IsNull()) {
    Napi::Value v = o.Get("rope_scaling");
    if (!v.IsObject()) throw_arg("rope_scaling", "an object or null", js_type(v));
    Napi::Object r = v.As<Napi::Object>();
    const std::string type = string_field(r, "rope_type");
    model::RopeScaling& rs = c.rope_scaling;
    if (type == "default") {
      rs.type = model::RopeType::Default;
    } else if (type == "linear" || type == "llama3") {
      rs.type = type == "linear" ? model::RopeType::Linear : model::RopeType::Llama3;
      rs.factor = number_field(r, "factor");
      if (rs.type == model::RopeType::Llama3) {
        rs.low_freq_factor = number_field(r, "low_freq_factor");
        rs.high_freq_factor = number_field(r, "high_freq_factor");
        rs.original_max_position_embeddings = int_field(r, "original_max_position_embeddings", 1, 1 << 24);
      }
    } else {
      throw_arg("rope_scaling.rope_type", "one of \"default\", \"linear\", \"llama3\"", "\"" + type + "\"");
    }
  }
  c.rms_norm_eps = number_field(o, "rms_norm_eps", 1e-6);
  c.initializer_range = number_field(o, "initializer_range", 0.02);
  c.tie_word_embeddings = bool_field(o, "tie_word_embeddings", false);
  c.qkv_bias = bool_field(o, "qkv_bias", false);
  c.o_bias = bool_field(o, "o_bias", false);
  c.mlp_bias = bool_field(o, "mlp_bias", false);
  c.qk_norm = bool_field(o, "qk_norm", false);
  c.reward_head = bool_field(o, "reward_head", false);
  model::validate(c);
  return c;
}

model::Batch parse_batch(const Napi::Object& o, const model::Config& c) {
  model::Batch b;
  b.ids = i32_vector(o, "ids");
  b.cu_seqlens = i32_vector(o, "cuSeqlens");
  if (has(o, "lossMask")) b.loss_mask = u8_vector(o, "lossMask");
  model::validate_batch(c, b);
  return b;
}

// Every value is required: the defaults live in lib/defaults.ts alone.
model::Objective parse_objective(const Napi::Object& o) {
  model::Objective obj;
  const std::string type = string_field(o, "type");
  if (type == "none")
    obj.kind = model::ObjectiveKind::None;
  else if (type == "sft")
    obj.kind = model::ObjectiveKind::Sft;
  else if (type == "dpo")
    obj.kind = model::ObjectiveKind::Dpo;
  else if (type == "bt")
    obj.kind = model::ObjectiveKind::Bt;
  else
    throw_arg("objective.type", "one of \"none\", \"sft\", \"dpo\", \"bt\"", "\"" + type + "\"");
  if (obj.kind == model::ObjectiveKind::Dpo || obj.kind == model::ObjectiveKind::Bt) {
    obj.pairs = i32_vector(o, "pairs");
    if (obj.pairs.empty() || obj.pairs.size() % 2)
      throw_arg("pairs.length", "a positive even number (chosen, rejected index pairs)", obj.pairs.size());
  }
  if (obj.kind == model::ObjectiveKind::Dpo) {
    obj.dpo_loss = cpu::parse_dpo_loss(string_field(o, "lossType"));
    obj.beta = number_field(o, "beta");
    if (!(std::isfinite(obj.beta) && obj.beta > 0)) throw_arg("beta", "a positive number", obj.beta, ErrorKind::Range);
    obj.label_smoothing = number_field(o, "labelSmoothing");
    if (!(obj.label_smoothing >= 0 && obj.label_smoothing < 0.5))
      throw_arg("labelSmoothing", "a number in [0, 0.5)", obj.label_smoothing, ErrorKind::Range);
    obj.ref_logps = finite_f32_vector(o, "refLogps");
  }
  if (obj.kind == model::ObjectiveKind::Bt) {
    if (has(o, "margins")) obj.margins = finite_f32_vector(o, "margins");
    obj.center_rewards_coefficient = number_field(o, "centerRewardsCoefficient");
    if (!(std::isfinite(obj.center_rewards_coefficient) && obj.center_rewards_coefficient >= 0))
      throw_arg("centerRewardsCoefficient", "a non-negative number", obj.center_rewards_coefficient, ErrorKind::Range);
  }
  obj.loss_scale = number_field(o, "lossScale");
  if (!(std::isfinite(obj.loss_scale) && obj.loss_scale > 0))
    throw_arg("lossScale", "a positive number", obj.loss_scale, ErrorKind::Range);
  return obj;
}

// Every value is required, as in parse_objective.
model::OptimConfig parse_optim(const Napi::Object& o) {
  model::OptimConfig c;
  auto num = [&](const char* key, double lo, double hi, bool lo_open) {
    double v = number_field(o, key);
    if (!(std::isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi))
      throw_arg(
          key,
          std::string("a number in ") + (lo_open ? "(" : "[") + std::to_string(lo) + ", " + std::to_string(hi) + "]", v,
          ErrorKind::Range);
    return v;
  };
  c.adam.lr = num("lr", 0, 1e3, false);
  c.adam.beta1 = num("beta1", 0, 1, false);
  c.adam.beta2 = num("beta2", 0, 1, false);
  if (c.adam.beta1 >= 1 || c.adam.beta2 >= 1)
    throw_arg("beta1, beta2", "numbers in [0, 1)", std::to_string(c.adam.beta1) + ", " + std::to_string(c.adam.beta2),
              ErrorKind::Range);
  c.adam.eps = num("eps", 0, 1, true);
  c.adam.weight_decay = num("weightDecay", 0, 1e3, false);
  c.max_grad_norm = num("maxGradNorm", 0, 1e30, false);
  c.schedule.warmup_steps = int_field(o, "warmupSteps", 0, int64_t(1) << 40);
  c.schedule.total_steps = int_field(o, "totalSteps", 0, int64_t(1) << 40);
  c.schedule.min_lr_ratio = num("minLrRatio", 0, 1, false);
  return c;
}

Napi::Float32Array to_js(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

class ModelHandle;

// What a job may stream to JS while it runs (generation: one token of one sample).
struct Emitted {
  int32_t sample, token;
};
using Emit = std::function<void(const std::vector<Emitted>&)>;

// Runs fn(emit) off the event loop; emitted items reach on_emit (when given) on
// the JS thread while it runs; resolves with result(env) or rejects with the
// engine's error, then releases the model.
class Job : public Napi::AsyncProgressQueueWorker<Emitted> {
 public:
  // what: the work, as an out-of-memory error names it ("run over a batch of 4096 tokens").
  Job(Napi::Env env, ModelHandle* owner, Napi::Object self, std::function<void(const Emit&)> fn,
      std::function<Napi::Value(Napi::Env)> result, Napi::Function on_emit, std::string what)
      : Napi::AsyncProgressQueueWorker<Emitted>(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        owner_(owner),
        self_(Napi::Persistent(self)),
        fn_(std::move(fn)),
        result_(std::move(result)),
        what_(std::move(what)) {
    if (!on_emit.IsEmpty()) on_emit_ = Napi::Persistent(on_emit);
  }
  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    try {
      const Emit emit = [&](const std::vector<Emitted>& items) {
        if (!items.empty()) progress.Send(items.data(), items.size());
      };
      fn_(emit);
    } catch (const Error& e) {
      kind_ = e.kind();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      kind_ = ErrorKind::Runtime;
      SetError(what_ + ": out of host memory");
    } catch (const std::exception& e) {
      kind_ = ErrorKind::Runtime;
      SetError(e.what());
    }
  }
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

  // Calls on_emit(samples: Int32Array, tokens: Int32Array). An exception from it
  // is kept and rejects the promise at the end (the native work cannot be unwound).
  void OnProgress(const Emitted* data, size_t count) override {
    if (on_emit_.IsEmpty() || callback_failed_) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Int32Array samples = Napi::Int32Array::New(env, count), tokens = Napi::Int32Array::New(env, count);
    for (size_t i = 0; i < count; ++i) {
      samples[i] = data[i].sample;
      tokens[i] = data[i].token;
    }
    try {
      on_emit_.Call({samples, tokens});
    } catch (const Napi::Error& e) {
      callback_failed_ = true;
      callback_error_ = Napi::Persistent(e.Value());
    }
  }

 private:
  Napi::FunctionReference on_emit_;
  bool callback_failed_ = false;
  Napi::ObjectReference callback_error_;
  Napi::Promise::Deferred deferred_;
  ModelHandle* owner_;
  Napi::ObjectReference self_;  // keeps the model alive while the job runs
  std::function<void(const Emit&)> fn_;
  std::function<Napi::Value(Napi::Env)> result_;
  std::string what_;
  ErrorKind kind_ = ErrorKind::Runtime;
};

class ModelHandle : public Napi::ObjectWrap<ModelHandle> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(
        env, "Model",
        {InstanceMethod("layout", &ModelHandle::layout), InstanceMethod("read", &ModelHandle::read),
         InstanceMethod("write", &ModelHandle::write), InstanceMethod("state", &ModelHandle::state),
         InstanceMethod("setState", &ModelHandle::set_state), InstanceMethod("run", &ModelHandle::run),
         InstanceMethod("step", &ModelHandle::step), InstanceMethod("zeroGrad", &ModelHandle::zero_grad),
         InstanceMethod("generate", &ModelHandle::generate), InstanceMethod("cancel", &ModelHandle::cancel),
         InstanceMethod("dispose", &ModelHandle::dispose), InstanceAccessor("busy", &ModelHandle::busy_getter, nullptr),
         InstanceAccessor("disposed", &ModelHandle::disposed_getter, nullptr)});
  }

  // new Model(config, seed, { initialize? = true, device? = 'cpu' | 'cuda', precision? = 'bf16' | 'fp32',
  //                           deterministic? = true })
  explicit ModelHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelHandle>(info) {
    guarded(info, [&]() -> Napi::Value {
      Napi::Object cfg = object_arg(info, 0, "config");
      if (info.Length() < 2 || !info[1].IsNumber()) throw_arg("seed", "a number", "something else");
      double seed = info[1].As<Napi::Number>().DoubleValue();
      if (!(seed >= 0 && seed <= 9007199254740991.0 && std::floor(seed) == seed))
        throw_arg("seed", "an integer in [0, 2^53)", seed, ErrorKind::Range);
      bool initialize = true;
      model::Device device = model::Device::Cpu;
      model::Precision precision = model::Precision::Bf16;
      bool deterministic = true;
      if (info.Length() >= 3) {
        Napi::Object opts = object_arg(info, 2, "options");
        initialize = bool_field(opts, "initialize", true);
        const std::string dev = string_field(opts, "device", "cpu");
        if (dev == "cuda")
          device = model::Device::Cuda;
        else if (dev != "cpu")
          throw_arg("device", "\"cpu\" or \"cuda\"", "\"" + dev + "\"");
        const std::string prec = string_field(opts, "precision", "bf16");
        if (prec == "fp32")
          precision = model::Precision::Fp32;
        else if (prec != "bf16")
          throw_arg("precision", "\"bf16\" or \"fp32\"", "\"" + prec + "\"");
        deterministic = bool_field(opts, "deterministic", true);
      }
      const model::Config config = parse_config(cfg);
      try {
        model_ = std::make_unique<model::Model>(config, static_cast<uint64_t>(seed), initialize, device, precision,
                                                deterministic);
      } catch (const std::bad_alloc&) {
        // Say how much was asked for: the parameters alone, before gradients and AdamW state.
        const int64_t n = model::ParamLayout(config).total();
        char gib[32];
        std::snprintf(gib, sizeof gib, "%.1f", static_cast<double>(n) * sizeof(float) / double(1 << 30));
        throw Error(ErrorKind::Range,
                    "creating the model: out of host memory for its parameters (" + std::to_string(n) +
                        " fp32 values, " + gib +
                        " GiB; gradients and AdamW state need three times as much again when training)");
      }
      return info.Env().Undefined();
    });
  }

  void release() { busy_.store(false); }

 private:
  model::Model& usable(const char* what, bool needs_idle = true) {
    if (!model_) throw Error(ErrorKind::State, std::string(what) + ": the model was disposed");
    if (needs_idle && busy_.load())
      throw Error(
          ErrorKind::State,
          std::string(what) +
              ": the model is busy with another call; await it first (the TypeScript Model queues calls for you)");
    return *model_;
  }

  static model::Buffer buffer_kind(const std::string& kind) {
    if (kind == "params") return model::Buffer::Params;
    if (kind == "grads") return model::Buffer::Grads;
    if (kind == "adam_m") return model::Buffer::AdamM;
    if (kind == "adam_v") return model::Buffer::AdamV;
    throw_arg("buffer", "one of \"params\", \"grads\", \"adam_m\", \"adam_v\"", "\"" + kind + "\"");
  }

  Napi::Value layout(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      model::Model& m = usable("layout", false);
      Napi::Env env = info.Env();
      Napi::Array out = Napi::Array::New(env, m.layout().size());
      for (size_t i = 0; i < m.layout().size(); ++i) {
        const model::ParamInfo& p = m.layout()[i];
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", p.name);
        Napi::Array shape = Napi::Array::New(env, p.shape.size());
        for (size_t j = 0; j < p.shape.size(); ++j)
          shape.Set(static_cast<uint32_t>(j), static_cast<double>(p.shape[j]));
        o.Set("shape", shape);
        o.Set("offset", static_cast<double>(p.offset));
        o.Set("size", static_cast<double>(p.size));
        o.Set("decay", p.decay);
        out.Set(static_cast<uint32_t>(i), o);
      }
      return out;
    });
  }

  // read(buffer, offset, size): a copy of a range of params / grads / adam_m / adam_v.
  Napi::Value read(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      model::Model& m = usable("read");
      Napi::Object o = object_arg(info, 0, "options");
      const std::vector<float>& buf = m.view(buffer_kind(string_field(o, "buffer", "params")));
      const int64_t n = static_cast<int64_t>(buf.size());
      const int64_t offset = int_field(o, "offset", 0, n, 0);
      const int64_t size = int_field(o, "size", 0, n - offset, n - offset);
      Napi::Float32Array a = Napi::Float32Array::New(info.Env(), size);
      std::copy(buf.begin() + offset, buf.begin() + offset + size, a.Data());
      return a;
    });
  }

  // write({ buffer, offset, data }): copies data into the buffer; values must be finite.
  Napi::Value write(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      model::Model& m = usable("write");
      Napi::Object o = object_arg(info, 0, "options");
      std::vector<float>& buf = m.buffer(buffer_kind(string_field(o, "buffer", "params")));
      const int64_t n = static_cast<int64_t>(buf.size());
      const int64_t offset = int_field(o, "offset", 0, n, 0);
      std::vector<float> data = finite_f32_vector(o, "data");
      if (static_cast<int64_t>(data.size()) > n - offset)
        throw_arg("data.length", "at most " + std::to_string(n - offset) + " (the buffer's end)", data.size(),
                  ErrorKind::Range);
      std::copy(data.begin(), data.end(), buf.begin() + offset);
      return info.Env().Undefined();
    });
  }

  Napi::Value state(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      model::Model& m = usable("state", false);
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("step", static_cast<double>(m.step()));
      o.Set("rngState", Napi::BigInt::New(info.Env(), static_cast<uint64_t>(m.rng_state())));
      o.Set("numParams", static_cast<double>(m.num_params()));
      return o;
    });
  }

  Napi::Value set_state(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      model::Model& m = usable("setState");
      Napi::Object o = object_arg(info, 0, "state");
      if (has(o, "step")) m.set_step(int_field(o, "step", 0, int64_t(1) << 50));
      if (has(o, "rngState")) {
        Napi::Value v = o.Get("rngState");
        if (!v.IsBigInt()) throw_arg("rngState", "a bigint", "another type");
        bool lossless = false;
        uint64_t s = v.As<Napi::BigInt>().Uint64Value(&lossless);
        if (!lossless) throw_arg("rngState", "a bigint in [0, 2^64)", "a value out of range", ErrorKind::Range);
        m.set_rng_state(s);
      }
      return info.Env().Undefined();
    });
  }

  Napi::Value start(const Napi::CallbackInfo& info, std::string what, std::function<void(const Emit&)> fn,
                    std::function<Napi::Value(Napi::Env)> result, Napi::Function on_emit = Napi::Function()) {
    busy_.store(true);
    Job* job = new Job(info.Env(), this, info.This().As<Napi::Object>(), std::move(fn), std::move(result), on_emit,
                       std::move(what));
    Napi::Promise p = job->promise();
    job->Queue();
    return p;
  }

  // run(batch, objective, { backward?, logits?: [row0, rows] }) -> Promise<result>
  Napi::Value run(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      model::Model& m = usable("run");
      auto batch = std::make_shared<model::Batch>(parse_batch(object_arg(info, 0, "batch"), m.config()));
      auto objective = std::make_shared<model::Objective>(parse_objective(object_arg(info, 1, "objective")));
      Napi::Object opts = object_arg(info, 2, "options");
      const bool backward = bool_field(opts, "backward", false);
      model::LogitsRequest lr;
      if (has(opts, "logitsRow0") || has(opts, "logitsRows")) {
        lr.row0 = int_field(opts, "logitsRow0", 0, batch->tokens(), 0);
        lr.rows = int_field(opts, "logitsRows", 0, batch->tokens() - lr.row0, batch->tokens() - lr.row0);
      }
      auto out = std::make_shared<model::Result>();
      model::Model* mp = &m;
      const std::string what = "run over a batch of " + std::to_string(batch->tokens()) + " tokens in " +
                               std::to_string(batch->seqs()) + " sequences";
      return start(
          info, what, [=](const Emit&) { *out = mp->run(*batch, *objective, backward, lr); },
          [out](Napi::Env env) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            Napi::Object metrics = Napi::Object::New(env);
            for (const auto& kv : out->metrics) metrics.Set(kv.first, kv.second);
            o.Set("metrics", metrics);
            if (!out->seq_logps.empty()) o.Set("seqLogps", to_js(env, out->seq_logps));
            if (!out->seq_counts.empty()) o.Set("seqCounts", to_js(env, out->seq_counts));
            if (!out->rewards.empty()) o.Set("rewards", to_js(env, out->rewards));
            if (!out->logits.empty()) o.Set("logits", to_js(env, out->logits));
            return o;
          });
    });
  }

  // step(optim) -> Promise<{ grad_norm, learning_rate, step }>
  Napi::Value step(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      model::Model& m = usable("step");
      const model::OptimConfig oc = parse_optim(object_arg(info, 0, "optimizer"));
      auto out = std::make_shared<model::StepResult>();
      model::Model* mp = &m;
      return start(
          info, "optimizer step over " + std::to_string(m.num_params()) + " parameters (gradients and AdamW state)",
          [=](const Emit&) { *out = mp->optimizer_step(oc); },
          [out](Napi::Env env) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("grad_norm", out->grad_norm);
            o.Set("learning_rate", out->learning_rate);
            o.Set("step", static_cast<double>(out->step));
            return o;
          });
    });
  }

  // generate([{ prompt: Int32Array, n?, seed? }], { maxNewTokens, temperature, topK, topP, stopTokens?,
  //   stopStrings?: string[], tokenBytes?: Uint8Array, tokenOffsets?: Int32Array (vocab_size + 1), returnLogits? })
  Napi::Value generate(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      model::Model& m = usable("generate");
      if (info.Length() < 1 || !info[0].IsArray())
        throw_arg("requests", "an array of { prompt, n?, seed? }", "something else");
      Napi::Array list = info[0].As<Napi::Array>();
      std::vector<model::GenerateRequest> requests(list.Length());
      for (uint32_t i = 0; i < list.Length(); ++i) {
        if (!list.Get(i).IsObject()) throw_arg("requests[" + std::to_string(i) + "]", "an object", "something else");
        Napi::Object r = list.Get(i).As<Napi::Object>();
        requests[i].prompt = i32_vector(r, "prompt");
        requests[i].n = int_field(r, "n", 1, 4096, 1);
        requests[i].seed = static_cast<uint64_t>(int_field(r, "seed", 0, (int64_t(1) << 53) - 1, 0));
      }
      Napi::Object o = object_arg(info, 1, "options");
      model::SamplingConfig s;
      s.max_new_tokens = int_field(o, "maxNewTokens", 1, int64_t(1) << 24, 16);
      s.filter.temperature = number_field(o, "temperature", 1.0);
      s.filter.top_k = int_field(o, "topK", 0, int64_t(1) << 24, 0);
      s.filter.top_p = number_field(o, "topP", 1.0);
      if (has(o, "stopTokens")) s.stop_tokens = i32_vector(o, "stopTokens");
      if (has(o, "stopStrings")) s.stop_strings = string_list(o, "stopStrings", model::kMaxStopStrings);
      if (has(o, "tokenBytes")) s.token_bytes.bytes = u8_vector(o, "tokenBytes");
      if (has(o, "tokenOffsets")) s.token_bytes.offsets = i32_vector(o, "tokenOffsets");
      model::validate_stop_strings(m.config().vocab_size, s.stop_strings, s.token_bytes);
      s.return_logits = bool_field(o, "returnLogits", false);
      s.max_batch = int_field(o, "maxBatch", 0, int64_t(1) << 20, 0);
      Napi::Function on_token;
      if (has(o, "onToken")) {
        if (!o.Get("onToken").IsFunction()) throw_arg("onToken", "a function", "another type");
        on_token = o.Get("onToken").As<Napi::Function>();
      }
      auto out = std::make_shared<model::GenerateResult>();
      model::Model* mp = &m;
      std::atomic<bool>* cancel = &cancel_;
      cancel_.store(false);
      const bool stream = !on_token.IsEmpty();
      return start(
          info, "generation of " + std::to_string(requests.size()) + " prompts (key/value cache and decode buffers)",
          [=](const Emit& emit) {
            model::TokenSink sink = [&](const std::vector<std::pair<int64_t, int32_t>>& step) {
              std::vector<Emitted> items;
              items.reserve(step.size());
              for (const auto& st : step) items.push_back({static_cast<int32_t>(st.first), st.second});
              emit(items);
            };
            *out = mp->generate(requests, s, stream ? &sink : nullptr, cancel);
          },
          [out](Napi::Env env) -> Napi::Value {
            Napi::Array samples = Napi::Array::New(env, out->tokens.size());
            for (size_t i = 0; i < out->tokens.size(); ++i) {
              Napi::Object x = Napi::Object::New(env);
              Napi::Int32Array t = Napi::Int32Array::New(env, out->tokens[i].size());
              std::copy(out->tokens[i].begin(), out->tokens[i].end(), t.Data());
              x.Set("tokens", t);
              x.Set("logprob", out->logprob[i]);
              x.Set("finishReason", out->finish[i]);
              if (out->stop_string[i] >= 0) {
                x.Set("stopString", out->stop_string[i]);
                x.Set("stopOffset", static_cast<double>(out->stop_offset[i]));
              }
              if (!out->logits.empty()) x.Set("logits", to_js(env, out->logits[i]));
              samples.Set(static_cast<uint32_t>(i), x);
            }
            Napi::Object r = Napi::Object::New(env);
            r.Set("samples", samples);
            r.Set("cacheBytes", static_cast<double>(out->cache_bytes));
            return r;
          },
          on_token);
    });
  }

  // cancel(): asks a running generate to stop after its current step; its
  // unfinished samples end with finishReason "abort".
  Napi::Value cancel(const Napi::CallbackInfo& info) {
    cancel_.store(true);
    return info.Env().Undefined();
  }

  Napi::Value zero_grad(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      usable("zeroGrad").zero_grad();
      return info.Env().Undefined();
    });
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      if (model_ && busy_.load())
        throw Error(ErrorKind::State, "dispose: the model is busy with a call; await it first");
      model_.reset();
      return info.Env().Undefined();
    });
  }

  Napi::Value busy_getter(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_.load()); }
  Napi::Value disposed_getter(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }

  std::unique_ptr<model::Model> model_;
  std::atomic<bool> busy_{false};
  std::atomic<bool> cancel_{false};
};

void Job::OnOK() {
  owner_->release();
  Napi::Env env = Env();
  if (callback_failed_) {
    deferred_.Reject(callback_error_.Value());
    return;
  }
  try {
    deferred_.Resolve(result_(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void Job::OnError(const Napi::Error& e) {
  owner_->release();
  Napi::Env env = Env();
  Napi::Error err = kind_ == ErrorKind::Argument ? Napi::TypeError::New(env, e.Message())
                    : kind_ == ErrorKind::Range  ? Napi::RangeError::New(env, e.Message())
                                                 : Napi::Error::New(env, e.Message());
  err.Set("code", Napi::String::New(env, kind_ == ErrorKind::Argument ? "GENRM_INVALID_ARGUMENT"
                                         : kind_ == ErrorKind::Range  ? "GENRM_OUT_OF_RANGE"
                                         : kind_ == ErrorKind::State  ? "GENRM_INVALID_STATE"
                                                                      : "GENRM_RUNTIME"));
  deferred_.Reject(err.Value());
}

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) { exports.Set("Model", ModelHandle::define(env)); }

}  // namespace genrm::napi
