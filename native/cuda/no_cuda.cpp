// The CPU-only build's answer to "is there CUDA?".
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

}  // namespace genrm::cuda
