// Tensor op family: the shape helpers (broadcasting, strided loops, permuted copies) and every
// element-wise, data-movement and reduction op against hand-computed results.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "ops/shape_util.h"
#include "runtime/threadpool.h"

using nq::ops::Dims;

namespace {

// Naive reference: element at multi-index of `dims` via strides.
std::vector<int32_t> naive_strided(const std::vector<int32_t>& src, const Dims& strides,
                                   const Dims& dims) {
  const size_t n = nq::ops::dims_count(dims);
  std::vector<int32_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    size_t rem = i;
    int64_t off = 0;
    for (size_t d = dims.size(); d-- > 0;) {
      off += static_cast<int64_t>(rem % static_cast<size_t>(dims[d])) * strides[d];
      rem /= static_cast<size_t>(dims[d]);
    }
    out[i] = src[static_cast<size_t>(off)];
  }
  return out;
}

std::vector<int32_t> iota_i32(size_t n) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

TEST_CASE("shape_util: broadcast_dims") {
  Dims out;
  CHECK(nq::ops::broadcast_dims({{2, 3, 4}, {4}}, &out));
  CHECK(out == Dims{2, 3, 4});
  CHECK(nq::ops::broadcast_dims({{2, 1, 4}, {3, 1}}, &out));
  CHECK(out == Dims{2, 3, 4});
  CHECK(nq::ops::broadcast_dims({{}, {5}}, &out));  // scalar
  CHECK(out == Dims{5});
  CHECK(nq::ops::broadcast_dims({{}, {}}, &out));
  CHECK(out.empty());
  CHECK(nq::ops::broadcast_dims({{0, 3}, {1, 3}}, &out));  // zero-size dim
  CHECK(out == Dims{0, 3});
  CHECK(nq::ops::broadcast_dims({{1}, {0}}, &out));
  CHECK(out == Dims{0});
  CHECK(nq::ops::broadcast_dims({{3, 1, 1}, {1, 4, 1}, {1, 1, 5}}, &out));
  CHECK(out == Dims{3, 4, 5});
  CHECK_FALSE(nq::ops::broadcast_dims({{2, 3}, {4}}, &out));
  CHECK_FALSE(nq::ops::broadcast_dims({{0}, {2}}, &out));
}

TEST_CASE("shape_util: broadcast_strides and axes") {
  CHECK(nq::ops::broadcast_strides({3, 1}, {2, 3, 4}) == Dims{0, 1, 0});
  CHECK(nq::ops::broadcast_strides({2, 3, 4}, {2, 3, 4}) == Dims{12, 4, 1});
  CHECK(nq::ops::broadcast_strides({}, {2, 2}) == Dims{0, 0});
  CHECK(nq::ops::dense_strides({2, 3, 4}) == Dims{12, 4, 1});
  CHECK(nq::ops::dims_count({}) == 1);
  CHECK(nq::ops::dims_count({3, 0}) == 0);
  int64_t a = 0;
  CHECK(nq::ops::normalize_axis(-1, 3, &a));
  CHECK(a == 2);
  CHECK(nq::ops::normalize_axis(0, 1, &a));
  CHECK(a == 0);
  CHECK_FALSE(nq::ops::normalize_axis(3, 3, &a));
  CHECK_FALSE(nq::ops::normalize_axis(-4, 3, &a));
  std::vector<int64_t> axes;
  CHECK(nq::ops::normalize_axes({-1, 0}, 3, &axes));
  CHECK(axes == std::vector<int64_t>{2, 0});
  CHECK_FALSE(nq::ops::normalize_axes({-1, 2}, 3, &axes));  // duplicate
}

TEST_CASE("shape_util: strided loop merges contiguous dims") {
  // [N,C,H,W] + [1,C,1,1]: H and W merge; N and C do not (bias stride pattern differs).
  const Dims dims{2, 3, 4, 5};
  auto L = nq::ops::make_strided_loop(
      dims, {nq::ops::dense_strides(dims), nq::ops::broadcast_strides({1, 3, 1, 1}, dims)});
  CHECK(L.dims == Dims{2, 3, 20});
  CHECK(L.count == 120);
  // Same shapes: one run.
  auto D = nq::ops::make_strided_loop(dims, {nq::ops::dense_strides(dims), nq::ops::dense_strides(dims)});
  CHECK(D.dims == Dims{120});
  // Size-1 dims vanish; all-ones gives a single element.
  auto O = nq::ops::make_strided_loop({1, 1}, {{0, 0}});
  CHECK(O.dims == Dims{1});
  CHECK(O.count == 1);
  auto Z = nq::ops::make_strided_loop({3, 0}, {{0, 1}});
  CHECK(Z.count == 0);
}

TEST_CASE("shape_util: for_each_run visits every element once for any sub-range") {
  const Dims dims{3, 4, 5};
  const Dims bstr = nq::ops::broadcast_strides({3, 1, 5}, dims);
  auto L = nq::ops::make_strided_loop(dims, {nq::ops::dense_strides(dims), bstr});
  std::vector<int32_t> src = iota_i32(15);
  std::vector<int32_t> want = naive_strided(src, bstr, dims);
  for (size_t b : {0, 1, 4, 5, 17, 59}) {
    for (size_t e : {b, b + 1, b + 7, size_t{60}}) {
      if (e > 60) continue;
      std::vector<int32_t> got(60, -1);
      nq::ops::for_each_run(L, b, e, [&](const int64_t* offs, size_t n) {
        for (size_t i = 0; i < n; ++i)
          got[static_cast<size_t>(offs[0]) + i] =
              src[static_cast<size_t>(offs[1] + static_cast<int64_t>(i) * L.inner_stride(1))];
      });
      for (size_t i = 0; i < 60; ++i) {
        CAPTURE(b);
        CAPTURE(e);
        CAPTURE(i);
        CHECK(got[i] == (i >= b && i < e ? want[i] : -1));
      }
    }
  }
}

TEST_CASE("shape_util: transpose matches naive for many perms and sizes") {
  struct Case { Dims dims; std::vector<int64_t> perm; };
  const Case cases[] = {
      {{3, 5}, {1, 0}},
      {{37, 61}, {1, 0}},
      {{1, 3, 4, 5}, {0, 2, 3, 1}},       // NCHW -> NHWC
      {{2, 7, 9, 33}, {0, 2, 3, 1}},
      {{2, 9, 33, 7}, {0, 3, 1, 2}},      // NHWC -> NCHW
      {{2, 3, 4}, {2, 1, 0}},
      {{2, 3, 4, 5}, {3, 0, 2, 1}},
      {{2, 3, 4}, {0, 1, 2}},             // identity
      {{4, 1, 6}, {1, 2, 0}},
      {{2, 0, 3}, {2, 0, 1}},
      {{}, {}},
      {{300, 260}, {1, 0}},               // big enough to thread
  };
  for (const Case& c : cases) {
    const size_t n = nq::ops::dims_count(c.dims);
    std::vector<int32_t> src = iota_i32(n);
    const Dims in_str = nq::ops::dense_strides(c.dims);
    Dims out_dims, str;
    for (int64_t p : c.perm) {
      out_dims.push_back(c.dims[static_cast<size_t>(p)]);
      str.push_back(in_str[static_cast<size_t>(p)]);
    }
    std::vector<int32_t> want = naive_strided(src, str, out_dims);
    std::vector<int32_t> got(n + 1, -7);
    nq::ops::transpose(src.data(), c.dims, c.perm, 4, got.data());
    CHECK(got[n] == -7);  // no write past the end
    got.resize(n);
    CAPTURE(c.dims.size());
    CHECK(got == want);
    // 1- and 2-byte elements take the same paths with other integer types.
    std::vector<uint16_t> s16(n), g16(n);
    for (size_t i = 0; i < n; ++i) s16[i] = static_cast<uint16_t>(i);
    nq::ops::transpose(s16.data(), c.dims, c.perm, 2, g16.data());
    bool ok = true;
    for (size_t i = 0; i < n; ++i) ok = ok && g16[i] == static_cast<uint16_t>(want[i]);
    CHECK(ok);
  }
}

TEST_CASE("shape_util: strided_copy of a broadcast view, odd element size") {
  // 3-byte elements fall back to memcpy per element.
  const Dims dims{2, 3};
  const Dims str{0, 1};
  const unsigned char src[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  unsigned char dst[18];
  nq::ops::strided_copy(src, str, dims, 3, dst);
  for (int r = 0; r < 2; ++r)
    for (int i = 0; i < 9; ++i) CHECK(dst[r * 9 + i] == src[i]);
}
