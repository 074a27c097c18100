// The `kernels` namespace: each engine kernel callable on Float32Arrays, for
// tests and benchmarks. Synchronous: a kernel call is short and the caller wants
// to time it exactly; whole training steps are asynchronous elsewhere.
#include "../core/cpu_features.h"
#include "../cpu/gemm.h"
#include "args.h"
#include "modules.h"

namespace genrm::napi {

constexpr int64_t kMaxDim = int64_t(1) << 31;

// Reads { m, n, k, a, b, c, transA?, transB?, alpha?, beta? }: contiguous
// row-major operands whose lengths must match the shape, c apart from a and b.
cpu::GemmArgs gemm_args(const Napi::Object& o, Napi::Float32Array& a, Napi::Float32Array& b, Napi::Float32Array& c) {
  cpu::GemmArgs g;
  g.m = int_field(o, "m", 0, kMaxDim);
  g.n = int_field(o, "n", 0, kMaxDim);
  g.k = int_field(o, "k", 0, kMaxDim);
  g.trans_a = bool_field(o, "transA", false);
  g.trans_b = bool_field(o, "transB", false);
  g.alpha = static_cast<float>(number_field(o, "alpha", 1.0));
  g.beta = static_cast<float>(number_field(o, "beta", 0.0));
  a = f32_field(o, "a", g.m * g.k);
  b = f32_field(o, "b", g.k * g.n);
  c = f32_field(o, "c", g.m * g.n);
  check_disjoint(c, "c", a, "a");
  check_disjoint(c, "c", b, "b");
  g.a = a.Data();
  g.b = b.Data();
  g.c = c.Data();
  g.lda = std::max<int64_t>(1, g.trans_a ? g.m : g.k);
  g.ldb = std::max<int64_t>(1, g.trans_b ? g.k : g.n);
  g.ldc = std::max<int64_t>(1, g.n);
  return g;
}

namespace {

// gemm({ ...gemm_args, isa?, reference? }): c is updated in place and returned.
Napi::Value gemm(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0, "options");
    bool reference = bool_field(o, "reference", false);
    Isa isa = has(o, "isa") ? parse_isa(string_field(o, "isa", ""), "isa") : default_isa();
    Napi::Float32Array a, b, c;
    cpu::GemmArgs g = gemm_args(o, a, b, c);
    if (reference)
      cpu::gemm_reference(g);
    else
      cpu::gemm(g, isa);
    return c;
  });
}

}  // namespace

void register_kernels(Napi::Env env, Napi::Object kernels) { kernels.Set("gemm", Napi::Function::New(env, gemm)); }

}  // namespace genrm::napi
