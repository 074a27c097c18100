// A stand-in for the CUDA device, for testing the CUDA model's host code
// (native/cuda/model.cu: buffers, offsets, the order of the steps, host/device
// transfers, generation slots) on a machine with no GPU. Every genrm::cuda
// function that model.cu calls is implemented here on the CPU engine, with
// "device memory" in host memory: in fp32 on the SIMT/plain paths, and on
// bf16-rounded operands where the real kernel uses tensor cores (GEMM,
// attention, log-prob), so the model tests' bf16 tolerances are exercised too.
// The kernels themselves are not tested here (their parity tests need a GPU);
// what is tested is that model.cu wires them together as the CPU model does. Linked only into
// genrm_cuda_host_tests (CMake, CPU builds; see native/tests/host_double/).
#include "../../cuda/device.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../core/error.h"
#include "../../cpu/adamw.h"
#include "../../cpu/attention.h"
#include "../../cpu/bias.h"
#include "../../cpu/embedding.h"
#include "../../cpu/gemm.h"
#include "../../cpu/logprob.h"
#include "../../cpu/rmsnorm.h"
#include "../../cpu/rope.h"
#include "../../cpu/sampling.h"
#include "../../cpu/swiglu.h"
#include "../../cuda/attention.h"
#include "../../cuda/check.h"
#include "../../cuda/gemm.h"
#include "../../cuda/kernels.h"
#include "../../cuda/logprob.h"
#include "../../cuda/memory_tracker.h"
#include "../../cuda/sampling.h"
#include "../util.h"

namespace genrm::cuda {

// ---- the device ----

const Status& status() {
  static const Status s = [] {
    Status st;
    st.compiled = true;
    st.architectures = "host double";
    st.devices.push_back({0, "host double (the CPU standing in for a GPU)", 0, 0, 0, 0});
    st.kernels_run = true;
    return st;
  }();
  return s;
}

void check(int code, const char* what) {
  if (code != 0) throw Error(ErrorKind::Runtime, std::string(what) + ": error " + std::to_string(code));
}
void check_launch(const char*) {}

// Beyond this a request is treated as more than the "device" has, so the
// out-of-memory paths run without the host trying to find the memory.
constexpr size_t kDeviceBytes = size_t(8) << 30;

std::atomic<int> g_allocs_before_failure{-1};  // as check.cu's
void fail_device_alloc_after(int n) { g_allocs_before_failure = n < 0 ? -1 : n; }
MemoryTracker g_memory;
DeviceMemory device_memory() { return g_memory.read(); }
void reset_device_peak() { g_memory.reset_peak(); }

void* device_alloc(size_t bytes, const char* what) {
  const bool fail = g_allocs_before_failure >= 0 && g_allocs_before_failure-- == 0;
  void* p = !fail && bytes <= kDeviceBytes ? std::malloc(bytes ? bytes : 1) : nullptr;
  if (!p)
    throw Error(ErrorKind::Runtime,
                "out of GPU memory allocating " + std::string(what) + " (" + std::to_string(bytes) + " bytes)");
  // Fresh device memory holds garbage: NaN in every float, so a read before a write shows.
  std::memset(p, 0xff, bytes);
  g_memory.allocated(p, bytes);
  return p;
}
void device_free(void* p) {
  g_memory.freed(p);
  std::free(p);
}

void copy(void* dst, const void* src, size_t bytes, CopyKind, const char*) {
  if (bytes) std::memmove(dst, src, bytes);
}
void fill_zero(void* p, size_t bytes, const char*) {
  if (bytes) std::memset(p, 0, bytes);
}

// ---- the kernels model.cu calls, on the CPU engine ----

namespace {

// n values stored as t, widened to fp32 (exact) in keep when bf16.
const float* widen(const void* p, DType t, int64_t n, std::vector<float>& keep) {
  if (t == DType::F32) return static_cast<const float*>(p);
  keep.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) keep[i] = test::from_bf16_bits(static_cast<const uint16_t*>(p)[i]);
  return keep.data();
}

// Stores n fp32 values as t.
void narrow(const float* src, void* out, DType t, int64_t n) {
  if (t == DType::F32) {
    if (src != out) std::memmove(out, src, sizeof(float) * static_cast<size_t>(n));
    return;
  }
  for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(out)[i] = test::to_bf16_bits(src[i]);
}

// The elements a strided operand spans (its last row need not be full).
int64_t span(int64_t rows, int64_t cols, int64_t ld) { return rows > 0 ? (rows - 1) * ld + cols : 0; }

// The tensor-core paths multiply bf16-rounded operands (fp32 accumulation); the
// stand-in rounds copies the same way, so the model's bf16 tolerances are
// exercised here too (the SIMT and plain paths stay fp32). A rounded copy of
// rows x cols values at stride ld (the copy is dense: stride cols).
std::vector<float> rounded(const float* p, int64_t rows, int64_t cols, int64_t ld) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = test::round_bf16(p[r * ld + c]);
  return out;
}

}  // namespace

namespace stand_in {
unsigned gemm_engines_seen = 0;  // read by the model tests: a bit per GemmEngine model.cu asked for
}

bool have_cublas() { return false; }  // the stand-in's tensor-core products stand for the own kernel's

void gemm(const GemmArgs& g, GemmEngine engine) {
  stand_in::gemm_engines_seen |= 1u << static_cast<unsigned>(engine);
  if (engine == GemmEngine::Simt && (g.a_type != DType::F32 || g.b_type != DType::F32))
    throw Error(ErrorKind::Argument, "host double: the SIMT path takes fp32 operands only");
  const int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
  const int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
  std::vector<float> wa, wb;
  cpu::GemmArgs c;
  c.trans_a = g.trans_a;
  c.trans_b = g.trans_b;
  c.m = g.m;
  c.n = g.n;
  c.k = g.k;
  c.alpha = g.alpha;
  c.a = widen(g.a, g.a_type, span(a_rows, a_cols, g.lda), wa);
  c.lda = g.lda;
  c.b = widen(g.b, g.b_type, span(b_rows, b_cols, g.ldb), wb);
  c.ldb = g.ldb;
  c.beta = g.beta;
  c.c = static_cast<float*>(g.c);
  c.ldc = g.ldc;
  std::vector<float> ra, rb;
  if (engine != GemmEngine::Simt) {  // tensor cores: bf16 operands
    ra = rounded(c.a, a_rows, a_cols, g.lda);
    rb = rounded(c.b, b_rows, b_cols, g.ldb);
    c.a = ra.data();
    c.lda = a_cols;
    c.b = rb.data();
    c.ldb = b_cols;
  }
  // A bf16 C: accumulated in a dense fp32 copy, rounded back once.
  std::vector<float> wc;
  uint16_t* c16 = g.c_type == DType::BF16 ? static_cast<uint16_t*>(g.c) : nullptr;
  if (c16) {
    wc.assign(static_cast<size_t>(g.m * g.n), 0.0f);
    if (g.beta != 0.0f)
      for (int64_t r = 0; r < g.m; ++r)
        for (int64_t j = 0; j < g.n; ++j) wc[r * g.n + j] = test::from_bf16_bits(c16[r * g.ldc + j]);
    c.c = wc.data();
    c.ldc = g.n;
  }
  cpu::gemm(c);
  if (c16)
    for (int64_t r = 0; r < g.m; ++r)
      for (int64_t j = 0; j < g.n; ++j) c16[r * g.ldc + j] = test::to_bf16_bits(wc[r * g.n + j]);
}

namespace {

cpu::AttentionArgs cpu_attention(const AttentionArgs& a) {
  if (a.max_seqlen <= 0) throw Error(ErrorKind::Argument, "host double: max_seqlen must be set");
  cpu::AttentionArgs c;
  c.tokens = a.tokens;
  c.heads = a.heads;
  c.kv_heads = a.kv_heads;
  c.head_dim = a.head_dim;
  c.cu_seqlens = a.cu_seqlens;
  c.num_seqs = a.num_seqs;
  c.scale = a.scale;
  return c;
}

// The CPU's arguments, over bf16-rounded copies of hidden and weight when the
// engine is a tensor-core one (the copies live in the returned object).
struct HostLogprob {
  std::vector<float> hidden, weight, wide_weight;
  cpu::LogprobArgs args;
};

HostLogprob cpu_logprob(const LogprobArgs& a) {
  stand_in::gemm_engines_seen |= 1u << static_cast<unsigned>(a.engine);
  if (a.hidden_type != DType::F32) throw Error(ErrorKind::Argument, "host double: fp32 log-prob hidden rows only");
  if (a.grad_type != DType::F32) throw Error(ErrorKind::Argument, "host double: fp32 log-prob gradients only");
  if (a.engine == GemmEngine::Simt && a.weight_type != DType::F32)
    throw Error(ErrorKind::Argument, "host double: the SIMT log-prob takes an fp32 weight only");
  HostLogprob h;
  cpu::LogprobArgs& c = h.args;
  c.rows = a.rows;
  c.dim = a.dim;
  c.vocab = a.vocab;
  c.hidden = static_cast<const float*>(a.hidden);
  c.weight = widen(a.weight, a.weight_type, a.vocab * a.dim, h.wide_weight);
  c.targets = a.targets;
  if (a.engine != GemmEngine::Simt) {
    h.hidden = rounded(c.hidden, a.rows, a.dim, a.dim);
    h.weight = rounded(c.weight, a.vocab, a.dim, a.dim);
    c.hidden = h.hidden.data();
    c.weight = h.weight.data();
  }
  return h;
}

}  // namespace

// The tensor-core attention multiplies bf16-rounded q, k, v (and dO); the plain
// path stays fp32. bf16 storage is widened in and rounded out.
void attention_forward(const AttentionArgs& a, const void* q, const void* k, const void* v, void* out, float* lse,
                       AttentionPath path) {
  const int64_t qn = a.tokens * a.heads * a.head_dim, kn = a.tokens * a.kv_heads * a.head_dim;
  std::vector<float> wq, wk, wv, rq, rk, rv;
  const float *qp = widen(q, a.dtype, qn, wq), *kp = widen(k, a.dtype, kn, wk), *vp = widen(v, a.dtype, kn, wv);
  if (path != AttentionPath::Plain) {
    rq = rounded(qp, 1, qn, qn), rk = rounded(kp, 1, kn, kn), rv = rounded(vp, 1, kn, kn);
    qp = rq.data(), kp = rk.data(), vp = rv.data();
  }
  std::vector<float> o(static_cast<size_t>(qn));
  cpu::attention_forward(cpu_attention(a), qp, kp, vp, o.data(), lse, default_isa());
  narrow(o.data(), out, a.dtype, qn);
}

// The stand-in's kernels take no device scratch: nothing to claim or release.
void attention_reserve_backward(const AttentionArgs&) {}
void gemm_reserve(const GemmArgs&, GemmEngine) {}
void release_device_scratch() {}

namespace stand_in {
bool last_backward_deterministic = true;  // read by the model tests: what model.cu asked for
}

void attention_backward(const AttentionArgs& a, const void* q, const void* k, const void* v, const void* out,
                        const float* lse, const void* dout, void* dq, void* dk, void* dv, AttentionPath path) {
  stand_in::last_backward_deterministic = a.deterministic;
  const int64_t qn = a.tokens * a.heads * a.head_dim, kn = a.tokens * a.kv_heads * a.head_dim;
  std::vector<float> wq, wk, wv, wo, wdo, rq, rk, rv, rdo;
  const float *qp = widen(q, a.dtype, qn, wq), *kp = widen(k, a.dtype, kn, wk), *vp = widen(v, a.dtype, kn, wv);
  const float *op = widen(out, a.dtype, qn, wo), *dop = widen(dout, a.dtype, qn, wdo);
  if (path != AttentionPath::Plain) {
    rq = rounded(qp, 1, qn, qn), rk = rounded(kp, 1, kn, kn), rv = rounded(vp, 1, kn, kn),
    rdo = rounded(dop, 1, qn, qn);
    qp = rq.data(), kp = rk.data(), vp = rv.data(), dop = rdo.data();
  }
  std::vector<float> gq(static_cast<size_t>(qn)), gk(static_cast<size_t>(kn)), gv(static_cast<size_t>(kn));
  cpu::attention_backward(cpu_attention(a), qp, kp, vp, op, lse, dop, gq.data(), gk.data(), gv.data(), default_isa());
  narrow(gq.data(), dq, a.dtype, qn);
  narrow(gk.data(), dk, a.dtype, kn);
  narrow(gv.data(), dv, a.dtype, kn);
}

void logprob_forward(const LogprobArgs& a, float* logp) {
  cpu::logprob_forward(cpu_logprob(a).args, logp, default_isa());
}

void logprob_backward(const LogprobArgs& a, const float* dlogp, void* dhidden, void* dweight) {
  cpu::logprob_backward(cpu_logprob(a).args, dlogp, static_cast<float*>(dhidden), static_cast<float*>(dweight),
                        default_isa());
}

void logprob_forward_backward(const LogprobArgs& a, const float* dlogp, float* logp, void* dhidden, void* dweight) {
  cpu::logprob_forward_backward(cpu_logprob(a).args, dlogp, logp, static_cast<float*>(dhidden),
                                static_cast<float*>(dweight), default_isa());
}

// Chunks of whole groups up to 16 rows (a larger group alone), so a small test
// batch still runs several chunks; per chunk: log-probs, the caller's gradient, backward.
void logprob_grouped(const LogprobArgs& a, const std::vector<int64_t>& group_ends, const ChunkGradient& grad,
                     float* logp, void* dhidden_out, void* dweight_out) {
  const HostLogprob host = cpu_logprob(a);
  float* dhidden = static_cast<float*>(dhidden_out);
  float* dweight = static_cast<float*>(dweight_out);
  const cpu::LogprobArgs& all = host.args;
  constexpr int64_t kBudget = 16;
  int64_t r0 = 0;
  size_t g = 0;
  while (r0 < a.rows) {
    int64_t r1 = group_ends[g++];
    while (g < group_ends.size() && group_ends[g] - r0 <= kBudget) r1 = group_ends[g++];
    cpu::LogprobArgs c = all;
    c.rows = r1 - r0;
    c.hidden = all.hidden + r0 * a.dim;
    c.targets = all.targets + r0;
    cpu::logprob_forward(c, logp + r0, default_isa());
    std::vector<float> dlogp(static_cast<size_t>(c.rows), 0.0f);
    grad(r0, r1, logp + r0, dlogp.data());
    cpu::logprob_backward(c, dlogp.data(), dhidden ? dhidden + r0 * a.dim : nullptr, dweight, default_isa());
    r0 = r1;
  }
}

void rmsnorm_forward(const float* x, const float* w, void* y, float* rstd, int64_t rows, int64_t dim, float eps,
                     DType y_type) {
  std::vector<float> out(static_cast<size_t>(rows * dim));
  cpu::rmsnorm_forward(x, w, out.data(), rstd, rows, dim, eps);
  narrow(out.data(), y, y_type, rows * dim);
}
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                      int64_t rows, int64_t dim) {
  cpu::rmsnorm_backward(x, w, rstd, dy, dx, dw, rows, dim);
}
void bias_add(float* y, const float* b, int64_t rows, int64_t cols) { cpu::bias_add(y, b, rows, cols); }
void bias_backward(const void* dy, DType dy_type, float* db, int64_t rows, int64_t cols) {
  std::vector<float> keep;
  cpu::bias_backward(widen(dy, dy_type, rows * cols, keep), db, rows, cols);
}
void swiglu_forward(const float* g, const float* u, void* a, int64_t n, DType a_type) {
  std::vector<float> out(static_cast<size_t>(n));
  cpu::swiglu_forward(g, u, out.data(), n, default_isa());
  narrow(out.data(), a, a_type, n);
}
void swiglu_backward(const float* g, const float* u, const float* da, void* dg, void* du, int64_t n, DType grad_type) {
  std::vector<float> dgo(static_cast<size_t>(n)), duo(static_cast<size_t>(n));
  cpu::swiglu_backward(g, u, da, dgo.data(), duo.data(), n, default_isa());
  narrow(dgo.data(), dg, grad_type, n);
  narrow(duo.data(), du, grad_type, n);
}
void rope_apply_table(float* x, const int32_t* positions, int64_t tokens, int64_t heads, int64_t head_dim,
                      const float* cos_table, const float* sin_table, bool inverse) {
  cpu::rope_apply_table(x, positions, tokens, heads, head_dim, cos_table, sin_table, inverse);
}
void rope_apply_table_to(const void* x, DType x_type, void* out, DType out_type, const int32_t* positions,
                         int64_t tokens, int64_t heads, int64_t head_dim, const float* cos_table,
                         const float* sin_table, bool inverse) {
  std::vector<float> keep;
  const float* xs = widen(x, x_type, tokens * heads * head_dim, keep);
  std::vector<float> v(xs, xs + tokens * heads * head_dim);
  cpu::rope_apply_table(v.data(), positions, tokens, heads, head_dim, cos_table, sin_table, inverse);
  narrow(v.data(), out, out_type, tokens * heads * head_dim);
}
void embedding_forward(const float* table, const int32_t* tokens, float* out, int64_t n, int64_t dim) {
  cpu::embedding_forward(table, tokens, out, n, dim);
}
void embedding_backward_sorted(const int32_t* ids, const int32_t* starts, const int32_t* order, int64_t unique,
                               const float* dout, float* dtable, int64_t dim) {
  for (int64_t u = 0; u < unique; ++u)
    for (int32_t i = starts[u]; i < starts[u + 1]; ++i)
      for (int64_t d = 0; d < dim; ++d)
        dtable[static_cast<int64_t>(ids[u]) * dim + d] += dout[static_cast<int64_t>(order[i]) * dim + d];
}
void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2, float step,
                 float inv_sqrt_bc2, float eps, float decay, void* p_bf16) {
  for (int64_t i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    p[i] = p[i] * decay - step * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
  if (p_bf16) narrow(p, p_bf16, DType::BF16, n);
}

void attention_decode(const float* q, const void* k_stored, const void* v_stored, DType cache_type,
                      const int32_t* slots, const int32_t* n_keys, float* out, float* scores, int64_t rows,
                      int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t layers, int64_t layer,
                      int64_t capacity, float scale) {
  const int64_t kvd = kv_heads * head_dim;
  // The whole cache widened: the stand-in's caches are small.
  int64_t slots_used = 0;
  for (int64_t r = 0; r < rows; ++r) slots_used = std::max<int64_t>(slots_used, slots[r] + 1);
  std::vector<float> keep_k, keep_v;
  const float* k_cache = widen(k_stored, cache_type, slots_used * layers * capacity * kvd, keep_k);
  const float* v_cache = widen(v_stored, cache_type, slots_used * layers * capacity * kvd, keep_v);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t g = h / (heads / kv_heads), n = n_keys[r];
      const int64_t base = (static_cast<int64_t>(slots[r]) * layers + layer) * capacity * kvd + g * head_dim;
      const float* qr = q + (r * heads + h) * head_dim;
      float* p = scores + (r * heads + h) * capacity;
      float mx = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        float s = 0;
        for (int64_t i = 0; i < head_dim; ++i) s += qr[i] * k_cache[base + j * kvd + i];
        p[j] = s * scale;
        mx = std::fmax(mx, p[j]);
      }
      float sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += (p[j] = std::exp(p[j] - mx));
      for (int64_t i = 0; i < head_dim; ++i) {
        float acc = 0;
        for (int64_t j = 0; j < n; ++j) acc += p[j] * v_cache[base + j * kvd + i];
        out[(r * heads + h) * head_dim + i] = acc / sum;
      }
    }
}

void kv_cache_append(const float* k, const float* v, void* k_cache, void* v_cache, DType cache_type,
                     const int32_t* slots, const int32_t* pos, int64_t rows, int64_t kv_dim, int64_t layers,
                     int64_t layer, int64_t capacity) {
  const size_t size = dtype_size(cache_type);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t at = ((static_cast<int64_t>(slots[r]) * layers + layer) * capacity + pos[r]) * kv_dim;
    narrow(k + r * kv_dim, static_cast<char*>(k_cache) + at * size, cache_type, kv_dim);
    narrow(v + r * kv_dim, static_cast<char*>(v_cache) + at * size, cache_type, kv_dim);
  }
}

void add(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}
void to_bf16(const float* x, void* out, int64_t n) { narrow(x, out, DType::BF16, n); }
void to_f32(const void* x_bf16, float* out, int64_t n) {
  std::vector<float> keep;
  const float* w = widen(x_bf16, DType::BF16, n, keep);
  std::copy(w, w + n, out);
}
void scale(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}
void gather_rows(const float* x, const int32_t* rows, float* out, int64_t n, int64_t dim) {
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * dim, x + static_cast<int64_t>(rows[i]) * dim, sizeof(float) * dim);
}
void scatter_add_rows(const float* y, const int32_t* rows, float* x, int64_t n, int64_t dim) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t d = 0; d < dim; ++d) x[static_cast<int64_t>(rows[i]) * dim + d] += y[i * dim + d];
}
void rows_dot(const float* x, const int32_t* rows, const float* w, float* out, int64_t n, int64_t dim) {
  for (int64_t i = 0; i < n; ++i) {
    double acc = 0;
    for (int64_t d = 0; d < dim; ++d) acc += static_cast<double>(x[static_cast<int64_t>(rows[i]) * dim + d]) * w[d];
    out[i] = static_cast<float>(acc);
  }
}
void rows_dot_backward(const float* x, const int32_t* rows, const float* w, const float* g, float* dx, float* dw,
                       int64_t n, int64_t dim) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t d = 0; d < dim; ++d) {
      dx[static_cast<int64_t>(rows[i]) * dim + d] += g[i] * w[d];
      dw[d] += g[i] * x[static_cast<int64_t>(rows[i]) * dim + d];
    }
}
// The CPU filter and draw row by row: the device's semantics, with the CPU's
// sums (the device may differ only at rounding-close boundaries).
void sample_rows(const float* logits, int64_t rows, int64_t vocab, const cpu::SamplingParams& s, const double* u,
                 int32_t* tokens, double* logprob) {
  cpu::validate_sampling(s);
  if (rows < 1 || vocab < 1 || !logits || !tokens || !logprob || (s.temperature != 0.0 && !u))
    throw Error(ErrorKind::Argument, "host double: sample_rows: bad arguments");
  cpu::Candidates c;
  for (int64_t r = 0; r < rows; ++r)
    tokens[r] = cpu::sample_row(logits + r * vocab, vocab, s, u ? u[r] : 0.0, c, logprob + r);
}

double sum_squares(const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return s;
}

}  // namespace genrm::cuda
