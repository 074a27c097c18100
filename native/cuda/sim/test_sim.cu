// The CUDA simulator's own cases: its checks must fire when a kernel breaks the
// rules, and its emulation must compute what the hardware computes. Compiled for
// the simulator only (genrm_cuda_sim_tests), never by nvcc: several kernels here
// deadlock or fault on purpose and would hang or kill a real GPU context.
//
// Every faulting launch is followed by the same steps: the launch error is
// reported (cudaDeviceSynchronize, then cudaGetLastError, with the expected
// name), reading it clears it, and a correct launch afterwards runs and writes
// what it should. The simulator prints one diagnostic line per fault to stderr;
// that is expected here. Outputs start poisoned (0xff bytes), so an element a
// kernel never wrote shows.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cub/cub.cuh>
#include <random>
#include <string>
#include <vector>

#include "../ptx.cuh"
#include "harness.h"
#include "util.h"

namespace {

using genrm::test::fail;
constexpr unsigned kFull = 0xffffffffu;

// A device buffer: poisoned (every byte 0xff) or a copy of a host vector.
template <typename T>
struct Buf {
  T* p = nullptr;
  size_t n = 0;
  explicit Buf(size_t count) : n(count) {
    if (cudaMalloc(&p, sizeof(T) * (n ? n : 1)) != cudaSuccess) fail(__FILE__, __LINE__, "cudaMalloc failed");
    if (cudaMemset(p, 0xff, sizeof(T) * n) != cudaSuccess) fail(__FILE__, __LINE__, "cudaMemset failed");
  }
  explicit Buf(const std::vector<T>& h) : n(h.size()) {
    if (cudaMalloc(&p, sizeof(T) * (n ? n : 1)) != cudaSuccess) fail(__FILE__, __LINE__, "cudaMalloc failed");
    if (cudaMemcpy(p, h.data(), sizeof(T) * n, cudaMemcpyHostToDevice) != cudaSuccess)
      fail(__FILE__, __LINE__, "upload failed");
  }
  ~Buf() { cudaFree(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  std::vector<T> host() const {
    std::vector<T> h(n);
    const cudaError_t e = cudaMemcpy(h.data(), p, sizeof(T) * n, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) fail(__FILE__, __LINE__, std::string("download failed: ") + cudaGetErrorName(e));
    return h;
  }
};

void expect_code(cudaError_t got, cudaError_t want, const char* what, const char* file, int line) {
  if (got != want)
    fail(file, line, std::string(what) + ": got " + cudaGetErrorName(got) + ", want " + cudaGetErrorName(want));
}
#define EXPECT_CODE(call, want) expect_code((call), (want), #call, __FILE__, __LINE__)

template <typename T>
bool all_bytes(const std::vector<T>& v, unsigned char b) {
  const unsigned char* c = reinterpret_cast<const unsigned char*>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(T); ++i)
    if (c[i] != b) return false;
  return true;
}

// A correct kernel with a barrier and warp operations: thread i of the grid
// writes 3 i + 1 (the two shuffles undo each other).
__global__ void probe_kernel(int* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  int v = i * 3 + 1;
  v = __shfl_xor_sync(kFull, v, 1);
  __syncthreads();
  v = __shfl_xor_sync(kFull, v, 1);
  if (i < n) out[i] = v;
}

// Whether a correct launch runs after whatever came before.
void expect_device_usable(const char* file, int line) {
  const int n = 100;
  Buf<int> out(n);
  probe_kernel<<<4, 32>>>(out.p, n);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail(file, line, std::string("the following correct launch failed: ") + cudaGetErrorName(e));
  expect_code(cudaDeviceSynchronize(), cudaSuccess, "cudaDeviceSynchronize after the correct launch", file, line);
  const std::vector<int> got = out.host();
  for (int i = 0; i < n; ++i)
    if (got[i] != 3 * i + 1) {
      fail(file, line, "the following correct launch wrote " + std::to_string(got[i]) + " at " + std::to_string(i));
      break;
    }
}

// The launch just made failed with `want` (whose name is `want_name`): the
// error reaches cudaDeviceSynchronize and cudaGetLastError, reading it clears
// it, and the device runs a correct launch afterwards.
void expect_launch_fails(cudaError_t want, const char* want_name, const char* file, int line) {
  expect_code(cudaDeviceSynchronize(), want, "cudaDeviceSynchronize after the faulty launch", file, line);
  const cudaError_t last = cudaGetLastError();
  expect_code(last, want, "cudaGetLastError after the faulty launch", file, line);
  if (std::string(cudaGetErrorName(last)) != want_name)
    fail(file, line, std::string("cudaGetErrorName: ") + cudaGetErrorName(last) + ", want " + want_name);
  expect_code(cudaGetLastError(), cudaSuccess, "cudaGetLastError read a second time", file, line);
  expect_code(cudaDeviceSynchronize(), cudaSuccess, "cudaDeviceSynchronize once the error was read", file, line);
  expect_device_usable(file, line);
}
#define EXPECT_LAUNCH_FAILS(code) expect_launch_fails(code, #code, __FILE__, __LINE__)

// A launch the runtime refuses up front (its configuration): reported by
// cudaGetLastError only; the device has nothing to report at a synchronize.
void expect_launch_refused(cudaError_t want, const char* file, int line) {
  expect_code(cudaDeviceSynchronize(), cudaSuccess, "cudaDeviceSynchronize after the refused launch", file, line);
  expect_code(cudaGetLastError(), want, "cudaGetLastError after the refused launch", file, line);
  expect_code(cudaGetLastError(), cudaSuccess, "cudaGetLastError read a second time", file, line);
  expect_device_usable(file, line);
}
#define EXPECT_LAUNCH_REFUSED(code) expect_launch_refused(code, __FILE__, __LINE__)

void expect_launch_ok(const char* file, int line) {
  expect_code(cudaGetLastError(), cudaSuccess, "cudaGetLastError after a correct launch", file, line);
  expect_code(cudaDeviceSynchronize(), cudaSuccess, "cudaDeviceSynchronize after a correct launch", file, line);
}
#define EXPECT_LAUNCH_OK() expect_launch_ok(__FILE__, __LINE__)

// Clears what an earlier case may have left, so that each case starts clean.
void fresh() { cudaGetLastError(); }

// ---------------------------------------------------------------------------
// Deadlocks and divergent warp operations

__global__ void barrier_vs_shuffle_kernel(int* out) {
  int v = static_cast<int>(threadIdx.x);
  if (threadIdx.x == 0) {
    __syncthreads();  // the other 31 lanes wait at the shuffle for lane 0: neither can go on
  } else {
    v = __shfl_xor_sync(kFull, v, 1);
  }
  out[threadIdx.x] = v;
}

// Two warps: warp 1 reaches the barrier, warp 0 waits at a ballot lane 0 never joins.
__global__ void two_warp_deadlock_kernel(int* out) {
  int v = static_cast<int>(threadIdx.x);
  if (threadIdx.x >= 32 || threadIdx.x == 0) {
    __syncthreads();
  } else {
    v = static_cast<int>(__ballot_sync(kFull, v & 1));
  }
  out[threadIdx.x] = v;
}

TEST(cuda_sim_deadlock_is_a_launch_failure_not_a_hang) {
  fresh();
  Buf<int> out(64);
  barrier_vs_shuffle_kernel<<<1, 32>>>(out.p);
  EXPECT_LAUNCH_FAILS(cudaErrorLaunchFailure);
  CHECK(all_bytes(out.host(), 0xff));  // nothing past the deadlock ran
  two_warp_deadlock_kernel<<<2, 64>>>(out.p);
  EXPECT_LAUNCH_FAILS(cudaErrorLaunchFailure);
}

__global__ void shuffle_vs_ballot_kernel(int* out) {
  int v = static_cast<int>(threadIdx.x);
  if (threadIdx.x < 16)
    v = __shfl_xor_sync(kFull, v, 1);
  else
    v = static_cast<int>(__ballot_sync(kFull, v & 1));
  out[threadIdx.x] = v;
}

__global__ void xor_vs_down_kernel(int* out) {
  int v = static_cast<int>(threadIdx.x);
  if (threadIdx.x % 2 == 0)
    v = __shfl_xor_sync(kFull, v, 1);
  else
    v = __shfl_down_sync(kFull, v, 1);
  out[threadIdx.x] = v;
}

// A partial mask is legal CUDA; the simulator refuses it (README: genrm uses full masks only).
__global__ void partial_mask_kernel(int* out) {
  int v = static_cast<int>(threadIdx.x);
  if (threadIdx.x < 16) v = __shfl_xor_sync(0x0000ffffu, v, 1);
  out[threadIdx.x] = v;
}

TEST(cuda_sim_lanes_meeting_at_different_warp_operations_fail) {
  fresh();
  Buf<int> out(32);
  shuffle_vs_ballot_kernel<<<1, 32>>>(out.p);
  EXPECT_LAUNCH_FAILS(cudaErrorLaunchFailure);
  xor_vs_down_kernel<<<1, 32>>>(out.p);  // two shuffles, but not the same one
  EXPECT_LAUNCH_FAILS(cudaErrorLaunchFailure);
  partial_mask_kernel<<<1, 32>>>(out.p);
  EXPECT_LAUNCH_FAILS(cudaErrorLaunchFailure);
}

__global__ void shuffle_after_return_kernel(int* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(kFull, static_cast<int>(threadIdx.x), 1);
}

__global__ void syncwarp_after_return_kernel(int* out) {
  if (threadIdx.x % 8 == 7) return;
  __syncwarp();
  out[threadIdx.x] = 1;
}

// Legal: warp 1 leaves as a whole, warp 0 then meets at the barrier alone.
__global__ void barrier_after_whole_warp_returned_kernel(int* out) {
  if (threadIdx.x >= 32) return;
  out[threadIdx.x] = 5;
  __syncthreads();
  const int v = out[31 - threadIdx.x];
  __syncthreads();
  out[threadIdx.x] = v + 1;
}

TEST(cuda_sim_warp_operation_after_lanes_returned_fails) {
  fresh();
  Buf<int> out(64);
  shuffle_after_return_kernel<<<1, 32>>>(out.p);
  EXPECT_LAUNCH_FAILS(cudaErrorLaunchFailure);
  syncwarp_after_return_kernel<<<1, 32>>>(out.p);
  EXPECT_LAUNCH_FAILS(cudaErrorLaunchFailure);
  Buf<int> ok(64);
  barrier_after_whole_warp_returned_kernel<<<1, 64>>>(ok.p);
  EXPECT_LAUNCH_OK();
  const std::vector<int> got = ok.host();
  for (int i = 0; i < 32; ++i) CHECK(got[i] == 6);
  CHECK(all_bytes(std::vector<int>(got.begin() + 32, got.end()), 0xff));
}

// ---------------------------------------------------------------------------
// Launch configuration and shared memory

__global__ void index_kernel(int* out, int n) {
  const long long i = (static_cast<long long>(blockIdx.y) * gridDim.x + blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = static_cast<int>(i);
}

// Every byte of the dynamic shared memory: poisoned at first, then written by
// one thread and read back by another.
__global__ void dynamic_smem_kernel(unsigned char* out, int bytes, int* not_poisoned) {
  extern __shared__ unsigned char dyn[];
  int bad = 0;
  for (int i = threadIdx.x; i < bytes; i += blockDim.x) {
    if (dyn[i] != 0xff) ++bad;
    dyn[i] = static_cast<unsigned char>(i * 131 + (i >> 8) + 7);
  }
  __syncthreads();
  for (int i = threadIdx.x; i < bytes; i += blockDim.x) out[bytes - 1 - i] = dyn[bytes - 1 - i];
  not_poisoned[threadIdx.x] = bad;
}

__global__ void big_static_smem_kernel(int* out) {
  __shared__ unsigned char big[50000];  // over the 48 KiB of static shared memory
  big[threadIdx.x] = 1;
  out[threadIdx.x] = big[threadIdx.x];
}

// 40 KiB static: fine alone, over 48 KiB with 16 KiB of dynamic shared memory.
__global__ void static_plus_dynamic_kernel(int* out) {
  __shared__ unsigned char part[40 * 1024];
  part[threadIdx.x] = 2;
  out[threadIdx.x] = part[threadIdx.x];
}

TEST(cuda_sim_launch_configuration_is_checked) {
  fresh();
  const int n = 64;
  Buf<int> out(n);
  index_kernel<<<1, 2048>>>(out.p, n);
  EXPECT_LAUNCH_REFUSED(cudaErrorInvalidConfiguration);
  index_kernel<<<1, dim3(1, 1, 65)>>>(out.p, n);  // 65 threads, but z is at most 64
  EXPECT_LAUNCH_REFUSED(cudaErrorInvalidConfiguration);
  index_kernel<<<dim3(1, 70000), 32>>>(out.p, n);
  EXPECT_LAUNCH_REFUSED(cudaErrorInvalidConfiguration);
  index_kernel<<<0, 32>>>(out.p, n);
  EXPECT_LAUNCH_REFUSED(cudaErrorInvalidConfiguration);
  CHECK(all_bytes(out.host(), 0xff));            // none of them ran
  index_kernel<<<dim3(1, 2), 1024>>>(out.p, n);  // the limits themselves are fine
  EXPECT_LAUNCH_OK();
  const std::vector<int> got = out.host();
  for (int i = 0; i < n; ++i) CHECK(got[i] == i);

  big_static_smem_kernel<<<1, 32>>>(out.p);
  EXPECT_LAUNCH_FAILS(cudaErrorLaunchOutOfResources);
  static_plus_dynamic_kernel<<<1, 32>>>(out.p);
  EXPECT_LAUNCH_OK();
  static_plus_dynamic_kernel<<<1, 32, 16 * 1024>>>(out.p);
  EXPECT_LAUNCH_FAILS(cudaErrorLaunchOutOfResources);
}

TEST(cuda_sim_dynamic_shared_memory_over_48k_needs_the_attribute) {
  fresh();
  const int bytes = 64 * 1024, threads = 256;
  Buf<unsigned char> out(bytes);
  Buf<int> not_poisoned(threads);
  dynamic_smem_kernel<<<1, threads, bytes>>>(out.p, bytes, not_poisoned.p);
  EXPECT_LAUNCH_REFUSED(cudaErrorInvalidValue);
  CHECK(all_bytes(out.host(), 0xff));
  // Above H100's opt-in limit (227 KiB) the attribute itself is refused.
  EXPECT_CODE(cudaFuncSetAttribute(dynamic_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 300000),
              cudaErrorInvalidValue);
  EXPECT_CODE(cudaFuncSetAttribute(dynamic_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
              cudaSuccess);
  dynamic_smem_kernel<<<1, threads, bytes>>>(out.p, bytes, not_poisoned.p);
  EXPECT_LAUNCH_OK();
  const std::vector<unsigned char> got = out.host();
  int wrong = 0;
  for (int i = 0; i < bytes; ++i) wrong += got[i] != static_cast<unsigned char>(i * 131 + (i >> 8) + 7);
  CHECK(wrong == 0);
  for (int b : not_poisoned.host()) CHECK(b == 0);
  // One byte more than the attribute allows fails again.
  dynamic_smem_kernel<<<1, threads, bytes + 1>>>(out.p, bytes, not_poisoned.p);
  EXPECT_LAUNCH_REFUSED(cudaErrorInvalidValue);
}

// Bits of `out` per thread: 1, 2, 4: the two static arrays and the dynamic
// one were all 0xff at first; 8, 16, 32: after the barrier each holds what this
// block wrote (another thread's element, read back).
__global__ void shared_per_block_kernel(unsigned* out) {
  __shared__ unsigned a[64];
  __shared__ unsigned b[64];
  extern __shared__ unsigned dyn_words[];
  const unsigned t = threadIdx.x, blk = blockIdx.x;
  unsigned ok = 0;
  if (a[t] == 0xffffffffu) ok |= 1;
  if (b[t] == 0xffffffffu) ok |= 2;
  if (dyn_words[t] == 0xffffffffu) ok |= 4;
  __syncthreads();
  a[t] = blk;
  b[t] = 1000 + blk;
  dyn_words[t] = 2000 + blk;
  __syncthreads();
  const unsigned u = (t + 1) % 64;
  if (a[u] == blk) ok |= 8;
  if (b[u] == 1000 + blk) ok |= 16;
  if (dyn_words[u] == 2000 + blk) ok |= 32;
  out[blk * 64 + t] = ok;
}

TEST(cuda_sim_shared_memory_is_poisoned_and_private_to_each_block) {
  fresh();
  const int blocks = 5;
  Buf<unsigned> out(blocks * 64);
  shared_per_block_kernel<<<blocks, 64, 64 * sizeof(unsigned)>>>(out.p);
  EXPECT_LAUNCH_OK();
  const std::vector<unsigned> got = out.host();
  for (int i = 0; i < blocks * 64; ++i)
    if (got[i] != 63u) {
      fail(__FILE__, __LINE__,
           "block " + std::to_string(i / 64) + " thread " + std::to_string(i % 64) + ": check bits " +
               std::to_string(got[i]) + ", want 63");
      break;
    }
}

// ---------------------------------------------------------------------------
// cp.async

// Thread i copies 16 bytes into its own chunk of three tiles: tile 0 in group
// A, tile 1 in group B, tile 2 (tail_bytes from the source) left uncommitted at
// first. `seen` gets the thread's three chunks (48 bytes) at four points: 0
// before any wait, 1 after wait<1>, 2 after wait<0>, 3 after committing and
// waiting for the last copy.
__global__ void cp_async_groups_kernel(const unsigned char* src, int tail_bytes, unsigned char* seen) {
  using namespace genrm::cuda;
  __shared__ __align__(16) unsigned char t0[32 * 16];
  __shared__ __align__(16) unsigned char t1[32 * 16];
  __shared__ __align__(16) unsigned char t2[32 * 16];
  const int i = threadIdx.x;
  auto snapshot = [&](int step) {
    unsigned char* s = seen + (step * 32 + i) * 48;
    for (int k = 0; k < 16; ++k) {
      s[k] = t0[16 * i + k];
      s[16 + k] = t1[16 * i + k];
      s[32 + k] = t2[16 * i + k];
    }
  };
  cp_async16(smem_u32(t0 + 16 * i), src + 16 * i, 16);
  cp_async_commit();
  cp_async16(smem_u32(t1 + 16 * i), src + 512 + 16 * i, 16);
  cp_async_commit();
  cp_async16(smem_u32(t2 + 16 * i), src + 1024 + 16 * i, tail_bytes);
  snapshot(0);
  cp_async_wait<1>();
  snapshot(1);
  cp_async_wait<0>();  // does not cover the uncommitted copy
  snapshot(2);
  cp_async_commit();
  cp_async_wait<0>();
  snapshot(3);
}

// One copy by thread 0 into a 64-byte tile at dst_offset, read back into out[0..16).
__global__ void cp_async_one_kernel(const unsigned char* src, int src_bytes, int dst_offset, unsigned char* out) {
  using namespace genrm::cuda;
  __shared__ __align__(16) unsigned char tile[64];
  if (threadIdx.x != 0) return;
  cp_async16(smem_u32(tile) + dst_offset, src, src_bytes);
  cp_async_commit();
  cp_async_wait<0>();
  for (int k = 0; k < 16; ++k) out[k] = tile[dst_offset + k];
}

TEST(cuda_sim_cp_async_lands_at_the_wait_zero_fills_and_checks_its_source) {
  fresh();
  std::vector<unsigned char> src_h(1536);
  for (size_t k = 0; k < src_h.size(); ++k) src_h[k] = static_cast<unsigned char>(k * 37 + (k >> 7) + 1);
  Buf<unsigned char> src(src_h);
  for (int tail : {16, 5, 0}) {
    Buf<unsigned char> seen(4 * 32 * 48);
    cp_async_groups_kernel<<<1, 32>>>(src.p, tail, seen.p);
    EXPECT_LAUNCH_OK();
    const std::vector<unsigned char> got = seen.host();
    int wrong[4] = {0, 0, 0, 0};
    for (int step = 0; step < 4; ++step)
      for (int i = 0; i < 32; ++i)
        for (int tile = 0; tile < 3; ++tile)
          for (int k = 0; k < 16; ++k) {
            const unsigned char data = src_h[512 * tile + 16 * i + k];
            // Which copies have landed by this step: group A at 1, B at 2, the tail at 3.
            const bool landed = step > tile;
            const unsigned char want = !landed ? 0xff : tile < 2 || k < tail ? data : 0;
            wrong[step] += got[(step * 32 + i) * 48 + 16 * tile + k] != want;
          }
    for (int step = 0; step < 4; ++step)
      if (wrong[step])
        fail(__FILE__, __LINE__,
             "tail " + std::to_string(tail) + ", step " + std::to_string(step) + ": " + std::to_string(wrong[step]) +
                 " bytes differ from the expected");
  }

  // 72 tracked bytes: 16 at offset 64 run past the end, 8 do not (the rest is zero-filled).
  Buf<unsigned char> small(std::vector<unsigned char>(src_h.begin(), src_h.begin() + 72));
  Buf<unsigned char> out(16);
  cp_async_one_kernel<<<1, 32>>>(small.p + 64, 8, 16, out.p);
  EXPECT_LAUNCH_OK();
  const std::vector<unsigned char> got = out.host();
  for (int k = 0; k < 16; ++k) CHECK(got[k] == (k < 8 ? src_h[64 + k] : 0));

  cp_async_one_kernel<<<1, 32>>>(small.p + 64, 16, 16, out.p);
  EXPECT_LAUNCH_FAILS(cudaErrorIllegalAddress);
  cp_async_one_kernel<<<1, 32>>>(small.p + 8, 16, 16, out.p);  // 8-byte aligned only
  EXPECT_LAUNCH_FAILS(cudaErrorMisalignedAddress);
  alignas(16) static unsigned char host_bytes[64] = {};
  cp_async_one_kernel<<<1, 32>>>(host_bytes, 16, 16, out.p);  // host memory, not a device allocation
  EXPECT_LAUNCH_FAILS(cudaErrorIllegalAddress);
  cp_async_one_kernel<<<1, 32>>>(small.p, 16, 8, out.p);  // shared destination not 16-byte aligned
  EXPECT_LAUNCH_FAILS(cudaErrorMisalignedAddress);
  cp_async_one_kernel<<<1, 32>>>(small.p, 16, 64, out.p);  // shared destination past the tile
  EXPECT_LAUNCH_FAILS(cudaErrorIllegalAddress);
  cp_async_one_kernel<<<1, 32>>>(small.p, 17, 0, out.p);  // a source size over 16
  EXPECT_LAUNCH_FAILS(cudaErrorLaunchFailure);
}

// ---------------------------------------------------------------------------
// ldmatrix and mma against a plain product

// One warp. A (16 x 16, row-major), B as k x n (16 x 16, n contiguous) and as
// n x k (k contiguous), all bf16 bits, C fp32 (16 x 16). Each path computes
// D = C + A B for the two 8-column halves of B:
//   d_trans:  A by ldmatrix.x4, B (k x n) by ldmatrix.x4.trans
//   d_plain:  A by ldmatrix.x4, B (n x k) by ldmatrix.x4
//   d_direct: fragments built in registers from the PTX ISA tables (mma alone)
// frags[lane * 12 + r]: the registers A (4), B by .trans (4), B plain (4).
__global__ void mma_kernel(const uint16_t* a, const uint16_t* b_kn, const uint16_t* b_nk, const float* c,
                           float* d_trans, float* d_plain, float* d_direct, uint32_t* frags) {
  using namespace genrm::cuda;
  __shared__ __align__(16) uint16_t as[16 * 16];
  __shared__ __align__(16) uint16_t bkn[16 * 16];
  __shared__ __align__(16) uint16_t bnk[16 * 16];
  const int lane = threadIdx.x, g = lane / 4, t = lane % 4;
  for (int i = lane; i < 256; i += 32) {
    as[i] = a[i];
    bkn[i] = b_kn[i];
    bnk[i] = b_nk[i];
  }
  __syncthreads();
  uint32_t fa[4], fbt[4], fb[4];
  ldsm_x4(fa, smem_u32(&as[(lane % 16) * 16 + (lane / 16) * 8]));
  ldsm_x4_trans(fbt, smem_u32(&bkn[(lane % 16) * 16 + (lane / 16) * 8]));
  ldsm_x4(fb, smem_u32(&bnk[((lane / 16) * 8 + lane % 8) * 16 + ((lane / 8) % 2) * 8]));
  for (int r = 0; r < 4; ++r) {
    frags[lane * 12 + r] = fa[r];
    frags[lane * 12 + 4 + r] = fbt[r];
    frags[lane * 12 + 8 + r] = fb[r];
  }
  auto pack = [](uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | static_cast<uint32_t>(hi) << 16; };
  uint32_t da[4];
  da[0] = pack(a[g * 16 + 2 * t], a[g * 16 + 2 * t + 1]);
  da[1] = pack(a[(g + 8) * 16 + 2 * t], a[(g + 8) * 16 + 2 * t + 1]);
  da[2] = pack(a[g * 16 + 2 * t + 8], a[g * 16 + 2 * t + 9]);
  da[3] = pack(a[(g + 8) * 16 + 2 * t + 8], a[(g + 8) * 16 + 2 * t + 9]);
  for (int h = 0; h < 2; ++h) {
    const int n = 8 * h + g;
    const uint32_t db0 = pack(b_kn[(2 * t) * 16 + n], b_kn[(2 * t + 1) * 16 + n]);
    const uint32_t db1 = pack(b_kn[(2 * t + 8) * 16 + n], b_kn[(2 * t + 9) * 16 + n]);
    float acc_t[4], acc_p[4], acc_d[4];
    int at[4];
    for (int i = 0; i < 4; ++i) {
      at[i] = (g + (i >= 2 ? 8 : 0)) * 16 + 8 * h + 2 * t + (i & 1);
      acc_t[i] = acc_p[i] = acc_d[i] = c[at[i]];
    }
    mma_bf16(acc_t, fa, fbt[2 * h], fbt[2 * h + 1]);
    mma_bf16(acc_p, fa, fb[2 * h], fb[2 * h + 1]);
    mma_bf16(acc_d, da, db0, db1);
    for (int i = 0; i < 4; ++i) {
      d_trans[at[i]] = acc_t[i];
      d_plain[at[i]] = acc_p[i];
      d_direct[at[i]] = acc_d[i];
    }
  }
}

TEST(cuda_sim_ldmatrix_and_mma_match_a_plain_product) {
  fresh();
  using genrm::test::from_bf16_bits;
  using genrm::test::to_bf16_bits;
  const std::vector<uint16_t> a = to_bf16_bits(genrm::test::randn(256, 71)),
                              b_kn = to_bf16_bits(genrm::test::randn(256, 72));
  const std::vector<float> c = genrm::test::randn(256, 73);
  std::vector<uint16_t> b_nk(256);
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 16; ++n) b_nk[n * 16 + k] = b_kn[k * 16 + n];
  Buf<uint16_t> a_d(a), bkn_d(b_kn), bnk_d(b_nk);
  Buf<float> c_d(c), dt(256), dp(256), dd(256);
  Buf<uint32_t> frags(32 * 12);
  mma_kernel<<<1, 32>>>(a_d.p, bkn_d.p, bnk_d.p, c_d.p, dt.p, dp.p, dd.p, frags.p);
  EXPECT_LAUNCH_OK();

  // The fragments, register by register, from the PTX ISA tables.
  const std::vector<uint32_t> fr = frags.host();
  auto A = [&](int m, int k) { return static_cast<uint32_t>(a[m * 16 + k]); };
  auto B = [&](int k, int n) { return static_cast<uint32_t>(b_kn[k * 16 + n]); };
  int wrong_a = 0, wrong_bt = 0, wrong_b = 0;
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    const uint32_t wa[4] = {A(g, 2 * t) | A(g, 2 * t + 1) << 16, A(g + 8, 2 * t) | A(g + 8, 2 * t + 1) << 16,
                            A(g, 2 * t + 8) | A(g, 2 * t + 9) << 16, A(g + 8, 2 * t + 8) | A(g + 8, 2 * t + 9) << 16};
    for (int r = 0; r < 4; ++r) {
      const int n = 8 * (r / 2) + g, k0 = 2 * t + 8 * (r % 2);
      const uint32_t wb = B(k0, n) | B(k0 + 1, n) << 16;
      wrong_a += fr[lane * 12 + r] != wa[r];
      wrong_bt += fr[lane * 12 + 4 + r] != wb;
      wrong_b += fr[lane * 12 + 8 + r] != wb;
    }
  }
  CHECK(wrong_a == 0);
  CHECK(wrong_bt == 0);
  CHECK(wrong_b == 0);

  // D = C + A B in double, from the same bf16 values.
  std::vector<double> want(256), scale(256);
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 16; ++n) {
      double s = c[m * 16 + n], mag = std::fabs(s);
      for (int k = 0; k < 16; ++k) {
        const double p = static_cast<double>(from_bf16_bits(a[m * 16 + k])) * from_bf16_bits(b_kn[k * 16 + n]);
        s += p;
        mag += std::fabs(p);
      }
      want[m * 16 + n] = s;
      scale[m * 16 + n] = mag;
    }
  const char* names[3] = {"ldmatrix.trans path", "ldmatrix path", "register fragments"};
  const std::vector<float> got[3] = {dt.host(), dp.host(), dd.host()};
  for (int path = 0; path < 3; ++path) {
    int bad = 0, first = -1;
    for (int i = 0; i < 256; ++i)
      if (!(std::fabs(got[path][i] - want[i]) <= 1e-5 * scale[i])) {  // relative to sum |terms|; NaN fails
        ++bad;
        if (first < 0) first = i;
      }
    if (bad)
      fail(__FILE__, __LINE__,
           std::string(names[path]) + ": " + std::to_string(bad) + " of 256 outputs wrong, first D[" +
               std::to_string(first / 16) + "][" + std::to_string(first % 16) +
               "] = " + std::to_string(got[path][first]) + ", want " + std::to_string(want[first]));
  }
}

__global__ void ldmatrix_misaligned_kernel(float* out) {
  using namespace genrm::cuda;
  __shared__ __align__(16) uint16_t as[16 * 16];
  for (int i = threadIdx.x; i < 256; i += 32) as[i] = 0;
  __syncthreads();
  uint32_t r[4];
  ldsm_x4(r, smem_u32(&as[(threadIdx.x % 16) * 16 + 4]));  // rows start 8 bytes into a 16-byte line
  out[threadIdx.x] = static_cast<float>(r[0]);
}

TEST(cuda_sim_ldmatrix_rows_must_be_16_byte_aligned) {
  fresh();
  Buf<float> out(32);
  ldmatrix_misaligned_kernel<<<1, 32>>>(out.p);
  EXPECT_LAUNCH_FAILS(cudaErrorMisalignedAddress);
}

// ---------------------------------------------------------------------------
// Warp shuffles and votes

// out[lane * 10 + j]: the results below, for v = 100 + lane.
__global__ void shuffle_kernel(int* out, double* out_d, long long* out_l, int* out_x) {
  const int lane = threadIdx.x, v = 100 + lane;
  int* o = out + lane * 10;
  o[0] = __shfl_sync(kFull, v, 3, 8);       // lane 3 of the caller's 8-lane segment
  o[1] = __shfl_sync(kFull, v, 13, 8);      // the source lane wraps within the segment: 13 % 8
  o[2] = __shfl_down_sync(kFull, v, 3, 8);  // past the segment's end: the caller's own value
  o[3] = __shfl_up_sync(kFull, v, 2, 8);    // before the segment's start: the caller's own value
  o[4] = __shfl_xor_sync(kFull, v, 5, 8);
  o[5] = __shfl_sync(kFull, v, 31 - lane);
  o[6] = __shfl_down_sync(kFull, v, 4);  // width 32: past lane 31, the caller's own value
  o[7] = static_cast<int>(__ballot_sync(kFull, lane % 3 == 0));
  o[8] = __any_sync(kFull, lane == 7) + 2 * __any_sync(kFull, lane > 40);
  o[9] = __all_sync(kFull, lane < 32) + 2 * __all_sync(kFull, lane < 31);
  __syncwarp();
  out_d[lane] = __shfl_xor_sync(kFull, lane + 0.25, 16);
  out_l[lane] = __shfl_down_sync(kFull, static_cast<long long>(lane) << 40, 1);
  // A butterfly partner in an earlier segment is valid (PTX: a source lane is
  // invalid only past the end of the caller's segment); only 5 bits of the mask count.
  out_x[lane] = __shfl_xor_sync(kFull, v, 16, 16);
  out_x[32 + lane] = __shfl_xor_sync(kFull, v, 33);
}

TEST(cuda_sim_shuffles_with_segments_and_ballot) {
  fresh();
  Buf<int> out(320);
  Buf<double> out_d(32);
  Buf<long long> out_l(32);
  Buf<int> out_x(64);
  shuffle_kernel<<<1, 32>>>(out.p, out_d.p, out_l.p, out_x.p);
  EXPECT_LAUNCH_OK();
  const std::vector<int> got = out.host();
  const std::vector<double> got_d = out_d.host();
  const std::vector<long long> got_l = out_l.host();
  const std::vector<int> got_x = out_x.host();
  unsigned ballot = 0;
  for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
  int wrong[10] = {};
  for (int lane = 0; lane < 32; ++lane) {
    const int base = lane & ~7, v = 100 + lane;
    const int want[10] = {100 + base + 3,
                          100 + base + 5,
                          lane + 3 < base + 8 ? v + 3 : v,
                          lane - 2 >= base ? v - 2 : v,
                          100 + (lane ^ 5),
                          100 + 31 - lane,
                          lane + 4 < 32 ? v + 4 : v,
                          static_cast<int>(ballot),
                          1,
                          1};
    for (int j = 0; j < 10; ++j) wrong[j] += got[lane * 10 + j] != want[j];
    CHECK(got_d[lane] == (lane ^ 16) + 0.25);
    CHECK(got_l[lane] == static_cast<long long>(lane < 31 ? lane + 1 : lane) << 40);
    CHECK(got_x[lane] == 100 + (lane >= 16 ? lane - 16 : lane));
    CHECK(got_x[32 + lane] == 100 + (lane ^ 1));
  }
  for (int j = 0; j < 10; ++j)
    if (wrong[j])
      fail(__FILE__, __LINE__, "result " + std::to_string(j) + ": " + std::to_string(wrong[j]) + " lanes wrong");
}

// ---------------------------------------------------------------------------
// CUB

TEST(cuda_sim_radix_sort_uses_only_the_bit_range_and_is_stable) {
  fresh();
  const int n = 1000;
  std::mt19937 rng(5);
  // Bits 0-3 noise, 4-11 the field sorted on, 12 and up the input position:
  // sorting the whole key would keep the input order, sorting bits 0-11 would
  // reorder equal fields by the noise, an unstable sort would reorder them anyhow.
  std::vector<uint32_t> keys(n);
  for (int i = 0; i < n; ++i) keys[i] = static_cast<uint32_t>(i) << 12 | (rng() % 40) << 4 | (rng() & 15u);
  std::vector<uint32_t> want = keys;
  std::stable_sort(want.begin(), want.end(), [](uint32_t x, uint32_t y) { return (x >> 4 & 255u) < (y >> 4 & 255u); });
  Buf<uint32_t> in(keys), alt(n);
  cub::DoubleBuffer<uint32_t> db(in.p, alt.p);
  size_t temp_bytes = 0;
  EXPECT_CODE(cub::DeviceRadixSort::SortKeys(nullptr, temp_bytes, db, n, 4, 12), cudaSuccess);
  Buf<unsigned char> temp(temp_bytes);
  EXPECT_CODE(cub::DeviceRadixSort::SortKeys(temp.p, temp_bytes, db, n, 4, 12), cudaSuccess);
  std::vector<uint32_t> got(n);
  EXPECT_CODE(cudaMemcpy(got.data(), db.Current(), sizeof(uint32_t) * n, cudaMemcpyDeviceToHost), cudaSuccess);
  CHECK(got == want);

  // 64-bit keys on the top bits [40, 64); the low bits count down, so sorting
  // the whole key would put equal fields in reverse input order.
  std::vector<unsigned long long> keys64(n);
  for (int i = 0; i < n; ++i)
    keys64[i] = static_cast<unsigned long long>(rng() % 50) << 40 | static_cast<unsigned>(n - i);
  std::vector<unsigned long long> want64 = keys64;
  std::stable_sort(want64.begin(), want64.end(),
                   [](unsigned long long x, unsigned long long y) { return (x >> 40) < (y >> 40); });
  Buf<unsigned long long> in64(keys64), alt64(n);
  cub::DoubleBuffer<unsigned long long> db64(in64.p, alt64.p);
  EXPECT_CODE(cub::DeviceRadixSort::SortKeys(temp.p, temp_bytes, db64, n, 40, 64), cudaSuccess);
  std::vector<unsigned long long> got64(n);
  EXPECT_CODE(cudaMemcpy(got64.data(), db64.Current(), sizeof(unsigned long long) * n, cudaMemcpyDeviceToHost),
              cudaSuccess);
  CHECK(got64 == want64);
  EXPECT_CODE(cudaGetLastError(), cudaSuccess);
}

// Two scans over one storage per block: (prefix, total) of in, then the prefix of 2 in + 1.
__global__ void block_scan_kernel(const double* in, double* prefix, double* total, double* prefix2) {
  using Scan = cub::BlockScan<double, 256>;
  __shared__ Scan::TempStorage storage;
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  double p = -1, t = -1;
  Scan(storage).ExclusiveSum(in[i], p, t);
  prefix[i] = p;
  total[i] = t;
  __syncthreads();  // the storage is reused
  double q = -1;
  Scan(storage).ExclusiveSum(2 * in[i] + 1, q);
  prefix2[i] = q;
}

TEST(cuda_sim_block_scan_exclusive_sum_with_aggregate) {
  fresh();
  const int blocks = 3, n = blocks * 256;
  std::vector<double> in(n);
  for (int i = 0; i < n; ++i) in[i] = (i / 256 + 1) * ((i * 7) % 13) * 0.5;  // sums stay exact
  Buf<double> in_d(in), prefix(n), total(n), prefix2(n);
  block_scan_kernel<<<blocks, 256>>>(in_d.p, prefix.p, total.p, prefix2.p);
  EXPECT_LAUNCH_OK();
  const std::vector<double> p = prefix.host(), t = total.host(), p2 = prefix2.host();
  int wrong = 0;
  for (int b = 0; b < blocks; ++b) {
    double run = 0, run2 = 0, sum = 0;
    for (int k = 0; k < 256; ++k) sum += in[b * 256 + k];
    for (int k = 0; k < 256; ++k) {
      const int i = b * 256 + k;
      wrong += p[i] != run || t[i] != sum || p2[i] != run2;
      run += in[i];
      run2 += 2 * in[i] + 1;
    }
  }
  CHECK(wrong == 0);
  // A block of another size than the template's is refused.
  block_scan_kernel<<<1, 128>>>(in_d.p, prefix.p, total.p, prefix2.p);
  EXPECT_LAUNCH_FAILS(cudaErrorLaunchFailure);
}

// ---------------------------------------------------------------------------
// The runtime API

// Every thread of every block adds to counters in global and shared memory.
__global__ void atomic_count_kernel(float* total, int* per_block, const float* bad) {
  __shared__ int block_count;
  if (threadIdx.x == 0) block_count = 0;
  __syncthreads();
  atomicAdd(&block_count, 1);
  if (bad) atomicAdd(const_cast<float*>(bad), 1.0f);
  atomicAdd(total, 0.5f);
  __syncthreads();
  if (threadIdx.x == 0) per_block[blockIdx.x] = block_count;
}

TEST(cuda_sim_atomics_add_in_shared_and_global_memory_and_check_the_address) {
  fresh();
  Buf<float> total(std::vector<float>{1.0f});
  Buf<int> per_block(7);
  atomic_count_kernel<<<7, 96>>>(total.p, per_block.p, nullptr);
  EXPECT_LAUNCH_OK();
  CHECK(total.host()[0] == 1.0f + 7 * 96 * 0.5f);
  for (int c : per_block.host()) CHECK(c == 96);
  static float host_value = 0.0f;
  atomic_count_kernel<<<1, 32>>>(total.p, per_block.p, &host_value);  // host memory
  EXPECT_LAUNCH_FAILS(cudaErrorIllegalAddress);
  atomic_count_kernel<<<1, 32>>>(total.p, per_block.p,
                                 reinterpret_cast<const float*>(reinterpret_cast<const char*>(total.p) + 2));
  EXPECT_LAUNCH_FAILS(cudaErrorMisalignedAddress);
}

TEST(cuda_sim_runtime_api_checks_copies_fills_and_frees) {
  fresh();
  const size_t bytes = 100;
  unsigned char* dev = nullptr;
  EXPECT_CODE(cudaMalloc(&dev, bytes), cudaSuccess);
  std::vector<unsigned char> host(bytes, 7), back(bytes, 0), other(bytes, 0);
  EXPECT_CODE(cudaMemcpy(back.data(), dev, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  CHECK(all_bytes(back, 0xff));  // fresh device memory is poisoned

  EXPECT_CODE(cudaMemcpy(other.data(), host.data(), bytes, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_CODE(cudaMemcpy(dev, host.data(), bytes, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_CODE(cudaMemcpy(dev + 1, host.data(), bytes, cudaMemcpyHostToDevice), cudaErrorInvalidValue);  // one past
  EXPECT_CODE(cudaMemset(dev, 0, bytes + 1), cudaErrorInvalidValue);
  EXPECT_CODE(cudaMemset(dev + bytes - 4, 0, 8), cudaErrorInvalidValue);
  EXPECT_CODE(cudaMemset(host.data(), 0, 8), cudaErrorInvalidValue);
  EXPECT_CODE(cudaFree(dev + 16), cudaErrorInvalidValue);
  CHECK(all_bytes(other, 0));  // none of them wrote anything
  CHECK(host == std::vector<unsigned char>(bytes, 7));
  // A refused call does not fail the calls after it, but cudaGetLastError reports it.
  EXPECT_CODE(cudaMemcpy(back.data(), dev, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  CHECK(all_bytes(back, 0xff));
  EXPECT_CODE(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_CODE(cudaGetLastError(), cudaSuccess);

  // Still usable: a round trip through the allocation.
  EXPECT_CODE(cudaMemset(dev, 0x5a, bytes), cudaSuccess);
  EXPECT_CODE(cudaMemcpy(dev + 10, host.data(), 20, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_CODE(cudaMemcpy(back.data(), dev, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  for (size_t k = 0; k < bytes; ++k) CHECK(back[k] == (k >= 10 && k < 30 ? 7 : 0x5a));

  // A failed launch is reported by the next copy until cudaGetLastError reads it.
  Buf<int> out(64);
  barrier_vs_shuffle_kernel<<<1, 32>>>(out.p);
  EXPECT_CODE(cudaMemcpy(back.data(), dev, bytes, cudaMemcpyDeviceToHost), cudaErrorLaunchFailure);
  EXPECT_CODE(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_CODE(cudaMemcpy(back.data(), dev, bytes, cudaMemcpyDeviceToHost), cudaSuccess);

  // Out of (simulated) memory: an error code, recorded, and the device goes on.
  void* huge = nullptr;
  EXPECT_CODE(cudaMalloc(&huge, size_t(1) << 50), cudaErrorMemoryAllocation);
  CHECK(huge == nullptr);
  EXPECT_CODE(cudaGetLastError(), cudaErrorMemoryAllocation);

  EXPECT_CODE(cudaFree(dev), cudaSuccess);
  EXPECT_CODE(cudaFree(dev), cudaErrorInvalidValue);  // freed twice
  EXPECT_CODE(cudaGetLastError(), cudaErrorInvalidValue);
  expect_device_usable(__FILE__, __LINE__);
}

}  // namespace
