// com.nquant.train quantization-aware training ops: FakeQuantize against a reference
// quantize/dequantize with its own round-half-even (exact equality, ties included),
// FakeQuantizeGrad against the STE/LSQ formulas, MinMaxObserve.
#include <doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "train_test_util.h"

namespace {

using namespace nq_train_test;

// Round half to even without the C library's rounding functions.
double round_half_even(double v) {
  const double f = std::floor(v);
  const double d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return std::fmod(f, 2.0) == 0 ? f : f + 1;
}

struct QuantCase {
  Dims xd;
  Dims sd;        // {} per tensor, else {C}
  int64_t axis;
  int64_t qmin, qmax;
  std::vector<float> scale, zp;
};

std::string describe(const QuantCase& c) {
  return "X " + dims_text(c.xd) + " scale " + dims_text(c.sd) + " axis " + std::to_string(c.axis) +
         " q [" + std::to_string(c.qmin) + "," + std::to_string(c.qmax) + "]";
}

// Channel of element i (0 when per tensor).
size_t channel_of(const QuantCase& c, size_t i) {
  if (c.sd.empty() || count_of(c.sd) == 1) return 0;
  const int64_t axis = c.axis < 0 ? c.axis + int64_t(c.xd.size()) : c.axis;
  size_t inner = 1;
  for (size_t a = size_t(axis) + 1; a < c.xd.size(); ++a) inner *= size_t(c.xd[a]);
  return (i / inner) % size_t(c.xd[size_t(axis)]);
}

struct QuantRef {
  float v;        // X/scale as float32 division
  double r, z, q;  // rounded v, rounded zero point, r + z
  bool inside;
  double qc;      // clamped q
  float y;
};

QuantRef quant_ref(const QuantCase& c, float x, size_t ch) {
  QuantRef o;
  const float s = c.scale[ch];
  o.v = float(double(x) / double(s));  // double rounding is innocuous for one division
  o.r = round_half_even(o.v);
  o.z = round_half_even(c.zp[ch]);
  o.q = o.r + o.z;
  o.inside = o.q >= double(c.qmin) && o.q <= double(c.qmax);
  o.qc = std::min(std::max(o.q, double(c.qmin)), double(c.qmax));
  o.y = float((o.qc - o.z) * double(s));
  return o;
}

OpCase make_fq(const QuantCase& c, bool grad) {
  OpCase op(grad ? "FakeQuantizeGrad" : "FakeQuantize");
  if (grad) op.in(DType::f32, c.xd);
  op.in(DType::f32, c.xd).in(DType::f32, c.sd).in(DType::f32, c.sd)
      .attr("qmin", attr_int(c.qmin)).attr("qmax", attr_int(c.qmax)).attr("axis", attr_int(c.axis));
  return op;
}

// X values: exact .5 ties of the grid for power-of-two scales, random values across and
// beyond the clamp range otherwise.
std::vector<float> quant_input(const QuantCase& c, uint32_t seed) {
  const size_t n = count_of(c.xd);
  auto x = nq_test::random_f32(n, seed, -1.f, 1.f);
  for (size_t i = 0; i < n; ++i) {
    const size_t ch = channel_of(c, i);
    const float s = c.scale[ch];
    const double span = double(c.qmax - c.qmin) * s;
    if (i % 3 == 0) {
      // (k + 0.5)·s: a tie after division when s is a power of two.
      const int64_t k = int64_t(i / 3 % size_t(c.qmax - c.qmin + 40)) + c.qmin - 20 - int64_t(round_half_even(c.zp[ch]));
      x[i] = float((double(k) + 0.5) * s);
    } else {
      x[i] = float(x[i] * span * 0.7);
    }
  }
  return x;
}

std::vector<QuantCase> quant_cases() {
  return {
      {{4, 50}, {}, 0, -128, 127, {0.25f}, {0.f}},
      {{300}, {}, 0, 0, 255, {0.125f}, {3.f}},
      {{7, 11}, {1}, 0, -8, 7, {0.5f}, {-2.6f}},          // zero point rounds to -3
      {{200}, {}, 0, 0, 255, {0.1f}, {2.5f}},             // zp 2.5 -> 2 (half to even)
      {{2, 3, 5}, {3}, 1, -128, 127, {0.25f, 0.037f, 1.f}, {0.f, 1.f, -0.5f}},
      {{4, 6}, {4}, 0, 0, 15, {0.5f, 0.0625f, 0.3f, 2.f}, {7.f, 0.f, 15.4f, 1.5f}},
      {{3, 4}, {4}, -1, -128, 127, {0.25f, 0.5f, 0.1f, 0.03125f}, {0.f, -3.f, 1.f, 127.f}},
      {{8, 64, 64}, {64}, 1, -128, 127, std::vector<float>(64, 0.0625f), std::vector<float>(64, 1.f)},
  };
}

}  // namespace

TEST_CASE("ops.train FakeQuantize equals quantize then dequantize, ties to even") {
  uint32_t seed = 3000;
  for (const QuantCase& c : quant_cases()) {
    INFO(describe(c));
    const auto x = quant_input(c, seed++);
    OpCase op = make_fq(c, false);
    op.out(DType::f32, c.xd).out(DType::u8, c.xd);
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<float> y(x.size(), 7.f);
    std::vector<uint8_t> mask(x.size(), 7);
    REQUIRE(op.run({x.data(), c.scale.data(), c.zp.data()}, {y.data(), mask.data()}).is_ok());
    size_t bad = 0, ties = 0, clipped = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const QuantRef r = quant_ref(c, x[i], channel_of(c, i));
      ties += r.v - std::floor(r.v) == 0.5f;
      clipped += !r.inside;
      if (y[i] != r.y || mask[i] != uint8_t(r.inside)) {
        if (bad++ < 4)
          FAIL_CHECK("[" << i << "] x " << x[i] << " got y " << y[i] << " mask " << int(mask[i])
                             << " want " << r.y << " mask " << r.inside);
      }
    }
    CHECK_MESSAGE(bad == 0, bad << " mismatches");
    bool pow2 = false;  // ties are exact only after division by a power of two
    for (float sc : c.scale) {
      int e;
      pow2 = pow2 || std::frexp(sc, &e) == 0.5f;
    }
    if (pow2) CHECK(ties > 0);
    CHECK(clipped > 0);
    // Y alone (mask omitted).
    OpCase only_y = make_fq(c, false);
    only_y.out(DType::f32, c.xd);
    REQUIRE(only_y.create().is_ok());
    std::vector<float> y2(x.size());
    REQUIRE(only_y.run({x.data(), c.scale.data(), c.zp.data()}, {y2.data()}).is_ok());
    CHECK(y2 == y);
  }
}

TEST_CASE("ops.train FakeQuantizeGrad: straight-through dX and LSQ dScale/dZeroPoint") {
  uint32_t seed = 3100;
  for (const QuantCase& c : quant_cases()) {
    INFO(describe(c));
    const auto x = quant_input(c, seed++);
    const auto dy = nq_test::random_f32(x.size(), seed++);
    const size_t C = count_of(c.sd);
    OpCase op = make_fq(c, true);
    op.out(DType::f32, c.xd).out(DType::f32, c.sd).out(DType::f32, c.sd);
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<float> dx(x.size(), 7.f), ds(C, 7.f), dz(C, 7.f);
    REQUIRE(op.run({dy.data(), x.data(), c.scale.data(), c.zp.data()}, {dx.data(), ds.data(), dz.data()}).is_ok());
    std::vector<double> want_dx(x.size()), want_ds(C, 0.0), want_dz(C, 0.0);
    for (size_t i = 0; i < x.size(); ++i) {
      const size_t ch = channel_of(c, i);
      const QuantRef r = quant_ref(c, x[i], ch);
      want_dx[i] = r.inside ? dy[i] : 0.0;
      // y = (clamp(round(v) + z) - z)·s with round's derivative taken as 1:
      //   inside  ∂y/∂s = round(v) - v, ∂y/∂z = 0;  clipped ∂y/∂s = bound - z, ∂y/∂z = -s.
      want_ds[ch] += dy[i] * (r.inside ? r.r - double(r.v) : r.qc - r.z);
      want_dz[ch] += r.inside ? 0.0 : -double(dy[i]) * c.scale[ch];
    }
    expect_close(dx, want_dx, "dX", 0, 0);
    expect_close(ds, want_ds, "dScale", 1e-5, 1e-5);
    expect_close(dz, want_dz, "dZeroPoint", 1e-5, 1e-5);
    // dScale alone (dX omitted, dZeroPoint dropped).
    OpCase part = make_fq(c, true);
    part.absent_out().out(DType::f32, c.sd);
    REQUIRE(part.create().is_ok());
    std::vector<float> ds2(C, 7.f);
    REQUIRE(part.run({dy.data(), x.data(), c.scale.data(), c.zp.data()}, {nullptr, ds2.data()}).is_ok());
    CHECK(ds2 == ds);
  }
}

TEST_CASE("ops.train FakeQuantize refuses a per-channel scale that does not fit the axis") {
  OpCase op("FakeQuantize");
  op.in(DType::f32, {2, 3}).in(DType::f32, {4}).in(DType::f32, {4}).out(DType::f32, {2, 3})
      .attr("qmin", attr_int(-128)).attr("qmax", attr_int(127)).attr("axis", attr_int(1));
  CHECK_FALSE(op.create().is_ok());
  OpCase no_range("FakeQuantize");
  no_range.in(DType::f32, {2, 3}).in(DType::f32, {}).in(DType::f32, {}).out(DType::f32, {2, 3});
  CHECK_FALSE(no_range.create().is_ok());
}

TEST_CASE("ops.train MinMaxObserve: first batch, momentum, NaNs, in place") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  auto make = [](size_t n) {
    OpCase op("MinMaxObserve");
    op.in(DType::f32, {int64_t(n)}).in(DType::f32, {2}).in(DType::f32, {1}).out(DType::f32, {2});
    REQUIRE(op.create().is_ok());
    return op;
  };
  const size_t n = 100000;  // split over the pool
  auto x = nq_test::random_f32(n, 3200, -1.f, 1.f);
  x[n - 1] = -3.5f;
  x[n / 2] = 2.25f;
  x[7] = nan;
  x[n - 2] = nan;
  OpCase op = make(n);
  std::vector<float> range = {inf, -inf};
  const float momentum = 0.9f;
  REQUIRE(op.run({x.data(), range.data(), &momentum}, {range.data()}).is_ok());  // in place
  CHECK(range[0] == -3.5f);
  CHECK(range[1] == 2.25f);
  // Second batch: range·m + batch·(1 − m).
  auto x2 = nq_test::random_f32(n, 3201, -0.5f, 0.5f);
  x2[3] = -1.f;
  x2[4] = 1.f;
  REQUIRE(op.run({x2.data(), range.data(), &momentum}, {range.data()}).is_ok());
  CHECK(range[0] == doctest::Approx(-3.5 * 0.9 + -1.0 * 0.1).epsilon(1e-6));
  CHECK(range[1] == doctest::Approx(2.25 * 0.9 + 1.0 * 0.1).epsilon(1e-6));
  // A batch of NaNs leaves the range alone; a NaN range counts as uninitialised.
  std::vector<float> nans(10, nan);
  OpCase small = make(10);
  const std::vector<float> before = range;
  REQUIRE(small.run({nans.data(), range.data(), &momentum}, {range.data()}).is_ok());
  CHECK(range == before);
  std::vector<float> xs = {0.5f, -0.25f, nan, 4.f, 1.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  std::vector<float> nan_range = {nan, nan}, out(2);
  REQUIRE(small.run({xs.data(), nan_range.data(), &momentum}, {out.data()}).is_ok());
  CHECK(out[0] == -0.25f);
  CHECK(out[1] == 4.f);
}
