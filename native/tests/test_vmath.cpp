// The vectorised exp and the loops built on it, on every path this CPU has,
// against double-precision references: a sweep of the whole float range, the
// special values, ragged lengths (masked tails), and rows as long as a vocabulary.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../cpu/vmath.h"
#include "harness.h"
#include "util.h"

using namespace genrm;

namespace {

// Relative error in units of float epsilon; exact zeros and infinities must match.
double ulps(float got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0 : INFINITY;
  if (std::isinf(want) || want == 0) return static_cast<double>(got) == want ? 0 : INFINITY;
  return std::fabs(got - want) / std::fabs(want) / std::numeric_limits<float>::epsilon();
}

}  // namespace

TEST(exp_rows_is_within_2_ulp_and_keeps_special_values) {
  std::vector<float> x;
  for (double v = -87.3; v <= 88.7; v += 0.0137) x.push_back(static_cast<float>(v));
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.72f, -87.33f}) x.push_back(v);
  for (Isa isa : supported_isas()) {
    std::vector<float> y(x.size());
    cpu::exp_rows(x.data(), y.data(), static_cast<int64_t>(x.size()), isa);
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, ulps(y[i], std::exp(static_cast<double>(x[i]))));
    if (worst > 2)
      genrm::test::fail(__FILE__, __LINE__, std::string(isa_name(isa)) + ": " + std::to_string(worst) + " ulp");
    const float special[] = {-INFINITY, INFINITY, NAN, -200.0f, 200.0f, -88.0f, 89.0f};
    float out[7];
    cpu::exp_rows(special, out, 7, isa);
    CHECK(out[0] == 0.0f);
    CHECK(std::isinf(out[1]) && out[1] > 0);
    CHECK(std::isnan(out[2]));
    CHECK(out[3] == 0.0f);
    CHECK(std::isinf(out[4]));
    CHECK(out[5] >= 0.0f && out[5] < 1.2e-38f);  // below the normal range: 0 or libm's subnormal
    CHECK(std::isinf(out[6]));
  }
}

TEST(row_logsumexp_and_softmax_rows_match_double_references) {
  for (Isa isa : supported_isas())
    for (int64_t n : {1, 3, 7, 8, 9, 15, 16, 17, 100, 32000}) {
      std::vector<float> z = test::randn(static_cast<size_t>(n), static_cast<uint32_t>(n), 4.0f);
      z[static_cast<size_t>(n) / 2] += 30.0f;  // one dominant logit, as after training
      double mx = -INFINITY, s = 0;
      for (float v : z) mx = std::max(mx, static_cast<double>(v));
      for (float v : z) s += std::exp(v - mx);
      const double lse = mx + std::log(s);
      const float got = cpu::row_logsumexp(z.data(), n, isa);
      if (std::fabs(got - lse) > 1e-5 * std::fabs(lse) + 1e-6)
        genrm::test::fail(__FILE__, __LINE__,
                          std::string(isa_name(isa)) + " n=" + std::to_string(n) + ": " + std::to_string(got) + " vs " +
                              std::to_string(lse));
      std::vector<float> row = z;
      const float g = -0.75f;
      cpu::scaled_softmax_row(row.data(), n, got, g, isa);
      // The float argument z - lse carries |z - lse| * eps/2 of rounding, which
      // exp turns into relative error; beyond that, 2 ulp.
      double worst = 0;
      for (size_t i = 0; i < z.size(); ++i) {
        const double arg = static_cast<double>(z[i]) - got, want = -g * std::exp(arg);
        worst = std::max(worst, ulps(row[i], want) / (2 + std::fabs(arg) / 2));
      }
      if (worst > 1)
        genrm::test::fail(
            __FILE__, __LINE__,
            std::string(isa_name(isa)) + " softmax n=" + std::to_string(n) + ": " + std::to_string(worst));
    }
}

TEST(swiglu_ranges_match_double_references) {
  for (Isa isa : supported_isas())
    for (int64_t n : {1, 5, 8, 13, 4099}) {
      std::vector<float> g = test::randn(static_cast<size_t>(n), 1, 6.0f), u = test::randn(static_cast<size_t>(n), 2),
                         da = test::randn(static_cast<size_t>(n), 3);
      g[0] = n > 1 ? -100.0f : 100.0f;  // far tails of the sigmoid
      std::vector<float> a(g.size()), dg(g.size()), du(g.size()), wa(g.size()), wdg(g.size()), wdu(g.size());
      cpu::swiglu_forward_range(g.data(), u.data(), a.data(), n, isa);
      cpu::swiglu_backward_range(g.data(), u.data(), da.data(), dg.data(), du.data(), n, isa);
      for (size_t i = 0; i < g.size(); ++i) {
        const double s = 1 / (1 + std::exp(-static_cast<double>(g[i]))), silu = g[i] * s;
        wa[i] = static_cast<float>(silu * u[i]);
        wdu[i] = static_cast<float>(da[i] * silu);
        wdg[i] = static_cast<float>(static_cast<double>(da[i]) * u[i] * s * (1 + g[i] * (1 - s)));
      }
      CHECK(test::max_scaled_error(a.data(), wa.data(), g.size(), 1e-30, 1e-5) <= 1);
      CHECK(test::max_scaled_error(du.data(), wdu.data(), g.size(), 1e-30, 1e-5) <= 1);
      // dg = da u s (1 + g (1 - s)) cancels near g = -1.28: judge it against its terms' size.
      for (size_t i = 0; i < g.size(); ++i) {
        const double s = 1 / (1 + std::exp(-static_cast<double>(g[i])));
        const double scale = std::fabs(static_cast<double>(da[i]) * u[i] * s) * (1 + std::fabs(g[i]));
        if (!(std::fabs(dg[i] - wdg[i]) <= 1e-5 * scale + 1e-30))
          genrm::test::fail(__FILE__, __LINE__,
                            std::string(isa_name(isa)) + " dg[" + std::to_string(i) + "] " + std::to_string(dg[i]) +
                                " vs " + std::to_string(wdg[i]));
      }
    }
}
