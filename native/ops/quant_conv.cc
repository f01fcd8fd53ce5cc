// ConvInteger (int32 out), QLinearConv (uint8/int8 out) and nquant.QLinearConv (a qmin/qmax
// clamp in the output's quantized domain, or float32 out when y_scale/y_zero_point are
// omitted), one kernel class for all three.
//
// GEMM path: Y^T[OS x M] = patches[OS x Kg] * W^T, on the INT8 GEMM whose per-column
// parameters are then the per-output-channel w scales, zero points and biases. Patches are
// built from an NHWC copy of the image, taps ordered (kd, ky, kx, c), so a patch row is a
// few contiguous runs (one kw*C run per kernel row when group is 1) rather than a byte
// gather; W is reordered to the same tap order when it is packed at creation. A 1x1,
// stride-1, unpadded conv needs no patches at all: the NHWC image is the GEMM's A.
// The pixels are split into chunks that stay in L2 (patch rows, the OS x M result, its
// NCHW transpose); chunks run in parallel, each calling the GEMM single-threaded, so the
// patch building and the transposes are spread over the threads like the products are.
// Small images with few chunks instead run one GEMM call that threads over N itself.
//
// Depthwise path (group == C == M): the same chunks, but the sums come from the INT8
// depthwise kernels (kernels/qdwconv.h) over the NHWC image, each output pixel reading its
// taps through pointers (padding taps point at a row of x's zero point). The x zero point
// leaves as -zx * sum_t (w - zw) per channel, folded with the bias into the GEMM epilogue's
// per-column term; the epilogue then gives the output exactly as on the GEMM path.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "kernels/qdwconv.h"
#include "kernels/qgemm.h"
#include "kernels/qgemm_internal.h"
#include "kernels/qigemm.h"
#include "kernels/transpose.h"
#include "ops/nn_util.h"
#include "ops/quant_gemm.h"
#include "runtime/aligned_buffer.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace nq::ops {
namespace {

size_t round64(size_t n) { return (n + 63) / 64 * 64; }
size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }

// Patch rows plus the chunk's OS x M result: kept within a typical L2 with room to spare.
constexpr size_t kChunkBytes = 160 * 1024;
// Output pixels per depthwise kernel call: their int32 sums stay in L1 until the epilogue.
constexpr size_t kDwPixels = 16;
// Threads one conv call is split over (chunk buffers are allocated per thread).
constexpr size_t kMaxTasks = 64;
// Packed weights up to this size are walked whole for each row tile on the direct path.
constexpr size_t kDirectL1Weights = 16 * 1024;
// A 3-channel stem is widened to 4 channels (the kernel reads the image through runs) when
// that adds at most this many bytes to K per pixel; beyond, patch rows are cheaper.
constexpr size_t kMaxWidenBytes = 16;
// Register tiles per block of rows when small packed weights are walked whole per block.
constexpr size_t kDirectBlockTiles = 4;
// Below this many multiply-adds a conv runs on the calling thread.
constexpr size_t kMinParallelMacs = size_t(1) << 18;

// Patch rows are built from short runs (kw*C bytes, or C): a libc call per run costs more
// than the copy when C is small (a 3-channel stem), so short runs use fixed-size moves that
// may overlap each other but stay within the run.
inline void copy_run(uint8_t* d, const uint8_t* s, size_t n) {
  if (n >= 32) {
    std::memcpy(d, s, n);
  } else if (n >= 16) {
    std::memcpy(d, s, 16);
    std::memcpy(d + n - 16, s + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(d, s, 8);
    std::memcpy(d + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(d, s, 4);
    std::memcpy(d + n - 4, s + n - 4, 4);
  } else {
    for (size_t i = 0; i < n; ++i) d[i] = s[i];
  }
}

inline void fill_run(uint8_t* d, uint8_t v, size_t n) {
  if (n >= 32) {
    std::memset(d, v, n);
  } else if (n >= 8) {
    // Overlapping 8-byte stores, as copy_run does.
    const uint64_t w = uint64_t(v) * 0x0101010101010101ull;
    for (size_t i = 0; i + 8 < n; i += 8) std::memcpy(d + i, &w, 8);
    std::memcpy(d + n - 8, &w, 8);
  } else {
    for (size_t i = 0; i < n; ++i) d[i] = v;
  }
}

// ConvInteger's output stage has no scales; it is handed this one.
const float kOne = 1.f;

enum class QConvOp { conv_integer, qlinear_conv, nquant_qlinear_conv };

class QConvKernel final : public OpKernel {
 public:
  Status init(const OpInit& init, QConvOp op) {
    op_ = op;
    const bool qlinear = op != QConvOp::conv_integer;
    iw_ = qlinear ? 3 : 1;
    ixz_ = 2;
    iwz_ = qlinear ? 5 : 3;
    const TensorDesc& w = init.inputs[iw_];
    // nquant's channels_last=1: x and y are [N, spatial..., C] (the runtime's NHWC layout
    // pass keeps chains of integer convs in it); below, dims are read as NCHW either way.
    // channels_last=2: x NCHW, y channels-last (the first conv of a chain: the kernel's own
    // transpose of x is faster than a separate Transpose step).
    const int64_t layout = op == QConvOp::nquant_qlinear_conv ? init.attrs.get_int("channels_last", 0) : 0;
    if (layout < 0 || layout > 2) return op_error(init, "channels_last must be 0, 1 or 2, got " + std::to_string(layout));
    channels_last_ = layout != 0;
    x_channels_last_ = layout == 1;
    TensorDesc x = init.inputs[0];
    TensorDesc y = init.outputs[0];
    if (channels_last_) {
      TensorDesc* const permuted[2] = {&y, x_channels_last_ ? &x : nullptr};
      for (TensorDesc* t : permuted) {
        if (!t) continue;
        if (t->dims.size() < 3) return op_error(init, "channels_last needs rank >= 3, got " + dims_str(t->dims));
        std::vector<int64_t> d{t->dims[0], t->dims.back()};
        d.insert(d.end(), t->dims.begin() + 1, t->dims.end() - 1);
        t->dims = d;
      }
    }
    const size_t rank = x.dims.size();
    if (rank < 3 || rank > 5 || w.dims.size() != rank || y.dims.size() != rank)
      return op_error(init, "x " + dims_str(x.dims) + ", w " + dims_str(w.dims) + " and y " +
                                dims_str(y.dims) + " must all be rank 3 to 5 (N, C, spatial...)");
    n_ = size_t(x.dims[0]);
    c_ = size_t(x.dims[1]);
    cx_ = c_;
    m_ = size_t(w.dims[0]);
    g_ = size_t(init.attrs.get_int("group", 1));
    if (g_ < 1 || c_ % g_ || m_ % g_ || size_t(w.dims[1]) * g_ != c_)
      return op_error(init, "group " + std::to_string(g_) + " must divide C and M, with w dim 1 = C/group; got x " +
                                dims_str(x.dims) + ", w " + dims_str(w.dims));
    if (size_t(y.dims[0]) != n_ || size_t(y.dims[1]) != m_)
      return op_error(init, "y " + dims_str(y.dims) + " must be [N=" + std::to_string(n_) +
                                ", M=" + std::to_string(m_) + ", ...]");
    cg_ = c_ / g_;
    mg_ = m_ / g_;
    std::vector<int64_t> in_sp(x.dims.begin() + 2, x.dims.end());
    std::vector<int64_t> k_sp(w.dims.begin() + 2, w.dims.end());
    std::vector<int64_t> out_sp(y.dims.begin() + 2, y.dims.end());
    const auto ks = init.attrs.get_ints("kernel_shape", k_sp);
    if (ks != k_sp)
      return op_error(init, "kernel_shape " + dims_str(ks) + " does not match w " + dims_str(w.dims));
    Status s = make_spatial_geom(init, in_sp, k_sp, out_sp, false, &geo_);
    if (!s.is_ok()) return s;
    is_ = geo_.in_size();
    os_ = geo_.out_size();
    taps_ = geo_.k_size();
    kg_ = cg_ * taps_;
    x_type_ = x.dtype;
    w_type_ = w.dtype;
    if (present(init, ixz_)) {
      if (init.inputs[ixz_].count() != 1)
        return op_error(init, "x_zero_point must be a single value, got " + dims_str(init.inputs[ixz_].dims));
      if (init.inputs[ixz_].dtype != x_type_)
        return op_error(init, std::string("x_zero_point must have x's dtype ") + dtype_name(x_type_) +
                                  ", got " + dtype_name(init.inputs[ixz_].dtype));
    }
    if (present(init, iwz_)) {
      nwz_ = init.inputs[iwz_].count();
      if (nwz_ != 1 && nwz_ != m_)
        return op_error(init, "w_zero_point must have 1 or M=" + std::to_string(m_) + " values, got " +
                                  dims_str(init.inputs[iwz_].dims));
      if (init.inputs[iwz_].dtype != w_type_)
        return op_error(init, std::string("w_zero_point must have w's dtype ") + dtype_name(w_type_) +
                                  ", got " + dtype_name(init.inputs[iwz_].dtype));
    }

    QuantOutputStage::Config cfg;
    cfg.columns = m_;
    if (qlinear) {
      if (init.inputs[1].count() != 1)
        return op_error(init, "x_scale must be a single value, got " + dims_str(init.inputs[1].dims));
      cfg.b_scales = init.inputs[4].count();
      if (cfg.b_scales != 1 && cfg.b_scales != m_)
        return op_error(init, "w_scale must have 1 or M=" + std::to_string(m_) + " values, got " +
                                  dims_str(init.inputs[4].dims));
      const bool nquant = op == QConvOp::nquant_qlinear_conv;
      s = read_output_kind(init, 6, 7, nquant, nquant, &cfg);
      if (!s.is_ok()) return s;
      if (present(init, 8)) {
        if (init.inputs[8].dtype != DType::s32 || init.inputs[8].count() != m_)
          return op_error(init, "B (bias) must be int32 with M=" + std::to_string(m_) + " values, got " +
                                    dtype_name(init.inputs[8].dtype) + " " + dims_str(init.inputs[8].dims));
        cfg.has_bias = true;
      }
    } else {
      if (y.dtype != DType::s32)
        return op_error(init, std::string("output must be int32, got ") + dtype_name(y.dtype));
      cfg.kind = QuantOutputStage::Kind::int32;
    }
    stage_.configure(cfg);
    esize_ = stage_.elem_bytes();
    slots_ = std::min(kMaxTasks, std::max<size_t>(1, get_num_threads()));
    qk_ = active_kernels().qgemm;
    tk_ = &transpose_kernel_for(active_isa());

    const void* wc = constant(init, iw_);
    const void* wzc = present(init, iwz_) ? constant(init, iwz_) : nullptr;
    const bool w_const = wc && (!present(init, iwz_) || wzc);
    depthwise_ = g_ == c_ && m_ == c_ && c_ > 1;
    pointwise_ = !depthwise_ && taps_ == 1 && !geo_.has_pads() && geo_.s[0] == 1 && geo_.s[1] == 1 &&
                 geo_.s[2] == 1;
    choose_direct(wzc, w_const);
    // Chunk rows: a multiple of 64 (a cache line of an int8 output plane; every GEMM kernel's
    // mr divides 64 or is covered by it).
    const size_t row_bytes = depthwise_ ? taps_ * sizeof(void*) + m_ * esize_
                             : direct_  ? runs_ * sizeof(void*) + (direct_edges_ ? kp_ : 0) + m_ * esize_
                                        : (pointwise_ ? 0 : kg_) + m_ * esize_;
    chunk_rows_ = std::max<size_t>(64, kChunkBytes / std::max<size_t>(1, row_bytes) / 64 * 64);
    chunk_rows_ = std::max<size_t>(1, std::min(chunk_rows_, os_));
    if (depthwise_) {
      qdw_ = &qdwconv_kernel_for(active_isa());
      zeros_.assign(std::max(m_, chunk_rows_), 0);
      for (int64_t kd = 0; kd < geo_.k[0]; ++kd)
        for (int64_t ky = 0; ky < geo_.k[1]; ++ky)
          for (int64_t kx = 0; kx < geo_.k[2]; ++kx)
            tap_offsets_.push_back(size_t(((kd * geo_.d[0] * geo_.in[1] + ky * geo_.d[1]) * geo_.in[2] + kx * geo_.d[2])) * c_);
      if (w_const) {
        if (!dw_pack(wc, wzc, &dw_w_, &dw_wsum_))
          return op_error(init, "could not allocate the packed depthwise weights");
        w_const_ = true;
      }
      return Status::ok();
    }
    for (int64_t kd = 0; kd < geo_.k[0]; ++kd)
      for (int64_t ky = 0; ky < geo_.k[1]; ++ky)
        run_offsets_.push_back(size_t((kd * geo_.d[0] * geo_.in[1] + ky * geo_.d[1]) * geo_.in[2]) * c_);
    if (direct_) {
      direct_pack(wc);
      w_const_ = true;
      return Status::ok();
    }
    if (w_const) {
      s = pack_all(wc, wzc, &packed_);
      if (!s.is_ok()) return op_error(init, s.message);
      w_const_ = true;
    }
    return Status::ok();
  }

  // Run scratch: the NHWC image, the output stage's parameters, the depthwise path's
  // per-channel epilogue columns, then one chunk slot per thread. Everything a run writes
  // is here: concurrent runs of one plan each have their own.
  size_t scratch_bytes() const override {
    return xt_bytes() + stage_.scratch_bytes() + dw_column_bytes() + slots_ * slot_bytes();
  }
  void set_scratch(void* s) override { scratch_ = static_cast<uint8_t*>(s); }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    if (n_ == 0 || m_ == 0 || os_ == 0) return Status::ok();
    const bool qlinear = op_ != QConvOp::conv_integer;
    const void* xzp = in.size() > ixz_ ? in[ixz_] : nullptr;
    const int32_t zx = xzp ? byte_value(xzp, x_type_, 0) : 0;
    const void* wzp = in.size() > iwz_ ? in[iwz_] : nullptr;
    uint8_t* xt = scratch_;
    uint8_t* stage_scratch = xt + xt_bytes();
    uint8_t* columns = stage_scratch + stage_.scratch_bytes();
    uint8_t* slots = columns + dw_column_bytes();
    QuantOutputStage::Params params;
    if (qlinear) {
      const bool quant = stage_.quantized();
      params = stage_.prepare(stage_scratch, *static_cast<const float*>(in[1]), static_cast<const float*>(in[4]),
                              quant ? *static_cast<const float*>(in[6]) : 1.f,
                              quant ? byte_value(in[7], stage_.config().out_signed ? DType::s8 : DType::u8, 0) : 0,
                              in.size() > 8 ? static_cast<const int32_t*>(in[8]) : nullptr);
    } else {
      params = stage_.prepare(stage_scratch, 1.f, &kOne, 1.f, 0, nullptr);
    }
    const Buffers buf{static_cast<const uint8_t*>(in[0]), xt, slots, static_cast<uint8_t*>(out[0])};
    if (depthwise_) {
      AlignedBuffer<int16_t> w_local;
      std::vector<int32_t> wsum_local;
      const AlignedBuffer<int16_t>* wq = &dw_w_;
      const std::vector<int32_t>* wsum = &dw_wsum_;
      if (!w_const_) {
        // Weights that are graph values (not constants) are packed on every run.
        if (!dw_pack(in[iw_], wzp, &w_local, &wsum_local))
          return Status::oom("QLinearConv: could not allocate the packed depthwise weights");
        wq = &w_local;
        wsum = &wsum_local;
      }
      return run_depthwise(buf, params, zx, wq->data(), *wsum, columns);
    }
    if (direct_) return run_direct(buf, params, zx, columns);
    std::vector<QGemmPackedB> local;
    const std::vector<QGemmPackedB>* packed = &packed_;
    if (!w_const_) {
      // Weights that are graph values (not constants) are packed on every run.
      Status s = pack_all(in[iw_], wzp, &local);
      if (!s.is_ok()) return s;
      packed = &local;
    }
    return run_gemm(buf, params, zx, *packed);
  }

 private:
  // Where a run reads and writes: x, its NHWC copy (x itself when C is 1), the chunk slots, y.
  struct Buffers {
    const uint8_t* x;
    uint8_t* xt;
    uint8_t* slots;
    uint8_t* y;
  };

  size_t xt_bytes() const { return cx_ != c_ || (c_ > 1 && !x_channels_last_) ? round64(n_ * is_ * c_) : 0; }

  // x as the NHWC image of c_ channels the paths read: x itself when it is one, else a copy
  // in xt (transposed from NCHW, or widened by the channels of a padded stem).
  const uint8_t* nhwc_input(const uint8_t* x, uint8_t* xt) const {
    if (cx_ != c_) {
      widen_channels(x, xt);
      return xt;
    }
    if (c_ > 1 && !x_channels_last_) {
      to_nhwc(x, xt);
      return xt;
    }
    return x;
  }

  // x's cx_ channels into an NHWC image of c_; the added channels are 0 (their weights are 0,
  // so any value would do, but the bytes are defined).
  void widen_channels(const uint8_t* x, uint8_t* xt) const {
    const size_t pixels = n_ * is_;
    if (x_channels_last_) {
      // 3 -> 4 channels (the only widening): a 4-byte move per pixel takes the next pixel's
      // first byte along, overwritten next (a byte-wise loop here cost ~0.08 ms on a 224x224
      // image, most of what this path saves).
      // The last pixel goes byte by byte (no read past x).
      const size_t fast = pixels ? pixels - 1 : 0;
      for (size_t p = 0; p < fast; ++p) {
        std::memcpy(xt + p * 4, x + p * 3, 4);
        xt[p * 4 + 3] = 0;
      }
      for (size_t p = fast; p < pixels; ++p) {
        for (size_t c = 0; c < 3; ++c) xt[p * 4 + c] = x[p * 3 + c];
        xt[p * 4 + 3] = 0;
      }
      return;
    }
    to_nhwc(x, xt);  // its 3-channel case writes the 4th channel's zeros too
  }

  // Depthwise per-channel epilogue columns: int32 term, scale, requant scale, float bias.
  // The direct path's: int32 term and requant scale.
  size_t dw_column_bytes() const { return depthwise_ ? 4 * round64(m_ * 4) : direct_ ? 2 * round64(m_ * 4) : 0; }

  // Per-thread chunk buffers. GEMM: patch rows, the chunk's pixel-major result. Depthwise:
  // tap pointers, int32 sums, the pixel-major result, a row of x's zero point.
  size_t slot_bytes() const {
    if (direct_)
      return round64(chunk_rows_ * runs_ * sizeof(void*)) + round64(direct_edges_ ? chunk_rows_ * kp_ : 0) +
             round64(channels_last_ ? 0 : chunk_rows_ * m_ * esize_);
    if (depthwise_)
      return round64(chunk_rows_ * taps_ * sizeof(void*)) + round64(kDwPixels * m_ * 4) +
             round64(chunk_rows_ * m_ * esize_) + round64(c_);
    return round64(pointwise_ ? 0 : chunk_rows_ * kg_) + round64(chunk_rows_ * m_ * esize_);
  }

  // Per group, W^T with taps ordered (kd, ky, kx, c) to match the patch rows.
  Status pack_all(const void* w, const void* wzp, std::vector<QGemmPackedB>* out) const {
    out->resize(g_);
    std::vector<uint8_t> reordered(taps_ == 1 ? 0 : mg_ * kg_);
    std::vector<int32_t> zps;
    for (size_t g = 0; g < g_; ++g) {
      zps.clear();
      if (wzp) {
        const size_t cnt = nwz_ == 1 ? 1 : mg_;
        for (size_t j = 0; j < cnt; ++j)
          zps.push_back(byte_value(wzp, w_type_, nwz_ == 1 ? 0 : g * mg_ + j));
      }
      const uint8_t* wg = static_cast<const uint8_t*>(w) + g * mg_ * kg_;
      if (taps_ != 1) {
        for (size_t j = 0; j < mg_; ++j)
          for (size_t c = 0; c < cg_; ++c)
            for (size_t t = 0; t < taps_; ++t)
              reordered[j * kg_ + t * cg_ + c] = wg[j * kg_ + c * taps_ + t];
        wg = reordered.data();
      }
      QGemmB b;
      b.data = wg;
      b.is_signed = w_type_ == DType::s8;
      b.k = kg_;
      b.n = mg_;
      b.transposed = true;
      b.zero_points = zps.empty() ? nullptr : zps.data();
      b.num_zero_points = zps.size();
      Status s = qgemm_pack_b(*qk_, b, &(*out)[g]);
      if (!s.is_ok()) return s;
    }
    return Status::ok();
  }

  // NCHW image(s) of cx_ channels -> NHWC rows of c_ bytes, split over pixel blocks.
  void to_nhwc(const uint8_t* x, uint8_t* xt) const {
    const size_t block = std::max<size_t>(64, (size_t(1) << 15) / c_ / 8 * 8);
    const size_t per_image = div_up(is_, block), tasks = n_ * per_image;
    auto body = [&](size_t t) {
      const size_t n = t / per_image, p0 = (t % per_image) * block;
      const size_t rows = std::min(block, is_ - p0);
      const uint8_t* src = x + n * cx_ * is_ + p0;
      uint8_t* dst = xt + (n * is_ + p0) * c_;
      if (cx_ == 3) {
        // An RGB image (the stem): the general transpose spends most of its time on tiles
        // of which 3 rows are used; the zero 4th channel of a widened copy comes along.
        const uint8_t *r = src, *g = src + is_, *b = src + 2 * is_;
        if (c_ == 4) {
          for (size_t p = 0; p < rows; ++p) {
            const uint32_t v = uint32_t(r[p]) | uint32_t(g[p]) << 8 | uint32_t(b[p]) << 16;
            std::memcpy(dst + p * 4, &v, 4);
          }
        } else {
          for (size_t p = 0; p < rows; ++p) {
            dst[p * 3] = r[p];
            dst[p * 3 + 1] = g[p];
            dst[p * 3 + 2] = b[p];
          }
        }
        return;
      }
      // Source is C x IS: rows of the transposed problem are channels.
      tk_->x8(src, is_, dst, c_, cx_, rows);
    };
    if (tasks == 1 || n_ * is_ * c_ < (size_t(1) << 16))
      for (size_t t = 0; t < tasks; ++t) body(t);
    else
      parallel_for(tasks, body);
  }

  // Patch rows [p0, p0 + rows) of group g from the NHWC image: row r (at cols + r * ld) holds
  // the Kg taps of output pixel p0 + r in (kd, ky, kx, c) order; padding taps take x's zero
  // point, and the ld - Kg bytes after them are 0.
  void im2col(const uint8_t* xt, size_t g, size_t p0, size_t rows, uint8_t pad, uint8_t* cols, size_t ld) const {
    const SpatialGeom& G = geo_;
    const bool whole_rows = g_ == 1 && G.d[2] == 1;  // a kernel row's taps are one run
    const uint8_t* xg = xt + g * cg_;
    const int64_t span[3] = {(G.k[0] - 1) * G.d[0], (G.k[1] - 1) * G.d[1], (G.k[2] - 1) * G.d[2]};
    const size_t run = size_t(G.k[2]) * c_, runs = run_offsets_.size();
    const size_t* offsets = run_offsets_.data();
    int64_t ox = int64_t(p0) % G.out[2], rem = int64_t(p0) / G.out[2];
    int64_t oy = rem % G.out[1], od = rem / G.out[1];
    for (size_t r = 0; r < rows; ++r) {
      uint8_t* dst = cols + r * ld;
      for (size_t i = kg_; i < ld; ++i) dst[i] = 0;
      const int64_t iz0 = od * G.s[0] - G.pb[0], iy0 = oy * G.s[1] - G.pb[1], ix0 = ox * G.s[2] - G.pb[2];
      if (whole_rows && iz0 >= 0 && iz0 + span[0] < G.in[0] && iy0 >= 0 && iy0 + span[1] < G.in[1] &&
          ix0 >= 0 && ix0 + span[2] < G.in[2]) {
        // The whole window is inside (most pixels): one run per kernel row, fixed offsets.
        const uint8_t* base = xg + size_t((iz0 * G.in[1] + iy0) * G.in[2] + ix0) * c_;
        for (size_t k = 0; k < runs; ++k) copy_run(dst + k * run, base + offsets[k], run);
      } else {
        im2col_edge(xg, iz0, iy0, ix0, pad, dst);
      }
      if (++ox == G.out[2]) {
        ox = 0;
        if (++oy == G.out[1]) {
          oy = 0;
          ++od;
        }
      }
    }
  }

  // One patch row whose window starts at (iz0, iy0, ix0) and may cross the padding.
  void im2col_edge(const uint8_t* xg, int64_t iz0, int64_t iy0, int64_t ix0, uint8_t pad, uint8_t* dst) const {
    const SpatialGeom& G = geo_;
    const size_t k2 = size_t(G.k[2]);
    if (g_ == 1 && G.d[2] == 1) {
      // A kernel row's taps inside the image are one run: the padding before and after it
      // is filled in two moves, not tap by tap (a 3-channel stem's taps are 3 bytes each).
      const size_t lo = size_t(std::clamp<int64_t>(-ix0, 0, G.k[2]));
      const size_t hi = std::max(lo, size_t(std::clamp<int64_t>(G.in[2] - ix0, 0, G.k[2])));
      const size_t row = k2 * c_;
      for (int64_t kd = 0; kd < G.k[0]; ++kd) {
        const int64_t iz = iz0 + kd * G.d[0];
        for (int64_t ky = 0; ky < G.k[1]; ++ky, dst += row) {
          const int64_t iy = iy0 + ky * G.d[1];
          if (iz < 0 || iz >= G.in[0] || iy < 0 || iy >= G.in[1] || hi == lo) {
            fill_run(dst, pad, row);
            continue;
          }
          const uint8_t* src = xg + size_t(((iz * G.in[1] + iy) * G.in[2] + ix0 + int64_t(lo))) * c_;
          fill_run(dst, pad, lo * c_);
          copy_run(dst + lo * c_, src, (hi - lo) * c_);
          fill_run(dst + hi * c_, pad, (k2 - hi) * c_);
        }
      }
      return;
    }
    for (int64_t kd = 0; kd < G.k[0]; ++kd) {
      const int64_t iz = iz0 + kd * G.d[0];
      for (int64_t ky = 0; ky < G.k[1]; ++ky, dst += k2 * cg_) {
        const int64_t iy = iy0 + ky * G.d[1];
        if (iz < 0 || iz >= G.in[0] || iy < 0 || iy >= G.in[1]) {
          fill_run(dst, pad, k2 * cg_);
          continue;
        }
        const uint8_t* src = xg + size_t((iz * G.in[1] + iy) * G.in[2]) * c_;
        for (size_t kx = 0; kx < k2; ++kx) {
          const int64_t ix = ix0 + int64_t(kx) * G.d[2];
          if (ix >= 0 && ix < G.in[2])
            copy_run(dst + kx * cg_, src + size_t(ix) * c_, cg_);
          else
            fill_run(dst + kx * cg_, pad, cg_);
        }
      }
    }
  }

  // Output pixels [p0, p0 + rows) of image n, every group, written to y in NCHW.
  Status run_chunk(const QuantOutputStage::Params& params, const uint8_t* xt_n, int32_t zx,
                   const std::vector<QGemmPackedB>& packed, size_t p0, size_t rows, uint8_t* slot,
                   uint8_t* y_n) const {
    uint8_t* cols = slot;
    // Pixel-major results: channels-last output is written in place, NCHW goes through tmp.
    uint8_t* tmp = channels_last_ ? y_n + p0 * m_ * esize_ : slot + round64(pointwise_ ? 0 : chunk_rows_ * kg_);
    for (size_t g = 0; g < g_; ++g) {
      QGemmA a;
      a.is_signed = x_type_ == DType::s8;
      a.m = rows;
      a.k = kg_;
      a.zero_point = zx;
      if (pointwise_) {
        a.data = xt_n + p0 * c_ + g * cg_;
        a.lda = c_;
      } else {
        im2col(xt_n, g, p0, rows, uint8_t(zx), cols, kg_);
        a.data = cols;
      }
      const QGemmOutput o = stage_.column_output(params, g * mg_, mg_, tmp + g * mg_ * esize_, m_);
      Status s = qgemm(a, packed[g], o);
      if (!s.is_ok()) return s;
    }
    if (channels_last_) return Status::ok();
    if (esize_ == 1)
      tk_->x8(tmp, m_, y_n + p0, os_, rows, m_);
    else
      tk_->x32(reinterpret_cast<const uint32_t*>(tmp), m_, reinterpret_cast<uint32_t*>(y_n) + p0, os_, rows, m_);
    return Status::ok();
  }

  // Spreads the output pixels of every image over the threads in chunks of <= chunk_rows_
  // rows (and >= min_rows when splitting one image); chunk(xt_n, p0, rows, slot, y_n)
  // computes and stores one. x is made NHWC first.
  template <typename Chunk>
  Status for_chunks(const Buffers& buf, size_t macs_per_pixel, size_t min_rows, Chunk&& chunk) const {
    const uint8_t* xt = nhwc_input(buf.x, buf.xt);
    uint8_t* slots = buf.slots;
    uint8_t* y = buf.y;
    size_t threads = std::min(slots_, get_num_threads());
    if (n_ * os_ * macs_per_pixel < kMinParallelMacs) threads = 1;
    // Chunks per image: at least one per thread when there is one image, so no thread idles.
    size_t per_image = div_up(os_, chunk_rows_);
    if (n_ == 1 && threads > 1 && os_ >= threads * min_rows) per_image = div_up(per_image, threads) * threads;
    // NCHW output: whole cache lines of every output plane per chunk (64 pixels), so chunks
    // on different threads never write the same line, unless that would leave threads idle
    // (small images). Channels-last output is pixel-major, so a chunk boundary splits at most
    // one line: the chunks are equal, which rounding to 64 was not (a 14x14 image as 64, 64,
    // 64 and 4 rows left one of two threads 128 rows against the other's 68).
    const size_t even = div_up(os_, per_image);
    size_t rows_per = channels_last_ ? even : std::min(os_, div_up(even, 64) * 64);
    if (n_ == 1 && div_up(os_, rows_per) < threads) rows_per = std::min(os_, div_up(even, 8) * 8);
    per_image = div_up(os_, rows_per);
    const size_t units = n_ * per_image;
    const size_t tasks = units >= threads ? threads : 1;
    Status errors[kMaxTasks];
    // Each task owns one slot and pulls chunks until none are left, so a thread that is
    // slowed down (a busy machine) takes fewer of them.
    std::atomic<size_t> next{0};
    auto task = [&](size_t t) {
      uint8_t* slot = slots + t * slot_bytes();
      for (size_t u; (u = next.fetch_add(1, std::memory_order_relaxed)) < units;) {
        const size_t n = u / per_image, p0 = (u % per_image) * rows_per;
        Status s = chunk(xt + n * is_ * c_, p0, std::min(rows_per, os_ - p0), slot, y + n * m_ * os_ * esize_);
        if (!s.is_ok()) {
          errors[t] = s;
          return;
        }
      }
    };
    // One task: the GEMM calls are not nested in a pool job and thread over N themselves.
    if (tasks == 1)
      task(0);
    else
      parallel_for(tasks, task);
    for (size_t t = 0; t < tasks; ++t)
      if (!errors[t].is_ok()) return errors[t];
    return Status::ok();
  }

  Status run_gemm(const Buffers& buf, const QuantOutputStage::Params& params, int32_t zx,
                  const std::vector<QGemmPackedB>& packed) const {
    // Below ~64 rows per chunk the GEMM's own split over N is the better use of threads.
    return for_chunks(buf, kg_ * m_, 64, [&](const uint8_t* xt_n, size_t p0, size_t rows, uint8_t* slot, uint8_t* y_n) {
      return run_chunk(params, xt_n, zx, packed, p0, rows, slot, y_n);
    });
  }

  // (w - zw) per tap and channel, packed for the depthwise kernels, and its sum per channel.
  bool dw_pack(const void* w, const void* wzp, AlignedBuffer<int16_t>* packed, std::vector<int32_t>* wsum) const {
    std::vector<int16_t> plain(taps_ * m_);
    wsum->assign(m_, 0);
    for (size_t m = 0; m < m_; ++m) {
      const int32_t zw = wzp ? byte_value(wzp, w_type_, nwz_ == 1 ? 0 : m) : 0;
      for (size_t t = 0; t < taps_; ++t) {
        const int32_t v = byte_value(w, w_type_, m * taps_ + t) - zw;
        plain[t * m_ + m] = static_cast<int16_t>(v);
        (*wsum)[m] += v;
      }
    }
    if (!packed->reset(qdwconv_packed_count(taps_, m_))) return false;
    qdwconv_pack_w(plain.data(), taps_, m_, packed->data());
    return true;
  }

  Status run_depthwise(const Buffers& buf, const QuantOutputStage::Params& params, int32_t zx,
                       const int16_t* wq, const std::vector<int32_t>& wsum, uint8_t* columns) const {
    // Per channel: the bias (quantized outputs) and -zx * sum(w - zw), wrapping like the
    // GEMM's own corrections; the scales the epilogue applies.
    const size_t col_bytes = round64(m_ * 4);
    int32_t* col_term = reinterpret_cast<int32_t*>(columns);
    float* col_scale = reinterpret_cast<float*>(columns + col_bytes);
    float* col_rq = reinterpret_cast<float*>(columns + 2 * col_bytes);
    float* col_bias = reinterpret_cast<float*>(columns + 3 * col_bytes);
    const bool quant = stage_.quantized(), fp = stage_.is_float();
    for (size_t j = 0; j < m_; ++j) {
      const uint32_t b = static_cast<uint32_t>(params.int_bias(j));
      col_term[j] = static_cast<int32_t>(b - static_cast<uint32_t>(zx) * static_cast<uint32_t>(wsum[j]));
      col_scale[j] = fp ? params.scale(j) : 0.f;
      col_bias[j] = params.float_bias(j);
      col_rq[j] = quant ? params.requant_scale(j) : 0.f;
    }
    QGemmEpilogueArgs e;
    switch (stage_.config().kind) {
      case QuantOutputStage::Kind::int32: e.kind = QGemmOutputKind::int32; break;
      case QuantOutputStage::Kind::float32: e.kind = QGemmOutputKind::float32; break;
      case QuantOutputStage::Kind::quantized:
        e.kind = stage_.config().out_signed ? QGemmOutputKind::int8 : QGemmOutputKind::uint8;
        break;
    }
    e.mode = RequantMode::float_scale;
    e.col_term = col_term;
    e.zb = zeros_.data();
    e.zb_uniform = true;
    e.scale = col_scale;
    e.bias = fp && params.fbias ? col_bias : nullptr;
    e.rq_scale = col_rq;
    e.zc = params.zy;
    e.qmin = stage_.config().qmin;
    e.qmax = stage_.config().qmax;
    e.ldc = m_;
    const bool x_signed = x_type_ == DType::s8;
    const bool fused = quant && qdw_->run_requant;
    QDwRequant rq;
    rq.col_term = col_term;
    rq.scale = col_rq;
    rq.zc = e.zc;
    rq.qmin = e.qmin;
    rq.qmax = e.qmax;
    return for_chunks(buf, taps_ * m_, 8, [&](const uint8_t* xt_n, size_t p0, size_t rows, uint8_t* slot, uint8_t* y_n) {
      const uint8_t** ptrs = reinterpret_cast<const uint8_t**>(slot);
      int32_t* acc = reinterpret_cast<int32_t*>(slot + round64(chunk_rows_ * taps_ * sizeof(void*)));
      uint8_t* slot_tmp = reinterpret_cast<uint8_t*>(acc) + round64(kDwPixels * m_ * 4);
      uint8_t* zero_row = slot_tmp + round64(chunk_rows_ * m_ * esize_);
      uint8_t* tmp = channels_last_ ? y_n + p0 * m_ * esize_ : slot_tmp;
      std::memset(zero_row, int(uint8_t(zx)), c_);
      tap_pointers(xt_n, p0, rows, zero_row, ptrs);
      if (fused) {
        // The variant requantizes in registers: no int32 sums go through memory.
        qdw_->run_requant(ptrs, rows, taps_, c_, x_signed, wq, rq, tmp, m_);
      } else {
        // A few pixels at a time, so their int32 sums are still in L1 for the epilogue.
        QGemmEpilogueArgs ea = e;
        for (size_t r0 = 0; r0 < rows; r0 += kDwPixels) {
          const size_t nr = std::min(kDwPixels, rows - r0);
          qdw_->run(ptrs + r0 * taps_, nr, taps_, c_, x_signed, wq, acc, m_);
          ea.out = tmp + r0 * m_ * esize_;
          qk_->epilogue(ea, acc, m_, nr, m_, zeros_.data(), 0, 0);
        }
      }
      if (channels_last_) return Status::ok();
      if (esize_ == 1)
        tk_->x8(tmp, m_, y_n + p0, os_, rows, m_);
      else
        tk_->x32(reinterpret_cast<const uint32_t*>(tmp), m_, reinterpret_cast<uint32_t*>(y_n) + p0, os_, rows, m_);
      return Status::ok();
    });
  }

  // ---- the direct path (kernels/qigemm.h) ----------------------------------------------------
  // Taken when the fused kernel exists and needs nothing the GEMM path does: uint8 x, int8
  // constant weights whose zero points are all 0, a quantized output and one group. With C a
  // multiple of 4 the runs are whole 4-byte groups and the im2col copy, A packing and row sums
  // go away. A 3x3 3-channel stem (an RGB image) is padded to 4 channels with zero weights: a
  // third more products, but patch rows of 27 bytes cost more. Other channel counts, and a
  // 3-channel stem whose widening would add more than kMaxWidenBytes to K (the 7x7 one: 196
  // against 148), copy every pixel's taps to a patch row padded to whole groups: fewer
  // products than widening, one long run per row for the kernel, and still no A packing or
  // row sums (the GEMM path's cost for them).
  void choose_direct(const void* wzc, bool w_const) {
    qig_ = qigemm_kernel_for(active_isa());
    const size_t k4 = (kg_ + 3) / 4 * 4;
    const bool patch = c_ % 4 != 0 && (c_ != 3 || taps_ * 4 > k4 + kMaxWidenBytes);
    const size_t c4 = c_ == 3 && !patch ? 4 : c_;
    if (!qig_ || depthwise_ || !stage_.quantized() || x_type_ != DType::u8 || w_type_ != DType::s8 ||
        !w_const || g_ != 1 || (c4 % 4 != 0 && !patch) || taps_ * c4 + 3 > kQGemmMaxKInt32)
      return;
    if (wzc) {
      const int8_t* z = static_cast<const int8_t*>(wzc);
      for (size_t j = 0; j < nwz_; ++j)
        if (z[j] != 0) return;
    }
    if (c4 != c_) {
      c_ = cg_ = c4;
      kg_ = taps_ * c4;
      pointwise_ = false;  // x is read through the widened copy
    }
    if (patch) {
      patch_ = true;
      runs_ = 1;
      run_len_ = k4;
    } else if (geo_.d[2] == 1) {
      // One run per kernel row (kd, ky): kw * C contiguous NHWC bytes.
      runs_ = run_offsets_count();
      run_len_ = size_t(geo_.k[2]) * c_;
    } else {
      runs_ = taps_;
      run_len_ = c_;
    }
    kp_ = runs_ * run_len_;
    direct_edges_ = patch_ || geo_.has_pads();  // without pads every window is inside
    direct_ = true;
  }
  size_t run_offsets_count() const { return size_t(geo_.k[0] * geo_.k[1]); }

  // W^T with taps in (kd, ky, kx, c) order, in the fused kernel's panels, and its column sums.
  void direct_pack(const void* w) {
    const int8_t* src = static_cast<const int8_t*>(w);
    std::vector<int8_t> wt(m_ * kp_, 0);
    for (size_t j = 0; j < m_; ++j)
      for (size_t c = 0; c < c_; ++c)
        for (size_t t = 0; t < taps_; ++t) wt[j * kp_ + t * c_ + c] = c < cx_ ? src[(j * cx_ + c) * taps_ + t] : 0;
    direct_colsum_.assign(m_, 0);
    for (size_t j = 0; j < m_; ++j)
      for (size_t k = 0; k < kp_; ++k) direct_colsum_[j] += wt[j * kp_ + k];
    const size_t nr = qig_->nr, panels = div_up(m_, nr);
    direct_b_.reset(panels * kp_ * nr);
    qgemm_pack_b_interleaved(wt.data(), kp_, m_, kp_, true, kp_, 0, nr, 4, direct_b_.data());
    // Run offsets of the per-tap layout (dilated kernel rows are not contiguous).
    if (runs_ == taps_ && taps_ > 1)
      for (int64_t kd = 0; kd < geo_.k[0]; ++kd)
        for (int64_t ky = 0; ky < geo_.k[1]; ++ky)
          for (int64_t kx = 0; kx < geo_.k[2]; ++kx)
            direct_offsets_.push_back(size_t(((kd * geo_.d[0] * geo_.in[1] + ky * geo_.d[1]) * geo_.in[2] + kx * geo_.d[2])) * c_);
    else
      direct_offsets_ = run_offsets_;
  }

  // For output pixels [p0, p0 + rows): the start of each run in the NHWC image, or, for a
  // window that crosses the padding, in that pixel's patch row built in `edge`.
  void direct_pointers(const uint8_t* xt, size_t p0, size_t rows, uint8_t pad, uint8_t* edge,
                       const uint8_t** ptrs) const {
    if (patch_) {
      im2col(xt, 0, p0, rows, pad, edge, kp_);
      for (size_t r = 0; r < rows; ++r) ptrs[r] = edge + r * kp_;
      return;
    }
    if (pointwise_) {
      // A 1x1, stride-1, unpadded conv: a row is its own pixel (the general walk below cost a
      // narrow 1x1 layer at 112x112 a sixth of its time).
      const uint8_t* base = xt + p0 * c_;
      for (size_t r = 0; r < rows; ++r) ptrs[r] = base + r * c_;
      return;
    }
    const size_t* offsets = direct_offsets_.data();
    for_each_window(xt, p0, rows, [&](size_t r, const uint8_t* base) {
      const uint8_t** pr = ptrs + r * runs_;
      for (size_t q = 0; q < runs_; ++q) pr[q] = base + offsets[q];
    }, [&](size_t r, int64_t iz0, int64_t iy0, int64_t ix0) {
      const uint8_t** pr = ptrs + r * runs_;
      uint8_t* prow = edge + r * kp_;
      im2col_edge(xt, iz0, iy0, ix0, pad, prow);
      for (size_t q = 0; q < runs_; ++q) pr[q] = prow + q * run_len_;
    });
  }

  // Walks output pixels [p0, p0 + rows) one output row at a time: whether the row's windows
  // have their kernel rows inside the image is decided once per row, and an inside window's
  // first pixel steps by the stride. Calls inside(r, first_pixel) for a window wholly inside
  // the image, else outside(r, iz0, iy0, ix0) with the window's (possibly negative) origin.
  // The per-pixel checks this replaced were a third of a 3x3 depthwise layer at 112x112.
  template <typename Inside, typename Outside>
  void for_each_window(const uint8_t* xt, size_t p0, size_t rows, Inside&& inside, Outside&& outside) const {
    const SpatialGeom& G = geo_;
    const int64_t span[3] = {(G.k[0] - 1) * G.d[0], (G.k[1] - 1) * G.d[1], (G.k[2] - 1) * G.d[2]};
    int64_t ox = int64_t(p0) % G.out[2], rem = int64_t(p0) / G.out[2];
    int64_t oy = rem % G.out[1], od = rem / G.out[1];
    for (size_t r = 0; r < rows;) {
      const int64_t iz0 = od * G.s[0] - G.pb[0], iy0 = oy * G.s[1] - G.pb[1];
      const bool rows_in = iz0 >= 0 && iz0 + span[0] < G.in[0] && iy0 >= 0 && iy0 + span[1] < G.in[1];
      const size_t n = std::min(rows - r, size_t(G.out[2] - ox));
      // Only formed when inside: a pointer before xt is undefined even unread.
      const uint8_t* row_base = rows_in ? xt + size_t((iz0 * G.in[1] + iy0) * G.in[2]) * c_ : nullptr;
      for (size_t i = 0; i < n; ++i, ++r, ++ox) {
        const int64_t ix0 = ox * G.s[2] - G.pb[2];
        if (rows_in && ix0 >= 0 && ix0 + span[2] < G.in[2])
          inside(r, row_base + size_t(ix0) * c_);
        else
          outside(r, iz0, iy0, ix0);
      }
      if (ox == G.out[2]) {
        ox = 0;
        if (++oy == G.out[1]) {
          oy = 0;
          ++od;
        }
      }
    }
  }

  // Rows [0, rows) of a pointer list through panels [p_begin, p_end) into out (ldc m_).
  void direct_panels(const uint8_t* const* ptrs, size_t rows, size_t p_begin, size_t p_end,
                     const QIGemmRequant& rq, uint8_t* out) const {
    const size_t nr = qig_->nr;
    // The kernel splits the rows into register tiles itself.
    auto call = [&](size_t p, size_t r0, size_t n) {
      const size_t col0 = p * nr, cols = std::min(nr, m_ - col0);
      QIGemmRequant rp = rq;
      rp.col_term += col0;
      rp.scale += col0;
      qig_->run(n, ptrs + r0 * runs_, runs_, run_len_, direct_b_.data() + p * kp_ * nr, cols, rp, out + r0 * m_ + col0, m_);
    };
    if ((p_end - p_begin) * kp_ * nr <= kDirectL1Weights) {
      // Small weights (a 1x1 conv with few input channels) stay in L1 anyway: blocks of a few
      // row tiles pass over every panel, so each output line is written while it is in L1.
      const size_t blocks = div_up(rows, kDirectBlockTiles * size_t(qig_->mr));
      for (size_t b = 0; b < blocks; ++b) {
        const size_t r0 = rows * b / blocks, r1 = rows * (b + 1) / blocks;
        for (size_t p = p_begin; p < p_end; ++p) call(p, r0, r1 - r0);
      }
      return;
    }
    // Otherwise a panel stays in cache while every row tile of the chunk passes over it.
    for (size_t p = p_begin; p < p_end; ++p) call(p, 0, rows);
  }

  Status run_direct(const Buffers& buf, const QuantOutputStage::Params& params, int32_t zx,
                    uint8_t* columns) const {
    int32_t* col_term = reinterpret_cast<int32_t*>(columns);
    float* rq_scale = reinterpret_cast<float*>(columns + round64(m_ * 4));
    for (size_t j = 0; j < m_; ++j) {
      // Modulo 2^32 like the GEMM's corrections: only the final sum has to fit.
      col_term[j] = static_cast<int32_t>(static_cast<uint32_t>(params.int_bias(j)) -
                                         static_cast<uint32_t>(zx) * static_cast<uint32_t>(direct_colsum_[j]));
      rq_scale[j] = params.requant_scale(j);
    }
    QIGemmRequant rq;
    rq.col_term = col_term;
    rq.scale = rq_scale;
    rq.zc = params.zy;
    rq.qmin = stage_.config().qmin;
    rq.qmax = stage_.config().qmax;
    const uint8_t pad = uint8_t(zx);
    const size_t panels = div_up(m_, size_t(qig_->nr));
    const size_t threads = std::min(slots_, get_num_threads());
    const size_t edge_off = round64(chunk_rows_ * runs_ * sizeof(void*));
    const size_t tmp_off = edge_off + round64(direct_edges_ ? chunk_rows_ * kp_ : 0);
    if (n_ == 1 && threads > 1 && os_ < threads * 64 && os_ <= chunk_rows_ && panels >= 2 &&
        os_ * kg_ * m_ >= kMinParallelMacs) {
      // A small image: too few pixels to share, so the threads share the output channels.
      const uint8_t* xt = nhwc_input(buf.x, buf.xt);
      const uint8_t** ptrs = reinterpret_cast<const uint8_t**>(buf.slots);
      direct_pointers(xt, 0, os_, pad, buf.slots + edge_off, ptrs);
      uint8_t* tmp = channels_last_ ? buf.y : buf.slots + tmp_off;
      const size_t tasks = std::min(threads, panels);
      parallel_for(tasks, [&](size_t t) {
        direct_panels(ptrs, os_, panels * t / tasks, panels * (t + 1) / tasks, rq, tmp);
      });
      if (!channels_last_) tk_->x8(tmp, m_, buf.y, os_, os_, m_);
      return Status::ok();
    }
    return for_chunks(buf, kg_ * m_, 64, [&](const uint8_t* xt_n, size_t p0, size_t rows, uint8_t* slot, uint8_t* y_n) {
      const uint8_t** ptrs = reinterpret_cast<const uint8_t**>(slot);
      direct_pointers(xt_n, p0, rows, pad, slot + edge_off, ptrs);
      uint8_t* tmp = channels_last_ ? y_n + p0 * m_ : slot + tmp_off;
      direct_panels(ptrs, rows, 0, panels, rq, tmp);
      if (!channels_last_) tk_->x8(tmp, m_, y_n + p0, os_, rows, m_);
      return Status::ok();
    });
  }

  // For output pixels [p0, p0 + rows): the NHWC pixel each tap reads, or the zero-point row.
  // A window wholly inside the image (most of them) is its first pixel plus fixed offsets.
  void tap_pointers(const uint8_t* xt, size_t p0, size_t rows, const uint8_t* zero_row, const uint8_t** ptrs) const {
    const SpatialGeom& G = geo_;
    const size_t* offsets = tap_offsets_.data();
    const size_t taps = taps_;
    for_each_window(xt, p0, rows, [&](size_t r, const uint8_t* base) {
      const uint8_t** pr = ptrs + r * taps;
      for (size_t t = 0; t < taps; ++t) pr[t] = base + offsets[t];
    }, [&](size_t r, int64_t iz0, int64_t iy0, int64_t ix0) {
      const uint8_t** pr = ptrs + r * taps;
      for (int64_t kd = 0; kd < G.k[0]; ++kd) {
        const int64_t iz = iz0 + kd * G.d[0];
        for (int64_t ky = 0; ky < G.k[1]; ++ky) {
          const int64_t iy = iy0 + ky * G.d[1];
          const bool row_ok = iz >= 0 && iz < G.in[0] && iy >= 0 && iy < G.in[1];
          // Only formed for a row inside the image: a pointer before xt is undefined even unread.
          const uint8_t* src = row_ok ? xt + size_t((iz * G.in[1] + iy) * G.in[2]) * c_ : zero_row;
          for (int64_t kx = 0; kx < G.k[2]; ++kx) {
            const int64_t ix = ix0 + kx * G.d[2];
            *pr++ = row_ok && ix >= 0 && ix < G.in[2] ? src + size_t(ix) * c_ : zero_row;
          }
        }
      }
    });
  }

  QConvOp op_ = QConvOp::qlinear_conv;
  bool pointwise_ = false, depthwise_ = false, w_const_ = false, channels_last_ = false, x_channels_last_ = false;
  size_t iw_ = 1, ixz_ = 2, iwz_ = 3, nwz_ = 0;
  // c_: channels as the kernel reads them (cx_, x's own, or 4 for a padded 3-channel stem).
  size_t n_ = 0, c_ = 0, cx_ = 0, m_ = 0, g_ = 1, cg_ = 0, mg_ = 0, is_ = 0, os_ = 0, taps_ = 1, kg_ = 0;
  size_t esize_ = 1, slots_ = 1, chunk_rows_ = 0;
  DType x_type_ = DType::u8, w_type_ = DType::u8;
  SpatialGeom geo_;
  QuantOutputStage stage_;
  const QGemmKernel* qk_ = nullptr;
  const QDwConvKernel* qdw_ = nullptr;
  // The direct path: its kernel, run geometry, packed weights and their column sums.
  const QIGemmKernel* qig_ = nullptr;
  // patch_: every pixel's taps are copied to a patch row (else the kernel reads the image
  // through runs_ pointers, and only windows that cross the padding get patch rows); kp_ =
  // runs_ * run_len_ is K as the kernel sees it, Kg rounded up to whole 4-byte groups.
  bool direct_ = false, direct_edges_ = false, patch_ = false;
  size_t runs_ = 1, run_len_ = 0, kp_ = 0;
  AlignedBuffer<int8_t> direct_b_;
  std::vector<int32_t> direct_colsum_;
  std::vector<size_t> direct_offsets_;
  const TransposeKernel* tk_ = nullptr;
  std::vector<QGemmPackedB> packed_;
  // Depthwise: packed (w - zw) and its per-channel sums; zeros for the epilogue's row sums
  // and B zero points (there are none).
  AlignedBuffer<int16_t> dw_w_;
  std::vector<int32_t> dw_wsum_, zeros_;
  std::vector<size_t> tap_offsets_;  // NHWC byte offset of each tap from the window's first pixel
  std::vector<size_t> run_offsets_;  // the same for each kernel row (kd, ky) of the patch rows
  uint8_t* scratch_ = nullptr;
};

Status check_bytes(const OpInit& init, size_t i, const char* name) {
  return check_input_dtype2(init, i, name, DType::u8, DType::s8);
}

Status create(const OpInit& init, QConvOp op, std::unique_ptr<OpKernel>* out) {
  auto k = std::make_unique<QConvKernel>();
  Status s = k->init(init, op);
  if (!s.is_ok()) return s;
  *out = std::move(k);
  return Status::ok();
}

// The inputs QLinearConv and nquant.QLinearConv have in common (y_* and B are checked by
// the kernel, since nquant lets y_scale/y_zero_point be omitted).
Status check_qlinear_inputs(const OpInit& init) {
  Status s = check_bytes(init, 0, "x");
  if (s.is_ok()) s = check_input_dtype(init, 1, "x_scale", DType::f32);
  if (s.is_ok()) s = check_bytes(init, 2, "x_zero_point");
  if (s.is_ok()) s = check_bytes(init, 3, "w");
  if (s.is_ok()) s = check_input_dtype(init, 4, "w_scale", DType::f32);
  if (s.is_ok()) s = check_bytes(init, 5, "w_zero_point");
  return s;
}

}  // namespace

Status create_conv_integer(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 4, 1);
  if (s.is_ok()) s = check_bytes(init, 0, "x");
  if (s.is_ok()) s = check_bytes(init, 1, "w");
  if (s.is_ok() && present(init, 2)) s = check_bytes(init, 2, "x_zero_point");
  if (s.is_ok() && present(init, 3)) s = check_bytes(init, 3, "w_zero_point");
  if (!s.is_ok()) return s;
  return create(init, QConvOp::conv_integer, out);
}

Status create_qlinear_conv(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 8, 9, 1);
  if (s.is_ok()) s = check_qlinear_inputs(init);
  if (!s.is_ok()) return s;
  return create(init, QConvOp::qlinear_conv, out);
}

Status create_nquant_qlinear_conv(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 6, 9, 1);
  if (s.is_ok()) s = check_qlinear_inputs(init);
  if (!s.is_ok()) return s;
  return create(init, QConvOp::nquant_qlinear_conv, out);
}

}  // namespace nq::ops
