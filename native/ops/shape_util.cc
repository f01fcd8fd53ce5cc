#include "ops/shape_util.h"

#include <algorithm>
#include <cstring>

#include "kernels/transpose.h"
#include "ops/op.h"
#include "runtime/dispatch.h"

namespace nq::ops {

size_t dims_count(const Dims& dims) {
  return TensorDesc{DType::u8, dims}.count();
}

Dims dense_strides(const Dims& dims) {
  Dims s(dims.size());
  int64_t acc = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

bool broadcast_dims(const std::vector<Dims>& shapes, Dims* out) {
  size_t rank = 0;
  for (const Dims& s : shapes) rank = std::max(rank, s.size());
  Dims r(rank, 1);
  for (const Dims& s : shapes) {
    const size_t lead = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = r[lead + i];
      const int64_t d = s[i];
      if (d == o || d == 1) continue;
      if (o != 1) return false;
      o = d;  // also takes a 0 over a 1: zero-size dims broadcast like any other size
    }
  }
  *out = std::move(r);
  return true;
}

Dims broadcast_strides(const Dims& in, const Dims& out) {
  Dims s(out.size(), 0);
  const size_t lead = out.size() - in.size();
  int64_t acc = 1;
  for (size_t i = in.size(); i-- > 0;) {
    s[lead + i] = in[i] == 1 ? 0 : acc;
    acc *= in[i];
  }
  return s;
}

bool normalize_axis(int64_t axis, int64_t rank, int64_t* out) {
  if (axis < -rank || axis >= rank) return false;
  *out = axis < 0 ? axis + rank : axis;
  return true;
}

bool normalize_axes(const std::vector<int64_t>& axes, int64_t rank, std::vector<int64_t>* out) {
  std::vector<int64_t> r;
  r.reserve(axes.size());
  for (int64_t a : axes) {
    int64_t n;
    if (!normalize_axis(a, rank, &n)) return false;
    if (std::find(r.begin(), r.end(), n) != r.end()) return false;
    r.push_back(n);
  }
  *out = std::move(r);
  return true;
}

StridedLoop make_strided_loop(const Dims& dims, const std::vector<Dims>& strides) {
  StridedLoop L;
  L.operands = static_cast<int>(strides.size());
  L.count = dims_count(dims);
  if (L.count == 0) {
    L.dims = {0};
    L.strides.assign(1, {0, 0, 0, 0});
    return L;
  }
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1) continue;  // a size-1 dim never advances, whatever its stride
    std::array<int64_t, kMaxOperands> s{0, 0, 0, 0};
    for (int k = 0; k < L.operands; ++k) s[k] = strides[k][d];
    if (!L.dims.empty()) {
      // Merge into the previous (outer) dim when every operand steps over it exactly as if
      // the two were one dim.
      const std::array<int64_t, kMaxOperands>& p = L.strides.back();
      bool merge = true;
      for (int k = 0; k < L.operands; ++k) merge = merge && p[k] == s[k] * dims[d];
      if (merge) {
        L.dims.back() *= dims[d];
        L.strides.back() = s;
        continue;
      }
    }
    L.dims.push_back(dims[d]);
    L.strides.push_back(s);
  }
  if (L.dims.empty()) {
    L.dims = {1};
    L.strides.assign(1, {0, 0, 0, 0});
  }
  return L;
}

namespace {

template <typename T>
void gather_run(const T* src, int64_t stride, size_t n, T* dst) {
  for (size_t i = 0; i < n; ++i) dst[i] = src[static_cast<int64_t>(i) * stride];
}

// dst(a, b) = src(a, b) for a in [a0, a1), b in [0, cols): dst walks b densely and a by
// dst_a; src walks a densely and b by src_b. Tiles keep both sides' lines in cache.
template <typename T>
void transpose_tile_rows(const T* src, int64_t src_b, T* dst, int64_t dst_a, int64_t a0,
                         int64_t a1, int64_t cols) {
  constexpr int64_t kTile = 16;
  for (int64_t b0 = 0; b0 < cols; b0 += kTile) {
    const int64_t b1 = std::min(cols, b0 + kTile);
    for (int64_t a = a0; a < a1; ++a) {
      T* d = dst + a * dst_a;
      const T* s = src + a;
      for (int64_t b = b0; b < b1; ++b) d[b] = s[b * src_b];
    }
  }
}

void copy_run(const char* src, int64_t stride, size_t n, size_t es, char* dst) {
  if (stride == 1) {
    std::memcpy(dst, src, n * es);
    return;
  }
  switch (es) {
    case 1: gather_run(reinterpret_cast<const uint8_t*>(src), stride, n, reinterpret_cast<uint8_t*>(dst)); return;
    case 2: gather_run(reinterpret_cast<const uint16_t*>(src), stride, n, reinterpret_cast<uint16_t*>(dst)); return;
    case 4: gather_run(reinterpret_cast<const uint32_t*>(src), stride, n, reinterpret_cast<uint32_t*>(dst)); return;
    case 8: gather_run(reinterpret_cast<const uint64_t*>(src), stride, n, reinterpret_cast<uint64_t*>(dst)); return;
    default:
      for (size_t i = 0; i < n; ++i)
        std::memcpy(dst + i * es, src + static_cast<int64_t>(i) * stride * static_cast<int64_t>(es), es);
  }
}

void tile_dispatch(const char* src, int64_t src_b, char* dst, int64_t dst_a, int64_t a0, int64_t a1,
                   int64_t cols, size_t es) {
  if (es == 1 || es == 4) {
    // The SIMD block transposes (kernels/transpose.h): dst[a * dst_a + b] = src[a + b * src_b]
    // is their dst[j * ldd + i] = src[i * lds + j] with i = b, j = a. The scalar tiles below
    // ran the NCHW <-> NHWC reorders around a float conv chain 2-5x slower than onnxruntime's.
    const TransposeKernel& tk = transpose_kernel_for(active_isa());
    const size_t lds = size_t(src_b), ldd = size_t(dst_a), rows = size_t(cols), n = size_t(a1 - a0);
    if (es == 4)
      tk.x32(reinterpret_cast<const uint32_t*>(src) + a0, lds, reinterpret_cast<uint32_t*>(dst) + a0 * dst_a, ldd, rows, n);
    else
      tk.x8(reinterpret_cast<const uint8_t*>(src) + a0, lds, reinterpret_cast<uint8_t*>(dst) + a0 * dst_a, ldd, rows, n);
    return;
  }
  switch (es) {
    case 1: transpose_tile_rows(reinterpret_cast<const uint8_t*>(src), src_b, reinterpret_cast<uint8_t*>(dst), dst_a, a0, a1, cols); return;
    case 2: transpose_tile_rows(reinterpret_cast<const uint16_t*>(src), src_b, reinterpret_cast<uint16_t*>(dst), dst_a, a0, a1, cols); return;
    case 4: transpose_tile_rows(reinterpret_cast<const uint32_t*>(src), src_b, reinterpret_cast<uint32_t*>(dst), dst_a, a0, a1, cols); return;
    case 8: transpose_tile_rows(reinterpret_cast<const uint64_t*>(src), src_b, reinterpret_cast<uint64_t*>(dst), dst_a, a0, a1, cols); return;
    default:
      for (int64_t a = a0; a < a1; ++a)
        for (int64_t b = 0; b < cols; ++b)
          std::memcpy(dst + (a * dst_a + b) * static_cast<int64_t>(es),
                      src + (a + b * src_b) * static_cast<int64_t>(es), es);
  }
}

}  // namespace

void strided_copy(const void* src_v, const Dims& src_strides, const Dims& dims, size_t es,
                  void* dst_v) {
  const char* src = static_cast<const char*>(src_v);
  char* dst = static_cast<char*>(dst_v);
  const StridedLoop L = make_strided_loop(dims, {dense_strides(dims), src_strides});
  if (L.count == 0) return;
  const int rank = static_cast<int>(L.dims.size());
  const int64_t ses = static_cast<int64_t>(es);

  // A dim other than the last that the source walks densely: copy as batched 2-D transposes.
  int j = -1;
  if (L.inner_stride(1) != 1 && rank >= 2)
    for (int d = 0; d < rank - 1; ++d)
      if (L.strides[d][1] == 1) j = d;
  if (j >= 0 && L.dims[j] >= 4 && L.inner() >= 4) {
    Dims odims, ods, oss;
    for (int d = 0; d < rank - 1; ++d) {
      if (d == j) continue;
      odims.push_back(L.dims[d]);
      ods.push_back(L.strides[d][0]);
      oss.push_back(L.strides[d][1]);
    }
    const StridedLoop outer = make_strided_loop(odims, {ods, oss});
    const int64_t rows = L.dims[j], cols = L.inner();
    const int64_t dst_a = L.strides[j][0], src_b = L.inner_stride(1);
    // Blocks of a x b elements that take all of a side of at most 256 (a channel count: an
    // NCHW <-> NHWC reorder then reads or writes whole pixel rows) and ~8K elements in all,
    // so every block moves whole runs of cache lines. 16-row strips across all of b read a
    // pixel row of 32-144 channels once per 16 channels.
    const int64_t bb = cols <= 256 ? cols : 64;
    const int64_t ab = rows <= 256 ? rows : std::max<int64_t>(16, 8192 / bb);
    const int64_t a_blocks = (rows + ab - 1) / ab, b_blocks = (cols + bb - 1) / bb;
    const size_t per_outer = static_cast<size_t>(a_blocks * b_blocks);
    const size_t tasks = outer.count * per_outer;
    const size_t grain = std::max<size_t>(1, 32768 / static_cast<size_t>(ab * bb));  // small copies stay on one thread
    parallel_ranges(tasks, grain, [&](size_t b, size_t e) {
      for (size_t t = b; t < e; ++t) {
        const size_t o = t / per_outer, in = t % per_outer;
        const int64_t a0 = static_cast<int64_t>(in / static_cast<size_t>(b_blocks)) * ab, a1 = std::min(rows, a0 + ab);
        const int64_t b0 = static_cast<int64_t>(in % static_cast<size_t>(b_blocks)) * bb, b1 = std::min(cols, b0 + bb);
        for_each_run(outer, o, o + 1, [&](const int64_t* offs, size_t) {
          tile_dispatch(src + (offs[1] + b0 * src_b) * ses, src_b, dst + (offs[0] + b0) * ses, dst_a, a0, a1, b1 - b0, es);
        });
      }
    });
    return;
  }

  parallel_ranges(L.count, 65536 / (es ? es : 1), [&](size_t b, size_t e) {
    for_each_run(L, b, e, [&](const int64_t* offs, size_t n) {
      copy_run(src + offs[1] * ses, L.inner_stride(1), n, es, dst + offs[0] * ses);
    });
  });
}

void transpose(const void* src, const Dims& in_dims, const std::vector<int64_t>& perm,
               size_t elem_size, void* dst) {
  const Dims in_strides = dense_strides(in_dims);
  Dims out_dims(perm.size()), src_strides(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    out_dims[i] = in_dims[static_cast<size_t>(perm[i])];
    src_strides[i] = in_strides[static_cast<size_t>(perm[i])];
  }
  strided_copy(src, src_strides, out_dims, elem_size, dst);
}

}  // namespace nq::ops
