// The CUDA simulator's device side: what a .cu unit sees when it is compiled as
// plain C++ for the simulator (force-included before anything else; see
// README.md). Every simulated thread of a block runs as a fiber on the calling
// host thread; __syncthreads and the warp-wide operations are rendezvous points
// where a fiber waits until its block (or warp) has arrived. Misuse that a GPU
// would punish unpredictably (a barrier not every thread reaches, a warp
// operation some lanes skip, shared memory out of range, a misaligned PTX
// operand) stops the launch with a message naming the kernel, block and thread.
#pragma once
#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#ifndef GENRM_SIM
#define GENRM_SIM 1
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

namespace genrm_sim {

// What a simulated thread knows of itself.
struct ThreadInfo {
  uint3 thread_idx, block_idx;
  dim3 block_dim, grid_dim;
  int linear;  // thread index within the block, x fastest
};
extern thread_local const ThreadInfo* g_thread;

// Stops the running launch: prints `what` with the kernel, block and thread,
// and makes the launch report a failure. Never returns to the caller.
[[noreturn]] void fault(const char* what);

void sync_block();
// A warp-wide rendezvous: every live lane of the caller's warp deposits `bytes`
// (at most kSlotBytes) under the same operation name and mask; returns the 32
// lanes' slots, kSlotBytes apart, readable until this lane's next warp operation.
constexpr size_t kSlotBytes = 64;
const unsigned char* warp_exchange(unsigned mask, const void* in, size_t bytes, const char* op);
inline int lane_id() { return g_thread->linear & 31; }
// Scratch shared by the lanes of the caller's warp for its latest warp
// operation (kResultBytes): `first` is true for the first lane to ask, which
// fills it; the others read it. Lets an emulated warp-wide instruction compute
// its result once instead of once per lane.
constexpr size_t kResultBytes = 1024;
unsigned char* warp_result(bool& first);

// Shared memory: one arena per block, the dynamic part first, static
// __shared__ variables after it (one allocation per declaration, made by the
// first thread that reaches it). Fresh arenas are filled with 0xff bytes.
void* static_shared(const char* site, const void* tag, size_t bytes, size_t align);
void* dynamic_shared_base();
// Shared-window address of p (which must lie in the block's arena), and back.
uint32_t shared_address(const void* p);
void* shared_pointer(uint32_t address, size_t bytes, size_t align, const char* op);

// site: "file:line:name", for messages; tag: unique per declaration and template
// instantiation (rewrite.py passes a lambda's static); align: __align__'s, or 0.
template <class T>
T& shared_var(const char* site, const void* tag, size_t align) {
  return *static_cast<T*>(static_shared(site, tag, sizeof(T), align > alignof(T) ? align : alignof(T)));
}
template <class T>
T* dynamic_shared() {
  return static_cast<T*>(dynamic_shared_base());
}

// cp.async: a thread's copies wait in commit groups until cp_async_wait applies them.
void async_copy_16(uint32_t dst, const void* src, int src_bytes);
// An atomic's address: aligned, in shared memory or a device allocation (else the launch fails).
void check_atomic(const void* p, size_t bytes);
void async_commit();
void async_wait(int pending_allowed);

// A kernel launch, as rewrite.py turns `k<<<grid, block, smem, stream>>>(args)`
// into `genrm_sim::launch("k", key_of(k), k, grid, block, smem, stream)(args)`
// (a template kernel whose arguments are deduced is called through a lambda,
// with no key).
struct Body {
  void (*run)(const void* ctx);
  const void* ctx;
};
// Validates the configuration like the CUDA runtime, runs every block, and
// records the launch's outcome for cudaGetLastError.
void run_grid(const char* name, const void* kernel, dim3 grid, dim3 block, size_t smem, Body body);
// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes).
int set_max_dynamic_shared(const void* kernel, int bytes);

template <class F>
struct Launcher {
  const char* name;
  const void* key;  // the kernel's address when known (cudaFuncSetAttribute's key), else null
  F kernel;         // a function pointer, or a lambda calling a template kernel by deduction
  dim3 grid, block;
  size_t smem;
  template <class... A>
  void operator()(A&&... args) const {
    struct Frame {
      const F* kernel;
      std::tuple<std::decay_t<A>...> args;
    } frame{&kernel, std::tuple<std::decay_t<A>...>(std::forward<A>(args)...)};
    Body body{[](const void* ctx) {
                const Frame* f = static_cast<const Frame*>(ctx);
                auto copy = f->args;  // each simulated thread gets its own copy of the parameters
                std::apply(*f->kernel, copy);
              },
              &frame};
    run_grid(name, key, grid, block, smem, body);
  }
};

template <class K>
const void* key_of(K* kernel) {
  return reinterpret_cast<const void*>(kernel);
}

inline dim3 as_dim3(dim3 d) { return d; }
template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
dim3 as_dim3(I n) {
  return dim3(static_cast<unsigned>(n));
}

template <class F, class G, class B>
Launcher<F> launch(const char* name, const void* key, F kernel, G grid, B block, size_t smem = 0,
                   const void* = nullptr) {
  return Launcher<F>{name, key, kernel, as_dim3(grid), as_dim3(block), smem};
}

}  // namespace genrm_sim

#define threadIdx (::genrm_sim::g_thread->thread_idx)
#define blockIdx (::genrm_sim::g_thread->block_idx)
#define blockDim (::genrm_sim::g_thread->block_dim)
#define gridDim (::genrm_sim::g_thread->grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { genrm_sim::sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { genrm_sim::warp_exchange(mask, nullptr, 0, "__syncwarp"); }

// Warp shuffles, by PTX's shfl.sync rules for the control word CUDA's headers
// pass ((32 - width) << 8 | 0x1f): the lane operand's low 5 bits count; a width
// segment spans [first, last]; a source lane past `last` (bfly, down) or before
// `first` (up) is invalid and yields the caller's own value. A bfly partner in
// an earlier segment is valid, as the CUDA guide says.
namespace genrm_sim {
template <class T>
T shuffle(unsigned mask, T v, int src_lane, bool in_range, const char* op) {
  static_assert(sizeof(T) <= kSlotBytes && std::is_trivially_copyable_v<T>, "shuffled values are plain words");
  const unsigned char* slots = warp_exchange(mask, &v, sizeof(T), op);
  if (!in_range) return v;
  T out;
  std::memcpy(&out, slots + static_cast<size_t>(src_lane) * kSlotBytes, sizeof(T));
  return out;
}
inline int segment_first(int width) { return lane_id() & ~(width - 1); }
inline int segment_last(int width) { return segment_first(width) | (width - 1); }
}  // namespace genrm_sim

template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  return genrm_sim::shuffle(mask, v, genrm_sim::segment_first(width) | (src & (width - 1)), true, "__shfl_sync");
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int src = genrm_sim::lane_id() ^ (lane_mask & 31);
  return genrm_sim::shuffle(mask, v, src, src <= genrm_sim::segment_last(width), "__shfl_xor_sync");
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int src = genrm_sim::lane_id() + static_cast<int>(delta & 31);
  return genrm_sim::shuffle(mask, v, src, src <= genrm_sim::segment_last(width), "__shfl_down_sync");
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int src = genrm_sim::lane_id() - static_cast<int>(delta & 31);
  return genrm_sim::shuffle(mask, v, src, src >= genrm_sim::segment_first(width), "__shfl_up_sync");
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  const int p = pred != 0;
  const unsigned char* slots = genrm_sim::warp_exchange(mask, &p, sizeof p, "__ballot_sync");
  unsigned out = 0;
  for (int l = 0; l < 32; ++l) {
    int q;
    std::memcpy(&q, slots + l * genrm_sim::kSlotBytes, sizeof q);
    if ((mask >> l & 1u) && q == 1) out |= 1u << l;
  }
  return out;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == (__ballot_sync(mask, 1)); }

// Atomics. Every fiber runs on the one OS thread and switches only at barriers
// and warp operations, so a read-modify-write here is never interleaved. The
// order of a launch's atomics is the fibers' order (reversed with
// GENRM_SIM_ORDER=reverse), one of the orders a GPU may take.
template <typename T>
inline T sim_atomic_add(T* p, T v) {
  genrm_sim::check_atomic(p, sizeof(T));
  const T old = *p;
  *p = old + v;
  return old;
}
inline float atomicAdd(float* p, float v) { return sim_atomic_add(p, v); }
inline double atomicAdd(double* p, double v) { return sim_atomic_add(p, v); }
inline int atomicAdd(int* p, int v) { return sim_atomic_add(p, v); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return sim_atomic_add(p, v); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { return sim_atomic_add(p, v); }

// CUDA's math library is global: the C functions, and these.
using std::isfinite;
using std::isinf;
using std::isnan;

// Device math. The _rn intrinsics round once, as on the GPU (the simulator's
// sources are compiled with -ffp-contract=off, so a * b + c is two roundings
// here; nvcc fuses it by default, one of the reasons parity needs tolerances).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline int __float_as_int(float f) { return static_cast<int>(__float_as_uint(f)); }
inline float __int_as_float(int i) { return __uint_as_float(static_cast<unsigned>(i)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
template <class T>
T __ldg(const T* p) {
  return *p;
}

// CUDA's global min/max overloads.
#define GENRM_SIM_MINMAX(T)                        \
  inline T min(T a, T b) { return b < a ? b : a; } \
  inline T max(T a, T b) { return a < b ? b : a; }
GENRM_SIM_MINMAX(int)
GENRM_SIM_MINMAX(unsigned)
GENRM_SIM_MINMAX(long)
GENRM_SIM_MINMAX(unsigned long)
GENRM_SIM_MINMAX(long long)
GENRM_SIM_MINMAX(unsigned long long)
GENRM_SIM_MINMAX(float)
GENRM_SIM_MINMAX(double)
#undef GENRM_SIM_MINMAX
