// Pooling gradients (float32, 1-D or 2-D):
//   MaxPoolGrad (dY, X) -> dX: each output's gradient goes to the first maximal element of
//     its window in row-major window order (ties -> first, padding never wins), accumulated
//     where windows overlap. That is the element MaxPool's Indices output names.
//   AveragePoolGrad (dY) -> dX (shape from the output descriptor): each output's gradient is
//     spread equally over the in-bounds elements of its window, divided by the same count
//     AveragePool divides by (count_include_pad=1: taps inside the padded input, so a ceil_mode
//     overhang is not counted; 0: the in-bounds taps).
//   GlobalAveragePoolGrad (dY [N,C,1,(1)]) -> dX [N,C,*] = dY / spatial size.
// Planes (n, c) are independent: they are split over the pool and each owns its dX plane, so
// overlapping windows never race.
#include <cstdint>
#include <cstring>

#include "kernels/col2im.h"
#include "ops/train_ops.h"

namespace nq::ops {
namespace {

// Runs fn(plane) for every plane, over the pool when the work is big enough.
template <typename Fn>
void for_planes(size_t planes, size_t work_per_plane, Fn&& fn) {
  const size_t tasks = planes * work_per_plane < (size_t(1) << 15)
                           ? 1
                           : std::min(planes, get_num_threads());
  run_chunks(planes, tasks, [&](size_t, size_t b, size_t e) {
    for (size_t p = b; p < e; ++p) fn(p);
  });
}

// Four-lane vectors (GCC/Clang vector extensions: no ISA flags, baseline SIMD everywhere).
typedef float V4 __attribute__((vector_size(16)));
typedef int32_t M4 __attribute__((vector_size(16)));
inline V4 load4(const float* p) {
  V4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store4(float* p, V4 v) { std::memcpy(p, &v, sizeof v); }
inline M4 bits4(V4 v) {
  M4 m;
  std::memcpy(&m, &v, sizeof m);
  return m;
}
inline V4 from_bits4(M4 m) {
  V4 v;
  std::memcpy(&v, &m, sizeof v);
  return v;
}
inline V4 vmax(V4 x, V4 y) { return x > y ? x : y; }
#if defined(__clang__)
#define NQ_SHUFFLE4(x, y, i0, i1, i2, i3) __builtin_shufflevector(x, y, i0, i1, i2, i3)
#else
#define NQ_SHUFFLE4(x, y, i0, i1, i2, i3) __builtin_shuffle(x, y, M4{i0, i1, i2, i3})
#endif

class PoolGradKernel final : public OpKernel {
 public:
  enum class Kind { max, average };

  // x_dims: the forward input's shape (X for max, the dX output for average).
  Status init(const OpInit& init, Kind kind, const std::vector<int64_t>& x_dims) {
    kind_ = kind;
    const auto& yd = init.inputs[0].dims;
    if (x_dims.size() < 3 || yd.size() != x_dims.size() || yd[0] != x_dims[0] ||
        yd[1] != x_dims[1])
      return op_error(init, "dY " + dims_str(yd) + " and X " + dims_str(x_dims) +
                                " must have the same rank (3 or 4) and the same N and C");
    const auto ks = init.attrs.get_ints("kernel_shape");
    std::vector<int64_t> in_sp(x_dims.begin() + 2, x_dims.end()),
        out_sp(yd.begin() + 2, yd.end());
    if (ks.size() != in_sp.size())
      return op_error(init, "kernel_shape " + dims_str(ks) +
                                " must have one value per spatial dim of X " + dims_str(x_dims));
    Status s = grad_geom(init, in_sp, ks, out_sp, true, &geo_);
    if (!s.is_ok()) return s;
    planes_ = size_t(x_dims[0] * x_dims[1]);
    count_include_pad_ = init.attrs.get_int("count_include_pad", 0) != 0;
    // relu=1: X is a ReLU's output and the ReLU's gradient is applied here too (a window whose
    // maximum is 0 passes nothing back), saving the trainer a full pass over X.
    relu_ = kind == Kind::max && init.attrs.get_int("relu", 0) != 0;
    // The CNN staple (2x2 windows, stride 2, no padding or dilation) has a direct path.
    pool2x2_ = geo_.nsp == 2 && geo_.k[0] == 1 && geo_.k[1] == 2 && geo_.k[2] == 2 && geo_.s[1] == 2 && geo_.s[2] == 2 &&
               geo_.d[1] == 1 && geo_.d[2] == 1 && geo_.pb[1] == 0 && geo_.pb[2] == 0 &&
               geo_.out[1] * 2 <= geo_.in[1] && geo_.out[2] * 2 <= geo_.in[2];
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* dy = static_cast<const float*>(in[0]);
    float* dx = static_cast<float*>(output_at(out, 0));
    if (!dx) return Status::ok();
    const SpatialGeom& g = geo_;
    const size_t is = g.in_size(), os = g.out_size();
    const int64_t IH = g.in[1], IW = g.in[2], OH = g.out[1], OW = g.out[2];
    const float* x = kind_ == Kind::max ? static_cast<const float*>(in[1]) : nullptr;
    if (kind_ == Kind::max && pool2x2_) {
      max_grad_2x2(dy, x, dx);
      return Status::ok();
    }
    for_planes(planes_, os * g.k_size(), [&](size_t p) {
      const float* dyp = dy + p * os;
      float* dxp = dx + p * is;
      std::memset(dxp, 0, is * sizeof(float));
      const float* xp = x ? x + p * is : nullptr;
      for (int64_t oy = 0; oy < OH; ++oy) {
        const int64_t ys = oy * g.s[1] - g.pb[1];
        int64_t y0, y1;
        taps(ys, 1, &y0, &y1);
        for (int64_t ox = 0; ox < OW; ++ox) {
          const int64_t xs = ox * g.s[2] - g.pb[2];
          int64_t x0, x1;
          taps(xs, 2, &x0, &x1);
          const float grad = dyp[oy * OW + ox];
          if (kind_ == Kind::max) {
            // First maximum in row-major window order, as MaxPool picks it.
            int64_t arg = -1;
            float best = 0.f;
            for (int64_t a = y0; a < y1; ++a) {
              const int64_t row = (ys + a * g.d[1]) * IW;
              for (int64_t b = x0; b < x1; ++b) {
                const int64_t i = row + xs + b * g.d[2];
                if (arg < 0 || xp[i] > best) {
                  best = xp[i];
                  arg = i;
                }
              }
            }
            if (arg >= 0 && !(relu_ && !(best > 0.f))) dxp[arg] += grad;
          } else {
            int64_t count;
            if (count_include_pad_) {
              int64_t t0, t1, u0, u1;
              // Taps of this window inside the padded extent [-pb, in + pe).
              valid_range(ys + g.pb[1], g.d[1], IH + g.pb[1] + g.pe[1], g.k[1], &t0, &t1);
              valid_range(xs + g.pb[2], g.d[2], IW + g.pb[2] + g.pe[2], g.k[2], &u0, &u1);
              count = (t1 - t0) * (u1 - u0);
            } else {
              count = (y1 - y0) * (x1 - x0);
            }
            if (count <= 0) continue;
            const float share = grad / float(count);
            for (int64_t a = y0; a < y1; ++a) {
              float* row = dxp + (ys + a * g.d[1]) * IW + xs;
              for (int64_t b = x0; b < x1; ++b) row[b * g.d[2]] += share;
            }
          }
        }
      }
    });
    return Status::ok();
  }

 private:
  // 2x2 / stride 2: every input element belongs to at most one window, so each window writes
  // its four gradients directly (the first maximum in row-major order gets dY, the rest 0)
  // and only rows/columns no window covers need zeroing.
  void max_grad_2x2(const float* dy, const float* x, float* dx) const {
    const int64_t IH = geo_.in[1], IW = geo_.in[2], OH = geo_.out[1], OW = geo_.out[2];
    const size_t is = geo_.in_size(), os = geo_.out_size();
    for_planes(planes_, os * 4, [&](size_t p) {
      const float* dyp = dy + p * os;
      const float* xp = x + p * is;
      float* dxp = dx + p * is;
      for (int64_t oy = 0; oy < OH; ++oy) {
        const float* x0 = xp + 2 * oy * IW;
        const float* x1 = x0 + IW;
        float* d0 = dxp + 2 * oy * IW;
        float* d1 = d0 + IW;
        const float* dyr = dyp + oy * OW;
        int64_t ox = 0;
        // Four windows at a time with GCC vector extensions (SSE2 on x86-64, NEON on arm64):
        // the winner is a mask, not a branch, which on real images (ties, zero windows after
        // a ReLU) would mispredict. Same rule as below: the first maximum in row-major order.
        for (; ox + 4 <= OW; ox += 4) {
          const int64_t c = 2 * ox;
          const V4 r0a = load4(x0 + c), r0b = load4(x0 + c + 4), r1a = load4(x1 + c), r1b = load4(x1 + c + 4);
          const V4 a = NQ_SHUFFLE4(r0a, r0b, 0, 2, 4, 6), b = NQ_SHUFFLE4(r0a, r0b, 1, 3, 5, 7);
          const V4 e = NQ_SHUFFLE4(r1a, r1b, 0, 2, 4, 6), f = NQ_SHUFFLE4(r1a, r1b, 1, 3, 5, 7);
          // Any NaN: the scalar loop below, which defines its route.
          const M4 nan = (a != a) | (b != b) | (e != e) | (f != f);
          if (nan[0] | nan[1] | nan[2] | nan[3]) break;
          const M4 wa = (a >= b) & (a >= e) & (a >= f);
          const M4 wb = ~wa & (b >= e) & (b >= f);
          const M4 we = ~wa & ~wb & (e >= f);
          const M4 wf = ~wa & ~wb & ~we;
          const V4 best = vmax(vmax(a, b), vmax(e, f));
          M4 g = bits4(load4(dyr + ox));
          if (relu_) g &= (best > V4{0, 0, 0, 0});
          const V4 ga = from_bits4(g & wa), gb = from_bits4(g & wb), ge = from_bits4(g & we), gf = from_bits4(g & wf);
          store4(d0 + c, NQ_SHUFFLE4(ga, gb, 0, 4, 1, 5));
          store4(d0 + c + 4, NQ_SHUFFLE4(ga, gb, 2, 6, 3, 7));
          store4(d1 + c, NQ_SHUFFLE4(ge, gf, 0, 4, 1, 5));
          store4(d1 + c + 4, NQ_SHUFFLE4(ge, gf, 2, 6, 3, 7));
        }
        for (; ox < OW; ++ox) {
          const int64_t c = 2 * ox;
          const float a = x0[c], b = x0[c + 1], e = x1[c], f = x1[c + 1];
          int arg = 0;
          float best = a;
          if (b > best) { best = b; arg = 1; }
          if (e > best) { best = e; arg = 2; }
          if (f > best) { best = f; arg = 3; }
          const float grad = relu_ && !(best > 0.f) ? 0.f : dyr[ox];
          d0[c] = arg == 0 ? grad : 0.f;
          d0[c + 1] = arg == 1 ? grad : 0.f;
          d1[c] = arg == 2 ? grad : 0.f;
          d1[c + 1] = arg == 3 ? grad : 0.f;
        }
        for (int64_t col = 2 * OW; col < IW; ++col) d0[col] = d1[col] = 0.f;
      }
      for (int64_t row = 2 * OH; row < IH; ++row) std::memset(dxp + row * IW, 0, size_t(IW) * sizeof(float));
    });
  }

  // Valid kernel taps [k0, k1) along axis `ax` of the window starting at input coord `start`.
  void taps(int64_t start, int ax, int64_t* k0, int64_t* k1) const {
    valid_range(start, geo_.d[ax], geo_.in[ax], geo_.k[ax], k0, k1);
  }

  Kind kind_ = Kind::max;
  SpatialGeom geo_;
  size_t planes_ = 0;
  bool count_include_pad_ = false;
  bool pool2x2_ = false;
  bool relu_ = false;
};

class GlobalAveragePoolGradKernel final : public OpKernel {
 public:
  GlobalAveragePoolGradKernel(size_t planes, size_t size) : planes_(planes), size_(size) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* dy = static_cast<const float*>(in[0]);
    float* dx = static_cast<float*>(output_at(out, 0));
    if (!dx) return Status::ok();
    const float inv = 1.f / float(size_);
    for_planes(planes_, size_, [&](size_t p) {
      const float v = dy[p] * inv;
      std::fill(dx + p * size_, dx + (p + 1) * size_, v);
    });
    return Status::ok();
  }

 private:
  size_t planes_, size_;
};

Status create_pool_grad(const OpInit& init, PoolGradKernel::Kind kind,
                        std::unique_ptr<OpKernel>* out) {
  const bool max = kind == PoolGradKernel::Kind::max;
  Status s = check_arity(init, max ? 2 : 1, max ? 2 : 1, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "dY", DType::f32);
  if (s.is_ok() && max) s = check_input_dtype(init, 1, "X", DType::f32);
  if (!s.is_ok()) return s;
  const std::vector<int64_t> x_dims = max ? init.inputs[1].dims : init.outputs[0].dims;
  s = check_output(init, 0, "dX", DType::f32, x_dims, true);
  if (!s.is_ok()) return s;
  auto k = std::make_unique<PoolGradKernel>();
  s = k->init(init, kind, x_dims);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace

Status create_max_pool_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  return create_pool_grad(init, PoolGradKernel::Kind::max, out);
}

Status create_average_pool_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  return create_pool_grad(init, PoolGradKernel::Kind::average, out);
}

Status create_global_average_pool_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 1, 1, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "dY", DType::f32);
  if (!s.is_ok()) return s;
  const auto& xd = init.outputs[0].dims;
  const auto& yd = init.inputs[0].dims;
  if (xd.size() < 3 || yd.size() != xd.size() || yd[0] != xd[0] || yd[1] != xd[1] ||
      init.inputs[0].count() != size_t(xd[0] * xd[1]) || init.outputs[0].dtype != DType::f32)
    return op_error(init, "dY " + dims_str(yd) + " must be [N,C,1,...] and dX float32 [N,C,...] "
                              "of the same rank, got dX " + dims_str(xd) + " " +
                              dtype_name(init.outputs[0].dtype));
  const size_t planes = size_t(xd[0] * xd[1]);
  const size_t size = init.outputs[0].count() / std::max<size_t>(planes, 1);
  if (size == 0) return op_error(init, "dX " + dims_str(xd) + " has an empty spatial size");
  *out = std::make_unique<GlobalAveragePoolGradKernel>(planes, size);
  return Status::ok();
}

}  // namespace nq::ops
