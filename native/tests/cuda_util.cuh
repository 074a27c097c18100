// Shared helpers of the CUDA parity tests: whether a device is usable
// (have_device.h), device copies of host vectors, poisoned device outputs and a
// tolerance check that names what it compared.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../cuda/check.h"
#include "have_device.h"
#include "util.h"

namespace genrm::test {

// A device copy of a host vector (or a poisoned buffer), freed with the object.
template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(const std::vector<T>& h) : n(h.size()) {
    p = static_cast<T*>(cuda::device_alloc(sizeof(T) * (n ? n : 1), "test buffer"));
    cuda::check(cudaMemcpy(p, h.data(), sizeof(T) * n, cudaMemcpyHostToDevice), "upload");
  }
  // Poisoned: every byte 0xff, a NaN in every float.
  explicit Dev(size_t count) : n(count) {
    p = static_cast<T*>(cuda::device_alloc(sizeof(T) * (n ? n : 1), "test buffer"));
    cuda::check(cudaMemset(p, 0xff, sizeof(T) * n), "poison");
  }
  ~Dev() { cuda::device_free(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  std::vector<T> host() const {
    std::vector<T> h(n);
    cuda::check(cudaMemcpy(h.data(), p, sizeof(T) * n, cudaMemcpyDeviceToHost), "download");
    return h;
  }
};

// Fails (naming `what` and the worst scaled error) unless |got - want| <= atol + rtol |want| everywhere.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, double atol, double rtol,
                         const char* what) {
  if (got.size() != want.size()) {
    fail(__FILE__, __LINE__, std::string(what) + ": sizes differ");
    return;
  }
  const double e = max_scaled_error(got.data(), want.data(), want.size(), atol, rtol);
  if (e <= 1) return;
  // Where it went wrong, for a first look at a failing kernel: the worst element,
  // the first unwritten (NaN) one, and how many are out of tolerance.
  size_t worst = 0, bad = 0, first_nan = got.size();
  double worst_e = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    double ei =
        std::fabs(static_cast<double>(got[i]) - want[i]) / (atol + rtol * std::fabs(static_cast<double>(want[i])));
    if (std::isnan(ei)) ei = INFINITY;
    if (std::isnan(got[i]) && first_nan == got.size()) first_nan = i;
    if (ei > 1) ++bad;
    if (ei > worst_e) {
      worst_e = ei;
      worst = i;
    }
  }
  std::string msg = std::string(what) + ": scaled error " + std::to_string(e) + "; " + std::to_string(bad) + " of " +
                    std::to_string(got.size()) + " out of tolerance; worst at [" + std::to_string(worst) + "]: got " +
                    std::to_string(got[worst]) + ", want " + std::to_string(want[worst]);
  if (first_nan < got.size()) msg += "; first NaN at [" + std::to_string(first_nan) + "]";
  fail(__FILE__, __LINE__, msg);
}

}  // namespace genrm::test
