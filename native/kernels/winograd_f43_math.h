// The F(4x4, 3x3) transforms written once over a vector type, so the scalar twin and every
// SIMD variant run exactly the same float operations in the same order. `Ops` supplies
//   V load(const float*), void store(float*, V), V add(V, V), V sub(V, V), V mul(V, V),
//   V set1(float), V clamp(V, lo, hi) (NaN passes through)
// and the width (floats per V). Multiplying by 2, 4 and 8 is exact; the rest rounds.
#pragma once
#include <cstddef>

#include "kernels/winograd.h"

namespace nq::winograd_math {

// B^T applied to six values (a column or a row of the tile).
template <class Ops, class V = typename Ops::V>
inline void input_1d(const Ops& o, const V d[6], V t[6]) {
  const V four = o.set1(4.f), five = o.set1(5.f), two = o.set1(2.f);
  t[0] = o.sub(o.add(d[4], o.mul(four, d[0])), o.mul(five, d[2]));
  t[1] = o.sub(o.add(d[3], d[4]), o.mul(four, o.add(d[1], d[2])));
  t[2] = o.add(o.sub(d[4], d[3]), o.mul(four, o.sub(d[1], d[2])));
  t[3] = o.add(o.sub(d[4], d[2]), o.mul(two, o.sub(d[3], d[1])));
  t[4] = o.sub(o.sub(d[4], d[2]), o.mul(two, o.sub(d[3], d[1])));
  t[5] = o.sub(o.add(d[5], o.mul(four, d[1])), o.mul(five, d[3]));
}

// A^T applied to six values.
template <class Ops, class V = typename Ops::V>
inline void output_1d(const Ops& o, const V m[6], V s[4]) {
  const V two = o.set1(2.f), four = o.set1(4.f), eight = o.set1(8.f);
  const V p12 = o.add(m[1], m[2]), m12 = o.sub(m[1], m[2]);
  const V p34 = o.add(m[3], m[4]), m34 = o.sub(m[3], m[4]);
  s[0] = o.add(o.add(p12, p34), m[0]);
  s[1] = o.add(m12, o.mul(two, m34));
  s[2] = o.add(p12, o.mul(four, p34));
  s[3] = o.add(o.add(m12, o.mul(eight, m34)), m[5]);
}

// Channels [c, c + width) of one tile's input transform.
template <class Ops>
inline void input_block(const Ops& o, const float* const* tile, size_t c, float* v, size_t ldv) {
  using V = typename Ops::V;
  V t[kWinogradPoints];
#pragma GCC unroll 6
  for (size_t j = 0; j < 6; ++j) {  // columns: t = B^T d
    V d[6], r[6];
#pragma GCC unroll 6
    for (size_t i = 0; i < 6; ++i) d[i] = o.load(tile[i * 6 + j] + c);
    input_1d(o, d, r);
#pragma GCC unroll 6
    for (size_t i = 0; i < 6; ++i) t[i * 6 + j] = r[i];
  }
#pragma GCC unroll 6
  for (size_t i = 0; i < 6; ++i) {  // rows: V = t B
    V r[6];
    input_1d(o, t + i * 6, r);
#pragma GCC unroll 6
    for (size_t j = 0; j < 6; ++j) o.store(v + (i * 6 + j) * ldv + c, r[j]);
  }
}

// Channels [c, c + width) of one tile's output transform, residual, bias and clamp.
template <class Ops>
inline void output_block(const Ops& o, const float* m, size_t ldm, size_t c, const WinogradOutputArgs& a,
                         float* const* y, const float* const* z) {
  using V = typename Ops::V;
  V s[4 * 6];
#pragma GCC unroll 6
  for (size_t j = 0; j < 6; ++j) {  // columns: s = A^T M
    V col[6], r[4];
#pragma GCC unroll 6
    for (size_t i = 0; i < 6; ++i) col[i] = o.load(m + (i * 6 + j) * ldm + c);
    output_1d(o, col, r);
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; ++i) s[i * 6 + j] = r[i];
  }
  const V bias = a.bias ? o.load(a.bias + c) : o.set1(0.f);
  const V lo = o.set1(a.lo), hi = o.set1(a.hi);
#pragma GCC unroll 4
  for (size_t i = 0; i < 4; ++i) {  // rows: Y = s A
    V r[4];
    output_1d(o, s + i * 6, r);
#pragma GCC unroll 4
    for (size_t j = 0; j < 4; ++j) {
      float* dst = y[i * 4 + j];
      if (!dst) continue;
      V out = r[j];
      if (z) out = o.add(out, o.load(z[i * 4 + j] + c));
      if (a.bias) out = o.add(out, bias);
      if (a.clamp) out = o.clamp(out, lo, hi);
      o.store(dst + c, out);
    }
  }
}

// One float at a time: the scalar twin, and every SIMD variant's channel tail.
struct ScalarOps {
  using V = float;
  static constexpr size_t width = 1;
  V load(const float* p) const { return *p; }
  void store(float* p, V v) const { *p = v; }
  V add(V a, V b) const { return a + b; }
  V sub(V a, V b) const { return a - b; }
  V mul(V a, V b) const { return a * b; }
  V set1(float f) const { return f; }
  // max(lo, x) then min(hi, .), each keeping x when the comparison fails: the SIMD order.
  V clamp(V x, V lo, V hi) const {
    const V y = lo > x ? lo : x;
    return hi < y ? hi : y;
  }
};

// Whole vectors of `Ops`, then the remaining channels one by one.
template <class Ops>
inline void input_tile(const float* const* tile, size_t channels, float* v, size_t ldv) {
  const Ops o;
  size_t c = 0;
  for (; c + Ops::width <= channels; c += Ops::width) input_block(o, tile, c, v, ldv);
  const ScalarOps s;
  for (; c < channels; ++c) input_block(s, tile, c, v, ldv);
}

template <class Ops>
inline void output_tile(const float* m, size_t ldm, size_t channels, const WinogradOutputArgs& a, float* const* y,
                        const float* const* z) {
  const Ops o;
  size_t c = 0;
  for (; c + Ops::width <= channels; c += Ops::width) output_block(o, m, ldm, c, a, y, z);
  const ScalarOps s;
  for (; c < channels; ++c) output_block(s, m, ldm, c, a, y, z);
}

}  // namespace nq::winograd_math
