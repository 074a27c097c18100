// The ops of the CPU engine: shapes, references and CPU paths (the CUDA paths
// join them from native/cuda/ops_table.cu). References accumulate in double and
// are written as the formulas read, one element at a time.
#include "table.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "../core/cpu_features.h"
#include "../core/error.h"
#include "../cpu/adamw.h"
#include "../cpu/attention.h"
#include "../cpu/attention_decode.h"
#include "../cpu/bias.h"
#include "../cpu/embedding.h"
#include "../cpu/gemm.h"
#include "../cpu/logprob.h"
#include "../cpu/rmsnorm.h"
#include "../cpu/rope.h"
#include "../cpu/swiglu.h"

namespace genrm::ops {

const std::vector<float>& Tensors::f(const std::string& name) const {
  auto it = f32.find(name);
  if (it == f32.end()) throw Error(ErrorKind::Argument, "op tensor \"" + name + "\" does not exist");
  return it->second;
}
std::vector<float>& Tensors::f(const std::string& name) {
  auto it = f32.find(name);
  if (it == f32.end()) throw Error(ErrorKind::Argument, "op tensor \"" + name + "\" does not exist");
  return it->second;
}
const std::vector<int32_t>& Tensors::i(const std::string& name) const {
  auto it = i32.find(name);
  if (it == i32.end()) throw Error(ErrorKind::Argument, "op tensor \"" + name + "\" does not exist");
  return it->second;
}
int64_t Problem::at(const std::string& dim) const {
  auto it = shape.find(dim);
  if (it == shape.end()) throw Error(ErrorKind::Argument, "op shape \"" + label + "\" has no size \"" + dim + "\"");
  return it->second;
}

AdamWStep adamw_step_constants() {
  const double lr = 3e-3, b1 = 0.9, b2 = 0.95, t = 5;
  return {static_cast<float>(b1),
          static_cast<float>(b2),
          static_cast<float>(lr / (1 - std::pow(b1, t))),
          static_cast<float>(1 / std::sqrt(1 - std::pow(b2, t))),
          1e-8f,
          static_cast<float>(1 - lr * 0.1)};
}

std::vector<float> randn(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

namespace {

std::vector<float> nans(int64_t n) { return std::vector<float>(static_cast<size_t>(n), NAN); }

Problem start(const Shape& s) {
  Problem p;
  p.label = s.label;
  p.shape = s.dims;
  return p;
}

// One path per instruction set the engine has a kernel for; each is available
// where the CPU supports it.
std::vector<Path> isa_paths(const std::function<void(const Problem&, Tensors&, Isa)>& run, Tolerance tol,
                            std::vector<Isa> isas = {Isa::Avx512, Isa::Avx2, Isa::Portable}) {
  std::vector<Path> paths;
  for (Isa isa : isas) {
    Path path;
    path.name = std::string("cpu/") + isa_name(isa);
    path.backend = "cpu";
    path.available = [isa] { return isa_supported(isa); };
    path.run = [run, isa](const Problem& p, Tensors& out) { run(p, out, isa); };
    path.tolerance = tol;
    paths.push_back(std::move(path));
  }
  return paths;
}

Path plain_path(const std::string& name, Run run, Tolerance tol) {
  Path path;
  path.name = name;
  path.backend = "cpu";
  path.available = [] { return true; };
  path.run = std::move(run);
  path.tolerance = tol;
  return path;
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// What every op starts from; ops of one family share their sources and shapes through it.
Op declare(const std::string& name, const std::string& summary, const std::string& sources, std::vector<Shape> checks,
           Shape bench) {
  Op op;
  op.name = name;
  op.summary = summary;
  op.sources = sources;
  op.checks = std::move(checks);
  op.bench = std::move(bench);
  return op;
}

// ---- embedding ----

// The shapes, sources and token ids both embedding ops share: many repeats of
// few ids, so the backward's sums over repeated rows are exercised.
Op embedding_op(const std::string& name, const std::string& summary) {
  return declare(name, summary, "native/cpu/embedding.cpp, native/cuda/embedding.cu",
                 {{"repeated tokens", {{"vocab", 50}, {"dim", 300}, {"n", 77}}, {}},
                  {"one token", {{"vocab", 3}, {"dim", 1}, {"n", 1}}, {}}},
                 {"V32000 d512, 1024 tokens", {{"vocab", 32000}, {"dim", 512}, {"n", 1024}}, {}});
}

Problem embedding_problem(const Shape& s, uint32_t seed) {
  Problem p = start(s);
  const int64_t n = p.at("n"), ids = std::min<int64_t>(p.at("vocab"), 17);
  std::vector<int32_t> tokens(n);
  for (int64_t t = 0; t < n; ++t) tokens[t] = static_cast<int32_t>((t * 13 + seed) % ids);
  p.in.i32["tokens"] = tokens;
  return p;
}

Op embedding_forward() {
  Op op = embedding_op("embedding_forward", "out[t] = table[tokens[t]]");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = embedding_problem(s, seed);
    p.in.f32["table"] = randn(p.at("vocab") * p.at("dim"), seed);
    p.out.f32["out"] = nans(p.at("n") * p.at("dim"));
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    const int64_t dim = p.at("dim");
    const auto& table = p.in.f("table");
    auto& o = out.f("out");
    const auto& tokens = p.in.i("tokens");
    for (size_t t = 0; t < tokens.size(); ++t)
      for (int64_t d = 0; d < dim; ++d) o[t * dim + d] = table[tokens[t] * dim + d];
  };
  op.bytes = [](const Problem& p) { return 8.0 * p.at("n") * p.at("dim"); };
  op.paths = {plain_path("cpu",
                         [](const Problem& p, Tensors& out) {
                           cpu::embedding_forward(p.in.f("table").data(), p.in.i("tokens").data(), out.f("out").data(),
                                                  p.at("n"), p.at("dim"));
                         },
                         {0, 0})};
  return op;
}

Op embedding_backward() {
  Op op = embedding_op("embedding_backward", "dtable[tokens[t]] += dout[t], tokens in order");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = embedding_problem(s, seed);
    p.in.f32["dout"] = randn(p.at("n") * p.at("dim"), seed);
    p.out.f32["dtable"] = randn(p.at("vocab") * p.at("dim"), seed + 1);
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    const int64_t vocab = p.at("vocab"), dim = p.at("dim");
    const auto& dout = p.in.f("dout");
    const auto& tokens = p.in.i("tokens");
    auto& dtable = out.f("dtable");
    std::vector<double> sum(dtable.begin(), dtable.end());
    for (size_t t = 0; t < tokens.size(); ++t)
      for (int64_t d = 0; d < dim; ++d) sum[tokens[t] * dim + d] += dout[t * dim + d];
    for (int64_t i = 0; i < vocab * dim; ++i) dtable[i] = static_cast<float>(sum[i]);
  };
  op.bytes = [](const Problem& p) { return 12.0 * p.at("n") * p.at("dim"); };
  op.paths = {plain_path("cpu",
                         [](const Problem& p, Tensors& out) {
                           cpu::embedding_backward(p.in.i("tokens").data(), p.in.f("dout").data(),
                                                   out.f("dtable").data(), p.at("n"), p.at("dim"));
                         },
                         {1e-6, 1e-5})};
  return op;
}

// ---- rmsnorm ----

constexpr float kNormEps = 1e-5f;

std::vector<Shape> norm_checks() {
  return {{"ragged rows", {{"rows", 37}, {"dim", 1000}}, {}},
          {"one row, dim 1", {{"rows", 1}, {"dim", 1}}, {}},
          {"dim 17", {{"rows", 5}, {"dim", 17}}, {}}};
}

// The norm ops' shared declaration: sources, check shapes and bench shape.
Op norm_op(const std::string& name, const std::string& summary) {
  return declare(name, summary, "native/cpu/rmsnorm.cpp, native/cuda/rmsnorm.cu", norm_checks(),
                 {"1024 tokens, d512", {{"rows", 1024}, {"dim", 512}}, {}});
}

Op rmsnorm_forward() {
  Op op = norm_op("rmsnorm_forward", "y = x / sqrt(mean(x^2) + eps) * w, rstd saved");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = start(s);
    const int64_t rows = p.at("rows"), dim = p.at("dim");
    p.in.f32["x"] = randn(rows * dim, seed);
    p.in.f32["w"] = randn(dim, seed + 1);
    p.out.f32["y"] = nans(rows * dim);
    p.out.f32["rstd"] = nans(rows);
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    const int64_t rows = p.at("rows"), dim = p.at("dim");
    const auto &x = p.in.f("x"), &w = p.in.f("w");
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t d = 0; d < dim; ++d) ss += double(x[r * dim + d]) * x[r * dim + d];
      const double rstd = 1 / std::sqrt(ss / dim + kNormEps);
      out.f("rstd")[r] = static_cast<float>(rstd);
      for (int64_t d = 0; d < dim; ++d) out.f("y")[r * dim + d] = static_cast<float>(x[r * dim + d] * rstd * w[d]);
    }
  };
  op.bytes = [](const Problem& p) { return 8.0 * p.at("rows") * p.at("dim"); };
  op.paths = {plain_path("cpu",
                         [](const Problem& p, Tensors& out) {
                           cpu::rmsnorm_forward(p.in.f("x").data(), p.in.f("w").data(), out.f("y").data(),
                                                out.f("rstd").data(), p.at("rows"), p.at("dim"), kNormEps);
                         },
                         {1e-6, 1e-5})};
  return op;
}

Op rmsnorm_backward() {
  Op op = norm_op("rmsnorm_backward", "dx += d(norm)/dx dy, dw += sum over rows of dy x rstd");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = start(s);
    const int64_t rows = p.at("rows"), dim = p.at("dim");
    auto x = randn(rows * dim, seed), w = randn(dim, seed + 1);
    std::vector<float> y(rows * dim), rstd(rows);
    cpu::rmsnorm_forward(x.data(), w.data(), y.data(), rstd.data(), rows, dim, kNormEps);
    p.in.f32["x"] = x;
    p.in.f32["w"] = w;
    p.in.f32["rstd"] = rstd;
    p.in.f32["dy"] = randn(rows * dim, seed + 2);
    p.out.f32["dx"] = randn(rows * dim, seed + 3);
    p.out.f32["dw"] = randn(dim, seed + 4);
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    const int64_t rows = p.at("rows"), dim = p.at("dim");
    const auto &x = p.in.f("x"), &w = p.in.f("w"), &rstd = p.in.f("rstd"), &dy = p.in.f("dy");
    auto &dx = out.f("dx"), &dw = out.f("dw");
    std::vector<double> dw_sum(dw.begin(), dw.end());
    for (int64_t r = 0; r < rows; ++r) {
      const double rs = rstd[r];
      double dot = 0;  // mean of dxhat * xhat
      for (int64_t d = 0; d < dim; ++d) dot += double(dy[r * dim + d]) * w[d] * x[r * dim + d] * rs;
      dot /= dim;
      for (int64_t d = 0; d < dim; ++d) {
        const double xhat = x[r * dim + d] * rs;
        dx[r * dim + d] = static_cast<float>(dx[r * dim + d] + rs * (double(dy[r * dim + d]) * w[d] - xhat * dot));
        dw_sum[d] += double(dy[r * dim + d]) * xhat;
      }
    }
    for (int64_t d = 0; d < dim; ++d) dw[d] = static_cast<float>(dw_sum[d]);
  };
  op.bytes = [](const Problem& p) { return 16.0 * p.at("rows") * p.at("dim"); };
  op.paths = {plain_path("cpu",
                         [](const Problem& p, Tensors& out) {
                           cpu::rmsnorm_backward(p.in.f("x").data(), p.in.f("w").data(), p.in.f("rstd").data(),
                                                 p.in.f("dy").data(), out.f("dx").data(), out.f("dw").data(),
                                                 p.at("rows"), p.at("dim"));
                         },
                         {1e-5, 1e-4})};
  return op;
}

// ---- rope ----

Op rope() {
  Op op;
  op.name = "rope";
  op.summary = "x rotated in place by pos * theta^(-2i/D), halves convention (inverse: the backward)";
  op.sources = "native/cpu/rope.cpp, native/cuda/rope.cu";
  op.checks = {
      {"ragged", {{"tokens", 29}, {"heads", 3}, {"head_dim", 40}, {"inverse", 0}, {"theta", 10000}}, {}},
      {"ragged, inverse", {{"tokens", 29}, {"heads", 3}, {"head_dim", 40}, {"inverse", 1}, {"theta", 10000}}, {}},
      {"theta 500000", {{"tokens", 70}, {"heads", 2}, {"head_dim", 64}, {"inverse", 0}, {"theta", 500000}}, {}},
      {"head_dim 2", {{"tokens", 3}, {"heads", 1}, {"head_dim", 2}, {"inverse", 1}, {"theta", 10000}}, {}}};
  op.bench = {"1024 tokens, 8 heads of 64",
              {{"tokens", 1024}, {"heads", 8}, {"head_dim", 64}, {"inverse", 0}, {"theta", 10000}},
              {}};
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = start(s);
    const int64_t tokens = p.at("tokens");
    std::vector<int32_t> pos(tokens);
    for (int64_t t = 0; t < tokens; ++t) pos[t] = static_cast<int32_t>((t * 7 + seed) % (2 * tokens + 1));
    p.in.i32["positions"] = pos;
    // The cos/sin tables the model builds once per batch (cpu::rope_table), for the
    // table paths; the reference computes every angle itself.
    const int64_t max_pos = 2 * tokens + 1, half = p.at("head_dim") / 2;
    std::vector<float> cs(max_pos * half), sn(cs.size());
    const auto inv_freq = cpu::rope_default_inv_freq(static_cast<double>(p.at("theta")), p.at("head_dim"));
    cpu::rope_table(inv_freq.data(), p.at("head_dim"), max_pos, cs.data(), sn.data());
    p.in.f32["cos"] = cs;
    p.in.f32["sin"] = sn;
    p.out.f32["x"] = randn(tokens * p.at("heads") * p.at("head_dim"), seed);
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    const int64_t tokens = p.at("tokens"), heads = p.at("heads"), d = p.at("head_dim"), half = d / 2;
    const double sign = p.at("inverse") ? -1 : 1;
    auto& x = out.f("x");
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < half; ++i) {
          const double angle = p.in.i("positions")[t] * std::pow(double(p.at("theta")), -2.0 * i / d);
          const double c = std::cos(angle), s = sign * std::sin(angle);
          float* v = x.data() + (t * heads + h) * d;
          const double x1 = v[i], x2 = v[i + half];
          v[i] = static_cast<float>(x1 * c - x2 * s);
          v[i + half] = static_cast<float>(x2 * c + x1 * s);
        }
  };
  op.bytes = [](const Problem& p) { return 8.0 * p.at("tokens") * p.at("heads") * p.at("head_dim"); };
  const Tolerance tol{1e-5, 1e-5};
  op.paths = {
      plain_path(
          "cpu/direct",
          [](const Problem& p, Tensors& out) {
            const auto inv_freq = cpu::rope_default_inv_freq(static_cast<double>(p.at("theta")), p.at("head_dim"));
            cpu::rope_apply(out.f("x").data(), p.in.i("positions").data(), p.at("tokens"), p.at("heads"),
                            p.at("head_dim"), inv_freq.data(), p.at("inverse") != 0);
          },
          tol),
      plain_path(
          "cpu/table",
          [](const Problem& p, Tensors& out) {
            cpu::rope_apply_table(out.f("x").data(), p.in.i("positions").data(), p.at("tokens"), p.at("heads"),
                                  p.at("head_dim"), p.in.f("cos").data(), p.in.f("sin").data(), p.at("inverse") != 0);
          },
          tol)};
  return op;
}

// ---- swiglu ----

std::vector<Shape> swiglu_checks() {
  return {{"ragged", {{"n", 10007}}, {}}, {"one", {{"n", 1}}, {}}, {"one vector and a tail", {{"n", 19}}, {}}};
}

// The swiglu ops' shared declaration: sources, check shapes and bench shape.
Op swiglu_op(const std::string& name, const std::string& summary) {
  return declare(name, summary, "native/cpu/swiglu.cpp, native/cpu/vmath_avx2.cpp, native/cuda/swiglu.cu",
                 swiglu_checks(), {"1024 tokens x 1408", {{"n", 1024 * 1408}}, {}});
}

Op swiglu_forward() {
  Op op = swiglu_op("swiglu_forward", "a = silu(g) * u");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = start(s);
    const int64_t n = p.at("n");
    p.in.f32["g"] = randn(n, seed, 4.0f);
    p.in.f32["u"] = randn(n, seed + 1);
    p.out.f32["a"] = nans(n);
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    const auto &g = p.in.f("g"), &u = p.in.f("u");
    for (size_t i = 0; i < g.size(); ++i) out.f("a")[i] = static_cast<float>(g[i] * sigmoid(g[i]) * u[i]);
  };
  op.bytes = [](const Problem& p) { return 12.0 * p.at("n"); };
  op.paths = isa_paths(
      [](const Problem& p, Tensors& out, Isa isa) {
        cpu::swiglu_forward(p.in.f("g").data(), p.in.f("u").data(), out.f("a").data(), p.at("n"), isa);
      },
      {1e-6, 1e-5}, {Isa::Avx2, Isa::Portable});
  return op;
}

Op swiglu_backward() {
  Op op = swiglu_op("swiglu_backward", "dg = da u silu'(g), du = da silu(g)");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = start(s);
    const int64_t n = p.at("n");
    p.in.f32["g"] = randn(n, seed, 4.0f);
    p.in.f32["u"] = randn(n, seed + 1);
    p.in.f32["da"] = randn(n, seed + 2);
    p.out.f32["dg"] = nans(n);
    p.out.f32["du"] = nans(n);
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    const auto &g = p.in.f("g"), &u = p.in.f("u"), &da = p.in.f("da");
    for (size_t i = 0; i < g.size(); ++i) {
      const double s = sigmoid(g[i]);
      out.f("dg")[i] = static_cast<float>(double(da[i]) * u[i] * s * (1 + g[i] * (1 - s)));
      out.f("du")[i] = static_cast<float>(double(da[i]) * g[i] * s);
    }
  };
  op.bytes = [](const Problem& p) { return 20.0 * p.at("n"); };
  op.paths = isa_paths(
      [](const Problem& p, Tensors& out, Isa isa) {
        cpu::swiglu_backward(p.in.f("g").data(), p.in.f("u").data(), p.in.f("da").data(), out.f("dg").data(),
                             out.f("du").data(), p.at("n"), isa);
      },
      {1e-5, 1e-4}, {Isa::Avx2, Isa::Portable});
  return op;
}

// ---- gemm ----

Shape gemm_shape(const std::string& label, int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool accumulate) {
  return {label, {{"m", m}, {"n", n}, {"k", k}, {"trans_a", ta}, {"trans_b", tb}, {"accumulate", accumulate}}, {}};
}

cpu::GemmArgs gemm_args(const Problem& p, std::vector<float>& c) {
  cpu::GemmArgs g;
  set_gemm_shape(p, g);
  g.a = p.in.f("a").data();
  g.b = p.in.f("b").data();
  g.c = c.data();
  return g;
}

Op gemm() {
  Op op;
  op.name = "gemm";
  op.summary = "C = alpha op(A) op(B) + beta C, row-major, either operand transposed";
  op.sources =
      "native/cpu/gemm.cpp (packing, blocking), gemm_kernel_{portable,avx2,avx512}.cpp, gemm_reference.cpp, "
      "gemm_small_avx2.cpp (rowwise), native/cuda/gemm*.cu";
  op.checks = {gemm_shape("1x1x1", 1, 1, 1, false, false, false),
               gemm_shape("tiny nt", 7, 5, 3, false, true, false),
               gemm_shape("tn, accumulate", 13, 17, 19, true, false, true),
               gemm_shape("tt, long k", 6, 16, 256, true, true, true),
               gemm_shape("nt, accumulate", 150, 70, 300, false, true, true),
               gemm_shape("nn, ragged", 290, 33, 513, false, false, true),
               gemm_shape("tt, wide", 64, 3100, 40, true, true, false),
               gemm_shape("one row nt", 1, 300, 129, false, true, false),
               gemm_shape("one column tn", 200, 1, 77, true, false, true),
               gemm_shape("few rows nt", 4, 130, 16, false, true, false),
               gemm_shape("lm-head-like tn", 528, 700, 300, true, false, true),
               gemm_shape("projection nt", 517, 300, 513, false, true, false)};
  op.bench = gemm_shape("1024 tokens x d512 -> 1536 (nt)", 1024, 1536, 512, false, true, false);
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = start(s);
    const int64_t m = p.at("m"), n = p.at("n"), k = p.at("k");
    p.in.f32["a"] = randn(m * k, seed);
    p.in.f32["b"] = randn(k * n, seed + 1);
    p.out.f32["c"] = p.at("accumulate") ? randn(m * n, seed + 2) : nans(m * n);
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) { cpu::gemm_reference(gemm_args(p, out.f("c"))); };
  op.flops = [](const Problem& p) { return 2.0 * p.at("m") * p.at("n") * p.at("k"); };
  // Sums of up to k = 513 products of unit normals: float rounding grows like sqrt(k).
  const Tolerance tol{5e-4, 1e-5};
  op.paths = isa_paths([](const Problem& p, Tensors& out, Isa isa) { cpu::gemm(gemm_args(p, out.f("c")), isa); }, tol);
  for (Path path : isa_paths(
           [](const Problem& p, Tensors& out, Isa isa) { cpu::gemm_rowwise_nt(gemm_args(p, out.f("c")), isa); }, tol)) {
    path.name = "cpu/rowwise-" + path.name.substr(4);
    path.accepts = [](const Problem& p) { return p.at("trans_b") && !p.at("trans_a"); };
    op.paths.push_back(std::move(path));
  }
  return op;
}

// ---- attention ----

Shape attention_shape(const std::string& label, int64_t heads, int64_t kv_heads, int64_t head_dim,
                      std::vector<int64_t> lengths) {
  return {label, {{"heads", heads}, {"kv_heads", kv_heads}, {"head_dim", head_dim}}, std::move(lengths)};
}

std::vector<Shape> attention_checks() {
  return {attention_shape("one token", 1, 1, 8, {1}),
          attention_shape("packed, grouped, D16", 4, 2, 16, {5, 1, 70}),
          attention_shape("empty segment, D24", 3, 3, 24, {130, 0, 64, 3}),
          attention_shape("8 heads on 1, D64", 8, 1, 64, {200}),
          attention_shape("D128 over a tile edge", 2, 2, 128, {65, 129}),
          attention_shape("ragged grouped, D32", 6, 2, 32, {1, 65, 0, 134})};
}

// cu_seqlens from the shape's lengths; tokens = their sum.
Problem attention_problem(const Shape& s) {
  Problem p = start(s);
  std::vector<int32_t> cu{0};
  for (int64_t len : s.lengths) cu.push_back(static_cast<int32_t>(cu.back() + len));
  p.shape["tokens"] = cu.back();
  p.shape["seqs"] = static_cast<int64_t>(s.lengths.size());
  p.in.i32["cu_seqlens"] = cu;
  return p;
}

cpu::AttentionArgs attention_args(const Problem& p) {
  cpu::AttentionArgs a;
  a.tokens = p.at("tokens");
  a.heads = p.at("heads");
  a.kv_heads = p.at("kv_heads");
  a.head_dim = p.at("head_dim");
  a.cu_seqlens = p.in.i("cu_seqlens").data();
  a.num_seqs = p.at("seqs");
  a.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
  return a;
}

double attention_forward_flops(const Problem& p) {
  double pairs = 0;  // causal (query, key) pairs
  const auto& cu = p.in.i("cu_seqlens");
  for (size_t s = 0; s + 1 < cu.size(); ++s) {
    const double len = cu[s + 1] - cu[s];
    pairs += len * (len + 1) / 2;
  }
  return 4.0 * pairs * p.at("heads") * p.at("head_dim");
}

// What both attention ops share: sources, shapes, and q, k, v drawn for a problem.
Op attention_op(const std::string& name, const std::string& summary) {
  return declare(name, summary,
                 "native/cpu/attention.cpp (reference, driver), attention_kernel.inc, "
                 "attention_{portable,avx2,avx512}.cpp, native/cuda/attention.cu, attention_mma.cu",
                 attention_checks(), attention_shape("2 x 512 tokens, 8 heads of 64", 8, 8, 64, {512, 512}));
}

Problem attention_qkv(const Shape& s, uint32_t seed) {
  Problem p = attention_problem(s);
  const int64_t nq = p.at("tokens") * p.at("heads") * p.at("head_dim"),
                nk = p.at("tokens") * p.at("kv_heads") * p.at("head_dim");
  p.in.f32["q"] = randn(nq, seed);
  p.in.f32["k"] = randn(nk, seed + 1);
  p.in.f32["v"] = randn(nk, seed + 2);
  return p;
}

Op attention_forward() {
  Op op = attention_op("attention_forward",
                       "causal softmax(q k^T scale) v over packed sequences, grouped kv heads; lse saved");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = attention_qkv(s, seed);
    p.out.f32["out"] = nans(p.in.f("q").size());
    p.out.f32["lse"] = nans(p.at("tokens") * p.at("heads"));
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    cpu::attention_forward_reference(attention_args(p), p.in.f("q").data(), p.in.f("k").data(), p.in.f("v").data(),
                                     out.f("out").data(), out.f("lse").data());
  };
  op.flops = attention_forward_flops;
  op.paths = isa_paths(
      [](const Problem& p, Tensors& out, Isa isa) {
        cpu::attention_forward(attention_args(p), p.in.f("q").data(), p.in.f("k").data(), p.in.f("v").data(),
                               out.f("out").data(), out.f("lse").data(), isa);
      },
      {1e-5, 1e-4});
  return op;
}

Op attention_backward() {
  Op op = attention_op("attention_backward",
                       "dq, dk, dv of causal attention from q, k, v, out, lse and dout (recomputes probabilities)");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = attention_qkv(s, seed);
    const auto &q = p.in.f("q"), &k = p.in.f("k");
    std::vector<float> out(q.size()), lse(p.at("tokens") * p.at("heads"));
    cpu::attention_forward_reference(attention_args(p), q.data(), k.data(), p.in.f("v").data(), out.data(), lse.data());
    p.in.f32["out"] = out;
    p.in.f32["lse"] = lse;
    p.in.f32["dout"] = randn(q.size(), seed + 3);
    p.out.f32["dq"] = nans(q.size());
    p.out.f32["dk"] = nans(k.size());
    p.out.f32["dv"] = nans(k.size());
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    cpu::attention_backward_reference(attention_args(p), p.in.f("q").data(), p.in.f("k").data(), p.in.f("v").data(),
                                      p.in.f("dout").data(), out.f("dq").data(), out.f("dk").data(),
                                      out.f("dv").data());
  };
  op.flops = [](const Problem& p) { return 2.5 * attention_forward_flops(p); };
  op.paths = isa_paths(
      [](const Problem& p, Tensors& out, Isa isa) {
        cpu::attention_backward(attention_args(p), p.in.f("q").data(), p.in.f("k").data(), p.in.f("v").data(),
                                p.in.f("out").data(), p.in.f("lse").data(), p.in.f("dout").data(), out.f("dq").data(),
                                out.f("dk").data(), out.f("dv").data(), isa);
      },
      {1e-4, 1e-3});
  return op;
}

// ---- attention_decode ----

Op attention_decode() {
  Op op;
  op.name = "attention_decode";
  op.summary = "one query row per sample against its key/value cache (generation)";
  op.sources = "native/cpu/attention_decode.cpp, attention_decode_avx2.cpp, native/cuda/attention_decode.cu";
  auto shape = [](const std::string& label, int64_t heads, int64_t kv_heads, int64_t d, std::vector<int64_t> lengths) {
    return Shape{label, {{"heads", heads}, {"kv_heads", kv_heads}, {"head_dim", d}}, std::move(lengths)};
  };
  op.checks = {shape("D8, ragged", 4, 2, 8, {1, 7, 64, 65, 300}), shape("D12", 4, 2, 12, {3, 9}),
               shape("D32", 4, 4, 32, {64, 65}), shape("D64", 4, 1, 64, {1, 130}), shape("D128", 2, 2, 128, {300, 5})};
  op.bench = shape("16 samples, 512 cached, 8 heads of 64", 8, 8, 64, std::vector<int64_t>(16, 512));
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = start(s);
    const int64_t rows = static_cast<int64_t>(s.lengths.size());
    const int64_t capacity = *std::max_element(s.lengths.begin(), s.lengths.end());
    const int64_t kv_dim = p.at("kv_heads") * p.at("head_dim");
    p.shape["rows"] = rows;
    p.shape["capacity"] = capacity;
    // Caches [rows][capacity][kv_heads * head_dim]: row i's keys live in its own slot.
    p.in.f32["k_cache"] = randn(rows * capacity * kv_dim, seed);
    p.in.f32["v_cache"] = randn(rows * capacity * kv_dim, seed + 1);
    p.in.f32["q"] = randn(rows * p.at("heads") * p.at("head_dim"), seed + 2);
    p.in.i32["n"] = std::vector<int32_t>(s.lengths.begin(), s.lengths.end());
    p.out.f32["out"] = nans(rows * p.at("heads") * p.at("head_dim"));
    return p;
  };
  struct Args {
    std::vector<const float*> k, v;
    std::vector<int64_t> n;
    cpu::DecodeAttentionArgs a;
  };
  auto args = [](const Problem& p) {
    auto r = std::make_shared<Args>();
    const int64_t rows = p.at("rows"), capacity = p.at("capacity");
    const int64_t kv_dim = p.at("kv_heads") * p.at("head_dim");
    for (int64_t i = 0; i < rows; ++i) {
      r->k.push_back(p.in.f("k_cache").data() + i * capacity * kv_dim);
      r->v.push_back(p.in.f("v_cache").data() + i * capacity * kv_dim);
      r->n.push_back(p.in.i("n")[i]);
    }
    r->a.rows = rows;
    r->a.heads = p.at("heads");
    r->a.kv_heads = p.at("kv_heads");
    r->a.head_dim = p.at("head_dim");
    r->a.k = r->k.data();
    r->a.v = r->v.data();
    r->a.kv_stride = kv_dim;
    r->a.n = r->n.data();
    r->a.scale = 1.0f / std::sqrt(static_cast<float>(r->a.head_dim));
    return r;
  };
  op.reference = [args](const Problem& p, Tensors& out) {
    auto a = args(p);
    cpu::attention_decode_reference(a->a, p.in.f("q").data(), out.f("out").data());
  };
  op.flops = [](const Problem& p) {
    double keys = 0;
    for (int32_t n : p.in.i("n")) keys += n;
    return 4.0 * keys * p.at("heads") * p.at("head_dim");
  };
  op.paths = isa_paths(
      [args](const Problem& p, Tensors& out, Isa isa) {
        auto a = args(p);
        cpu::attention_decode(a->a, p.in.f("q").data(), out.f("out").data(), isa);
      },
      {1e-5, 1e-5}, {Isa::Avx2, Isa::Portable});
  return op;
}

// ---- logprob ----

std::vector<Shape> logprob_checks() {
  return {{"one row", {{"rows", 1}, {"dim", 1}, {"vocab", 2}}, {}},
          {"ragged", {{"rows", 37}, {"dim", 48}, {"vocab", 301}}, {}},
          {"wide vocab", {{"rows", 9}, {"dim", 64}, {"vocab", 5003}}, {}}};
}

// The logprob ops' shared declaration: sources, check shapes and bench shape.
Op logprob_op(const std::string& name, const std::string& summary) {
  return declare(name, summary, "native/cpu/logprob.cpp, native/cuda/logprob.cu", logprob_checks(),
                 {"256 rows, d512, V8192", {{"rows", 256}, {"dim", 512}, {"vocab", 8192}}, {}});
}

Problem logprob_problem(const Shape& s, uint32_t seed) {
  Problem p = start(s);
  const int64_t rows = p.at("rows"), dim = p.at("dim"), vocab = p.at("vocab");
  p.in.f32["hidden"] = randn(rows * dim, seed);
  p.in.f32["weight"] = randn(vocab * dim, seed + 1, 0.5f);
  std::vector<int32_t> targets(rows);
  for (int64_t r = 0; r < rows; ++r) targets[r] = static_cast<int32_t>((r * 7919 + seed) % vocab);
  p.in.i32["targets"] = targets;
  return p;
}

cpu::LogprobArgs logprob_args(const Problem& p) {
  cpu::LogprobArgs a;
  a.rows = p.at("rows");
  a.dim = p.at("dim");
  a.vocab = p.at("vocab");
  a.hidden = p.in.f("hidden").data();
  a.weight = p.in.f("weight").data();
  a.targets = p.in.i("targets").data();
  return a;
}

Op logprob_forward() {
  Op op = logprob_op("logprob_forward", "logp[r] = log_softmax(hidden[r] W^T)[targets[r]], in chunks of rows");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = logprob_problem(s, seed);
    p.out.f32["logp"] = nans(p.at("rows"));
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    cpu::logprob_forward_reference(logprob_args(p), out.f("logp").data());
  };
  op.flops = [](const Problem& p) { return 2.0 * p.at("rows") * p.at("dim") * p.at("vocab"); };
  op.paths = isa_paths(
      [](const Problem& p, Tensors& out, Isa isa) { cpu::logprob_forward(logprob_args(p), out.f("logp").data(), isa); },
      {1e-4, 1e-5});
  return op;
}

Op logprob_backward() {
  Op op = logprob_op("logprob_backward",
                     "dhidden += dlogp (onehot - softmax) W, dweight += its transpose product (logits recomputed)");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = logprob_problem(s, seed);
    p.in.f32["dlogp"] = randn(p.at("rows"), seed + 2);
    p.out.f32["dhidden"] = randn(p.at("rows") * p.at("dim"), seed + 3);
    p.out.f32["dweight"] = randn(p.at("vocab") * p.at("dim"), seed + 4);
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    const int64_t rows = p.at("rows"), dim = p.at("dim"), vocab = p.at("vocab");
    const auto &h = p.in.f("hidden"), &w = p.in.f("weight"), &dlogp = p.in.f("dlogp");
    const auto& targets = p.in.i("targets");
    std::vector<double> dh(out.f("dhidden").begin(), out.f("dhidden").end());
    std::vector<double> dw(out.f("dweight").begin(), out.f("dweight").end()), z(vocab);
    for (int64_t r = 0; r < rows; ++r) {
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < vocab; ++j) {
        double s = 0;
        for (int64_t d = 0; d < dim; ++d) s += double(h[r * dim + d]) * w[j * dim + d];
        z[j] = s;
        mx = std::max(mx, s);
      }
      for (int64_t j = 0; j < vocab; ++j) sum += std::exp(z[j] - mx);
      for (int64_t j = 0; j < vocab; ++j) {
        const double g = dlogp[r] * ((j == targets[r] ? 1.0 : 0.0) - std::exp(z[j] - mx) / sum);  // d logp / d z_j
        for (int64_t d = 0; d < dim; ++d) {
          dh[r * dim + d] += g * w[j * dim + d];
          dw[j * dim + d] += g * h[r * dim + d];
        }
      }
    }
    std::transform(dh.begin(), dh.end(), out.f("dhidden").begin(), [](double x) { return static_cast<float>(x); });
    std::transform(dw.begin(), dw.end(), out.f("dweight").begin(), [](double x) { return static_cast<float>(x); });
  };
  op.flops = [](const Problem& p) { return 6.0 * p.at("rows") * p.at("dim") * p.at("vocab"); };
  op.paths = isa_paths(
      [](const Problem& p, Tensors& out, Isa isa) {
        cpu::logprob_backward(logprob_args(p), p.in.f("dlogp").data(), out.f("dhidden").data(), out.f("dweight").data(),
                              isa);
      },
      {1e-4, 1e-4});
  return op;
}

// ---- bias ----

std::vector<Shape> bias_checks() {
  return {{"ragged", {{"rows", 37}, {"cols", 130}}, {}},
          {"one row", {{"rows", 1}, {"cols", 7}}, {}},
          {"columns over a block", {{"rows", 5}, {"cols", 200}}, {}},
          {"rows over a chunk", {{"rows", 600}, {"cols", 45}}, {}}};
}

// The bias ops' shared declaration: sources, check shapes and bench shape.
Op bias_op(const std::string& name, const std::string& summary) {
  return declare(name, summary, "native/cpu/bias.cpp, native/cuda/bias.cu", bias_checks(),
                 {"1024 tokens x 1536", {{"rows", 1024}, {"cols", 1536}}, {}});
}

Op bias_add() {
  Op op = bias_op("bias_add", "y[r] += b, a linear layer's bias on every row (Qwen2's q/k/v)");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = start(s);
    p.in.f32["b"] = randn(p.at("cols"), seed);
    p.out.f32["y"] = randn(p.at("rows") * p.at("cols"), seed + 1);
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    const int64_t cols = p.at("cols");
    auto& y = out.f("y");
    for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>(double(y[i]) + p.in.f("b")[i % cols]);
  };
  op.bytes = [](const Problem& p) { return 8.0 * p.at("rows") * p.at("cols"); };
  op.paths = {plain_path("cpu",
                         [](const Problem& p, Tensors& out) {
                           cpu::bias_add(out.f("y").data(), p.in.f("b").data(), p.at("rows"), p.at("cols"));
                         },
                         {0, 0})};
  return op;
}

Op bias_backward() {
  Op op = bias_op("bias_backward", "db += the sum of dy's rows, in row order");
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = start(s);
    p.in.f32["dy"] = randn(p.at("rows") * p.at("cols"), seed);
    p.out.f32["db"] = randn(p.at("cols"), seed + 1);
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    const int64_t rows = p.at("rows"), cols = p.at("cols");
    auto& db = out.f("db");
    for (int64_t c = 0; c < cols; ++c) {
      double sum = db[c];
      for (int64_t r = 0; r < rows; ++r) sum += p.in.f("dy")[r * cols + c];
      db[c] = static_cast<float>(sum);
    }
  };
  op.bytes = [](const Problem& p) { return 4.0 * p.at("rows") * p.at("cols"); };
  op.paths = {plain_path("cpu",
                         [](const Problem& p, Tensors& out) {
                           cpu::bias_backward(p.in.f("dy").data(), out.f("db").data(), p.at("rows"), p.at("cols"));
                         },
                         {1e-5, 1e-5})};
  return op;
}

// ---- adamw ----

Op adamw() {
  Op op;
  op.name = "adamw";
  op.summary = "one AdamW update of p, m, v from g (torch.optim.AdamW's formula, bias-corrected)";
  op.sources = "native/cpu/adamw.cpp, adamw_avx2.cpp, native/cuda/adamw.cu";
  op.checks = {{"ragged", {{"n", 16384 + 13}}, {}}, {"one", {{"n", 1}}, {}}, {"one vector and a tail", {{"n", 9}}, {}}};
  op.bench = {"4M parameters", {{"n", 4 << 20}}, {}};
  op.make = [](const Shape& s, uint32_t seed) {
    Problem p = start(s);
    const int64_t n = p.at("n");
    p.in.f32["g"] = randn(n, seed);
    p.out.f32["p"] = randn(n, seed + 1);
    p.out.f32["m"] = randn(n, seed + 2, 0.1f);
    auto v = randn(n, seed + 3);
    for (float& x : v) x = x * x;  // second moments are non-negative
    p.out.f32["v"] = v;
    return p;
  };
  op.reference = [](const Problem& p, Tensors& out) {
    const AdamWStep c = adamw_step_constants();
    const auto& g = p.in.f("g");
    auto &pp = out.f("p"), &m = out.f("m"), &v = out.f("v");
    for (size_t i = 0; i < g.size(); ++i) {
      const double mi = c.b1 * double(m[i]) + (1 - double(c.b1)) * g[i];
      const double vi = c.b2 * double(v[i]) + (1 - double(c.b2)) * double(g[i]) * g[i];
      pp[i] =
          static_cast<float>(pp[i] * double(c.decay) - double(c.step) * mi / (std::sqrt(vi) * c.inv_sqrt_bc2 + c.eps));
      m[i] = static_cast<float>(mi);
      v[i] = static_cast<float>(vi);
    }
  };
  op.bytes = [](const Problem& p) { return 28.0 * p.at("n"); };
  op.paths = isa_paths(
      [](const Problem& p, Tensors& out, Isa isa) {
        const AdamWStep c = adamw_step_constants();
        cpu::adamw_range(out.f("p").data(), p.in.f("g").data(), out.f("m").data(), out.f("v").data(), p.at("n"), c.b1,
                         c.b2, c.step, c.inv_sqrt_bc2, c.eps, c.decay, isa);
      },
      {1e-6, 1e-5}, {Isa::Avx2, Isa::Portable});
  return op;
}

std::vector<Op> build() {
  std::vector<Op> ops = {embedding_forward(),
                         rmsnorm_forward(),
                         gemm(),
                         bias_add(),
                         rope(),
                         attention_forward(),
                         swiglu_forward(),
                         logprob_forward(),
                         logprob_backward(),
                         swiglu_backward(),
                         attention_backward(),
                         bias_backward(),
                         rmsnorm_backward(),
                         embedding_backward(),
                         adamw(),
                         attention_decode()};
  add_cuda_paths(ops);
  return ops;
}

}  // namespace

const std::vector<Op>& table() {
  static const std::vector<Op> ops = build();
  return ops;
}

const Op& find_op(const std::string& name) {
  std::string names;
  for (const Op& op : table()) {
    if (op.name == name) return op;
    names += (names.empty() ? "" : ", ") + op.name;
  }
  throw_arg("op", "one of " + names, "\"" + name + "\"");
}

const Path& find_path(const Op& op, const std::string& name) {
  std::string names;
  for (const Path& path : op.paths) {
    if (path.name == name) return path;
    names += (names.empty() ? "" : ", ") + path.name;
  }
  throw_arg("path of " + op.name, "one of " + names, "\"" + name + "\"");
}

}  // namespace genrm::ops
