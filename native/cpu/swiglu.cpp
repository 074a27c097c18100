#include "swiglu.h"

#include <algorithm>

#include "../core/thread_pool.h"
#include "vmath.h"

namespace genrm::cpu {

void swiglu_forward(const float* g, const float* u, float* a, int64_t n, Isa isa) {
  parallel_for((n + 4095) / 4096, [&](int64_t b, int64_t e, int) {
    const int64_t i = b * 4096, end = std::min(n, e * 4096);
    swiglu_forward_range(g + i, u + i, a + i, end - i, isa);
  });
}

void swiglu_backward(const float* g, const float* u, const float* da, float* dg, float* du, int64_t n, Isa isa) {
  parallel_for((n + 4095) / 4096, [&](int64_t b, int64_t e, int) {
    const int64_t i = b * 4096, end = std::min(n, e * 4096);
    swiglu_backward_range(g + i, u + i, da + i, dg + i, du + i, end - i, isa);
  });
}

}  // namespace genrm::cpu
