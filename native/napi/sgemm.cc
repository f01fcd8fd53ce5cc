// FP32 GEMM bindings: packed weights, packed run, and the two-dynamic-input MatMul form.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "kernels/sgemm.h"
#include "napi/args.h"
#include "napi/async.h"
#include "napi/modules.h"
#include "napi/weights.h"

namespace nq {
// Found by WeightsWrap through argument-dependent lookup.
size_t packed_bytes(const SGemmPackedB& p) { return p.panels.size() * sizeof(float); }
}  // namespace nq

namespace nq::napi {
namespace {

using SGemmWeights = WeightsWrap<SGemmPackedB>;

// { bias, activation: 'none'|'relu'|'clip', clipMin, clipMax, accumulate, alpha, lda, ldc }
SGemmEpilogue read_epilogue(Napi::Object opts, size_t n, std::vector<Napi::Value>* keep) {
  SGemmEpilogue e;
  Napi::Value bias = opts.Get("bias");
  View<float> b = get_array<float>(bias, "options.bias", n, true);
  if (b.data) keep->push_back(bias);
  e.bias = b.data;
  Napi::Value act = opts.Get("activation");
  if (!act.IsUndefined() && !act.IsNull()) {
    const std::string name = act.IsString() ? act.As<Napi::String>().Utf8Value() : "";
    if (name == "none") e.activation = Activation::none;
    else if (name == "relu") e.activation = Activation::relu;
    else if (name == "clip") e.activation = Activation::clip;
    else throw_type(opts.Env(), "options.activation", "'none', 'relu' or 'clip'", act);
  }
  e.clip_min = static_cast<float>(opt_number(opts, "clipMin", -INFINITY, "options"));
  e.clip_max = static_cast<float>(opt_number(opts, "clipMax", INFINITY, "options"));
  e.accumulate = opt_bool(opts, "accumulate", false, "options");
  e.alpha = static_cast<float>(opt_number(opts, "alpha", 1.0, "options"));
  return e;
}

Napi::Object options_arg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = arg(info, i);
  return v.IsObject() ? v.As<Napi::Object>() : Napi::Object::New(info.Env());
}

size_t stride_option(Napi::Object opts, const char* key, size_t min, const char* min_name) {
  const size_t s = static_cast<size_t>(opt_number(opts, key, static_cast<double>(min), "options"));
  if (s < min) {
    throw_range(opts.Env(), std::string("options.") + key,
                std::string(">= ") + min_name + "=" + std::to_string(min), std::to_string(s));
  }
  return s;
}

size_t matrix_elements(Napi::Env env, size_t rows, size_t stride, size_t cols) {
  return rows == 0 ? 0 : checked_mul(env, rows - 1, stride, "rows*stride") + cols;
}

// sgemmPackB(b, k, n, transposed, isa?) -> SGemmWeights
Napi::Value PackB(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t k = get_size(info, 1, "k");
  const size_t n = get_size(info, 2, "n");
  const bool transposed = get_bool(info, 3, "transposed");
  View<float> b = get_array<float>(arg(info, 0), "b", checked_mul(env, k, n, "k*n"));
  auto packed = std::make_shared<SGemmPackedB>();
  throw_if_failed(env, sgemm_pack_b(*kernels_arg(info, 4).sgemm, b.data, k, n, 0, transposed,
                                    packed.get()));
  return SGemmWeights::Wrap(env, std::move(packed));
}

// sgemm(a, m, weights, out, options, async)
Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t m = get_size(info, 1, "m");
  std::shared_ptr<const SGemmPackedB> packed = SGemmWeights::From(arg(info, 2), "weights");
  const size_t k = packed->k, n = packed->n;
  Napi::Object opts = options_arg(info, 4);
  const bool run_async = arg(info, 5).IsBoolean() && arg(info, 5).As<Napi::Boolean>().Value();
  const size_t lda = stride_option(opts, "lda", k, "k");
  const size_t ldc = stride_option(opts, "ldc", n, "n");
  View<float> a = get_array<float>(arg(info, 0), "a", matrix_elements(env, m, lda, k));
  View<float> c = get_array<float>(arg(info, 3), "out", matrix_elements(env, m, ldc, n));
  std::vector<Napi::Value> keep = {arg(info, 0), arg(info, 2), arg(info, 3)};
  const SGemmEpilogue e = read_epilogue(opts, n, &keep);
  const float* ap = a.data;
  float* cp = c.data;
  if (!run_async) {
    throw_if_failed(env, sgemm(ap, m, lda, *packed, cp, ldc, e));
    return env.Undefined();
  }
  return start_async(env, AsyncCost::gemm(m, n, k, 32, packed->kernel->isa),
                     [=]() { return sgemm(ap, m, lda, *packed, cp, ldc, e); }, keep);
}

// matmul(a, b, m, k, n, bTransposed, out, options, async, isa?): both operands dynamic.
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t m = get_size(info, 2, "m");
  const size_t k = get_size(info, 3, "k");
  const size_t n = get_size(info, 4, "n");
  const bool bt = get_bool(info, 5, "bTransposed");
  Napi::Object opts = options_arg(info, 7);
  const bool run_async = arg(info, 8).IsBoolean() && arg(info, 8).As<Napi::Boolean>().Value();
  const SGemmKernel* kernel = kernels_arg(info, 9).sgemm;
  const size_t lda = stride_option(opts, "lda", k, "k");
  const size_t ldc = stride_option(opts, "ldc", n, "n");
  View<float> a = get_array<float>(arg(info, 0), "a", matrix_elements(env, m, lda, k));
  View<float> b = get_array<float>(arg(info, 1), "b", checked_mul(env, k, n, "k*n"));
  View<float> c = get_array<float>(arg(info, 6), "out", matrix_elements(env, m, ldc, n));
  std::vector<Napi::Value> keep = {arg(info, 0), arg(info, 1), arg(info, 6)};
  const SGemmEpilogue e = read_epilogue(opts, n, &keep);
  const float* ap = a.data;
  const float* bp = b.data;
  float* cp = c.data;
  auto work = [=]() { return sgemm_unpacked(*kernel, ap, m, k, lda, bp, n, 0, bt, cp, ldc, e); };
  if (!run_async) {
    throw_if_failed(env, work());
    return env.Undefined();
  }
  return start_async(env, AsyncCost::gemm(m, n, k, 32, kernel->isa), work, keep);
}

}  // namespace

void InitSGemm(Napi::Env env, Napi::Object exports) {
  SGemmWeights::Define(env, "SGemmWeights", "sgemmPackB");
  exports.Set("sgemmPackB", Napi::Function::New(env, PackB));
  exports.Set("sgemm", Napi::Function::New(env, Run));
  exports.Set("matmul", Napi::Function::New(env, MatMul));
}

}  // namespace nq::napi
