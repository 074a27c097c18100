#include "embedding.h"

#include <cstring>

#include "../core/thread_pool.h"

namespace genrm::cpu {

void embedding_forward(const float* table, const int32_t* tokens, float* out, int64_t n, int64_t dim) {
  parallel_for(n, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t)
      std::memcpy(out + t * dim, table + static_cast<int64_t>(tokens[t]) * dim, sizeof(float) * dim);
  });
}

void embedding_backward(const int32_t* tokens, const float* dout, float* dtable, int64_t n, int64_t dim) {
  parallel_for(dim, [&](int64_t b, int64_t e, int) {
    for (int64_t t = 0; t < n; ++t) {
      float* row = dtable + static_cast<int64_t>(tokens[t]) * dim;
      const float* src = dout + t * dim;
      for (int64_t i = b; i < e; ++i) row[i] += src[i];
    }
  });
}

}  // namespace genrm::cpu
