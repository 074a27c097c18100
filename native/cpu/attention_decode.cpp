#include "attention_decode.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/thread_pool.h"

namespace genrm::cpu {
namespace {

void validate(const DecodeAttentionArgs& a) {
  if (a.rows < 0) throw_arg("rows", "a non-negative integer", a.rows);
  if (a.heads < 1 || a.kv_heads < 1 || a.heads % a.kv_heads != 0)
    throw_arg("heads", "a positive multiple of kv_heads (" + std::to_string(a.kv_heads) + ")", a.heads);
  if (a.head_dim < 1) throw_arg("head_dim", "a positive integer", a.head_dim);
  if (a.kv_stride < a.kv_heads * a.head_dim) throw_arg("kv_stride", "at least kv_heads * head_dim", a.kv_stride);
  if (a.rows > 0 && (!a.k || !a.v || !a.n))
    throw Error(ErrorKind::Argument, "attention_decode: k, v and n are required");
  for (int64_t i = 0; i < a.rows; ++i)
    if (a.n[i] < 1) throw_arg("n[" + std::to_string(i) + "]", "at least 1 cached key", a.n[i]);
}

// One (row, head), portable: the same passes as the AVX2 path, in plain loops.
void head_portable(const float* q, const float* k, const float* v, int64_t n, int64_t d, int64_t stride, float scale,
                   float* p, float* out) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    float s = 0;
    for (int64_t t = 0; t < d; ++t) s += q[t] * k[j * stride + t];
    p[j] = s * scale;
    mx = std::max(mx, p[j]);
  }
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (p[j] = std::exp(p[j] - mx));
  const float inv = 1.0f / sum;
  for (int64_t t = 0; t < d; ++t) out[t] = 0;
  for (int64_t j = 0; j < n; ++j) {
    const float w = p[j] * inv;
    for (int64_t t = 0; t < d; ++t) out[t] += w * v[j * stride + t];
  }
}

}  // namespace

void attention_decode(const DecodeAttentionArgs& a, const float* q, float* out, Isa isa) {
  validate(a);
  if (a.rows == 0) return;
  int64_t longest = 0;
  for (int64_t i = 0; i < a.rows; ++i) longest = std::max(longest, a.n[i]);
  const int64_t H = a.heads, D = a.head_dim, group = a.heads / a.kv_heads;
  const bool avx2 = isa != Isa::Portable && isa_supported(Isa::Avx2);
  parallel_for(a.rows * H, [&](int64_t b, int64_t e, int) {
    std::vector<float> p(longest);
    for (int64_t t = b; t < e; ++t) {
      const int64_t i = t / H, h = t % H, g = h / group;
      const float* qi = q + (i * H + h) * D;
      const float* ki = a.k[i] + g * D;
      const float* vi = a.v[i] + g * D;
      float* oi = out + (i * H + h) * D;
      if (avx2)
        attention_decode_head_avx2(qi, ki, vi, a.n[i], D, a.kv_stride, a.scale, p.data(), oi);
      else
        head_portable(qi, ki, vi, a.n[i], D, a.kv_stride, a.scale, p.data(), oi);
    }
  });
}

void attention_decode_reference(const DecodeAttentionArgs& a, const float* q, float* out) {
  validate(a);
  const int64_t H = a.heads, D = a.head_dim, group = a.heads / a.kv_heads;
  for (int64_t i = 0; i < a.rows; ++i)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / group, n = a.n[i];
      const float* qi = q + (i * H + h) * D;
      std::vector<double> s(n);
      double mx = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0;
        for (int64_t t = 0; t < D; ++t) dot += static_cast<double>(qi[t]) * a.k[i][j * a.kv_stride + g * D + t];
        s[j] = dot * a.scale;
        mx = std::max(mx, s[j]);
      }
      double z = 0;
      for (double& x : s) z += (x = std::exp(x - mx));
      for (int64_t t = 0; t < D; ++t) {
        double acc = 0;
        for (int64_t j = 0; j < n; ++j) acc += s[j] / z * a.v[i][j * a.kv_stride + g * D + t];
        out[(i * H + h) * D + t] = static_cast<float>(acc);
      }
    }
}

}  // namespace genrm::cpu
