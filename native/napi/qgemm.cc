// INT8 GEMM bindings: weights packed once into a JS-owned object, then run sync or async.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "kernels/qgemm.h"
#include "kernels/spqgemm.h"
#include "napi/args.h"
#include "napi/async.h"
#include "napi/modules.h"
#include "napi/weights.h"
#include "runtime/dispatch.h"

namespace nq {
// Found by WeightsWrap through argument-dependent lookup.
size_t packed_bytes(const QGemmPackedB& p) {
  return p.panels.size() + sizeof(int32_t) * (p.col_sums.size() + p.zero_points.size());
}
}  // namespace nq

namespace nq::napi {
namespace {

using QGemmWeights = WeightsWrap<QGemmPackedB>;

// qgemmPackB(b, k, n, transposed, zeroPoints|null, isa?, sparsity?) -> QGemmWeights
// sparsity: 'auto' (default) | 'dense' | 'sparse' (see QGemmSparsity).
Napi::Value PackB(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value bv = arg(info, 0);
  const size_t k = get_size(info, 1, "k");
  const size_t n = get_size(info, 2, "n");
  const bool transposed = get_bool(info, 3, "transposed");
  const size_t count = checked_mul(env, k, n, "k*n");
  QGemmB b;
  b.k = k;
  b.n = n;
  b.transposed = transposed;
  if (bv.IsTypedArray() && bv.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    b.data = get_array<uint8_t>(bv, "b", count).data;
    b.is_signed = false;
  } else {
    if (!bv.IsTypedArray() || bv.As<Napi::TypedArray>().TypedArrayType() != napi_int8_array) {
      throw_type(env, "b", "an Int8Array or Uint8Array", bv);
    }
    b.data = get_array<int8_t>(bv, "b", count).data;
    b.is_signed = true;
  }
  View<int32_t> zps = get_array<int32_t>(arg(info, 4), "zeroPoints", 0, true);
  if (zps.data && zps.length != 1 && zps.length != n) {
    throw_range(env, "zeroPoints", "1 or n=" + std::to_string(n) + " values",
                std::to_string(zps.length) + " values");
  }
  b.zero_points = zps.data;
  b.num_zero_points = zps.length;
  const QGemmKernel& kernel = *kernels_arg(info, 5).qgemm;
  if (!arg(info, 6).IsUndefined()) {
    const std::string mode = get_string(info, 6, "sparsity");
    if (mode == "dense") b.sparsity = QGemmSparsity::dense;
    else if (mode == "sparse") b.sparsity = QGemmSparsity::sparse;
    else if (mode != "auto") throw_range(env, "sparsity", "'auto', 'dense' or 'sparse'", "'" + mode + "'");
  }
  auto packed = std::make_shared<QGemmPackedB>();
  throw_if_failed(env, qgemm_pack_b(kernel, b, packed.get()));
  return QGemmWeights::Wrap(env, std::move(packed));
}

// setSparseGemm('auto' | 'off' | 'on'): what automatic packing means from now on.
Napi::Value SetSparse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string mode = get_string(info, 0, "mode");
  if (mode == "auto") set_qgemm_sparsity(QGemmSparsity::automatic);
  else if (mode == "off") set_qgemm_sparsity(QGemmSparsity::dense);
  else if (mode == "on") set_qgemm_sparsity(QGemmSparsity::sparse);
  else throw_range(env, "mode", "'auto', 'off' or 'on'", "'" + mode + "'");
  return env.Undefined();
}

// getSparseGemm() -> 'auto' | 'off' | 'on'
Napi::Value GetSparse(const Napi::CallbackInfo& info) {
  const QGemmSparsity s = qgemm_sparsity();
  return Napi::String::New(info.Env(), s == QGemmSparsity::dense ? "off" : s == QGemmSparsity::sparse ? "on" : "auto");
}

// qgemmLayout(weights) -> { sparse, groupDensity }: how qgemmPackB stored B.
Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<const QGemmPackedB> packed = QGemmWeights::From(arg(info, 0), "weights");
  Napi::Object o = Napi::Object::New(env);
  o.Set("sparse", Napi::Boolean::New(env, packed->sparse.kernel != nullptr));
  o.Set("groupDensity", Napi::Number::New(env, packed->group_density));
  return o;
}

// qgemm(a, m, aZeroPoint, weights, out, options, async) -> undefined | Promise<void>
// options: { lda, ldc, aScale, bScales, bias, relu, biasInt32, multipliers, shifts,
//            requantScales, outZeroPoint, qmin, qmax }
Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value av = arg(info, 0);
  const size_t m = get_size(info, 1, "m");
  std::shared_ptr<const QGemmPackedB> packed = QGemmWeights::From(arg(info, 3), "weights");
  const size_t k = packed->k, n = packed->n;
  Napi::Object opts = arg(info, 5).IsObject() ? arg(info, 5).As<Napi::Object>() : Napi::Object::New(env);
  const bool run_async = arg(info, 6).IsBoolean() && arg(info, 6).As<Napi::Boolean>().Value();

  QGemmA a;
  a.m = m;
  a.k = k;
  a.lda = static_cast<size_t>(opt_number(opts, "lda", static_cast<double>(k), "options"));
  if (a.lda < k) throw_range(env, "options.lda", ">= k=" + std::to_string(k), std::to_string(a.lda));
  const size_t a_needed = m == 0 ? 0 : checked_mul(env, m - 1, a.lda, "m*lda") + k;
  if (av.IsTypedArray() && av.As<Napi::TypedArray>().TypedArrayType() == napi_int8_array) {
    a.data = get_array<int8_t>(av, "a", a_needed).data;
    a.is_signed = true;
  } else {
    a.data = get_array<uint8_t>(av, "a", a_needed).data;
    a.is_signed = false;
  }
  a.zero_point = static_cast<int32_t>(get_int(info, 2, "aZeroPoint", a.is_signed ? -128 : 0,
                                              a.is_signed ? 127 : 255));

  QGemmOutput out;
  out.ldc = static_cast<size_t>(opt_number(opts, "ldc", static_cast<double>(n), "options"));
  if (out.ldc < n) throw_range(env, "options.ldc", ">= n=" + std::to_string(n), std::to_string(out.ldc));
  const size_t c_needed = m == 0 ? 0 : checked_mul(env, m - 1, out.ldc, "m*ldc") + n;
  Napi::Value cv = arg(info, 4);
  if (!cv.IsTypedArray()) throw_type(env, "out", "an Int32Array, Float32Array, Uint8Array or Int8Array", cv);
  switch (cv.As<Napi::TypedArray>().TypedArrayType()) {
    case napi_int32_array:
      out.kind = QGemmOutputKind::int32;
      out.data = get_array<int32_t>(cv, "out", c_needed).data;
      break;
    case napi_float32_array:
      out.kind = QGemmOutputKind::float32;
      out.data = get_array<float>(cv, "out", c_needed).data;
      break;
    case napi_uint8_array:
      out.kind = QGemmOutputKind::uint8;
      out.data = get_array<uint8_t>(cv, "out", c_needed).data;
      break;
    case napi_int8_array:
      out.kind = QGemmOutputKind::int8;
      out.data = get_array<int8_t>(cv, "out", c_needed).data;
      break;
    default: throw_type(env, "out", "an Int32Array, Float32Array, Uint8Array or Int8Array", cv);
  }
  std::vector<Napi::Value> keep = {av, arg(info, 3), cv};
  // An options array the work reads: referenced until the work is done.
  auto kept = [&](const char* key) -> Napi::Value {
    Napi::Value v = opts.Get(key);
    if (!v.IsUndefined() && !v.IsNull()) keep.push_back(v);
    return v;
  };
  if (out.kind == QGemmOutputKind::float32) {
    out.a_scale = static_cast<float>(opt_number(opts, "aScale", 1.0, "options"));
    View<float> bs = get_array<float>(kept("bScales"), "options.bScales", 0, true);
    if (bs.data && bs.length != 1 && bs.length != n)
      throw_range(env, "options.bScales", "1 or n=" + std::to_string(n) + " values", std::to_string(bs.length));
    out.b_scales = bs.data;
    out.num_b_scales = bs.length;
    View<float> bias = get_array<float>(kept("bias"), "options.bias", n, true);
    out.bias = bias.data;
    out.relu = opt_bool(opts, "relu", false, "options");
  } else if (out.kind != QGemmOutputKind::int32) {
    View<int32_t> bias = get_array<int32_t>(kept("biasInt32"), "options.biasInt32", n, true);
    out.bias_i32 = bias.data;
    View<float> scales = get_array<float>(kept("requantScales"), "options.requantScales", 0, true);
    if (scales.data) {
      out.requant_mode = RequantMode::float_scale;
      out.requant_scales = scales.data;
      out.num_requant = scales.length;
    } else {
      out.requant_mode = RequantMode::fixed_point;
      View<int32_t> mult = get_array<int32_t>(kept("multipliers"), "options.multipliers", 1);
      View<int32_t> shifts = get_array<int32_t>(kept("shifts"), "options.shifts", mult.length);
      out.multipliers = mult.data;
      out.shifts = shifts.data;
      out.num_requant = mult.length;
    }
    if (out.num_requant != 1 && out.num_requant != n)
      throw_range(env, "options requantization", "1 or n=" + std::to_string(n) + " values", std::to_string(out.num_requant));
    const bool s8 = out.kind == QGemmOutputKind::int8;
    out.out_zero_point = static_cast<int32_t>(opt_number(opts, "outZeroPoint", 0, "options"));
    out.qmin = static_cast<int32_t>(opt_number(opts, "qmin", s8 ? -128 : 0, "options"));
    out.qmax = static_cast<int32_t>(opt_number(opts, "qmax", s8 ? 127 : 255, "options"));
  }

  if (!run_async) {
    throw_if_failed(env, qgemm(a, *packed, out));
    return env.Undefined();
  }
  return start_async(env, AsyncCost::gemm(m, n, k, 8, packed->kernel->isa),
                     [a, out, packed]() { return qgemm(a, *packed, out); }, keep);
}

}  // namespace

void InitQGemm(Napi::Env env, Napi::Object exports) {
  QGemmWeights::Define(env, "QGemmWeights", "qgemmPackB");
  exports.Set("qgemmPackB", Napi::Function::New(env, PackB));
  exports.Set("qgemm", Napi::Function::New(env, Run));
  exports.Set("qgemmLayout", Napi::Function::New(env, Layout));
  exports.Set("setSparseGemm", Napi::Function::New(env, SetSparse));
  exports.Set("getSparseGemm", Napi::Function::New(env, GetSparse));
  exports.Set("sparseGemmCalls", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(sparse_qgemm_calls()));
  }));
}

}  // namespace nq::napi
