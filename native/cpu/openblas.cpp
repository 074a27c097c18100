#include "openblas.h"

#include <dlfcn.h>

#include <mutex>

#include "../core/error.h"

namespace genrm::cpu {
namespace {

// CBLAS enums, as in cblas.h.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using SetThreadsFn = void (*)(int);
using ConfigFn = char* (*)();

struct Lib {
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_threads = nullptr;
  ConfigFn config = nullptr;
  std::string why;
};

const Lib& lib() {
  static Lib l;
  static std::once_flag once;
  std::call_once(once, [] {
    for (const char* name : {"libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0"}) {
      void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (!h) {
        l.why += std::string(l.why.empty() ? "" : "; ") + dlerror();
        continue;
      }
      l.sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
      l.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
      l.config = reinterpret_cast<ConfigFn>(dlsym(h, "openblas_get_config"));
      if (l.sgemm) {
        l.why.clear();
        return;
      }
      l.why += std::string("; ") + name + " has no cblas_sgemm";
    }
  });
  return l;
}

}  // namespace

bool openblas_available(std::string* why) {
  const Lib& l = lib();
  if (why)
    *why = l.sgemm ? "" : "OpenBLAS not found (" + l.why + "); install it with `apt-get install libopenblas-dev`";
  return l.sgemm != nullptr;
}

void openblas_sgemm(const GemmArgs& g) {
  validate_gemm(g);
  std::string why;
  if (!openblas_available(&why)) throw Error(ErrorKind::State, why);
  const int64_t limit = 2147483647;
  if (g.m > limit || g.n > limit || g.k > limit || g.lda > limit || g.ldb > limit || g.ldc > limit)
    throw Error(ErrorKind::Range, "openblas: dimensions must fit in 32 bits");
  lib().sgemm(kRowMajor, g.trans_a ? kTrans : kNoTrans, g.trans_b ? kTrans : kNoTrans, static_cast<int>(g.m),
              static_cast<int>(g.n), static_cast<int>(g.k), g.alpha, g.a, static_cast<int>(g.lda), g.b,
              static_cast<int>(g.ldb), g.beta, g.c, static_cast<int>(g.ldc));
}

void openblas_set_threads(int n) {
  if (lib().set_threads) lib().set_threads(n);
}

std::string openblas_config() { return lib().config ? std::string(lib().config()) : std::string(); }

}  // namespace genrm::cpu
