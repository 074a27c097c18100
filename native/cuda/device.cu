// Device discovery for the CUDA build. Linked against the static CUDA runtime, so
// the binary loads where no driver exists; cudaGetDeviceCount then reports an
// error, which becomes the reason shown by `genrm info` and the loader.
#include <cuda_runtime.h>

#include <mutex>
#include <string>

#include "device.h"
#include "gemm.h"

namespace genrm::cuda {
namespace {

__global__ void probe_kernel(int* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = i * 3 + 1;
}

std::string describe(cudaError_t e, const char* call) {
  return std::string(call) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
}

// Runs a tiny kernel on device 0: catches a binary without code for this GPU's
// architecture ("no kernel image is available") before any real work does.
std::string run_probe() {
  constexpr int n = 256;
  int* d = nullptr;
  cudaError_t e = cudaMalloc(&d, n * sizeof(int));
  if (e != cudaSuccess) return describe(e, "cudaMalloc");
  probe_kernel<<<(n + 127) / 128, 128>>>(d, n);
  e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  int host[n];
  if (e == cudaSuccess) e = cudaMemcpy(host, d, sizeof(host), cudaMemcpyDeviceToHost);
  cudaFree(d);
  if (e != cudaSuccess) return describe(e, "probe kernel");
  for (int i = 0; i < n; ++i)
    if (host[i] != i * 3 + 1) return "probe kernel wrote wrong values at index " + std::to_string(i);
  return "";
}

Status query() {
  Status s;
  s.compiled = true;
  s.architectures = GENRM_CUDA_ARCHS;
  s.cublas = have_cublas();
  cudaRuntimeGetVersion(&s.runtime_version);
  if (cudaDriverGetVersion(&s.driver_version) != cudaSuccess) s.driver_version = 0;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    s.error = describe(e, "cudaGetDeviceCount");
    if (s.driver_version == 0) s.error += "; no NVIDIA driver was found";
    return s;
  }
  if (count == 0) {
    s.error = "no CUDA devices found";
    return s;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    Device d;
    d.index = i;
    d.name = p.name;
    d.major = p.major;
    d.minor = p.minor;
    d.total_memory = static_cast<int64_t>(p.totalGlobalMem);
    d.multiprocessors = p.multiProcessorCount;
    s.devices.push_back(d);
  }
  if (s.devices.empty()) {
    s.error = "cudaGetDeviceProperties failed for every device";
    return s;
  }
  if (s.devices[0].major < 8) {
    s.error = "device 0 (" + s.devices[0].name + ") has compute capability " + std::to_string(s.devices[0].major) +
              "." + std::to_string(s.devices[0].minor) + "; genrm's CUDA backend needs 8.0 or newer";
    return s;
  }
  s.error = run_probe();
  s.kernels_run = s.error.empty();
  return s;
}

}  // namespace

const Status& status() {
  static std::once_flag once;
  static Status s;
  std::call_once(once, [] { s = query(); });
  return s;
}

}  // namespace genrm::cuda
