#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include "../core/thread_pool.h"
#include "harness.h"

using namespace genrm;

TEST(parallel_for_covers_range_once) {
  int saved = num_threads();
  for (int t : {1, 2, 4, 7}) {
    set_num_threads(t);
    for (int64_t n : {0, 1, 3, 7, 100, 1001}) {
      std::vector<std::atomic<int>> hits(n);
      parallel_for(n, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; ++i) hits[i]++;
      });
      for (auto& h : hits) CHECK(h.load() == 1);
    }
  }
  set_num_threads(saved);
}

TEST(parallel_for_nested_runs_serially) {
  set_num_threads(3);
  std::atomic<int64_t> sum{0};
  parallel_for(6, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) parallel_for(10, [&](int64_t b2, int64_t e2, int) { sum += (e2 - b2) * (i + 1); });
  });
  CHECK(sum.load() == 10 * 21);
}

TEST(parallel_for_propagates_exceptions) {
  set_num_threads(2);
  bool threw = false;
  try {
    parallel_for(4, [&](int64_t b, int64_t, int) {
      if (b >= 2) throw std::runtime_error("boom");
    });
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CHECK(threw);
  // The pool still works afterwards.
  std::atomic<int> n{0};
  parallel_for(4, [&](int64_t b, int64_t e, int) { n += static_cast<int>(e - b); });
  CHECK(n.load() == 4);
}

// More threads than CPUs, and regions alternately narrower and wider than the
// pool: a worker left out of a narrow region wakes late, possibly after the
// next region has begun, and must not mistake that region's state for the one
// it woke for (it once did, on a 16-core machine: it ran the new region's work
// under the old generation, then again under the new one, so the region either
// never finished or returned while a worker was still inside its lambda).
// A deadlock fails the case through a watchdog instead of hanging the harness.
TEST(parallel_for_survives_alternating_region_widths) {
  const int saved = num_threads();
  set_num_threads(16);
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    for (int tenth = 0; tenth < 200 && !finished.load(); ++tenth)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!finished.load()) {
      std::printf(
          "  FAIL parallel_for_survives_alternating_region_widths (deadlock: a region did not finish in 20 s)\n");
      std::fflush(stdout);
      std::_Exit(1);
    }
  });
  int bad_regions = 0;
  for (int region = 0; region < 2000; ++region) {
    const int64_t n = region % 2 == 0 ? 2 + region % 5 : 64 + region % 61;
    std::vector<std::atomic<int>> hits(n);
    parallel_for(n, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    bool once = true;
    for (auto& h : hits) once = once && h.load() == 1;
    bad_regions += !once;
  }
  finished.store(true);
  watchdog.join();
  CHECK(bad_regions == 0);
  set_num_threads(saved);
}
