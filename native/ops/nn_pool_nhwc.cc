// MaxPool and GlobalAveragePool with channels_last=1: float32 NHWC images, the form the
// runtime's layout pass keeps float CNN chains in. Each output pixel is an element-wise max
// (kernels/maxpool_nhwc.h over the window's pixels) or the mean of the input pixels, C floats
// at a time, so channels are the vector axis.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/maxpool_nhwc.h"
#include "ops/nn_pool_nhwc.h"
#include "ops/nn_util.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

// Restrict-qualified so the compiler knows the sum and the pixel do not overlap.
inline void add_into(float* __restrict dst, const float* __restrict src, size_t c) {
  for (size_t i = 0; i < c; ++i) dst[i] += src[i];
}

// Runs fn(i) for i in [0, count), spread over the pool when the work is big enough.
template <typename Fn>
void for_range(size_t count, size_t work_each, Fn&& fn) {
  size_t tasks = std::min(count, get_num_threads());
  if (count * work_each < (size_t(1) << 15)) tasks = 1;
  if (tasks <= 1) {
    for (size_t i = 0; i < count; ++i) fn(i);
    return;
  }
  parallel_for(tasks, [&](size_t t) {
    for (size_t i = t * count / tasks, e = (t + 1) * count / tasks; i < e; ++i) fn(i);
  });
}

class NhwcMaxPoolF32 final : public OpKernel {
 public:
  Status init(const OpInit& init) {
    const auto& xd = init.inputs[0].dims;
    const auto& yd = init.outputs[0].dims;
    if (xd.size() != 4 || yd.size() != 4)
      return op_error(init, "channels_last=1 takes X " + dims_str(xd) + " and Y " + dims_str(yd) + " of rank 4 [N, H, W, C]");
    if (yd[0] != xd[0] || yd[3] != xd[3])
      return op_error(init, "Y " + dims_str(yd) + " must keep X's N and C " + dims_str(xd));
    if (init.outputs.size() > 1 && !init.outputs[1].dims.empty())
      return op_error(init, "the Indices output is not supported with channels_last=1");
    const auto ks = init.attrs.get_ints("kernel_shape");
    if (ks.size() != 2)
      return op_error(init, "kernel_shape " + dims_str(ks) + " must have 2 values for X " + dims_str(xd));
    Status s = make_spatial_geom(init, {xd[1], xd[2]}, ks, {yd[1], yd[2]}, true, &geo_);
    if (!s.is_ok()) return s;
    n_ = size_t(xd[0]);
    c_ = size_t(xd[3]);
    mk_ = &maxpool_nhwc_kernel_for(active_isa());
    return Status::ok();
  }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(out[0]);
    const int64_t IH = geo_.in[1], IW = geo_.in[2], OH = geo_.out[1], OW = geo_.out[2];
    for_range(n_ * size_t(OH), size_t(OW) * geo_.k_size() * c_, [&](size_t r) {
      const size_t n = r / size_t(OH);
      const int64_t oy = int64_t(r % size_t(OH));
      const float* img = x + n * size_t(IH * IW) * c_;
      std::vector<const float*> taps(geo_.k_size());
      for (int64_t ox = 0; ox < OW; ++ox) {
        float* dst = y + (r * size_t(OW) + size_t(ox)) * c_;
        size_t n = 0;
        for (int64_t ky = 0; ky < geo_.k[1]; ++ky) {
          const int64_t iy = oy * geo_.s[1] - geo_.pb[1] + ky * geo_.d[1];
          if (iy < 0 || iy >= IH) continue;
          for (int64_t kx = 0; kx < geo_.k[2]; ++kx) {
            const int64_t ix = ox * geo_.s[2] - geo_.pb[2] + kx * geo_.d[2];
            if (ix >= 0 && ix < IW) taps[n++] = img + size_t(iy * IW + ix) * c_;
          }
        }
        // A window entirely in the padding (only possible with ceil_mode): no input, 0 like
        // the NCHW kernel's empty-window value.
        if (n == 0) std::fill(dst, dst + c_, 0.f);
        else mk_->run(taps.data(), n, c_, dst);
      }
    });
    return Status::ok();
  }

 private:
  SpatialGeom geo_;
  size_t n_ = 0, c_ = 0;
  const MaxPoolNhwcKernel* mk_ = nullptr;
};

class NhwcGlobalAveragePoolF32 final : public OpKernel {
 public:
  NhwcGlobalAveragePoolF32(size_t n, size_t pixels, size_t c) : n_(n), pixels_(pixels), c_(c) {}
  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(out[0]);
    for_range(n_, pixels_ * c_, [&](size_t n) {
      float* dst = y + n * c_;
      std::fill(dst, dst + c_, 0.f);
      const float* img = x + n * pixels_ * c_;
      for (size_t p = 0; p < pixels_; ++p) add_into(dst, img + p * c_, c_);
      const float inv = pixels_ ? 1.f / float(pixels_) : 0.f;
      for (size_t c = 0; c < c_; ++c) dst[c] *= inv;
    });
    return Status::ok();
  }

 private:
  size_t n_, pixels_, c_;
};

}  // namespace

Status create_max_pool_nhwc(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 1, 1, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "X", DType::f32);
  if (!s.is_ok()) return s;
  auto k = std::make_unique<NhwcMaxPoolF32>();
  s = k->init(init);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

Status create_global_average_pool_nhwc(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 1, 1, 1);
  if (s.is_ok()) s = check_input_dtype(init, 0, "X", DType::f32);
  if (s.is_ok()) s = check_output_dtype(init, 0, "Y", DType::f32);
  if (!s.is_ok()) return s;
  const auto& xd = init.inputs[0].dims;
  const auto& yd = init.outputs[0].dims;
  if (xd.size() != 4 || yd.size() != 4 || yd[0] != xd[0] || yd[1] != 1 || yd[2] != 1 || yd[3] != xd[3])
    return op_error(init, "channels_last=1 takes X [N, H, W, C] and Y [N, 1, 1, C], got X " + dims_str(xd) + " and Y " +
                              dims_str(yd));
  *out = std::make_unique<NhwcGlobalAveragePoolF32>(size_t(xd[0]), size_t(xd[1] * xd[2]), size_t(xd[3]));
  return Status::ok();
}

}  // namespace nq::ops
