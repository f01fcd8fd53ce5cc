// com.microsoft NhwcMaxPool (uint8, int8): max pooling of channels-last images, the form the
// runtime's NHWC layout pass keeps integer CNNs in. Each output pixel is the element-wise
// max of its window's input pixels, C bytes at a time (vectorizes across channels).
#include <algorithm>
#include <cstring>
#include <limits>

#include "ops/nn_util.h"
#include "ops/quant_contrib.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

// Restrict-qualified so the compiler knows the running max and the pixel do not overlap and
// vectorizes across channels.
template <typename T>
inline void max_into(T* __restrict dst, const T* __restrict src, size_t c) {
  for (size_t i = 0; i < c; ++i) dst[i] = src[i] > dst[i] ? src[i] : dst[i];
}

class NhwcMaxPoolKernel final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    const auto& xd = init.inputs[0].dims;
    const auto& yd = init.outputs[0].dims;
    if (xd.size() < 3 || xd.size() > 5 || yd.size() != xd.size())
      return op_error(init, "X " + dims_str(xd) + " and Y " + dims_str(yd) + " must have the same rank, 3 to 5");
    if (yd[0] != xd[0] || yd.back() != xd.back())
      return op_error(init, "Y " + dims_str(yd) + " must keep X's N and C " + dims_str(xd));
    if (init.outputs.size() > 1 && !init.outputs[1].dims.empty())
      return op_error(init, "the Indices output is not supported");
    const std::vector<int64_t> in_sp(xd.begin() + 1, xd.end() - 1), out_sp(yd.begin() + 1, yd.end() - 1);
    const auto ks = init.attrs.get_ints("kernel_shape");
    if (ks.size() != in_sp.size())
      return op_error(init, "kernel_shape " + dims_str(ks) + " must have one value per spatial dim of X " + dims_str(xd));
    Status s = make_spatial_geom(init, in_sp, ks, out_sp, true, &geo_);
    if (!s.is_ok()) return s;
    n_ = size_t(xd[0]);
    c_ = size_t(xd.back());
    signed_ = init.inputs[0].dtype == DType::s8;
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    if (signed_)
      pool(static_cast<const int8_t*>(in[0]), static_cast<int8_t*>(out[0]));
    else
      pool(static_cast<const uint8_t*>(in[0]), static_cast<uint8_t*>(out[0]));
    return Status::ok();
  }

 private:
  template <typename T>
  void pool(const T* x, T* y) const {
    const SpatialGeom g = geo_;  // a local copy: byte stores may alias members
    const size_t c = c_, rows = n_ * size_t(g.out[0] * g.out[1]);
    const size_t is = g.in_size(), os = g.out_size();
    auto body = [&, g, c](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; ++r) {
        const size_t n = r / size_t(g.out[0] * g.out[1]);
        const int64_t rem = int64_t(r % size_t(g.out[0] * g.out[1]));
        const int64_t od = rem / g.out[1], oy = rem % g.out[1];
        const T* xn = x + n * is * c;
        T* yr = y + (n * os + size_t(od * g.out[1] + oy) * size_t(g.out[2])) * c;
        for (int64_t ox = 0; ox < g.out[2]; ++ox, yr += c) {
          std::fill(yr, yr + c, std::numeric_limits<T>::lowest());
          for (int64_t a = 0; a < g.k[0]; ++a) {
            const int64_t iz = od * g.s[0] - g.pb[0] + a * g.d[0];
            if (iz < 0 || iz >= g.in[0]) continue;
            for (int64_t b = 0; b < g.k[1]; ++b) {
              const int64_t iy = oy * g.s[1] - g.pb[1] + b * g.d[1];
              if (iy < 0 || iy >= g.in[1]) continue;
              for (int64_t k = 0; k < g.k[2]; ++k) {
                const int64_t ix = ox * g.s[2] - g.pb[2] + k * g.d[2];
                if (ix < 0 || ix >= g.in[2]) continue;
                const T* px = xn + size_t((iz * g.in[1] + iy) * g.in[2] + ix) * c;
                max_into(yr, px, c);
              }
            }
          }
        }
      }
    };
    const size_t threads = get_num_threads();
    const size_t tasks = rows * os * c < (size_t(1) << 15) ? 1 : std::min(threads, rows);
    if (tasks <= 1) {
      body(0, rows);
      return;
    }
    parallel_for(tasks, [&](size_t t) { body(t * rows / tasks, (t + 1) * rows / tasks); });
  }

  SpatialGeom geo_;
  size_t n_ = 0, c_ = 0;
  bool signed_ = false;
};

}  // namespace

Status create_nhwc_max_pool(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 1, 1, 1);
  if (s.is_ok()) s = check_input_dtype2(init, 0, "X", DType::u8, DType::s8);
  if (!s.is_ok()) return s;
  auto k = std::make_unique<NhwcMaxPoolKernel>();
  s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
