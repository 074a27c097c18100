// info(), cudaStatus() and configure(): what this binary is, what the machine
// offers, and the engine-wide settings (threads, kernel path).
#include "../core/cpu_features.h"
#include "../core/thread_pool.h"
#include "../cuda/check.h"
#include "../cuda/device.h"
#include "../model/model.h"
#include "args.h"
#include "modules.h"

namespace genrm::napi {
namespace {

Napi::Object cuda_status_object(Napi::Env env) {
  const cuda::Status& s = cuda::status();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", s.compiled);
  o.Set("usable", s.usable());
  o.Set("architectures", s.architectures);
  o.Set("runtimeVersion", s.runtime_version);
  o.Set("driverVersion", s.driver_version);
  o.Set("kernelsRun", s.kernels_run);
  o.Set("cublas", s.cublas);
  Napi::Array devices = Napi::Array::New(env, s.devices.size());
  for (size_t i = 0; i < s.devices.size(); ++i) {
    const cuda::Device& d = s.devices[i];
    Napi::Object dev = Napi::Object::New(env);
    dev.Set("index", d.index);
    dev.Set("name", d.name);
    dev.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    dev.Set("totalMemory", static_cast<double>(d.total_memory));
    dev.Set("multiprocessors", d.multiprocessors);
    devices.Set(static_cast<uint32_t>(i), dev);
  }
  o.Set("devices", devices);
  const cuda::DeviceMemory mem = cuda::device_memory();
  Napi::Object memory = Napi::Object::New(env);
  memory.Set("inUse", static_cast<double>(mem.in_use));
  memory.Set("peak", static_cast<double>(mem.peak));
  o.Set("memory", memory);
  if (!s.error.empty()) o.Set("error", s.error);
  return o;
}

Napi::Object info_object(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("build", cuda::status().compiled ? "cuda" : "cpu");
  o.Set("napiVersion", NAPI_VERSION);
  o.Set("compiler", __VERSION__);
  const CpuFeatures& f = cpu_features();
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("brand", f.brand);
  Napi::Object feats = Napi::Object::New(env);
  feats.Set("sse4.2", f.sse42);
  feats.Set("avx", f.avx);
  feats.Set("avx2", f.avx2);
  feats.Set("fma", f.fma);
  feats.Set("f16c", f.f16c);
  feats.Set("avx512f", f.avx512f);
  cpu.Set("features", feats);
  Napi::Array isas = Napi::Array::New(env);
  uint32_t i = 0;
  for (Isa isa : supported_isas()) isas.Set(i++, isa_name(isa));
  cpu.Set("supportedIsas", isas);
  cpu.Set("isa", isa_name(default_isa()));
  o.Set("cpu", cpu);
  o.Set("threads", num_threads());
  o.Set("defaultThreads", default_num_threads());
  o.Set("liveModels", static_cast<double>(model::Model::live_count()));
  return o;
}

}  // namespace

void register_info(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return guarded(info, [&]() -> Napi::Value { return info_object(info.Env()); });
              }));
  exports.Set("cudaStatus", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return guarded(info, [&]() -> Napi::Value { return cuda_status_object(info.Env()); });
              }));
  // configure({ threads?, isa? }): engine-wide; returns info().
  exports.Set("configure", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return guarded(info, [&]() -> Napi::Value {
                  Napi::Object o = object_arg(info, 0, "options");
                  if (has(o, "threads")) set_num_threads(static_cast<int>(int_field(o, "threads", 1, 1024)));
                  if (has(o, "isa")) set_default_isa(parse_isa(string_field(o, "isa", ""), "isa"));
                  return info_object(info.Env());
                });
              }));
}

}  // namespace genrm::napi
