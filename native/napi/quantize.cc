// Bindings for the element-wise conversions and calibration reductions.
#include <napi.h>

#include <cstring>
#include <vector>

#include "kernels/quantize.h"
#include "napi/args.h"
#include "napi/async.h"
#include "napi/modules.h"

namespace nq::napi {
namespace {

bool async_arg(const Napi::CallbackInfo& info, size_t i) {
  return arg(info, i).IsBoolean() && arg(info, i).As<Napi::Boolean>().Value();
}

// [outer, channels, inner] from (size, outer, inner) arguments; channels = size/(outer*inner).
AxisView axis_view(const Napi::CallbackInfo& info, size_t i, size_t size) {
  AxisView v;
  v.outer = get_size(info, i, "outer");
  v.inner = get_size(info, i + 1, "inner");
  const size_t oi = checked_mul(info.Env(), v.outer, v.inner, "outer*inner");
  if (oi == 0 || size % oi != 0) {
    throw_range(info.Env(), "outer*inner", "a divisor of the element count " + std::to_string(size),
                std::to_string(oi));
  }
  v.channels = size / oi;
  return v;
}

bool is_signed_byte_array(const Napi::Value& v, const char* name) {
  if (v.IsTypedArray()) {
    const napi_typedarray_type t = v.As<Napi::TypedArray>().TypedArrayType();
    if (t == napi_int8_array) return true;
    if (t == napi_uint8_array) return false;
  }
  throw_type(v.Env(), name, "an Int8Array or Uint8Array", v);
}

void* byte_array_data(const Napi::Value& v, size_t min_length, const char* name) {
  return is_signed_byte_array(v, name) ? static_cast<void*>(get_array<int8_t>(v, name, min_length).data)
                                       : static_cast<void*>(get_array<uint8_t>(v, name, min_length).data);
}

// quantizeLinear(x, outer, inner, scales, zeroPoints|null, y, async)
Napi::Value QuantizeLinear(const Napi::CallbackInfo& info) {
  View<float> x = get_array<float>(arg(info, 0), "x", 0);
  const AxisView v = axis_view(info, 1, x.length);
  View<float> scales = get_array<float>(arg(info, 3), "scales", 1);
  View<int32_t> zps = get_array<int32_t>(arg(info, 4), "zeroPoints", scales.length, true);
  const bool out_signed = is_signed_byte_array(arg(info, 5), "y");
  void* y = byte_array_data(arg(info, 5), x.length, "y");
  const size_t np = scales.length;
  return run_sync_or_async(
      info.Env(), async_arg(info, 6),
      [=]() { return quantize_linear(x.data, v, scales.data, zps.data, np, out_signed, y); },
      {arg(info, 0), arg(info, 3), arg(info, 4), arg(info, 5)});
}

// dequantizeLinear(x, outer, inner, scales, zeroPoints|null, y, async)
Napi::Value DequantizeLinear(const Napi::CallbackInfo& info) {
  const bool in_signed = is_signed_byte_array(arg(info, 0), "x");
  const size_t len = arg(info, 0).As<Napi::TypedArray>().ElementLength();
  const void* x = byte_array_data(arg(info, 0), len, "x");
  const AxisView v = axis_view(info, 1, len);
  View<float> scales = get_array<float>(arg(info, 3), "scales", 1);
  View<int32_t> zps = get_array<int32_t>(arg(info, 4), "zeroPoints", scales.length, true);
  View<float> y = get_array<float>(arg(info, 5), "y", len);
  const size_t np = scales.length;
  return run_sync_or_async(
      info.Env(), async_arg(info, 6),
      [=]() { return dequantize_linear(x, in_signed, v, scales.data, zps.data, np, y.data); },
      {arg(info, 0), arg(info, 3), arg(info, 4), arg(info, 5)});
}

// dynamicQuantizeU8(x, y) -> { scale, zeroPoint }
Napi::Value DynamicQuantize(const Napi::CallbackInfo& info) {
  View<float> x = get_array<float>(arg(info, 0), "x", 0);
  View<uint8_t> y = get_array<uint8_t>(arg(info, 1), "y", x.length);
  float scale = 0;
  uint8_t zp = 0;
  throw_if_failed(info.Env(), dynamic_quantize_u8(x.data, x.length, y.data, &scale, &zp));
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("scale", scale);
  out.Set("zeroPoint", static_cast<double>(zp));
  return out;
}

// minmax(x, outer, inner, mins, maxs) -> nonfinite count
Napi::Value MinMax(const Napi::CallbackInfo& info) {
  View<float> x = get_array<float>(arg(info, 0), "x", 0);
  const AxisView v = axis_view(info, 1, x.length);
  View<float> mins = get_array<float>(arg(info, 3), "mins", v.channels);
  View<float> maxs = get_array<float>(arg(info, 4), "maxs", v.channels);
  size_t nonfinite = 0;
  throw_if_failed(info.Env(), minmax_per_channel(x.data, v, mins.data, maxs.data, &nonfinite));
  return Napi::Number::New(info.Env(), static_cast<double>(nonfinite));
}

// histogram(x, lo, hi, counts: Float64Array) -- counts accumulate; Float64 holds exact
// integers up to 2^53, more than any calibration set.
Napi::Value Histogram(const Napi::CallbackInfo& info) {
  View<float> x = get_array<float>(arg(info, 0), "x", 0);
  const float lo = static_cast<float>(get_number(info, 1, "lo"));
  const float hi = static_cast<float>(get_number(info, 2, "hi"));
  View<double> counts = get_array<double>(arg(info, 3), "counts", 1);
  if (counts.length > (1u << 24)) {
    throw_range(info.Env(), "counts", "at most 2^24 bins", std::to_string(counts.length));
  }
  std::vector<uint64_t> tmp(counts.length, 0);
  throw_if_failed(info.Env(), histogram(x.data, x.length, lo, hi,
                                        static_cast<uint32_t>(counts.length), tmp.data()));
  for (size_t i = 0; i < counts.length; ++i) counts.data[i] += static_cast<double>(tmp[i]);
  return info.Env().Undefined();
}

Napi::Value F32ToF16(const Napi::CallbackInfo& info) {
  View<float> x = get_array<float>(arg(info, 0), "x", 0);
  View<uint16_t> y = get_array<uint16_t>(arg(info, 1), "y", x.length);
  throw_if_failed(info.Env(), f32_to_f16(x.data, x.length, y.data));
  return info.Env().Undefined();
}

Napi::Value F16ToF32(const Napi::CallbackInfo& info) {
  View<uint16_t> x = get_array<uint16_t>(arg(info, 0), "x", 0);
  View<float> y = get_array<float>(arg(info, 1), "y", x.length);
  throw_if_failed(info.Env(), f16_to_f32(x.data, x.length, y.data));
  return info.Env().Undefined();
}

// int4QuantizeBlockwise(x, rows, cols, blockSize, symmetric) -> { packed, scales, zeroPoints }
Napi::Value Int4Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t rows = get_size(info, 1, "rows");
  const size_t cols = get_size(info, 2, "cols");
  const size_t block = get_size(info, 3, "blockSize");
  const bool symmetric = get_bool(info, 4, "symmetric");
  View<float> x = get_array<float>(arg(info, 0), "x", checked_mul(env, rows, cols, "rows*cols"));
  if (block == 0) throw_range(env, "blockSize", "at least 1", "0");
  const size_t nb = (cols + block - 1) / block;
  auto packed = Napi::Uint8Array::New(env, checked_mul(env, rows, int4_row_bytes(cols), "packed size"));
  auto scales = Napi::Float32Array::New(env, checked_mul(env, rows, nb, "scales size"));
  Napi::Object out = Napi::Object::New(env);
  uint8_t* zp_data = nullptr;
  if (!symmetric) {
    auto zps = Napi::Uint8Array::New(env, checked_mul(env, rows, int4_zp_row_bytes(cols, block), "zero point size"));
    zp_data = zps.Data();
    out.Set("zeroPoints", zps);
  } else {
    out.Set("zeroPoints", env.Null());
  }
  throw_if_failed(env, int4_quantize_blockwise(x.data, rows, cols, block, symmetric, packed.Data(),
                                               scales.Data(), zp_data));
  out.Set("packed", packed);
  out.Set("scales", scales);
  return out;
}

// int4DequantizeBlockwise(packed, scales, zeroPoints|null, rows, cols, blockSize, y)
Napi::Value Int4Dequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t rows = get_size(info, 3, "rows");
  const size_t cols = get_size(info, 4, "cols");
  const size_t block = get_size(info, 5, "blockSize");
  if (block == 0) throw_range(env, "blockSize", "at least 1", "0");
  const size_t nb = (cols + block - 1) / block;
  View<uint8_t> packed = get_array<uint8_t>(arg(info, 0), "packed", checked_mul(env, rows, int4_row_bytes(cols), "packed size"));
  View<float> scales = get_array<float>(arg(info, 1), "scales", checked_mul(env, rows, nb, "scales size"));
  View<uint8_t> zps = get_array<uint8_t>(arg(info, 2), "zeroPoints", checked_mul(env, rows, int4_zp_row_bytes(cols, block), "zero point size"), true);
  View<float> y = get_array<float>(arg(info, 6), "y", checked_mul(env, rows, cols, "rows*cols"));
  throw_if_failed(env, int4_dequantize_blockwise(packed.data, scales.data, zps.data, rows, cols, block, y.data));
  return env.Undefined();
}

// signPack(x, rows, cols) -> { bits, scales }
Napi::Value SignPack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t rows = get_size(info, 1, "rows");
  const size_t cols = get_size(info, 2, "cols");
  View<float> x = get_array<float>(arg(info, 0), "x", checked_mul(env, rows, cols, "rows*cols"));
  auto bits = Napi::Uint8Array::New(env, checked_mul(env, rows, (cols + 7) / 8, "bits size"));
  auto scales = Napi::Float32Array::New(env, rows);
  throw_if_failed(env, sign_pack(x.data, rows, cols, bits.Data(), scales.Data()));
  Napi::Object out = Napi::Object::New(env);
  out.Set("bits", bits);
  out.Set("scales", scales);
  return out;
}

// signUnpack(bits, scales, rows, cols, y)
Napi::Value SignUnpack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t rows = get_size(info, 2, "rows");
  const size_t cols = get_size(info, 3, "cols");
  View<uint8_t> bits = get_array<uint8_t>(arg(info, 0), "bits", checked_mul(env, rows, (cols + 7) / 8, "bits size"));
  View<float> scales = get_array<float>(arg(info, 1), "scales", rows);
  View<float> y = get_array<float>(arg(info, 4), "y", checked_mul(env, rows, cols, "rows*cols"));
  throw_if_failed(env, sign_unpack(bits.data, scales.data, rows, cols, y.data));
  return env.Undefined();
}

}  // namespace

void InitQuantize(Napi::Env env, Napi::Object exports) {
  exports.Set("quantizeLinear", Napi::Function::New(env, QuantizeLinear));
  exports.Set("dequantizeLinear", Napi::Function::New(env, DequantizeLinear));
  exports.Set("dynamicQuantizeU8", Napi::Function::New(env, DynamicQuantize));
  exports.Set("minmax", Napi::Function::New(env, MinMax));
  exports.Set("histogram", Napi::Function::New(env, Histogram));
  exports.Set("f32ToF16", Napi::Function::New(env, F32ToF16));
  exports.Set("f16ToF32", Napi::Function::New(env, F16ToF32));
  exports.Set("int4QuantizeBlockwise", Napi::Function::New(env, Int4Quantize));
  exports.Set("int4DequantizeBlockwise", Napi::Function::New(env, Int4Dequantize));
  exports.Set("signPack", Napi::Function::New(env, SignPack));
  exports.Set("signUnpack", Napi::Function::New(env, SignUnpack));
}

}  // namespace nq::napi
