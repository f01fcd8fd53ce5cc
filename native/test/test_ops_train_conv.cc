// com.nquant.train ConvGrad and the pooling gradients against direct double-precision loops
// (no im2col), and against central differences of a naive forward.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "runtime/threadpool.h"
#include "train_test_util.h"

namespace {

using namespace nq_train_test;

// ---- ConvGrad -------------------------------------------------------------------------------

struct ConvCase {
  int64_t n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, g;
  bool one_d = false;  // rank-3 tensors: h = kh = 1, no vertical stride/pads
  int64_t oh() const { return (h + pt + pb - ((kh - 1) * dh + 1)) / sh + 1; }
  int64_t ow() const { return (w + pl + pr - ((kw - 1) * dw + 1)) / sw + 1; }
  Dims xd() const { return one_d ? Dims{n, c, w} : Dims{n, c, h, w}; }
  Dims wd() const { return one_d ? Dims{m, c / g, kw} : Dims{m, c / g, kh, kw}; }
  Dims yd() const { return one_d ? Dims{n, m, ow()} : Dims{n, m, oh(), ow()}; }
};

std::string describe(const ConvCase& s) {
  return std::string(s.one_d ? "1-D " : "") + "N" + std::to_string(s.n) + " C" + std::to_string(s.c) +
         " " + std::to_string(s.h) + "x" + std::to_string(s.w) + " M" + std::to_string(s.m) + " k" +
         std::to_string(s.kh) + "x" + std::to_string(s.kw) + " s" + std::to_string(s.sh) + "," +
         std::to_string(s.sw) + " d" + std::to_string(s.dh) + "," + std::to_string(s.dw) + " pads " +
         std::to_string(s.pt) + "," + std::to_string(s.pl) + "," + std::to_string(s.pb) + "," +
         std::to_string(s.pr) + " g" + std::to_string(s.g);
}

// Calls f(n, m, oy, ox, c (input channel), ky, kx, iy, ix) for every in-bounds tap.
template <typename F>
void conv_taps(const ConvCase& s, F&& f) {
  const int64_t cg = s.c / s.g, mg = s.m / s.g;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t m = 0; m < s.m; ++m)
      for (int64_t oy = 0; oy < s.oh(); ++oy)
        for (int64_t ox = 0; ox < s.ow(); ++ox)
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ky = 0; ky < s.kh; ++ky)
              for (int64_t kx = 0; kx < s.kw; ++kx) {
                const int64_t iy = oy * s.sh - s.pt + ky * s.dh, ix = ox * s.sw - s.pl + kx * s.dw;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                f(n, m, oy, ox, (m / mg) * cg + ci, ci, ky, kx, iy, ix);
              }
}

size_t xi(const ConvCase& s, int64_t n, int64_t c, int64_t iy, int64_t ix) {
  return size_t(((n * s.c + c) * s.h + iy) * s.w + ix);
}
size_t wi(const ConvCase& s, int64_t m, int64_t ci, int64_t ky, int64_t kx) {
  return size_t(((m * (s.c / s.g) + ci) * s.kh + ky) * s.kw + kx);
}
size_t yi(const ConvCase& s, int64_t n, int64_t m, int64_t oy, int64_t ox) {
  return size_t(((n * s.m + m) * s.oh() + oy) * s.ow() + ox);
}

std::vector<double> conv_forward(const ConvCase& s, const std::vector<double>& x,
                                 const std::vector<double>& w, const std::vector<double>& b) {
  std::vector<double> y(count_of(s.yd()));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t m = 0; m < s.m; ++m)
      for (int64_t p = 0; p < s.oh() * s.ow(); ++p) y[size_t((n * s.m + m) * s.oh() * s.ow() + p)] = b[size_t(m)];
  conv_taps(s, [&](int64_t n, int64_t m, int64_t oy, int64_t ox, int64_t c, int64_t ci, int64_t ky,
                   int64_t kx, int64_t iy, int64_t ix) {
    y[yi(s, n, m, oy, ox)] += x[xi(s, n, c, iy, ix)] * w[wi(s, m, ci, ky, kx)];
  });
  return y;
}

struct ConvGrads {
  std::vector<double> dx, dw, db;
};

ConvGrads conv_backward_ref(const ConvCase& s, const std::vector<float>& x,
                            const std::vector<float>& w, const std::vector<float>& dy) {
  ConvGrads r;
  r.dx.assign(x.size(), 0.0);
  r.dw.assign(w.size(), 0.0);
  r.db.assign(size_t(s.m), 0.0);
  conv_taps(s, [&](int64_t n, int64_t m, int64_t oy, int64_t ox, int64_t c, int64_t ci, int64_t ky,
                   int64_t kx, int64_t iy, int64_t ix) {
    const double g = dy[yi(s, n, m, oy, ox)];
    r.dx[xi(s, n, c, iy, ix)] += g * w[wi(s, m, ci, ky, kx)];
    r.dw[wi(s, m, ci, ky, kx)] += g * x[xi(s, n, c, iy, ix)];
  });
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t m = 0; m < s.m; ++m)
      for (int64_t oy = 0; oy < s.oh(); ++oy)
        for (int64_t ox = 0; ox < s.ow(); ++ox) r.db[size_t(m)] += dy[yi(s, n, m, oy, ox)];
  return r;
}

// A float sum's error relative to the sum of its terms' magnitudes: 8 float epsilons covers
// the scalar and SIMD summation orders at these lengths.
constexpr double kDwRoundingEps = 8 * 1.1920929e-7;

// which: bit 0 dX, bit 1 dW, bit 2 dB.
OpCase make_conv_grad(const ConvCase& s, int which) {
  OpCase op("ConvGrad");
  op.in(DType::f32, s.yd()).in(DType::f32, s.xd()).in(DType::f32, s.wd());
  if (s.one_d) {
    op.attr("strides", attr_ints({s.sw})).attr("dilations", attr_ints({s.dw}))
        .attr("pads", attr_ints({s.pl, s.pr}));
  } else {
    op.attr("strides", attr_ints({s.sh, s.sw})).attr("dilations", attr_ints({s.dh, s.dw}))
        .attr("pads", attr_ints({s.pt, s.pl, s.pb, s.pr}));
  }
  op.attr("group", attr_int(s.g));
  // Omitted outputs: empty descriptors in the middle, nothing at the end.
  const int last = which & 4 ? 2 : which & 2 ? 1 : 0;
  if (which & 1) op.out(DType::f32, s.xd()); else op.absent_out();
  if (last >= 1) { if (which & 2) op.out(DType::f32, s.wd()); else op.absent_out(); }
  if (last >= 2) op.out(DType::f32, {s.m});
  return op;
}

void check_conv_grad(const ConvCase& s, int which, uint32_t seed) {
  INFO(describe(s) << " outputs mask " << which);
  auto x = nq_test::random_f32(count_of(s.xd()), seed);
  auto w = nq_test::random_f32(count_of(s.wd()), seed + 1);
  auto dy = nq_test::random_f32(count_of(s.yd()), seed + 2);
  OpCase op = make_conv_grad(s, which);
  nq::Status st = op.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<float> dx(x.size(), 7.f), dw(w.size(), 7.f), db(size_t(s.m), 7.f);
  std::vector<void*> outs = {which & 1 ? dx.data() : nullptr, which & 2 ? dw.data() : nullptr,
                             which & 4 ? db.data() : nullptr};
  while (!outs.empty() && !outs.back()) outs.pop_back();
  st = op.run({dy.data(), x.data(), w.data()}, outs);
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  const ConvGrads ref = conv_backward_ref(s, x, w, dy);
  if (which & 1) expect_close(dx, ref.dx, "dX " + describe(s), 1e-4, 1e-5);
  else CHECK(dx[0] == 7.f);
  if (which & 2) {
    // dW sums x*dy over every output pixel (1024 terms at 32x32) and largely cancels, so its
    // float rounding scales with the sum of |terms|, not with the result: that sum is the
    // same reference run on |x| and |dy|.
    std::vector<float> ax(x.size()), ady(dy.size());
    for (size_t i = 0; i < x.size(); ++i) ax[i] = std::fabs(x[i]);
    for (size_t i = 0; i < dy.size(); ++i) ady[i] = std::fabs(dy[i]);
    const std::vector<double> mag = conv_backward_ref(s, ax, w, ady).dw;
    size_t bad = 0;
    for (size_t i = 0; i < dw.size(); ++i) {
      const double tol = 1e-5 + 1e-4 * std::fabs(ref.dw[i]) + kDwRoundingEps * mag[i];
      if (!(std::fabs(double(dw[i]) - ref.dw[i]) <= tol) && bad++ < 4)
        FAIL_CHECK("dW " << describe(s) << " [" << i << "] got " << dw[i] << " want " << ref.dw[i] << " (tol " << tol << ")");
    }
    CHECK_MESSAGE(bad == 0, "dW " << describe(s) << ": " << bad << " of " << dw.size() << " values off");
  } else {
    CHECK(dw[0] == 7.f);
  }
  if (which & 4) expect_close(db, ref.db, "dB " + describe(s), 1e-5, 1e-5);
  else CHECK(db[0] == 7.f);
}

const ConvCase kConvCases[] = {
    {1, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},       // 3x3 same, batch 1
    {3, 4, 9, 8, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},       // stride 2, batch 3
    {2, 4, 10, 9, 5, 3, 2, 1, 1, 2, 2, 2, 1, 0, 3, 1},      // dilation 2, asymmetric pads
    {2, 8, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},       // groups 2
    {2, 6, 7, 5, 6, 3, 3, 1, 2, 1, 1, 0, 1, 2, 1, 3},       // groups 3, uneven stride
    {2, 8, 5, 5, 16, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},      // 1x1 pointwise (no im2col)
    {2, 8, 6, 6, 4, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2},       // 1x1 pointwise, groups 2
    {1, 37, 11, 13, 45, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1},   // 1x1 stride 2, odd sizes
    {1, 5, 6, 6, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},       // 1x1 with pads
    {2, 6, 12, 12, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6},     // depthwise
    {2, 6, 13, 11, 6, 3, 3, 2, 2, 1, 1, 1, 0, 1, 2, 6},     // depthwise stride 2
    {1, 5, 9, 9, 5, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4, 5},       // depthwise dilated 5x5
    {1, 4, 7, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 4},       // depthwise multiplier 2 (general)
    {2, 70, 6, 6, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},     // K = 630 > one tile
    {1, 130, 5, 5, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    // K = 1170: two K blocks
    {2, 3, 17, 19, 8, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1},     // stem-like
    {1, 64, 32, 32, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    // column matrix in 3 row bands
    {2, 128, 40, 40, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},   // 2 uneven bands, stride 2
    {1, 32, 30, 30, 4, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4, 1},    // bands with dilated taps
    {3, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},    // first layer: 9 taps < 32 filters (dWᵀ)
    {2, 2, 9, 9, 12, 2, 2, 2, 2, 1, 1, 0, 0, 1, 1, 2},      // dWᵀ with groups and stride
    {2, 3, 1, 13, 4, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1, true},  // 1-D same
    {3, 4, 1, 20, 6, 1, 4, 1, 2, 1, 2, 0, 2, 0, 1, 2, true},  // 1-D stride 2, dilation 2, groups 2
    {2, 4, 1, 11, 4, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 4, true},  // 1-D depthwise
};

}  // namespace

TEST_CASE("ops.train ConvGrad matches direct loops over geometry edges") {
  uint32_t seed = 100;
  for (const ConvCase& s : kConvCases) check_conv_grad(s, 7, seed += 3);
}

TEST_CASE("ops.train ConvGrad computes only the requested outputs") {
  const ConvCase cases[] = {kConvCases[1], kConvCases[5], kConvCases[9], kConvCases[17], kConvCases[19]};
  uint32_t seed = 200;
  for (const ConvCase& s : cases)
    for (int which : {1, 2, 4, 3, 5, 6}) check_conv_grad(s, which, seed += 3);
}

TEST_CASE("ops.train ConvGrad is the same on one thread and on many") {
  const size_t saved = nq::get_num_threads();
  const ConvCase cases[] = {
      {5, 16, 14, 14, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   // images split across tasks
      {6, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},    // dWᵀ slices across tasks
      {4, 32, 16, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32},  // depthwise: channels split
      {1, 16, 20, 20, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   // one image: sgemm threads itself
  };
  for (const ConvCase& s : cases)
    for (size_t threads : {size_t(1), size_t(3), size_t(4)}) {
      nq::set_num_threads(threads);
      INFO("threads " << threads);
      check_conv_grad(s, 7, 300);
    }
  nq::set_num_threads(saved);
}

TEST_CASE("ops.train ConvGrad agrees with central differences of a naive conv") {
  const ConvCase cases[] = {
      {2, 4, 6, 5, 6, 3, 3, 2, 1, 1, 1, 1, 1, 1, 0, 2},
      {1, 3, 7, 7, 3, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 3},
      {2, 2, 1, 9, 3, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1, 1, true},
  };
  uint32_t seed = 400;
  for (const ConvCase& s : cases) {
    INFO(describe(s));
    auto x = nq_test::random_f32(count_of(s.xd()), seed++);
    auto w = nq_test::random_f32(count_of(s.wd()), seed++);
    auto b = nq_test::random_f32(size_t(s.m), seed++);
    auto r = nq_test::random_f32(count_of(s.yd()), seed++);  // loss = Σ r·Y, so dY = r
    OpCase op = make_conv_grad(s, 7);
    REQUIRE(op.create().is_ok());
    std::vector<float> dx(x.size()), dw(w.size()), db(b.size());
    REQUIRE(op.run({r.data(), x.data(), w.data()}, {dx.data(), dw.data(), db.data()}).is_ok());
    const auto xd = to_double(x), wd = to_double(w), bd = to_double(b);
    expect_grad(dx, numeric_grad(xd, [&](const std::vector<double>& v) { return dot(conv_forward(s, v, wd, bd), r); }), "dX " + describe(s));
    expect_grad(dw, numeric_grad(wd, [&](const std::vector<double>& v) { return dot(conv_forward(s, xd, v, bd), r); }), "dW " + describe(s));
    expect_grad(db, numeric_grad(bd, [&](const std::vector<double>& v) { return dot(conv_forward(s, xd, wd, v), r); }), "dB " + describe(s));
  }
}

TEST_CASE("ops.train ConvGrad rejects inconsistent shapes with a named error") {
  OpCase op("ConvGrad");
  op.in(DType::f32, {1, 4, 5, 5}).in(DType::f32, {1, 3, 7, 7}).in(DType::f32, {4, 3, 3, 3})
      .out(DType::f32, {1, 3, 7, 7}).attr("pads", attr_ints({1, 1, 1, 1}));
  nq::Status s = op.create();  // dY should be 7x7 with these pads
  CHECK_FALSE(s.is_ok());
  CHECK(s.message.find("ConvGrad node 't'") != std::string::npos);
  OpCase bad_group("ConvGrad");
  bad_group.in(DType::f32, {1, 4, 7, 7}).in(DType::f32, {1, 6, 7, 7}).in(DType::f32, {4, 3, 3, 3})
      .out(DType::f32, {1, 6, 7, 7}).attr("pads", attr_ints({1, 1, 1, 1})).attr("group", attr_int(4));
  CHECK_FALSE(bad_group.create().is_ok());
}

// ---- pooling --------------------------------------------------------------------------------

namespace {

struct PoolCase {
  int64_t n, c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  bool ceil = false, include_pad = false, one_d = false;
  int64_t out_dim(int64_t in, int64_t k, int64_t s, int64_t d, int64_t a, int64_t b) const {
    const int64_t span = in + a + b - ((k - 1) * d + 1);
    int64_t o = ceil ? (span + s - 1) / s + 1 : span / s + 1;
    if (ceil && (o - 1) * s >= in + a) --o;
    return o;
  }
  int64_t oh() const { return out_dim(h, kh, sh, dh, pt, pb); }
  int64_t ow() const { return out_dim(w, kw, sw, dw, pl, pr); }
  Dims xd() const { return one_d ? Dims{n, c, w} : Dims{n, c, h, w}; }
  Dims yd() const { return one_d ? Dims{n, c, ow()} : Dims{n, c, oh(), ow()}; }
};

std::string describe(const PoolCase& s) {
  return std::string(s.one_d ? "1-D " : "") + "N" + std::to_string(s.n) + " C" + std::to_string(s.c) +
         " " + std::to_string(s.h) + "x" + std::to_string(s.w) + " k" + std::to_string(s.kh) + "x" +
         std::to_string(s.kw) + " s" + std::to_string(s.sh) + "," + std::to_string(s.sw) + " d" +
         std::to_string(s.dh) + "," + std::to_string(s.dw) + " pads " + std::to_string(s.pt) + "," +
         std::to_string(s.pl) + "," + std::to_string(s.pb) + "," + std::to_string(s.pr) +
         (s.ceil ? " ceil" : "") + (s.include_pad ? " count_include_pad" : "");
}

OpCase make_pool_grad(const PoolCase& s, bool max) {
  OpCase op(max ? "MaxPoolGrad" : "AveragePoolGrad");
  op.in(DType::f32, s.yd());
  if (max) op.in(DType::f32, s.xd());
  op.out(DType::f32, s.xd());
  if (s.one_d) {
    op.attr("kernel_shape", attr_ints({s.kw})).attr("strides", attr_ints({s.sw}))
        .attr("dilations", attr_ints({s.dw})).attr("pads", attr_ints({s.pl, s.pr}));
  } else {
    op.attr("kernel_shape", attr_ints({s.kh, s.kw})).attr("strides", attr_ints({s.sh, s.sw}))
        .attr("dilations", attr_ints({s.dh, s.dw})).attr("pads", attr_ints({s.pt, s.pl, s.pb, s.pr}));
  }
  op.attr("ceil_mode", attr_int(s.ceil)).attr("count_include_pad", attr_int(s.include_pad));
  return op;
}

// Calls f(window index, flat input index) for the in-bounds taps of every window, in
// row-major window order, and g(window index, taps counted for the average) once per window.
template <typename F, typename G>
void pool_windows(const PoolCase& s, F&& f, G&& g) {
  size_t wi = 0;
  for (int64_t p = 0; p < s.n * s.c; ++p)
    for (int64_t oy = 0; oy < s.oh(); ++oy)
      for (int64_t ox = 0; ox < s.ow(); ++ox, ++wi) {
        int64_t inb = 0, padded = 0;
        for (int64_t ky = 0; ky < s.kh; ++ky)
          for (int64_t kx = 0; kx < s.kw; ++kx) {
            const int64_t iy = oy * s.sh - s.pt + ky * s.dh, ix = ox * s.sw - s.pl + kx * s.dw;
            if (iy >= -s.pt && iy < s.h + s.pb && ix >= -s.pl && ix < s.w + s.pr) ++padded;
            if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
            ++inb;
            f(wi, size_t((p * s.h + iy) * s.w + ix));
          }
        g(wi, s.include_pad ? padded : inb);
      }
}

std::vector<double> pool_forward(const PoolCase& s, const std::vector<double>& x, bool max) {
  std::vector<double> y(count_of(s.yd()), max ? -1e300 : 0.0);
  pool_windows(s, [&](size_t w, size_t i) { y[w] = max ? std::max(y[w], x[i]) : y[w] + x[i]; },
               [&](size_t w, int64_t cnt) { if (!max) y[w] /= double(cnt); });
  return y;
}

std::vector<double> max_pool_grad_ref(const PoolCase& s, const std::vector<float>& x,
                                      const std::vector<float>& dy) {
  std::vector<double> dx(x.size(), 0.0);
  std::vector<long> arg(dy.size(), -1);
  pool_windows(s, [&](size_t w, size_t i) { if (arg[w] < 0 || x[i] > x[size_t(arg[w])]) arg[w] = long(i); },
               [&](size_t w, int64_t) { if (arg[w] >= 0) dx[size_t(arg[w])] += dy[w]; });
  return dx;
}

std::vector<double> avg_pool_grad_ref(const PoolCase& s, const std::vector<float>& dy) {
  std::vector<double> dx(count_of(s.xd()), 0.0);
  std::vector<std::vector<size_t>> taps(dy.size());
  pool_windows(s, [&](size_t w, size_t i) { taps[w].push_back(i); },
               [&](size_t w, int64_t cnt) { for (size_t i : taps[w]) dx[i] += double(dy[w]) / double(cnt); });
  return dx;
}

const PoolCase kPoolCases[] = {
    {1, 2, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},                     // overlapping, padded
    {2, 3, 8, 8, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0},                     // stride 1: heavy overlap
    {1, 2, 7, 6, 2, 2, 2, 2, 2, 2, 0, 1, 1, 0},                     // dilation 2
    {2, 2, 8, 8, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true},               // ceil_mode overhang
    {1, 3, 9, 5, 3, 2, 2, 1, 1, 1, 1, 0, 1, 1, false, true},        // count_include_pad
    {1, 2, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, true},         // include pad + ceil
    {2, 2, 5, 5, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, false, true},        // pads on both sides
    {2, 3, 1, 11, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1, false, false, true},  // 1-D
    {1, 2, 1, 12, 1, 4, 1, 1, 1, 2, 0, 2, 0, 1, false, true, true},   // 1-D dilated, include pad
    {2, 8, 40, 36, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},                   // planes split over the pool
    {2, 3, 8, 8, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0},                     // 2x2/2: the direct path
    {1, 2, 7, 9, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0},                     // 2x2/2, odd: uncovered edge
    {4, 8, 26, 26, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0},                   // 2x2/2, planes split
};

}  // namespace

TEST_CASE("ops.train MaxPoolGrad with relu=1 also applies the ReLU's gradient") {
  uint32_t seed = 900;
  for (const PoolCase& s : kPoolCases) {
    INFO(describe(s));
    // A ReLU's output: many zeros, whole windows of them included.
    auto x = nq_test::random_f32(count_of(s.xd()), seed++, -3.f, 3.f);
    for (float& v : x) v = std::max(0.f, std::floor(v));
    auto dy = nq_test::random_f32(count_of(s.yd()), seed++);
    OpCase op = make_pool_grad(s, true);
    op.attr("relu", attr_int(1));
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<float> dx(x.size(), 9.f);
    REQUIRE(op.run({dy.data(), x.data()}, {dx.data()}).is_ok());
    std::vector<double> want = max_pool_grad_ref(s, x, dy);
    for (size_t i = 0; i < want.size(); ++i)
      if (!(x[i] > 0.f)) want[i] = 0.0;
    expect_close(dx, want, "MaxPoolGrad relu " + describe(s), 1e-6, 1e-6);
  }
}

TEST_CASE("ops.train MaxPoolGrad routes to the first maximum, ties included") {
  uint32_t seed = 500;
  for (const PoolCase& s : kPoolCases) {
    INFO(describe(s));
    // Values on a coarse grid: many ties inside windows.
    auto x = nq_test::random_f32(count_of(s.xd()), seed++, 0.f, 4.f);
    for (float& v : x) v = std::floor(v);
    auto dy = nq_test::random_f32(count_of(s.yd()), seed++);
    OpCase op = make_pool_grad(s, true);
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<float> dx(x.size(), 9.f);
    REQUIRE(op.run({dy.data(), x.data()}, {dx.data()}).is_ok());
    expect_close(dx, max_pool_grad_ref(s, x, dy), "MaxPoolGrad " + describe(s), 1e-6, 1e-6);
  }
  // Every value equal: each window's gradient lands on its first in-bounds element.
  PoolCase s{1, 1, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0};
  std::vector<float> x(16, 1.f), dy(9, 1.f);
  OpCase op = make_pool_grad(s, true);
  REQUIRE(op.create().is_ok());
  std::vector<float> dx(16);
  REQUIRE(op.run({dy.data(), x.data()}, {dx.data()}).is_ok());
  const std::vector<double> want = {1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0};
  expect_close(dx, want, "all-equal ties");
}

TEST_CASE("ops.train AveragePoolGrad spreads over the window with either divisor") {
  uint32_t seed = 600;
  for (const PoolCase& base : kPoolCases)
    for (bool include : {false, true}) {
      PoolCase s = base;
      s.include_pad = include;
      INFO(describe(s));
      auto dy = nq_test::random_f32(count_of(s.yd()), seed++);
      OpCase op = make_pool_grad(s, false);
      nq::Status st = op.create();
      REQUIRE_MESSAGE(st.is_ok(), st.message);
      std::vector<float> dx(count_of(s.xd()), 9.f);
      REQUIRE(op.run({dy.data()}, {dx.data()}).is_ok());
      expect_close(dx, avg_pool_grad_ref(s, dy), "AveragePoolGrad " + describe(s), 1e-5, 1e-6);
    }
}

TEST_CASE("ops.train pooling gradients agree with central differences") {
  const PoolCase cases[] = {
      {2, 2, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
      {1, 2, 8, 7, 3, 2, 1, 2, 2, 1, 1, 0, 2, 1, true, false},
      {1, 2, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, true},
      {2, 2, 1, 10, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1, false, true, true},
  };
  uint32_t seed = 700;
  for (const PoolCase& s : cases) {
    INFO(describe(s));
    // Distinct values 0.01 apart (a shuffled ramp): a 1e-3 step never changes a window's max.
    std::vector<float> x(count_of(s.xd()));
    std::iota(x.begin(), x.end(), 0.f);
    std::shuffle(x.begin(), x.end(), std::mt19937(seed++));
    for (float& v : x) v = v * 0.01f - 1.f;
    auto r = nq_test::random_f32(count_of(s.yd()), seed++);
    const auto xd = to_double(x);
    for (bool max : {true, false}) {
      OpCase op = make_pool_grad(s, max);
      REQUIRE(op.create().is_ok());
      std::vector<float> dx(x.size());
      std::vector<const void*> ins = {r.data()};
      if (max) ins.push_back(x.data());
      REQUIRE(op.run(ins, {dx.data()}).is_ok());
      expect_grad(dx, numeric_grad(xd, [&](const std::vector<double>& v) { return dot(pool_forward(s, v, max), r); }),
                  std::string(max ? "MaxPoolGrad " : "AveragePoolGrad ") + describe(s));
    }
  }
}

TEST_CASE("ops.train GlobalAveragePoolGrad broadcasts dY / size") {
  for (const Dims& xd : {Dims{2, 3, 5, 7}, Dims{1, 4, 9}, Dims{3, 2, 1, 1}}) {
    INFO("X " << dims_text(xd));
    Dims yd = xd;
    for (size_t i = 2; i < yd.size(); ++i) yd[i] = 1;
    auto dy = nq_test::random_f32(count_of(yd), 800);
    OpCase op("GlobalAveragePoolGrad");
    op.in(DType::f32, yd).out(DType::f32, xd);
    REQUIRE(op.create().is_ok());
    std::vector<float> dx(count_of(xd));
    REQUIRE(op.run({dy.data()}, {dx.data()}).is_ok());
    const size_t size = count_of(xd) / count_of(yd);
    std::vector<double> want(dx.size());
    for (size_t i = 0; i < want.size(); ++i) want[i] = double(dy[i / size]) / double(size);
    expect_close(dx, want, "GlobalAveragePoolGrad " + dims_text(xd), 1e-6, 1e-7);
  }
}
