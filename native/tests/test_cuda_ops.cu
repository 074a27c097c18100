// The table of ops on CUDA: every CUDA path of every op against its reference,
// one case per op (cuda_op_<name>); on the simulator where there is no GPU.
#include "../ops/table.h"
#include "harness.h"
#include "have_device.h"
#include "ops_parity.h"

using namespace genrm;

namespace {

[[maybe_unused]] const bool registered = [] {
  for (const ops::Op& op : ops::table()) {
    bool has_cuda = false;
    for (const ops::Path& path : op.paths) has_cuda |= path.backend == "cuda";
    if (!has_cuda) continue;
    test::Register("cuda_op_" + op.name, [&op] {
      if (!test::have_device()) return;
      test::check_op_paths(op, "cuda");
    });
  }
  return true;
}();

}  // namespace
