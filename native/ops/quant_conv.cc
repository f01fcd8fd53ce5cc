// ConvInteger (int32 out) and QLinearConv (uint8/int8 out) on the INT8 GEMM.
//
// Per image and group: the patch matrix is built in u8/s8 as rows of pixels (OS x Kg, the
// x zero point as the padding value so padded taps contribute exactly zero), multiplied by
// W^T packed once at creation (per output channel zero points and scales are per GEMM
// column), and the OS x Mg result is transposed into NCHW.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/qgemm.h"
#include "ops/nn_util.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

int32_t byte_value(const void* p, DType t, size_t i) {
  return t == DType::s8 ? int32_t(static_cast<const int8_t*>(p)[i])
                        : int32_t(static_cast<const uint8_t*>(p)[i]);
}

size_t round64(size_t n) { return (n + 63) / 64 * 64; }

class QConvKernel final : public OpKernel {
 public:
  Status init(const OpInit& init, bool qlinear) {
    qlinear_ = qlinear;
    ix_ = 0;
    iw_ = qlinear ? 3 : 1;
    ixz_ = qlinear ? 2 : 2;
    iwz_ = qlinear ? 5 : 3;
    const TensorDesc& x = init.inputs[ix_];
    const TensorDesc& w = init.inputs[iw_];
    const TensorDesc& y = init.outputs[0];
    const size_t rank = x.dims.size();
    if (rank < 3 || rank > 5 || w.dims.size() != rank || y.dims.size() != rank)
      return op_error(init, "x " + dims_str(x.dims) + ", w " + dims_str(w.dims) + " and y " +
                                dims_str(y.dims) + " must all be rank 3 to 5");
    n_ = size_t(x.dims[0]);
    c_ = size_t(x.dims[1]);
    m_ = size_t(w.dims[0]);
    g_ = size_t(init.attrs.get_int("group", 1));
    if (g_ < 1 || c_ % g_ || m_ % g_ || size_t(w.dims[1]) * g_ != c_)
      return op_error(init, "group " + std::to_string(g_) + " must divide C and M, with w dim 1 = C/group; got x " +
                                dims_str(x.dims) + ", w " + dims_str(w.dims));
    cg_ = c_ / g_;
    mg_ = m_ / g_;
    std::vector<int64_t> in_sp(x.dims.begin() + 2, x.dims.end());
    std::vector<int64_t> k_sp(w.dims.begin() + 2, w.dims.end());
    std::vector<int64_t> out_sp(y.dims.begin() + 2, y.dims.end());
    Status s = make_spatial_geom(init, in_sp, k_sp, out_sp, false, &geo_);
    if (!s.is_ok()) return s;
    is_ = geo_.in_size();
    os_ = geo_.out_size();
    kg_ = cg_ * geo_.k_size();
    x_type_ = x.dtype;
    w_type_ = w.dtype;
    if (present(init, ixz_) && init.inputs[ixz_].count() != 1)
      return op_error(init, "x_zero_point must be a single value, got " + dims_str(init.inputs[ixz_].dims));
    if (present(init, iwz_)) {
      nwz_ = init.inputs[iwz_].count();
      if (nwz_ != 1 && nwz_ != m_)
        return op_error(init, "w_zero_point must have 1 or M=" + std::to_string(m_) + " values");
    }
    if (qlinear) {
      if (init.inputs[1].count() != 1 || init.inputs[6].count() != 1)
        return op_error(init, "x_scale and y_scale must be single values");
      nws_ = init.inputs[4].count();
      if (nws_ != 1 && nws_ != m_)
        return op_error(init, "w_scale must have 1 or M values, got " + dims_str(init.inputs[4].dims));
      out_signed_ = init.outputs[0].dtype == DType::s8;
      if (init.inputs[7].dtype != init.outputs[0].dtype)
        return op_error(init, "y_zero_point dtype must equal the output's");
      if (present(init, 8) && (init.inputs[8].dtype != DType::s32 || init.inputs[8].count() != m_))
        return op_error(init, "B must be int32 with M values");
    } else if (init.outputs[0].dtype != DType::s32) {
      return op_error(init, "output must be int32");
    }
    pointwise_ = geo_.k_size() == 1 && !geo_.has_pads() && geo_.s[0] == 1 && geo_.s[1] == 1 &&
                 geo_.s[2] == 1;
    const void* wc = constant(init, iw_);
    if (wc && (!present(init, iwz_) || constant(init, iwz_))) {
      s = pack_all(wc, present(init, iwz_) ? constant(init, iwz_) : nullptr, &packed_);
      if (!s.is_ok()) return op_error(init, s.message);
    }
    return Status::ok();
  }

  size_t scratch_bytes() const override {
    return round64(os_ * kg_) + round64(os_ * mg_ * 4);
  }
  void set_scratch(void* s) override { scratch_ = static_cast<uint8_t*>(s); }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const uint8_t* x = static_cast<const uint8_t*>(in[ix_]);
    const void* xzp = in.size() > ixz_ ? in[ixz_] : nullptr;
    const int32_t zx = xzp ? byte_value(xzp, x_type_, 0) : 0;
    std::vector<QGemmPackedB> local;
    const std::vector<QGemmPackedB>* packed = &packed_;
    if (packed_.empty()) {
      Status s = pack_all(in[iw_], in.size() > iwz_ ? in[iwz_] : nullptr, &local);
      if (!s.is_ok()) return s;
      packed = &local;
    }
    std::vector<float> rq;
    const int32_t* bias = nullptr;
    int32_t zy = 0;
    if (qlinear_) {
      const float sx = *static_cast<const float*>(in[1]);
      const float* sw = static_cast<const float*>(in[4]);
      const float sy = *static_cast<const float*>(in[6]);
      rq.resize(nws_);
      for (size_t j = 0; j < nws_; ++j) rq[j] = (sx * sw[j]) / sy;
      zy = byte_value(in[7], out_signed_ ? DType::s8 : DType::u8, 0);
      bias = in.size() > 8 ? static_cast<const int32_t*>(in[8]) : nullptr;
    }
    uint8_t* cols = scratch_;
    uint8_t* tmp = scratch_ + round64(os_ * kg_);
    const size_t esize = qlinear_ ? 1 : 4;
    uint8_t* y = static_cast<uint8_t*>(out[0]);
    for (size_t n = 0; n < n_; ++n) {
      for (size_t g = 0; g < g_; ++g) {
        im2col(x + (n * c_ + g * cg_) * is_, uint8_t(zx), cols);
        QGemmA a;
        a.data = cols;
        a.is_signed = x_type_ == DType::s8;
        a.m = os_;
        a.k = kg_;
        a.zero_point = zx;
        QGemmOutput o;
        o.data = tmp;
        if (qlinear_) {
          o.kind = out_signed_ ? QGemmOutputKind::int8 : QGemmOutputKind::uint8;
          o.requant_mode = RequantMode::float_scale;
          o.requant_scales = nws_ == 1 ? rq.data() : rq.data() + g * mg_;
          o.num_requant = nws_ == 1 ? 1 : mg_;
          o.bias_i32 = bias ? bias + g * mg_ : nullptr;
          o.out_zero_point = zy;
          o.qmin = out_signed_ ? -128 : 0;
          o.qmax = out_signed_ ? 127 : 255;
        } else {
          o.kind = QGemmOutputKind::int32;
        }
        Status s = qgemm(a, (*packed)[g], o);
        if (!s.is_ok()) return s;
        // OS x Mg -> Mg planes of OS.
        uint8_t* yg = y + (n * m_ + g * mg_) * os_ * esize;
        if (esize == 1) {
          for (size_t j = 0; j < mg_; ++j)
            for (size_t p = 0; p < os_; ++p) yg[j * os_ + p] = tmp[p * mg_ + j];
        } else {
          const int32_t* t32 = reinterpret_cast<const int32_t*>(tmp);
          int32_t* y32 = reinterpret_cast<int32_t*>(yg);
          for (size_t j = 0; j < mg_; ++j)
            for (size_t p = 0; p < os_; ++p) y32[j * os_ + p] = t32[p * mg_ + j];
        }
      }
    }
    return Status::ok();
  }

 private:
  Status pack_all(const void* w, const void* wzp, std::vector<QGemmPackedB>* out) const {
    out->resize(g_);
    for (size_t g = 0; g < g_; ++g) {
      std::vector<int32_t> zps;
      if (wzp) {
        const size_t cnt = nwz_ == 1 ? 1 : mg_;
        for (size_t j = 0; j < cnt; ++j)
          zps.push_back(byte_value(wzp, w_type_, nwz_ == 1 ? 0 : g * mg_ + j));
      }
      QGemmB b;
      b.data = static_cast<const uint8_t*>(w) + g * mg_ * kg_;
      b.is_signed = w_type_ == DType::s8;
      b.k = kg_;
      b.n = mg_;
      b.transposed = true;
      b.zero_points = zps.empty() ? nullptr : zps.data();
      b.num_zero_points = zps.size();
      Status s = qgemm_pack_b(*active_kernels().qgemm, b, &(*out)[g]);
      if (!s.is_ok()) return s;
    }
    return Status::ok();
  }

  // Rows of the patch matrix: row p holds the Kg taps of output pixel p.
  void im2col(const uint8_t* xg, uint8_t pad, uint8_t* cols) const {
    const SpatialGeom& G = geo_;
    const size_t tasks = std::min<size_t>(get_num_threads(), os_ * kg_ > (1u << 16) ? os_ : 1);
    auto body = [&](size_t t) {
      for (size_t p = t * os_ / tasks, e = (t + 1) * os_ / tasks; p < e; ++p) {
        uint8_t* row = cols + p * kg_;
        if (pointwise_) {
          for (size_t c = 0; c < cg_; ++c) row[c] = xg[c * is_ + p];
          continue;
        }
        const int64_t ox = int64_t(p) % G.out[2], r = int64_t(p) / G.out[2];
        const int64_t oy = r % G.out[1], od = r / G.out[1];
        size_t q = 0;
        for (size_t c = 0; c < cg_; ++c) {
          const uint8_t* xc = xg + c * is_;
          for (int64_t kd = 0; kd < G.k[0]; ++kd) {
            const int64_t iz = od * G.s[0] - G.pb[0] + kd * G.d[0];
            for (int64_t ky = 0; ky < G.k[1]; ++ky) {
              const int64_t iy = oy * G.s[1] - G.pb[1] + ky * G.d[1];
              const bool row_ok = iz >= 0 && iz < G.in[0] && iy >= 0 && iy < G.in[1];
              const uint8_t* xr = xc + (iz * G.in[1] + iy) * G.in[2];
              for (int64_t kx = 0; kx < G.k[2]; ++kx, ++q) {
                const int64_t ix = ox * G.s[2] - G.pb[2] + kx * G.d[2];
                row[q] = row_ok && ix >= 0 && ix < G.in[2] ? xr[ix] : pad;
              }
            }
          }
        }
      }
    };
    if (tasks <= 1)
      body(0);
    else
      parallel_for(tasks, body);
  }

  bool qlinear_ = false, out_signed_ = false, pointwise_ = false;
  size_t ix_ = 0, iw_ = 1, ixz_ = 2, iwz_ = 3, nwz_ = 0, nws_ = 1;
  size_t n_ = 0, c_ = 0, m_ = 0, g_ = 1, cg_ = 0, mg_ = 0, is_ = 0, os_ = 0, kg_ = 0;
  DType x_type_ = DType::u8, w_type_ = DType::u8;
  SpatialGeom geo_;
  std::vector<QGemmPackedB> packed_;
  uint8_t* scratch_ = nullptr;
};

Status check_bytes(const OpInit& init, size_t i, const char* name) {
  return check_input_dtype2(init, i, name, DType::u8, DType::s8);
}

}  // namespace

Status create_conv_integer(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 4, 1);
  if (s.is_ok()) s = check_bytes(init, 0, "x");
  if (s.is_ok()) s = check_bytes(init, 1, "w");
  if (s.is_ok() && present(init, 2)) s = check_bytes(init, 2, "x_zero_point");
  if (s.is_ok() && present(init, 3)) s = check_bytes(init, 3, "w_zero_point");
  if (!s.is_ok()) return s;
  auto k = std::make_unique<QConvKernel>();
  s = k->init(init, false);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

Status create_qlinear_conv(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 8, 9, 1);
  if (s.is_ok()) s = check_bytes(init, 0, "x");
  if (s.is_ok()) s = check_input_dtype(init, 1, "x_scale", DType::f32);
  if (s.is_ok()) s = check_bytes(init, 2, "x_zero_point");
  if (s.is_ok()) s = check_bytes(init, 3, "w");
  if (s.is_ok()) s = check_input_dtype(init, 4, "w_scale", DType::f32);
  if (s.is_ok()) s = check_bytes(init, 5, "w_zero_point");
  if (s.is_ok()) s = check_input_dtype(init, 6, "y_scale", DType::f32);
  if (s.is_ok()) s = check_bytes(init, 7, "y_zero_point");
  if (!s.is_ok()) return s;
  auto k = std::make_unique<QConvKernel>();
  s = k->init(init, true);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
