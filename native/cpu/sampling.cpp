#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "../core/error.h"

namespace genrm::cpu {

void validate_sampling(const SamplingParams& s) {
  if (!(std::isfinite(s.temperature) && s.temperature >= 0))
    throw_arg("temperature", "a finite number >= 0", s.temperature, ErrorKind::Range);
  if (!(s.top_p > 0 && s.top_p <= 1)) throw_arg("topP", "a number in (0, 1]", s.top_p, ErrorKind::Range);
  if (s.top_k < 0) throw_arg("topK", "an integer >= 0", s.top_k, ErrorKind::Range);
}

void sort_by_logit(const float* logits, int64_t vocab, Candidates& c) {
  // Key: the logit's bits made to sort ascending as unsigned, inverted (highest
  // first), above the id (ascending) in the low id_bits bits: 32 + id_bits bits
  // in all (47 at vocab 32k), so 4 passes of 12 bits instead of 6 over 64.
  int id_bits = 1;
  while ((int64_t(1) << id_bits) < vocab) ++id_bits;  // ids are < 2^31
  c.keys.resize(static_cast<size_t>(vocab));
  c.keys_tmp.resize(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) {
    const float x = logits[i] + 0.0f;  // -0 becomes +0: they compare equal
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // ascending order as unsigned
    c.keys[i] = (static_cast<uint64_t>(~u) << id_bits) | static_cast<uint64_t>(i);
  }
  // LSD radix sort, 12 bits a pass. A pass whose digit is the same in every key
  // would not move anything: only its count is paid.
  constexpr int kBits = 12;
  constexpr uint64_t kMask = (1u << kBits) - 1;
  uint64_t* src = c.keys.data();
  uint64_t* dst = c.keys_tmp.data();
  std::vector<uint32_t>& count = c.radix_count;
  count.resize(kMask + 2);
  for (int shift = 0; shift < 32 + id_bits; shift += kBits) {
    std::fill(count.begin(), count.end(), 0);
    for (int64_t i = 0; i < vocab; ++i) ++count[((src[i] >> shift) & kMask) + 1];
    if (count[((src[0] >> shift) & kMask) + 1] == static_cast<uint32_t>(vocab)) continue;
    for (uint64_t b = 0; b < kMask + 1; ++b) count[b + 1] += count[b];
    for (int64_t i = 0; i < vocab; ++i) dst[count[(src[i] >> shift) & kMask]++] = src[i];
    std::swap(src, dst);
  }
  const uint64_t id_mask = (uint64_t(1) << id_bits) - 1;
  c.ids.resize(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) c.ids[i] = static_cast<int32_t>(src[i] & id_mask);
}

double exp_shifted(const float* logits, int64_t vocab, float max, double* exps) {
  double z = 0;
  for (int64_t i = 0; i < vocab; ++i) z += (exps[i] = std::exp(static_cast<double>(logits[i] - max)));
  return z;
}

void sampling_filter(const float* logits, int64_t vocab, const SamplingParams& s, Candidates& c, const double* exps) {
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
    sort_by_logit(logits, vocab, c);  // the order std::sort with `before` gives, in linear time
  }
  double* p = c.weights.data();
  const double inv_t = 1.0 / s.temperature;
  double total = 0;
  if (exps && inv_t == 1.0) {  // (logit - mx) * 1.0 is exactly the double exp_shifted exponentiated
    for (int64_t i = 0; i < keep; ++i) total += (p[i] = exps[c.ids[i]]);
  } else {
    for (int64_t i = 0; i < keep; ++i) total += (p[i] = std::exp((logits[c.ids[i]] - mx) * inv_t));
  }
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

int32_t sample_row(const float* logits, int64_t vocab, const SamplingParams& s, double u, Candidates& c,
                   double* logprob) {
  const float mx = *std::max_element(logits, logits + vocab);
  c.exps.resize(static_cast<size_t>(vocab));
  const double lse = mx + std::log(exp_shifted(logits, vocab, mx, c.exps.data()));
  sampling_filter(logits, vocab, s, c, c.exps.data());
  const int32_t token = s.temperature == 0.0 ? c.ids[0] : sampling_draw(c, u);
  *logprob = logits[token] - lse;
  return token;
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
