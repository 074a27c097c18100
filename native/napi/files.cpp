// files.exchange(a, b): swaps two paths in one atomic step (renameat2 with
// RENAME_EXCHANGE), what a checkpoint save needs to replace a whole folder so
// that readers see the old folder or the new one, never neither. Node's fs has
// no such call.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "args.h"
#include "modules.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

namespace genrm::napi {
namespace {

std::string path_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString())
    throw_arg(name, "a path string", info.Length() <= i ? "nothing" : js_type(info[i]));
  std::string p = info[i].As<Napi::String>().Utf8Value();
  if (p.empty() || p.find('\0') != std::string::npos)
    throw_arg(name, "a non-empty path without NUL bytes", "\"" + p + "\"");
  return p;
}

// true when swapped; false when this file system (or kernel) cannot exchange,
// so the caller falls back to two renames. Any other failure throws, naming both paths.
Napi::Value exchange(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const std::string a = path_arg(info, 0, "a"), b = path_arg(info, 1, "b");
#ifdef SYS_renameat2
    if (syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0)
      return Napi::Boolean::New(info.Env(), true);
    const int err = errno;
    if (err == EINVAL || err == ENOSYS || err == EOPNOTSUPP) return Napi::Boolean::New(info.Env(), false);
    throw Error(ErrorKind::Io, "exchanging " + a + " and " + b + ": " + std::strerror(err));
#else
    return Napi::Boolean::New(info.Env(), false);
#endif
  });
}

}  // namespace

void register_files(Napi::Env env, Napi::Object files) {
  files.Set("exchange", Napi::Function::New(env, exchange, "exchange"));
}

}  // namespace genrm::napi
