// com.microsoft QLinearGlobalAveragePool and QLinearAveragePool on uint8/int8, NCHW or
// channels_last (NHWC), following onnxruntime's CPU kernels value for value:
//
//   Global (and AveragePool whose kernel covers the whole unpadded image, which onnxruntime
//   sends to the same routine): an exact integer sum, then
//     y = round_half_even(float(sum - x_zp * size) * s) + y_zp,  s = x_scale / (y_scale * size)
//   with s and the product in float, saturated.
//   AveragePool: each tap dequantized in float (x_scale * (x - x_zp)), summed in float in
//   row-major window order, divided by the tap count (the whole kernel size with
//   count_include_pad, even where a ceil_mode window overhangs the padding), then
//     y = round_half_even(avg / y_scale + y_zp)   in float, saturated.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "ops/nn_util.h"
#include "ops/quant_contrib.h"

namespace nq::ops {
namespace {

const QParamInputs kX{1, 2, "x_scale", "x_zero_point"};
const QParamInputs kY{3, 4, "y_scale", "y_zero_point"};
constexpr int kBlock = 16;

// x_scale * (x - x_zp) rounded to float once, as onnxruntime stores it before summing: the
// product is exact in double, and the cast keeps a compiler from fusing it into the sum.
inline float dequant(float scale, int32_t d) {
  return static_cast<float>(static_cast<double>(scale) * static_cast<double>(d));
}

// Image layout of one op: n images of `image` pixels and c channels; NCHW planes are
// contiguous per (n, c), NHWC pixels are contiguous per (n, pixel).
struct Layout {
  size_t n = 0, c = 0, image = 0;
  bool channels_last = false;
};

// The global mean per (n, c) with onnxruntime's integer-sum rounding (see the top).
template <typename T>
void global_average(const T* x, T* y, const Layout& L, QParams xq, QParams yq, bool is_signed) {
  // Wide enough for 2^24 pixels of either type (the onnxruntime limit we enforce).
  using Acc = std::conditional_t<std::is_signed<T>::value, int32_t, uint32_t>;
  const float s = xq.scale / (yq.scale * float(L.image));
  const int64_t bias = -int64_t(xq.zero_point) * int64_t(L.image);
  const QRange r = qrange(is_signed);
  const float lo = float(r.lo - yq.zero_point), hi = float(r.hi - yq.zero_point);
  auto finish = [&](int64_t sum) { return T(round_clamp(float(sum + bias) * s, lo, hi) + yq.zero_point); };
  if (!L.channels_last || L.c == 1) {
    parallel_items(L.n * L.c, L.image, [&](size_t b, size_t e) {
      for (size_t p = b; p < e; ++p) {
        const T* xp = x + p * L.image;
        Acc lanes[kBlock] = {};
        size_t i = 0;
        for (; i + kBlock <= L.image; i += kBlock)
          for (int k = 0; k < kBlock; ++k) lanes[k] += Acc(xp[i + k]);
        int64_t sum = 0;
        for (int k = 0; k < kBlock; ++k) sum += int64_t(lanes[k]);
        for (; i < L.image; ++i) sum += int64_t(xp[i]);
        y[p] = finish(sum);
      }
    });
    return;
  }
  parallel_items(L.n, L.image * L.c, [&](size_t b, size_t e) {
    std::vector<Acc> acc(L.c);
    for (size_t img = b; img < e; ++img) {
      std::fill(acc.begin(), acc.end(), Acc(0));
      const T* xi = x + img * L.image * L.c;
      for (size_t px = 0; px < L.image; ++px) {
        const T* row = xi + px * L.c;
        Acc* a = acc.data();
        size_t c = 0;
        for (; c + kBlock <= L.c; c += kBlock) {
          // Through local blocks: a byte row may alias the sums as far as the compiler knows.
          T u[kBlock];
          Acc v[kBlock];
          for (int k = 0; k < kBlock; ++k) u[k] = row[c + k];
          for (int k = 0; k < kBlock; ++k) v[k] = a[c + k] + Acc(u[k]);
          for (int k = 0; k < kBlock; ++k) a[c + k] = v[k];
        }
        for (; c < L.c; ++c) a[c] += Acc(row[c]);
      }
      for (size_t c = 0; c < L.c; ++c) y[img * L.c + c] = finish(int64_t(acc[c]));
    }
  });
}

Status read_layout(const OpInit& init, bool channels_last, Layout* L) {
  const auto& xd = init.inputs[0].dims;
  if (xd.size() < 3)
    return op_error(init, "X must have rank >= 3 (N, C and spatial dims), got " + dims_str(xd));
  L->channels_last = channels_last;
  L->n = size_t(xd[0]);
  L->c = size_t(channels_last ? xd.back() : xd[1]);
  L->image = 1;
  for (size_t d = channels_last ? 1 : 2, e = d + xd.size() - 2; d < e; ++d) L->image *= size_t(xd[d]);
  return Status::ok();
}

Status check_pool_io(const OpInit& init, bool* is_signed) {
  Status s = check_arity(init, 4, 5, 1);
  if (s.is_ok()) s = check_quant_types(init, 0, "X", is_signed);
  if (!s.is_ok()) return s;
  const DType t = init.inputs[0].dtype;
  s = check_qparam_inputs(init, kX, t, false);
  if (s.is_ok()) s = check_qparam_inputs(init, kY, t, false);
  return s;
}

// Parameters folded at creation when constant, else read per run.
class QPoolBase : public OpKernel {
 protected:
  void init_params(const OpInit& init) {
    folded_ = qparams_constant(init, kX) && qparams_constant(init, kY);
    if (folded_) {
      xq_ = constant_qparams(init, kX, signed_);
      yq_ = constant_qparams(init, kY, signed_);
    }
  }
  void params(const std::vector<const void*>& in, QParams* x, QParams* y) const {
    *x = folded_ ? xq_ : run_qparams(in, kX, signed_);
    *y = folded_ ? yq_ : run_qparams(in, kY, signed_);
  }
  Status check_image(const OpInit& init) const {
    // onnxruntime's integer path refuses images of 2^24 pixels or more (its sums are 32-bit).
    if (layout_.image >= (size_t(1) << 24))
      return op_error(init, "an image of " + std::to_string(layout_.image) +
                                " pixels is beyond the 2^24 the integer mean supports");
    return Status::ok();
  }

  bool signed_ = false, folded_ = false;
  QParams xq_, yq_;
  Layout layout_;
};

class QGlobalPoolKernel final : public QPoolBase {
 public:
  Status init(const OpInit& init) {
    Status s = check_pool_io(init, &signed_);
    if (s.is_ok()) s = read_layout(init, init.attrs.get_int("channels_last", 0) != 0, &layout_);
    if (s.is_ok()) s = check_image(init);
    if (!s.is_ok()) return s;
    std::vector<int64_t> want = init.inputs[0].dims;
    for (size_t d = layout_.channels_last ? 1 : 2, e = d + want.size() - 2; d < e; ++d) want[d] = 1;
    if (init.outputs[0].dims != want)
      return op_error(init, "output Y " + dims_str(init.outputs[0].dims) + " should be " + dims_str(want));
    init_params(init);
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    QParams xq, yq;
    params(in, &xq, &yq);
    if (signed_)
      global_average(static_cast<const int8_t*>(in[0]), static_cast<int8_t*>(out[0]), layout_, xq, yq, true);
    else
      global_average(static_cast<const uint8_t*>(in[0]), static_cast<uint8_t*>(out[0]), layout_, xq, yq, false);
    return Status::ok();
  }
};

class QAvgPoolKernel final : public QPoolBase {
 public:
  Status init(const OpInit& init) {
    Status s = check_pool_io(init, &signed_);
    if (!s.is_ok()) return s;
    const bool cl = init.attrs.get_int("channels_last", 0) != 0;
    s = read_layout(init, cl, &layout_);
    if (!s.is_ok()) return s;
    const auto& xd = init.inputs[0].dims;
    const auto& yd = init.outputs[0].dims;
    if (yd.size() != xd.size())
      return op_error(init, "output Y " + dims_str(yd) + " must have X's rank " + dims_str(xd));
    const size_t sp0 = cl ? 1 : 2, nsp = xd.size() - 2;
    const std::vector<int64_t> in_sp(xd.begin() + sp0, xd.begin() + sp0 + nsp);
    const std::vector<int64_t> out_sp(yd.begin() + sp0, yd.begin() + sp0 + nsp);
    const size_t ci = cl ? xd.size() - 1 : 1;
    if (yd[0] != xd[0] || yd[ci] != xd[ci])
      return op_error(init, "output Y " + dims_str(yd) + " must keep X's N and C " + dims_str(xd));
    const auto kernel = init.attrs.get_ints("kernel_shape");
    if (kernel.size() != nsp)
      return op_error(init, "kernel_shape " + dims_str(kernel) + " must have one value per spatial dim of X " +
                                dims_str(xd));
    const auto dil = init.attrs.get_ints("dilations", std::vector<int64_t>(nsp, 1));
    if (std::any_of(dil.begin(), dil.end(), [](int64_t d) { return d != 1; }))
      return op_error(init, "dilations " + dims_str(dil) + " are not supported (QLinearAveragePool has none)");
    s = make_spatial_geom(init, in_sp, kernel, out_sp, true, &geo_);
    if (!s.is_ok()) return s;
    for (int a = 0; a < 3; ++a)
      if (geo_.pb[a] >= geo_.k[a] || geo_.pe[a] >= geo_.k[a])
        return op_error(init, "pads " + dims_str(init.attrs.get_ints("pads")) + " must each be smaller than kernel_shape " +
                                  dims_str(kernel));
    include_pad_ = init.attrs.get_int("count_include_pad", 0) != 0;
    // onnxruntime takes a window that is the whole unpadded image through its global mean.
    global_ = !geo_.has_pads();
    for (int a = 0; a < 3; ++a) global_ = global_ && geo_.k[a] == geo_.in[a];
    if (global_) {
      s = check_image(init);
      if (!s.is_ok()) return s;
    }
    init_params(init);
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    QParams xq, yq;
    params(in, &xq, &yq);
    if (signed_) dispatch(static_cast<const int8_t*>(in[0]), static_cast<int8_t*>(out[0]), xq, yq);
    else dispatch(static_cast<const uint8_t*>(in[0]), static_cast<uint8_t*>(out[0]), xq, yq);
    return Status::ok();
  }

 private:
  template <typename T>
  void dispatch(const T* x, T* y, QParams xq, QParams yq) const {
    if (global_) {
      global_average(x, y, layout_, xq, yq, signed_);
      return;
    }
    const QRange r = qrange(signed_);
    const OutQuant q{yq.scale, float(yq.zero_point), float(r.lo), float(r.hi)};
    if (layout_.channels_last) pool_nhwc(x, y, xq, q);
    else pool_nchw(x, y, xq, q);
  }

  // Output quantization: avg / y_scale + y_zp in float, then rounded and saturated.
  struct OutQuant {
    float scale, zp, lo, hi;
    int32_t operator()(float avg) const { return round_clamp(avg / scale + zp, lo, hi); }
  };

  // Window [start, end) of one axis for output index o, clipped to the image (onnxruntime's
  // hstart/hend), and its tap count as divided by.
  void window(int a, int64_t o, int64_t* start, int64_t* end) const {
    const int64_t s0 = o * geo_.s[a] - geo_.pb[a];
    *end = std::min(s0 + geo_.k[a], geo_.in[a]);
    *start = std::max<int64_t>(s0, 0);
  }
  int64_t count(const int64_t* s, const int64_t* e) const {
    if (include_pad_) return int64_t(geo_.k_size());
    return (e[0] - s[0]) * (e[1] - s[1]) * (e[2] - s[2]);
  }

  template <typename T>
  void pool_nchw(const T* x, T* y, QParams xq, const OutQuant& q) const {
    float deq[256];  // the same float x_scale * (x - x_zp) per value, looked up
    for (int i = 0; i < 256; ++i) {
      const int32_t v = std::is_signed<T>::value ? int32_t(int8_t(uint8_t(i))) : i;
      deq[i] = dequant(xq.scale, v - xq.zero_point);
    }
    const SpatialGeom& g = geo_;
    const size_t is = g.in_size(), os = g.out_size();
    parallel_items(layout_.n * layout_.c, os * g.k_size(), [&](size_t b, size_t e) {
      for (size_t p = b; p < e; ++p) {
        const T* xp = x + p * is;
        T* yp = y + p * os;
        int64_t st[3], en[3];
        for (int64_t o0 = 0; o0 < g.out[0]; ++o0) {
          window(0, o0, &st[0], &en[0]);
          for (int64_t o1 = 0; o1 < g.out[1]; ++o1) {
            window(1, o1, &st[1], &en[1]);
            for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
              window(2, o2, &st[2], &en[2]);
              float sum = 0.f;
              for (int64_t i0 = st[0]; i0 < en[0]; ++i0)
                for (int64_t i1 = st[1]; i1 < en[1]; ++i1) {
                  const T* row = xp + (i0 * g.in[1] + i1) * g.in[2];
                  for (int64_t i2 = st[2]; i2 < en[2]; ++i2) sum += deq[uint8_t(row[i2])];
                }
              *yp++ = T(q(sum / float(count(st, en))));
            }
          }
        }
      }
    });
  }

  // Channels innermost: each output pixel sums its taps for all channels at once, so the
  // channel loops run in vectorisable blocks (each channel's sum keeps the row-major order).
  template <typename T>
  void pool_nhwc(const T* x, T* y, QParams xq, const OutQuant& q) const {
    const SpatialGeom& g = geo_;
    const size_t C = layout_.c, os = g.out_size();
    const float xs = xq.scale;
    const int32_t xz = xq.zero_point;
    parallel_items(layout_.n * os, C * g.k_size(), [&](size_t b, size_t e) {
      std::vector<float> acc(C);
      for (size_t item = b; item < e; ++item) {
        const size_t img = item / os, o = item % os;
        const int64_t o2 = int64_t(o % size_t(g.out[2]));
        const int64_t o1 = int64_t(o / size_t(g.out[2]) % size_t(g.out[1]));
        const int64_t o0 = int64_t(o / size_t(g.out[2] * g.out[1]));
        int64_t st[3], en[3];
        window(0, o0, &st[0], &en[0]);
        window(1, o1, &st[1], &en[1]);
        window(2, o2, &st[2], &en[2]);
        std::fill(acc.begin(), acc.end(), 0.f);
        float* a = acc.data();
        const T* xi = x + img * g.in_size() * C;
        for (int64_t i0 = st[0]; i0 < en[0]; ++i0)
          for (int64_t i1 = st[1]; i1 < en[1]; ++i1)
            for (int64_t i2 = st[2]; i2 < en[2]; ++i2) {
              const T* px = xi + size_t((i0 * g.in[1] + i1) * g.in[2] + i2) * C;
              size_t c = 0;
              for (; c + kBlock <= C; c += kBlock) {
                T u[kBlock];  // local blocks, as in global_average
                float v[kBlock];
                for (int k = 0; k < kBlock; ++k) u[k] = px[c + k];
                for (int k = 0; k < kBlock; ++k) v[k] = a[c + k] + dequant(xs, int32_t(u[k]) - xz);
                for (int k = 0; k < kBlock; ++k) a[c + k] = v[k];
              }
              for (; c < C; ++c) a[c] += dequant(xs, int32_t(px[c]) - xz);
            }
        const float cnt = float(count(st, en));
        T* yo = y + item * C;
        for (size_t c = 0; c < C; ++c) yo[c] = T(q(a[c] / cnt));
      }
    });
  }

  SpatialGeom geo_;
  bool include_pad_ = false, global_ = false;
};

template <typename K>
Status create(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<K>();
  Status s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace

Status create_qlinear_global_average_pool(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  return create<QGlobalPoolKernel>(init, out);
}
Status create_qlinear_average_pool(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  return create<QAvgPoolKernel>(init, out);
}

}  // namespace nq::ops
