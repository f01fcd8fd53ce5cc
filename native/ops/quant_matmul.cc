// MatMulInteger (int32 out) and QLinearMatMul (uint8/int8 out, float_scale requantisation as
// ONNX rounds) on the INT8 GEMM. A constant B (with constant zero points) is packed once.
#include <vector>

#include "kernels/qgemm.h"
#include "ops/nn_util.h"
#include "runtime/dispatch.h"

namespace nq::ops {
namespace {

int32_t byte_value(const void* p, DType t, size_t i) {
  return t == DType::s8 ? int32_t(static_cast<const int8_t*>(p)[i])
                        : int32_t(static_cast<const uint8_t*>(p)[i]);
}

class QMatMulKernel final : public OpKernel {
 public:
  // qlinear: inputs a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp; else a, b, a_zp, b_zp.
  Status init(const OpInit& init, bool qlinear) {
    qlinear_ = qlinear;
    ia_ = 0;
    ib_ = qlinear ? 3 : 1;
    iaz_ = qlinear ? 2 : 2;
    ibz_ = qlinear ? 5 : 3;
    OpInit shaped = init;
    shaped.inputs = {init.inputs[ia_], init.inputs[ib_]};
    Status s = matmul_shape(shaped, &s_);
    if (!s.is_ok()) return s;
    a_type_ = init.inputs[ia_].dtype;
    b_type_ = init.inputs[ib_].dtype;
    if (present(init, iaz_)) {
      if (init.inputs[iaz_].count() != 1)
        return op_error(init, "a_zero_point must be a single value (per-row A zero points are "
                              "not supported), got " + dims_str(init.inputs[iaz_].dims));
      if (init.inputs[iaz_].dtype != a_type_) return op_error(init, "a_zero_point dtype must equal A's");
    }
    if (present(init, ibz_)) {
      nbz_ = init.inputs[ibz_].count();
      if (nbz_ != 1 && nbz_ != s_.n)
        return op_error(init, "b_zero_point must have 1 or N=" + std::to_string(s_.n) +
                                  " values, got " + dims_str(init.inputs[ibz_].dims));
      if (init.inputs[ibz_].dtype != b_type_) return op_error(init, "b_zero_point dtype must equal B's");
    }
    if (qlinear) {
      if (init.inputs[1].count() != 1 || init.inputs[6].count() != 1)
        return op_error(init, "a_scale and y_scale must be single values");
      nbs_ = init.inputs[4].count();
      if (nbs_ != 1 && nbs_ != s_.n)
        return op_error(init, "b_scale must have 1 or N values, got " + dims_str(init.inputs[4].dims));
      out_signed_ = init.outputs[0].dtype == DType::s8;
      if (init.inputs[7].dtype != init.outputs[0].dtype)
        return op_error(init, "y_zero_point dtype must equal the output's");
    }
    const void* bc = constant(init, ib_);
    if (bc && (!present(init, ibz_) || constant(init, ibz_))) {
      std::vector<int32_t> zps;
      read_bzp(present(init, ibz_) ? constant(init, ibz_) : nullptr, &zps);
      packed_.resize(s_.b_count);
      for (size_t i = 0; i < s_.b_count; ++i) {
        s = pack(static_cast<const uint8_t*>(bc) + i * s_.k * s_.n, zps, &packed_[i]);
        if (!s.is_ok()) return op_error(init, s.message);
      }
    }
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const uint8_t* a = static_cast<const uint8_t*>(in[ia_]);
    const uint8_t* b = static_cast<const uint8_t*>(in[ib_]);
    const void* azp = in.size() > iaz_ ? in[iaz_] : nullptr;
    const int32_t za = azp ? byte_value(azp, a_type_, 0) : 0;
    QGemmOutput o;
    std::vector<float> rq;
    if (qlinear_) {
      const float sa = *static_cast<const float*>(in[1]);
      const float* sb = static_cast<const float*>(in[4]);
      const float sy = *static_cast<const float*>(in[6]);
      rq.resize(nbs_);
      // Effective scale in float32, as the ONNX reference and onnxruntime form it.
      for (size_t j = 0; j < nbs_; ++j) rq[j] = (sa * sb[j]) / sy;
      o.kind = out_signed_ ? QGemmOutputKind::int8 : QGemmOutputKind::uint8;
      o.requant_mode = RequantMode::float_scale;
      o.requant_scales = rq.data();
      o.num_requant = nbs_;
      o.out_zero_point = byte_value(in[7], out_signed_ ? DType::s8 : DType::u8, 0);
      o.qmin = out_signed_ ? -128 : 0;
      o.qmax = out_signed_ ? 127 : 255;
    } else {
      o.kind = QGemmOutputKind::int32;
    }
    const size_t esize = qlinear_ ? 1 : 4;
    uint8_t* y = static_cast<uint8_t*>(out[0]);
    std::vector<int32_t> zps;
    QGemmPackedB local;
    size_t local_for = SIZE_MAX;
    if (packed_.empty()) read_bzp(in.size() > ibz_ ? in[ibz_] : nullptr, &zps);
    const size_t batches = s_.a_index.size(), m = s_.m, k = s_.k, n = s_.n;
    const size_t calls = s_.single_call ? 1 : batches;
    for (size_t t = 0; t < calls; ++t) {
      const size_t bi = s_.single_call ? 0 : s_.b_index[t];
      const QGemmPackedB* pb;
      if (!packed_.empty()) {
        pb = &packed_[bi];
      } else {
        if (local_for != bi) {
          Status s = pack(b + bi * k * n, zps, &local);
          if (!s.is_ok()) return s;
          local_for = bi;
        }
        pb = &local;
      }
      QGemmA qa;
      qa.data = a + (s_.single_call ? 0 : s_.a_index[t] * m * k);
      qa.is_signed = a_type_ == DType::s8;
      qa.m = s_.single_call ? m * batches : m;
      qa.k = k;
      qa.zero_point = za;
      o.data = y + (s_.single_call ? 0 : t * m * n * esize);
      Status s = qgemm(qa, *pb, o);
      if (!s.is_ok()) return s;
    }
    return Status::ok();
  }

 private:
  void read_bzp(const void* zp, std::vector<int32_t>* out) const {
    out->clear();
    if (!zp) return;
    for (size_t j = 0; j < nbz_; ++j) out->push_back(byte_value(zp, b_type_, j));
  }

  Status pack(const uint8_t* b, const std::vector<int32_t>& zps, QGemmPackedB* out) const {
    QGemmB qb;
    qb.data = b;
    qb.is_signed = b_type_ == DType::s8;
    qb.k = s_.k;
    qb.n = s_.n;
    qb.zero_points = zps.empty() ? nullptr : zps.data();
    qb.num_zero_points = zps.size();
    return qgemm_pack_b(*active_kernels().qgemm, qb, out);
  }

  bool qlinear_ = false, out_signed_ = false;
  size_t ia_ = 0, ib_ = 1, iaz_ = 2, ibz_ = 3, nbz_ = 0, nbs_ = 1;
  DType a_type_ = DType::u8, b_type_ = DType::u8;
  MatMulShape s_;
  std::vector<QGemmPackedB> packed_;
};

Status check_bytes(const OpInit& init, size_t i, const char* name) {
  return check_input_dtype2(init, i, name, DType::u8, DType::s8);
}

}  // namespace

Status create_matmul_integer(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 4, 1);
  if (s.is_ok()) s = check_bytes(init, 0, "A");
  if (s.is_ok()) s = check_bytes(init, 1, "B");
  if (!s.is_ok()) return s;
  if (init.outputs[0].dtype != DType::s32) return op_error(init, "output must be int32");
  auto k = std::make_unique<QMatMulKernel>();
  s = k->init(init, false);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

Status create_qlinear_matmul(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 8, 8, 1);
  if (s.is_ok()) s = check_bytes(init, 0, "a");
  if (s.is_ok()) s = check_input_dtype(init, 1, "a_scale", DType::f32);
  if (s.is_ok()) s = check_bytes(init, 2, "a_zero_point");
  if (s.is_ok()) s = check_bytes(init, 3, "b");
  if (s.is_ok()) s = check_input_dtype(init, 4, "b_scale", DType::f32);
  if (s.is_ok()) s = check_bytes(init, 5, "b_zero_point");
  if (s.is_ok()) s = check_input_dtype(init, 6, "y_scale", DType::f32);
  if (s.is_ok()) s = check_bytes(init, 7, "y_zero_point");
  if (!s.is_ok()) return s;
  auto k = std::make_unique<QMatMulKernel>();
  s = k->init(init, true);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
