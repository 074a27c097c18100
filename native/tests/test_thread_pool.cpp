#include <atomic>
#include <stdexcept>
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
    for (int64_t i = b; i < e; ++i)
      parallel_for(10, [&](int64_t b2, int64_t e2, int) { sum += (e2 - b2) * (i + 1); });
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
