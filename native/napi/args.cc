#include "napi/args.h"

#include <limits>

namespace nq::napi {

std::string describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return v.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: {
      std::string s = v.As<Napi::Number>().ToString().Utf8Value();
      return s;
    }
    case napi_string: return "\"" + v.As<Napi::String>().Utf8Value().substr(0, 60) + "\"";
    case napi_bigint: return "bigint";
    case napi_function: return "function";
    default: break;
  }
  if (v.IsTypedArray()) {
    auto t = v.As<Napi::TypedArray>();
    static const char* names[] = {"Int8Array",    "Uint8Array",   "Uint8ClampedArray",
                                  "Int16Array",   "Uint16Array",  "Int32Array",
                                  "Uint32Array",  "Float32Array", "Float64Array",
                                  "BigInt64Array", "BigUint64Array"};
    const int kind = static_cast<int>(t.TypedArrayType());
    const char* name = kind >= 0 && kind < 11 ? names[kind] : "TypedArray";
    return std::string(name) + "(" + std::to_string(t.ElementLength()) + ")";
  }
  if (v.IsArray()) return "array(" + std::to_string(v.As<Napi::Array>().Length()) + ")";
  return "object";
}

void throw_type(Napi::Env env, const std::string& name, const std::string& expected,
                const Napi::Value& got) {
  throw Napi::TypeError::New(env, name + ": expected " + expected + ", received " + describe(got));
}

void throw_range(Napi::Env env, const std::string& name, const std::string& expected,
                 const std::string& got) {
  throw Napi::RangeError::New(env, name + ": expected " + expected + ", received " + got);
}

Napi::Error status_error(Napi::Env env, const Status& status) {
  switch (status.code) {
    case Status::Code::invalid_argument: return Napi::TypeError::New(env, status.message);
    case Status::Code::out_of_range: return Napi::RangeError::New(env, status.message);
    default: return Napi::Error::New(env, status.message);
  }
}

void throw_if_failed(Napi::Env env, const Status& status) {
  if (!status.is_ok()) throw status_error(env, status);
}

Napi::Value arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
}

double get_number(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = arg(info, i);
  if (!v.IsNumber()) throw_type(info.Env(), name, "a number", v);
  return v.As<Napi::Number>().DoubleValue();
}

int64_t get_int(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo,
                int64_t hi) {
  const double d = get_number(info, i, name);
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(lo) ||
      d > static_cast<double>(hi)) {
    throw_range(info.Env(), name,
                "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
                describe(arg(info, i)));
  }
  return static_cast<int64_t>(d);
}

size_t get_size(const Napi::CallbackInfo& info, size_t i, const char* name) {
  constexpr int64_t kMaxSafe = (int64_t{1} << 53) - 1;
  return static_cast<size_t>(get_int(info, i, name, 0, kMaxSafe));
}

bool get_bool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = arg(info, i);
  if (!v.IsBoolean()) throw_type(info.Env(), name, "a boolean", v);
  return v.As<Napi::Boolean>().Value();
}

std::string get_string(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = arg(info, i);
  if (!v.IsString()) throw_type(info.Env(), name, "a string", v);
  return v.As<Napi::String>().Utf8Value();
}

double opt_number(const Napi::Object& o, const char* key, double fallback, const char* owner) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) throw_type(o.Env(), std::string(owner) + "." + key, "a number", v);
  return v.As<Napi::Number>().DoubleValue();
}

bool opt_bool(const Napi::Object& o, const char* key, bool fallback, const char* owner) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsBoolean()) throw_type(o.Env(), std::string(owner) + "." + key, "a boolean", v);
  return v.As<Napi::Boolean>().Value();
}

size_t checked_mul(Napi::Env env, size_t a, size_t b, const char* what) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) {
    throw_range(env, what, "a size that fits in memory",
                std::to_string(a) + " x " + std::to_string(b));
  }
  return a * b;
}

const KernelTable& kernels_arg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = arg(info, i);
  if (v.IsUndefined() || v.IsNull()) return active_kernels();
  const std::string name = get_string(info, i, "isa");
  Isa isa;
  if (!isa_from_name(name, &isa) || !isa_supported(isa)) {
    throw_range(info.Env(), "isa", "a level this CPU supports", "\"" + name + "\"");
  }
  return kernels_for(isa);
}

#define NQ_TYPED_ARRAY(T, KIND, NAME)                                   \
  template <>                                                            \
  napi_typedarray_type typed_array_kind<T>() { return KIND; }            \
  template <>                                                            \
  const char* typed_array_name<T>() { return NAME; }
NQ_TYPED_ARRAY(int8_t, napi_int8_array, "Int8Array")
NQ_TYPED_ARRAY(uint8_t, napi_uint8_array, "Uint8Array")
NQ_TYPED_ARRAY(int16_t, napi_int16_array, "Int16Array")
NQ_TYPED_ARRAY(uint16_t, napi_uint16_array, "Uint16Array")
NQ_TYPED_ARRAY(int32_t, napi_int32_array, "Int32Array")
NQ_TYPED_ARRAY(uint32_t, napi_uint32_array, "Uint32Array")
NQ_TYPED_ARRAY(float, napi_float32_array, "Float32Array")
NQ_TYPED_ARRAY(double, napi_float64_array, "Float64Array")
#undef NQ_TYPED_ARRAY

}  // namespace nq::napi
