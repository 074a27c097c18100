// AdamW's update and the gradient norm: the path the CPU runs (AVX2 where it
// has it) against the torch formula in double, on ragged lengths.
#include <cmath>
#include <vector>

#include "../cpu/adamw.h"
#include "harness.h"
#include "util.h"

using namespace genrm;

TEST(adamw_step_matches_the_formula_in_double) {
  for (int64_t n : {1, 7, 8, 9, 100, 16384 + 13}) {
    std::vector<float> p = test::randn(n, 1), g = test::randn(n, 2), m = test::randn(n, 3, 0.1f), v = test::randn(n, 4);
    for (float& x : v) x = x * x;  // second moments are non-negative
    const std::vector<float> p0 = p, m0 = m, v0 = v;
    cpu::AdamWConfig c;
    c.beta1 = 0.9;
    c.beta2 = 0.95;
    c.eps = 1e-8;
    c.weight_decay = 0.1;
    const double lr = 3e-3;
    const int64_t t = 5;
    cpu::adamw_step(p.data(), g.data(), m.data(), v.data(), {{0, n / 2, true}, {n / 2, n, false}}, c, lr, t);
    double worst = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double mi = c.beta1 * m0[i] + (1 - c.beta1) * g[i],
                   vi = c.beta2 * v0[i] + (1 - c.beta2) * double(g[i]) * g[i];
      const double decay = i < n / 2 ? 1 - lr * c.weight_decay : 1.0;
      const double mhat = mi / (1 - std::pow(c.beta1, t)), vhat = vi / (1 - std::pow(c.beta2, t));
      const double want = p0[i] * decay - lr * mhat / (std::sqrt(vhat) + c.eps);
      worst = std::max({worst, std::fabs(p[i] - want) / (1e-6 + 1e-5 * std::fabs(want)),
                        std::fabs(m[i] - mi) / (1e-7 + 1e-6 * std::fabs(mi)),
                        std::fabs(v[i] - vi) / (1e-7 + 1e-6 * std::fabs(vi))});
    }
    if (worst > 1) genrm::test::fail(__FILE__, __LINE__, "n=" + std::to_string(n) + ": " + std::to_string(worst));
  }
}

TEST(l2_norm_matches_double_on_ragged_lengths) {
  for (int64_t n : {1, 9, 65536 + 5, 200000}) {
    std::vector<float> x = test::randn(n, 7);
    double s = 0;
    for (float v : x) s += double(v) * v;
    CHECK(std::fabs(cpu::l2_norm(x.data(), n) - std::sqrt(s)) <= 1e-12 * std::sqrt(s) * n);
  }
}
