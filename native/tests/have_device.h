// Whether the CUDA cases can run: without a usable device a case is skipped,
// unless GENRM_REQUIRE_CUDA=1 (the GPU script sets it) makes that a failure.
// Plain C++, so host-only tests of the CUDA code can include it.
#pragma once
#include <cstdlib>
#include <string>

#include "../cuda/device.h"
#include "harness.h"

namespace genrm::test {

inline bool have_device() {
  const cuda::Status& s = cuda::status();
  if (s.usable()) return true;
  const char* require = std::getenv("GENRM_REQUIRE_CUDA");
  if (require && std::string(require) == "1") {
    fail(__FILE__, __LINE__, "no usable CUDA device: " + s.error);
  } else {
    skip("no usable CUDA device: " + s.error);
  }
  return false;
}

}  // namespace genrm::test
