// Device attention (both paths, both storage dtypes) against the CPU engine's
// double-precision references, on ragged packed batches with MHA and GQA heads.
// Outputs and lse start poisoned (all bits set: NaN in fp32 and bf16), so an
// element no kernel writes fails. The backward runs on the device forward's own
// out and lse, twice: the two results must be the same bytes. On tensor cores it
// runs a third time with dQ by atomics (AttentionArgs::deterministic = false).
//
// Tolerances, per tensor, as |got - want| <= atol + rtol |want| with atol a
// fraction of the tensor's largest reference magnitude M, plus a relative L2
// bound (||got - want|| / ||want||) that a systematic error cannot hide under:
// - plain path, fp32 storage: fp32 arithmetic (expf, sums of at most 200 keys x 6
//   heads) against double: errors are a few 1e-6 relative; out and grads are
//   held to 1e-5 M + 1e-4 |want| and 1e-4 M + 1e-3 |want| (relative L2 3e-5 and
//   3e-4), lse to 1e-4.
// - bf16 storage (any path) and the tensor-core path: the reference runs on the
//   bf16-rounded q, k, v and dout, so input rounding is not counted. What is
//   left: outputs rounded to bf16 (2^-8 relative at worst), P and dS rounded to
//   bf16 before their products (2^-8 relative per term, so at most 2^-8 max|v| ~
//   5e-3 M on an output row, random signs in practice), and drow = dO . O
//   taken from the device's O (and, fp32 storage, the unrounded dO). Held to 1.5e-2 M + 1e-2 |want| for out,
//   2e-2 M + 2e-2 |want| for gradients; relative L2 5e-3 (out) and 1e-2 (grads),
//   2-4x what these roundings give (emulated); lse (fp32 scores of exact bf16
//   products) to 1e-3.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../cpu/attention.h"
#include "../cuda/attention.h"
#include "cuda_util.cuh"

using namespace genrm;
using test::Dev;
using test::have_device;

namespace {

struct Shape {
  std::vector<int32_t> lens;
  int64_t heads, kv_heads, head_dim;
};

struct Batch {
  std::vector<int32_t> cu;
  int64_t tokens = 0, max_seqlen = 0;
  std::vector<float> q, k, v, dout;
};

Batch make_batch(const Shape& s, uint32_t seed) {
  Batch b;
  b.cu.push_back(0);
  for (int32_t n : s.lens) {
    b.cu.push_back(b.cu.back() + n);
    b.max_seqlen = n > b.max_seqlen ? n : b.max_seqlen;
  }
  b.tokens = b.cu.back();
  b.q = test::randn(b.tokens * s.heads * s.head_dim, seed);
  b.k = test::randn(b.tokens * s.kv_heads * s.head_dim, seed + 1);
  b.v = test::randn(b.tokens * s.kv_heads * s.head_dim, seed + 2);
  b.dout = test::randn(b.tokens * s.heads * s.head_dim, seed + 3);
  return b;
}

struct Reference {
  std::vector<float> out, lse, dq, dk, dv;
};

Reference reference(const Shape& s, const Batch& b, bool rounded) {
  cpu::AttentionArgs a;
  a.tokens = b.tokens;
  a.heads = s.heads;
  a.kv_heads = s.kv_heads;
  a.head_dim = s.head_dim;
  a.cu_seqlens = b.cu.data();
  a.num_seqs = static_cast<int64_t>(s.lens.size());
  a.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  auto in = [&](const std::vector<float>& x) { return rounded ? test::round_bf16(x) : x; };
  const std::vector<float> q = in(b.q), k = in(b.k), v = in(b.v), dout = in(b.dout);
  Reference r;
  r.out.resize(b.q.size());
  r.lse.resize(b.tokens * s.heads);
  r.dq.resize(b.q.size());
  r.dk.resize(b.k.size());
  r.dv.resize(b.v.size());
  cpu::attention_forward_reference(a, q.data(), k.data(), v.data(), r.out.data(), r.lse.data());
  cpu::attention_backward_reference(a, q.data(), k.data(), v.data(), dout.data(), r.dq.data(), r.dk.data(),
                                    r.dv.data());
  return r;
}

// A device tensor in either storage dtype, read back as floats.
struct Tensor {
  cuda::DType dtype;
  Dev<float>* f = nullptr;
  Dev<uint16_t>* h = nullptr;
  Tensor(cuda::DType t, const std::vector<float>& x) : dtype(t) {
    if (t == cuda::DType::F32)
      f = new Dev<float>(x);
    else
      h = new Dev<uint16_t>(test::to_bf16_bits(x));
  }
  Tensor(cuda::DType t, size_t n) : dtype(t) {  // poisoned
    if (t == cuda::DType::F32)
      f = new Dev<float>(n);
    else
      h = new Dev<uint16_t>(n);
  }
  ~Tensor() {
    delete f;
    delete h;
  }
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  void* p() const { return f ? static_cast<void*>(f->p) : static_cast<void*>(h->p); }
  std::vector<float> host() const { return f ? f->host() : test::from_bf16_bits(h->host()); }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out;
    if (f) {
      const auto x = f->host();
      out.resize(x.size() * 4);
      std::memcpy(out.data(), x.data(), out.size());
    } else {
      const auto x = h->host();
      out.resize(x.size() * 2);
      std::memcpy(out.data(), x.data(), out.size());
    }
    return out;
  }
};

double max_abs(const std::vector<float>& x) {
  double m = 0;
  for (float v : x) m = std::fabs(v) > m ? std::fabs(v) : m;
  return m;
}

double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
  double e = 0, w = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    e += d * d;
    w += static_cast<double>(want[i]) * want[i];
  }
  const double r = std::sqrt(e / (w > 0 ? w : 1));
  return std::isnan(r) ? INFINITY : r;
}

// got vs want within frac * max|want| + rtol |want| everywhere and l2 relative overall.
void expect_tensor(const std::vector<float>& got, const std::vector<float>& want, double frac, double rtol, double l2,
                   const std::string& what) {
  test::expect_close(got, want, frac * max_abs(want) + 1e-30, rtol, what.c_str());
  const double r = rel_l2(got, want);
  if (!(r <= l2)) test::fail(__FILE__, __LINE__, what + ": relative L2 error " + std::to_string(r));
}

std::string label(const Shape& s, cuda::DType t, cuda::AttentionPath p) {
  return std::string(p == cuda::AttentionPath::TensorCore ? "tc" : "plain") + " " + cuda::dtype_name(t) + " D" +
         std::to_string(s.head_dim) + " H" + std::to_string(s.heads) + "/" + std::to_string(s.kv_heads);
}

void run_case(const Shape& s, const Batch& b, const Reference& ref, cuda::DType dtype, cuda::AttentionPath path) {
  const std::string name = label(s, dtype, path);
  cuda::AttentionArgs a;
  a.tokens = b.tokens;
  a.heads = s.heads;
  a.kv_heads = s.kv_heads;
  a.head_dim = s.head_dim;
  a.num_seqs = static_cast<int64_t>(s.lens.size());
  a.max_seqlen = b.max_seqlen;
  a.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  a.dtype = dtype;
  Dev<int32_t> cu(b.cu);
  a.cu_seqlens = cu.p;
  Tensor q(dtype, b.q), k(dtype, b.k), v(dtype, b.v), dout(dtype, b.dout);
  Tensor out(dtype, b.q.size()), dq(dtype, b.q.size()), dk(dtype, b.k.size()), dv(dtype, b.v.size());
  Dev<float> lse(static_cast<size_t>(b.tokens * s.heads));
  cuda::attention_forward(a, q.p(), k.p(), v.p(), out.p(), lse.p, path);
  cuda::attention_backward(a, q.p(), k.p(), v.p(), out.p(), lse.p, dout.p(), dq.p(), dk.p(), dv.p(), path);
  const auto dq1 = dq.bytes(), dk1 = dk.bytes(), dv1 = dv.bytes();

  const bool tight = dtype == cuda::DType::F32 && path == cuda::AttentionPath::Plain;
  if (tight) {
    expect_tensor(out.host(), ref.out, 1e-5, 1e-4, 3e-5, name + " out");
    test::expect_close(lse.host(), ref.lse, 1e-4, 1e-5, (name + " lse").c_str());
    expect_tensor(dq.host(), ref.dq, 1e-4, 1e-3, 3e-4, name + " dq");
    expect_tensor(dk.host(), ref.dk, 1e-4, 1e-3, 3e-4, name + " dk");
    expect_tensor(dv.host(), ref.dv, 1e-4, 1e-3, 3e-4, name + " dv");
  } else {
    expect_tensor(out.host(), ref.out, 1.5e-2, 1e-2, 5e-3, name + " out");
    test::expect_close(lse.host(), ref.lse, 1e-3, 1e-4, (name + " lse").c_str());
    expect_tensor(dq.host(), ref.dq, 2e-2, 2e-2, 1e-2, name + " dq");
    expect_tensor(dk.host(), ref.dk, 2e-2, 2e-2, 1e-2, name + " dk");
    expect_tensor(dv.host(), ref.dv, 2e-2, 2e-2, 1e-2, name + " dv");
  }

  // Deterministic: a second backward into re-poisoned buffers gives the same bytes.
  for (Tensor* t : {&dq, &dk, &dv}) cuda::check(cudaMemset(t->p(), 0xff, t->bytes().size()), "re-poison");
  cuda::attention_backward(a, q.p(), k.p(), v.p(), out.p(), lse.p, dout.p(), dq.p(), dk.p(), dv.p(), path);
  if (dq.bytes() != dq1 || dk.bytes() != dk1 || dv.bytes() != dv1)
    test::fail(__FILE__, __LINE__, name + ": the backward is not deterministic");

  if (path == cuda::AttentionPath::TensorCore) {
    // dQ by atomics from the dK/dV kernel: dK and dV are the same computation (the
    // same bytes); dQ, summed in another order, within the same bounds.
    cuda::AttentionArgs fast = a;
    fast.deterministic = false;
    for (Tensor* t : {&dq, &dk, &dv}) cuda::check(cudaMemset(t->p(), 0xff, t->bytes().size()), "re-poison");
    cuda::attention_backward(fast, q.p(), k.p(), v.p(), out.p(), lse.p, dout.p(), dq.p(), dk.p(), dv.p(), path);
    if (dk.bytes() != dk1 || dv.bytes() != dv1)
      test::fail(__FILE__, __LINE__, name + ": the atomic-dQ backward changed dK or dV");
    expect_tensor(dq.host(), ref.dq, 2e-2, 2e-2, 1e-2, name + " atomic dq");
  }
}

// Ragged, none a multiple of every tile, one empty sequence (the CPU allows it).
const std::vector<int32_t> kLens = {65, 1, 0, 200, 17, 130, 64};

void run_head_dim(int64_t head_dim, bool tensor_cores) {
  const Shape shapes[] = {{kLens, 4, 4, head_dim}, {kLens, 4, 2, head_dim}, {kLens, 6, 1, head_dim}};
  uint32_t seed = static_cast<uint32_t>(100 * head_dim);
  for (const Shape& s : shapes) {
    Batch b = make_batch(s, seed += 10);
    if (&s == &shapes[1])  // large scores: the online softmax's rescaling and exp underflow at work
      for (float& x : b.q) x *= 6.0f;
    const Reference exact = reference(s, b, false), rounded = reference(s, b, true);
    run_case(s, b, exact, cuda::DType::F32, cuda::AttentionPath::Plain);
    run_case(s, b, rounded, cuda::DType::BF16, cuda::AttentionPath::Plain);
    if (tensor_cores) {
      run_case(s, b, rounded, cuda::DType::F32, cuda::AttentionPath::TensorCore);
      run_case(s, b, rounded, cuda::DType::BF16, cuda::AttentionPath::TensorCore);
    }
  }
}

cuda::AttentionArgs valid_args(const int32_t* cu) {
  cuda::AttentionArgs a;
  a.tokens = 10;
  a.heads = 4;
  a.kv_heads = 2;
  a.head_dim = 64;
  a.cu_seqlens = cu;
  a.num_seqs = 2;
  a.max_seqlen = 6;
  a.scale = 0.125f;
  return a;
}

}  // namespace

TEST(cuda_attention_validation_names_the_field) {
  const int32_t* fake = reinterpret_cast<const int32_t*>(uintptr_t(256));  // never dereferenced on the host
  cuda::validate_attention(valid_args(fake));
  auto bad = [&](auto edit) {
    cuda::AttentionArgs a = valid_args(fake);
    edit(a);
    return a;
  };
  CHECK_THROWS(cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.kv_heads = 3; })));
  CHECK_THROWS(cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.heads = 0; })));
  CHECK_THROWS(cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.head_dim = 0; })));
  CHECK_THROWS(cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.head_dim = 257; })));
  CHECK_THROWS(cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.cu_seqlens = nullptr; })));
  CHECK_THROWS(cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.scale = 0; })));
  CHECK_THROWS(cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.scale = NAN; })));
  CHECK_THROWS(cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.max_seqlen = 11; })));
  CHECK_THROWS(cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.max_seqlen = 4; })));  // 2 x 4 < 10
  CHECK_THROWS(cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.num_seqs = 0; })));
  CHECK_THROWS(cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.tokens = -1; })));
  bool named = false;
  try {
    cuda::validate_attention(bad([](cuda::AttentionArgs& a) { a.kv_heads = 3; }));
  } catch (const std::exception& e) {
    named = std::string(e.what()).find("kvHeads") != std::string::npos;
  }
  CHECK(named);
}

TEST(cuda_attention_throws_before_any_launch) {
  if (!have_device()) return;
  const std::vector<int32_t> cu = {0, 4, 10};
  Dev<int32_t> cu_d(cu);
  cuda::AttentionArgs a = valid_args(cu_d.p);
  a.head_dim = 40;  // plain only
  Dev<float> q(std::vector<float>(10 * 4 * 40, 0.5f)), k(std::vector<float>(10 * 2 * 40, 0.5f)),
      v(std::vector<float>(10 * 2 * 40, 0.5f)), out(10 * 4 * 40), lse(10 * 4);
  CHECK_THROWS(cuda::attention_forward(a, q.p, k.p, v.p, out.p, lse.p, cuda::AttentionPath::TensorCore));
  CHECK_THROWS(
      cuda::attention_backward(a, q.p, k.p, v.p, out.p, lse.p, q.p, out.p, k.p, v.p, cuda::AttentionPath::TensorCore));
  CHECK_THROWS(cuda::attention_forward(a, nullptr, k.p, v.p, out.p, lse.p));
  a.kv_heads = 3;
  CHECK_THROWS(cuda::attention_forward(a, q.p, k.p, v.p, out.p, lse.p));
  cuda::check(cudaDeviceSynchronize(), "sync");
  for (float x : out.host()) CHECK(std::isnan(x));  // nothing ran: still poisoned
  for (float x : lse.host()) CHECK(std::isnan(x));
  // The same call with a valid head count runs (and writes everything) on the plain path.
  a.kv_heads = 2;
  cuda::attention_forward(a, q.p, k.p, v.p, out.p, lse.p);
  for (float x : out.host()) CHECK(std::fabs(x - 0.5f) < 1e-6f);
}

TEST(cuda_attention_head_dim_16_matches_reference) {
  if (have_device()) run_head_dim(16, true);
}
TEST(cuda_attention_head_dim_32_matches_reference) {
  if (have_device()) run_head_dim(32, true);
}
TEST(cuda_attention_head_dim_64_matches_reference) {
  if (have_device()) run_head_dim(64, true);
}
TEST(cuda_attention_head_dim_128_matches_reference) {
  if (have_device()) run_head_dim(128, true);
}
TEST(cuda_attention_head_dim_40_plain_matches_reference) {
  if (have_device()) run_head_dim(40, false);
}
TEST(cuda_attention_head_dim_80_plain_matches_reference) {
  if (have_device()) run_head_dim(80, false);
}
TEST(cuda_attention_head_dim_200_plain_matches_reference) {
  if (have_device()) run_head_dim(200, false);
}

TEST(cuda_attention_auto_uses_tensor_cores_where_it_can) {
  if (!have_device()) return;
  // Auto on D64 gives the tensor-core path's bytes; on D40 the plain path's.
  for (int64_t d : {64, 40}) {
    const Shape s{{33, 70}, 4, 2, d};
    const Batch b = make_batch(s, 7);
    cuda::AttentionArgs a;
    a.tokens = b.tokens;
    a.heads = s.heads;
    a.kv_heads = s.kv_heads;
    a.head_dim = d;
    a.num_seqs = 2;
    a.max_seqlen = b.max_seqlen;
    a.scale = 0.1f;
    a.dtype = cuda::DType::BF16;
    Dev<int32_t> cu(b.cu);
    a.cu_seqlens = cu.p;
    Tensor q(a.dtype, b.q), k(a.dtype, b.k), v(a.dtype, b.v), o1(a.dtype, b.q.size()), o2(a.dtype, b.q.size());
    Dev<float> l1(b.tokens * s.heads), l2(b.tokens * s.heads);
    cuda::attention_forward(a, q.p(), k.p(), v.p(), o1.p(), l1.p);
    cuda::attention_forward(a, q.p(), k.p(), v.p(), o2.p(), l2.p,
                            d == 64 ? cuda::AttentionPath::TensorCore : cuda::AttentionPath::Plain);
    CHECK(o1.bytes() == o2.bytes());
  }
}
