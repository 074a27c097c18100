#include <cuda_runtime.h>

#include <atomic>
#include <string>

#include "../core/error.h"
#include "check.h"
#include "memory_tracker.h"

namespace genrm::cuda {

void check(int code, const char* what) {
  const cudaError_t e = static_cast<cudaError_t>(code);
  if (e == cudaSuccess) return;
  throw Error(ErrorKind::Runtime, std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

namespace {
std::atomic<int> g_allocs_before_failure{-1};  // -1: no failure armed
MemoryTracker g_memory;
}  // namespace

DeviceMemory device_memory() { return g_memory.read(); }
void reset_device_peak() { g_memory.reset_peak(); }

void fail_device_alloc_after(int n) { g_allocs_before_failure = n < 0 ? -1 : n; }

void* device_alloc(size_t bytes, const char* what) {
  void* p = nullptr;
  const bool fail = g_allocs_before_failure >= 0 && g_allocs_before_failure-- == 0;
  const cudaError_t e = fail ? cudaErrorMemoryAllocation : cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear it: the device stays usable after an out-of-memory
    const std::string size = std::string(what) + " (" + std::to_string(bytes) + " bytes)";
    if (e == cudaErrorMemoryAllocation) throw Error(ErrorKind::Runtime, "out of GPU memory allocating " + size);
    throw Error(ErrorKind::Runtime, "cudaMalloc failed allocating " + size + ": " + cudaGetErrorName(e) + " (" +
                                        cudaGetErrorString(e) + ")");
  }
  g_memory.allocated(p, bytes);
  return p;
}

void device_free(void* p) {
  if (!p) return;
  g_memory.freed(p);
  cudaFree(p);
}

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

namespace {
void* g_scratch[static_cast<int>(Scratch::Count)] = {};
size_t g_scratch_bytes[static_cast<int>(Scratch::Count)] = {};
}  // namespace

void release_device_scratch() {
  for (int i = 0; i < static_cast<int>(Scratch::Count); ++i) {
    device_free(g_scratch[i]);
    g_scratch[i] = nullptr;
    g_scratch_bytes[i] = 0;
  }
}

void* device_scratch(Scratch slot, size_t bytes, const char* what) {
  const int i = static_cast<int>(slot);
  if (bytes > g_scratch_bytes[i]) {
    void* grown = device_alloc(bytes, what);  // throws before the old buffer is touched
    device_free(g_scratch[i]);
    g_scratch[i] = grown;
    g_scratch_bytes[i] = bytes;
  }
  return g_scratch[i];
}

}  // namespace genrm::cuda
