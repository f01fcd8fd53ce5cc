// Broadcasting binary ops (arithmetic, Pow, comparisons, logic) and Where.
// The output shape is walked as a strided loop (shape_util.h): broadcasting becomes a 0
// stride, and after dims merge each inner run has every operand either dense or a scalar, so
// the inner loops below are the four (dense|scalar) x (dense|scalar) forms, written as blocks
// of 8 through a local array: that lets GCC/Clang vectorise them at baseline -O2 without
// assuming the output does not alias an input (it may: in_place_input()).
#include <cmath>
#include <type_traits>

#include "kernels/quantize.h"
#include "ops/tensor_common.h"

namespace nq::ops {
namespace {

enum class BinOp { add, sub, mul, div, pow, eq, lt, gt, le, ge, land, lor, lxor, max, min, mod };

// Cheap ops: ~32K elements per task keeps the pool overhead below a few percent.
constexpr size_t kGrain = 32768;

template <typename A, typename B, typename R, typename F>
inline void run_vv(const A* x, const B* y, R* z, size_t n, F f) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    A u[8];
    B v[8];
    R w[8];
    for (int k = 0; k < 8; ++k) u[k] = x[i + k];
    for (int k = 0; k < 8; ++k) v[k] = y[i + k];
    for (int k = 0; k < 8; ++k) w[k] = f(u[k], v[k]);
    for (int k = 0; k < 8; ++k) z[i + k] = w[k];
  }
  for (; i < n; ++i) z[i] = f(x[i], y[i]);
}

template <typename A, typename B, typename R, typename F>
inline void run_vs(const A* x, B y, R* z, size_t n, F f) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    A u[8];
    R w[8];
    for (int k = 0; k < 8; ++k) u[k] = x[i + k];
    for (int k = 0; k < 8; ++k) w[k] = f(u[k], y);
    for (int k = 0; k < 8; ++k) z[i + k] = w[k];
  }
  for (; i < n; ++i) z[i] = f(x[i], y);
}

template <typename A, typename B, typename R, typename F>
inline void run_sv(A x, const B* y, R* z, size_t n, F f) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    B v[8];
    R w[8];
    for (int k = 0; k < 8; ++k) v[k] = y[i + k];
    for (int k = 0; k < 8; ++k) w[k] = f(x, v[k]);
    for (int k = 0; k < 8; ++k) z[i + k] = w[k];
  }
  for (; i < n; ++i) z[i] = f(x, y[i]);
}

template <typename A, typename B, typename R, typename F>
void run_binary(const StridedLoop& L, const void* av, const void* bv, void* dv, F f) {
  const A* a = static_cast<const A*>(av);
  const B* b = static_cast<const B*>(bv);
  R* d = static_cast<R*>(dv);
  const bool da = L.inner_stride(1) != 0, db = L.inner_stride(2) != 0;
  parallel_ranges(L.count, kGrain, [&](size_t s, size_t e) {
    for_each_run(L, s, e, [&](const int64_t* o, size_t n) {
      const A* x = a + o[1];
      const B* y = b + o[2];
      R* z = d + o[0];
      if (da && db) {
        run_vv(x, y, z, n, f);
      } else if (da) {
        run_vs(x, *y, z, n, f);
      } else if (db) {
        run_sv(*x, y, z, n, f);
      } else {
        const R v = f(*x, *y);
        for (size_t i = 0; i < n; ++i) z[i] = v;
      }
    });
  });
}

using RunFn = void (*)(const StridedLoop&, const void*, const void*, void*);

// Integer arithmetic wraps (as numpy and onnxruntime do) instead of being undefined.
template <typename T, bool = std::is_integral<T>::value>
struct WideOf { using type = T; };
template <typename T>
struct WideOf<T, true> { using type = std::make_unsigned_t<std::conditional_t<(sizeof(T) < 4), int32_t, T>>; };
template <typename T>
using Wide = typename WideOf<T>::type;

template <typename T>
inline T int_div(T x, T y) {
  if (y == 0) return 0;  // undefined in ONNX; a value instead of SIGFPE
  if (std::is_signed<T>::value && y == static_cast<T>(-1))
    return static_cast<T>(Wide<T>(0) - static_cast<Wide<T>>(x));
  return static_cast<T>(x / y);
}

template <typename T>
inline T int_mod(T x, T y, bool fmod_sign) {
  if (y == 0) return 0;
  if (std::is_signed<T>::value && y == static_cast<T>(-1)) return 0;
  T r = static_cast<T>(x % y);
  // Mod with fmod=0 takes the divisor's sign (Python); C's % takes the dividend's.
  if (!fmod_sign && r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
  return r;
}

template <typename T>
RunFn pick_arith(BinOp op) {
  using W = Wide<T>;
  constexpr bool kInt = std::is_integral<T>::value;
  switch (op) {
    case BinOp::add:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<T, T, T>(L, a, b, d, [](T x, T y) { return static_cast<T>(static_cast<W>(x) + static_cast<W>(y)); });
      };
    case BinOp::sub:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<T, T, T>(L, a, b, d, [](T x, T y) { return static_cast<T>(static_cast<W>(x) - static_cast<W>(y)); });
      };
    case BinOp::mul:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<T, T, T>(L, a, b, d, [](T x, T y) { return static_cast<T>(static_cast<W>(x) * static_cast<W>(y)); });
      };
    case BinOp::div:
      if constexpr (kInt) {
        return [](const StridedLoop& L, const void* a, const void* b, void* d) {
          run_binary<T, T, T>(L, a, b, d, [](T x, T y) { return int_div(x, y); });
        };
      } else {
        return [](const StridedLoop& L, const void* a, const void* b, void* d) {
          run_binary<T, T, T>(L, a, b, d, [](T x, T y) { return x / y; });
        };
      }
    case BinOp::max:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<T, T, T>(L, a, b, d, [](T x, T y) {
          if constexpr (!kInt) { if (x != x) return x; }  // NaN propagates, as numpy.maximum
          return x < y ? y : x;
        });
      };
    case BinOp::min:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<T, T, T>(L, a, b, d, [](T x, T y) {
          if constexpr (!kInt) { if (x != x) return x; }
          return y < x ? y : x;
        });
      };
    default: return nullptr;
  }
}

template <typename T>
RunFn pick_mod(bool fmod) {
  if constexpr (std::is_integral<T>::value) {
    if (fmod)
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<T, T, T>(L, a, b, d, [](T x, T y) { return int_mod(x, y, true); });
      };
    return [](const StridedLoop& L, const void* a, const void* b, void* d) {
      run_binary<T, T, T>(L, a, b, d, [](T x, T y) { return int_mod(x, y, false); });
    };
  } else {
    if (!fmod) return nullptr;  // ONNX requires fmod=1 for floating types
    return [](const StridedLoop& L, const void* a, const void* b, void* d) {
      run_binary<T, T, T>(L, a, b, d, [](T x, T y) { return static_cast<T>(std::fmod(x, y)); });
    };
  }
}

template <typename T>
RunFn pick_compare(BinOp op) {
  switch (op) {
    case BinOp::eq:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<T, T, uint8_t>(L, a, b, d, [](T x, T y) { return static_cast<uint8_t>(x == y); });
      };
    case BinOp::lt:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<T, T, uint8_t>(L, a, b, d, [](T x, T y) { return static_cast<uint8_t>(x < y); });
      };
    case BinOp::gt:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<T, T, uint8_t>(L, a, b, d, [](T x, T y) { return static_cast<uint8_t>(x > y); });
      };
    case BinOp::le:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<T, T, uint8_t>(L, a, b, d, [](T x, T y) { return static_cast<uint8_t>(x <= y); });
      };
    case BinOp::ge:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<T, T, uint8_t>(L, a, b, d, [](T x, T y) { return static_cast<uint8_t>(x >= y); });
      };
    default: return nullptr;
  }
}

RunFn pick_logic(BinOp op) {
  switch (op) {
    case BinOp::land:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<uint8_t, uint8_t, uint8_t>(L, a, b, d, [](uint8_t x, uint8_t y) { return static_cast<uint8_t>((x != 0) & (y != 0)); });
      };
    case BinOp::lor:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<uint8_t, uint8_t, uint8_t>(L, a, b, d, [](uint8_t x, uint8_t y) { return static_cast<uint8_t>((x != 0) | (y != 0)); });
      };
    case BinOp::lxor:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<uint8_t, uint8_t, uint8_t>(L, a, b, d, [](uint8_t x, uint8_t y) { return static_cast<uint8_t>((x != 0) != (y != 0)); });
      };
    default: return nullptr;
  }
}

// Integer power by squaring (exact where double would round for large int64 results).
template <typename T>
inline T ipow(T base, int64_t e) {
  if (e < 0) {  // only 1 and -1 have integer reciprocals; numpy errors, we truncate like C
    if (base == 1) return 1;
    if (std::is_signed<T>::value && base == static_cast<T>(-1)) return (e & 1) ? base : T(1);
    return 0;
  }
  Wide<T> r = 1, b = static_cast<Wide<T>>(base);
  while (e) {
    if (e & 1) r *= b;
    b *= b;
    e >>= 1;
  }
  return static_cast<T>(r);
}

template <typename A, typename B>
RunFn pick_pow_pair() {
  return [](const StridedLoop& L, const void* a, const void* b, void* d) {
    run_binary<A, B, A>(L, a, b, d, [](A x, B y) -> A {
      if constexpr (std::is_integral<A>::value && std::is_integral<B>::value) {
        return ipow(x, static_cast<int64_t>(y));
      } else if constexpr (std::is_same<A, float>::value && std::is_same<B, float>::value) {
        return y == 2.f ? x * x : std::pow(x, y);
      } else {
        return static_cast<A>(std::pow(static_cast<double>(x), static_cast<double>(y)));
      }
    });
  };
}

template <typename A>
RunFn pick_pow(DType b) {
  switch (b) {
    case DType::f32: return pick_pow_pair<A, float>();
    case DType::f64: return pick_pow_pair<A, double>();
    case DType::s32: return pick_pow_pair<A, int32_t>();
    case DType::s64: return pick_pow_pair<A, int64_t>();
    case DType::u32: return pick_pow_pair<A, uint32_t>();
    case DType::u64: return pick_pow_pair<A, uint64_t>();
    default: return nullptr;
  }
}

// float16 is a storage type here (Cast converts), but Max, Min and fmod Mod are exact on its
// values: the chosen operand's bits, or a remainder the halves can hold, so they run on the
// widened values without rounding anything.
RunFn pick_f16(BinOp op, bool fmod) {
  using quant_rules::f16_to_f32;
  switch (op) {
    case BinOp::max:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<uint16_t, uint16_t, uint16_t>(L, a, b, d, [](uint16_t x, uint16_t y) {
          const float fx = f16_to_f32(x), fy = f16_to_f32(y);
          return fx != fx || !(fx < fy) ? x : y;  // NaN propagates, as numpy.maximum
        });
      };
    case BinOp::min:
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<uint16_t, uint16_t, uint16_t>(L, a, b, d, [](uint16_t x, uint16_t y) {
          const float fx = f16_to_f32(x), fy = f16_to_f32(y);
          return fx != fx || !(fy < fx) ? x : y;
        });
      };
    case BinOp::mod:
      if (!fmod) return nullptr;  // ONNX requires fmod=1 for floating types
      return [](const StridedLoop& L, const void* a, const void* b, void* d) {
        run_binary<uint16_t, uint16_t, uint16_t>(L, a, b, d, [](uint16_t x, uint16_t y) {
          return quant_rules::f32_to_f16(std::fmod(f16_to_f32(x), f16_to_f32(y)));
        });
      };
    default: return nullptr;
  }
}

#define NQ_NUMERIC_DTYPES(X)                                                            \
  X(DType::f32, float) X(DType::f64, double) X(DType::s8, int8_t) X(DType::u8, uint8_t) \
  X(DType::s16, int16_t) X(DType::u16, uint16_t) X(DType::s32, int32_t)                  \
  X(DType::u32, uint32_t) X(DType::s64, int64_t) X(DType::u64, uint64_t)

RunFn pick(BinOp op, DType a, DType b, bool fmod) {
  if (op == BinOp::pow) {
    switch (a) {
      case DType::f32: return pick_pow<float>(b);
      case DType::f64: return pick_pow<double>(b);
      case DType::s32: return pick_pow<int32_t>(b);
      case DType::s64: return pick_pow<int64_t>(b);
      default: return nullptr;
    }
  }
  if (a != b) return nullptr;
  if (a == DType::f16) return pick_f16(op, fmod);
  if (op == BinOp::land || op == BinOp::lor || op == BinOp::lxor)
    return a == DType::boolean ? pick_logic(op) : nullptr;
  if (op == BinOp::eq && a == DType::boolean) return pick_compare<uint8_t>(op);
  const bool cmp = op == BinOp::eq || op == BinOp::lt || op == BinOp::gt || op == BinOp::le ||
                   op == BinOp::ge;
#define NQ_CASE(code, T)                              \
  case code:                                          \
    if (cmp) return pick_compare<T>(op);              \
    if (op == BinOp::mod) return pick_mod<T>(fmod);   \
    return pick_arith<T>(op);
  switch (a) {
    NQ_NUMERIC_DTYPES(NQ_CASE)
    default: return nullptr;
  }
#undef NQ_CASE
}

struct OpName { const char* name; BinOp op; };
const OpName kOps[] = {
    {"Add", BinOp::add},   {"Sub", BinOp::sub},          {"Mul", BinOp::mul},
    {"Div", BinOp::div},   {"Pow", BinOp::pow},          {"Equal", BinOp::eq},
    {"Less", BinOp::lt},   {"Greater", BinOp::gt},       {"LessOrEqual", BinOp::le},
    {"GreaterOrEqual", BinOp::ge}, {"And", BinOp::land}, {"Or", BinOp::lor},
    {"Xor", BinOp::lxor},  {"Max", BinOp::max},          {"Min", BinOp::min},
    {"Mod", BinOp::mod},
};

class BinaryKernel final : public OpKernel {
 public:
  BinaryKernel(StridedLoop loop, RunFn fn, int in_place)
      : loop_(std::move(loop)), fn_(fn), in_place_(in_place) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    if (loop_.count) fn_(loop_, in[0], in[1], out[0]);
    return Status::ok();
  }
  int in_place_input() const override { return in_place_; }

 private:
  StridedLoop loop_;
  RunFn fn_;
  int in_place_;
};

// Max/Min with more than two inputs: folded pairwise into the output (each pair broadcast to
// the output shape, so the first step reads input 0, the rest read the output back).
class VariadicKernel final : public OpKernel {
 public:
  VariadicKernel(std::vector<StridedLoop> loops, RunFn first, RunFn fold)
      : loops_(std::move(loops)), first_(first), fold_(fold) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    if (loops_[0].count == 0) return Status::ok();
    first_(loops_[0], in[0], in[1], out[0]);
    for (size_t i = 2; i < in.size(); ++i) fold_(loops_[i - 1], out[0], in[i], out[0]);
    return Status::ok();
  }

 private:
  std::vector<StridedLoop> loops_;
  RunFn first_, fold_;
};

}  // namespace

Status make_binary(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  const OpName* name = nullptr;
  for (const OpName& n : kOps)
    if (init.op_type == n.name) name = &n;
  if (!name) return op_error(init, "not a binary op");
  const bool variadic = name->op == BinOp::max || name->op == BinOp::min;
  Status st = check_arity(init, variadic ? 1 : 2, variadic ? 64 : 2, 1, 1);
  if (!st.is_ok()) return st;
  const size_t n_in = init.inputs.size();
  for (size_t i = 0; i < n_in; ++i)
    if (!has_input(init, i)) return op_error(init, describe_input(init, i) + " is required");
  const TensorDesc& a = init.inputs[0];
  const TensorDesc& o = init.outputs[0];
  const bool fmod = init.attrs.get_int("fmod", 0) != 0;

  std::vector<Dims> shapes;
  for (const TensorDesc& t : init.inputs) shapes.push_back(t.dims);
  Dims bdims;
  if (!broadcast_dims(shapes, &bdims)) {
    std::string all;
    for (size_t i = 0; i < n_in; ++i) all += (i ? ", " : "") + dims_str(init.inputs[i].dims);
    return op_error(init, "input shapes " + all + " do not broadcast");
  }
  if (bdims != o.dims)
    return op_error(init, "output dims " + dims_str(o.dims) + " differ from the broadcast " +
                              dims_str(bdims));

  if (n_in == 1) {  // Max/Min of one input is a copy: same as Identity
    return make_copy(init, out);
  }
  const TensorDesc& b = init.inputs[1];
  RunFn fn = pick(name->op, a.dtype, b.dtype, fmod);
  if (!fn)
    return op_error(init, std::string("unsupported input types ") + dtype_name(a.dtype) + ", " +
                              dtype_name(b.dtype) +
                              (name->op == BinOp::mod && !fmod ? " (float Mod needs fmod=1)" : ""));
  const bool cmp = name->op == BinOp::eq || name->op == BinOp::lt || name->op == BinOp::gt ||
                   name->op == BinOp::le || name->op == BinOp::ge || name->op == BinOp::land ||
                   name->op == BinOp::lor || name->op == BinOp::lxor;
  const DType want_out = cmp ? DType::boolean : a.dtype;
  if (o.dtype != want_out)
    return op_error(init, std::string("output dtype ") + dtype_name(o.dtype) + ", expected " +
                              dtype_name(want_out));
  for (size_t i = 2; i < n_in; ++i)
    if (init.inputs[i].dtype != a.dtype)
      return op_error(init, describe_input(init, i) + " must match input 0's dtype");

  const Dims ostr = dense_strides(o.dims);
  if (n_in == 2) {
    StridedLoop L = make_strided_loop(
        o.dims, {ostr, broadcast_strides(a.dims, o.dims), broadcast_strides(b.dims, o.dims)});
    int in_place = -1;
    if (!cmp) {
      if (a.dims == o.dims && a.dtype == o.dtype) in_place = 0;
      else if (b.dims == o.dims && b.dtype == o.dtype) in_place = 1;
    }
    *out = std::make_unique<BinaryKernel>(std::move(L), fn, in_place);
    return Status::ok();
  }
  std::vector<StridedLoop> loops;
  loops.push_back(make_strided_loop(
      o.dims, {ostr, broadcast_strides(a.dims, o.dims), broadcast_strides(b.dims, o.dims)}));
  for (size_t i = 2; i < n_in; ++i)
    loops.push_back(make_strided_loop(o.dims, {ostr, ostr, broadcast_strides(init.inputs[i].dims, o.dims)}));
  *out = std::make_unique<VariadicKernel>(std::move(loops), fn, fn);
  return Status::ok();
}

// ---- Where ----
namespace {

template <typename T>
void where_run(const StridedLoop& L, const uint8_t* c, const T* x, const T* y, T* d) {
  const int64_t sc = L.inner_stride(1), sx = L.inner_stride(2), sy = L.inner_stride(3);
  parallel_ranges(L.count, kGrain, [&](size_t s, size_t e) {
    for_each_run(L, s, e, [&](const int64_t* o, size_t n) {
      const uint8_t* cc = c + o[1];
      const T* xx = x + o[2];
      const T* yy = y + o[3];
      T* z = d + o[0];
      if (sc && sx && sy) {
        for (size_t i = 0; i < n; ++i) z[i] = cc[i] ? xx[i] : yy[i];
      } else {
        for (size_t i = 0; i < n; ++i) {
          const int64_t k = static_cast<int64_t>(i);
          z[i] = cc[k * sc] ? xx[k * sx] : yy[k * sy];
        }
      }
    });
  });
}

class WhereKernel final : public OpKernel {
 public:
  WhereKernel(StridedLoop loop, size_t es, int in_place) : loop_(std::move(loop)), es_(es), in_place_(in_place) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    if (!loop_.count) return Status::ok();
    const uint8_t* c = static_cast<const uint8_t*>(in[0]);
    switch (es_) {  // selection moves bits: only the element size matters
      case 1: where_run(loop_, c, static_cast<const uint8_t*>(in[1]), static_cast<const uint8_t*>(in[2]), static_cast<uint8_t*>(out[0])); break;
      case 2: where_run(loop_, c, static_cast<const uint16_t*>(in[1]), static_cast<const uint16_t*>(in[2]), static_cast<uint16_t*>(out[0])); break;
      case 4: where_run(loop_, c, static_cast<const uint32_t*>(in[1]), static_cast<const uint32_t*>(in[2]), static_cast<uint32_t*>(out[0])); break;
      default: where_run(loop_, c, static_cast<const uint64_t*>(in[1]), static_cast<const uint64_t*>(in[2]), static_cast<uint64_t*>(out[0])); break;
    }
    return Status::ok();
  }
  int in_place_input() const override { return in_place_; }

 private:
  StridedLoop loop_;
  size_t es_;
  int in_place_;
};

}  // namespace

Status make_where(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status st = check_arity(init, 3, 3, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& c = init.inputs[0];
  const TensorDesc& x = init.inputs[1];
  const TensorDesc& y = init.inputs[2];
  const TensorDesc& o = init.outputs[0];
  if (c.dtype != DType::boolean) return op_error(init, "condition " + describe_input(init, 0) + " must be bool");
  if (x.dtype != y.dtype || o.dtype != x.dtype)
    return op_error(init, "X " + describe_input(init, 1) + ", Y " + describe_input(init, 2) +
                              " and the output must share a dtype");
  Dims bdims;
  if (!broadcast_dims({c.dims, x.dims, y.dims}, &bdims) || bdims != o.dims)
    return op_error(init, "shapes " + dims_str(c.dims) + ", " + dims_str(x.dims) + ", " +
                              dims_str(y.dims) + " do not broadcast to the output " + dims_str(o.dims));
  const size_t es = dtype_size(x.dtype);
  StridedLoop L = make_strided_loop(o.dims, {dense_strides(o.dims), broadcast_strides(c.dims, o.dims),
                                             broadcast_strides(x.dims, o.dims),
                                             broadcast_strides(y.dims, o.dims)});
  int in_place = x.dims == o.dims ? 1 : (y.dims == o.dims ? 2 : -1);
  *out = std::make_unique<WhereKernel>(std::move(L), es, in_place);
  return Status::ok();
}

}  // namespace nq::ops
