#include "args.h"

#include <cmath>
#include <sstream>

namespace genrm::napi {

std::string js_type(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "a number";
    case napi_string: return "a string";
    case napi_function: return "a function";
    case napi_bigint: return "a bigint";
    case napi_symbol: return "a symbol";
    default: break;
  }
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint32_array: return "a Uint32Array";
      default: return "another typed array";
    }
  }
  if (v.IsArray()) return "an array";
  return "an object";
}

Napi::Object object_arg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsObject() || info[index].IsArray())
    throw_arg(name, "an options object", info.Length() <= index ? std::string("nothing") : js_type(info[index]));
  return info[index].As<Napi::Object>();
}

bool has(const Napi::Object& o, const char* key) { return o.Has(key) && !o.Get(key).IsUndefined(); }

int64_t int_field(const Napi::Object& o, const char* key, int64_t min, int64_t max) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_arg(key, "an integer", js_type(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) throw_arg(key, "an integer", d);
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    std::ostringstream range;
    range << "an integer in [" << min << ", " << max << "]";
    throw_arg(key, range.str(), d, ErrorKind::Range);
  }
  return static_cast<int64_t>(d);
}

int64_t int_field(const Napi::Object& o, const char* key, int64_t min, int64_t max, int64_t fallback) {
  return has(o, key) ? int_field(o, key, min, max) : fallback;
}

double number_field(const Napi::Object& o, const char* key) {
  if (!has(o, key)) throw_arg(key, "a number", js_type(o.Get(key)));
  return number_field(o, key, 0.0);
}

double number_field(const Napi::Object& o, const char* key, double fallback) {
  if (!has(o, key)) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_arg(key, "a number", js_type(v));
  return v.As<Napi::Number>().DoubleValue();
}

bool bool_field(const Napi::Object& o, const char* key, bool fallback) {
  if (!has(o, key)) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) throw_arg(key, "a boolean", js_type(v));
  return v.As<Napi::Boolean>().Value();
}

std::string string_field(const Napi::Object& o, const char* key) {
  if (!has(o, key)) throw_arg(key, "a string", js_type(o.Get(key)));
  return string_field(o, key, std::string());
}

std::string string_field(const Napi::Object& o, const char* key, const std::string& fallback) {
  if (!has(o, key)) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw_arg(key, "a string", js_type(v));
  return v.As<Napi::String>().Utf8Value();
}

Napi::Float32Array f32_field(const Napi::Object& o, const char* key, int64_t length) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_arg(key, "a Float32Array", js_type(v));
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (static_cast<int64_t>(a.ElementLength()) != length)
    throw_arg(std::string(key) + ".length", length, a.ElementLength());
  return a;
}

namespace {

template <typename T>
std::vector<T> typed_copy(const Napi::Object& o, const char* key, napi_typedarray_type type, const char* type_name) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) throw_arg(key, type_name, js_type(v));
  Napi::TypedArrayOf<T> a = v.As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

}  // namespace

std::vector<int32_t> i32_vector(const Napi::Object& o, const char* key) {
  return typed_copy<int32_t>(o, key, napi_int32_array, "an Int32Array");
}

std::vector<uint8_t> u8_vector(const Napi::Object& o, const char* key) {
  return typed_copy<uint8_t>(o, key, napi_uint8_array, "a Uint8Array");
}

std::vector<float> finite_f32_vector(const Napi::Object& o, const char* key) {
  std::vector<float> v = typed_copy<float>(o, key, napi_float32_array, "a Float32Array");
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) throw_arg(std::string(key) + "[" + std::to_string(i) + "]", "a finite number", v[i]);
  return v;
}

std::vector<std::string> string_list(const Napi::Object& o, const char* key, size_t max_count) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) throw_arg(key, "an array of strings", js_type(v));
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > max_count)
    throw_arg(std::string(key) + ".length", "at most " + std::to_string(max_count), a.Length(), ErrorKind::Range);
  std::vector<std::string> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value s = a.Get(i);
    if (!s.IsString()) throw_arg(std::string(key) + "[" + std::to_string(i) + "]", "a string", js_type(s));
    out[i] = s.As<Napi::String>().Utf8Value();
  }
  return out;
}

void check_disjoint(const Napi::TypedArray& x, const char* xname, const Napi::TypedArray& y, const char* yname) {
  auto begin = [](const Napi::TypedArray& t) {
    return static_cast<const char*>(t.ArrayBuffer().Data()) + t.ByteOffset();
  };
  const char* xb = begin(x);
  const char* yb = begin(y);
  if (x.ByteLength() == 0 || y.ByteLength() == 0) return;
  if (xb < yb + y.ByteLength() && yb < xb + x.ByteLength())
    throw Error(ErrorKind::Argument,
                std::string(xname) + " and " + yname + ": expected separate memory, got overlapping views");
}

}  // namespace genrm::napi
