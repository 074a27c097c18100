#include "thread_pool.h"

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "error.h"

namespace genrm {
namespace {

thread_local bool t_inside_task = false;

// Workers and the caller spin briefly before sleeping: a training step issues
// hundreds of short parallel regions, and a futex wake-up per region costs more
// than the spin (measured in bench/NOTES.md).
constexpr int kSpins = 4000;  // about 50-100 us of pause instructions

class Pool {
 public:
  explicit Pool(int n) : n_(n), slots_(new Slot[n]) {
    try {
      for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { worker(i); });
    } catch (const std::system_error& e) {  // the system refused a thread: stop those started
      stop_workers();
      throw Error(ErrorKind::Runtime, "thread pool: could not start " + std::to_string(n_ - 1) + " worker threads (" +
                                          std::to_string(workers_.size()) + " started): " + e.what());
    }
  }
  ~Pool() { stop_workers(); }
  int size() const { return n_; }

  void run(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
    std::lock_guard<std::mutex> caller_turn(run_mutex_);
    const int used = static_cast<int>(n < n_ ? n : n_);
    fn_ = &fn;
    used_ = used;
    // Owners take a few pieces of their share at a time, so a thief still finds
    // work when a thread is descheduled (a shared VM) or its share runs long.
    grain_ = n / (int64_t{8} * used) > 1 ? n / (int64_t{8} * used) : 1;
    for (int i = 0; i < used; ++i)
      slots_[i].range.store(pack(n * i / used, n * (i + 1) / used), std::memory_order_relaxed);
    error_ = nullptr;
    // Every worker reports, those left out of a narrow region too: otherwise one
    // of them could wake late, after the next region's state is written, and
    // run that region's work while it believes it serves this one (then again
    // for the next generation): a lost or doubled report, so a region that never
    // ends or one that returns while a worker is still in fn. A region now ends
    // only when every worker has seen its generation, so none can lag behind.
    pending_.store(n_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(m_);  // a worker between its check and its wait sees the new generation
    }
    cv_.notify_all();
    work(0);
    for (int spin = 0; spin < kSpins && pending_.load(std::memory_order_acquire) != 0; ++spin) __builtin_ia32_pause();
    if (pending_.load(std::memory_order_acquire) != 0) {
      std::unique_lock<std::mutex> lk(m_);
      done_cv_.wait(lk, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // One thread's remaining range [begin, end), both halves of one word so a
  // single compare-exchange claims a piece (parallel_for runs counts past 32
  // bits serially). A cache line each: owners and thieves hit them constantly.
  struct alignas(64) Slot {
    std::atomic<uint64_t> range{0};
  };
  static uint64_t pack(int64_t begin, int64_t end) {
    return static_cast<uint64_t>(begin) << 32 | static_cast<uint64_t>(end);
  }
  static int64_t begin_of(uint64_t r) { return static_cast<int64_t>(r >> 32); }
  static int64_t end_of(uint64_t r) { return static_cast<int64_t>(r & 0xffffffffu); }

  void call(int64_t begin, int64_t end, int i) {
    t_inside_task = true;
    try {
      (*fn_)(begin, end, i);
    } catch (...) {
      std::lock_guard<std::mutex> lk(m_);
      if (!error_) error_ = std::current_exception();
      for (int j = 0; j < used_; ++j) slots_[j].range.store(0, std::memory_order_relaxed);  // nobody starts more
    }
    t_inside_task = false;
  }

  // Thread i runs pieces of its own range from the front; when it is empty it
  // steals the back half of the fullest other range, makes that its own, and
  // goes on. Every index is claimed by exactly one compare-exchange.
  void work(int i) {
    if (i >= used_) return;
    std::atomic<uint64_t>& mine = slots_[i].range;
    for (;;) {
      uint64_t r = mine.load(std::memory_order_acquire);
      const int64_t b = begin_of(r), e = end_of(r);
      if (b < e) {
        const int64_t nb = e - b > grain_ ? b + grain_ : e;
        if (mine.compare_exchange_weak(r, pack(nb, e), std::memory_order_acq_rel)) call(b, nb, i);
        continue;
      }
      int victim = -1;
      int64_t most = 0;
      for (int j = 0; j < used_; ++j) {
        if (j == i) continue;
        const uint64_t rj = slots_[j].range.load(std::memory_order_acquire);
        if (end_of(rj) - begin_of(rj) > most) {
          most = end_of(rj) - begin_of(rj);
          victim = j;
        }
      }
      if (victim < 0) return;
      uint64_t rv = slots_[victim].range.load(std::memory_order_acquire);
      const int64_t vb = begin_of(rv), ve = end_of(rv);
      if (vb >= ve) continue;
      const int64_t mid = ve - (ve - vb + 1) / 2;
      // Only the owner ever grows a range, so after a successful steal our own
      // slot (empty) can simply be overwritten with the stolen piece.
      // A single stolen index is run at once: stored, it could be stolen back
      // before we claim it, and two idle threads could pass it to and fro.
      if (slots_[victim].range.compare_exchange_strong(rv, pack(vb, mid), std::memory_order_acq_rel)) {
        if (ve - mid == 1)
          call(mid, ve, i);
        else
          mine.store(pack(mid, ve), std::memory_order_release);
      }
    }
  }

  void stop_workers() {
    stop_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(m_);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void worker(int i) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = generation_.load(std::memory_order_acquire);
      for (int spin = 0; spin < kSpins && g == seen; ++spin) {
        __builtin_ia32_pause();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_.load()) return;
      work(i);  // nothing to do when i >= used_
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(m_);
        done_cv_.notify_one();
      }
    }
  }

  const int n_;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_, m_;
  std::condition_variable cv_, done_cv_;
  // Written by the caller before the generation is bumped (release), read by
  // workers after they see it (acquire).
  const std::function<void(int64_t, int64_t, int)>* fn_ = nullptr;
  int64_t grain_ = 1;
  int used_ = 0;
  std::unique_ptr<Slot[]> slots_;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
};

std::mutex g_pool_mutex;
std::shared_ptr<Pool> g_pool;

std::shared_ptr<Pool> pool() {
  std::lock_guard<std::mutex> lk(g_pool_mutex);
  if (!g_pool) g_pool = std::make_shared<Pool>(default_num_threads());
  return g_pool;
}

}  // namespace

int default_num_threads() {
  if (const char* env = std::getenv("GENRM_THREADS"); env && *env) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (*end != 0 || v < 1 || v > 1024)
      throw_arg("GENRM_THREADS", "an integer in [1, 1024]", std::string("\"") + env + "\"");
    return static_cast<int>(v);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int c = CPU_COUNT(&set);
    if (c > 0) return c;
  }
  unsigned h = std::thread::hardware_concurrency();
  return h > 0 ? static_cast<int>(h) : 1;
}

int num_threads() { return pool()->size(); }

void set_num_threads(int n) {
  if (n < 1 || n > 1024) throw_arg("threads", "an integer in [1, 1024]", n);
  std::shared_ptr<Pool> next = std::make_shared<Pool>(n);
  std::lock_guard<std::mutex> lk(g_pool_mutex);
  // A run in flight keeps its pool alive through its own shared_ptr. The old
  // pool, if this was its last owner, is joined when `next` goes out of scope,
  // after the lock is released (a task calling num_threads() must not wait on it).
  g_pool.swap(next);
}

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (t_inside_task || n == 1 || n > 0x7fffffff) {  // the last: ranges are packed in 32 bits
    fn(0, n, 0);
    return;
  }
  std::shared_ptr<Pool> p = pool();
  if (p->size() == 1) {
    fn(0, n, 0);
    return;
  }
  p->run(n, fn);
}

}  // namespace genrm
