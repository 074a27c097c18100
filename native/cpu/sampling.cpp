#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "../core/error.h"

namespace genrm::cpu {

void validate_sampling(const SamplingParams& s) {
  if (!(std::isfinite(s.temperature) && s.temperature >= 0)) throw_arg("temperature", "a finite number >= 0", s.temperature, ErrorKind::Range);
  if (!(s.top_p > 0 && s.top_p <= 1)) throw_arg("topP", "a number in (0, 1]", s.top_p, ErrorKind::Range);
  if (s.top_k < 0) throw_arg("topK", "an integer >= 0", s.top_k, ErrorKind::Range);
}

void sampling_filter(const float* logits, int64_t vocab, const SamplingParams& s, Candidates& c) {
  c.ids.resize(static_cast<size_t>(vocab));
  c.weights.resize(static_cast<size_t>(vocab));
  if (s.temperature == 0.0) {
    c.ids[0] = static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);  // first maximum
    c.weights[0] = c.total = 1.0;
    c.kept = 1;
    return;
  }
  const float mx = *std::max_element(logits, logits + vocab);
  std::iota(c.ids.begin(), c.ids.end(), 0);
  // Highest logit first; equal logits by id.
  auto before = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  int64_t keep = vocab;
  if (s.top_k > 0 && s.top_k < vocab) {
    keep = s.top_k;
    std::partial_sort(c.ids.begin(), c.ids.begin() + keep, c.ids.end(), before);
  } else if (s.top_p < 1.0) {
    std::sort(c.ids.begin(), c.ids.end(), before);
  }
  double* p = c.weights.data();
  const double inv_t = 1.0 / s.temperature;
  double total = 0;
  for (int64_t i = 0; i < keep; ++i) total += (p[i] = std::exp((logits[c.ids[i]] - mx) * inv_t));
  if (s.top_p < 1.0) {
    // The smallest prefix (in probability order) whose mass reaches top_p.
    double acc = 0;
    int64_t cut = keep;
    for (int64_t i = 0; i < keep; ++i) {
      acc += p[i] / total;
      if (acc >= s.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    total = 0;
    for (int64_t i = 0; i < keep; ++i) total += p[i];
  }
  c.kept = keep;
  c.total = total;
}

int32_t sampling_draw(const Candidates& c, double u) {
  double left = u * c.total;
  for (int64_t i = 0; i < c.kept; ++i) {
    left -= c.weights[i];
    if (left < 0) return c.ids[i];
  }
  return c.ids[c.kept - 1];  // rounding left a sliver past the end
}

}  // namespace genrm::cpu
