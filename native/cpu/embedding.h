// Token embedding lookup and its gradient (a scatter-add into the table).
#pragma once
#include <cstdint>

namespace genrm::cpu {

// out[t] = table[tokens[t]]; tokens must already be validated (< vocab).
void embedding_forward(const float* table, const int32_t* tokens, float* out, int64_t n, int64_t dim);
// dtable[tokens[t]] += dout[t]. Threads own disjoint column ranges and walk tokens in
// order, so the sums do not depend on the thread count.
void embedding_backward(const int32_t* tokens, const float* dout, float* dtable, int64_t n, int64_t dim);

}  // namespace genrm::cpu
