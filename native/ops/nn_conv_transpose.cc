// ConvTranspose (float32, NCHW, 1-3 spatial dims, groups, dilations, output_padding,
// output_shape / auto_pad). Per image and group: cols^T [IS x Mg*kk] = X_g^T [IS x Cg] *
// W_g [Cg x Mg*kk] on the sgemm driver (W packed once), then col2im scatters each column
// block into the output, which starts as the bias.
#include <algorithm>
#include <cstring>

#include "kernels/sgemm.h"
#include "ops/nn_util.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

size_t round16(size_t n) { return (n + 15) / 16 * 16; }

class ConvTransposeKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    const TensorDesc& x = init.inputs[0];
    const TensorDesc& w = init.inputs[1];
    const TensorDesc& y = init.outputs[0];
    const size_t rank = x.dims.size();
    if (rank < 3 || rank > 5 || w.dims.size() != rank || y.dims.size() != rank)
      return op_error(init, "X " + dims_str(x.dims) + ", W " + dims_str(w.dims) + " and Y " +
                                dims_str(y.dims) + " must all be rank 3 to 5");
    const size_t nsp = rank - 2;
    n_ = size_t(x.dims[0]);
    c_ = size_t(x.dims[1]);
    g_ = size_t(init.attrs.get_int("group", 1));
    if (g_ < 1 || size_t(w.dims[0]) != c_ || c_ % g_)
      return op_error(init, "W " + dims_str(w.dims) + " must be [C, M/group, k...] with C=" +
                                std::to_string(c_) + " divisible by group " + std::to_string(g_));
    cg_ = c_ / g_;
    mg_ = size_t(w.dims[1]);
    m_ = mg_ * g_;
    if (size_t(y.dims[0]) != n_ || size_t(y.dims[1]) != m_)
      return op_error(init, "Y " + dims_str(y.dims) + " must be [N, M=" + std::to_string(m_) + ", ...]");
    const auto strides = init.attrs.get_ints("strides", std::vector<int64_t>(nsp, 1));
    const auto dil = init.attrs.get_ints("dilations", std::vector<int64_t>(nsp, 1));
    const auto pads = init.attrs.get_ints("pads", std::vector<int64_t>(2 * nsp, 0));
    const auto outpad = init.attrs.get_ints("output_padding", std::vector<int64_t>(nsp, 0));
    const std::string auto_pad = init.attrs.get_string("auto_pad", "NOTSET");
    const bool from_shape = init.attrs.has("output_shape") || auto_pad == "SAME_UPPER" ||
                            auto_pad == "SAME_LOWER";
    if (strides.size() != nsp || dil.size() != nsp || pads.size() != 2 * nsp || outpad.size() != nsp)
      return op_error(init, "strides, dilations, output_padding need " + std::to_string(nsp) +
                                " values and pads " + std::to_string(2 * nsp));
    for (size_t i = 0; i < nsp; ++i) {
      const size_t a = 3 - nsp + i;
      const int64_t in = x.dims[2 + i], k = w.dims[2 + i], out = y.dims[2 + i];
      // Bounded so `full` below cannot overflow int64 (no real model comes near).
      constexpr int64_t kMax = int64_t(1) << 31;
      const auto within = [&](int64_t v, int64_t lo) { return v >= lo && v <= kMax; };
      if (!within(in, 0) || !within(k, 1) || !within(strides[i], 1) || !within(dil[i], 1) || !within(outpad[i], 0) ||
          !within(pads[i], 0) || !within(pads[i + nsp], 0))
        return op_error(init, "axis " + std::to_string(i) + ": needs input dim in [0, 2^31], kernel in [1, 2^31], strides and "
                                  "dilations in [1, 2^31], output_padding and pads in [0, 2^31], got " +
                                  std::to_string(in) + ", " + std::to_string(k) + ", " + std::to_string(strides[i]) + ", " +
                                  std::to_string(dil[i]) + ", " + std::to_string(outpad[i]) + " and pads " + dims_str(pads));
      const int64_t full = strides[i] * (in - 1) + outpad[i] + (k - 1) * dil[i] + 1;
      int64_t pb, pe;
      if (from_shape) {
        // Floor division as the ONNX reference does: an output_shape past the full
        // result gives a negative end pad (extra outputs that only get the bias).
        const int64_t total = full - out;
        const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
        if (auto_pad == "SAME_UPPER") {
          pb = half;
          pe = total - half;
        } else {
          pb = total - half;
          pe = half;
        }
      } else if (auto_pad == "VALID") {
        pb = pe = 0;
      } else {
        pb = pads[i];
        pe = pads[i + nsp];
      }
      if (full - pb - pe != out)
        return op_error(init, "output spatial dims of Y " + dims_str(y.dims) +
                                  " do not match the geometry (axis " + std::to_string(i) +
                                  " should be " + std::to_string(full - pb - pe) + ")");
      in_[a] = in;
      k_[a] = k;
      out_[a] = out;
      s_[a] = strides[i];
      d_[a] = dil[i];
      pb_[a] = pb;
    }
    is_ = size_t(in_[0] * in_[1] * in_[2]);
    os_ = size_t(out_[0] * out_[1] * out_[2]);
    kk_ = size_t(k_[0] * k_[1] * k_[2]);
    if (const void* wc = constant(init, 1)) {
      packed_.resize(g_);
      for (size_t g = 0; g < g_; ++g) {
        Status s = sgemm_pack_b(*active_kernels().sgemm,
                                static_cast<const float*>(wc) + g * cg_ * mg_ * kk_, cg_,
                                mg_ * kk_, 0, false, &packed_[g]);
        if (!s.is_ok()) return op_error(init, s.message);
      }
    }
    return Status::ok();
  }

  size_t scratch_bytes() const override {
    return (round16(is_ * cg_) + round16(is_ * mg_ * kk_)) * sizeof(float);
  }
  void set_scratch(void* s) override { scratch_ = static_cast<float*>(s); }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    const float* w = static_cast<const float*>(in[1]);
    const float* bias = in.size() > 2 ? static_cast<const float*>(in[2]) : nullptr;
    float* y = static_cast<float*>(out[0]);
    float* xt = scratch_;
    float* cols = scratch_ + round16(is_ * cg_);
    const size_t ncols = mg_ * kk_;
    for (size_t n = 0; n < n_; ++n) {
      for (size_t g = 0; g < g_; ++g) {
        const float* xg = x + (n * c_ + g * cg_) * is_;
        for (size_t c = 0; c < cg_; ++c)
          for (size_t p = 0; p < is_; ++p) xt[p * cg_ + c] = xg[c * is_ + p];
        const SGemmEpilogue e;
        Status s = packed_.empty()
                       ? sgemm_unpacked(xt, is_, cg_, 0, w + g * cg_ * ncols, ncols, 0, false, cols, 0, e)
                       : sgemm(xt, is_, 0, packed_[g], cols, 0, e);
        if (!s.is_ok()) return s;
        float* yg = y + (n * m_ + g * mg_) * os_;
        auto body = [&](size_t m) {
          float* ym = yg + m * os_;
          const float b = bias ? bias[g * mg_ + m] : 0.f;
          for (size_t o = 0; o < os_; ++o) ym[o] = b;
          for (int64_t iz = 0; iz < in_[0]; ++iz)
            for (int64_t iy = 0; iy < in_[1]; ++iy)
              for (int64_t ix = 0; ix < in_[2]; ++ix) {
                const float* cr = cols + size_t((iz * in_[1] + iy) * in_[2] + ix) * ncols + m * kk_;
                size_t t = 0;
                for (int64_t kz = 0; kz < k_[0]; ++kz) {
                  const int64_t oz = iz * s_[0] - pb_[0] + kz * d_[0];
                  for (int64_t ky = 0; ky < k_[1]; ++ky) {
                    const int64_t oy = iy * s_[1] - pb_[1] + ky * d_[1];
                    const bool ok = oz >= 0 && oz < out_[0] && oy >= 0 && oy < out_[1];
                    for (int64_t kx = 0; kx < k_[2]; ++kx, ++t) {
                      const int64_t ox = ix * s_[2] - pb_[2] + kx * d_[2];
                      if (ok && ox >= 0 && ox < out_[2])
                        ym[(oz * out_[1] + oy) * out_[2] + ox] += cr[t];
                    }
                  }
                }
              }
        };
        if (mg_ > 1 && mg_ * is_ * kk_ > (size_t(1) << 15))
          parallel_for(mg_, body);
        else
          for (size_t m = 0; m < mg_; ++m) body(m);
      }
    }
    return Status::ok();
  }

 private:
  size_t n_ = 0, c_ = 0, m_ = 0, g_ = 1, cg_ = 0, mg_ = 0, is_ = 0, os_ = 0, kk_ = 0;
  int64_t in_[3] = {1, 1, 1}, k_[3] = {1, 1, 1}, out_[3] = {1, 1, 1}, s_[3] = {1, 1, 1},
          d_[3] = {1, 1, 1}, pb_[3] = {0, 0, 0};
  std::vector<SGemmPackedB> packed_;
  float* scratch_ = nullptr;
};

}  // namespace

Status create_conv_transpose(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 3, 1);
  if (!s.is_ok()) return s;
  for (size_t i = 0; i < init.inputs.size(); ++i) {
    if (i == 2 && !present(init, 2)) continue;
    s = check_input_dtype(init, i, i == 0 ? "X" : i == 1 ? "W" : "B", DType::f32);
    if (!s.is_ok()) return s;
  }
  s = check_output_dtype(init, 0, "Y", DType::f32);  // the kernel writes floats
  if (!s.is_ok()) return s;
  auto k = std::make_unique<ConvTransposeKernel>();
  s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
