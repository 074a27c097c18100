// Task partition, validation and the plain references for attention.
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/thread_pool.h"

namespace genrm::cpu {
namespace {

struct Tile {
  int64_t seq_begin, seq_end, row0, rows, head;
};

// Tiles of kAttentionBlock rows for every (sequence, head), longest work first
// would balance better; in order keeps it simple and deterministic.
std::vector<Tile> tiles(const AttentionArgs& a, int64_t heads) {
  std::vector<Tile> out;
  for (int64_t s = 0; s < a.num_seqs; ++s) {
    const int64_t s0 = a.cu_seqlens[s], s1 = a.cu_seqlens[s + 1];
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t r = s0; r < s1; r += kAttentionBlock)
        out.push_back({s0, s1, r, std::min(kAttentionBlock, s1 - r), h});
  }
  return out;
}

// Per-thread tile scratch (kept: the kernels run every layer of every step).
float* tile_scratch() {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<float, Free> buf(
      static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kAttentionScratch)));
  if (!buf) throw Error(ErrorKind::Runtime, "attention: out of memory for tile scratch");
  return buf.get();
}

AttentionTileKernels kernels_for(Isa isa) {
  if (isa == Isa::Avx512 && isa_supported(Isa::Avx512)) return attention_kernels_avx512();
  return isa != Isa::Portable && isa_supported(Isa::Avx2) ? attention_kernels_avx2() : attention_kernels_portable();
}

}  // namespace

void validate_attention(const AttentionArgs& a) {
  if (a.tokens < 0) throw_arg("tokens", "a non-negative integer", a.tokens);
  if (a.heads < 1) throw_arg("heads", "a positive integer", a.heads);
  if (a.kv_heads < 1 || a.heads % a.kv_heads != 0)
    throw_arg("kvHeads", "a positive divisor of heads (" + std::to_string(a.heads) + ")", a.kv_heads);
  if (a.head_dim < 1 || a.head_dim > kAttentionMaxHeadDim)
    throw_arg("headDim", "an integer in [1, " + std::to_string(kAttentionMaxHeadDim) + "]", a.head_dim);
  if (a.num_seqs < 0) throw_arg("cuSeqlens.length", "at least 1", a.num_seqs + 1);
  if (!a.cu_seqlens) throw Error(ErrorKind::Argument, "cuSeqlens: expected an Int32Array, got null");
  if (a.cu_seqlens[0] != 0) throw_arg("cuSeqlens[0]", 0, a.cu_seqlens[0]);
  for (int64_t s = 0; s < a.num_seqs; ++s)
    if (a.cu_seqlens[s + 1] < a.cu_seqlens[s])
      throw_arg("cuSeqlens[" + std::to_string(s + 1) + "]",
                ">= cuSeqlens[" + std::to_string(s) + "] (" + std::to_string(a.cu_seqlens[s]) + ")",
                a.cu_seqlens[s + 1]);
  if (a.cu_seqlens[a.num_seqs] != a.tokens)
    throw_arg("cuSeqlens[" + std::to_string(a.num_seqs) + "]", "the token count " + std::to_string(a.tokens),
              a.cu_seqlens[a.num_seqs]);
  if (!(std::isfinite(a.scale) && a.scale > 0)) throw_arg("scale", "a positive finite number", a.scale);
}

void attention_forward(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out, float* lse,
                       Isa isa) {
  validate_attention(a);
  const AttentionTileKernels kern = kernels_for(isa);
  const std::vector<Tile> work = tiles(a, a.heads);
  parallel_for(static_cast<int64_t>(work.size()), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      const Tile& t = work[i];
      kern.forward(a, q, k, v, out, lse, t.seq_begin, t.row0, t.rows, t.head, tile_scratch());
    }
  });
}

void attention_backward(const AttentionArgs& a, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv, Isa isa) {
  validate_attention(a);
  const AttentionTileKernels kern = kernels_for(isa);
  const int64_t D = a.head_dim;
  // drow[t][h] = dO . O: the softmax backward's row term.
  std::vector<float> drow(static_cast<size_t>(a.tokens * a.heads));
  parallel_for(a.tokens * a.heads, [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += static_cast<double>(dout[r * D + d]) * out[r * D + d];
      drow[r] = static_cast<float>(s);
    }
  });
  const std::vector<Tile> kv_work = tiles(a, a.kv_heads);
  parallel_for(static_cast<int64_t>(kv_work.size()), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      const Tile& t = kv_work[i];
      kern.backward_kv(a, q, k, v, lse, dout, drow.data(), dk, dv, t.seq_end, t.row0, t.rows, t.head, tile_scratch());
    }
  });
  const std::vector<Tile> q_work = tiles(a, a.heads);
  parallel_for(static_cast<int64_t>(q_work.size()), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      const Tile& t = q_work[i];
      kern.backward_q(a, q, k, v, lse, dout, drow.data(), dq, t.seq_begin, t.row0, t.rows, t.head, tile_scratch());
    }
  });
}

void attention_forward_reference(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out,
                                 float* lse) {
  validate_attention(a);
  const int64_t D = a.head_dim, group = a.heads / a.kv_heads;
  for (int64_t s = 0; s < a.num_seqs; ++s) {
    const int64_t s0 = a.cu_seqlens[s], s1 = a.cu_seqlens[s + 1];
    for (int64_t h = 0; h < a.heads; ++h) {
      const int64_t g = h / group;
      for (int64_t i = s0; i < s1; ++i) {
        std::vector<double> p(i - s0 + 1);
        double mx = -INFINITY;
        for (int64_t j = s0; j <= i; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += static_cast<double>(q[(i * a.heads + h) * D + d]) * k[(j * a.kv_heads + g) * D + d];
          p[j - s0] = dot * a.scale;
          mx = std::max(mx, p[j - s0]);
        }
        double sum = 0;
        for (double& x : p) sum += (x = std::exp(x - mx));
        for (int64_t d = 0; d < D; ++d) {
          double o = 0;
          for (int64_t j = s0; j <= i; ++j) o += p[j - s0] * v[(j * a.kv_heads + g) * D + d];
          out[(i * a.heads + h) * D + d] = static_cast<float>(o / sum);
        }
        lse[i * a.heads + h] = static_cast<float>(mx + std::log(sum));
      }
    }
  }
}

void attention_backward_reference(const AttentionArgs& a, const float* q, const float* k, const float* v,
                                  const float* dout, float* dq, float* dk, float* dv) {
  validate_attention(a);
  const int64_t D = a.head_dim, group = a.heads / a.kv_heads;
  std::vector<double> gq(a.tokens * a.heads * D, 0.0), gk(a.tokens * a.kv_heads * D, 0.0),
      gv(a.tokens * a.kv_heads * D, 0.0);
  for (int64_t s = 0; s < a.num_seqs; ++s) {
    const int64_t s0 = a.cu_seqlens[s], s1 = a.cu_seqlens[s + 1];
    for (int64_t h = 0; h < a.heads; ++h) {
      const int64_t g = h / group;
      for (int64_t i = s0; i < s1; ++i) {
        const int64_t n = i - s0 + 1;
        std::vector<double> p(n), dp(n);
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += static_cast<double>(q[(i * a.heads + h) * D + d]) * k[((s0 + j) * a.kv_heads + g) * D + d];
          p[j] = dot * a.scale;
          mx = std::max(mx, p[j]);
        }
        for (double& x : p) sum += (x = std::exp(x - mx));
        for (double& x : p) x /= sum;
        double row = 0;
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += static_cast<double>(dout[(i * a.heads + h) * D + d]) * v[((s0 + j) * a.kv_heads + g) * D + d];
          dp[j] = dot;
          row += p[j] * dot;
        }
        for (int64_t j = 0; j < n; ++j) {
          const double ds = p[j] * (dp[j] - row) * a.scale;
          for (int64_t d = 0; d < D; ++d) {
            gv[((s0 + j) * a.kv_heads + g) * D + d] += p[j] * dout[(i * a.heads + h) * D + d];
            gq[(i * a.heads + h) * D + d] += ds * k[((s0 + j) * a.kv_heads + g) * D + d];
            gk[((s0 + j) * a.kv_heads + g) * D + d] += ds * q[(i * a.heads + h) * D + d];
          }
        }
      }
    }
  }
  for (size_t i = 0; i < gq.size(); ++i) dq[i] = static_cast<float>(gq[i]);
  for (size_t i = 0; i < gk.size(); ++i) dk[i] = static_cast<float>(gk[i]);
  for (size_t i = 0; i < gv.size(); ++i) dv[i] = static_cast<float>(gv[i]);
}

}  // namespace genrm::cpu
