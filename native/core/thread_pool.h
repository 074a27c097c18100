// The engine's own fork-join pool. parallel_for gives each thread a contiguous
// share of [0, n), run a few pieces at a time; a thread that finishes early
// steals the back half of the fullest share left (a descheduled or slow thread
// no longer holds everyone at the barrier). Which thread computes an index thus
// varies from run to run, so every caller computes each index the same way
// whatever piece it arrives in; that is what keeps results bitwise reproducible.
#pragma once
#include <cstdint>
#include <functional>

namespace genrm {

// fn(begin, end, thread_index) runs on disjoint pieces covering [0, n) exactly
// once; thread_index names the thread running it, in [0, pool size at the
// call). Per-thread scratch kept across calls belongs in thread_local storage,
// not in an array sized by an earlier num_threads(): another thread may resize
// the pool (set_num_threads) in between.
// Calls from inside a running task execute serially on the calling thread (no
// nested parallelism).
// Concurrent callers from different threads take turns.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

int num_threads();
// Resizes the pool; n >= 1. Default: the CPUs this process may run on.
void set_num_threads(int n);
int default_num_threads();

}  // namespace genrm
