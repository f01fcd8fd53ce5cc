// Packed weights as JS objects. The packed data is shared with in-flight work: dispose()
// drops the object's hold, and a running kernel keeps its own until it finishes.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <typeindex>
#include <unordered_map>

#include "napi/args.h"

namespace nq::napi {

// Per-environment state: each worker thread that loads the addon gets its own classes, so
// nothing here may be a process-wide static holding JS handles.
struct AddonData {
  std::unordered_map<std::type_index, Napi::FunctionReference> classes;
  std::unordered_map<std::type_index, std::string> made_by;
};

inline AddonData& addon_data(Napi::Env env) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (!data) {
    data = new AddonData();
    env.SetInstanceData(data);  // deleted by Node when the environment shuts down
  }
  return *data;
}

// Packed must have: k, n, kernel->name, and a `size_t packed_bytes(const Packed&)` overload.
template <typename Packed>
class WeightsWrap : public Napi::ObjectWrap<WeightsWrap<Packed>> {
 public:
  using Base = Napi::ObjectWrap<WeightsWrap<Packed>>;

  static void Define(Napi::Env env, const char* class_name, const char* made_by) {
    Napi::Function ctor = Base::DefineClass(
        env, class_name,
        {Base::template InstanceAccessor<&WeightsWrap::K>("k"),
         Base::template InstanceAccessor<&WeightsWrap::N>("n"),
         Base::template InstanceAccessor<&WeightsWrap::Kernel>("kernel"),
         Base::template InstanceAccessor<&WeightsWrap::Bytes>("bytes"),
         Base::template InstanceAccessor<&WeightsWrap::Disposed>("disposed"),
         Base::template InstanceMethod<&WeightsWrap::Dispose>("dispose")});
    AddonData& data = addon_data(env);
    data.classes[typeid(Packed)] = Napi::Persistent(ctor);
    data.made_by[typeid(Packed)] = made_by;
  }

  explicit WeightsWrap(const Napi::CallbackInfo& info) : Base(info) {}

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<const Packed> packed) {
    Napi::Object obj = constructor(env).New({});
    Base::Unwrap(obj)->packed_ = std::move(packed);
    return obj;
  }

  // The packed data behind a JS value, or a TypeError naming the argument.
  static std::shared_ptr<const Packed> From(const Napi::Value& v, const char* name) {
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(constructor(v.Env()).Value())) {
      throw_type(v.Env(), name, "packed weights from " + addon_data(v.Env()).made_by[typeid(Packed)], v);
    }
    std::shared_ptr<const Packed> p = Base::Unwrap(v.As<Napi::Object>())->packed_;
    if (!p) throw Napi::Error::New(v.Env(), std::string(name) + ": weights already disposed");
    return p;
  }

 private:
  static Napi::FunctionReference& constructor(Napi::Env env) {
    return addon_data(env).classes[typeid(Packed)];
  }
  const Packed& live(Napi::Env env) const {
    if (!packed_) throw Napi::Error::New(env, "weights already disposed");
    return *packed_;
  }
  Napi::Value K(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env()).k));
  }
  Napi::Value N(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env()).n));
  }
  Napi::Value Kernel(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), live(info.Env()).kernel->name);
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(packed_bytes(live(info.Env()))));
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !packed_);
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    packed_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<const Packed> packed_;
};

}  // namespace nq::napi
