// com.microsoft QLinearAdd and QLinearMul (numpy broadcasting) and the table-driven
// QLinearSigmoid and QLinearLeakyRelu, on per-tensor uint8/int8 tensors.
//
// Add and Mul reproduce onnxruntime's float steps exactly: any other, equally accurate order
// of operations moves the results that land near a rounding tie by one step.
//
//   QLinearAdd (MLAS's AVX2 kernel, what x86-64 onnxruntime runs on AVX2 CPUs) takes its
//   operands as (X, Y) = (A, B), or (B, A) when A is one value over the span. With
//   rX = sX / sC and rY = sY / sC in float it computes
//     F = zC - fma(rX, zX, rY * zY)
//     C = round_half_even(fma(x, rX, fma(y, rY, F))), saturated,
//   with the two fma's in the other order for a one-element output.
//   QLinearMul (MLAS's SSE2 kernel): C = round_half_even(float(p) * r + zC), saturated, with
//   p = (a - zA) * (b - zB) exact, r = sA * sB / sC, the product and the sum each rounded to
//   float.
//
// The inner loops run in blocks of 16 through local arrays (like tensor_binary.cc, with 16 for
// one vector of bytes) so the compiler vectorises them at -O2 without assuming the output
// does not alias an input. A fused multiply-add of a byte x is done in double: x * r is exact
// there, so the double add and the conversion to float round like the fused operation (they
// could only differ were the exact sum within 2^-53 of a float tie).
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/qbinary.h"
#include "runtime/dispatch.h"

#include "ops/nn_util.h"
#include "ops/quant_contrib.h"
#include "ops/shape_util.h"

namespace nq::ops {
namespace {

constexpr size_t kGrain = 32768;

inline float fma_byte(float x, double r, float c) {
  return static_cast<float>(static_cast<double>(x) * r + static_cast<double>(c));
}

constexpr int kBlock = 16;

// Applies f over a run where both operands advance (vv), or only x does (v1).
template <typename T, typename F>
inline void run_vv(const T* x, const T* y, T* z, size_t n, F f) {
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    T u[kBlock], v[kBlock], w[kBlock];
    for (int k = 0; k < kBlock; ++k) u[k] = x[i + k];
    for (int k = 0; k < kBlock; ++k) v[k] = y[i + k];
    for (int k = 0; k < kBlock; ++k) w[k] = f(u[k], v[k]);
    for (int k = 0; k < kBlock; ++k) z[i + k] = w[k];
  }
  for (; i < n; ++i) z[i] = f(x[i], y[i]);
}

// z[i] = table[a, b]: the 64 KiB table holds every byte pair's result (built once per kernel
// with the per-element expression).
template <typename T>
inline void lookup_pairs(const T* x, const T* y, T* z, size_t n, const uint8_t* table) {
  const uint8_t* xb = reinterpret_cast<const uint8_t*>(x);
  const uint8_t* yb = reinterpret_cast<const uint8_t*>(y);
  uint8_t* zb = reinterpret_cast<uint8_t*>(z);
  for (size_t i = 0; i < n; ++i) zb[i] = table[(size_t(xb[i]) << 8) | yb[i]];
}

// Past this many elements a one-operand run evaluates f once per byte value into a table
// and looks results up: the same values, for 256 evaluations instead of n.
constexpr size_t kV1TableMin = 1024;

template <typename T, typename F>
inline void run_v1(const T* x, T* z, size_t n, F f) {
  if (n >= kV1TableMin) {
    uint8_t table[256];
    for (int b = 0; b < 256; ++b) table[b] = uint8_t(f(T(uint8_t(b))));
    const uint8_t* xb = reinterpret_cast<const uint8_t*>(x);
    uint8_t* zb = reinterpret_cast<uint8_t*>(z);
    for (size_t i = 0; i < n; ++i) zb[i] = table[xb[i]];
    return;
  }
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    T u[kBlock], w[kBlock];
    for (int k = 0; k < kBlock; ++k) u[k] = x[i + k];
    for (int k = 0; k < kBlock; ++k) w[k] = f(u[k]);
    for (int k = 0; k < kBlock; ++k) z[i + k] = w[k];
  }
  for (; i < n; ++i) z[i] = f(x[i]);
}

// The folded per-run constants of one op call.
struct AddConsts {
  float ra, rb;  // sA / sC, sB / sC
  float f_ab;    // F with (X, Y) = (A, B)
  float f_ba;    // F with (X, Y) = (B, A)
};

AddConsts add_consts(QParams a, QParams b, QParams c) {
  AddConsts k;
  k.ra = a.scale / c.scale;
  k.rb = b.scale / c.scale;
  const float za = float(a.zero_point), zb = float(b.zero_point);
  k.f_ab = float(c.zero_point) - std::fma(k.ra, za, k.rb * zb);
  k.f_ba = float(c.zero_point) - std::fma(k.rb, zb, k.ra * za);
  return k;
}

struct MulConsts {
  double ratio;  // sA * sB / sC, rounded to float first
  float zc;
  int32_t za, zb;
};

MulConsts mul_consts(QParams a, QParams b, QParams c) {
  return MulConsts{static_cast<double>(a.scale * b.scale / c.scale), float(c.zero_point),
                   a.zero_point, b.zero_point};
}

// float(p) * r in float (p * r is exact in double, so the conversion is the one rounding),
// then + zC in float: written so no compiler may fuse the two.
inline float mul_value(int32_t p, const MulConsts& k) {
  return static_cast<float>(static_cast<double>(p) * k.ratio) + k.zc;
}

template <typename T>
void add_loop(const StridedLoop& L, const T* a, const T* b, T* c, const AddConsts& k, QRange r, const uint8_t* table,
              const nq::QBinaryKernel* simd) {
  const float lo = float(r.lo), hi = float(r.hi);
  if (L.count == 1) {
    // One element: onnxruntime takes A as the scalar, so (X, Y) = (B, A), and its kernel,
    // seeing a span of one, fuses X's term first.
    const float inner = std::fma(float(*b), k.rb, k.f_ba);
    c[0] = T(round_clamp(std::fma(float(*a), k.ra, inner), lo, hi));
    return;
  }
  const bool da = L.inner_stride(1) != 0, db = L.inner_stride(2) != 0;
  // Locals, captured by value: a store through the byte output could alias a member.
  const double ra = k.ra, rb = k.rb;
  const float f_ab = k.f_ab;
  parallel_ranges(L.count, kGrain, [&](size_t s, size_t e) {
    for_each_run(L, s, e, [&](const int64_t* o, size_t n) {
      const T* x = a + o[1];
      const T* y = b + o[2];
      T* z = c + o[0];
      if (da && db && simd) {
        QAddParams p;
        p.ra = k.ra;
        p.rb = k.rb;
        p.f = k.f_ab;
        p.lo = lo;
        p.hi = hi;
        p.is_signed = std::is_signed<T>::value;
        simd->add(reinterpret_cast<const uint8_t*>(x), reinterpret_cast<const uint8_t*>(y),
                  reinterpret_cast<uint8_t*>(z), n, p);
      } else if (da && db && table) {
        lookup_pairs(x, y, z, n, table);
      } else if (da && db) {
        run_vv(x, y, z, n, [=](T u, T v) {
          return T(round_clamp(fma_byte(float(u), ra, fma_byte(float(v), rb, f_ab)), lo, hi));
        });
      } else if (da) {
        const float inner = std::fma(float(*y), k.rb, k.f_ab);
        run_v1(x, z, n, [=](T u) { return T(round_clamp(fma_byte(float(u), ra, inner), lo, hi)); });
      } else {
        const float inner = std::fma(float(*x), k.ra, k.f_ba);
        run_v1(y, z, n, [=](T v) { return T(round_clamp(fma_byte(float(v), rb, inner), lo, hi)); });
      }
    });
  });
}

template <typename T>
void mul_loop(const StridedLoop& L, const T* a, const T* b, T* c, const MulConsts& kc, QRange r, const uint8_t* table,
              const nq::QBinaryKernel* simd) {
  const float lo = float(r.lo), hi = float(r.hi);
  const MulConsts k = kc;  // a local copy: a store through the byte output could alias kc
  const bool da = L.inner_stride(1) != 0, db = L.inner_stride(2) != 0;
  QMulParams p;
  p.ratio = static_cast<float>(k.ratio);  // a float widened to double: exact back
  p.zc = k.zc;
  p.lo = lo;
  p.hi = hi;
  p.is_signed = std::is_signed<T>::value;
  parallel_ranges(L.count, kGrain, [&](size_t s, size_t e) {
    for_each_run(L, s, e, [&](const int64_t* o, size_t n) {
      const T* x = a + o[1];
      const T* y = b + o[2];
      T* z = c + o[0];
      uint8_t* zb = reinterpret_cast<uint8_t*>(z);
      if (simd && (da || db)) {
        QMulParams q = p;
        if (da && db) {
          q.za = k.za;
          q.zb = k.zb;
          simd->mul(reinterpret_cast<const uint8_t*>(x), reinterpret_cast<const uint8_t*>(y), zb, n, q);
        } else {
          // The advancing operand goes first, with its own zero point.
          q.za = da ? k.za : k.zb;
          const int32_t other = da ? int32_t(*y) - k.zb : int32_t(*x) - k.za;
          simd->mul_by(reinterpret_cast<const uint8_t*>(da ? x : y), other, zb, n, q);
        }
      } else if (da && db && table) {
        lookup_pairs(x, y, z, n, table);
      } else if (da && db) {
        run_vv(x, y, z, n, [=](T u, T v) {
          return T(round_clamp(mul_value((int32_t(u) - k.za) * (int32_t(v) - k.zb), k), lo, hi));
        });
      } else if (da || db) {
        const T* dense = da ? x : y;
        const int32_t zd = da ? k.za : k.zb;
        const int32_t other = da ? int32_t(*y) - k.zb : int32_t(*x) - k.za;
        run_v1(dense, z, n, [=](T u) {
          return T(round_clamp(mul_value((int32_t(u) - zd) * other, k), lo, hi));
        });
      } else {
        const T v = T(round_clamp(mul_value((int32_t(*x) - k.za) * (int32_t(*y) - k.zb), k), lo, hi));
        for (size_t i = 0; i < n; ++i) z[i] = v;
      }
    });
  });
}

const QParamInputs kA{1, 2, "A_scale", "A_zero_point"};
const QParamInputs kB{4, 5, "B_scale", "B_zero_point"};
const QParamInputs kC{6, 7, "C_scale", "C_zero_point"};

class QBinaryKernel final : public OpKernel {
 public:
  Status init(const OpInit& init, bool mul) {
    mul_ = mul;
    Status s = check_arity(init, 7, 8, 1);
    if (s.is_ok()) s = check_quant_types(init, 0, "A", &signed_);
    if (!s.is_ok()) return s;
    const DType t = init.inputs[0].dtype;
    s = check_input_dtype(init, 3, "B", t);
    for (const QParamInputs* p : {&kA, &kB, &kC})
      if (s.is_ok()) s = check_qparam_inputs(init, *p, t, false);
    if (!s.is_ok()) return s;
    const TensorDesc& a = init.inputs[0];
    const TensorDesc& b = init.inputs[3];
    const TensorDesc& c = init.outputs[0];
    Dims dims;
    if (!broadcast_dims({a.dims, b.dims}, &dims))
      return op_error(init, "A " + dims_str(a.dims) + " and B " + dims_str(b.dims) + " do not broadcast");
    if (dims != c.dims)
      return op_error(init, "output C " + dims_str(c.dims) + " should be the broadcast " + dims_str(dims));
    loop_ = make_strided_loop(c.dims, {dense_strides(c.dims), broadcast_strides(a.dims, c.dims),
                                       broadcast_strides(b.dims, c.dims)});
    in_place_ = a.dims == c.dims ? 0 : (b.dims == c.dims && b.dtype == c.dtype ? 3 : -1);
    folded_ = qparams_constant(init, kA) && qparams_constant(init, kB) && qparams_constant(init, kC);
    if (folded_) {
      fold(constant_qparams(init, kA, signed_), constant_qparams(init, kB, signed_),
           constant_qparams(init, kC, signed_));
      // Big element-wise adds and muls (residual connections, gates) look results up: 64 KiB
      // built once here with the same arithmetic as the per-element path.
      // (Not where a SIMD kernel computes them faster than a table is read.)
      if (loop_.count >= kTableMinElements && qbin_->isa == Isa::scalar) {
        if (signed_) build_table<int8_t>();
        else build_table<uint8_t>();
      }
    }
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    if (loop_.count == 0) return Status::ok();
    if (!folded_) fold(run_qparams(in, kA, signed_), run_qparams(in, kB, signed_), run_qparams(in, kC, signed_));
    const QRange r = qrange(signed_);
    if (signed_) dispatch(static_cast<const int8_t*>(in[0]), static_cast<const int8_t*>(in[3]), static_cast<int8_t*>(out[0]), r);
    else dispatch(static_cast<const uint8_t*>(in[0]), static_cast<const uint8_t*>(in[3]), static_cast<uint8_t*>(out[0]), r);
    return Status::ok();
  }

  int in_place_input() const override { return in_place_; }

 private:
  void fold(QParams a, QParams b, QParams c) {
    if (mul_) mul_k_ = mul_consts(a, b, c);
    else add_k_ = add_consts(a, b, c);
  }
  template <typename T>
  void dispatch(const T* a, const T* b, T* c, QRange r) const {
    const uint8_t* table = table_.empty() ? nullptr : table_.data();
    const nq::QBinaryKernel* simd = qbin_->isa == Isa::scalar ? nullptr : qbin_;
    if (mul_) mul_loop(loop_, a, b, c, mul_k_, r, table, simd);
    else add_loop(loop_, a, b, c, add_k_, r, table, simd);
  }

  static constexpr size_t kTableMinElements = size_t(1) << 15;

  // Every (a, b) byte pair's result, with the per-element expressions of add_loop/mul_loop.
  template <typename T>
  void build_table() {
    const QRange r = qrange(signed_);
    const float lo = float(r.lo), hi = float(r.hi);
    const MulConsts& m = mul_k_;
    table_.resize(65536);
    for (size_t u = 0; u < 256; ++u)
      for (size_t v = 0; v < 256; ++v) {
        const T tu = T(uint8_t(u)), tv = T(uint8_t(v));
        const T out = mul_ ? T(round_clamp(mul_value((int32_t(tu) - m.za) * (int32_t(tv) - m.zb), m), lo, hi))
                           : T(round_clamp(fma_byte(float(tu), add_k_.ra, fma_byte(float(tv), add_k_.rb, add_k_.f_ab)), lo, hi));
        table_[(u << 8) | v] = uint8_t(out);
      }
  }

  bool mul_ = false, signed_ = false, folded_ = false;
  int in_place_ = -1;
  StridedLoop loop_;
  std::vector<uint8_t> table_;
  AddConsts add_k_{};
  MulConsts mul_k_{};
  const nq::QBinaryKernel* qbin_ = &qbinary_kernel_for(active_isa());
};

// ---- table-driven activations ----

// onnxruntime's logistic (MLAS FMA3 kernel): Eigen's rational approximation on x clamped to
// [-18, 18], evaluated with fused multiply-adds in the same order, then max(0, .), so the
// table matches onnxruntime's bit for bit rather than to within an ulp of exp().
void logistic_map(float* v, size_t n, const void*) {
  static const float kP[] = {4.37031012579801e-11f, 1.15627324459942e-07f, 6.08574864600143e-05f,
                             8.51377133304701e-03f, 2.48287947061529e-01f};
  static const float kQ[] = {6.10247389755681e-13f, 5.76102136993427e-09f, 6.29106785017040e-06f,
                             1.70198817374094e-03f, 1.16817656904453e-01f, 9.93151921023180e-01f};
  for (size_t i = 0; i < n; ++i) {
    float x = -18.f > v[i] ? -18.f : v[i];
    x = 18.f < x ? 18.f : x;
    const float x2 = x * x;
    float p = kP[0];
    for (int j = 1; j < 5; ++j) p = std::fma(x2, p, kP[j]);
    float q = kQ[0];
    for (int j = 1; j < 6; ++j) q = std::fma(x2, q, kQ[j]);
    const float r = (x * p) / q + 0.5f;
    v[i] = 0.f > r ? 0.f : r;
  }
}

void leaky_relu_map(float* v, size_t n, const void* ctx) {
  const float alpha = *static_cast<const float*>(ctx);
  for (size_t i = 0; i < n; ++i) v[i] = v[i] >= 0.f ? v[i] : alpha * v[i];
}

const QParamInputs kX{1, 2, "X_scale", "X_zero_point"};
const QParamInputs kY{3, 4, "Y_scale", "Y_zero_point"};

class QLookupKernel final : public OpKernel {
 public:
  Status init(const OpInit& init, TableMap map, float alpha) {
    map_ = map;
    alpha_ = alpha;
    Status s = check_arity(init, 4, 5, 1);
    if (s.is_ok()) s = check_quant_types(init, 0, "X", &signed_);
    if (!s.is_ok()) return s;
    const DType t = init.inputs[0].dtype;
    s = check_qparam_inputs(init, kX, t, false);
    if (s.is_ok()) s = check_qparam_inputs(init, kY, t, false);
    if (!s.is_ok()) return s;
    if (init.outputs[0].dims != init.inputs[0].dims)
      return op_error(init, "output Y " + dims_str(init.outputs[0].dims) + " must have X's dims " +
                                dims_str(init.inputs[0].dims));
    n_ = init.inputs[0].count();
    folded_ = qparams_constant(init, kX) && qparams_constant(init, kY);
    if (folded_)
      build_requant_table(constant_qparams(init, kX, signed_), constant_qparams(init, kY, signed_),
                          signed_, map_, &alpha_, table_);
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    uint8_t local[256];
    const uint8_t* table = table_;
    if (!folded_) {
      build_requant_table(run_qparams(in, kX, signed_), run_qparams(in, kY, signed_), signed_, map_,
                          &alpha_, local);
      table = local;
    }
    apply_table(table, static_cast<const uint8_t*>(in[0]), static_cast<uint8_t*>(out[0]), n_);
    return Status::ok();
  }

  int in_place_input() const override { return 0; }

 private:
  TableMap map_ = nullptr;
  float alpha_ = 0.f;
  bool signed_ = false, folded_ = false;
  size_t n_ = 0;
  uint8_t table_[256] = {};
};

Status create_binary(const OpInit& init, bool mul, std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<QBinaryKernel>();
  Status s = k->init(init, mul);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

Status create_lookup(const OpInit& init, TableMap map, float alpha, std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<QLookupKernel>();
  Status s = k->init(init, map, alpha);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace

Status create_qlinear_add(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  return create_binary(init, false, out);
}
Status create_qlinear_mul(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  return create_binary(init, true, out);
}
Status create_qlinear_sigmoid(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  return create_lookup(init, logistic_map, 0.f, out);
}
Status create_qlinear_leaky_relu(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  // onnxruntime reads alpha as a float attribute (default 0.01f) and multiplies in float.
  return create_lookup(init, leaky_relu_map, static_cast<float>(init.attrs.get_float("alpha", 0.01)), out);
}

}  // namespace nq::ops
