// Error checks for the CUDA backend: every runtime call and every kernel launch
// is checked, and a failure throws genrm::Error naming what was being done and
// CUDA's own name for the error. Plain C++ (the code is an int), so host-only
// units can include it.
#pragma once
#include <cstddef>

namespace genrm::cuda {

// code: a cudaError_t. Throws unless it is cudaSuccess.
void check(int code, const char* what);
// After a launch: the launch error, if any, names the kernel.
void check_launch(const char* kernel);
// Device memory: throws (naming `what` and the size, Runtime kind) when it cannot be had.
void* device_alloc(size_t bytes, const char* what);
// For tests of the out-of-memory paths: after `n` more successful calls, the
// next device_alloc (in this process) fails as if the device were out of
// memory, once. A negative n disarms it.
void fail_device_alloc_after(int n);
void device_free(void* p);
// What device_alloc holds now (scratch included) and the most it has held since
// the process started or the last reset_device_peak().
struct DeviceMemory {
  size_t in_use = 0, peak = 0;
};
DeviceMemory device_memory();
void reset_device_peak();
// Copies and fills, checked (synchronous, on the default stream).
enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
void copy(void* dst, const void* src, size_t bytes, CopyKind kind, const char* what);
void fill_zero(void* p, size_t bytes, const char* what);

// Grow-only device scratch, kept for the process, one buffer per slot: kernels
// that need temporary memory every step must not pay cudaMalloc/cudaFree (the
// free synchronizes the device) in the hot path. Reuse across calls is safe
// because every kernel runs on the default stream, in order; a caller that
// holds one slot's buffer while calling code that uses scratch too must use a
// different slot. Not thread-safe: one host thread drives the device.
enum class Scratch {
  Rmsnorm,
  Bias,
  Gemm,
  Logits,
  LogitsAux,
  LogitsGroup,
  Attention,
  AttentionDq,
  Model,
  Sampling,
  Count
};
void* device_scratch(Scratch slot, size_t bytes, const char* what);
// Frees every slot (the next use allocates again): memory back between jobs, and
// a known start for tests that count allocations.
void release_device_scratch();

}  // namespace genrm::cuda
