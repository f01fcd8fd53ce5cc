// Argument checks at the N-API edge. The TypeScript layer validates first and names things
// in the user's terms; these re-check the cheap invariants so a bad call from anywhere is a
// TypeError/RangeError, never a crash. Errors name the argument, the expectation and the value.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "runtime/dispatch.h"
#include "runtime/status.h"

namespace nq::napi {

std::string describe(const Napi::Value& v);

[[noreturn]] void throw_type(Napi::Env env, const std::string& name, const std::string& expected,
                             const Napi::Value& got);
[[noreturn]] void throw_range(Napi::Env env, const std::string& name, const std::string& expected,
                              const std::string& got);
// Throws the JS error matching a failed Status.
void throw_if_failed(Napi::Env env, const Status& status);
Napi::Error status_error(Napi::Env env, const Status& status);

Napi::Value arg(const Napi::CallbackInfo& info, size_t i);

// Non-negative integer that fits size_t and a JS safe integer.
size_t get_size(const Napi::CallbackInfo& info, size_t i, const char* name);
int64_t get_int(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi);
double get_number(const Napi::CallbackInfo& info, size_t i, const char* name);
bool get_bool(const Napi::CallbackInfo& info, size_t i, const char* name);
std::string get_string(const Napi::CallbackInfo& info, size_t i, const char* name);

// Options-object fields (missing or undefined -> fallback).
double opt_number(const Napi::Object& o, const char* key, double fallback, const char* owner);
bool opt_bool(const Napi::Object& o, const char* key, bool fallback, const char* owner);

// A view of a TypedArray's bytes (byteOffset honoured, nothing copied).
template <typename T>
struct View {
  T* data = nullptr;
  size_t length = 0;
};

template <typename T>
napi_typedarray_type typed_array_kind();

template <typename T>
const char* typed_array_name();

// The TypedArray at argument i, of element type T, with at least min_length elements.
// allow_null: null/undefined gives an empty view.
template <typename T>
View<T> get_array(const Napi::Value& v, const std::string& name, size_t min_length,
                  bool allow_null = false) {
  View<T> out;
  if (allow_null && (v.IsNull() || v.IsUndefined())) return out;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != typed_array_kind<T>()) {
    throw_type(v.Env(), name, std::string("a ") + typed_array_name<T>(), v);
  }
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  out.data = arr.Data();
  out.length = arr.ElementLength();
  if (out.length < min_length) {
    throw_range(v.Env(), name, "at least " + std::to_string(min_length) + " elements",
                std::to_string(out.length) + " elements");
  }
  return out;
}

// The kernel table named by an optional ISA string argument (benchmarks compare levels);
// the active table when absent.
const KernelTable& kernels_arg(const Napi::CallbackInfo& info, size_t i);

// Checked product for sizes computed from dims.
size_t checked_mul(Napi::Env env, size_t a, size_t b, const char* what);

}  // namespace nq::napi
