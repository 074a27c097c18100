// Compiled with -mavx2 -mfma. The AVX2 bodies of vmath.h: an 8-lane exp (Cephes'
// range reduction and degree-6 polynomial, ~1 ulp) and the loops built on it.
// Ragged tails go through masked loads and stores, so every element takes the
// same arithmetic whatever its position.
#include <immintrin.h>

#include <cmath>

#include "vmath.h"

namespace genrm::cpu::avx2 {
namespace {

constexpr float kExpLo = -87.3365447504019f;  // ln(FLT_MIN): below it the result is 0
constexpr float kExpHi = 88.7228391116729f;   // ln(FLT_MAX): above it the result is inf

__m256 exp8(__m256 x) {
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kExpLo)), _mm256_set1_ps(kExpHi));
  // x = n ln2 + r with |r| <= ln2/2; ln2 split in two so n ln2 is exact enough.
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  // 2^n as 2^(n/2) 2^(n - n/2): n reaches 128 near kExpHi, past one exponent field.
  const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(kExpLo), _CMP_LT_OQ));
  y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(kExpHi), _CMP_GT_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));  // NaN stays NaN
}

// Lanes [0, rest) set, for the tail of a row of length not a multiple of 8.
__m256i tail_mask(int64_t rest) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rest)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__m256 sigmoid8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

}  // namespace

void exp_rows(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(y + i, m, exp8(_mm256_maskload_ps(x + i, m)));
  }
}

float row_logsumexp(const float* z, int64_t n) {
  const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
  __m256 vmax = neg_inf;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(z + i));
  const int64_t full = i;
  const __m256i m = tail_mask(n - full);
  const __m256 tail = _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(z + full, m), _mm256_castsi256_ps(m));
  vmax = _mm256_max_ps(vmax, tail);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vmax);
  float mx = lanes[0];
  for (int l = 1; l < 8; ++l) mx = lanes[l] > mx ? lanes[l] : mx;
  // Sum in double lanes: 32,000 float terms would lose ~1e-4 relative in float.
  const __m256 vm = _mm256_set1_ps(mx);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  for (i = 0; i < full; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(z + i), vm));
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  if (full < n) {
    const __m256 e = exp8(_mm256_sub_ps(tail, vm));  // masked-off lanes: exp(-inf) = 0
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  alignas(32) double sums[4];
  _mm256_store_pd(sums, _mm256_add_pd(s0, s1));
  return mx + static_cast<float>(std::log((sums[0] + sums[1]) + (sums[2] + sums[3])));
}

void scaled_softmax_row(float* z, int64_t n, float lse, float g) {
  const __m256 vl = _mm256_set1_ps(lse), vg = _mm256_set1_ps(-g);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(z + i, _mm256_mul_ps(vg, exp8(_mm256_sub_ps(_mm256_loadu_ps(z + i), vl))));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(z + i, m, _mm256_mul_ps(vg, exp8(_mm256_sub_ps(_mm256_maskload_ps(z + i, m), vl))));
  }
}

void swiglu_forward_range(const float* g, const float* u, float* a, int64_t n) {
  const auto body = [](__m256 gv, __m256 uv) { return _mm256_mul_ps(_mm256_mul_ps(gv, sigmoid8(gv)), uv); };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(a + i, body(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(a + i, m, body(_mm256_maskload_ps(g + i, m), _mm256_maskload_ps(u + i, m)));
  }
}

void swiglu_backward_range(const float* g, const float* u, const float* da, float* dg, float* du, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const auto body = [&](__m256 gv, __m256 uv, __m256 dav, __m256& dgv, __m256& duv) {
    const __m256 s = sigmoid8(gv);
    duv = _mm256_mul_ps(dav, _mm256_mul_ps(gv, s));
    // d silu(g)/dg = s (1 + g (1 - s))
    const __m256 dsilu = _mm256_mul_ps(s, _mm256_fmadd_ps(gv, _mm256_sub_ps(one, s), one));
    dgv = _mm256_mul_ps(_mm256_mul_ps(dav, uv), dsilu);
  };
  int64_t i = 0;
  __m256 dgv, duv;
  for (; i + 8 <= n; i += 8) {
    body(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i), _mm256_loadu_ps(da + i), dgv, duv);
    _mm256_storeu_ps(dg + i, dgv);
    _mm256_storeu_ps(du + i, duv);
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    body(_mm256_maskload_ps(g + i, m), _mm256_maskload_ps(u + i, m), _mm256_maskload_ps(da + i, m), dgv, duv);
    _mm256_maskstore_ps(dg + i, m, dgv);
    _mm256_maskstore_ps(du + i, m, duv);
  }
}

}  // namespace genrm::cpu::avx2
