// Run-time CPU feature detection and the choice of kernel path ("isa").
// One binary carries a portable path, an AVX2+FMA path and an AVX-512 path; the
// fastest one the CPU supports is used unless the caller (or GENRM_ISA) asks for another.
#pragma once
#include <string>
#include <vector>

namespace genrm {

enum class Isa { Portable = 0, Avx2 = 1, Avx512 = 2 };

struct CpuFeatures {
  std::string brand;  // CPUID brand string, e.g. "AMD EPYC 7B13 64-Core Processor"
  bool sse42 = false, avx = false, avx2 = false, fma = false, f16c = false, avx512f = false;
};

const CpuFeatures& cpu_features();

const char* isa_name(Isa isa);
// Parses "portable", "avx2" or "avx512"; throws a genrm::Error listing the valid names otherwise.
Isa parse_isa(const std::string& name, const char* what);
bool isa_supported(Isa isa);
std::vector<Isa> supported_isas();

// The path kernels use when a call does not name one. Starts as the best supported
// path, or GENRM_ISA when set (validated on first use).
Isa default_isa();
void set_default_isa(Isa isa);  // throws when the CPU lacks it

}  // namespace genrm
