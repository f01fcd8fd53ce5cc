// com.microsoft QLinearConcat: Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per
// input; each input is requantized to Y's parameters through a 256-entry table (dequantize,
// then onnxruntime's QuantizeLinear rounding), or copied when its scale and zero point equal
// Y's exactly, as onnxruntime does. Tables of constant parameters are built once.
#include <algorithm>
#include <cstring>

#include "ops/nn_util.h"
#include "ops/quant_contrib.h"
#include "ops/shape_util.h"

namespace nq::ops {
namespace {

const QParamInputs kY{0, 1, "Y_scale", "Y_zero_point"};

QParamInputs x_params(size_t i) { return QParamInputs{3 * i + 3, 3 * i + 4, "X_scale", "X_zero_point"}; }

class QConcatKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    const size_t n_in = init.inputs.size();
    if (n_in < 5 || (n_in - 2) % 3 != 0)
      return op_error(init, "expects Y_scale, Y_zero_point and then (X, X_scale, X_zero_point) "
                            "triples, got " + std::to_string(n_in) + " inputs");
    if (init.outputs.empty()) return op_error(init, "expected one output, got none");
    Status s = check_input_dtype2(init, 1, "Y_zero_point", DType::u8, DType::s8);
    if (!s.is_ok()) return s;
    const DType t = init.inputs[1].dtype;
    signed_ = t == DType::s8;
    s = check_qparam_inputs(init, kY, t, true);
    if (!s.is_ok()) return s;
    const TensorDesc& y = init.outputs[0];
    if (y.dtype != t)
      return op_error(init, std::string("output Y must have Y_zero_point's dtype ") + dtype_name(t) +
                                ", got " + dtype_name(y.dtype));
    int64_t axis = 0;
    if (!init.attrs.has("axis") ||
        !normalize_axis(init.attrs.get_int("axis", 0), int64_t(y.dims.size()), &axis))
      return op_error(init, "attribute axis is required and must lie in [-rank, rank) for Y " +
                                dims_str(y.dims) + ", got " +
                                (init.attrs.has("axis") ? std::to_string(init.attrs.get_int("axis", 0))
                                                        : std::string("none")));
    const size_t ax = size_t(axis);
    for (size_t d = 0; d < ax; ++d) outer_ *= size_t(y.dims[d]);
    size_t inner = 1;  // elements per axis step
    for (size_t d = ax + 1; d < y.dims.size(); ++d) inner *= size_t(y.dims[d]);

    const size_t parts = (n_in - 2) / 3;
    const bool y_const = qparams_constant(init, kY);
    const QParams yq = y_const ? constant_qparams(init, kY, signed_) : QParams{};
    int64_t axis_sum = 0;
    parts_.resize(parts);
    for (size_t i = 0; i < parts; ++i) {
      const size_t xi = 3 * i + 2;
      const std::string name = "X" + std::to_string(i);
      s = check_input_dtype(init, xi, name.c_str(), t);
      if (s.is_ok()) s = check_qparam_inputs(init, x_params(i), t, true);
      if (!s.is_ok()) return s;
      const TensorDesc& x = init.inputs[xi];
      bool fits = x.dims.size() == y.dims.size();
      for (size_t d = 0; fits && d < x.dims.size(); ++d) fits = d == ax || x.dims[d] == y.dims[d];
      if (!fits)
        return op_error(init, "input " + name + " " + dims_str(x.dims) + " must match Y " +
                                  dims_str(y.dims) + " outside axis " + std::to_string(axis));
      axis_sum += x.dims[ax];
      Part& p = parts_[i];
      p.block = size_t(x.dims[ax]) * inner;
      p.fixed = y_const && qparams_constant(init, x_params(i));
      if (p.fixed) set_mode(constant_qparams(init, x_params(i), signed_), yq, &p.copy, p.table);
    }
    if (axis_sum != y.dims[ax])
      return op_error(init, "inputs sum to " + std::to_string(axis_sum) + " along axis " +
                                std::to_string(axis) + ", Y " + dims_str(y.dims) + " has " +
                                std::to_string(y.dims[ax]));
    for (Part& p : parts_) {
      p.offset = row_;
      row_ += p.block;
    }
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    std::vector<Part> dynamic;  // parts whose tables depend on this run's parameters
    const std::vector<Part>* parts = &parts_;
    if (std::any_of(parts_.begin(), parts_.end(), [](const Part& p) { return !p.fixed; })) {
      dynamic = parts_;
      const QParams yq = run_qparams(in, kY, signed_);
      for (size_t i = 0; i < dynamic.size(); ++i)
        if (!dynamic[i].fixed) set_mode(run_qparams(in, x_params(i), signed_), yq, &dynamic[i].copy, dynamic[i].table);
      parts = &dynamic;
    }
    uint8_t* y = static_cast<uint8_t*>(out[0]);
    // One work item per (outer index, input) block: a concat along axis 1 of a few images
    // still spreads over the threads.
    const size_t n_parts = parts->size();
    parallel_items(outer_ * n_parts, row_ / std::max<size_t>(n_parts, 1), [&](size_t b, size_t e) {
      for (size_t item = b; item < e; ++item) {
        const size_t o = item / n_parts, i = item % n_parts;
        const Part& p = (*parts)[i];
        uint8_t* d = y + o * row_ + p.offset;
        const uint8_t* x = static_cast<const uint8_t*>(in[3 * i + 2]) + o * p.block;
        if (p.copy) {
          if (p.block) std::memcpy(d, x, p.block);
        } else {
          for (size_t j = 0; j < p.block; ++j) d[j] = p.table[x[j]];
        }
      }
    });
    return Status::ok();
  }

 private:
  struct Part {
    size_t block = 0;    // elements per outer index
    size_t offset = 0;   // where the block starts in a row of Y
    bool fixed = false;  // parameters constant: mode and table decided at creation
    bool copy = false;
    uint8_t table[256] = {};
  };

  // Equal parameters copy (onnxruntime compares the float scales and the zero points exactly).
  void set_mode(QParams x, QParams y, bool* copy, uint8_t* table) const {
    *copy = x.scale == y.scale && x.zero_point == y.zero_point;
    if (!*copy) build_requant_table(x, y, signed_, nullptr, nullptr, table);
  }

  bool signed_ = false;
  size_t outer_ = 1, row_ = 0;
  std::vector<Part> parts_;
};

}  // namespace

Status create_qlinear_concat(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<QConcatKernel>();
  Status s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
