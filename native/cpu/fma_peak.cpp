#include "fma_peak.h"

#include <chrono>
#include <vector>

#include "../core/thread_pool.h"

namespace genrm::cpu {

float fma_loop_portable(long iters) {
  // Same shape as the AVX2 loop, in scalars the compiler may vectorize with SSE.
  float a[12][8];
  for (int j = 0; j < 12; ++j)
    for (float& v : a[j]) v = 1.0f + static_cast<float>(j) / 64;  // distinct chains (see fma_peak_avx2.cpp)
  const float x = 0.999999f, y = 1e-7f;
  for (long i = 0; i < iters; ++i)
    for (auto& row : a)
      for (float& v : row) v = v * x + y;
  float s = 0;
  for (auto& row : a)
    for (float v : row) s += v;
  return s;
}

double fma_peak_gflops(Isa isa, double seconds) {
  if (!isa_supported(isa)) isa = Isa::Portable;
  auto loop = isa == Isa::Avx512 ? fma_loop_avx512 : isa == Isa::Avx2 ? fma_loop_avx2 : fma_loop_portable;
  const int threads = num_threads();
  // Calibrate on one thread, then run every thread for the target time.
  long iters = 1 << 16;
  double per_iter = 0;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    volatile float sink = loop(iters);
    (void)sink;
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt > 0.02 || iters > (1L << 34)) {
      per_iter = dt / iters;
      break;
    }
    iters *= 4;
  }
  iters = static_cast<long>(seconds / per_iter) + 1;
  std::vector<double> secs(threads, 0.0);
  parallel_for(threads, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) {
      auto t0 = std::chrono::steady_clock::now();
      volatile float sink = loop(iters);
      (void)sink;
      secs[t] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  });
  const int lanes = isa == Isa::Avx512 ? 16 : 8;
  double flops_per_thread = static_cast<double>(iters) * 12 * lanes * 2;
  double total = 0;
  for (double s : secs) total += flops_per_thread / s;
  return total / 1e9;
}

}  // namespace genrm::cpu
