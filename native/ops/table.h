// The table of ops: every kernel of the engine declared once, with the shapes it
// is checked on, its plain reference, each of its paths (the CPU paths per
// instruction set, the CUDA kernels) and each path's tolerance. One parity check
// (check_path) runs any path against the reference; the C++ tests run it for
// every path present (test_ops.cpp, test_cuda_ops.cu), and `genrm bench ops` and
// the `kernels.ops` binding read the same list. To find an op's code, read its
// `sources`; to add a path, add it to the op here or in native/cuda/ops_table.cu.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace genrm::ops {

// Named host tensors: the inputs of a problem, or the outputs a path writes.
struct Tensors {
  std::map<std::string, std::vector<float>> f32;
  std::map<std::string, std::vector<int32_t>> i32;
  // The tensor by name; throws genrm::Error naming it when absent.
  const std::vector<float>& f(const std::string& name) const;
  std::vector<float>& f(const std::string& name);
  const std::vector<int32_t>& i(const std::string& name) const;
};

// One problem: its shape (named sizes) and inputs, and the outputs as they are
// before a path runs: NaN where the op overwrites (so an element a path never
// writes fails the check), the given values where it accumulates (+=).
struct Problem {
  std::string label;
  std::map<std::string, int64_t> shape;
  Tensors in, out;
  int64_t at(const std::string& dim) const;  // throws naming the missing dim
};

// A shape to check or time: named sizes, read by the op's `make`.
struct Shape {
  std::string label;
  std::map<std::string, int64_t> dims;
  std::vector<int64_t> lengths;  // sequence lengths, for ops over packed sequences or caches
};

// |got - want| <= atol + rtol * |want|, element by element.
struct Tolerance {
  double atol = 0, rtol = 0;
};

using Run = std::function<void(const Problem& p, Tensors& out)>;

// One way to compute an op.
struct Path {
  std::string name;                 // "cpu/avx2", "cuda/tensor-core", ...
  std::string backend;              // "cpu" or "cuda"
  std::function<bool()> available;  // this machine can run it (the CPU's ISA, a usable device)
  Run run;
  Tolerance tolerance;  // against the reference
  // Tensor-core paths round these inputs to bf16 before they multiply; the
  // reference then runs on the same rounded inputs, so the tolerance measures
  // the kernel and not the storage format.
  std::vector<std::string> bf16_inputs;
  // Shapes this path cannot take (a layout it does not implement); empty: all.
  std::function<bool(const Problem&)> accepts;
};

struct Op {
  std::string name;           // "rmsnorm_backward"
  std::string summary;        // what it computes, one line
  std::string sources;        // where the reference and every path live
  std::vector<Shape> checks;  // ragged, grouped and edge shapes for the parity check
  Shape bench;                // a model-sized shape for `genrm bench ops`
  std::function<Problem(const Shape& s, uint32_t seed)> make;
  Run reference;  // plain loops, accumulating in double
  // Floating-point operations of one call at this problem (0: memory-bound; the
  // bench then reports bytes moved instead).
  std::function<double(const Problem&)> flops;
  std::function<double(const Problem&)> bytes;
  std::vector<Path> paths;
};

// Every op, in the order the engine runs them in a training step.
const std::vector<Op>& table();
// The op by name; throws genrm::Error listing the names when there is none.
const Op& find_op(const std::string& name);
const Path& find_path(const Op& op, const std::string& path);

// One output of one shape compared: the worst element's scaled error
// |got - want| / (atol + rtol |want|), which must be <= 1.
struct Comparison {
  std::string shape, output;
  double worst_error = 0;
  int64_t worst_index = -1;
  double got = 0, want = 0;
  bool ok = false;
};
// Runs `path` and the reference on every check shape of `op` (inputs from
// `seed`) and compares every output. The path must be available.
std::vector<Comparison> check_path(const Op& op, const Path& path, uint32_t seed = 1);

// Seeded normal(0, scale) values, the inputs of every problem.
std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f);

// The adamw op's step (lr 3e-3 at t = 5, betas (0.9, 0.95), eps 1e-8, weight
// decay 0.1) folded into the constants adamw_range takes.
struct AdamWStep {
  float b1, b2, step, inv_sqrt_bc2, eps, decay;
};
AdamWStep adamw_step_constants();

// The gemm op's shape, strides and scalars from its problem, for the CPU's and
// the CUDA engine's GemmArgs alike (their fields share names): accumulating
// shapes exercise alpha and beta, the others overwrite C.
template <typename GemmArgs>
void set_gemm_shape(const Problem& p, GemmArgs& g) {
  g.trans_a = p.at("trans_a") != 0;
  g.trans_b = p.at("trans_b") != 0;
  g.m = p.at("m");
  g.n = p.at("n");
  g.k = p.at("k");
  g.lda = g.trans_a ? g.m : g.k;
  g.ldb = g.trans_b ? g.k : g.n;
  g.ldc = g.n;
  if (g.lda < 1) g.lda = 1;
  if (g.ldb < 1) g.ldb = 1;
  if (g.ldc < 1) g.ldc = 1;
  g.alpha = p.at("accumulate") ? 0.75f : 1.0f;
  g.beta = p.at("accumulate") ? -0.5f : 0.0f;
}

// The CUDA paths (native/cuda/ops_table.cu); builds without CUDA add none.
void add_cuda_paths(std::vector<Op>& ops);

}  // namespace genrm::ops
