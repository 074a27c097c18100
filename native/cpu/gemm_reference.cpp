#include "gemm.h"

namespace genrm::cpu {

void gemm_reference(const GemmArgs& g) {
  validate_gemm(g);
  for (int64_t i = 0; i < g.m; ++i) {
    for (int64_t j = 0; j < g.n; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < g.k; ++p) {
        double a = g.trans_a ? g.a[p * g.lda + i] : g.a[i * g.lda + p];
        double b = g.trans_b ? g.b[j * g.ldb + p] : g.b[p * g.ldb + j];
        acc += a * b;
      }
      float* c = &g.c[i * g.ldc + j];
      double out = static_cast<double>(g.alpha) * acc;
      if (g.beta != 0.0f) out += static_cast<double>(g.beta) * *c;
      *c = static_cast<float>(out);
    }
  }
}

}  // namespace genrm::cpu
