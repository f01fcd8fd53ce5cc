// Quantization parameters computed inside a training step, for quantization-aware training:
// ChannelRange reduces a tensor to [min, max] per channel (or per tensor), QParamsFromRange
// turns ranges into scale and zero point exactly as lib/quant/qparams.ts does (the same
// arithmetic convertQat later applies), so the model trains against the rounding it will get.
#include <cmath>
#include <limits>

#include "ops/families.h"
#include "ops/nn_util.h"

namespace nq::ops {
namespace {

// ChannelRange(X) -> range: [C, 2] (min, max) along `axis`, or [2] when axis is absent/-1000.
// NaNs are ignored; a channel without finite values gets [0, 0].
class ChannelRangeKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    const auto& d = init.inputs[0].dims;
    const int64_t raw = init.attrs.get_int("axis", -1000);
    per_tensor_ = raw == -1000;
    outer_ = channels_ = inner_ = 1;
    if (!per_tensor_) {
      const int64_t rank = int64_t(d.size());
      const int64_t axis = raw < 0 ? raw + rank : raw;
      if (axis < 0 || axis >= rank) return op_error(init, "axis " + std::to_string(raw) + " is out of range for " + dims_str(d));
      for (int64_t i = 0; i < axis; ++i) outer_ *= size_t(d[size_t(i)]);
      channels_ = size_t(d[size_t(axis)]);
      for (size_t i = size_t(axis) + 1; i < d.size(); ++i) inner_ *= size_t(d[i]);
    } else {
      inner_ = init.inputs[0].count();
    }
    return check_output_count(init, 0, "range", DType::f32, channels_ * 2, true);
  }
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    float* r = static_cast<float*>(out[0]);
    for (size_t c = 0; c < channels_; ++c) {
      float lo = std::numeric_limits<float>::infinity(), hi = -lo;
      for (size_t o = 0; o < outer_; ++o) {
        const float* p = x + (o * channels_ + c) * inner_;
        for (size_t i = 0; i < inner_; ++i) {
          const float v = p[i];
          lo = v < lo ? v : lo;  // comparisons are false for NaN: it never wins
          hi = v > hi ? v : hi;
        }
      }
      if (lo > hi) lo = hi = 0.f;
      r[2 * c] = lo;
      r[2 * c + 1] = hi;
    }
    return Status::ok();
  }

 private:
  bool per_tensor_ = true;
  size_t outer_ = 1, channels_ = 1, inner_ = 1;
};

// QParamsFromRange(range [.., 2]) -> (scale, zero_point) float32, one per range row. Attributes
// qmin, qmax, symmetric. An uninitialized range (min > max) gives scale 1 and the default zero point.
class QParamsFromRangeKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    rows_ = init.inputs[0].count() / 2;
    if (init.inputs[0].count() % 2 != 0 || init.inputs[0].dims.empty() || init.inputs[0].dims.back() != 2)
      return op_error(init, "range " + dims_str(init.inputs[0].dims) + " must end in a dim of 2 (min, max)");
    Status s = check_output_count(init, 0, "scale", DType::f32, rows_, true);
    if (s.is_ok()) s = check_output_count(init, 1, "zero_point", DType::f32, rows_, false);
    if (!s.is_ok()) return s;
    qmin_ = double(init.attrs.get_int("qmin", 0));
    qmax_ = double(init.attrs.get_int("qmax", 255));
    symmetric_ = init.attrs.get_int("symmetric", 0) != 0;
    if (!(qmax_ > qmin_)) return op_error(init, "qmax must exceed qmin");
    return Status::ok();
  }
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* r = static_cast<const float*>(in[0]);
    float* scale = static_cast<float*>(out[0]);
    float* zp = out.size() > 1 ? static_cast<float*>(out[1]) : nullptr;
    const double middle = (qmin_ + qmax_) / 2;
    for (size_t i = 0; i < rows_; ++i) {
      double rmin = r[2 * i], rmax = r[2 * i + 1];
      double s = 1, z = symmetric_ ? middle : 0;
      if (rmin <= rmax && std::isfinite(rmin) && std::isfinite(rmax)) {
        rmin = std::min(rmin, 0.0);
        rmax = std::max(rmax, 0.0);
        if (symmetric_) {
          const double absmax = std::max(-rmin, rmax);
          rmin = -absmax;
          rmax = absmax;
        }
        const float fs = float((rmax - rmin) / (qmax_ - qmin_));
        if (fs >= std::numeric_limits<float>::min()) {
          s = fs;
          // Ties to even, as the TypeScript roundHalfToEven (default rounding mode).
          z = symmetric_ ? middle : std::min(qmax_, std::max(qmin_, std::nearbyint(qmin_ - rmin / double(fs))));
        }
      }
      scale[i] = float(s);
      if (zp) zp[i] = float(z);
    }
    return Status::ok();
  }

 private:
  size_t rows_ = 1;
  double qmin_ = 0, qmax_ = 255;
  bool symmetric_ = false;
};

template <typename K>
Status make(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  if (init.inputs.empty() || init.outputs.empty()) return op_error(init, "expects one input and at least one output");
  // An omitted input has scalar dims and no buffer: the kernels would read through nullptr.
  if (Status s = check_input_dtype(init, 0, "input", DType::f32); !s.is_ok()) return s;
  auto k = std::make_unique<K>();
  Status s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

const OpRegistration kQatOps[] = {
    {"com.nquant.train", "ChannelRange", make<ChannelRangeKernel>, "float32"},
    {"com.nquant.train", "QParamsFromRange", make<QParamsFromRangeKernel>, "float32"},
};

}  // namespace

OpTable qat_ops() { return {kQatOps, sizeof(kQatOps) / sizeof(kQatOps[0])}; }

}  // namespace nq::ops
