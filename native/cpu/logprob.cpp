#include "logprob.h"

#include <cmath>
#include <vector>

#include "../core/thread_pool.h"
#include "gemm.h"
#include "vmath.h"

namespace genrm::cpu {
namespace {

void chunk_logits(const LogprobArgs& a, int64_t r0, int64_t n, float* logits, Isa isa) {
  GemmArgs g;
  g.trans_b = true;
  g.m = n;
  g.n = a.vocab;
  g.k = a.dim;
  g.a = a.hidden + r0 * a.dim;
  g.lda = a.dim;
  g.b = a.weight;
  g.ldb = a.dim;
  g.c = logits;
  g.ldc = a.vocab;
  gemm(g, isa);
}

// One chunk of logits, kept per thread: a fresh 64 MiB buffer every call would
// cost more in page faults than the log-softmax itself.
float* chunk_buffer(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

}  // namespace

int64_t logprob_chunk_rows(int64_t vocab) {
  // Each chunk's GEMMs pack the whole lm_head, so chunks must be tall enough to
  // amortise that: 16M floats (64 MiB) of logits gives ~520 rows at V = 32000.
  int64_t rows = (int64_t(1) << 24) / (vocab > 0 ? vocab : 1);
  return rows < 32 ? 32 : rows > 2048 ? 2048 : rows;
}

void logprob_forward(const LogprobArgs& a, float* logp, Isa isa) {
  const int64_t chunk = logprob_chunk_rows(a.vocab);
  float* logits = chunk_buffer(static_cast<size_t>(std::min(chunk, a.rows) * a.vocab));
  for (int64_t r0 = 0; r0 < a.rows; r0 += chunk) {
    const int64_t n = std::min(chunk, a.rows - r0);
    chunk_logits(a, r0, n, logits, isa);
    parallel_for(n, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const float* z = logits + i * a.vocab;
        logp[r0 + i] = z[a.targets[r0 + i]] - row_logsumexp(z, a.vocab, isa);
      }
    });
  }
}

namespace {

// dz = dlogp * (onehot - softmax) per row of a chunk, then the two products.
// Writes logp too when asked (the fused pass).
void backward_chunks(const LogprobArgs& a, const float* dlogp, float* logp, float* dhidden, float* dweight, Isa isa) {
  const int64_t chunk = logprob_chunk_rows(a.vocab);
  float* logits = chunk_buffer(static_cast<size_t>(std::min(chunk, a.rows) * a.vocab));
  for (int64_t r0 = 0; r0 < a.rows; r0 += chunk) {
    const int64_t n = std::min(chunk, a.rows - r0);
    chunk_logits(a, r0, n, logits, isa);
    parallel_for(n, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        float* z = logits + i * a.vocab;
        const float lse = row_logsumexp(z, a.vocab, isa), g = dlogp[r0 + i];
        const int32_t target = a.targets[r0 + i];
        if (logp) logp[r0 + i] = z[target] - lse;
        scaled_softmax_row(z, a.vocab, lse, g, isa);
        z[target] += g;
      }
    });
    GemmArgs dh;  // dhidden[chunk] += dz W
    dh.m = n;
    dh.n = a.dim;
    dh.k = a.vocab;
    dh.a = logits;
    dh.lda = a.vocab;
    dh.b = a.weight;
    dh.ldb = a.dim;
    dh.beta = 1.0f;
    dh.c = dhidden + r0 * a.dim;
    dh.ldc = a.dim;
    gemm(dh, isa);
    GemmArgs dw;  // dweight += dz^T hidden[chunk]
    dw.trans_a = true;
    dw.m = a.vocab;
    dw.n = a.dim;
    dw.k = n;
    dw.a = logits;
    dw.lda = a.vocab;
    dw.b = a.hidden + r0 * a.dim;
    dw.ldb = a.dim;
    dw.beta = 1.0f;
    dw.c = dweight;
    dw.ldc = a.dim;
    gemm(dw, isa);
  }
}

}  // namespace

void logprob_backward(const LogprobArgs& a, const float* dlogp, float* dhidden, float* dweight, Isa isa) {
  backward_chunks(a, dlogp, nullptr, dhidden, dweight, isa);
}

void logprob_forward_backward(const LogprobArgs& a, const float* dlogp, float* logp, float* dhidden, float* dweight,
                              Isa isa) {
  backward_chunks(a, dlogp, logp, dhidden, dweight, isa);
}

void logprob_forward_reference(const LogprobArgs& a, float* logp) {
  std::vector<double> z(a.vocab);
  for (int64_t r = 0; r < a.rows; ++r) {
    double mx = -INFINITY;
    for (int64_t j = 0; j < a.vocab; ++j) {
      double s = 0;
      for (int64_t d = 0; d < a.dim; ++d) s += static_cast<double>(a.hidden[r * a.dim + d]) * a.weight[j * a.dim + d];
      z[j] = s;
      mx = std::max(mx, s);
    }
    double sum = 0;
    for (double x : z) sum += std::exp(x - mx);
    logp[r] = static_cast<float>(z[a.targets[r]] - mx - std::log(sum));
  }
}

}  // namespace genrm::cpu
