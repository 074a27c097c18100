// The engine's own fork-join pool. parallel_for splits [0, n) into contiguous
// chunks, one per thread, so which thread computes an element depends only on n
// and the thread count: results are bitwise reproducible for a given count.
#pragma once
#include <cstdint>
#include <functional>

namespace genrm {

// fn(begin, end, thread_index) runs once per non-empty chunk. Calls from inside a
// running task execute serially on the calling thread (no nested parallelism).
// Concurrent callers from different threads take turns.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

int num_threads();
// Resizes the pool; n >= 1. Default: the CPUs this process may run on.
void set_num_threads(int n);
int default_num_threads();

}  // namespace genrm
