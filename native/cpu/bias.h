// The bias of a linear layer: added to every row of its output, and its
// gradient, the sum of the output gradient's rows.
#pragma once
#include <cstdint>

namespace genrm::cpu {

// y[r, c] += b[c] for r < rows, c < cols.
void bias_add(float* y, const float* b, int64_t rows, int64_t cols);
// db[c] += sum over r of dy[r, c]. Threads own disjoint columns and add rows in
// order, so the sums do not depend on the thread count.
void bias_backward(const float* dy, float* db, int64_t rows, int64_t cols);

}  // namespace genrm::cpu
