// OpenBLAS, opened at run time when the machine has it, so benchmarks can compare
// the engine's GEMM with it in the same run. The engine never depends on it.
#pragma once
#include <string>

#include "gemm.h"

namespace genrm::cpu {

// True when libopenblas could be opened; otherwise *why says what was tried.
bool openblas_available(std::string* why = nullptr);
// Runs cblas_sgemm with the same semantics as gemm(); throws when unavailable.
void openblas_sgemm(const GemmArgs& g);
void openblas_set_threads(int n);
std::string openblas_config();

}  // namespace genrm::cpu
