// CUDA kernels beyond the table of ops' parity cases (cuda_op_*): the cache
// append, the model's glue kernels, bf16 outputs and out-of-memory, against the
// CPU on fresh random inputs at sizes that are no multiple of the block size.
// Outputs start poisoned (all bits set: NaN), so an element a kernel forgets to
// write fails the comparison. Without a usable device the cases are skipped,
// unless GENRM_REQUIRE_CUDA=1 (the GPU script sets it) makes that a failure.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../cpu/attention_decode.h"
#include "../cpu/embedding.h"
#include "../cpu/rope.h"
#include "../cuda/check.h"
#include "../cuda/kernels.h"
#include "cuda_util.cuh"

using namespace genrm;
using test::Dev;
using test::expect_close;
using test::have_device;

TEST(cuda_out_of_memory_is_a_clear_error_and_the_device_stays_usable) {
  if (!have_device()) return;
  bool threw = false;
  try {
    cuda::device_alloc(size_t(1) << 50, "a petabyte");
  } catch (const std::exception& e) {
    threw = std::string(e.what()).find("a petabyte") != std::string::npos;
  }
  CHECK(threw);
  Dev<float> after(std::vector<float>(16, 1.0f));
  CHECK(after.host()[15] == 1.0f);
}

// Decode attention against the CPU reference, on a cache laid out as the model's
// ([slots][layers][capacity][kv_dim]), fp32 and bf16, grouped-query heads, key
// counts above and below the block size, a head dim that is no multiple of 32;
// appends first.
TEST(cuda_attention_decode_and_cache_append_match_cpu) {
  if (!have_device()) return;
  const int64_t slots = 3, layers = 2, layer = 1, capacity = 300, heads = 6, kv_heads = 2, head_dim = 40;
  const int64_t kvd = kv_heads * head_dim, rows = 3;
  const std::vector<int32_t> slot_of = {2, 0, 1},
                             pos = {0, 129, 299};  // row i appends at pos[i], attends to pos[i] + 1 keys
  const auto k_new = test::randn(rows * kvd, 32), v_new = test::randn(rows * kvd, 33),
             q = test::randn(rows * heads * head_dim, 34);
  std::vector<int32_t> n_keys(rows);
  for (int64_t i = 0; i < rows; ++i) n_keys[i] = pos[i] + 1;
  // A bf16 cache holds, and the reference reads, every value rounded to bf16.
  for (const cuda::DType t : {cuda::DType::F32, cuda::DType::BF16}) {
    const bool bf16 = t == cuda::DType::BF16;
    const auto stored = [&](std::vector<float> v) { return bf16 ? test::round_bf16(std::move(v)) : v; };
    auto cache_k = stored(test::randn(slots * layers * capacity * kvd, 30)),
         cache_v = stored(test::randn(cache_k.size(), 31));
    Dev<float> ck(cache_k), cv(cache_v), kn(k_new), vn(v_new), qd(q), out(rows * heads * head_dim),
        scores(rows * heads * capacity);
    Dev<uint16_t> ck16(test::to_bf16_bits(bf16 ? cache_k : std::vector<float>())),
        cv16(test::to_bf16_bits(bf16 ? cache_v : std::vector<float>()));
    void* kc = bf16 ? static_cast<void*>(ck16.p) : ck.p;
    void* vc = bf16 ? static_cast<void*>(cv16.p) : cv.p;
    Dev<int32_t> sl(slot_of), ps(pos), nk(n_keys);
    cuda::kv_cache_append(kn.p, vn.p, kc, vc, t, sl.p, ps.p, rows, kvd, layers, layer, capacity);
    const float scale = 0.158f;
    cuda::attention_decode(qd.p, kc, vc, t, sl.p, nk.p, out.p, scores.p, rows, heads, kv_heads, head_dim, layers, layer,
                           capacity, scale);
    // The same on the host.
    const auto k_in = stored(k_new), v_in = stored(v_new);
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t at = ((slot_of[i] * layers + layer) * capacity + pos[i]) * kvd;
      std::copy(k_in.begin() + i * kvd, k_in.begin() + (i + 1) * kvd, cache_k.begin() + at);
      std::copy(v_in.begin() + i * kvd, v_in.begin() + (i + 1) * kvd, cache_v.begin() + at);
    }
    const auto widened = [&](const Dev<float>& f, const Dev<uint16_t>& h) {
      return bf16 ? test::from_bf16_bits(h.host()) : f.host();
    };
    expect_close(widened(ck, ck16), cache_k, 1e-30, 0, "appended keys");
    expect_close(widened(cv, cv16), cache_v, 1e-30, 0, "appended values");
    std::vector<const float*> kp(rows), vp(rows);
    std::vector<int64_t> n(rows);
    for (int64_t i = 0; i < rows; ++i) {
      kp[i] = cache_k.data() + (slot_of[i] * layers + layer) * capacity * kvd;
      vp[i] = cache_v.data() + (slot_of[i] * layers + layer) * capacity * kvd;
      n[i] = n_keys[i];
    }
    cpu::DecodeAttentionArgs da;
    da.rows = rows;
    da.heads = heads;
    da.kv_heads = kv_heads;
    da.head_dim = head_dim;
    da.k = kp.data();
    da.v = vp.data();
    da.kv_stride = kvd;
    da.n = n.data();
    da.scale = scale;
    std::vector<float> want(rows * heads * head_dim);
    cpu::attention_decode_reference(da, q.data(), want.data());
    expect_close(out.host(), want, 1e-5, 1e-4, bf16 ? "decode attention, bf16 cache" : "decode attention");
  }
}

// The model's glue kernels against plain host loops.
TEST(cuda_row_gather_scatter_reward_dot_and_sum_squares_match_cpu) {
  if (!have_device()) return;
  const int64_t N = 50, dim = 300, n = 7;
  const std::vector<int32_t> rows = {49, 0, 3, 17, 18, 30, 2};  // distinct, unordered
  auto x = test::randn(N * dim, 40), y = test::randn(n * dim, 41), w = test::randn(dim, 42), g = test::randn(n, 43);
  auto dx = test::randn(N * dim, 44), dw = test::randn(dim, 45);
  Dev<float> xd(x), yd(y), wd(w), gd(g), gathered(n * dim), dots(n), dxd(dx), dwd(dw), scattered(x);
  Dev<int32_t> rd(rows);
  cuda::gather_rows(xd.p, rd.p, gathered.p, n, dim);
  cuda::scatter_add_rows(yd.p, rd.p, scattered.p, n, dim);
  cuda::rows_dot(xd.p, rd.p, wd.p, dots.p, n, dim);
  cuda::rows_dot_backward(xd.p, rd.p, wd.p, gd.p, dxd.p, dwd.p, n, dim);
  std::vector<float> want_g(n * dim), want_s = x, want_dot(n);
  for (int64_t i = 0; i < n; ++i) {
    double acc = 0;
    for (int64_t d = 0; d < dim; ++d) {
      const float xv = x[rows[i] * dim + d];
      want_g[i * dim + d] = xv;
      want_s[rows[i] * dim + d] += y[i * dim + d];
      acc += static_cast<double>(xv) * w[d];
      dx[rows[i] * dim + d] += g[i] * w[d];
      dw[d] += g[i] * xv;
    }
    want_dot[i] = static_cast<float>(acc);
  }
  expect_close(gathered.host(), want_g, 1e-30, 0, "gather_rows");
  expect_close(scattered.host(), want_s, 1e-6, 1e-6, "scatter_add_rows");
  expect_close(dots.host(), want_dot, 1e-4, 1e-5, "rows_dot");
  expect_close(dxd.host(), dx, 1e-6, 1e-6, "rows_dot_backward dx");
  expect_close(dwd.host(), dw, 1e-5, 1e-5, "rows_dot_backward dw");
  // Sum of squares over several partial blocks, and an odd tail.
  const auto big = test::randn(200003, 46);
  Dev<float> bd(big);
  double want = 0;
  for (float v : big) want += static_cast<double>(v) * v;
  const double got = cuda::sum_squares(bd.p, static_cast<int64_t>(big.size()));
  CHECK(std::fabs(got - want) <= 1e-9 * want);
}

// The sorted embedding gradient against the CPU's (the same order of additions: the same bits).
TEST(cuda_embedding_backward_sorted_matches_cpu) {
  if (!have_device()) return;
  const int64_t n = 500, dim = 97, vocab = 40;
  std::vector<int32_t> tokens(n);
  for (int64_t t = 0; t < n; ++t) tokens[t] = static_cast<int32_t>((t * t + 3 * t) % 11 == 0 ? 5 : (t * 7) % vocab);
  auto dout = test::randn(n * dim, 50), dtable = test::randn(vocab * dim, 51);
  Dev<float> dd(dout), dt(dtable);
  std::vector<int32_t> order(n);
  for (int64_t t = 0; t < n; ++t) order[t] = static_cast<int32_t>(t);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return tokens[a] < tokens[b]; });
  std::vector<int32_t> ids, starts;
  for (int64_t i = 0; i < n; ++i)
    if (i == 0 || tokens[order[i]] != tokens[order[i - 1]]) {
      ids.push_back(tokens[order[i]]);
      starts.push_back(static_cast<int32_t>(i));
    }
  starts.push_back(static_cast<int32_t>(n));
  Dev<int32_t> idd(ids), sd(starts), od(order);
  cuda::embedding_backward_sorted(idd.p, sd.p, od.p, static_cast<int64_t>(ids.size()), dd.p, dt.p, dim);
  cpu::embedding_backward(tokens.data(), dout.data(), dtable.data(), n, dim);
  expect_close(dt.host(), dtable, 1e-30, 0, "embedding_backward_sorted");
}

// The bf16-output variants (what the model stores for tensor-core products
// only) write every element, each the fp32 variant's value rounded to bf16:
// within one bf16 step of it (the two instantiations may contract the
// arithmetic differently), exactly where the value is rounded after the fact.
TEST(cuda_bf16_outputs_are_the_fp32_outputs_rounded) {
  if (!have_device()) return;
  using cuda::DType;
  auto widened = [](const Dev<uint16_t>& d) { return test::from_bf16_bits(d.host()); };
  const double one_step = 1.0 / 128;  // bf16 keeps 8 significant bits
  const int64_t rows = 37, dim = 1000, n = 10007;
  auto x = test::randn(rows * dim, 41), w = test::randn(dim, 42);
  Dev<float> x_d(x), w_d(w), y32(rows * dim), rstd(rows);
  Dev<uint16_t> y16(rows * dim);
  cuda::rmsnorm_forward(x_d.p, w_d.p, y32.p, rstd.p, rows, dim, 1e-5f);
  cuda::rmsnorm_forward(x_d.p, w_d.p, y16.p, rstd.p, rows, dim, 1e-5f, DType::BF16);
  expect_close(widened(y16), test::round_bf16(y32.host()), 1e-30, one_step, "rmsnorm y (bf16)");

  auto g = test::randn(n, 43, 4.0f), u = test::randn(n, 44), da = test::randn(n, 45);
  Dev<float> g_d(g), u_d(u), da_d(da), a32(n), dg32(n), du32(n);
  Dev<uint16_t> a16(n), dg16(n), du16(n);
  cuda::swiglu_forward(g_d.p, u_d.p, a32.p, n);
  cuda::swiglu_forward(g_d.p, u_d.p, a16.p, n, DType::BF16);
  cuda::swiglu_backward(g_d.p, u_d.p, da_d.p, dg32.p, du32.p, n);
  cuda::swiglu_backward(g_d.p, u_d.p, da_d.p, dg16.p, du16.p, n, DType::BF16);
  expect_close(widened(a16), test::round_bf16(a32.host()), 1e-30, one_step, "swiglu a (bf16)");
  expect_close(widened(dg16), test::round_bf16(dg32.host()), 1e-30, one_step, "swiglu dg (bf16)");
  expect_close(widened(du16), test::round_bf16(du32.host()), 1e-30, one_step, "swiglu du (bf16)");

  const int64_t tokens = 29, heads = 3, head_dim = 40, max_pos = 64;
  std::vector<float> cs(max_pos * head_dim / 2), sn(cs.size());
  cpu::rope_table(cpu::rope_default_inv_freq(10000.0, head_dim).data(), head_dim, max_pos, cs.data(), sn.data());
  std::vector<int32_t> pos(tokens);
  for (int64_t t = 0; t < tokens; ++t) pos[t] = static_cast<int32_t>((t * 5) % max_pos);
  Dev<float> cs_d(cs), sn_d(sn);
  Dev<int32_t> pos_d(pos);
  for (bool inverse : {false, true}) {
    auto q = test::randn(tokens * heads * head_dim, 46);
    Dev<float> q_d(q), rotated(q.size());
    Dev<uint16_t> rotated16(q.size());
    cuda::rope_apply_table_to(q_d.p, DType::F32, rotated.p, DType::F32, pos_d.p, tokens, heads, head_dim, cs_d.p,
                              sn_d.p, inverse);
    cuda::rope_apply_table_to(q_d.p, DType::F32, rotated16.p, DType::BF16, pos_d.p, tokens, heads, head_dim, cs_d.p,
                              sn_d.p, inverse);
    cuda::rope_apply_table(q_d.p, pos_d.p, tokens, heads, head_dim, cs_d.p, sn_d.p, inverse);  // in place
    CHECK(rotated.host() == q_d.host());
    expect_close(widened(rotated16), test::round_bf16(rotated.host()), 1e-30, one_step, "rope out (bf16)");
    // bf16 in, in place (the model's bf16 dQ/dK): the fp32 rotation of the same bf16 values, rounded.
    Dev<uint16_t> q16(test::to_bf16_bits(q));
    Dev<float> q_rounded(test::round_bf16(q));
    cuda::rope_apply_table_to(q16.p, DType::BF16, q16.p, DType::BF16, pos_d.p, tokens, heads, head_dim, cs_d.p, sn_d.p,
                              inverse);
    cuda::rope_apply_table(q_rounded.p, pos_d.p, tokens, heads, head_dim, cs_d.p, sn_d.p, inverse);
    expect_close(widened(q16), test::round_bf16(q_rounded.host()), 1e-30, one_step, "rope bf16 in place");
  }

  Dev<uint16_t> x16(x.size());
  cuda::to_bf16(x_d.p, x16.p, static_cast<int64_t>(x.size()));
  CHECK(widened(x16) == test::round_bf16(x));
  Dev<float> x32(x.size());  // poisoned
  cuda::to_f32(x16.p, x32.p, static_cast<int64_t>(x.size()));
  CHECK(x32.host() == test::round_bf16(x));

  auto p = test::randn(n, 47), m = test::randn(n, 48, 0.1f), v = test::randn(n, 49);
  for (float& e : v) e = e * e;
  Dev<float> p_d(p), m_d(m), v_d(v);
  Dev<uint16_t> p16(n);
  cuda::adamw_range(p_d.p, da_d.p, m_d.p, v_d.p, n, 0.9f, 0.95f, 1e-3f, 1.2f, 1e-8f, 0.999f, p16.p);
  CHECK(widened(p16) == test::round_bf16(p_d.host()));
}
