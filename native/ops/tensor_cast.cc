// Cast (and CastLike) between float32, float16, float64, the 8..64-bit ints and bool.
// float16 goes through float32 with the round-to-nearest-even conversion of kernels/quantize.h
// (the threaded, SIMD driver for the float32<->float16 pairs). Float to int truncates toward
// zero like C; NaN and out-of-range values saturate instead of being undefined behaviour.
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/quantize.h"
#include "ops/tensor_common.h"

namespace nq::ops {
namespace {

struct Half { uint16_t bits; };

template <typename D, typename S>
inline D convert(S v) {
  if constexpr (std::is_same<D, bool>::value) {
    return v != S(0);
  } else if constexpr (std::is_floating_point<S>::value && std::is_integral<D>::value) {
    if (v != v) return D(0);
    if (v <= static_cast<S>(std::numeric_limits<D>::lowest())) return std::numeric_limits<D>::lowest();
    if (v >= static_cast<S>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

template <typename D, typename S>
void cast_range(const S* s, D* d, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = convert<D>(s[i]);
}

// Element types as stored: bool is one byte 0/1.
#define NQ_CAST_TYPES(X)                                                                      \
  X(DType::f32, float) X(DType::f64, double) X(DType::s8, int8_t) X(DType::u8, uint8_t)       \
  X(DType::s16, int16_t) X(DType::u16, uint16_t) X(DType::s32, int32_t) X(DType::u32, uint32_t) \
  X(DType::s64, int64_t) X(DType::u64, uint64_t) X(DType::boolean, bool)

using CastFn = void (*)(const void*, void*, size_t);

template <typename S>
CastFn pick_to(DType to) {
  switch (to) {
#define NQ_TO(code, D)                                                              \
  case code:                                                                        \
    return [](const void* s, void* d, size_t n) {                                   \
      parallel_ranges(n, 65536, [&](size_t b, size_t e) {                           \
        cast_range(static_cast<const S*>(s) + b, static_cast<D*>(d) + b, e - b);    \
      });                                                                           \
    };
    NQ_CAST_TYPES(NQ_TO)
#undef NQ_TO
    default: return nullptr;
  }
}

CastFn pick_cast(DType from, DType to) {
  switch (from) {
#define NQ_FROM(code, S) \
  case code:             \
    return pick_to<std::conditional_t<std::is_same<S, bool>::value, uint8_t, S>>(to);
    NQ_CAST_TYPES(NQ_FROM)
#undef NQ_FROM
    default: return nullptr;
  }
}

bool castable(DType t) { return t != DType::f16 ? pick_cast(t, DType::f32) != nullptr : true; }

class CastKernel final : public OpKernel {
 public:
  CastKernel(DType from, DType to, size_t n) : from_(from), to_(to), n_(n) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    if (n_ == 0) return Status::ok();
    if (from_ == to_) {
      if (out[0] != in[0]) std::memcpy(out[0], in[0], n_ * dtype_size(from_));
      return Status::ok();
    }
    if (from_ == DType::f32 && to_ == DType::f16)
      return f32_to_f16(static_cast<const float*>(in[0]), n_, static_cast<uint16_t*>(out[0]));
    if (from_ == DType::f16 && to_ == DType::f32)
      return f16_to_f32(static_cast<const uint16_t*>(in[0]), n_, static_cast<float*>(out[0]));
    if (from_ == DType::f16 || to_ == DType::f16) {
      // Through float32 in slices that stay in cache.
      constexpr size_t kSlice = 4096;
      float tmp[kSlice];
      uint16_t htmp[kSlice];
      const size_t es_in = dtype_size(from_), es_out = dtype_size(to_);
      for (size_t b = 0; b < n_; b += kSlice) {
        const size_t m = std::min(kSlice, n_ - b);
        const char* s = static_cast<const char*>(in[0]) + b * es_in;
        char* d = static_cast<char*>(out[0]) + b * es_out;
        if (from_ == DType::f16) {
          for (size_t i = 0; i < m; ++i) {
            uint16_t h;
            std::memcpy(&h, s + i * 2, 2);
            tmp[i] = quant_rules::f16_to_f32(h);
          }
          pick_cast(DType::f32, to_)(tmp, d, m);
        } else {
          pick_cast(from_, DType::f32)(s, tmp, m);
          for (size_t i = 0; i < m; ++i) htmp[i] = quant_rules::f32_to_f16(tmp[i]);
          std::memcpy(d, htmp, m * 2);
        }
      }
      return Status::ok();
    }
    pick_cast(from_, to_)(in[0], out[0], n_);
    return Status::ok();
  }
  int in_place_input() const override { return dtype_size(from_) == dtype_size(to_) ? 0 : -1; }

 private:
  DType from_, to_;
  size_t n_;
};

}  // namespace

Status make_cast(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  const bool like = init.op_type == "CastLike";
  Status st = check_arity(init, like ? 2 : 1, like ? 2 : 1, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& x = init.inputs[0];
  const TensorDesc& y = init.outputs[0];
  if (!like && init.attrs.get_int("to", -1) != static_cast<int64_t>(y.dtype))
    return op_error(init, "attribute to=" + std::to_string(init.attrs.get_int("to", -1)) +
                              " does not match the output dtype " + dtype_name(y.dtype));
  if (like && init.inputs[1].dtype != y.dtype)
    return op_error(init, "target_type " + describe_input(init, 1) + " does not match the output dtype");
  if (y.dims != x.dims) return op_error(init, "output dims must match " + describe_input(init, 0));
  if (!castable(x.dtype) || !castable(y.dtype))
    return op_error(init, std::string("unsupported cast ") + dtype_name(x.dtype) + " -> " + dtype_name(y.dtype));
  *out = std::make_unique<CastKernel>(x.dtype, y.dtype, x.count());
  return Status::ok();
}

}  // namespace nq::ops
