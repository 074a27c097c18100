// The `bench` namespace: measurements only benchmarks need (the machine's FMA
// peak, OpenBLAS opened at run time for side-by-side comparisons).
#include "../core/cpu_features.h"
#include "../core/thread_pool.h"
#include "../cpu/fma_peak.h"
#include "../cpu/openblas.h"
#include "args.h"
#include "modules.h"

namespace genrm::napi {
namespace {

Napi::Value fma_peak(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    Isa isa = has(o, "isa") ? parse_isa(string_field(o, "isa", ""), "isa") : default_isa();
    double seconds = number_field(o, "seconds", 0.2);
    if (!(seconds > 0 && seconds <= 10)) throw_arg("seconds", "a number in (0, 10]", seconds, ErrorKind::Range);
    return Napi::Number::New(info.Env(), cpu::fma_peak_gflops(isa, seconds));
  });
}

Napi::Value openblas_info(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = Napi::Object::New(info.Env());
    std::string why;
    bool ok = cpu::openblas_available(&why);
    o.Set("available", ok);
    if (ok)
      o.Set("config", cpu::openblas_config());
    else
      o.Set("reason", why);
    return o;
  });
}

// openblasGemm(options): the same options and semantics as kernels.gemm, run by
// cblas_sgemm with OpenBLAS's thread count set to the engine's.
Napi::Value openblas_gemm(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    Napi::Float32Array a, b, c;
    cpu::GemmArgs g = gemm_args(o, a, b, c);
    cpu::openblas_set_threads(num_threads());
    cpu::openblas_sgemm(g);
    return c;
  });
}

}  // namespace

void register_bench(Napi::Env env, Napi::Object bench) {
  bench.Set("fmaPeak", Napi::Function::New(env, fma_peak));
  bench.Set("openblasInfo", Napi::Function::New(env, openblas_info));
  bench.Set("openblasGemm", Napi::Function::New(env, openblas_gemm));
}

}  // namespace genrm::napi
