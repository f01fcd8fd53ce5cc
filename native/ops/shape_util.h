// Shape helpers the op kernels share: numpy-style broadcasting, axis normalisation, an N-D
// strided loop that merges contiguous dims (so inner loops run over long dense runs), and an
// N-D permuted copy (Transpose, and any op that moves a strided view into a dense buffer).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/threadpool.h"

namespace nq::ops {

using Dims = std::vector<int64_t>;

// Product of dims (1 for a scalar, 0 when any dim is 0); SIZE_MAX for a negative dim or on
// overflow, like TensorDesc::count().
size_t dims_count(const Dims& dims);

// Row-major element strides of a dense tensor.
Dims dense_strides(const Dims& dims);

// Numpy broadcasting of any number of shapes (aligned right; a dim of 1 stretches).
// Returns false when two dims differ and neither is 1.
bool broadcast_dims(const std::vector<Dims>& shapes, Dims* out);

// Element strides of a dense tensor of shape `in` read as shape `out` (which `in` broadcasts
// to): one stride per out dim, 0 on dims `in` lacks or has as 1.
Dims broadcast_strides(const Dims& in, const Dims& out);

// Maps an ONNX axis in [-rank, rank) to [0, rank). False when out of range.
bool normalize_axis(int64_t axis, int64_t rank, int64_t* out);
// Same for a list; also rejects duplicates.
bool normalize_axes(const std::vector<int64_t>& axes, int64_t rank, std::vector<int64_t>* out);

// A loop nest over `dims` shared by up to kMaxOperands operands, each with its own element
// strides. Dims of size 1 are dropped and neighbours that every operand walks contiguously
// (stride[d] == stride[d+1] * dims[d+1]) are merged, so a broadcast add of [N,C,H,W] by
// [1,C,1,1] becomes a 3-D loop with an inner run of H*W.
constexpr int kMaxOperands = 4;
struct StridedLoop {
  int operands = 0;
  Dims dims;                                           // outermost first; never empty
  std::vector<std::array<int64_t, kMaxOperands>> strides;  // strides[d][operand]
  size_t count = 0;                                    // total elements

  int64_t inner() const { return dims.back(); }
  int64_t inner_stride(int op) const { return strides.back()[op]; }
};

// strides[k] holds operand k's strides, one per dim.
StridedLoop make_strided_loop(const Dims& dims, const std::vector<Dims>& strides);

// Calls fn(offsets, n) for every inner run that intersects the linear element range
// [begin, end): offsets[k] is operand k's element offset at the run's first element, the run
// has n elements and operand k advances by loop.inner_stride(k) between them. Splitting the
// range across threads therefore needs no knowledge of the loop's shape.
template <typename Fn>
void for_each_run(const StridedLoop& loop, size_t begin, size_t end, Fn&& fn) {
  if (begin >= end) return;
  const int rank = static_cast<int>(loop.dims.size());
  const int nops = loop.operands;
  // Multi-index of `begin`, then the operand offsets there.
  int64_t idx_small[16];
  std::vector<int64_t> idx_big;
  int64_t* idx = idx_small;
  if (rank > 16) {
    idx_big.resize(rank);
    idx = idx_big.data();
  }
  int64_t offs[kMaxOperands] = {0, 0, 0, 0};
  size_t rem = begin;
  for (int d = rank - 1; d >= 0; --d) {
    const size_t n = static_cast<size_t>(loop.dims[d]);
    idx[d] = static_cast<int64_t>(rem % n);
    rem /= n;
    for (int k = 0; k < nops; ++k) offs[k] += idx[d] * loop.strides[d][k];
  }
  size_t pos = begin;
  const int64_t inner = loop.dims[rank - 1];
  while (pos < end) {
    size_t n = static_cast<size_t>(inner - idx[rank - 1]);
    if (n > end - pos) n = end - pos;
    fn(static_cast<const int64_t*>(offs), n);
    pos += n;
    if (pos >= end) break;
    // Advance the multi-index by n (always lands on the start of the next run or mid-run
    // only at the range end, which we never pass).
    idx[rank - 1] += static_cast<int64_t>(n);
    for (int k = 0; k < nops; ++k) offs[k] += static_cast<int64_t>(n) * loop.strides[rank - 1][k];
    for (int d = rank - 1; d > 0 && idx[d] == loop.dims[d]; --d) {
      for (int k = 0; k < nops; ++k)
        offs[k] += loop.strides[d - 1][k] - loop.dims[d] * loop.strides[d][k];
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

// Splits [0, n) into chunks of at least `grain` elements (multiples of 64, so vector loops
// keep their alignment) and runs fn(begin, end) on the thread pool; inline when one chunk
// suffices, which keeps small tensors free of pool overhead.
template <typename Fn>
void parallel_ranges(size_t n, size_t grain, Fn&& fn) {
  const size_t threads = get_num_threads();
  if (grain == 0) grain = 1;
  size_t tasks = n / grain;
  if (tasks > threads * 4) tasks = threads * 4;
  if (tasks <= 1 || threads <= 1) {
    if (n) fn(size_t{0}, n);
    return;
  }
  size_t per = (n + tasks - 1) / tasks;
  per = (per + 63) / 64 * 64;
  parallel_for(tasks, [&](size_t t) {
    const size_t b = t * per;
    const size_t e = b + per < n ? b + per : n;
    if (b < e) fn(b, e);
  });
}

// Copies the strided view `src` (element strides src_strides over dims) into the dense
// buffer dst. Element sizes 1, 2, 4 and 8 move as integers; others byte-wise. When the view
// walks one dim with stride 1 that is not the last, the copy goes in cache tiles (a batched
// 2-D transpose: the shape NCHW<->NHWC and 2-D Transpose take).
void strided_copy(const void* src, const Dims& src_strides, const Dims& dims, size_t elem_size,
                  void* dst);

// Dense transpose: output dim i is input dim perm[i].
void transpose(const void* src, const Dims& in_dims, const std::vector<int64_t>& perm,
               size_t elem_size, void* dst);

}  // namespace nq::ops
