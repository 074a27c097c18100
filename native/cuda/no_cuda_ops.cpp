// The CPU-only build's table of ops has no CUDA paths. Its own file, apart from
// no_cuda.cpp: the CUDA model's host code over a CPU stand-in
// (native/tests/host_double/) defines what no_cuda.cpp does, and still needs this.
#include "../ops/table.h"

namespace genrm::ops {

void add_cuda_paths(std::vector<Op>&) {}

}  // namespace genrm::ops
