// The two CUB algorithms genrm uses, for the simulator (native/cuda/sim):
// DeviceRadixSort::SortKeys (a stable sort on the chosen bit range, leaving the
// result in the other buffer, as CUB may) and BlockScan's sums (a collective:
// every thread of the block must call it).
#pragma once
#include <cstddef>
#include <cstdint>

#include "../cuda_runtime.h"

namespace genrm_sim {
// Sorts n keys of `bytes` each (unsigned, little-endian) stably by bits
// [begin_bit, end_bit) from `in` to `out`, both device allocations (checked).
cudaError_t radix_sort_keys(const void* in, void* out, size_t bytes, int n, int begin_bit, int end_bit);
}  // namespace genrm_sim

namespace cub {

template <class T>
struct DoubleBuffer {
  T* d_buffers[2];
  int selector;
  DoubleBuffer() : d_buffers{nullptr, nullptr}, selector(0) {}
  DoubleBuffer(T* current, T* alternate) : d_buffers{current, alternate}, selector(0) {}
  T* Current() { return d_buffers[selector]; }
  T* Alternate() { return d_buffers[selector ^ 1]; }
};

struct DeviceRadixSort {
  template <class K>
  static cudaError_t SortKeys(void* temp, size_t& temp_bytes, DoubleBuffer<K>& keys, int n, int begin_bit = 0,
                              int end_bit = sizeof(K) * 8, cudaStream_t = nullptr) {
    static_assert(std::is_unsigned_v<K>, "the simulator sorts unsigned keys");
    if (temp == nullptr) {
      temp_bytes = 256;
      return cudaSuccess;
    }
    if (n < 0 || begin_bit < 0 || end_bit > static_cast<int>(sizeof(K) * 8) || begin_bit > end_bit)
      return cudaErrorInvalidValue;
    const cudaError_t e =
        genrm_sim::radix_sort_keys(keys.Current(), keys.Alternate(), sizeof(K), n, begin_bit, end_bit);
    if (e == cudaSuccess) keys.selector ^= 1;
    return e;
  }
};

template <class T, int kBlockThreads>
class BlockScan {
 public:
  struct TempStorage {
    T in[kBlockThreads];
    T out[kBlockThreads];
    T total;
  };
  explicit BlockScan(TempStorage& s) : s_(s) {}
  void ExclusiveSum(T input, T& output) {
    T total;
    ExclusiveSum(input, output, total);
  }
  void ExclusiveSum(T input, T& output, T& block_total) {
    scan(input);
    output = s_.out[me()];
    block_total = s_.total;
  }
  void InclusiveSum(T input, T& output) {
    scan(input);
    output = s_.out[me()] + input;
  }

 private:
  TempStorage& s_;
  static int me() { return genrm_sim::g_thread->linear; }
  void scan(T input) {
    if (static_cast<int>(blockDim.x * blockDim.y * blockDim.z) != kBlockThreads)
      genrm_sim::fault("cub::BlockScan used by a block whose size is not its template's");
    s_.in[me()] = input;
    __syncthreads();
    if (me() == 0) {
      T run{};
      for (int i = 0; i < kBlockThreads; ++i) {
        s_.out[i] = run;
        run = run + s_.in[i];
      }
      s_.total = run;
    }
    __syncthreads();
  }
};

}  // namespace cub
