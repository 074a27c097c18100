// Whether the CUDA cases can run: without a usable device they pass with a note,
// unless GENRM_REQUIRE_CUDA=1 (the GPU script sets it) makes that a failure.
// Plain C++, so host-only tests of the CUDA code can include it.
#pragma once
#include <cstdio>
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
    static bool said = false;
    if (!said) std::printf("  (CUDA cases skipped: %s)\n", s.error.c_str());
    said = true;
  }
  return false;
}

}  // namespace genrm::test
