// The table of ops on the CPU: every CPU path of every op against its reference
// (one case per op, named op_<name>), and the check itself shown to catch a
// wrong path and an element a path forgets to write.
#include <cmath>
#include <set>

#include "../ops/table.h"
#include "harness.h"
#include "ops_parity.h"

using namespace genrm;

namespace {

[[maybe_unused]] const bool registered = [] {
  for (const ops::Op& op : ops::table()) test::Register("op_" + op.name, [&op] { test::check_op_paths(op, "cpu"); });
  return true;
}();

}  // namespace

TEST(ops_table_is_complete) {
  std::set<std::string> names;
  for (const ops::Op& op : ops::table()) {
    CHECK(names.insert(op.name).second);
    CHECK(!op.summary.empty() && !op.sources.empty() && !op.checks.empty());
    CHECK(op.reference && op.make && (op.flops || op.bytes));
    std::set<std::string> paths;
    for (const ops::Path& path : op.paths) CHECK(paths.insert(path.name).second);
    CHECK(!paths.empty());
    // The bench shape makes a problem whose outputs the reference fills (no NaN left).
    ops::Problem p = op.make(op.bench, 1);
    if (p.in.f32.size() + p.in.i32.size() == 0) test::fail(__FILE__, __LINE__, op.name + ": a problem without inputs");
  }
  CHECK(ops::find_op("gemm").name == "gemm");
  CHECK_THROWS(ops::find_op("no such op"));
  CHECK_THROWS(ops::find_path(ops::find_op("gemm"), "cuda/none"));
}

TEST(ops_check_catches_a_wrong_path_and_an_unwritten_element) {
  ops::Op op = ops::find_op("swiglu_forward");
  ops::Path off_by_ulps = op.paths.back();
  const ops::Run right = off_by_ulps.run;
  off_by_ulps.run = [right](const ops::Problem& p, ops::Tensors& out) {
    right(p, out);
    out.f("a")[3] *= 1.001f;  // one element a little wrong
  };
  ops::Path lazy = op.paths.back();
  lazy.run = [right](const ops::Problem& p, ops::Tensors& out) {
    std::vector<float> keep = out.f("a");
    right(p, out);
    out.f("a").back() = keep.back();  // the last element left as it came (NaN)
  };
  bool caught_wrong = false, caught_lazy = false;
  for (const ops::Comparison& c : ops::check_path(op, off_by_ulps)) caught_wrong |= !c.ok && c.worst_index == 3;
  for (const ops::Comparison& c : ops::check_path(op, lazy)) caught_lazy |= !c.ok && std::isnan(c.got);
  CHECK(caught_wrong);
  CHECK(caught_lazy);
  for (const ops::Comparison& c : ops::check_path(op, op.paths.back())) CHECK(c.ok);
}
