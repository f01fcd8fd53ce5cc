// Pad (constant, reflect, edge, wrap; negative pads crop). The output is walked row by row
// (all dims but the last): each output row maps to one input row (or to the fill value), and
// within the row the unpadded middle is one memcpy.
#include <algorithm>

#include "ops/tensor_common.h"
#include "kernels/quantize.h"

namespace nq::ops {
namespace {

enum class PadMode { constant, reflect, edge, wrap };

// Maps an out-of-range source index into [0, n) for the non-constant modes.
inline int64_t map_index(int64_t i, int64_t n, PadMode m) {
  if (i >= 0 && i < n) return i;
  switch (m) {
    case PadMode::edge: return i < 0 ? 0 : n - 1;
    case PadMode::wrap: { const int64_t r = i % n; return r < 0 ? r + n : r; }
    case PadMode::reflect: {
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      int64_t r = i % period;
      if (r < 0) r += period;
      return r < n ? r : period - r;
    }
    default: return -1;
  }
}

void value_bytes(DType t, double v, uint8_t* out) {
  switch (t) {
    case DType::f32: { const float f = static_cast<float>(v); std::memcpy(out, &f, 4); return; }
    case DType::f64: std::memcpy(out, &v, 8); return;
    case DType::f16: { const uint16_t h = quant_rules::f32_to_f16(static_cast<float>(v)); std::memcpy(out, &h, 2); return; }
    case DType::s8: { const int8_t x = static_cast<int8_t>(v); std::memcpy(out, &x, 1); return; }
    case DType::u8: case DType::boolean: { const uint8_t x = static_cast<uint8_t>(v); std::memcpy(out, &x, 1); return; }
    case DType::s16: { const int16_t x = static_cast<int16_t>(v); std::memcpy(out, &x, 2); return; }
    case DType::u16: { const uint16_t x = static_cast<uint16_t>(v); std::memcpy(out, &x, 2); return; }
    case DType::s32: { const int32_t x = static_cast<int32_t>(v); std::memcpy(out, &x, 4); return; }
    case DType::u32: { const uint32_t x = static_cast<uint32_t>(v); std::memcpy(out, &x, 4); return; }
    case DType::s64: { const int64_t x = static_cast<int64_t>(v); std::memcpy(out, &x, 8); return; }
    case DType::u64: { const uint64_t x = static_cast<uint64_t>(v); std::memcpy(out, &x, 8); return; }
  }
}

class PadKernel final : public OpKernel {
 public:
  PadKernel(DType t, Dims in_dims, Dims out_dims, PadMode mode, IntInput pads, IntInput axes,
            double value, int value_input)
      : t_(t), es_(dtype_size(t)), in_dims_(std::move(in_dims)), out_dims_(std::move(out_dims)), mode_(mode),
        pads_(std::move(pads)), axes_(std::move(axes)), value_(value), value_input_(value_input) {}

  // Per-dim begin pads from the pads list (and axes, opset 18). Empty string when consistent.
  std::string begins(const std::vector<int64_t>& pads, const std::vector<int64_t>& axes_in, Dims* b) const {
    const int64_t rank = static_cast<int64_t>(in_dims_.size());
    std::vector<int64_t> axes;
    if (axes_in.empty()) {
      for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
    } else if (!normalize_axes(axes_in, rank, &axes)) {
      return "axes " + dims_str(axes_in) + " out of range";
    }
    if (pads.size() != 2 * axes.size())
      return "pads " + dims_str(pads) + " must hold 2 values per padded axis (" + std::to_string(axes.size()) + ")";
    b->assign(in_dims_.size(), 0);
    const size_t k = axes.size();
    for (size_t i = 0; i < k; ++i) {
      const size_t a = static_cast<size_t>(axes[i]);
      (*b)[a] = pads[i];
      // Each |pad| within 2^62 keeps the sum below inside int64 (dims are below 2^48).
      constexpr int64_t kMaxPad = int64_t(1) << 62;
      if (pads[i] > kMaxPad || pads[i] < -kMaxPad || pads[i + k] > kMaxPad || pads[i + k] < -kMaxPad)
        return "pads " + dims_str(pads) + " must each lie within +-2^62";
      if (in_dims_[a] + pads[i] + pads[i + k] != out_dims_[a])
        return "pads " + dims_str(pads) + " turn " + dims_str(in_dims_) + " into other dims than the output " +
               dims_str(out_dims_);
    }
    for (size_t a = 0; a < in_dims_.size(); ++a)
      if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(a)) == axes.end() && in_dims_[a] != out_dims_[a])
        return "output dims " + dims_str(out_dims_) + " differ from the input on an unpadded axis";
    if (mode_ != PadMode::constant)
      for (size_t a = 0; a < in_dims_.size(); ++a)
        if (in_dims_[a] == 0 && out_dims_[a] > 0) return "reflect/edge/wrap need a non-empty input on padded axes";
    return "";
  }

  Status prepare(const OpInit& init) {
    if (pads_.known && axes_.known) {
      const std::string e = begins(pads_.values, axes_.values, &begin_);
      if (!e.empty()) return op_error(init, e);
    }
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    Dims b = begin_;
    if (!pads_.known || !axes_.known) {
      const std::string e = begins(pads_.get(in), axes_.get(in), &b);
      if (!e.empty()) return Status::invalid("Pad: " + e);
    }
    uint8_t fill[8] = {0};
    if (value_input_ >= 0 && in[static_cast<size_t>(value_input_)])
      std::memcpy(fill, in[static_cast<size_t>(value_input_)], es_);
    else
      value_bytes(t_, value_, fill);
    const size_t total = dims_count(out_dims_);
    if (total == 0) return Status::ok();
    const char* src = static_cast<const char*>(in[0]);
    char* dst = static_cast<char*>(out[0]);
    const size_t rank = out_dims_.size();
    if (rank == 0) {
      std::memcpy(dst, src, es_);
      return Status::ok();
    }
    const int64_t inner_out = out_dims_.back(), inner_in = in_dims_.back(), bl = b.back();
    const size_t rows = total / static_cast<size_t>(inner_out);
    const Dims in_str = dense_strides(in_dims_);
    const size_t row_bytes = static_cast<size_t>(inner_out) * es_;
    const size_t grain = std::max<size_t>(1, (size_t{1} << 16) / (row_bytes ? row_bytes : 1));
    parallel_ranges(rows, grain, [&](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; ++r) {
        char* d = dst + r * row_bytes;
        // Source row: map every outer coordinate.
        size_t rem = r;
        int64_t off = 0;
        bool inside = true;
        for (size_t k = rank - 1; k-- > 0;) {
          const int64_t o = static_cast<int64_t>(rem % static_cast<size_t>(out_dims_[k]));
          rem /= static_cast<size_t>(out_dims_[k]);
          int64_t s = o - b[k];
          if (s < 0 || s >= in_dims_[k]) {
            if (mode_ == PadMode::constant) { inside = false; break; }
            s = map_index(s, in_dims_[k], mode_);
          }
          off += s * in_str[k];
        }
        if (!inside) {
          fill_run(d, static_cast<size_t>(inner_out), fill);
          continue;
        }
        const char* srow = src + off * static_cast<int64_t>(es_);
        // Middle: output columns j whose source j - bl is inside [0, inner_in).
        const int64_t j0 = std::max<int64_t>(0, bl), j1 = std::min<int64_t>(inner_out, bl + inner_in);
        if (j1 > j0) std::memcpy(d + j0 * static_cast<int64_t>(es_), srow + (j0 - bl) * static_cast<int64_t>(es_),
                                 static_cast<size_t>(j1 - j0) * es_);
        for (int64_t j = 0; j < inner_out; ++j) {
          if (j >= j0 && j < j1) { j = j1 - 1; continue; }
          char* dj = d + j * static_cast<int64_t>(es_);
          if (mode_ == PadMode::constant) std::memcpy(dj, fill, es_);
          else std::memcpy(dj, srow + map_index(j - bl, inner_in, mode_) * static_cast<int64_t>(es_), es_);
        }
      }
    });
    return Status::ok();
  }

 private:
  void fill_run(char* d, size_t n, const uint8_t* fill) const {
    for (size_t i = 0; i < n; ++i) std::memcpy(d + i * es_, fill, es_);
  }

  DType t_;
  size_t es_;
  Dims in_dims_, out_dims_;
  PadMode mode_;
  IntInput pads_, axes_;
  double value_;
  int value_input_;
  Dims begin_;
};

}  // namespace

Status make_pad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  const int64_t opset = node_opset(init);
  const bool attrs = opset < 11;
  Status st = check_arity(init, attrs ? 1 : 2, attrs ? 1 : 4, 1, 1);
  if (!st.is_ok()) return st;
  const TensorDesc& x = init.inputs[0];
  const TensorDesc& y = init.outputs[0];
  if (y.dtype != x.dtype || y.dims.size() != x.dims.size())
    return op_error(init, "output must have the dtype and rank of " + describe_input(init, 0));
  const std::string m = init.attrs.get_string("mode", "constant");
  PadMode mode;
  if (m == "constant") mode = PadMode::constant;
  else if (m == "reflect") mode = PadMode::reflect;
  else if (m == "edge") mode = PadMode::edge;
  else if (m == "wrap") mode = PadMode::wrap;
  else return op_error(init, "mode must be constant, reflect, edge or wrap, got '" + m + "'");
  IntInput pads, axes;
  double value = 0;
  int value_input = -1;
  if (attrs) {
    pads.values = init.attrs.get_ints(init.attrs.has("pads") ? "pads" : "paddings");
    value = init.attrs.get_float("value", 0.0);
  } else {
    st = prepare_int_input(init, 1, "pads", &pads);
    if (!st.is_ok()) return st;
    st = prepare_int_input(init, 3, "axes", &axes);
    if (!st.is_ok()) return st;
    if (has_input(init, 2)) {
      const TensorDesc& v = init.inputs[2];
      if (v.dtype != x.dtype || v.count() != 1)
        return op_error(init, "constant_value " + describe_input(init, 2) + " must be a scalar of the data dtype");
      value_input = 2;
    }
  }
  auto k = std::make_unique<PadKernel>(x.dtype, x.dims, y.dims, mode, std::move(pads), std::move(axes), value,
                                       value_input);
  st = k->prepare(init);
  if (!st.is_ok()) return st;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
