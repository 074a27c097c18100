// The CUDA simulator's engine: fibers for simulated threads, the per-block
// scheduler with its barriers, shared memory, cp.async groups, and the runtime
// API over tracked host memory. See README.md for what it checks and what it
// cannot.
#include "sim.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "include/cuda_runtime.h"

// Switches stacks: pushes the callee-saved registers on the current stack,
// stores its pointer in *save_sp, and resumes the context whose stack pointer
// is load_sp (x86-64 System V). Kernels never change the FP environment, so
// MXCSR and the x87 control word are not switched.
extern "C" void genrm_sim_swap(void** save_sp, void* load_sp);
asm(R"(
  .text
  .globl genrm_sim_swap
  .hidden genrm_sim_swap
  .type genrm_sim_swap, @function
genrm_sim_swap:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size genrm_sim_swap, .-genrm_sim_swap
)");

namespace genrm_sim {

thread_local const ThreadInfo* g_thread = nullptr;

namespace {

constexpr size_t kStackBytes = 256 * 1024;  // per simulated thread; register arrays live here
constexpr size_t kGuardBytes = 4096;        // an overflow faults instead of corrupting a neighbour
constexpr int kMaxThreads = 1024;
constexpr size_t kStaticSharedLimit = 48 * 1024;
constexpr size_t kDefaultDynamicLimit = 48 * 1024;
constexpr size_t kOptinSharedLimit = 232448;  // H100's opt-in limit per block (227 KiB)
constexpr size_t kArenaBytes = kOptinSharedLimit + 4096;

struct AsyncCopy {
  uint32_t dst;
  unsigned char bytes[16];
};

// A simulated thread. The scheduling fields come first: the hand-off scans them.
struct Fiber {
  void* sp = nullptr;
  bool done = false;
  const uint64_t* wait_on = nullptr;  // a generation counter this fiber waits to see advance
  uint64_t wait_gen = 0;
  const char* waiting_at = nullptr;  // for the deadlock report
  uint64_t warp_ops = 0;             // parity picks the warp's slot buffer
  ThreadInfo info{};
  std::vector<AsyncCopy> uncommitted;
  std::deque<std::vector<AsyncCopy>> groups;
  bool runnable() const { return !done && !(wait_on && *wait_on == wait_gen); }
};

struct Warp {
  int arrived = 0;
  int exited = 0;  // lanes that have finished the kernel
  uint64_t gen = 0;
  const char* op = nullptr;
  unsigned mask = 0;
  alignas(16) unsigned char slots[2][32][kSlotBytes];
  uint64_t result_key[2];  // which warp operation result[i] holds (a lane's warp_ops count)
  alignas(16) unsigned char result[2][kResultBytes];
};

struct Launch {
  const char* name = nullptr;
  dim3 grid, block;
  size_t dynamic_smem = 0;
  size_t smem_limit = 0;
  Body body{};
  bool failed = false;
  cudaError_t code = cudaSuccess;
};

// Everything one host thread needs to run a launch (launches on different host
// threads are independent, as on different streams of one GPU).
struct Runner {
  void* sched_sp = nullptr;
  unsigned char* stacks = nullptr;  // kMaxThreads stacks, each above a guard page
  std::vector<Fiber> fibers = std::vector<Fiber>(kMaxThreads);
  std::vector<Warp> warps = std::vector<Warp>(kMaxThreads / 32);
  Fiber* current = nullptr;
  Launch* launch = nullptr;
  int threads = 0, live = 0, finished = 0;
  bool reverse = false;  // hand-off order (GENRM_SIM_ORDER=reverse), to expose order-dependent races
  int block_arrived = 0;
  uint64_t block_gen = 0;
  unsigned char* arena = nullptr;
  size_t arena_used = 0;
  std::vector<std::pair<const void*, size_t>> statics;  // declaration tag -> arena offset

  Runner() {
    const size_t per = kStackBytes + kGuardBytes;
    void* m =
        mmap(nullptr, per * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
      std::fprintf(stderr, "genrm CUDA simulator: cannot map %zu bytes of fiber stacks\n", per * kMaxThreads);
      std::abort();
    }
    stacks = static_cast<unsigned char*>(m);
    for (int i = 0; i < kMaxThreads; ++i) mprotect(stacks + i * per, kGuardBytes, PROT_NONE);
    arena = static_cast<unsigned char*>(std::aligned_alloc(128, kArenaBytes));
  }
  ~Runner() {
    munmap(stacks, (kStackBytes + kGuardBytes) * kMaxThreads);
    std::free(arena);
  }
};

thread_local Runner* t_runner = nullptr;
Runner& runner() {
  if (!t_runner) t_runner = new Runner();  // kept for the thread's life: launches reuse the stacks
  return *t_runner;
}

// The device-wide state: tracked allocations, kernel attributes, the last error.
struct Device {
  std::mutex mu;
  std::map<uintptr_t, size_t> allocations;  // base -> bytes
  size_t capacity = 0, used = 0;
  std::map<const void*, size_t> dynamic_limits;
  cudaError_t last_error = cudaSuccess;  // what cudaGetLastError returns (and clears)
  // A kernel fault: every later call that waits for the device returns it, as a
  // sticky error would. Unlike on a GPU, cudaGetLastError clears it, so a test
  // can go on after a planted fault.
  cudaError_t sticky = cudaSuccess;
  Device() {
    const char* mb = std::getenv("GENRM_SIM_MEMORY_MB");
    capacity = (mb && std::atoll(mb) > 0 ? static_cast<size_t>(std::atoll(mb)) : size_t{16384}) << 20;
  }
};
Device& device() {
  static Device d;
  return d;
}

void set_error(cudaError_t e, bool fault = false) {
  std::lock_guard<std::mutex> lock(device().mu);
  if (device().last_error == cudaSuccess) device().last_error = e;
  if (fault && device().sticky == cudaSuccess) device().sticky = e;
}

void report(const char* fmt, ...) {
  std::va_list args;
  va_start(args, fmt);
  std::fputs("genrm CUDA simulator: ", stderr);
  std::vfprintf(stderr, fmt, args);
  std::fputc('\n', stderr);
  va_end(args);
}

bool reverse_order() {
  static const bool reverse = [] {
    const char* o = std::getenv("GENRM_SIM_ORDER");
    return o && std::string(o) == "reverse";
  }();
  return reverse;
}

[[noreturn]] void fail_launch(cudaError_t code, const char* what) {
  Runner& r = runner();
  const ThreadInfo* t = g_thread;
  if (!r.launch || !r.current || !t) {
    report("%s (outside any kernel)", what);
    std::abort();
  }
  report("%s: block (%u,%u,%u) thread (%u,%u,%u): %s", r.launch->name, t->block_idx.x, t->block_idx.y, t->block_idx.z,
         t->thread_idx.x, t->thread_idx.y, t->thread_idx.z, what);
  r.launch->failed = true;
  r.launch->code = code;
  Fiber* f = r.current;
  genrm_sim_swap(&f->sp, r.sched_sp);  // the scheduler abandons this launch; never resumed
  std::abort();
}

// Hands the host thread from the current fiber to the next runnable one, or
// back to the scheduler when none is: the block is done, deadlocked, or failed.
// One switch per hand-off, no trip through a scheduler. Warp-major: the rest of
// the caller's warp first, so a warp runs ahead of the others until a block
// barrier stops it. That is the skew that exposes a missing barrier between
// warps (one warp refilling a stage another still reads); running all warps in
// lockstep would hide it.
void hand_off(Runner& r, Fiber* from) {
  Fiber* next = nullptr;
  if (!r.launch->failed) {
    const int n = r.threads, me = from->info.linear, w0 = me & ~31, size = std::min(32, n - w0);
    for (int k = 1; k < size && !next; ++k) {
      const int i = w0 + (r.reverse ? (me - w0 - k + size) % size : (me - w0 + k) % size);
      if (r.fibers[i].runnable()) next = &r.fibers[i];
    }
    for (int k = 1; k <= n && !next; ++k) {
      const int i = r.reverse ? (me - k + n) % n : (me + k) % n;
      if (r.fibers[i].runnable()) next = &r.fibers[i];
    }
  }
  if (!next) {
    genrm_sim_swap(&from->sp, r.sched_sp);
    return;
  }
  if (next == from) return;
  r.current = next;
  g_thread = &next->info;
  genrm_sim_swap(&from->sp, next->sp);
}

// Parks the current fiber until *gen moves past its present value.
void wait_for(const uint64_t* gen, const char* where) {
  Runner& r = runner();
  Fiber* f = r.current;
  f->wait_on = gen;
  f->wait_gen = *gen;
  f->waiting_at = where;
  hand_off(r, f);
  // Resumed by whoever handed off to us: r.current and g_thread are already ours.
  f->wait_on = nullptr;
  f->waiting_at = nullptr;
}

int warp_size_of(const Runner& r, int warp) { return std::min(32, r.threads - warp * 32); }

void fiber_main() {
  Runner& r = runner();
  Fiber* f = r.current;
  r.launch->body.run(r.launch->body.ctx);
  f->done = true;
  --r.live;
  ++r.finished;
  Warp& w = r.warps[f->info.linear / 32];
  ++w.exited;
  if (w.arrived > 0) {
    char msg[200];
    std::snprintf(msg, sizeof msg, "exited while other lanes of its warp wait at %s", w.op);
    fail_launch(cudaErrorLaunchFailure, msg);
  }
  // Exited threads no longer count at __syncthreads (as on sm_70 and newer).
  if (r.block_arrived > 0 && r.block_arrived == r.live) {
    r.block_arrived = 0;
    ++r.block_gen;
  }
  hand_off(r, f);
  std::abort();  // a finished fiber is never resumed
}

void start_fiber(Runner& r, int i) {
  Fiber& f = r.fibers[i];
  f.done = false;
  f.wait_on = nullptr;
  f.waiting_at = nullptr;
  f.warp_ops = 0;
  f.uncommitted.clear();
  f.groups.clear();
  unsigned char* top = r.stacks + (i + 1) * (kStackBytes + kGuardBytes);
  uint64_t* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = 0;                                        // fiber_main's (never used) return address
  *--sp = reinterpret_cast<uint64_t>(&fiber_main);  // where genrm_sim_swap's ret goes
  for (int k = 0; k < 6; ++k) *--sp = 0;            // rbp rbx r12 r13 r14 r15
  f.sp = sp;
}

void deadlock(Runner& r) {
  std::string where;
  int shown = 0;
  for (int i = 0; i < r.threads && shown < 4; ++i) {
    const Fiber& f = r.fibers[i];
    if (f.done) continue;
    where +=
        (shown ? "; " : "") + std::string("thread ") + std::to_string(i) + " at " + (f.waiting_at ? f.waiting_at : "?");
    ++shown;
  }
  const ThreadInfo& t = r.fibers[0].info;
  report("%s: block (%u,%u,%u): deadlock: %d of %d threads wait and none can go on (%s); %d exited", r.launch->name,
         t.block_idx.x, t.block_idx.y, t.block_idx.z, r.live, r.threads, where.c_str(), r.threads - r.live);
  r.launch->failed = true;
  r.launch->code = cudaErrorLaunchFailure;
}

void run_block(Runner& r, uint3 block_idx) {
  Launch& L = *r.launch;
  r.threads = static_cast<int>(L.block.x * L.block.y * L.block.z);
  r.live = r.threads;
  r.block_arrived = 0;
  for (int w = 0; w < (r.threads + 31) / 32; ++w) {
    r.warps[w].arrived = 0;
    r.warps[w].exited = 0;
    r.warps[w].result_key[0] = r.warps[w].result_key[1] = ~uint64_t{0};
    std::memset(r.warps[w].slots, 0xff, sizeof r.warps[w].slots);
  }
  r.arena_used = (L.dynamic_smem + 127) / 128 * 128;
  std::memset(r.arena, 0xff, r.arena_used);  // shared memory starts undefined: poisoned here
  r.statics.clear();
  for (int i = 0; i < r.threads; ++i) {
    Fiber& f = r.fibers[i];
    f.info.block_idx = block_idx;
    f.info.thread_idx = {i % L.block.x, i / L.block.x % L.block.y, i / (L.block.x * L.block.y)};
    f.info.block_dim = L.block;
    f.info.grid_dim = L.grid;
    f.info.linear = i;
    start_fiber(r, i);
  }
  r.finished = 0;
  r.reverse = reverse_order();
  Fiber& first = r.fibers[r.reverse ? r.threads - 1 : 0];
  r.current = &first;
  g_thread = &first.info;
  genrm_sim_swap(&r.sched_sp, first.sp);  // back when every fiber is done or none can go on
  r.current = nullptr;
  g_thread = nullptr;
  if (!L.failed && r.finished < r.threads) deadlock(r);
}

bool valid_config(const Launch& L, std::string& why) {
  const uint64_t threads = uint64_t{L.block.x} * L.block.y * L.block.z;
  if (threads == 0 || threads > kMaxThreads || L.block.x > 1024 || L.block.y > 1024 || L.block.z > 64) {
    why = "block of " + std::to_string(threads) + " threads (at most 1024; z at most 64)";
    return false;
  }
  if (L.grid.x == 0 || L.grid.y == 0 || L.grid.z == 0 || L.grid.x > 2147483647u || L.grid.y > 65535 ||
      L.grid.z > 65535) {
    why = "grid (" + std::to_string(L.grid.x) + "," + std::to_string(L.grid.y) + "," + std::to_string(L.grid.z) +
          ") (x at least 1 and below 2^31, y and z 1 to 65535)";
    return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// Device-side entry points (sim.h)

void fault(const char* what) { fail_launch(cudaErrorLaunchFailure, what); }

void sync_block() {
  Runner& r = runner();
  if (!r.current) fault("__syncthreads outside a kernel");
  if (++r.block_arrived == r.live) {
    r.block_arrived = 0;
    ++r.block_gen;
    return;
  }
  wait_for(&r.block_gen, "__syncthreads");
}

const unsigned char* warp_exchange(unsigned mask, const void* in, size_t bytes, const char* op) {
  Runner& r = runner();
  Fiber* f = r.current;
  if (!f) fault("a warp operation outside a kernel");
  const int lane = f->info.linear & 31, warp = f->info.linear >> 5, size = warp_size_of(r, warp);
  const unsigned present = size == 32 ? 0xffffffffu : (1u << size) - 1;
  char msg[240];
  if ((mask & present) != present) {
    std::snprintf(msg, sizeof msg, "%s with mask 0x%08x: lanes of the warp left out (partial masks are not simulated)",
                  op, mask);
    fault(msg);
  }
  Warp& w = r.warps[warp];
  if (w.exited > 0) {
    std::snprintf(msg, sizeof msg, "%s: %d lanes of this warp have exited (a GPU would hang or read garbage)", op,
                  w.exited);
    fault(msg);
  }
  if (w.arrived == 0) {
    w.op = op;
    w.mask = mask;
  } else if ((w.op != op && std::strcmp(w.op, op) != 0) || w.mask != mask) {
    std::snprintf(msg, sizeof msg,
                  "lanes of warp %d meet at different warp operations: %s (mask 0x%08x) and %s (mask 0x%08x)", warp,
                  w.op, w.mask, op, mask);
    fault(msg);
  }
  const int buf = static_cast<int>(f->warp_ops++ & 1);
  if (bytes) std::memcpy(w.slots[buf][lane], in, bytes);
  if (++w.arrived == size) {
    w.arrived = 0;
    ++w.gen;
  } else {
    wait_for(&w.gen, op);
  }
  return &w.slots[buf][0][0];
}

// Every lane of a warp meets the same warp operations in the same order, so its
// count of them names the operation; the result alternates between two buffers
// like the slots (a lane reads it before its next warp operation, and none can
// be two operations ahead).
unsigned char* warp_result(bool& first) {
  Runner& r = runner();
  Fiber* f = r.current;
  Warp& w = r.warps[f->info.linear >> 5];
  const uint64_t key = f->warp_ops;
  const int b = static_cast<int>(key & 1);
  first = w.result_key[b] != key;
  w.result_key[b] = key;
  return w.result[b];
}

void* static_shared(const char* site, const void* tag, size_t bytes, size_t align) {
  Runner& r = runner();
  if (!r.current) fault("__shared__ outside a kernel");
  for (const auto& s : r.statics)
    if (s.first == tag) return r.arena + s.second;
  const size_t dyn = (r.launch->dynamic_smem + 127) / 128 * 128;
  const size_t offset = (r.arena_used + align - 1) / align * align;
  if (offset + bytes - dyn > kStaticSharedLimit || offset + bytes > r.launch->smem_limit) {
    char msg[200];
    std::snprintf(msg, sizeof msg, "static shared memory (%zu bytes with %s) exceeds the limit", offset + bytes - dyn,
                  site);
    fail_launch(cudaErrorLaunchOutOfResources, msg);
  }
  std::memset(r.arena + offset, 0xff, bytes);
  r.arena_used = offset + bytes;
  r.statics.emplace_back(tag, offset);
  return r.arena + offset;
}

void* dynamic_shared_base() { return runner().arena; }

uint32_t shared_address(const void* p) {
  Runner& r = runner();
  const unsigned char* c = static_cast<const unsigned char*>(p);
  if (c < r.arena || c >= r.arena + r.arena_used)
    fail_launch(cudaErrorIllegalAddress, "a shared-memory address of a pointer outside the block's shared memory");
  return static_cast<uint32_t>(c - r.arena);
}

void* shared_pointer(uint32_t address, size_t bytes, size_t align, const char* op) {
  Runner& r = runner();
  char msg[200];
  if (address % align != 0) {
    std::snprintf(msg, sizeof msg, "%s: shared address %u is not %zu-byte aligned", op, address, align);
    fail_launch(cudaErrorMisalignedAddress, msg);
  }
  if (address + bytes > r.arena_used) {
    std::snprintf(msg, sizeof msg, "%s: shared bytes %u..%zu lie past the block's %zu bytes", op, address,
                  address + bytes, r.arena_used);
    fail_launch(cudaErrorIllegalAddress, msg);
  }
  return r.arena + address;
}

namespace {
// Whether [p, p + bytes) lies inside one tracked device allocation.
bool in_device_memory(const void* p, size_t bytes) {
  Device& d = device();
  std::lock_guard<std::mutex> lock(d.mu);
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = d.allocations.upper_bound(a);
  if (it == d.allocations.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + it->second;
}
}  // namespace

void check_atomic(const void* p, size_t bytes) {
  char msg[200];
  if (reinterpret_cast<uintptr_t>(p) % bytes != 0) {
    std::snprintf(msg, sizeof msg, "atomic: address %p is not %zu-byte aligned", p, bytes);
    fail_launch(cudaErrorMisalignedAddress, msg);
  }
  const unsigned char* c = static_cast<const unsigned char*>(p);
  const Runner& r = runner();
  const bool shared = c >= r.arena && c + bytes <= r.arena + r.arena_used;
  if (!shared && !in_device_memory(p, bytes)) {
    std::snprintf(msg, sizeof msg, "atomic on %zu bytes at %p, outside shared memory and every device allocation",
                  bytes, p);
    fail_launch(cudaErrorIllegalAddress, msg);
  }
}

void async_copy_16(uint32_t dst, const void* src, int src_bytes) {
  AsyncCopy c;
  c.dst = dst;
  shared_pointer(dst, 16, 16, "cp.async");
  if (src_bytes < 0 || src_bytes > 16) fault("cp.async with a source size outside 0..16");
  if (src_bytes > 0) {
    char msg[200];
    if (reinterpret_cast<uintptr_t>(src) % 16 != 0) {
      std::snprintf(msg, sizeof msg, "cp.async: global source %p is not 16-byte aligned", src);
      fail_launch(cudaErrorMisalignedAddress, msg);
    }
    if (!in_device_memory(src, static_cast<size_t>(src_bytes))) {
      std::snprintf(msg, sizeof msg, "cp.async reads %d bytes at %p, outside every device allocation", src_bytes, src);
      fail_launch(cudaErrorIllegalAddress, msg);
    }
    std::memcpy(c.bytes, src, static_cast<size_t>(src_bytes));
  }
  std::memset(c.bytes + src_bytes, 0, static_cast<size_t>(16 - src_bytes));
  // Until the wait, the destination holds nothing defined: poison it now, so a
  // tile still being read by other warps when the next copy into it is issued
  // (a missing barrier) reads garbage, as it could on the GPU.
  std::memset(runner().arena + dst, 0xff, 16);
  runner().current->uncommitted.push_back(c);
}

void async_commit() {
  Fiber* f = runner().current;
  f->groups.push_back(std::move(f->uncommitted));
  f->uncommitted.clear();
}

void async_wait(int pending_allowed) {
  Runner& r = runner();
  Fiber* f = r.current;
  while (static_cast<int>(f->groups.size()) > pending_allowed) {
    for (const AsyncCopy& c : f->groups.front()) std::memcpy(r.arena + c.dst, c.bytes, 16);
    f->groups.pop_front();
  }
}

int set_max_dynamic_shared(const void* kernel, int bytes) {
  if (bytes < 0 || static_cast<size_t>(bytes) > kOptinSharedLimit) return cudaErrorInvalidValue;
  std::lock_guard<std::mutex> lock(device().mu);
  device().dynamic_limits[kernel] = static_cast<size_t>(bytes);
  return cudaSuccess;
}

void run_grid(const char* name, const void* kernel, dim3 grid, dim3 block, size_t smem, Body body) {
  Runner& r = runner();
  if (r.launch) {
    report("%s launched from inside kernel %s (dynamic parallelism is not simulated)", name, r.launch->name);
    std::abort();
  }
  Launch L;
  L.name = name;
  L.grid = grid;
  L.block = block;
  L.dynamic_smem = smem;
  L.body = body;
  std::string why;
  if (!valid_config(L, why)) {
    report("%s: invalid launch configuration: %s", name, why.c_str());
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  size_t dyn_limit = kDefaultDynamicLimit;
  {
    std::lock_guard<std::mutex> lock(device().mu);
    auto it = device().dynamic_limits.find(kernel);
    if (it != device().dynamic_limits.end()) dyn_limit = std::max(dyn_limit, it->second);
  }
  if (smem > dyn_limit) {
    report(
        "%s: %zu bytes of dynamic shared memory, above the kernel's limit of %zu "
        "(cudaFuncSetAttribute(MaxDynamicSharedMemorySize) raises it)",
        name, smem, dyn_limit);
    set_error(cudaErrorInvalidValue);
    return;
  }
  // Static and dynamic shared memory together: 48 KiB, or up to the opt-in
  // limit once cudaFuncSetAttribute raised this kernel's dynamic allowance.
  L.smem_limit = dyn_limit > kDefaultDynamicLimit ? kOptinSharedLimit : kDefaultDynamicLimit;
  r.launch = &L;
  // Blocks one after another, in order, or (GENRM_SIM_ORDER=reverse) last first.
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  const bool reverse = reverse_order();
  for (uint64_t k = 0; k < blocks && !L.failed; ++k) {
    const uint64_t b = reverse ? blocks - 1 - k : k;
    run_block(r, {static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                  static_cast<unsigned>(b / (uint64_t{grid.x} * grid.y))});
  }
  r.launch = nullptr;
  if (L.failed) set_error(L.code, true);
}

// ---------------------------------------------------------------------------
// Host side: DeviceRadixSort (cub/cub.cuh)

cudaError_t radix_sort_keys(const void* in, void* out, size_t bytes, int n, int begin_bit, int end_bit) {
  const size_t total = bytes * static_cast<size_t>(n);
  if (n == 0) return cudaSuccess;
  if (!in_device_memory(in, total) || !in_device_memory(out, total)) {
    report("DeviceRadixSort: the key buffers (%d keys) are not device allocations of that size", n);
    return cudaErrorInvalidValue;
  }
  std::vector<uint64_t> keys(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    uint64_t k = 0;
    std::memcpy(&k, static_cast<const unsigned char*>(in) + i * bytes, bytes);
    keys[i] = k;
  }
  const int width = end_bit - begin_bit;
  const uint64_t field = width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  auto bits = [&](uint64_t k) { return begin_bit >= 64 ? 0 : (k >> begin_bit) & field; };
  std::stable_sort(keys.begin(), keys.end(), [&](uint64_t a, uint64_t b) { return bits(a) < bits(b); });
  for (int i = 0; i < n; ++i) std::memcpy(static_cast<unsigned char*>(out) + i * bytes, &keys[i], bytes);
  return cudaSuccess;
}

}  // namespace genrm_sim

// ---------------------------------------------------------------------------
// The runtime API (include/cuda_runtime.h)

using genrm_sim::device;
using genrm_sim::report;

namespace {

// Fails the call when a launch faulted (as a sticky error would).
cudaError_t pending() {
  std::lock_guard<std::mutex> lock(device().mu);
  return device().sticky;
}

// A failed runtime call is also what cudaGetLastError reports next.
cudaError_t failed(cudaError_t e) {
  genrm_sim::set_error(e);
  return e;
}

bool is_device(const void* p, size_t bytes) { return genrm_sim::in_device_memory(p, bytes ? bytes : 1); }

}  // namespace

cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (!p) return cudaErrorInvalidValue;
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  auto& d = device();
  const size_t rounded = (bytes + 255) / 256 * 256;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.used + rounded > d.capacity) {
      if (d.last_error == cudaSuccess) d.last_error = cudaErrorMemoryAllocation;
      return cudaErrorMemoryAllocation;
    }
    d.used += rounded;
  }
  void* m = std::aligned_alloc(256, rounded);
  if (!m) {
    std::lock_guard<std::mutex> lock(d.mu);
    d.used -= rounded;
    if (d.last_error == cudaSuccess) d.last_error = cudaErrorMemoryAllocation;
    return cudaErrorMemoryAllocation;
  }
  std::memset(m, 0xff, rounded);  // fresh device memory is undefined: poisoned here
  std::lock_guard<std::mutex> lock(d.mu);
  d.allocations[reinterpret_cast<uintptr_t>(m)] = bytes;
  *p = m;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  auto& d = device();
  std::lock_guard<std::mutex> lock(d.mu);
  auto it = d.allocations.find(reinterpret_cast<uintptr_t>(p));
  if (it == d.allocations.end()) {
    report("cudaFree(%p): not the start of a live device allocation", p);
    if (d.last_error == cudaSuccess) d.last_error = cudaErrorInvalidValue;  // d.mu is held
    return cudaErrorInvalidValue;
  }
  d.used -= (it->second + 255) / 256 * 256;
  d.allocations.erase(it);
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (cudaError_t e = pending(); e != cudaSuccess) return e;
  if (bytes == 0) return cudaSuccess;
  const bool dst_dev = is_device(dst, bytes), src_dev = is_device(src, bytes);
  bool ok = true;
  switch (kind) {
    case cudaMemcpyHostToDevice: ok = dst_dev && !src_dev; break;
    case cudaMemcpyDeviceToHost: ok = src_dev && !dst_dev; break;
    case cudaMemcpyDeviceToDevice: ok = src_dev && dst_dev; break;
    case cudaMemcpyHostToHost: ok = !src_dev && !dst_dev; break;
    case cudaMemcpyDefault: break;
    default: return failed(cudaErrorInvalidMemcpyDirection);
  }
  if (!ok) {
    report(
        "cudaMemcpy of %zu bytes, kind %d: the destination is %s and the source %s (or a range runs past its "
        "allocation)",
        bytes, static_cast<int>(kind), dst_dev ? "device memory" : "not device memory",
        src_dev ? "device memory" : "not device memory");
    return failed(cudaErrorInvalidValue);
  }
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  if (cudaError_t e = pending(); e != cudaSuccess) return e;
  if (bytes == 0) return cudaSuccess;
  if (!is_device(p, bytes)) {
    report("cudaMemset of %zu bytes at %p: not inside one device allocation", bytes, p);
    return failed(cudaErrorInvalidValue);
  }
  std::memset(p, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::mutex> lock(device().mu);
  if (free_bytes) *free_bytes = device().capacity - device().used;
  if (total_bytes) *total_bytes = device().capacity;
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  std::lock_guard<std::mutex> lock(device().mu);
  const cudaError_t e = device().last_error != cudaSuccess ? device().last_error : device().sticky;
  device().last_error = device().sticky = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() {
  std::lock_guard<std::mutex> lock(device().mu);
  return device().last_error != cudaSuccess ? device().last_error : device().sticky;
}
cudaError_t cudaDeviceSynchronize() { return pending(); }

namespace {
cudaError_t put(int* out, int value) {
  if (!out) return cudaErrorInvalidValue;
  *out = value;
  return cudaSuccess;
}
}  // namespace

cudaError_t cudaGetDeviceCount(int* count) { return put(count, 1); }
cudaError_t cudaGetDevice(int* d) { return put(d, 0); }
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (!p) return cudaErrorInvalidValue;
  if (d != 0) return cudaErrorInvalidDevice;
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "genrm CUDA simulator (on the CPU)");
  p->totalGlobalMem = device().capacity;
  p->sharedMemPerBlock = genrm_sim::kStaticSharedLimit;
  p->sharedMemPerBlockOptin = genrm_sim::kOptinSharedLimit;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 132;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int d) {
  if (!value) return cudaErrorInvalidValue;
  if (d != 0) return cudaErrorInvalidDevice;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock:
      *value = static_cast<int>(genrm_sim::kStaticSharedLimit);
      return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = 132; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *value = static_cast<int>(genrm_sim::kOptinSharedLimit);
      return cudaSuccess;
  }
  return cudaErrorInvalidValue;
}

cudaError_t cudaRuntimeGetVersion(int* v) { return put(v, 13000); }
cudaError_t cudaDriverGetVersion(int* v) { return put(v, 13000); }

namespace {
struct ErrorText {
  cudaError_t code;
  const char* name;
  const char* text;  // the CUDA runtime's own wording
};
constexpr ErrorText kErrors[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection", "invalid copy direction for memcpy"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorLaunchOutOfResources, "cudaErrorLaunchOutOfResources", "too many resources requested for launch"},
    {cudaErrorMisalignedAddress, "cudaErrorMisalignedAddress", "misaligned address"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
};
const ErrorText* find_error(cudaError_t e) {
  for (const ErrorText& t : kErrors)
    if (t.code == e) return &t;
  return nullptr;
}
}  // namespace

const char* cudaGetErrorName(cudaError_t e) {
  const ErrorText* t = find_error(e);
  return t ? t->name : "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  const ErrorText* t = find_error(e);
  return t ? t->text : "unknown error";
}
