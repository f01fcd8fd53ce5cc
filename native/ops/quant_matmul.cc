// The matrix-product quantized ops on the INT8 GEMM, one kernel class for all of them:
//   MatMulInteger                 a, b, a_zero_point, b_zero_point -> int32
//   QLinearMatMul                 a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp -> u8/s8
//   nquant.QLinearMatMul          the same + bias (int32 [N] at scale a_scale*b_scale[n]),
//                                 qmin/qmax clamp, y_scale/y_zp omitted -> float32
//   com.microsoft.QGemm           A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp; alpha,
//                                 transA, transB; float32 out when y_* are omitted
//   com.microsoft.DynamicQuantizeMatMul   A (float32), B, b_scale, b_zp, bias -> float32
// Batched (numpy-broadcast) A and B for the MatMul-shaped ones; a constant B (with constant
// zero points) is packed once at creation. The output stage is QuantOutputStage's, with one
// exception: QGemm's C is added to the int32 accumulators before anything else (as
// onnxruntime does), which the GEMM epilogue covers for a per-column C on quantized outputs;
// a C with rows, or any C on a float32 output, goes through int32 scratch and a pass that
// applies the same rules.
#include <cstring>
#include <vector>

#include "kernels/qgemm.h"
#include "kernels/qgemm_internal.h"
#include "kernels/quantize.h"
#include "kernels/transpose.h"
#include "ops/nn_util.h"
#include "ops/quant_gemm.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

size_t round64(size_t n) { return (n + 63) / 64 * 64; }

enum class QMatMulOp { matmul_integer, qlinear_matmul, nquant_qlinear_matmul, qgemm, dynamic_quantize_matmul };

constexpr int kNone = -1;

// Input positions of one op (kNone: the op has no such input).
struct Slots {
  int a = 0, a_scale = kNone, a_zp = kNone, b = 1, b_scale = kNone, b_zp = kNone;
  int y_scale = kNone, y_zp = kNone, bias_i32 = kNone, c = kNone, bias_f32 = kNone;
};

Slots slots_for(QMatMulOp op) {
  Slots s;
  switch (op) {
    case QMatMulOp::matmul_integer:
      s.a = 0, s.b = 1, s.a_zp = 2, s.b_zp = 3;
      break;
    case QMatMulOp::qlinear_matmul:
    case QMatMulOp::nquant_qlinear_matmul:
      s.a = 0, s.a_scale = 1, s.a_zp = 2, s.b = 3, s.b_scale = 4, s.b_zp = 5, s.y_scale = 6, s.y_zp = 7;
      if (op == QMatMulOp::nquant_qlinear_matmul) s.bias_i32 = 8;
      break;
    case QMatMulOp::qgemm:
      s.a = 0, s.a_scale = 1, s.a_zp = 2, s.b = 3, s.b_scale = 4, s.b_zp = 5, s.c = 6, s.y_scale = 7, s.y_zp = 8;
      break;
    case QMatMulOp::dynamic_quantize_matmul:
      s.a = 0, s.b = 1, s.b_scale = 2, s.b_zp = 3, s.bias_f32 = 4;
      break;
  }
  return s;
}

bool has(const OpInit& init, int i) { return i != kNone && present(init, size_t(i)); }
const void* input(const std::vector<const void*>& in, int i) {
  return i != kNone && size_t(i) < in.size() ? in[size_t(i)] : nullptr;
}

class QMatMulKernel final : public OpKernel {
 public:
  Status init(const OpInit& init, QMatMulOp op) {
    op_ = op;
    s_ = slots_for(op);
    a_type_ = init.inputs[size_t(s_.a)].dtype;
    b_type_ = init.inputs[size_t(s_.b)].dtype;
    Status st = op == QMatMulOp::qgemm ? gemm_shape(init) : matmul_shape_of(init);
    if (!st.is_ok()) return st;
    const size_t n = shape_.n;

    if (has(init, s_.a_zp)) {
      const TensorDesc& z = init.inputs[size_t(s_.a_zp)];
      if (z.count() != 1)
        return op_error(init, "a_zero_point must be a single value (per-row A zero points are "
                              "not supported), got " + dims_str(z.dims));
      if (z.dtype != a_type_)
        return op_error(init, std::string("a_zero_point must have A's dtype ") + dtype_name(a_type_) +
                                  ", got " + dtype_name(z.dtype));
    }
    if (has(init, s_.b_zp)) {
      const TensorDesc& z = init.inputs[size_t(s_.b_zp)];
      nbz_ = z.count();
      if (nbz_ != 1 && nbz_ != n)
        return op_error(init, "b_zero_point must have 1 or N=" + std::to_string(n) + " values, got " +
                                  dims_str(z.dims));
      if (z.dtype != b_type_)
        return op_error(init, std::string("b_zero_point must have B's dtype ") + dtype_name(b_type_) +
                                  ", got " + dtype_name(z.dtype));
    }

    QuantOutputStage::Config cfg;
    cfg.columns = n;
    if (op == QMatMulOp::matmul_integer) {
      if (init.outputs[0].dtype != DType::s32)
        return op_error(init, std::string("output must be int32, got ") + dtype_name(init.outputs[0].dtype));
      cfg.kind = QuantOutputStage::Kind::int32;
    } else {
      if (s_.a_scale != kNone && init.inputs[size_t(s_.a_scale)].count() != 1)
        return op_error(init, "a_scale must be a single value, got " + dims_str(init.inputs[size_t(s_.a_scale)].dims));
      cfg.b_scales = init.inputs[size_t(s_.b_scale)].count();
      if (cfg.b_scales != 1 && cfg.b_scales != n)
        return op_error(init, "b_scale must have 1 or N=" + std::to_string(n) + " values, got " +
                                  dims_str(init.inputs[size_t(s_.b_scale)].dims));
      if (op == QMatMulOp::dynamic_quantize_matmul) {
        if (init.outputs[0].dtype != DType::f32)
          return op_error(init, std::string("output must be float32, got ") + dtype_name(init.outputs[0].dtype));
        cfg.kind = QuantOutputStage::Kind::float32;
      } else {
        const bool nquant = op == QMatMulOp::nquant_qlinear_matmul;
        st = read_output_kind(init, size_t(s_.y_scale), size_t(s_.y_zp),
                              op != QMatMulOp::qlinear_matmul, nquant, &cfg);
        if (!st.is_ok()) return st;
      }
    }
    if (has(init, s_.bias_i32)) {
      const TensorDesc& b = init.inputs[size_t(s_.bias_i32)];
      if (b.dtype != DType::s32 || b.count() != n)
        return op_error(init, "bias must be int32 with N=" + std::to_string(n) + " values, got " +
                                  dtype_name(b.dtype) + " " + dims_str(b.dims));
      cfg.has_bias = true;
    }
    if (has(init, s_.bias_f32)) {
      const TensorDesc& b = init.inputs[size_t(s_.bias_f32)];
      if (b.dtype != DType::f32 || b.count() != n)
        return op_error(init, "bias must be float32 with N=" + std::to_string(n) + " values, got " +
                                  dtype_name(b.dtype) + " " + dims_str(b.dims));
    }
    if (has(init, s_.c)) {
      st = read_c(init);
      if (!st.is_ok()) return st;
      // A per-column C on a quantized output is the epilogue's int32 bias.
      cfg.has_bias = c_mode_ == CMode::per_column && cfg.kind == QuantOutputStage::Kind::quantized;
    }
    stage_.configure(cfg);
    esize_ = stage_.elem_bytes();

    const void* bc = constant(init, size_t(s_.b));
    const void* bzc = has(init, s_.b_zp) ? constant(init, size_t(s_.b_zp)) : nullptr;
    if (bc && (!has(init, s_.b_zp) || bzc)) {
      std::vector<int32_t> zps;
      read_bzp(bzc, &zps);
      packed_.resize(shape_.b_count);
      for (size_t i = 0; i < shape_.b_count; ++i) {
        st = pack(static_cast<const uint8_t*>(bc) + i * shape_.k * n, zps, &packed_[i]);
        if (!st.is_ok()) return op_error(init, st.message);
      }
    }
    return Status::ok();
  }

  // Run scratch: A quantized (DynamicQuantizeMatMul) or transposed (transA), the int32
  // result when C is added before the output conversion, a per-column C broadcast to N
  // values, the output stage's parameters. Everything a run writes is here.
  size_t scratch_bytes() const override {
    size_t bytes = 0;
    if (op_ == QMatMulOp::dynamic_quantize_matmul) bytes += round64(a_count_);
    if (trans_a_) bytes += round64(shape_.m * shape_.k);
    if (c_pass()) bytes += round64(shape_.m * shape_.n * 4);
    if (c_mode_ == CMode::per_column) bytes += round64(shape_.n * 4);
    return bytes + stage_.scratch_bytes();
  }
  void set_scratch(void* s) override { scratch_ = static_cast<uint8_t*>(s); }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const uint8_t* a = static_cast<const uint8_t*>(input(in, s_.a));
    uint8_t* scratch = scratch_;
    int32_t za = 0;
    float sa = 1.f;
    if (op_ == QMatMulOp::dynamic_quantize_matmul) {
      uint8_t zp = 0;
      Status st = dynamic_quantize_u8(static_cast<const float*>(input(in, s_.a)), a_count_, scratch, &sa, &zp);
      if (!st.is_ok()) return st;
      za = zp;
      a = scratch;
      scratch += round64(a_count_);
    } else {
      if (const void* z = input(in, s_.a_zp)) za = byte_value(z, a_type_, 0);
      if (s_.a_scale != kNone) sa = *static_cast<const float*>(input(in, s_.a_scale));
    }
    if (trans_a_) {
      // A is stored K x M; the GEMM wants M x K rows.
      transpose_kernel_for(active_isa()).x8(a, shape_.m, scratch, shape_.k, shape_.k, shape_.m);
      a = scratch;
      scratch += round64(shape_.m * shape_.k);
    }
    // C added before the output conversion: the GEMM writes int32 here first.
    int32_t* acc = nullptr;
    if (c_pass()) {
      acc = reinterpret_cast<int32_t*>(scratch);
      scratch += round64(shape_.m * shape_.n * 4);
    }
    const int32_t* c = static_cast<const int32_t*>(input(in, s_.c));
    const int32_t* bias = static_cast<const int32_t*>(input(in, s_.bias_i32));
    if (c_mode_ == CMode::per_column) {
      int32_t* cols = reinterpret_cast<int32_t*>(scratch);
      for (size_t j = 0; j < shape_.n; ++j) cols[j] = c[c_count_ == 1 ? 0 : j];
      bias = cols;
      scratch += round64(shape_.n * 4);
    }
    QuantOutputStage::Params params;
    if (op_ != QMatMulOp::matmul_integer) {
      const bool quant = stage_.quantized();
      params = stage_.prepare(scratch, sa * alpha_, static_cast<const float*>(input(in, s_.b_scale)),
                              quant ? *static_cast<const float*>(input(in, s_.y_scale)) : 1.f,
                              quant ? byte_value(input(in, s_.y_zp), stage_.config().out_signed ? DType::s8 : DType::u8, 0) : 0,
                              bias, static_cast<const float*>(input(in, s_.bias_f32)));
    }

    const size_t batches = shape_.a_index.size(), m = shape_.m, k = shape_.k, n = shape_.n;
    const size_t calls = shape_.single_call ? 1 : batches;
    std::vector<int32_t> zps;
    QGemmPackedB local;
    size_t local_for = SIZE_MAX;
    if (packed_.empty()) read_bzp(input(in, s_.b_zp), &zps);
    uint8_t* y = static_cast<uint8_t*>(out[0]);
    for (size_t t = 0; t < calls; ++t) {
      const size_t bi = shape_.single_call ? 0 : shape_.b_index[t];
      const QGemmPackedB* pb;
      if (!packed_.empty()) {
        pb = &packed_[bi];
      } else {
        // B is a graph value: packed on every run (once per distinct B matrix in a row).
        if (local_for != bi) {
          Status st = pack(static_cast<const uint8_t*>(input(in, s_.b)) + bi * k * n, zps, &local);
          if (!st.is_ok()) return st;
          local_for = bi;
        }
        pb = &local;
      }
      QGemmA qa;
      qa.data = a + (shape_.single_call ? 0 : shape_.a_index[t] * m * k);
      qa.is_signed = a_type_ == DType::s8;
      qa.m = shape_.single_call ? m * batches : m;
      qa.k = k;
      qa.zero_point = za;
      uint8_t* yt = y + (shape_.single_call ? 0 : t * m * n * esize_);
      QGemmOutput o;
      if (acc) {
        o.kind = QGemmOutputKind::int32;
        o.data = acc;
      } else {
        o = stage_.column_output(params, 0, n, yt, n);
      }
      Status st = qgemm(qa, *pb, o);
      if (!st.is_ok()) return st;
      if (acc) add_c_and_convert(params, acc, c, yt);
    }
    return Status::ok();
  }

 private:
  // How QGemm's C reaches the accumulators.
  enum class CMode { none, per_column, rows };

  // C that the GEMM epilogue cannot add (it varies along rows, or the output is float32 and
  // C must be in the int32 sum before the conversion, as onnxruntime does it).
  bool c_pass() const { return c_mode_ == CMode::rows || (c_mode_ == CMode::per_column && stage_.is_float()); }

  Status matmul_shape_of(const OpInit& init) {
    OpInit shaped = init;
    shaped.inputs = {init.inputs[size_t(s_.a)], init.inputs[size_t(s_.b)]};
    Status st = matmul_shape(shaped, &shape_);
    a_count_ = init.inputs[size_t(s_.a)].count();
    return st;
  }

  Status gemm_shape(const OpInit& init) {
    const TensorDesc& a = init.inputs[size_t(s_.a)];
    const TensorDesc& b = init.inputs[size_t(s_.b)];
    if (a.dims.size() != 2 || b.dims.size() != 2)
      return op_error(init, "A " + dims_str(a.dims) + " and B " + dims_str(b.dims) + " must be 2-D");
    trans_a_ = init.attrs.get_int("transA", 0) != 0;
    const bool trans_b = init.attrs.get_int("transB", 0) != 0;
    alpha_ = static_cast<float>(init.attrs.get_float("alpha", 1.0));
    const size_t m = size_t(a.dims[trans_a_ ? 1 : 0]), k = size_t(a.dims[trans_a_ ? 0 : 1]);
    const size_t kb = size_t(b.dims[trans_b ? 1 : 0]), n = size_t(b.dims[trans_b ? 0 : 1]);
    if (k != kb)
      return op_error(init, "inner dims differ: A " + dims_str(a.dims) + (trans_a_ ? " (transA)" : "") +
                                ", B " + dims_str(b.dims) + (trans_b ? " (transB)" : ""));
    const TensorDesc& y = init.outputs[0];
    if (y.dims.size() != 2 || size_t(y.dims[0]) != m || size_t(y.dims[1]) != n)
      return op_error(init, "Y " + dims_str(y.dims) + " must be [M=" + std::to_string(m) + ", N=" +
                                std::to_string(n) + "]");
    shape_.m = m;
    shape_.k = k;
    shape_.n = n;
    shape_.b_count = 1;
    shape_.a_index = {0};
    shape_.b_index = {0};
    shape_.single_call = true;
    trans_b_ = trans_b;
    a_count_ = a.count();
    return Status::ok();
  }

  // QGemm's C: int32, unidirectionally broadcastable to [M, N].
  Status read_c(const OpInit& init) {
    const TensorDesc& c = init.inputs[size_t(s_.c)];
    if (c.dtype != DType::s32)
      return op_error(init, std::string("C must be int32, got ") + dtype_name(c.dtype));
    const size_t r = c.dims.size();
    const int64_t rows = r >= 2 ? c.dims[r - 2] : 1, cols = r >= 1 ? c.dims[r - 1] : 1;
    if (r > 2 || (rows != 1 && size_t(rows) != shape_.m) || (cols != 1 && size_t(cols) != shape_.n))
      return op_error(init, "C " + dims_str(c.dims) + " must broadcast to [M=" + std::to_string(shape_.m) +
                                ", N=" + std::to_string(shape_.n) + "]");
    c_rows_ = size_t(rows);
    c_count_ = size_t(cols);
    c_mode_ = rows == 1 ? CMode::per_column : CMode::rows;
    return Status::ok();
  }

  // y = stage(acc + C[i][j]) for a C that varies along rows, or any C with a float output.
  void add_c_and_convert(const QuantOutputStage::Params& p, const int32_t* acc, const int32_t* c, uint8_t* y) const {
    const size_t m = shape_.m, n = shape_.n;
    const auto& cfg = stage_.config();
    auto rows = [&](size_t r0, size_t r1) {
      for (size_t i = r0; i < r1; ++i) {
        const int32_t* ci = c + (c_rows_ == 1 ? 0 : i * c_count_);
        for (size_t j = 0; j < n; ++j) {
          // Wrapping add, as the GEMM's own corrections are done.
          const int32_t v = static_cast<int32_t>(static_cast<uint32_t>(acc[i * n + j]) +
                                                 static_cast<uint32_t>(ci[c_count_ == 1 ? 0 : j]));
          switch (cfg.kind) {
            case QuantOutputStage::Kind::int32:
              reinterpret_cast<int32_t*>(y)[i * n + j] = v;
              break;
            case QuantOutputStage::Kind::float32:
              reinterpret_cast<float*>(y)[i * n + j] = static_cast<float>(v) * p.scale(j);
              break;
            case QuantOutputStage::Kind::quantized: {
              const int32_t q = qgemm_rules::requant_float(v, p.requant_scale(j), p.zy, cfg.qmin, cfg.qmax);
              if (cfg.out_signed)
                reinterpret_cast<int8_t*>(y)[i * n + j] = static_cast<int8_t>(q);
              else
                y[i * n + j] = static_cast<uint8_t>(q);
              break;
            }
          }
        }
      }
    };
    const size_t threads = get_num_threads();
    if (threads <= 1 || m * n < (size_t(1) << 15) || m < 2) {
      rows(0, m);
      return;
    }
    const size_t tasks = std::min(m, threads * 4);
    parallel_for(tasks, [&](size_t t) { rows(t * m / tasks, (t + 1) * m / tasks); });
  }

  void read_bzp(const void* zp, std::vector<int32_t>* out) const {
    out->clear();
    if (!zp) return;
    for (size_t j = 0; j < nbz_; ++j) out->push_back(byte_value(zp, b_type_, j));
  }

  Status pack(const uint8_t* b, const std::vector<int32_t>& zps, QGemmPackedB* out) const {
    QGemmB qb;
    qb.data = b;
    qb.is_signed = b_type_ == DType::s8;
    qb.k = shape_.k;
    qb.n = shape_.n;
    qb.transposed = trans_b_;
    qb.zero_points = zps.empty() ? nullptr : zps.data();
    qb.num_zero_points = zps.size();
    return qgemm_pack_b(*active_kernels().qgemm, qb, out);
  }

  QMatMulOp op_ = QMatMulOp::matmul_integer;
  Slots s_;
  bool trans_a_ = false, trans_b_ = false;
  float alpha_ = 1.f;
  size_t nbz_ = 0, esize_ = 4, a_count_ = 0;
  CMode c_mode_ = CMode::none;
  size_t c_rows_ = 1, c_count_ = 1;
  DType a_type_ = DType::u8, b_type_ = DType::u8;
  MatMulShape shape_;
  QuantOutputStage stage_;
  std::vector<QGemmPackedB> packed_;
  uint8_t* scratch_ = nullptr;
};

Status check_bytes(const OpInit& init, size_t i, const char* name) {
  return check_input_dtype2(init, i, name, DType::u8, DType::s8);
}

Status create(const OpInit& init, QMatMulOp op, std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<QMatMulKernel>();
  Status s = k->init(init, op);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

// a, a_scale, a_zero_point, b, b_scale, b_zero_point of QLinearMatMul and QGemm.
Status check_quantized_operands(const OpInit& init, bool b_zp_optional) {
  Status s = check_bytes(init, 0, "a");
  if (s.is_ok()) s = check_input_dtype(init, 1, "a_scale", DType::f32);
  if (s.is_ok() && present(init, 2)) s = check_bytes(init, 2, "a_zero_point");
  if (s.is_ok()) s = check_bytes(init, 3, "b");
  if (s.is_ok()) s = check_input_dtype(init, 4, "b_scale", DType::f32);
  if (s.is_ok() && (!b_zp_optional || present(init, 5))) s = check_bytes(init, 5, "b_zero_point");
  return s;
}

}  // namespace

Status create_matmul_integer(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 4, 1);
  if (s.is_ok()) s = check_bytes(init, 0, "A");
  if (s.is_ok()) s = check_bytes(init, 1, "B");
  if (!s.is_ok()) return s;
  return create(init, QMatMulOp::matmul_integer, out);
}

Status create_qlinear_matmul(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 8, 8, 1);
  if (s.is_ok()) s = check_quantized_operands(init, false);
  if (s.is_ok() && !present(init, 2)) s = check_bytes(init, 2, "a_zero_point");
  if (!s.is_ok()) return s;
  return create(init, QMatMulOp::qlinear_matmul, out);
}

Status create_nquant_qlinear_matmul(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 6, 9, 1);
  if (s.is_ok()) s = check_quantized_operands(init, false);
  if (!s.is_ok()) return s;
  return create(init, QMatMulOp::nquant_qlinear_matmul, out);
}

Status create_qgemm(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 6, 9, 1);
  if (s.is_ok()) s = check_quantized_operands(init, true);
  if (!s.is_ok()) return s;
  return create(init, QMatMulOp::qgemm, out);
}

Status create_dynamic_quantize_matmul(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 3, 5, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "A", DType::f32);
  if (s.is_ok()) s = check_bytes(init, 1, "B");
  if (s.is_ok()) s = check_input_dtype(init, 2, "b_scale", DType::f32);
  if (s.is_ok() && present(init, 3)) s = check_bytes(init, 3, "b_zero_point");
  if (!s.is_ok()) return s;
  return create(init, QMatMulOp::dynamic_quantize_matmul, out);
}

}  // namespace nq::ops
