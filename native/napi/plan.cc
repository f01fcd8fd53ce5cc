// The plan executor: createPlan turns a PlanSpec (values with fixed dims, constants, steps)
// into op kernels created once; runPlan binds the caller's arrays and runs the steps in
// order, on the calling thread or on a libuv worker.
//
// Concurrency: a run takes an arena (intermediate values + the kernels' shared scratch) from
// a small pool the plan owns and allocates a new one when every pooled arena is busy, so
// concurrent runs never share intermediate buffers. Kernels that use scratch keep the
// pointer as state (OpKernel::set_scratch), so set_scratch + run of such a step happen under
// that step's mutex; kernels without scratch are re-entrant and run unlocked.
//
// State values (training): caller-owned arrays bound at each run that steps may both read
// and write in place (parameters, optimizer moments, running statistics). Runs that share
// state arrays must not overlap; the TypeScript trainer serializes them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <napi.h>

#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <vector>

#include "napi/args.h"
#include "napi/async.h"
#include "napi/plan_runner.h"
#include "napi/modules.h"
#include "napi/weights.h"
#include "ops/nn_conv_internal.h"
#include "ops/op.h"
#include "runtime/aligned_buffer.h"

namespace nq::napi {
namespace {

using ops::DType;

constexpr size_t kAlign = 64;
size_t align_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

enum class ValueKind { input, output, constant, arena, state };

struct ValueInfo {
  ops::TensorDesc desc;
  ValueKind kind = ValueKind::arena;
  size_t index = 0;   // input/output/constant/state index
  size_t offset = 0;  // arena offset
};

struct Step {
  std::unique_ptr<ops::OpKernel> kernel;
  std::vector<int64_t> inputs, outputs;
  std::string label;  // "step 3 (Conv node 'conv1')"
  size_t scratch = 0;
  std::unique_ptr<std::mutex> mutex;  // held around set_scratch + run when scratch > 0
  // Every output has zero elements (a zero-size batch or image): there is nothing to compute,
  // and kernels need not guard their size arithmetic against it.
  bool nothing_to_write = false;
};

using Arena = AlignedBuffer<uint8_t>;

struct PlanData {
  std::vector<ValueInfo> values;
  std::vector<const void*> constants;  // data pointers (the JS arrays stay referenced)
  std::vector<Step> steps;
  size_t arena_bytes = 0;     // as the spec says
  size_t scratch_offset = 0;  // where kernel scratch starts in an arena
  size_t total_bytes = 0;     // arena + scratch
  std::vector<size_t> input_bytes, output_bytes, state_bytes;

  std::mutex pool_mutex;
  std::vector<std::unique_ptr<Arena>> pool;

  std::unique_ptr<Arena> acquire() {
    {
      std::lock_guard<std::mutex> lock(pool_mutex);
      if (!pool.empty()) {
        std::unique_ptr<Arena> a = std::move(pool.back());
        pool.pop_back();
        return a;
      }
    }
    auto a = std::make_unique<Arena>();
    if (total_bytes && !a->reset(total_bytes)) return nullptr;
    return a;
  }
  void release(std::unique_ptr<Arena> a) {
    std::lock_guard<std::mutex> lock(pool_mutex);
    if (pool.size() < 4) pool.push_back(std::move(a));  // keep a few for the next runs
  }

  // Each step's wall time in the last run that finished, in microseconds (0 until one has):
  // how far from its end a run is, for the plan thread's early wake-up of the JS thread.
  std::vector<std::atomic<uint32_t>> step_us;
  std::atomic<bool> timed{false};

  // Runs every step with the caller's buffers. Safe to call from any thread. near_end, when
  // given, is called once, as soon as the steps left took at most near_end_us in the last run.
  Status run(const std::vector<const void*>& ins, const std::vector<void*>& outs,
             const std::vector<void*>& states = {}, const std::function<void()>* near_end = nullptr,
             double near_end_us = 0) {
    std::unique_ptr<Arena> arena = acquire();
    if (!arena) return Status::oom("runPlan: could not allocate a " + std::to_string(total_bytes) + "-byte arena");
    uint8_t* base = arena->data();
    auto ptr = [&](int64_t id) -> void* {
      if (id < 0) return nullptr;
      const ValueInfo& v = values[size_t(id)];
      switch (v.kind) {
        case ValueKind::input: return const_cast<void*>(ins[v.index]);
        case ValueKind::output: return outs[v.index];
        case ValueKind::constant: return const_cast<void*>(constants[v.index]);
        case ValueKind::arena: return base + v.offset;
        case ValueKind::state: return states[v.index];
      }
      return nullptr;
    };
    Status status;
    std::vector<const void*> in_ptrs;
    std::vector<void*> out_ptrs;
    // NQUANT_PROFILE=1 prints each step's wall time to stderr: where a model spends its time.
    // The lines are written once per run (stderr is unbuffered: a write per step cost the run
    // ~5 us per step), with the run's total, so the time between steps shows too.
    static const bool profile = std::getenv("NQUANT_PROFILE") != nullptr;
    std::string profile_text;
    double steps_us = 0;
    const auto run_t0 = std::chrono::steady_clock::now();
    double left_us = -1;  // by the last run's times; negative: nobody to tell
    if (near_end && timed.load(std::memory_order_acquire)) {
      left_us = 0;
      for (const auto& t : step_us) left_us += double(t.load(std::memory_order_relaxed));
    }
    for (size_t i = 0; i < steps.size(); ++i) {
      Step& s = steps[i];
      if (left_us >= 0 && left_us <= near_end_us) {
        (*near_end)();
        left_us = -1;
      }
      if (s.nothing_to_write) continue;
      const auto t0 = std::chrono::steady_clock::now();
      in_ptrs.clear();
      out_ptrs.clear();
      for (int64_t id : s.inputs) in_ptrs.push_back(ptr(id));
      for (int64_t id : s.outputs) out_ptrs.push_back(ptr(id));
      if (s.scratch) {
        std::lock_guard<std::mutex> lock(*s.mutex);
        s.kernel->set_scratch(base + scratch_offset);
        status = s.kernel->run(in_ptrs, out_ptrs);
      } else {
        status = s.kernel->run(in_ptrs, out_ptrs);
      }
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      if (left_us >= 0) left_us -= double(step_us[i].load(std::memory_order_relaxed));
      step_us[i].store(uint32_t(std::min(us, 4e9)), std::memory_order_relaxed);
      if (profile) {
        char ms[32];
        std::snprintf(ms, sizeof ms, "%8.3f", us / 1000);
        profile_text += "nquant profile: " + std::string(ms) + " ms  " + s.label + "\n";
        steps_us += us;
      }
      if (!status.is_ok()) {
        status.message = "Plan " + s.label + ": " + status.message;
        break;
      }
    }
    if (status.is_ok()) timed.store(true, std::memory_order_release);
    release(std::move(arena));
    if (profile) {
      const double total_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - run_t0).count();
      char line[160];
      std::snprintf(line, sizeof line, "nquant profile: %8.3f ms  run total (steps %.3f ms, between steps %.3f ms)\n",
                    total_us / 1000, steps_us / 1000, (total_us - steps_us) / 1000);
      profile_text += line;
      std::fwrite(profile_text.data(), 1, profile_text.size(), stderr);
    }
    return status;
  }
};

// ---- fusing steps --------------------------------------------------------------------------

// Whether plans created from now on fuse depthwise + 1x1 conv pairs: on unless
// NQUANT_FUSE_DWPW=0; setDepthwiseFusion changes it (benchmarks and tests compare both).
std::atomic<bool>& depthwise_fusion() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("NQUANT_FUSE_DWPW");
    return !(v && std::string(v) == "0");
  }()};
  return on;
}

// Whether the depthwise fusion also takes in the 1x1 expansion conv before it (an inverted
// residual block as one step): on unless NQUANT_FUSE_EXPAND=0, for measuring the two apart.
bool expand_fusion() {
  static const bool on = [] {
    const char* v = std::getenv("NQUANT_FUSE_EXPAND");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

// The bytes a value occupies in the arena, or nothing (an empty range) when it lives elsewhere.
std::pair<size_t, size_t> arena_range(const PlanData& plan, int64_t id) {
  if (id < 0) return {0, 0};
  const ValueInfo& v = plan.values[size_t(id)];
  if (v.kind != ValueKind::arena) return {0, 0};
  const size_t bytes = v.desc.bytes();
  return {v.offset, bytes == SIZE_MAX ? SIZE_MAX : v.offset + bytes};
}

// A depthwise conv step whose output only the next step reads, a 1x1 conv: one step running
// both band by band (ops::fuse_depthwise_pointwise), with the 1x1 expansion conv before it
// when that one's output only the depthwise conv reads (ops::fuse_expand_depthwise_pointwise).
// The fused step reads the first conv's input while it writes the last one's output, which
// the steps apart never did: the memory plan may have given the output the input's place
// (free once the first conv ran), so such chains stay apart.
void fuse_depthwise_pointwise_steps(PlanData* plan) {
  std::vector<size_t> readers(plan->values.size(), 0);
  for (const Step& st : plan->steps)
    for (int64_t id : st.inputs)
      if (id >= 0) ++readers[size_t(id)];
  auto disjoint = [&](const std::vector<int64_t>& reads, const std::vector<int64_t>& writes) {
    for (int64_t r : reads) {
      const auto a = arena_range(*plan, r);
      for (int64_t w : writes) {
        const auto b = arena_range(*plan, w);
        if (a.first < a.second && b.first < b.second && a.first < b.second && b.first < a.second) return false;
      }
    }
    return true;
  };
  // Step a's only output, read by step b alone, as b's first input (-1 otherwise).
  auto chained = [&](const Step& a, const Step& b) {
    const int64_t mid = a.outputs.size() == 1 ? a.outputs[0] : -1;
    const bool ok = mid >= 0 && plan->values[size_t(mid)].kind == ValueKind::arena && readers[size_t(mid)] == 1 &&
                    !b.inputs.empty() && b.inputs[0] == mid && !a.nothing_to_write && !b.nothing_to_write;
    return ok ? mid : int64_t(-1);
  };
  auto fused_step = [](std::vector<Step*> parts, std::unique_ptr<ops::OpKernel> kernel) {
    Step f;
    for (size_t k = 0; k < parts.size(); ++k) {
      f.label += (k ? " fused with " : "") + parts[k]->label;
      f.inputs.insert(f.inputs.end(), parts[k]->inputs.begin(), parts[k]->inputs.end());
    }
    f.outputs = parts.back()->outputs;
    f.kernel = std::move(kernel);
    f.scratch = f.kernel->scratch_bytes();
    if (f.scratch) f.mutex = std::make_unique<std::mutex>();
    return f;
  };
  std::vector<Step> steps;
  for (size_t i = 0; i < plan->steps.size(); ++i) {
    Step& a = plan->steps[i];
    if (i + 2 < plan->steps.size() && expand_fusion()) {
      // An inverted residual block: 1x1 expansion, depthwise, 1x1 projection.
      Step& b = plan->steps[i + 1];
      Step& c = plan->steps[i + 2];
      std::vector<int64_t> reads = a.inputs;
      reads.insert(reads.end(), b.inputs.begin() + 1, b.inputs.end());
      if (chained(a, b) >= 0 && chained(b, c) >= 0 && disjoint(reads, c.outputs)) {
        if (auto fused = ops::fuse_expand_depthwise_pointwise(a.kernel, b.kernel, c.kernel, a.inputs.size(), b.inputs.size())) {
          steps.push_back(fused_step({&a, &b, &c}, std::move(fused)));
          i += 2;
          continue;
        }
      }
    }
    if (i + 1 < plan->steps.size()) {
      Step& b = plan->steps[i + 1];
      if (chained(a, b) >= 0 && disjoint(a.inputs, b.outputs)) {
        if (auto fused = ops::fuse_depthwise_pointwise(a.kernel, b.kernel, a.inputs.size())) {
          steps.push_back(fused_step({&a, &b}, std::move(fused)));
          ++i;
          continue;
        }
      }
    }
    steps.push_back(std::move(a));
  }
  plan->steps = std::move(steps);
}

// ---- reading the spec ---------------------------------------------------------------------

[[noreturn]] void fail_type(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, msg);
}
[[noreturn]] void fail_range(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, msg);
}

Napi::Value field(const Napi::Object& o, const char* key) { return o.Get(key); }

Napi::Array get_array_field(Napi::Env env, const Napi::Object& o, const char* key,
                            const std::string& owner) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) throw_type(env, owner + "." + key, "an array", v);
  return v.As<Napi::Array>();
}

int64_t get_integer(Napi::Env env, const Napi::Value& v, const std::string& name, int64_t lo,
                    int64_t hi) {
  if (!v.IsNumber()) throw_type(env, name, "a number", v);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < double(lo) || d > double(hi))
    throw_range(env, name, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
                describe(v));
  return int64_t(d);
}

// Attribute ints may be INT64_MAX-ish sentinels that arrive as lossy doubles: saturate.
int64_t attr_int(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) throw_type(env, name, "a number", v);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (std::isnan(d)) throw_range(env, name, "an integer", "NaN");
  if (d >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (d <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return int64_t(d);
}

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

bool valid_dtype(int64_t code) {
  switch (code) {
    case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 9: case 10: case 11: case 12:
    case 13:
      return true;
    default:
      return false;
  }
}

ops::Attribute read_attribute(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsObject()) throw_type(env, name, "an attribute object { kind, value }", v);
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value kv = o.Get("kind");
  if (!kv.IsString()) throw_type(env, name + ".kind", "a string", kv);
  const std::string kind = kv.As<Napi::String>().Utf8Value();
  Napi::Value val = o.Get("value");
  ops::Attribute a;
  if (kind == "int") {
    a.kind = ops::Attribute::Kind::i;
    a.i = attr_int(env, val, name + ".value");
  } else if (kind == "float") {
    a.kind = ops::Attribute::Kind::f;
    if (!val.IsNumber()) throw_type(env, name + ".value", "a number", val);
    a.f = val.As<Napi::Number>().DoubleValue();
  } else if (kind == "string") {
    a.kind = ops::Attribute::Kind::s;
    if (!val.IsString()) throw_type(env, name + ".value", "a string", val);
    a.s = val.As<Napi::String>().Utf8Value();
  } else if (kind == "ints" || kind == "floats" || kind == "strings") {
    if (!val.IsArray()) throw_type(env, name + ".value", "an array", val);
    Napi::Array arr = val.As<Napi::Array>();
    const uint32_t n = arr.Length();
    if (kind == "ints") {
      a.kind = ops::Attribute::Kind::ints;
      for (uint32_t i = 0; i < n; ++i)
        a.ints.push_back(attr_int(env, arr.Get(i), name + ".value[" + std::to_string(i) + "]"));
    } else if (kind == "floats") {
      a.kind = ops::Attribute::Kind::floats;
      for (uint32_t i = 0; i < n; ++i) {
        Napi::Value e = arr.Get(i);
        if (!e.IsNumber()) throw_type(env, name + ".value[" + std::to_string(i) + "]", "a number", e);
        a.floats.push_back(e.As<Napi::Number>().DoubleValue());
      }
    } else {
      a.kind = ops::Attribute::Kind::strings;
      for (uint32_t i = 0; i < n; ++i) {
        Napi::Value e = arr.Get(i);
        if (!e.IsString()) throw_type(env, name + ".value[" + std::to_string(i) + "]", "a string", e);
        a.strings.push_back(e.As<Napi::String>().Utf8Value());
      }
    }
  } else {
    throw_type(env, name + ".kind", "'int', 'float', 'string', 'ints', 'floats' or 'strings'", kv);
  }
  return a;
}

// Bytes and data pointer of an ArrayBufferView (byteOffset honoured).
bool view_of(const Napi::Value& v, uint8_t** data, size_t* bytes) {
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    *data = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
    *bytes = t.ByteLength();
    return true;
  }
  if (v.IsDataView()) {
    Napi::DataView d = v.As<Napi::DataView>();
    *data = static_cast<uint8_t*>(d.ArrayBuffer().Data()) + d.ByteOffset();
    *bytes = d.ByteLength();
    return true;
  }
  return false;
}

// ---- the Plan object ----------------------------------------------------------------------

class PlanWrap : public Napi::ObjectWrap<PlanWrap> {
 public:
  static void Define(Napi::Env env) {
    Napi::Function ctor = DefineClass(
        env, "Plan",
        {InstanceAccessor<&PlanWrap::Steps>("steps"),
         InstanceAccessor<&PlanWrap::ArenaBytes>("arenaBytes"),
         InstanceAccessor<&PlanWrap::Disposed>("disposed"),
         InstanceMethod<&PlanWrap::Dispose>("dispose")});
    AddonData& data = addon_data(env);
    data.classes[typeid(PlanWrap)] = Napi::Persistent(ctor);
    data.made_by[typeid(PlanWrap)] = "createPlan";
  }

  explicit PlanWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PlanWrap>(info) {}

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<PlanData> plan, Napi::Array constants) {
    Napi::Object obj = addon_data(env).classes[typeid(PlanWrap)].New({});
    PlanWrap* w = Unwrap(obj);
    w->steps_ = plan->steps.size();
    w->arena_bytes_ = plan->arena_bytes;
    w->plan_ = std::move(plan);
    // Constants stay referenced for the object's lifetime (not just until dispose(): an
    // in-flight run holds the plan object, and its kernels may read constants).
    w->constants_ = Napi::Persistent(constants.As<Napi::Object>());
    return obj;
  }

  static std::shared_ptr<PlanData> From(const Napi::Value& v, const char* name) {
    Napi::Env env = v.Env();
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(addon_data(env).classes[typeid(PlanWrap)].Value()))
      throw_type(env, name, "a Plan from createPlan", v);
    std::shared_ptr<PlanData> p = Unwrap(v.As<Napi::Object>())->plan_;
    if (!p) throw Napi::Error::New(env, std::string(name) + ": plan already disposed");
    return p;
  }

 private:
  Napi::Value Steps(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(steps_));
  }
  Napi::Value ArenaBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(arena_bytes_));
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !plan_);
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    plan_.reset();  // kernels go when the last in-flight run lets go too
    return info.Env().Undefined();
  }

  std::shared_ptr<PlanData> plan_;
  Napi::ObjectReference constants_;
  size_t steps_ = 0, arena_bytes_ = 0;
};

// ---- bindings -----------------------------------------------------------------------------

Napi::Value ListOps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& reg = ops::op_registry();
  Napi::Array out = Napi::Array::New(env, reg.size());
  for (size_t i = 0; i < reg.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("domain", reg[i].domain);
    o.Set("opType", reg[i].op_type);
    o.Set("dtypes", reg[i].dtypes);
    out.Set(uint32_t(i), o);
  }
  return out;
}

constexpr int64_t kMaxSafe = (int64_t{1} << 53) - 1;

Napi::Value CreatePlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value specv = arg(info, 0);
  if (!specv.IsObject()) throw_type(env, "spec", "a PlanSpec object", specv);
  Napi::Object spec = specv.As<Napi::Object>();
  auto plan = std::make_shared<PlanData>();

  // Constants: referenced by a private array the Plan object holds.
  Napi::Array consts_in = get_array_field(env, spec, "constants", "spec");
  Napi::Array consts = Napi::Array::New(env, consts_in.Length());
  std::vector<size_t> const_bytes;
  for (uint32_t i = 0; i < consts_in.Length(); ++i) {
    Napi::Value c = consts_in.Get(i);
    uint8_t* data;
    size_t bytes;
    if (!view_of(c, &data, &bytes))
      throw_type(env, "spec.constants[" + std::to_string(i) + "]", "a TypedArray", c);
    consts.Set(i, c);
    plan->constants.push_back(data);
    const_bytes.push_back(bytes);
  }

  const int64_t arena = get_integer(env, field(spec, "arenaBytes"), "spec.arenaBytes", 0, kMaxSafe);
  plan->arena_bytes = size_t(arena);

  Napi::Array values = get_array_field(env, spec, "values", "spec");
  for (uint32_t i = 0; i < values.Length(); ++i) {
    const std::string name = "spec.values[" + std::to_string(i) + "]";
    Napi::Value vv = values.Get(i);
    if (!vv.IsObject()) throw_type(env, name, "a PlanValue object", vv);
    Napi::Object v = vv.As<Napi::Object>();
    ValueInfo vi;
    const int64_t dt = get_integer(env, v.Get("dtype"), name + ".dtype", 0, 64);
    if (!valid_dtype(dt)) fail_range(env, name + ".dtype: expected a supported ONNX data type code, received " + std::to_string(dt));
    vi.desc.dtype = DType(dt);
    Napi::Array dims = get_array_field(env, v, "dims", name);
    size_t count = 1;
    for (uint32_t d = 0; d < dims.Length(); ++d) {
      const int64_t dim = get_integer(env, dims.Get(d), name + ".dims[" + std::to_string(d) + "]", 0, kMaxSafe);
      vi.desc.dims.push_back(dim);
      count = checked_mul(env, count, size_t(dim), (name + ".dims").c_str());
    }
    const size_t bytes = checked_mul(env, count, ops::dtype_size(vi.desc.dtype), (name + " bytes").c_str());
    Napi::Value kv = v.Get("kind");
    const std::string kind = kv.IsString() ? kv.As<Napi::String>().Utf8Value() : "";
    if (kind == "input" || kind == "output" || kind == "const" || kind == "state") {
      vi.kind = kind == "input" ? ValueKind::input : kind == "output" ? ValueKind::output
              : kind == "state" ? ValueKind::state : ValueKind::constant;
      vi.index = size_t(get_integer(env, v.Get("index"), name + ".index", 0, kMaxSafe));
      if (vi.kind == ValueKind::constant) {
        if (vi.index >= plan->constants.size())
          fail_range(env, name + ".index: expected a constant index below " + std::to_string(plan->constants.size()) + ", received " + std::to_string(vi.index));
        if (const_bytes[vi.index] != bytes)
          fail_range(env, name + ": constant " + std::to_string(vi.index) + " has " + std::to_string(const_bytes[vi.index]) +
                              " bytes, expected " + std::to_string(bytes) + " for " + ops::dtype_name(vi.desc.dtype) + " " + dims_text(vi.desc.dims));
      } else {
        std::vector<size_t>& sizes = vi.kind == ValueKind::input ? plan->input_bytes
                                   : vi.kind == ValueKind::state ? plan->state_bytes : plan->output_bytes;
        if (sizes.size() <= vi.index) sizes.resize(vi.index + 1, SIZE_MAX);
        if (sizes[vi.index] != SIZE_MAX && sizes[vi.index] != bytes)
          fail_range(env, name + ": " + kind + " " + std::to_string(vi.index) + " is described twice with different sizes");
        sizes[vi.index] = bytes;
      }
    } else if (kind == "arena") {
      vi.kind = ValueKind::arena;
      vi.offset = size_t(get_integer(env, v.Get("offset"), name + ".offset", 0, kMaxSafe));
      if (vi.offset + bytes > plan->arena_bytes)
        fail_range(env, name + ": bytes [" + std::to_string(vi.offset) + ", " + std::to_string(vi.offset + bytes) +
                            ") do not fit in arenaBytes " + std::to_string(plan->arena_bytes));
    } else {
      throw_type(env, name + ".kind", "'input', 'output', 'const', 'state' or 'arena'", kv);
    }
    plan->values.push_back(std::move(vi));
  }
  for (size_t i = 0; i < plan->input_bytes.size(); ++i)
    if (plan->input_bytes[i] == SIZE_MAX) fail_range(env, "spec.values: input index " + std::to_string(i) + " is never described");
  for (size_t i = 0; i < plan->output_bytes.size(); ++i)
    if (plan->output_bytes[i] == SIZE_MAX) fail_range(env, "spec.values: output index " + std::to_string(i) + " is never described");
  for (size_t i = 0; i < plan->state_bytes.size(); ++i)
    if (plan->state_bytes[i] == SIZE_MAX) fail_range(env, "spec.values: state index " + std::to_string(i) + " is never described");

  Napi::Array steps = get_array_field(env, spec, "steps", "spec");
  size_t max_scratch = 0;
  for (uint32_t si = 0; si < steps.Length(); ++si) {
    const std::string name = "spec.steps[" + std::to_string(si) + "]";
    Napi::Value sv = steps.Get(si);
    if (!sv.IsObject()) throw_type(env, name, "a PlanStep object", sv);
    Napi::Object so = sv.As<Napi::Object>();
    ops::OpInit init;
    Napi::Value t = so.Get("opType"), d = so.Get("domain"), nm = so.Get("name");
    if (!t.IsString()) throw_type(env, name + ".opType", "a string", t);
    init.op_type = t.As<Napi::String>().Utf8Value();
    init.domain = d.IsString() ? d.As<Napi::String>().Utf8Value() : "";
    if (init.domain == "ai.onnx") init.domain = "";
    init.node_name = nm.IsString() ? nm.As<Napi::String>().Utf8Value() : "";
    Step step;
    step.label = "step " + std::to_string(si) + " (" + init.op_type + " node '" + init.node_name + "')";
    auto read_ids = [&](const char* key, std::vector<int64_t>* ids) {
      Napi::Array arr = get_array_field(env, so, key, name);
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        const int64_t id = get_integer(env, arr.Get(i), name + "." + key + "[" + std::to_string(i) + "]", -1,
                                       int64_t(plan->values.size()) - 1);
        ids->push_back(id);
      }
    };
    read_ids("inputs", &step.inputs);
    read_ids("outputs", &step.outputs);
    // Trailing omitted outputs are simply absent for the kernel.
    while (!step.outputs.empty() && step.outputs.back() < 0) step.outputs.pop_back();
    for (int64_t id : step.outputs) {
      if (id >= 0 && (plan->values[size_t(id)].kind == ValueKind::input || plan->values[size_t(id)].kind == ValueKind::constant))
        fail_range(env, name + ".outputs: value " + std::to_string(id) + " is an input or constant and cannot be written");
    }
    for (int64_t id : step.inputs) {
      if (id < 0) {
        init.inputs.push_back(ops::TensorDesc{});
        init.input_present.push_back(false);
        init.constant_inputs.push_back(nullptr);
      } else {
        const ValueInfo& v = plan->values[size_t(id)];
        init.inputs.push_back(v.desc);
        init.input_present.push_back(true);
        init.constant_inputs.push_back(v.kind == ValueKind::constant ? plan->constants[v.index] : nullptr);
      }
    }
    for (int64_t id : step.outputs) {
      init.outputs.push_back(id < 0 ? ops::TensorDesc{} : plan->values[size_t(id)].desc);
      init.output_present.push_back(id >= 0);
    }
    Napi::Value av = so.Get("attributes");
    if (av.IsObject()) {
      Napi::Object attrs = av.As<Napi::Object>();
      Napi::Array keys = attrs.GetPropertyNames();
      for (uint32_t k = 0; k < keys.Length(); ++k) {
        const std::string key = keys.Get(k).As<Napi::String>().Utf8Value();
        init.attrs.set(key, read_attribute(env, attrs.Get(key), name + ".attributes." + key));
      }
    } else if (!av.IsUndefined() && !av.IsNull()) {
      throw_type(env, name + ".attributes", "an object", av);
    }
    const ops::OpRegistration* reg = ops::find_op(init.domain, init.op_type);
    if (!reg)
      fail_type(env, "Plan step " + std::to_string(si) + ": op '" + init.op_type + "' (domain '" + init.domain +
                         "') is not supported by the native runtime");
    Status s = ops::create_op(init, &step.kernel);
    if (!s.is_ok()) throw status_error(env, s);
    if (!step.kernel)
      fail_type(env, "Plan step " + std::to_string(si) + ": op '" + init.op_type + "' created no kernel");
    step.nothing_to_write = !step.outputs.empty();
    for (int64_t id : step.outputs)
      if (id >= 0 && (plan->values[size_t(id)].desc.count() != 0 || plan->values[size_t(id)].kind == ValueKind::state))
        step.nothing_to_write = false;
    step.scratch = step.kernel->scratch_bytes();
    if (step.scratch) step.mutex = std::make_unique<std::mutex>();
    max_scratch = std::max(max_scratch, step.scratch);
    plan->steps.push_back(std::move(step));
  }
  if (depthwise_fusion().load(std::memory_order_relaxed)) {
    fuse_depthwise_pointwise_steps(plan.get());
    max_scratch = 0;
    for (const Step& st : plan->steps) max_scratch = std::max(max_scratch, st.scratch);
  }
  plan->step_us = std::vector<std::atomic<uint32_t>>(plan->steps.size());
  // Steps run one after another, so every kernel's scratch shares one region.
  plan->scratch_offset = align_up(plan->arena_bytes);
  plan->total_bytes = max_scratch ? plan->scratch_offset + align_up(max_scratch) : plan->arena_bytes;
  return PlanWrap::Wrap(env, std::move(plan), consts);
}

// runPlan(plan, inputs, outputs, async, state?)
Napi::Value RunPlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<PlanData> plan = PlanWrap::From(arg(info, 0), "plan");
  std::vector<Napi::Value> keep = {arg(info, 0)};
  auto bind = [&](size_t ai, const char* what, const std::vector<size_t>& sizes, std::vector<void*>* out) {
    Napi::Value v = arg(info, ai);
    if (!v.IsArray()) throw_type(env, what, "an array of ArrayBufferViews", v);
    Napi::Array arr = v.As<Napi::Array>();
    if (arr.Length() != sizes.size())
      throw_range(env, what, std::to_string(sizes.size()) + " arrays", std::to_string(arr.Length()) + " arrays");
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value e = arr.Get(i);
      const std::string name = std::string(what) + "[" + std::to_string(i) + "]";
      uint8_t* data;
      size_t bytes;
      if (!view_of(e, &data, &bytes)) throw_type(env, name, "an ArrayBufferView", e);
      if (bytes != sizes[i])
        throw_range(env, name, std::to_string(sizes[i]) + " bytes", std::to_string(bytes) + " bytes");
      out->push_back(data);
      keep.push_back(e);
    }
  };
  std::vector<void*> ins, outs, states;
  bind(1, "inputs", plan->input_bytes, &ins);
  bind(2, "outputs", plan->output_bytes, &outs);
  if (!plan->state_bytes.empty() || !arg(info, 4).IsUndefined()) bind(4, "state", plan->state_bytes, &states);
  const bool run_async = arg(info, 3).IsBoolean() && arg(info, 3).As<Napi::Boolean>().Value();
  std::vector<const void*> cins(ins.begin(), ins.end());
  if (run_async) {
    PlanThreadWork on_thread = [plan, cins, outs, states](const std::function<void()>& near_end, double near_end_us) {
      return plan->run(cins, outs, states, &near_end, near_end_us);
    };
    Napi::Value promise = start_on_plan_thread(env, on_thread, keep);
    if (!promise.IsEmpty()) return promise;
  }
  PromiseWorker::Work work = [plan, cins, outs, states]() { return plan->run(cins, outs, states); };
  return run_sync_or_async(env, run_async, std::move(work), keep);
}

}  // namespace

void InitPlan(Napi::Env env, Napi::Object exports) {
  PlanWrap::Define(env);
  exports.Set("listOps", Napi::Function::New(env, ListOps));
  exports.Set("createPlan", Napi::Function::New(env, CreatePlan));
  exports.Set("runPlan", Napi::Function::New(env, RunPlan));
  // setDepthwiseFusion(on) -> previous
  exports.Set("setDepthwiseFusion", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Value v = arg(info, 0);
    if (!v.IsBoolean()) throw_type(info.Env(), "on", "a boolean", v);
    return Napi::Boolean::New(info.Env(), depthwise_fusion().exchange(v.As<Napi::Boolean>().Value()));
  }));
  // setWinograd(on) -> previous: whether plans built from now on run eligible 3x3 convs by
  // Winograd F(4x4, 3x3) (ops/nn_conv_internal.h).
  exports.Set("setWinograd", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Value v = arg(info, 0);
    if (!v.IsBoolean()) throw_type(info.Env(), "on", "a boolean", v);
    return Napi::Boolean::New(info.Env(), ops::winograd_conv_enabled().exchange(v.As<Napi::Boolean>().Value()));
  }));
}

}  // namespace nq::napi
