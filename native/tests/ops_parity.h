// Runs every path of one backend of an op against the op's reference (the table
// of ops, native/ops/table.h): one case per op and backend, so a failure names
// the op, and the path, shape and output inside it.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../ops/table.h"
#include "harness.h"

namespace genrm::test {

// GENRM_OPS_VERBOSE=1 prints every comparison's worst error (how close each path runs to its tolerance).
inline void check_op_paths(const ops::Op& op, const std::string& backend) {
  const char* env = std::getenv("GENRM_OPS_VERBOSE");
  const bool verbose = env && std::string(env) == "1";
  int ran = 0;
  std::string absent;
  for (const ops::Path& path : op.paths) {
    if (path.backend != backend) continue;
    if (!path.available()) {
      absent += (absent.empty() ? "" : ", ") + path.name;
      continue;
    }
    ++ran;
    for (const ops::Comparison& c : ops::check_path(op, path)) {
      if (verbose)
        std::printf("    %s %s \"%s\" %s: %.3g x tolerance\n", op.name.c_str(), path.name.c_str(), c.shape.c_str(),
                    c.output.c_str(), c.worst_error);
      if (c.ok) continue;
      char detail[200];
      std::snprintf(detail, sizeof detail, "error %.3g x tolerance at [%lld]: got %.9g, want %.9g", c.worst_error,
                    static_cast<long long>(c.worst_index), c.got, c.want);
      fail(__FILE__, __LINE__, op.name + " " + path.name + ", shape \"" + c.shape + "\", " + c.output + ": " + detail);
    }
  }
  if (ran == 0) return skip("no " + backend + " path of " + op.name + " runs here (" + absent + ")");
  if (!absent.empty()) std::printf("    %s: not on this machine: %s\n", op.name.c_str(), absent.c_str());
}

}  // namespace genrm::test
