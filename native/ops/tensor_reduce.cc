// Reductions: ReduceSum/Mean/Max/Min/Prod/SumSquare/L1/L2/LogSum/LogSumExp.
// The input dims are grouped (neighbouring dims with the same kept/reduced role merge) and
// reordered as [kept outer..., reduced..., kept inner], where "kept inner" is the innermost
// kept group when it is the input's last. Each output index in "kept outer" then owns a
// contiguous range of the reordered loop, so threads split the outputs with no shared
// accumulators. Inner runs are either a dense reduction to one value (reduced innermost:
// global pooling, LayerNorm statistics) or a dense element-wise accumulation into an output
// row (kept innermost: reducing over channels or batch).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/tensor_common.h"

namespace nq::ops {
namespace {

enum class Map { id, square, abs, exp };
enum class Comb { sum, prod, max, min };
enum class Fin { none, mean, sqrt, log };

struct RedSpec { const char* name; Map map; Comb comb; Fin fin; };
const RedSpec kReds[] = {
    {"ReduceSum", Map::id, Comb::sum, Fin::none},      {"ReduceMean", Map::id, Comb::sum, Fin::mean},
    {"ReduceMax", Map::id, Comb::max, Fin::none},      {"ReduceMin", Map::id, Comb::min, Fin::none},
    {"ReduceProd", Map::id, Comb::prod, Fin::none},    {"ReduceSumSquare", Map::square, Comb::sum, Fin::none},
    {"ReduceL1", Map::abs, Comb::sum, Fin::none},      {"ReduceL2", Map::square, Comb::sum, Fin::sqrt},
    {"ReduceLogSum", Map::id, Comb::sum, Fin::log},    {"ReduceLogSumExp", Map::exp, Comb::sum, Fin::log},
};

template <typename T, Map M>
inline T map_v(T v) {
  if constexpr (M == Map::square) return v * v;
  else if constexpr (M == Map::abs) return v < T(0) ? T(-v) : v;
  else if constexpr (M == Map::exp) return static_cast<T>(std::exp(v));
  else return v;
}

template <typename T, Comb C>
inline T comb(T a, T b) {
  if constexpr (C == Comb::sum) return a + b;
  else if constexpr (C == Comb::prod) return a * b;
  else if constexpr (C == Comb::max) return (b > a || b != b) ? b : a;  // NaN wins, as numpy
  else return (b < a || b != b) ? b : a;
}

template <typename T, Comb C>
constexpr T identity() {
  if constexpr (C == Comb::sum) return T(0);
  else if constexpr (C == Comb::prod) return T(1);
  else if constexpr (C == Comb::max)
    return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
  else
    return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
}

struct Plan {
  StridedLoop loop;   // operands: 0 = output, 1 = input
  size_t outer = 1;   // output indices split across threads
  size_t per_outer = 1;  // loop elements per outer index
  size_t out_count = 0;
  size_t reduced = 1;  // elements reduced into each output
};


// An integer result of log or sqrt: the log of 0 is -inf and of a negative a NaN, which no
// integer holds (converting them is undefined); they saturate, and NaN becomes 0.
template <typename T, typename V>
T from_double(V v) {  // V: what std::log/std::sqrt return for T (double for integers)
  if constexpr (std::is_integral_v<T>) {
    if (v != v) return T(0);
    if (v <= double(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (v >= double(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  } else {
    return static_cast<T>(v);
  }
}

template <typename T, Map M, Comb C, Fin F>
void reduce_run(const Plan& p, const void* xv, void* yv) {
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  for (size_t i = 0; i < p.out_count; ++i) y[i] = identity<T, C>();
  const StridedLoop& L = p.loop;
  const int64_t so = L.inner_stride(0), si = L.inner_stride(1);
  const size_t grain = std::max<size_t>(1, 16384 / (p.per_outer ? p.per_outer : 1));
  if (L.count) {
    parallel_ranges(p.outer, grain, [&](size_t b, size_t e) {
      for_each_run(L, b * p.per_outer, e * p.per_outer, [&](const int64_t* o, size_t n) {
        T* d = y + o[0];
        const T* s = x + o[1];
        if (so == 0) {
          // Dense run into one output: 8 partial accumulators (vectorisable, and a shorter
          // dependency chain for the float sums).
          T acc[8];
          for (int k = 0; k < 8; ++k) acc[k] = identity<T, C>();
          size_t i = 0;
          if (si == 1) {
            for (; i + 8 <= n; i += 8)
              for (int k = 0; k < 8; ++k) acc[k] = comb<T, C>(acc[k], map_v<T, M>(s[i + k]));
          }
          T r = identity<T, C>();
          for (int k = 0; k < 8; ++k) r = comb<T, C>(r, acc[k]);
          for (; i < n; ++i) r = comb<T, C>(r, map_v<T, M>(s[static_cast<int64_t>(i) * si]));
          *d = comb<T, C>(*d, r);
        } else {
          for (size_t i = 0; i < n; ++i)
            d[static_cast<int64_t>(i) * so] =
                comb<T, C>(d[static_cast<int64_t>(i) * so], map_v<T, M>(s[static_cast<int64_t>(i) * si]));
        }
      });
    });
  }
  if constexpr (F == Fin::mean) {
    if (std::is_integral_v<T> && p.reduced == 0) return;  // an empty integer mean stays 0, not a division trap
    for (size_t i = 0; i < p.out_count; ++i) y[i] = static_cast<T>(y[i] / static_cast<T>(p.reduced));
  } else if constexpr (F == Fin::sqrt) {
    for (size_t i = 0; i < p.out_count; ++i) y[i] = from_double<T>(std::sqrt(y[i]));
  } else if constexpr (F == Fin::log) {
    for (size_t i = 0; i < p.out_count; ++i) y[i] = from_double<T>(std::log(y[i]));
  }
}

using RedFn = void (*)(const Plan&, const void*, void*);

template <typename T, Map M>
RedFn pick_cf(Comb c, Fin f) {
#define NQ_F(C)                                                  \
  switch (f) {                                                   \
    case Fin::none: return reduce_run<T, M, C, Fin::none>;       \
    case Fin::mean: return reduce_run<T, M, C, Fin::mean>;       \
    case Fin::sqrt: return reduce_run<T, M, C, Fin::sqrt>;       \
    case Fin::log: return reduce_run<T, M, C, Fin::log>;         \
  }                                                              \
  return nullptr;
  switch (c) {
    case Comb::sum: NQ_F(Comb::sum)
    case Comb::prod: NQ_F(Comb::prod)
    case Comb::max: NQ_F(Comb::max)
    case Comb::min: NQ_F(Comb::min)
  }
#undef NQ_F
  return nullptr;
}

template <typename T>
RedFn pick_t(const RedSpec& s) {
  switch (s.map) {
    case Map::id: return pick_cf<T, Map::id>(s.comb, s.fin);
    case Map::square: return pick_cf<T, Map::square>(s.comb, s.fin);
    case Map::abs: return pick_cf<T, Map::abs>(s.comb, s.fin);
    case Map::exp: return std::is_floating_point<T>::value ? pick_cf<T, Map::exp>(s.comb, s.fin) : nullptr;
  }
  return nullptr;
}

RedFn pick(const RedSpec& s, DType t) {
  switch (t) {
    case DType::f32: return pick_t<float>(s);
    case DType::f64: return pick_t<double>(s);
    case DType::s32: return pick_t<int32_t>(s);
    case DType::s64: return pick_t<int64_t>(s);
    case DType::u8: return s.comb == Comb::max || s.comb == Comb::min ? pick_t<uint8_t>(s) : nullptr;
    case DType::s8: return s.comb == Comb::max || s.comb == Comb::min ? pick_t<int8_t>(s) : nullptr;
    default: return nullptr;
  }
}

Plan make_plan(const Dims& in, const std::vector<bool>& red) {
  struct G { int64_t size; bool red; };
  std::vector<G> groups;
  for (size_t d = 0; d < in.size(); ++d) {
    if (in[d] == 1) continue;
    if (!groups.empty() && groups.back().red == red[d]) groups.back().size *= in[d];
    else groups.push_back({in[d], red[d]});
  }
  // Input strides of each group (groups are dense and in order).
  std::vector<int64_t> gstr(groups.size());
  int64_t acc = 1;
  for (size_t g = groups.size(); g-- > 0;) {
    gstr[g] = acc;
    acc *= groups[g].size;
  }
  const bool kept_inner = !groups.empty() && !groups.back().red;
  std::vector<size_t> order;
  for (size_t g = 0; g + (kept_inner ? 1 : 0) < groups.size(); ++g)
    if (!groups[g].red) order.push_back(g);
  const size_t n_outer = order.size();
  for (size_t g = 0; g < groups.size(); ++g)
    if (groups[g].red) order.push_back(g);
  if (kept_inner) order.push_back(groups.size() - 1);
  // Output strides: dense over kept groups in their original order.
  std::vector<int64_t> ostr_g(groups.size(), 0);
  acc = 1;
  for (size_t g = groups.size(); g-- > 0;)
    if (!groups[g].red) {
      ostr_g[g] = acc;
      acc *= groups[g].size;
    }
  Plan p;
  Dims dims, so, si;
  for (size_t k = 0; k < order.size(); ++k) {
    dims.push_back(groups[order[k]].size);
    so.push_back(ostr_g[order[k]]);
    si.push_back(gstr[order[k]]);
    if (k < n_outer) p.outer *= static_cast<size_t>(groups[order[k]].size);
  }
  p.loop = make_strided_loop(dims, {so, si});
  size_t total = dims_count(in);
  p.per_outer = p.outer ? total / p.outer : 0;
  if (total == 0) p.outer = 0;
  for (size_t d = 0; d < in.size(); ++d)
    if (red[d]) p.reduced *= static_cast<size_t>(in[d]);
  return p;
}

// Works out the reduced dims and the loop plan; *copy when the op is the identity
// (noop_with_empty_axes with no axes). Empty string when consistent.
std::string build_plan(const Dims& x, const Dims& y, const std::vector<int64_t>& axes_raw, bool keepdims,
                       bool noop, Plan* p, bool* copy) {
  *copy = false;
  if (axes_raw.empty() && noop) {
    if (y != x) return "noop_with_empty_axes: output must match the input";
    *copy = true;
    return "";
  }
  std::vector<int64_t> axes;
  if (!normalize_axes(axes_raw, static_cast<int64_t>(x.size()), &axes))
    return "axes " + dims_str(axes_raw) + " out of range or repeated for input dims " + dims_str(x);
  std::vector<bool> red(x.size(), axes.empty());
  for (int64_t a : axes) red[static_cast<size_t>(a)] = true;
  Dims want;
  for (size_t d = 0; d < x.size(); ++d) {
    if (!red[d]) want.push_back(x[d]);
    else if (keepdims) want.push_back(1);
  }
  if (y != want) return "output " + dims_str(y) + " should be " + dims_str(want);
  *p = make_plan(x, red);
  p->out_count = dims_count(y);
  return "";
}

class ReduceKernel final : public OpKernel {
 public:
  ReduceKernel(RedFn fn, Plan p, bool copy, size_t bytes, IntInput axes, Dims x, Dims y, bool keepdims, bool noop)
      : fn_(fn), p_(std::move(p)), copy_(copy), bytes_(bytes), axes_(std::move(axes)), x_(std::move(x)),
        y_(std::move(y)), keepdims_(keepdims), noop_(noop) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const Plan* p = &p_;
    bool copy = copy_;
    Plan rt;
    if (!axes_.known) {  // axes computed at run time: plan per run (cheap next to the data)
      const std::string e = build_plan(x_, y_, axes_.get(in), keepdims_, noop_, &rt, &copy);
      if (!e.empty()) return Status::invalid("Reduce: " + e);
      p = &rt;
    }
    if (copy) {
      copy_bytes(out[0], in[0], bytes_);
      return Status::ok();
    }
    fn_(*p, in[0], out[0]);
    return Status::ok();
  }
  int in_place_input() const override { return copy_ && axes_.known ? 0 : -1; }

 private:
  RedFn fn_;
  Plan p_;
  bool copy_;
  size_t bytes_;
  IntInput axes_;
  Dims x_, y_;
  bool keepdims_, noop_;
};

}  // namespace

Status make_reduce(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  const RedSpec* spec = nullptr;
  for (const RedSpec& s : kReds)
    if (init.op_type == s.name) spec = &s;
  if (!spec) return op_error(init, "not a reduction");
  const int64_t opset = node_opset(init);
  const bool axes_input = init.op_type == "ReduceSum" ? opset >= 13 : opset >= 18;
  Status st = check_arity(init, 1, axes_input ? 2 : 1, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& x = init.inputs[0];
  const TensorDesc& y = init.outputs[0];
  RedFn fn = pick(*spec, x.dtype);
  if (!fn || y.dtype != x.dtype)
    return op_error(init, std::string("unsupported dtype ") + dtype_name(x.dtype) + " (output " + dtype_name(y.dtype) + ")");
  IntInput axes;
  if (axes_input) {
    st = prepare_int_input(init, 1, "axes", &axes);
    if (!st.is_ok()) return st;
  } else {
    axes.values = init.attrs.get_ints("axes");
  }
  const bool keepdims = init.attrs.get_int("keepdims", 1) != 0;
  const bool noop = init.attrs.get_int("noop_with_empty_axes", 0) != 0;
  Plan p;
  bool copy = false;
  if (axes.known) {
    const std::string e = build_plan(x.dims, y.dims, axes.values, keepdims, noop, &p, &copy);
    if (!e.empty()) return op_error(init, e);
  }
  *out = std::make_unique<ReduceKernel>(fn, std::move(p), copy, x.bytes(), std::move(axes), x.dims, y.dims,
                                        keepdims, noop);
  return Status::ok();
}

}  // namespace nq::ops
