#include "cpu_features.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "error.h"

namespace genrm {
namespace {

std::string read_brand() {
  unsigned regs[12] = {0};
  unsigned max_ext = __get_cpuid_max(0x80000000u, nullptr);
  if (max_ext < 0x80000004u) return "unknown";
  for (unsigned i = 0; i < 3; ++i)
    __get_cpuid(0x80000002u + i, &regs[i * 4], &regs[i * 4 + 1], &regs[i * 4 + 2], &regs[i * 4 + 3]);
  char buf[49];
  std::memcpy(buf, regs, 48);
  buf[48] = 0;
  std::string s(buf);
  size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
  return b == std::string::npos ? "unknown" : s.substr(b, e - b + 1);
}

CpuFeatures detect() {
  CpuFeatures f;
  __builtin_cpu_init();
  // libgcc's checks include the OS's XSAVE support for the AVX register state.
  f.sse42 = __builtin_cpu_supports("sse4.2");
  f.avx = __builtin_cpu_supports("avx");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  unsigned a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d)) f.f16c = (c & bit_F16C) != 0;
  f.brand = read_brand();
  return f;
}

std::atomic<int> g_default{-1};  // -1: not chosen yet

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

const char* isa_name(Isa isa) { return isa == Isa::Avx512 ? "avx512" : isa == Isa::Avx2 ? "avx2" : "portable"; }

static const char* isa_needs(Isa isa) { return isa == Isa::Avx512 ? "AVX-512F, AVX2 and FMA" : "AVX2 and FMA"; }

Isa parse_isa(const std::string& name, const char* what) {
  if (name == "portable") return Isa::Portable;
  if (name == "avx2") return Isa::Avx2;
  if (name == "avx512") return Isa::Avx512;
  throw_arg(what, "one of \"portable\", \"avx2\", \"avx512\"", "\"" + name + "\"");
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::Portable: return true;
    case Isa::Avx2: return f.avx2 && f.fma;
    case Isa::Avx512: return f.avx512f && f.avx2 && f.fma;
  }
  return false;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out{Isa::Portable};
  if (isa_supported(Isa::Avx2)) out.push_back(Isa::Avx2);
  if (isa_supported(Isa::Avx512)) out.push_back(Isa::Avx512);
  return out;
}

void set_default_isa(Isa isa) {
  if (!isa_supported(isa))
    throw Error(ErrorKind::Argument,
                std::string("isa: this CPU does not support \"") + isa_name(isa) + "\" (needs " + isa_needs(isa) + ")");
  g_default.store(static_cast<int>(isa));
}

Isa default_isa() {
  int v = g_default.load();
  if (v >= 0) return static_cast<Isa>(v);
  // First use: GENRM_ISA when set (a bad value throws on every use until fixed), else the best.
  Isa chosen = supported_isas().back();
  if (const char* env = std::getenv("GENRM_ISA"); env && *env) {
    chosen = parse_isa(env, "GENRM_ISA");
    if (!isa_supported(chosen))
      throw Error(ErrorKind::Argument, std::string("GENRM_ISA: this CPU does not support \"") + isa_name(chosen) +
                                           "\" (needs " + isa_needs(chosen) + ")");
  }
  int expected = -1;
  g_default.compare_exchange_strong(expected, static_cast<int>(chosen));
  return static_cast<Isa>(g_default.load());
}

}  // namespace genrm
