// Each file in napi/ adds its functions to the addon's exports.
#pragma once
#include <napi.h>

#include "../cpu/gemm.h"

namespace genrm::napi {

void register_info(Napi::Env env, Napi::Object exports);
void register_kernels(Napi::Env env, Napi::Object kernels);
void register_model_kernels(Napi::Env env, Napi::Object kernels);
void register_ops(Napi::Env env, Napi::Object kernels);
void register_bench(Napi::Env env, Napi::Object bench);
void register_model(Napi::Env env, Napi::Object exports);
void register_files(Napi::Env env, Napi::Object files);

// Shared by kernels.gemm and bench.openblasGemm (kernels.cpp): reads and checks
// { m, n, k, a, b, c, transA?, transB?, alpha?, beta? }; the arrays stay referenced
// through a, b, c while the returned args point into them.
cpu::GemmArgs gemm_args(const Napi::Object& o, Napi::Float32Array& a, Napi::Float32Array& b, Napi::Float32Array& c);

}  // namespace genrm::napi
