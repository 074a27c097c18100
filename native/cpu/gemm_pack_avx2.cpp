// Compiled with -mavx2 -mfma. The GEMM's packing with 8x8 register transposes.
// The scalar packers moved one float per load and store with a stride on the
// store side; they were 8-13% of a training step (perf), as much as a third of
// the micro-kernel's own time at K = 256. Only intrinsics and unit-local code here.
#include <immintrin.h>

#include "gemm_kernels.h"

namespace genrm::cpu {
namespace {

// In place: r[i][j] <- r[j][i].
void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)),
               s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)),
               s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)),
               s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)),
               s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Stores the first `width` (8 or 6) lanes of v.
void store_lanes(float* d, __m256 v, int width) {
  if (width == 8) {
    _mm256_storeu_ps(d, v);
  } else {
    _mm_storeu_ps(d, _mm256_castps256_ps128(v));
    _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), _mm256_extractf128_ps(v, 1));
  }
}

}  // namespace

void pack_transposed_avx2(const float* src, int64_t ld, int64_t rows, int64_t kc, int w, float* out) {
  const int64_t panels = (rows + w - 1) / w, k8 = kc - kc % 8;
  for (int64_t panel = 0; panel < panels; ++panel) {
    float* dst = out + panel * kc * w;
    for (int g = 0; g < w; g += 8) {
      const int width = w - g < 8 ? w - g : 8;
      const float* row[8];
      for (int r = 0; r < 8; ++r) {
        const int64_t i = panel * w + g + r;
        row[r] = r < width && i < rows ? src + i * ld : nullptr;  // null: a zero row of padding
      }
      for (int64_t p = 0; p < k8; p += 8) {
        __m256 v[8];
        for (int r = 0; r < 8; ++r) v[r] = row[r] ? _mm256_loadu_ps(row[r] + p) : _mm256_setzero_ps();
        transpose8(v);
        for (int t = 0; t < 8; ++t) store_lanes(dst + (p + t) * w + g, v[t], width);
      }
      for (int64_t p = k8; p < kc; ++p)
        for (int r = 0; r < width; ++r) dst[p * w + g + r] = row[r] ? row[r][p] : 0.0f;
    }
  }
}

void pack_copied_avx2(const float* src, int64_t ld, int64_t cols, int64_t kc, int w, float* out) {
  const int64_t panels = (cols + w - 1) / w;
  for (int64_t panel = 0; panel < panels; ++panel) {
    float* dst = out + panel * kc * w;
    const float* s = src + panel * w;
    const int64_t have = cols - panel * w < w ? cols - panel * w : w;
    if (have == w) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* sp = s + p * ld;
        float* dp = dst + p * w;
        int j = 0;
        for (; j + 8 <= w; j += 8) _mm256_storeu_ps(dp + j, _mm256_loadu_ps(sp + j));
        for (; j < w; ++j) dp[j] = sp[j];
      }
    } else {
      for (int64_t p = 0; p < kc; ++p)
        for (int j = 0; j < w; ++j) dst[p * w + j] = j < have ? s[p * ld + j] : 0.0f;
    }
  }
}

}  // namespace genrm::cpu
