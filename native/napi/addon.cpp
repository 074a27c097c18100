#include <napi.h>

#include "modules.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  genrm::napi::register_info(env, exports);
  genrm::napi::register_model(env, exports);
  Napi::Object kernels = Napi::Object::New(env);
  genrm::napi::register_kernels(env, kernels);
  genrm::napi::register_model_kernels(env, kernels);
  genrm::napi::register_ops(env, kernels);
  exports.Set("kernels", kernels);
  Napi::Object bench = Napi::Object::New(env);
  genrm::napi::register_bench(env, bench);
  exports.Set("bench", bench);
  Napi::Object files = Napi::Object::New(env);
  genrm::napi::register_files(env, files);
  exports.Set("files", files);
  return exports;
}

}  // namespace

NODE_API_MODULE(genrm, init)
