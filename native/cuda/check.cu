#include <cuda_runtime.h>

#include <string>

#include "../core/error.h"
#include "check.h"

namespace genrm::cuda {

void check(int code, const char* what) {
  const cudaError_t e = static_cast<cudaError_t>(code);
  if (e == cudaSuccess) return;
  throw Error(ErrorKind::Runtime, std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

void* device_alloc(size_t bytes, const char* what) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear it: the device stays usable after an out-of-memory
    const std::string size = std::string(what) + " (" + std::to_string(bytes) + " bytes)";
    if (e == cudaErrorMemoryAllocation) throw Error(ErrorKind::Runtime, "out of GPU memory allocating " + size);
    throw Error(ErrorKind::Runtime, "cudaMalloc failed allocating " + size + ": " + cudaGetErrorName(e) + " (" +
                                        cudaGetErrorString(e) + ")");
  }
  return p;
}

void device_free(void* p) { cudaFree(p); }

void copy(void* dst, const void* src, size_t bytes, CopyKind kind, const char* what) {
  if (bytes == 0) return;
  const cudaMemcpyKind k = kind == CopyKind::HostToDevice   ? cudaMemcpyHostToDevice
                           : kind == CopyKind::DeviceToHost ? cudaMemcpyDeviceToHost
                                                            : cudaMemcpyDeviceToDevice;
  check(cudaMemcpy(dst, src, bytes, k), what);
}

void fill_zero(void* p, size_t bytes, const char* what) {
  if (bytes > 0) check(cudaMemset(p, 0, bytes), what);
}

void* device_scratch(Scratch slot, size_t bytes, const char* what) {
  static void* bufs[static_cast<int>(Scratch::Count)] = {};
  static size_t caps[static_cast<int>(Scratch::Count)] = {};
  const int i = static_cast<int>(slot);
  if (bytes > caps[i]) {
    void* grown = device_alloc(bytes, what);  // throws before the old buffer is touched
    if (bufs[i]) cudaFree(bufs[i]);
    bufs[i] = grown;
    caps[i] = bytes;
  }
  return bufs[i];
}

}  // namespace genrm::cuda
