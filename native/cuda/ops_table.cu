// The CUDA paths of the table of ops (native/ops/table.h): each runs the op's
// kernel on device copies of the problem's tensors and brings the outputs back.
// Every path is available when a device is usable (or the simulator stands in).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../ops/table.h"
#include "attention.h"
#include "check.h"
#include "device.h"
#include "gemm.h"
#include "kernels.h"
#include "logprob.h"

namespace genrm::ops {
namespace {

// A device copy of a host vector, freed with the object.
template <typename T>
struct Device {
  T* p = nullptr;
  size_t n = 0;
  explicit Device(const std::vector<T>& h) : n(h.size()) {
    p = static_cast<T*>(cuda::device_alloc(sizeof(T) * std::max<size_t>(n, 1), "op tensor"));
    cuda::check(cudaMemcpy(p, h.data(), sizeof(T) * n, cudaMemcpyHostToDevice), "op tensor upload");
  }
  ~Device() { cuda::device_free(p); }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  void download(std::vector<T>& h) const {
    cuda::check(cudaMemcpy(h.data(), p, sizeof(T) * n, cudaMemcpyDeviceToHost), "op tensor download");
  }
};

using F = Device<float>;
using I = Device<int32_t>;

Path cuda_path(const std::string& name, Run run, Tolerance tol, std::vector<std::string> bf16_inputs = {}) {
  Path path;
  path.name = name;
  path.backend = "cuda";
  path.available = [] { return cuda::status().usable(); };
  path.run = std::move(run);
  path.tolerance = tol;
  path.bf16_inputs = std::move(bf16_inputs);
  return path;
}

Op& op_named(std::vector<Op>& ops, const std::string& name) {
  for (Op& op : ops)
    if (op.name == name) return op;
  throw Error(ErrorKind::State, "the table of ops has no " + name);
}

cuda::GemmArgs gemm_args(const Problem& p, const F& a, const F& b, F& c) {
  cuda::GemmArgs g;
  set_gemm_shape(p, g);
  g.a = a.p;
  g.b = b.p;
  g.c = c.p;
  return g;
}

Run gemm_run(cuda::GemmEngine engine) {
  return [engine](const Problem& p, Tensors& out) {
    F a(p.in.f("a")), b(p.in.f("b")), c(out.f("c"));
    cuda::gemm(gemm_args(p, a, b, c), engine);
    c.download(out.f("c"));
  };
}

cuda::AttentionArgs attention_args(const Problem& p, const I& cu) {
  cuda::AttentionArgs a;
  a.tokens = p.at("tokens");
  a.heads = p.at("heads");
  a.kv_heads = p.at("kv_heads");
  a.head_dim = p.at("head_dim");
  a.cu_seqlens = cu.p;
  a.num_seqs = p.at("seqs");
  const auto& h = p.in.i("cu_seqlens");
  for (size_t s = 0; s + 1 < h.size(); ++s) a.max_seqlen = std::max<int64_t>(a.max_seqlen, h[s + 1] - h[s]);
  a.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
  return a;
}

Run attention_forward_run(cuda::AttentionPath path) {
  return [path](const Problem& p, Tensors& out) {
    I cu(p.in.i("cu_seqlens"));
    F q(p.in.f("q")), k(p.in.f("k")), v(p.in.f("v")), o(out.f("out")), lse(out.f("lse"));
    cuda::attention_forward(attention_args(p, cu), q.p, k.p, v.p, o.p, lse.p, path);
    o.download(out.f("out"));
    lse.download(out.f("lse"));
  };
}

Run attention_backward_run(cuda::AttentionPath path) {
  return [path](const Problem& p, Tensors& out) {
    I cu(p.in.i("cu_seqlens"));
    F q(p.in.f("q")), k(p.in.f("k")), v(p.in.f("v")), o(p.in.f("out")), lse(p.in.f("lse")), dout(p.in.f("dout"));
    F dq(out.f("dq")), dk(out.f("dk")), dv(out.f("dv"));
    cuda::attention_backward(attention_args(p, cu), q.p, k.p, v.p, o.p, lse.p, dout.p, dq.p, dk.p, dv.p, path);
    dq.download(out.f("dq"));
    dk.download(out.f("dk"));
    dv.download(out.f("dv"));
  };
}

cuda::LogprobArgs logprob_args(const Problem& p, const F& hidden, const F& weight, const I& targets,
                               cuda::GemmEngine engine) {
  cuda::LogprobArgs a;
  a.rows = p.at("rows");
  a.dim = p.at("dim");
  a.vocab = p.at("vocab");
  a.hidden = hidden.p;
  a.weight = weight.p;
  a.targets = targets.p;
  a.engine = engine;
  a.chunk_rows = 8;  // several chunks even at the check shapes
  return a;
}

}  // namespace

void add_cuda_paths(std::vector<Op>& ops) {
  const Tolerance fp32{1e-6, 1e-5};
  op_named(ops, "embedding_forward")
      .paths.push_back(cuda_path("cuda",
                                 [](const Problem& p, Tensors& out) {
                                   F table(p.in.f("table")), o(out.f("out"));
                                   I tokens(p.in.i("tokens"));
                                   cuda::embedding_forward(table.p, tokens.p, o.p, p.at("n"), p.at("dim"));
                                   o.download(out.f("out"));
                                 },
                                 {0, 0}));
  op_named(ops, "embedding_backward")
      .paths.push_back(cuda_path(
          "cuda",
          [](const Problem& p, Tensors& out) {
            F dout(p.in.f("dout")), dtable(out.f("dtable"));
            I tokens(p.in.i("tokens"));
            cuda::embedding_backward(tokens.p, dout.p, dtable.p, p.at("n"), p.at("dim"));
            dtable.download(out.f("dtable"));
          },
          fp32));
  op_named(ops, "rmsnorm_forward")
      .paths.push_back(cuda_path(
          "cuda",
          [](const Problem& p, Tensors& out) {
            F x(p.in.f("x")), w(p.in.f("w")), y(out.f("y")), rstd(out.f("rstd"));
            cuda::rmsnorm_forward(x.p, w.p, y.p, rstd.p, p.at("rows"), p.at("dim"), 1e-5f);
            y.download(out.f("y"));
            rstd.download(out.f("rstd"));
          },
          fp32));
  op_named(ops, "rmsnorm_backward")
      .paths.push_back(cuda_path(
          "cuda",
          [](const Problem& p, Tensors& out) {
            F x(p.in.f("x")), w(p.in.f("w")), rstd(p.in.f("rstd")), dy(p.in.f("dy")), dx(out.f("dx")), dw(out.f("dw"));
            cuda::rmsnorm_backward(x.p, w.p, rstd.p, dy.p, dx.p, dw.p, p.at("rows"), p.at("dim"));
            dx.download(out.f("dx"));
            dw.download(out.f("dw"));
          },
          {1e-5, 1e-4}));
  op_named(ops, "bias_add")
      .paths.push_back(cuda_path("cuda",
                                 [](const Problem& p, Tensors& out) {
                                   F b(p.in.f("b")), y(out.f("y"));
                                   cuda::bias_add(y.p, b.p, p.at("rows"), p.at("cols"));
                                   y.download(out.f("y"));
                                 },
                                 {0, 0}));
  // The model's dq/dk/dv reach the bias gradient in the operands' storage: fp32 or bf16.
  for (const bool bf16 : {false, true})
    op_named(ops, "bias_backward")
        .paths.push_back(cuda_path(
            bf16 ? "cuda/bf16-dy" : "cuda",
            [bf16](const Problem& p, Tensors& out) {
              const int64_t n = p.at("rows") * p.at("cols");
              F dy(p.in.f("dy")), db(out.f("db"));
              Device<uint16_t> dy16(std::vector<uint16_t>(static_cast<size_t>(bf16 ? n : 0)));
              if (bf16) cuda::to_bf16(dy.p, dy16.p, n);
              cuda::bias_backward(bf16 ? static_cast<const void*>(dy16.p) : dy.p,
                                  bf16 ? cuda::DType::BF16 : cuda::DType::F32, db.p, p.at("rows"), p.at("cols"));
              db.download(out.f("db"));
            },
            {1e-5, 1e-5}, bf16 ? std::vector<std::string>{"dy"} : std::vector<std::string>{}));
  op_named(ops, "rope")
      .paths.push_back(cuda_path("cuda",
                                 [](const Problem& p, Tensors& out) {
                                   F x(out.f("x")), cs(p.in.f("cos")), sn(p.in.f("sin"));
                                   I pos(p.in.i("positions"));
                                   cuda::rope_apply_table(x.p, pos.p, p.at("tokens"), p.at("heads"), p.at("head_dim"),
                                                          cs.p, sn.p, p.at("inverse") != 0);
                                   x.download(out.f("x"));
                                 },
                                 {1e-5, 1e-5}));
  op_named(ops, "swiglu_forward")
      .paths.push_back(cuda_path(
          "cuda",
          [](const Problem& p, Tensors& out) {
            F g(p.in.f("g")), u(p.in.f("u")), a(out.f("a"));
            cuda::swiglu_forward(g.p, u.p, a.p, p.at("n"));
            a.download(out.f("a"));
          },
          fp32));
  op_named(ops, "swiglu_backward")
      .paths.push_back(cuda_path("cuda",
                                 [](const Problem& p, Tensors& out) {
                                   F g(p.in.f("g")), u(p.in.f("u")), da(p.in.f("da")), dg(out.f("dg")), du(out.f("du"));
                                   cuda::swiglu_backward(g.p, u.p, da.p, dg.p, du.p, p.at("n"));
                                   dg.download(out.f("dg"));
                                   du.download(out.f("du"));
                                 },
                                 {1e-5, 1e-4}));
  op_named(ops, "adamw")
      .paths.push_back(cuda_path(
          "cuda",
          [](const Problem& p, Tensors& out) {
            const AdamWStep c = adamw_step_constants();
            F g(p.in.f("g")), pp(out.f("p")), m(out.f("m")), v(out.f("v"));
            cuda::adamw_range(pp.p, g.p, m.p, v.p, p.at("n"), c.b1, c.b2, c.step, c.inv_sqrt_bc2, c.eps, c.decay);
            pp.download(out.f("p"));
            m.download(out.f("m"));
            v.download(out.f("v"));
          },
          fp32));
  // The cache fp32, or bf16 as a bf16 model keeps it (the reference reads the rounded values).
  for (const cuda::DType cache : {cuda::DType::F32, cuda::DType::BF16})
    op_named(ops, "attention_decode")
        .paths.push_back(cuda_path(
            cache == cuda::DType::BF16 ? "cuda/bf16-cache" : "cuda",
            [cache](const Problem& p, Tensors& out) {
              const int64_t rows = p.at("rows"), heads = p.at("heads"), capacity = p.at("capacity");
              std::vector<int32_t> slots(rows);
              for (int64_t i = 0; i < rows; ++i) slots[i] = static_cast<int32_t>(i);
              F q(p.in.f("q")), kc(p.in.f("k_cache")), vc(p.in.f("v_cache")), o(out.f("out"));
              const bool bf16 = cache == cuda::DType::BF16;
              Device<uint16_t> k16(std::vector<uint16_t>(bf16 ? kc.n : 0)), v16(std::vector<uint16_t>(bf16 ? vc.n : 0));
              if (bf16) {
                cuda::to_bf16(kc.p, k16.p, static_cast<int64_t>(kc.n));
                cuda::to_bf16(vc.p, v16.p, static_cast<int64_t>(vc.n));
              }
              F scores(std::vector<float>(rows * heads * capacity));
              I slots_d(slots), n(p.in.i("n"));
              cuda::attention_decode(q.p, bf16 ? static_cast<const void*>(k16.p) : kc.p,
                                     bf16 ? static_cast<const void*>(v16.p) : vc.p, cache, slots_d.p, n.p, o.p,
                                     scores.p, rows, heads, p.at("kv_heads"), p.at("head_dim"), 1, 0, capacity,
                                     1.0f / std::sqrt(static_cast<float>(p.at("head_dim"))));
              o.download(out.f("out"));
            },
            {1e-5, 1e-5},
            cache == cuda::DType::BF16 ? std::vector<std::string>{"k_cache", "v_cache"} : std::vector<std::string>{}));

  // The products: fp32 SIMT paths against the exact reference; tensor-core paths
  // against the reference on their bf16-rounded operands.
  Op& gemm = op_named(ops, "gemm");
  gemm.paths.push_back(cuda_path("cuda/simt", gemm_run(cuda::GemmEngine::Simt), {5e-4, 1e-5}));
  gemm.paths.push_back(cuda_path("cuda/tensor-core", gemm_run(cuda::GemmEngine::Own), {5e-4, 1e-5}, {"a", "b"}));
  Op& attention_forward = op_named(ops, "attention_forward");
  attention_forward.paths.push_back(
      cuda_path("cuda/plain", attention_forward_run(cuda::AttentionPath::Plain), {1e-4, 1e-4}));
  // Probabilities meet V on tensor cores rounded to bf16 too.
  Path tc_forward = cuda_path("cuda/tensor-core", attention_forward_run(cuda::AttentionPath::TensorCore), {2e-2, 2e-2},
                              {"q", "k", "v"});
  const auto tensor_core_head_dim = [](const Problem& p) {
    const int64_t d = p.at("head_dim");
    return d == 16 || d == 32 || d == 64 || d == 128;
  };
  tc_forward.accepts = tensor_core_head_dim;
  attention_forward.paths.push_back(std::move(tc_forward));
  Op& attention_backward = op_named(ops, "attention_backward");
  attention_backward.paths.push_back(
      cuda_path("cuda/plain", attention_backward_run(cuda::AttentionPath::Plain), {1e-4, 1e-3}));
  Path tc_backward = cuda_path("cuda/tensor-core", attention_backward_run(cuda::AttentionPath::TensorCore),
                               {3e-2, 3e-2}, {"q", "k", "v", "dout"});
  tc_backward.accepts = tensor_core_head_dim;
  attention_backward.paths.push_back(std::move(tc_backward));
  op_named(ops, "logprob_forward")
      .paths.push_back(cuda_path("cuda/tensor-core",
                                 [](const Problem& p, Tensors& out) {
                                   F hidden(p.in.f("hidden")), weight(p.in.f("weight")), logp(out.f("logp"));
                                   I targets(p.in.i("targets"));
                                   cuda::logprob_forward(
                                       logprob_args(p, hidden, weight, targets, cuda::GemmEngine::Own), logp.p);
                                   logp.download(out.f("logp"));
                                 },
                                 {1e-4, 1e-5}, {"hidden", "weight"}));
  op_named(ops, "logprob_backward")
      .paths.push_back(cuda_path("cuda/tensor-core",
                                 [](const Problem& p, Tensors& out) {
                                   F hidden(p.in.f("hidden")), weight(p.in.f("weight")), dlogp(p.in.f("dlogp"));
                                   F dhidden(out.f("dhidden")), dweight(out.f("dweight"));
                                   I targets(p.in.i("targets"));
                                   cuda::logprob_backward(
                                       logprob_args(p, hidden, weight, targets, cuda::GemmEngine::Own), dlogp.p,
                                       dhidden.p, dweight.p);
                                   dhidden.download(out.f("dhidden"));
                                   dweight.download(out.f("dweight"));
                                 },
                                 {2e-2, 2e-2}, {"hidden", "weight"}));
}

}  // namespace genrm::ops
