// The table of ops (native/ops/table.h) for JavaScript: kernels.ops() lists it,
// kernels.checkOp() runs the parity check of one path, kernels.prepareOp() makes
// one problem and returns a function that runs a path on it (the benchmark's
// timed call). Synchronous, as the other kernels are.
#include <memory>

#include "../ops/table.h"
#include "args.h"
#include "modules.h"

namespace genrm::napi {
namespace {

Napi::Object tolerance_object(Napi::Env env, const ops::Tolerance& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("atol", t.atol);
  o.Set("rtol", t.rtol);
  return o;
}

// ops(): [{ name, summary, sources, checks: [label], bench, paths: [{ name, backend, available, tolerance }] }]
Napi::Value list(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const auto& table = ops::table();
    Napi::Array result = Napi::Array::New(env, table.size());
    for (size_t i = 0; i < table.size(); ++i) {
      const ops::Op& op = table[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", op.name);
      o.Set("summary", op.summary);
      o.Set("sources", op.sources);
      Napi::Array checks = Napi::Array::New(env, op.checks.size());
      for (size_t c = 0; c < op.checks.size(); ++c) checks.Set(c, op.checks[c].label);
      o.Set("checks", checks);
      o.Set("bench", op.bench.label);
      Napi::Array paths = Napi::Array::New(env, op.paths.size());
      for (size_t p = 0; p < op.paths.size(); ++p) {
        Napi::Object path = Napi::Object::New(env);
        path.Set("name", op.paths[p].name);
        path.Set("backend", op.paths[p].backend);
        path.Set("available", op.paths[p].available());
        path.Set("tolerance", tolerance_object(env, op.paths[p].tolerance));
        paths.Set(p, path);
      }
      o.Set("paths", paths);
      result.Set(i, o);
    }
    return result;
  });
}

const ops::Path& available_path(const Napi::Object& o, const ops::Op*& op) {
  op = &ops::find_op(string_field(o, "op"));
  const ops::Path& path = ops::find_path(*op, string_field(o, "path"));
  if (!path.available()) throw Error(ErrorKind::State, "path: " + op->name + " " + path.name + " cannot run here");
  return path;
}

// checkOp({ op, path, seed? }): [{ shape, output, worstError, worstIndex, got, want, ok }]
Napi::Value check(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object o = object_arg(info, 0, "options");
    const ops::Op* op = nullptr;
    const ops::Path& path = available_path(o, op);
    const auto seed = static_cast<uint32_t>(int_field(o, "seed", 0, UINT32_MAX, 1));
    const auto comparisons = ops::check_path(*op, path, seed);
    Napi::Array result = Napi::Array::New(env, comparisons.size());
    for (size_t i = 0; i < comparisons.size(); ++i) {
      const ops::Comparison& c = comparisons[i];
      Napi::Object r = Napi::Object::New(env);
      r.Set("shape", c.shape);
      r.Set("output", c.output);
      r.Set("worstError", c.worst_error);
      r.Set("worstIndex", static_cast<double>(c.worst_index));
      r.Set("got", c.got);
      r.Set("want", c.want);
      r.Set("ok", c.ok);
      result.Set(i, r);
    }
    return result;
  });
}

// prepareOp({ op, path }): { run(), shape, flops, bytes } at the op's bench shape.
// run() computes the path once, on the same problem each time.
Napi::Value prepare(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object o = object_arg(info, 0, "options");
    const ops::Op* op = nullptr;
    const ops::Path& path = available_path(o, op);
    auto problem = std::make_shared<ops::Problem>(op->make(op->bench, 1));
    auto outputs = std::make_shared<ops::Tensors>(problem->out);
    Napi::Object r = Napi::Object::New(env);
    r.Set("shape", op->bench.label);
    r.Set("flops", op->flops ? op->flops(*problem) : 0.0);
    r.Set("bytes", op->bytes ? op->bytes(*problem) : 0.0);
    r.Set("run", Napi::Function::New(
                     env,
                     [&path, problem, outputs](const Napi::CallbackInfo& call) {
                       return guarded(call, [&]() -> Napi::Value {
                         path.run(*problem, *outputs);
                         return call.Env().Undefined();
                       });
                     },
                     "run"));
    return r;
  });
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object kernels) {
  kernels.Set("ops", Napi::Function::New(env, list));
  kernels.Set("checkOp", Napi::Function::New(env, check));
  kernels.Set("prepareOp", Napi::Function::New(env, prepare));
}

}  // namespace genrm::napi
