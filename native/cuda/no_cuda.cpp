// The CPU-only build's answer to "is there CUDA?": no, and a CUDA model is refused.
#include "../core/error.h"
#include "../model/backend.h"
#include "check.h"
#include "device.h"

namespace genrm::cuda {

const Status& status() {
  static const Status s = [] {
    Status st;
    st.error = "this binary was built without CUDA (the CPU build); build the CUDA addon with `npm run compile:cuda`";
    return st;
  }();
  return s;
}

DeviceMemory device_memory() { return {}; }

}  // namespace genrm::cuda

namespace genrm::model {

std::unique_ptr<Backend> make_cuda_backend(const Config&, const ParamLayout&, Precision, bool) {
  throw Error(ErrorKind::State, "device cuda: " + cuda::status().error);
}

}  // namespace genrm::model
