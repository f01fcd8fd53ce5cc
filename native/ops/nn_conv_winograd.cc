// Channels-last float 3x3 convolutions (stride 1, dilation 1, group 1, constant weights) by
// Winograd F(4x4, 3x3) (kernels/winograd.h): a quarter of the direct conv's multiply-adds.
//
// The output is cut into 4x4 tiles. A block of T tiles runs in three phases, on buffers that
// stay in L2:
//   1. input transform: each tile's 6x6 input pixels -> V[p][tile][C] for the 36 points p;
//   2. 36 GEMMs on the indirect GEMM kernel (kernels/sigemm.h, rows read through pointers):
//      Mb[p][tile][M] = V[p] (T x C) * U[p] (C x M), U packed once per plan;
//   3. output transform: Mb -> the 4x4 outputs, with the residual Z, bias and clamp.
// With enough tiles each thread runs its own share of tiles, block by block; with few (a
// 14x14 image has 16 tiles), all tiles form one block and each phase is split over threads
// (phase 2 by point), so both threads work without blocks too small to feed the GEMM.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/sigemm.h"
#include "kernels/winograd.h"
#include "ops/nn_conv_internal.h"
#include "runtime/aligned_buffer.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }
size_t round_up(size_t a, size_t b) { return div_up(a, b) * b; }

constexpr size_t kPoints = kWinogradPoints;
constexpr size_t kFloatsPerPointer = sizeof(const float*) / sizeof(float);
// V and Mb of one block: 36 * T * (C + M) floats. 512 KB leaves half the 1 MB L2 for the
// weight panels streaming through.
constexpr size_t kBlockBytes = 512 * 1024;
// A block feeds each GEMM T rows; below 2 * 24 (the AVX-512 kernel's rows per call), the
// weights (36 C x M matrices) are read for too little work.
constexpr size_t kMinBlockTiles = 48;
// Below this many multiply-adds, one thread.
constexpr size_t kMinParallelMacs = size_t(1) << 18;

class WinogradConvKernel final : public OpKernel {
 public:
  Status init(const WinogradConvShape& s, const float* w) {
    s_ = s;
    th_ = div_up(s.oh, kWinogradOut);
    tw_ = div_up(s.ow, kWinogradOut);
    tiles_ = s.n * th_ * tw_;
    wk_ = &winograd_kernel_for(active_isa());
    gk_ = &sigemm_kernel_for(active_isa());
    nr_ = gk_->nr;
    panels_ = div_up(s.m, nr_);
    slots_ = std::max<size_t>(1, get_num_threads());
    const size_t per_tile = kPoints * (s.c + s.m) * sizeof(float);
    block_ = std::max(kMinBlockTiles, round_up(std::max<size_t>(1, kBlockBytes / per_tile), gk_->mr));
    block_ = std::min(block_, tiles_);
    out_args_.clamp = s.act.kind != Activation::none;
    out_args_.lo = s.act.kind == Activation::clip ? s.act.lo : 0.f;
    out_args_.hi = s.act.kind == Activation::clip ? s.act.hi : std::numeric_limits<float>::infinity();
    // U[p] as sigemm panels: panel j of point p at u + (p * panels + j) * C * nr.
    std::vector<float> u(kPoints * s.c * s.m);
    winograd_f43_weights(w, s.m, s.c, u.data());
    if (!u_.reset(kPoints * panels_ * s.c * nr_)) return Status::oom("Conv (Winograd): could not allocate the transformed weights");
    for (size_t p = 0; p < kPoints; ++p)
      sgemm_pack_b_panels(nr_, u.data() + p * s.c * s.m, s.c, s.m, s.m, false, u_.data() + p * panels_ * s.c * nr_);
    return Status::ok();
  }

  size_t scratch_bytes() const override {
    const size_t shared = shared_possible() ? block_floats(tiles_) : 0;
    return (round_up(s_.c, 16) + slots_ * ptr_floats() + std::max(slots_ * block_floats(block_), shared)) *
           sizeof(float);
  }
  void set_scratch(void* scratch) override { scratch_ = static_cast<float*>(scratch); }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    Io io;
    io.x = static_cast<const float*>(in[0]);
    io.bias = in.size() > 2 ? static_cast<const float*>(in[2]) : nullptr;
    io.z = s_.has_z ? static_cast<const float*>(in[3]) : nullptr;
    io.y = static_cast<float*>(out[0]);
    io.zeros = scratch_;
    std::memset(io.zeros, 0, s_.c * sizeof(float));
    float* ptr_area = scratch_ + round_up(s_.c, 16);
    float* slots = ptr_area + slots_ * ptr_floats();
    size_t threads = std::min(slots_, get_num_threads());
    if (tiles_ * kPoints * s_.c * s_.m < kMinParallelMacs) threads = 1;
    if (threads <= 1 || tiles_ >= threads * block_) {
      // Each thread its own tiles, an even share, block by block.
      auto task = [&](size_t t) {
        const size_t t0 = t * tiles_ / threads, t1 = (t + 1) * tiles_ / threads;
        float* buf = slots + t * block_floats(block_);
        for (size_t b = t0; b < t1; b += block_) {
          const size_t count = std::min(block_, t1 - b);
          input_range(io, b, count, 0, count, buf);
          gemm_points(count, 0, kPoints, buf, ptrs_of(ptr_area, t));
          output_range(io, b, count, 0, count, buf);
        }
      };
      if (threads <= 1)
        task(0);
      else
        parallel_for(threads, task);
      return Status::ok();
    }
    // One block of every tile, each phase split over the threads.
    const size_t count = tiles_;
    parallel_for(threads, [&](size_t t) {
      input_range(io, 0, count, t * count / threads, (t + 1) * count / threads, slots);
    });
    parallel_for(threads, [&](size_t t) {
      gemm_points(count, t * kPoints / threads, (t + 1) * kPoints / threads, slots, ptrs_of(ptr_area, t));
    });
    parallel_for(threads, [&](size_t t) {
      output_range(io, 0, count, t * count / threads, (t + 1) * count / threads, slots);
    });
    return Status::ok();
  }

 private:
  struct Io {
    const float* x = nullptr;
    const float* bias = nullptr;
    const float* z = nullptr;
    float* y = nullptr;
    float* zeros = nullptr;
  };

  // A block of `tiles`: V (36 points x tiles x C), then Mb (36 x tiles x M). The points are
  // a cache line more than a multiple of 16 floats apart: at 48 tiles of 64 channels they
  // were 12 KB apart, all 36 rows of a tile fell in one L1 set, and the transforms, which
  // touch the 36 at once, ran 2-4x slower.
  static size_t point_stride(size_t tiles, size_t channels) { return round_up(tiles * channels, 16) + 16; }
  size_t block_floats(size_t tiles) const {
    return kPoints * (point_stride(tiles, s_.c) + point_stride(tiles, s_.m));
  }
  float* v_of(float* buf) const { return buf; }
  float* mb_of(float* buf, size_t tiles) const { return buf + kPoints * point_stride(tiles, s_.c); }
  // run() splits one block of every tile over the threads only when the threads cannot each
  // have a whole block.
  bool shared_possible() const { return slots_ > 1 && tiles_ < slots_ * block_; }
  // One thread's GEMM row pointers: a block's, or every tile's for the shared block.
  size_t ptr_floats() const { return round_up((shared_possible() ? tiles_ : block_) * kFloatsPerPointer, 16); }
  const float** ptrs_of(float* ptr_area, size_t t) const {
    return reinterpret_cast<const float**>(ptr_area + t * ptr_floats());
  }

  // Tile index -> (image, tile row, tile column).
  void tile_pos(size_t tile, size_t* n, size_t* ty, size_t* tx) const {
    const size_t per_img = th_ * tw_;
    *n = tile / per_img;
    *ty = (tile % per_img) / tw_;
    *tx = tile % tw_;
  }

  // Tiles [first + i0, first + i1) of a block of `count` starting at tile `first`.
  void input_range(const Io& io, size_t first, size_t count, size_t i0, size_t i1, float* buf) const {
    float* v = v_of(buf);
    const float* tile[kPoints];
    const size_t img = s_.ih * s_.iw * s_.c;
    for (size_t i = i0; i < i1; ++i) {
      size_t n, ty, tx;
      tile_pos(first + i, &n, &ty, &tx);
      const float* x = io.x + n * img;
      const int64_t y0 = int64_t(ty * kWinogradOut) - int64_t(s_.pad_top);
      const int64_t x0 = int64_t(tx * kWinogradOut) - int64_t(s_.pad_left);
      for (size_t r = 0; r < kWinogradTile; ++r) {
        const int64_t iy = y0 + int64_t(r);
        const bool row_in = iy >= 0 && iy < int64_t(s_.ih);
        for (size_t q = 0; q < kWinogradTile; ++q) {
          const int64_t ix = x0 + int64_t(q);
          tile[r * kWinogradTile + q] = row_in && ix >= 0 && ix < int64_t(s_.iw)
                                            ? x + (size_t(iy) * s_.iw + size_t(ix)) * s_.c
                                            : io.zeros;
        }
      }
      wk_->input(tile, s_.c, v + i * s_.c, point_stride(count, s_.c));
    }
  }

  // Points [p0, p1) of a block of `count` tiles: Mb[p] = V[p] * U[p].
  void gemm_points(size_t count, size_t p0, size_t p1, float* buf, const float** ptrs) const {
    const float* v = v_of(buf);
    float* mb = mb_of(buf, count);
    // Each thread of the split phase needs its own pointers: take them past this block's
    // for p0 > 0 (the shared block's pointer area holds count of them; a thread's range of
    // points uses count pointers from its own offset within kPoints * count floats of V... )
    const size_t mr = gk_->mr;
    for (size_t p = p0; p < p1; ++p) {
      const float* vp = v + p * point_stride(count, s_.c);
      for (size_t i = 0; i < count; ++i) ptrs[i] = vp + i * s_.c;
      float* mp = mb + p * point_stride(count, s_.m);
      const float* up = u_.data() + p * panels_ * s_.c * nr_;
      for (size_t j = 0; j < panels_; ++j) {
        const size_t col = j * nr_, cols = std::min(nr_, s_.m - col);
        const float* panel = up + j * s_.c * nr_;
        // Calls of near-equal rows, as the direct conv's (gemm_range in nn_conv_nhwc.cc).
        const size_t calls = div_up(count, mr);
        for (size_t i = 0, r = 0; i < calls; ++i) {
          const size_t r1 = (i + 1) * count / calls;
          gk_->run(r1 - r, ptrs + r, 1, s_.c, panel, cols, mp + r * s_.m + col, s_.m, nullptr, SGemmTileArgs{});
          r = r1;
        }
      }
    }
  }

  void output_range(const Io& io, size_t first, size_t count, size_t i0, size_t i1, float* buf) const {
    const float* mb = mb_of(buf, count);
    float* y[kWinogradOutPx];
    const float* z[kWinogradOutPx];
    WinogradOutputArgs a = out_args_;
    a.bias = io.bias;
    const size_t img = s_.oh * s_.ow * s_.m;
    for (size_t i = i0; i < i1; ++i) {
      size_t n, ty, tx;
      tile_pos(first + i, &n, &ty, &tx);
      for (size_t r = 0; r < kWinogradOut; ++r)
        for (size_t q = 0; q < kWinogradOut; ++q) {
          const size_t oy = ty * kWinogradOut + r, ox = tx * kWinogradOut + q;
          const bool in = oy < s_.oh && ox < s_.ow;
          const size_t off = n * img + (oy * s_.ow + ox) * s_.m;
          y[r * kWinogradOut + q] = in ? io.y + off : nullptr;
          z[r * kWinogradOut + q] = in && io.z ? io.z + off : nullptr;
        }
      wk_->output(mb + i * s_.m, point_stride(count, s_.m), s_.m, a, y, io.z ? z : nullptr);
    }
  }

  WinogradConvShape s_;
  WinogradOutputArgs out_args_;  // clamp and bounds; the bias is set per run
  size_t th_ = 0, tw_ = 0, tiles_ = 0, nr_ = 1, panels_ = 0, slots_ = 1, block_ = 1;
  const WinogradKernel* wk_ = nullptr;
  const SIGemmKernel* gk_ = nullptr;
  AlignedBuffer<float> u_;
  float* scratch_ = nullptr;
};

}  // namespace

std::atomic<bool>& winograd_conv_enabled() {
  static std::atomic<bool> on = [] {
    const char* v = std::getenv("NQUANT_WINOGRAD");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

bool winograd_conv_pays(const WinogradConvShape& s) {
  if (s.c < 8 || s.m < 8 || s.oh == 0 || s.ow == 0) return false;
  // Tiles cover whole 4x4 blocks: a 7x7 output computes 64 outputs for 49.
  const size_t covered = div_up(s.oh, kWinogradOut) * div_up(s.ow, kWinogradOut) * kWinogradOutPx;
  if (covered > 2 * s.oh * s.ow) return false;
  // U is four times the weights. Up to 16 MB it sits in L3 next to the activations. Past
  // that (ResNet's 512 x 512 layers: 37 MB) every run streams it from memory, which pays
  // once 16 or more tiles share each pass: at batch 8 (32 tiles) such a 7x7 layer took 6.8 ms
  // against the direct conv's 16.4; at batch 1 (4 tiles), 1.9 against 2.2, not worth 113 MB
  // more plan memory for the three layers.
  const size_t tiles = s.n * div_up(s.oh, kWinogradOut) * div_up(s.ow, kWinogradOut);
  return kPoints * s.c * s.m * sizeof(float) <= (size_t(16) << 20) || tiles >= 16;
}

bool is_winograd_conv(const OpKernel& k) { return dynamic_cast<const WinogradConvKernel*>(&k) != nullptr; }

Status create_conv_winograd(const WinogradConvShape& shape, const float* w, std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<WinogradConvKernel>();
  Status st = k->init(shape, w);
  if (!st.is_ok()) return st;
  *out = std::move(k);
  return Status::ok();
}

}  // namespace nq::ops
