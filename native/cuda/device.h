// What the CUDA backend can tell about itself, without throwing: whether it was
// compiled in, the runtime and driver versions, the devices, and, when none is
// usable, the reason. Plain C++ so the CPU build and N-API code can include it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace genrm::cuda {

struct Device {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;
  int64_t total_memory = 0;
  int multiprocessors = 0;
};

struct Status {
  bool compiled = false;      // this binary contains CUDA code
  std::string architectures;  // e.g. "sm_80 sm_90 compute_90"
  int runtime_version = 0;    // e.g. 13000
  int driver_version = 0;     // 0 when no driver is installed
  std::vector<Device> devices;
  bool kernels_run = false;  // a probe kernel ran and wrote the right values on device 0
  bool cublas = false;       // the binary was built with cuBLAS (GemmEngine::Auto uses it)
  std::string error;         // why no device is usable; empty when one is
  bool usable() const { return compiled && !devices.empty() && kernels_run && error.empty(); }
};

// Queries once and caches; safe to call from any thread.
const Status& status();

}  // namespace genrm::cuda
