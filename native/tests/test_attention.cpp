// Attention properties beyond the table of ops' parity check (op_attention_*):
// the reference's gradients against central differences of a random projection,
// determinism across thread counts, validation, and decoding from padded caches.
#include <cstring>
#include <vector>

#include "../core/thread_pool.h"
#include "../cpu/attention.h"
#include "../cpu/attention_decode.h"
#include "harness.h"
#include "util.h"

using namespace genrm;
using namespace genrm::test;

namespace {

struct AttnCase {
  std::vector<int32_t> lens;
  int64_t heads, kv_heads, head_dim;
};

cpu::AttentionArgs args_for(const AttnCase& c, std::vector<int32_t>& cu) {
  cu.assign(1, 0);
  for (int32_t l : c.lens) cu.push_back(cu.back() + l);
  cpu::AttentionArgs a;
  a.tokens = cu.back();
  a.heads = c.heads;
  a.kv_heads = c.kv_heads;
  a.head_dim = c.head_dim;
  a.cu_seqlens = cu.data();
  a.num_seqs = static_cast<int64_t>(c.lens.size());
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  return a;
}

}  // namespace

TEST(attention_reference_gradients_match_central_differences) {
  AttnCase c{{4, 3}, 2, 1, 4};
  std::vector<int32_t> cu;
  cpu::AttentionArgs a = args_for(c, cu);
  const size_t nq = a.tokens * a.heads * a.head_dim, nk = a.tokens * a.kv_heads * a.head_dim;
  auto q = randn(nq, 1), k = randn(nk, 2), v = randn(nk, 3), r = randn(nq, 4);
  std::vector<float> dq(nq), dk(nk), dv(nk), out(nq), lse(a.tokens * a.heads);
  cpu::attention_backward_reference(a, q.data(), k.data(), v.data(), r.data(), dq.data(), dk.data(), dv.data());
  auto loss = [&]() {
    cpu::attention_forward_reference(a, q.data(), k.data(), v.data(), out.data(), lse.data());
    return dot(out, r);
  };
  const float h = 1e-2f;
  auto check = [&](std::vector<float>& x, const std::vector<float>& g) {
    for (size_t i = 0; i < x.size(); ++i) {
      float x0 = x[i];
      x[i] = x0 + h;
      double up = loss();
      x[i] = x0 - h;
      double down = loss();
      x[i] = x0;
      double fd = (up - down) / (2 * h);
      CHECK(std::fabs(fd - g[i]) <= 2e-3 + 2e-2 * std::fabs(fd));
    }
  };
  check(q, dq);
  check(k, dk);
  check(v, dv);
}

TEST(attention_deterministic_across_threads) {
  AttnCase c{{150, 90}, 4, 2, 32};
  std::vector<int32_t> cu;
  cpu::AttentionArgs a = args_for(c, cu);
  const size_t nq = a.tokens * a.heads * a.head_dim, nk = a.tokens * a.kv_heads * a.head_dim;
  auto q = randn(nq, 5), k = randn(nk, 6), v = randn(nk, 7), dout = randn(nq, 8);
  auto run = [&](int threads) {
    set_num_threads(threads);
    std::vector<float> out(nq), lse(a.tokens * a.heads), dq(nq), dk(nk), dv(nk);
    cpu::attention_forward(a, q.data(), k.data(), v.data(), out.data(), lse.data(), default_isa());
    cpu::attention_backward(a, q.data(), k.data(), v.data(), out.data(), lse.data(), dout.data(), dq.data(), dk.data(),
                            dv.data(), default_isa());
    out.insert(out.end(), dq.begin(), dq.end());
    out.insert(out.end(), dk.begin(), dk.end());
    out.insert(out.end(), dv.begin(), dv.end());
    return out;
  };
  int saved = num_threads();
  auto one = run(1), three = run(3);
  set_num_threads(saved);
  CHECK(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)) == 0);
}

TEST(attention_rejects_bad_segments) {
  AttnCase c{{3, 2}, 2, 2, 4};
  std::vector<int32_t> cu;
  cpu::AttentionArgs a = args_for(c, cu);
  cu[1] = 6;  // overruns the next segment and the token count
  std::vector<float> x(100), lse(100);
  CHECK_THROWS(cpu::attention_forward(a, x.data(), x.data(), x.data(), x.data(), lse.data(), Isa::Portable));
  a = args_for(c, cu);
  a.kv_heads = 3;
  CHECK_THROWS(cpu::attention_forward(a, x.data(), x.data(), x.data(), x.data(), lse.data(), Isa::Portable));
}

// Decoding: one query per row against that row's own cache (different lengths,
// grouped heads, head sizes that are and are not multiples of 8).
TEST(attention_decode_matches_reference_and_is_batch_independent) {
  uint32_t seed = 500;
  for (int64_t d : {8, 12, 32, 64, 128}) {
    const int64_t rows = 5, heads = 4, kv_heads = 2, stride = kv_heads * d + 3;  // padded rows, as a cache slot may be
    const int64_t lens[rows] = {1, 7, 64, 65, 300};
    std::vector<std::vector<float>> ks, vs;
    std::vector<const float*> kp, vp;
    for (int64_t i = 0; i < rows; ++i) {
      ks.push_back(randn(lens[i] * stride, seed++));
      vs.push_back(randn(lens[i] * stride, seed++));
    }
    for (int64_t i = 0; i < rows; ++i) {
      kp.push_back(ks[i].data());
      vp.push_back(vs[i].data());
    }
    auto q = randn(rows * heads * d, seed++);
    cpu::DecodeAttentionArgs a;
    a.rows = rows;
    a.heads = heads;
    a.kv_heads = kv_heads;
    a.head_dim = d;
    a.k = kp.data();
    a.v = vp.data();
    a.kv_stride = stride;
    a.n = lens;
    a.scale = 1.0f / std::sqrt(static_cast<float>(d));
    std::vector<float> ref(q.size());
    cpu::attention_decode_reference(a, q.data(), ref.data());
    for (Isa isa : supported_isas()) {
      std::vector<float> out(q.size(), NAN);
      cpu::attention_decode(a, q.data(), out.data(), isa);
      CHECK(max_scaled_error(out.data(), ref.data(), out.size(), 1e-5, 1e-5) <= 1);
      // Row 3 alone gives the same bits as in the batch.
      cpu::DecodeAttentionArgs one = a;
      one.rows = 1;
      one.k = kp.data() + 3;
      one.v = vp.data() + 3;
      one.n = lens + 3;
      std::vector<float> alone(heads * d, NAN);
      cpu::attention_decode(one, q.data() + 3 * heads * d, alone.data(), isa);
      CHECK(std::memcmp(alone.data(), out.data() + 3 * heads * d, alone.size() * sizeof(float)) == 0);
    }
  }
}

TEST(attention_decode_is_the_last_row_of_causal_attention) {
  // Decoding position n-1 against n cached keys = row n-1 of causal self-attention.
  std::vector<int32_t> cu;
  cpu::AttentionArgs full = args_for({{37}, 4, 2, 16}, cu);
  const int64_t nq = 37 * 4 * 16, nk = 37 * 2 * 16;
  auto q = randn(nq, 901), k = randn(nk, 902), v = randn(nk, 903);
  std::vector<float> out(nq), lse(37 * 4);
  cpu::attention_forward_reference(full, q.data(), k.data(), v.data(), out.data(), lse.data());
  const float* kp[1] = {k.data()};
  const float* vp[1] = {v.data()};
  const int64_t n[1] = {37};
  cpu::DecodeAttentionArgs a;
  a.rows = 1;
  a.heads = 4;
  a.kv_heads = 2;
  a.head_dim = 16;
  a.k = kp;
  a.v = vp;
  a.kv_stride = 2 * 16;
  a.n = n;
  a.scale = full.scale;
  for (Isa isa : supported_isas()) {
    std::vector<float> row(4 * 16);
    cpu::attention_decode(a, q.data() + 36 * 4 * 16, row.data(), isa);
    CHECK(max_scaled_error(row.data(), out.data() + 36 * 4 * 16, row.size(), 1e-5, 1e-5) <= 1);
  }
  a.n = nullptr;
  CHECK_THROWS(cpu::attention_decode(a, q.data(), out.data(), Isa::Portable));
}
