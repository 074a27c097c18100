// Argument checking for every exported function: each getter validates type,
// range and length before any native code touches the memory, and names the
// field in its error.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.h"

namespace genrm::napi {

// Runs body(); genrm::Error and std::exception become JS errors (TypeError for
// bad arguments, RangeError for values out of range) with a `code` property.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body) {
  Napi::Env env = info.Env();
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    Napi::Error err = e.kind() == ErrorKind::Argument ? Napi::TypeError::New(env, e.what())
                      : e.kind() == ErrorKind::Range  ? Napi::RangeError::New(env, e.what())
                                                      : Napi::Error::New(env, e.what());
    const char* code = e.kind() == ErrorKind::Argument ? "GENRM_INVALID_ARGUMENT"
                       : e.kind() == ErrorKind::Range  ? "GENRM_OUT_OF_RANGE"
                       : e.kind() == ErrorKind::State  ? "GENRM_INVALID_STATE"
                       : e.kind() == ErrorKind::Io     ? "GENRM_IO"
                                                       : "GENRM_RUNTIME";
    err.Set("code", Napi::String::New(env, code));
    throw err;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of host memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// "undefined", "a string", ...: how an error names the JS value it got.
std::string js_type(const Napi::Value& v);
Napi::Object object_arg(const Napi::CallbackInfo& info, size_t index, const char* name);

bool has(const Napi::Object& o, const char* key);
int64_t int_field(const Napi::Object& o, const char* key, int64_t min, int64_t max);
int64_t int_field(const Napi::Object& o, const char* key, int64_t min, int64_t max, int64_t fallback);
double number_field(const Napi::Object& o, const char* key);  // required
double number_field(const Napi::Object& o, const char* key, double fallback);
bool bool_field(const Napi::Object& o, const char* key, bool fallback);
std::string string_field(const Napi::Object& o, const char* key);  // required
std::string string_field(const Napi::Object& o, const char* key, const std::string& fallback);

// A Float32Array field with exactly `length` elements.
Napi::Float32Array f32_field(const Napi::Object& o, const char* key, int64_t length);

// Copies of typed-array fields of any length (async work must not read JS memory
// that the caller could change while it runs). f32 values must be finite.
std::vector<int32_t> i32_vector(const Napi::Object& o, const char* key);
std::vector<uint8_t> u8_vector(const Napi::Object& o, const char* key);
std::vector<float> finite_f32_vector(const Napi::Object& o, const char* key);

// A field holding an array of strings, copied as UTF-8 (a lone surrogate becomes
// U+FFFD, as TextEncoder makes it); at most max_count of them, checked before any
// is read.
std::vector<std::string> string_list(const Napi::Object& o, const char* key, size_t max_count);

// Throws when two typed arrays share any byte of memory.
void check_disjoint(const Napi::TypedArray& x, const char* xname, const Napi::TypedArray& y, const char* yname);

}  // namespace genrm::napi
