// Bytes of device memory the engine holds, and the most it has held: what a
// memory plan is checked against. Plain C++, shared by the device's allocator
// (check.cu) and the tests' stand-in for a device.
#pragma once
#include <cstddef>
#include <mutex>
#include <unordered_map>

#include "check.h"

namespace genrm::cuda {

class MemoryTracker {
 public:
  void allocated(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    sizes_[p] = bytes;
    in_use_ += bytes;
    if (in_use_ > peak_) peak_ = in_use_;
  }
  void freed(void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) return;
    in_use_ -= it->second;
    sizes_.erase(it);
  }
  DeviceMemory read() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {in_use_, peak_};
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    peak_ = in_use_;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<void*, size_t> sizes_;
  size_t in_use_ = 0, peak_ = 0;
};

}  // namespace genrm::cuda
