#include "bias.h"

#include <algorithm>
#include <vector>

#include "../core/thread_pool.h"

namespace genrm::cpu {

void bias_add(float* y, const float* b, int64_t rows, int64_t cols) {
  parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < cols; ++c) y[r * cols + c] += b[c];
  });
}

void bias_backward(const float* dy, float* db, int64_t rows, int64_t cols) {
  constexpr int64_t kColumns = 64;  // a block of columns per task: rows are read a cache line at a time
  parallel_for((cols + kColumns - 1) / kColumns, [&](int64_t b0, int64_t b1, int) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t c0 = blk * kColumns, c1 = std::min(cols, c0 + kColumns);
      std::vector<float> sum(db + c0, db + c1);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = c0; c < c1; ++c) sum[c - c0] += dy[r * cols + c];
      std::copy(sum.begin(), sum.end(), db + c0);
    }
  });
}

}  // namespace genrm::cpu
