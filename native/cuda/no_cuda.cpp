// The CPU-only build's answer to "is there CUDA?".
#include "../core/error.h"
#include "device.h"
#include "model_device.h"

namespace genrm::cuda {

const Status& status() {
  static const Status s = [] {
    Status st;
    st.error = "this binary was built without CUDA (the CPU build); build the CUDA addon with `npm run compile:cuda`";
    return st;
  }();
  return s;
}

// A CPU build never creates a device model: creation refuses, so the rest is unreachable.
DeviceModel* device_model_create(const model::Config&, const std::vector<model::ParamInfo>&, int64_t, bool, bool) {
  throw Error(ErrorKind::State, "device cuda: " + status().error);
}
void device_model_destroy(DeviceModel*) {}
void device_model_upload(DeviceModel&, ModelBuffer, const float*) { throw Error(ErrorKind::State, "no CUDA in this build"); }
void device_model_download(DeviceModel&, ModelBuffer, float*) { throw Error(ErrorKind::State, "no CUDA in this build"); }
model::Result device_model_run(DeviceModel&, const model::Batch&, const model::Objective&, bool, const model::LogitsRequest&) {
  throw Error(ErrorKind::State, "no CUDA in this build");
}
double device_model_optimizer_step(DeviceModel&, const model::OptimConfig&, double, int64_t) {
  throw Error(ErrorKind::State, "no CUDA in this build");
}
void device_model_zero_grad(DeviceModel&) { throw Error(ErrorKind::State, "no CUDA in this build"); }
void device_generate_prefill(DeviceModel&, const model::Batch&, int64_t, int64_t, std::vector<float>&) {
  throw Error(ErrorKind::State, "no CUDA in this build");
}
void device_generate_start(DeviceModel&, int64_t, int64_t) { throw Error(ErrorKind::State, "no CUDA in this build"); }
void device_generate_step(DeviceModel&, const std::vector<int64_t>&, const std::vector<int32_t>&, std::vector<float>&) {
  throw Error(ErrorKind::State, "no CUDA in this build");
}
void device_generate_step_sample(DeviceModel&, const std::vector<int64_t>&, const std::vector<int32_t>&,
                                 const cpu::SamplingParams&, const std::vector<double>&, std::vector<int32_t>&,
                                 std::vector<double>&) {
  throw Error(ErrorKind::State, "no CUDA in this build");
}
void device_generate_end(DeviceModel&) {}

}  // namespace genrm::cuda
