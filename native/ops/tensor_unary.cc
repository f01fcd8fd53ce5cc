// Element-wise unary ops and activations, and Clip.
// Every op maps a dense buffer to a dense buffer of the same length (in place allowed), so the
// work is one flat loop split over the pool. The loop body runs in blocks of 8 through a
// local array so GCC/Clang vectorise the cheap ops (Relu, Clip, HardSwish, Neg, ...) at the
// baseline -O2 even when output and input are the same buffer. Transcendental ops call the
// exact std:: functions: ONNX test tolerances are 1e-3 relative, but models chain these ops
// and we would rather be exact than shave a few ns per element.
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/tensor_common.h"

namespace nq::ops {
namespace {

struct UnaryParams {
  double alpha = 0, beta = 0, gamma = 0;
  int mode = 0;  // Gelu: 1 = tanh approximation
};

using UnaryFn = void (*)(const void* x, void* y, size_t n, const UnaryParams& p);

constexpr size_t kCheapGrain = 32768;
constexpr size_t kCostlyGrain = 4096;

template <typename T, typename R = T, typename F>
void map_range(const T* x, R* y, size_t n, F f) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    T u[8];
    R w[8];
    for (int k = 0; k < 8; ++k) u[k] = x[i + k];
    for (int k = 0; k < 8; ++k) w[k] = f(u[k]);
    for (int k = 0; k < 8; ++k) y[i + k] = w[k];
  }
  for (; i < n; ++i) y[i] = f(x[i]);
}

template <typename T, typename F>
void map_par(const void* xv, void* yv, size_t n, size_t grain, F f) {
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  parallel_ranges(n, grain, [&](size_t b, size_t e) { map_range(x + b, y + b, e - b, f); });
}

enum class U {
  relu, leaky_relu, sigmoid, tanh, hard_sigmoid, hard_swish, erf, gelu, exp, log, neg, abs,
  reciprocal, floor, ceil, sqrt, round, sign, softplus, softsign, elu, selu, sin, cos, not_,
  identity_like
};

struct UnaryName { const char* name; U op; };
const UnaryName kUnary[] = {
    {"Relu", U::relu},       {"LeakyRelu", U::leaky_relu}, {"Sigmoid", U::sigmoid},
    {"Tanh", U::tanh},       {"HardSigmoid", U::hard_sigmoid}, {"HardSwish", U::hard_swish},
    {"Erf", U::erf},         {"Gelu", U::gelu},           {"Exp", U::exp},
    {"Log", U::log},         {"Neg", U::neg},             {"Abs", U::abs},
    {"Reciprocal", U::reciprocal}, {"Floor", U::floor},   {"Ceil", U::ceil},
    {"Sqrt", U::sqrt},       {"Round", U::round},         {"Sign", U::sign},
    {"Softplus", U::softplus}, {"Softsign", U::softsign}, {"Elu", U::elu},
    {"Selu", U::selu},       {"Sin", U::sin},             {"Cos", U::cos},
    {"Not", U::not_},
};

#if defined(__GNUC__)
// Sigmoid for float32 on 4-wide GCC vector extensions (SSE2 on x86-64, NEON on AArch64, both
// baseline): e^-|x| by range reduction (x = n ln2 + r, |r| <= ln2/2) and the Taylor series
// of e^r to degree 7, scaled by 2^n through the exponent bits. Worst relative error against
// double-precision sigmoid over [-87, 87]: 2e-7 (tested). Lanes outside that range, or NaN,
// take the exact std::exp path, so tiny results keep full relative precision.
typedef float V4f __attribute__((vector_size(16)));
typedef int32_t V4i __attribute__((vector_size(16)));

inline V4f exp_nonpositive4(V4f x) {
  const V4f t = x * 1.44269504088896341f + 12582912.f;  // + 1.5 * 2^23 rounds to an integer
  const V4f n = t - 12582912.f;
  const V4f r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-06f;  // ln2 split hi/lo
  V4f p = r * (1.f / 5040.f) + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const V4i bits = (__builtin_convertvector(n, V4i) + 127) << 23;
  V4f scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline float sigmoid_exact(float v) {
  if (v >= 0.f) return 1.f / (1.f + std::exp(-v));
  const float e = std::exp(v);
  return e / (1.f + e);
}

void sigmoid_f32(const float* x, float* y, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    V4f v;
    std::memcpy(&v, x + i, sizeof(v));
    const V4i in_range = (v <= 87.f) & (v >= -87.f);
    if (!(in_range[0] & in_range[1] & in_range[2] & in_range[3])) {
      for (size_t k = i; k < i + 4; ++k) y[k] = sigmoid_exact(x[k]);
      continue;
    }
    const V4i neg = v < 0.f;
    const V4f e = exp_nonpositive4(neg ? v : -v);
    const V4f s = 1.f / (1.f + e);
    const V4f out = neg ? e * s : s;  // e/(1+e) for negative inputs: no 1 - s cancellation
    std::memcpy(y + i, &out, sizeof(out));
  }
  for (; i < n; ++i) y[i] = sigmoid_exact(x[i]);
}
#endif

// Float ops, for float and double.
template <typename T>
UnaryFn pick_float(U op) {
  switch (op) {
    case U::relu:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return v < T(0) ? T(0) : v; });
      };
    case U::leaky_relu:
      return [](const void* x, void* y, size_t n, const UnaryParams& p) {
        const T a = static_cast<T>(p.alpha);
        map_par<T>(x, y, n, kCheapGrain, [a](T v) { return v < T(0) ? v * a : v; });
      };
    case U::sigmoid:
      if constexpr (std::is_same<T, float>::value) {
#if defined(__GNUC__)
        return [](const void* x, void* y, size_t n, const UnaryParams&) {
          const float* xf = static_cast<const float*>(x);
          float* yf = static_cast<float*>(y);
          parallel_ranges(n, kCostlyGrain, [&](size_t b, size_t e) { sigmoid_f32(xf + b, yf + b, e - b); });
        };
#endif
      }
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        // Split by sign so exp never overflows and small results keep full relative precision.
        map_par<T>(x, y, n, kCostlyGrain, [](T v) {
          if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
          const T e = std::exp(v);
          return e / (T(1) + e);
        });
      };
    case U::tanh:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCostlyGrain, [](T v) { return std::tanh(v); });
      };
    case U::hard_sigmoid:
      return [](const void* x, void* y, size_t n, const UnaryParams& p) {
        const T a = static_cast<T>(p.alpha), b = static_cast<T>(p.beta);
        map_par<T>(x, y, n, kCheapGrain, [a, b](T v) {
          T t = v * a + b;
          t = t < T(0) ? T(0) : t;
          return t > T(1) ? T(1) : t;
        });
      };
    case U::hard_swish:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        // x * clamp(x/6 + 1/2, 0, 1) written as x * clamp(x + 3, 0, 6) / 6: equal up to
        // rounding (1 ulp), and this form is the one GCC vectorises at -O2.
        map_par<T>(x, y, n, kCheapGrain, [](T v) {
          T t = v + T(3);
          t = t < T(0) ? T(0) : t;
          t = t > T(6) ? T(6) : t;
          return v * t * T(1.0 / 6.0);
        });
      };
    case U::erf:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCostlyGrain, [](T v) { return std::erf(v); });
      };
    case U::gelu:
      return [](const void* x, void* y, size_t n, const UnaryParams& p) {
        if (p.mode == 1) {
          map_par<T>(x, y, n, kCostlyGrain, [](T v) {
            const T k = T(0.7978845608028654);  // sqrt(2/pi)
            return T(0.5) * v * (T(1) + std::tanh(k * (v + T(0.044715) * v * v * v)));
          });
        } else {
          map_par<T>(x, y, n, kCostlyGrain, [](T v) {
            return T(0.5) * v * (T(1) + std::erf(v * T(0.7071067811865476)));
          });
        }
      };
    case U::exp:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCostlyGrain, [](T v) { return std::exp(v); });
      };
    case U::log:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCostlyGrain, [](T v) { return std::log(v); });
      };
    case U::neg:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return -v; });
      };
    case U::abs:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return std::fabs(v); });
      };
    case U::reciprocal:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return T(1) / v; });
      };
    case U::floor:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return std::floor(v); });
      };
    case U::ceil:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return std::ceil(v); });
      };
    case U::sqrt:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return std::sqrt(v); });
      };
    case U::round:  // halves to even, as ONNX (the default rounding mode)
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return std::nearbyint(v); });
      };
    case U::sign:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return v > T(0) ? T(1) : (v < T(0) ? T(-1) : v); });
      };
    case U::softplus:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        // log(1 + e^v) without overflow: max(v, 0) + log1p(e^-|v|).
        map_par<T>(x, y, n, kCostlyGrain, [](T v) {
          return (v > T(0) ? v : T(0)) + std::log1p(std::exp(-std::fabs(v)));
        });
      };
    case U::softsign:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return v / (T(1) + std::fabs(v)); });
      };
    case U::elu:
      return [](const void* x, void* y, size_t n, const UnaryParams& p) {
        const T a = static_cast<T>(p.alpha);
        map_par<T>(x, y, n, kCostlyGrain, [a](T v) { return v < T(0) ? a * std::expm1(v) : v; });
      };
    case U::selu:
      return [](const void* x, void* y, size_t n, const UnaryParams& p) {
        const T a = static_cast<T>(p.alpha), g = static_cast<T>(p.gamma);
        map_par<T>(x, y, n, kCostlyGrain, [a, g](T v) { return v <= T(0) ? g * a * std::expm1(v) : g * v; });
      };
    case U::sin:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCostlyGrain, [](T v) { return std::sin(v); });
      };
    case U::cos:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCostlyGrain, [](T v) { return std::cos(v); });
      };
    default: return nullptr;
  }
}

// Integer forms of the ops ONNX defines on ints.
template <typename T>
UnaryFn pick_int(U op) {
  using W = std::make_unsigned_t<std::conditional_t<(sizeof(T) < 4), int32_t, T>>;
  switch (op) {
    case U::relu:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return v < T(0) ? T(0) : v; });
      };
    case U::neg:  // wraps at the minimum, as two's complement
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return static_cast<T>(W(0) - static_cast<W>(v)); });
      };
    case U::abs:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return v < T(0) ? static_cast<T>(W(0) - static_cast<W>(v)) : v; });
      };
    case U::sign:
      return [](const void* x, void* y, size_t n, const UnaryParams&) {
        map_par<T>(x, y, n, kCheapGrain, [](T v) { return static_cast<T>(v > T(0) ? 1 : (v < T(0) ? -1 : 0)); });
      };
    default: return nullptr;
  }
}

UnaryFn pick(U op, DType t) {
  if (op == U::not_)
    return t == DType::boolean ? UnaryFn([](const void* x, void* y, size_t n, const UnaryParams&) {
      map_par<uint8_t>(x, y, n, kCheapGrain, [](uint8_t v) { return static_cast<uint8_t>(v == 0); });
    }) : nullptr;
  switch (t) {
    case DType::f32: return pick_float<float>(op);
    case DType::f64: return pick_float<double>(op);
    case DType::s8: return pick_int<int8_t>(op);
    case DType::s16: return pick_int<int16_t>(op);
    case DType::s32: return pick_int<int32_t>(op);
    case DType::s64: return pick_int<int64_t>(op);
    default: return nullptr;
  }
}

class UnaryKernel final : public OpKernel {
 public:
  UnaryKernel(UnaryFn fn, UnaryParams p, size_t n) : fn_(fn), p_(p), n_(n) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    fn_(in[0], out[0], n_, p_);
    return Status::ok();
  }
  int in_place_input() const override { return 0; }

 private:
  UnaryFn fn_;
  UnaryParams p_;
  size_t n_;
};

}  // namespace

Status make_unary(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  const UnaryName* name = nullptr;
  for (const UnaryName& u : kUnary)
    if (init.op_type == u.name) name = &u;
  if (!name) return op_error(init, "not a unary op");
  Status st = check_arity(init, 1, 1, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& x = init.inputs[0];
  const TensorDesc& y = init.outputs[0];
  if (y.dtype != x.dtype || y.dims != x.dims)
    return op_error(init, std::string("output (") + dtype_name(y.dtype) + " " + dims_str(y.dims) +
                              ") must match " + describe_input(init, 0));
  UnaryFn fn = pick(name->op, x.dtype);
  if (!fn) return op_error(init, std::string("unsupported dtype ") + dtype_name(x.dtype));
  UnaryParams p;
  switch (name->op) {
    case U::leaky_relu: p.alpha = init.attrs.get_float("alpha", 0.01); break;
    case U::hard_sigmoid:
      p.alpha = init.attrs.get_float("alpha", 0.2);
      p.beta = init.attrs.get_float("beta", 0.5);
      break;
    case U::elu: p.alpha = init.attrs.get_float("alpha", 1.0); break;
    case U::selu:
      p.alpha = init.attrs.get_float("alpha", 1.67326319217681884765625);
      p.gamma = init.attrs.get_float("gamma", 1.05070102214813232421875);
      break;
    case U::gelu: {
      const std::string a = init.attrs.get_string("approximate", "none");
      if (a != "none" && a != "tanh")
        return op_error(init, "attribute approximate must be 'none' or 'tanh', got '" + a + "'");
      p.mode = a == "tanh" ? 1 : 0;
      break;
    }
    default: break;
  }
  *out = std::make_unique<UnaryKernel>(fn, p, x.count());
  return Status::ok();
}

// ---- Clip ----
namespace {

template <typename T>
void clip_run(const void* xv, void* yv, size_t n, T lo, T hi) {
  map_par<T>(xv, yv, n, kCheapGrain, [lo, hi](T v) {
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
  });
}

class ClipKernel final : public OpKernel {
 public:
  ClipKernel(DType t, size_t n, double lo, double hi, int lo_in, int hi_in)
      : t_(t), n_(n), lo_(lo), hi_(hi), lo_in_(lo_in), hi_in_(hi_in) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    switch (t_) {
      case DType::f32: go<float>(in, out); break;
      case DType::f64: go<double>(in, out); break;
      case DType::s8: go<int8_t>(in, out); break;
      case DType::u8: go<uint8_t>(in, out); break;
      case DType::s16: go<int16_t>(in, out); break;
      case DType::u16: go<uint16_t>(in, out); break;
      case DType::s32: go<int32_t>(in, out); break;
      case DType::u32: go<uint32_t>(in, out); break;
      case DType::s64: go<int64_t>(in, out); break;
      case DType::u64: go<uint64_t>(in, out); break;
      default: break;
    }
    return Status::ok();
  }
  int in_place_input() const override { return 0; }

 private:
  template <typename T>
  void go(const std::vector<const void*>& in, const std::vector<void*>& out) {
    // Bounds from inputs are read as T (exact for int64); attribute bounds come as doubles.
    T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
    if (lo_in_ >= 0 && in[static_cast<size_t>(lo_in_)]) lo = *static_cast<const T*>(in[static_cast<size_t>(lo_in_)]);
    else if (lo_in_ < 0 && std::is_floating_point<T>::value) lo = static_cast<T>(lo_);
    if (hi_in_ >= 0 && in[static_cast<size_t>(hi_in_)]) hi = *static_cast<const T*>(in[static_cast<size_t>(hi_in_)]);
    else if (hi_in_ < 0 && std::is_floating_point<T>::value) hi = static_cast<T>(hi_);
    clip_run<T>(in[0], out[0], n_, lo, hi);
  }

  DType t_;
  size_t n_;
  double lo_, hi_;
  int lo_in_, hi_in_;
};

}  // namespace

Status make_clip(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  const int64_t opset = node_opset(init);
  Status st = check_arity(init, 1, opset >= 11 ? 3 : 1, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& x = init.inputs[0];
  const TensorDesc& y = init.outputs[0];
  if (y.dtype != x.dtype || y.dims != x.dims)
    return op_error(init, "output must match " + describe_input(init, 0));
  switch (x.dtype) {
    case DType::f32: case DType::f64: case DType::s8: case DType::u8: case DType::s16:
    case DType::u16: case DType::s32: case DType::u32: case DType::s64: case DType::u64: break;
    default: return op_error(init, std::string("unsupported dtype ") + dtype_name(x.dtype));
  }
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  int lo_in = -1, hi_in = -1;
  if (opset < 11) {
    lo = init.attrs.get_float("min", -3.4028234663852886e38);
    hi = init.attrs.get_float("max", 3.4028234663852886e38);
  } else {
    for (size_t i = 1; i <= 2; ++i) {
      if (!has_input(init, i)) continue;
      const TensorDesc& b = init.inputs[i];
      if (b.dtype != x.dtype || b.count() != 1)
        return op_error(init, std::string(i == 1 ? "min " : "max ") + describe_input(init, i) +
                                  " must be a scalar of the input's dtype");
      (i == 1 ? lo_in : hi_in) = static_cast<int>(i);
    }
  }
  *out = std::make_unique<ClipKernel>(x.dtype, x.count(), lo, hi, lo_in, hi_in);
  return Status::ok();
}

}  // namespace nq::ops
