// NN and quantization op kernels, created through the registry like the plan does, against
// naive loops (double accumulation for floats, exact integers for the quantized ops).
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "kernels/dwconv.h"
#include "kernels/im2col.h"
#include "ops/op.h"
#include "runtime/aligned_buffer.h"
#include "runtime/threadpool.h"
#include "op_attrs.h"
#include "op_case.h"
#include "test_util.h"

namespace {

using nq::test::attr_float;
using nq::test::attr_int;
using nq::test::attr_ints;
using nq::test::attr_string;
using nq::ops::Attribute;
using nq::ops::DType;
using nq::ops::OpInit;
using nq::ops::OpKernel;
using nq::ops::TensorDesc;

constexpr double kRelTol = 1e-4;  // float32 chains vs the double reference
constexpr double kAbsTol = 1e-5;


using nq::test::OpCase;

void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                  const std::string& what) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = kAbsTol + kRelTol * std::fabs(want[i]);
    if (!(std::fabs(got[i] - want[i]) <= tol)) {
      if (bad++ < 3) INFO(what << " [" << i << "] got " << got[i] << " want " << want[i]);
      CHECK_MESSAGE(std::fabs(got[i] - want[i]) <= tol, what << " [" << i << "] got " << got[i] << " want " << want[i]);
    }
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " mismatches");
}

struct ConvShape {
  int64_t n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, g;
  bool bias;
  const char* act = "";
  float lo = 0, hi = 0;
};

std::string describe(const ConvShape& s) {
  return "N" + std::to_string(s.n) + " C" + std::to_string(s.c) + " " + std::to_string(s.h) + "x" +
         std::to_string(s.w) + " M" + std::to_string(s.m) + " k" + std::to_string(s.kh) + "x" +
         std::to_string(s.kw) + " s" + std::to_string(s.sh) + "," + std::to_string(s.sw) + " d" +
         std::to_string(s.dh) + "," + std::to_string(s.dw) + " pads " + std::to_string(s.pt) + "," +
         std::to_string(s.pl) + "," + std::to_string(s.pb) + "," + std::to_string(s.pr) + " g" +
         std::to_string(s.g) + (s.bias ? " bias" : "") + " act '" + s.act + "'";
}

std::vector<double> conv_ref(const ConvShape& s, const std::vector<float>& x, const std::vector<float>& w,
                             const std::vector<float>& b, int64_t oh, int64_t ow) {
  const int64_t cg = s.c / s.g, mg = s.m / s.g;
  std::vector<double> y(size_t(s.n * s.m * oh * ow));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t m = 0; m < s.m; ++m)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          double acc = s.bias ? b[size_t(m)] : 0.0;
          const int64_t g = m / mg;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t ky = 0; ky < s.kh; ++ky)
              for (int64_t kx = 0; kx < s.kw; ++kx) {
                const int64_t iy = oy * s.sh - s.pt + ky * s.dh, ix = ox * s.sw - s.pl + kx * s.dw;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                acc += double(x[size_t(((n * s.c + g * cg + c) * s.h + iy) * s.w + ix)]) *
                       w[size_t(((m * cg + c) * s.kh + ky) * s.kw + kx)];
              }
          if (std::string(s.act) == "Relu") acc = std::max(acc, 0.0);
          if (std::string(s.act) == "Clip") acc = std::min(std::max(acc, double(s.lo)), double(s.hi));
          y[size_t(((n * s.m + m) * oh + oy) * ow + ox)] = acc;
        }
  return y;
}

void check_conv(const ConvShape& s, bool const_w) {
  const int64_t oh = (s.h + s.pt + s.pb - ((s.kh - 1) * s.dh + 1)) / s.sh + 1;
  const int64_t ow = (s.w + s.pl + s.pr - ((s.kw - 1) * s.dw + 1)) / s.sw + 1;
  auto x = nq_test::random_f32(size_t(s.n * s.c * s.h * s.w), 1);
  auto w = nq_test::random_f32(size_t(s.m * (s.c / s.g) * s.kh * s.kw), 2);
  auto b = nq_test::random_f32(size_t(s.m), 3);
  const bool fused = s.act[0] != 0;
  OpCase op(fused ? "FusedConv" : "Conv", fused ? "nquant" : "");
  op.in(DType::f32, {s.n, s.c, s.h, s.w}).in(DType::f32, {s.m, s.c / s.g, s.kh, s.kw}, const_w ? w.data() : nullptr);
  if (s.bias) op.in(DType::f32, {s.m}, b.data());
  op.out(DType::f32, {s.n, s.m, oh, ow})
      .attr("strides", attr_ints({s.sh, s.sw}))
      .attr("dilations", attr_ints({s.dh, s.dw}))
      .attr("pads", attr_ints({s.pt, s.pl, s.pb, s.pr}))
      .attr("group", attr_int(s.g));
  if (fused) {
    op.attr("activation", attr_string(s.act));
    if (std::string(s.act) == "Clip") op.attr("clip_min", attr_float(s.lo)).attr("clip_max", attr_float(s.hi));
  }
  nq::Status st = op.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<float> y(size_t(s.n * s.m * oh * ow), -7.f);
  std::vector<const void*> ins = {x.data(), w.data()};
  if (s.bias) ins.push_back(b.data());
  REQUIRE(op.run(ins, {y.data()}).is_ok());
  expect_close(y, conv_ref(s, x, w, b, oh, ow), describe(s) + (const_w ? " constW" : " dynW"));
}

}  // namespace

TEST_CASE("ops.nn Conv matches a naive loop over geometry edges") {
  const ConvShape cases[] = {
      {1, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},          // 3x3 same
      {2, 4, 9, 8, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true},          // stride 2, batch 2
      {1, 4, 10, 9, 5, 3, 2, 1, 1, 2, 2, 2, 1, 0, 3, 1, false},        // dilation, asymmetric pads
      {1, 8, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, true},          // groups = 2
      {1, 8, 5, 5, 16, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true},         // 1x1 pointwise
      {1, 37, 11, 13, 45, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, false},     // 1x1 stride 2, odd sizes
      {1, 6, 12, 12, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6, true},        // depthwise
      {1, 6, 13, 11, 12, 3, 3, 2, 2, 1, 1, 1, 0, 1, 2, 6, true},       // depthwise x2 multiplier, stride 2
      {1, 5, 9, 9, 5, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4, 5, false},         // depthwise dilated 5x5
      {1, 70, 9, 9, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},        // K > one tile of M
      {1, 130, 6, 6, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false},      // K = 1170: two K blocks
      {1, 3, 40, 40, 8, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, true},        // stem-like
      {1, 4, 7, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, "Relu"},  // fused relu
      {1, 4, 7, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, true, "Clip", -0.2f, 0.3f},
      {1, 4, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, true, "Clip", 0.f, 6.f},  // depthwise relu6
  };
  for (const ConvShape& s : cases) {
    check_conv(s, true);
    check_conv(s, false);
  }
}

TEST_CASE("ops.nn Conv 1-D and SAME_UPPER auto_pad") {
  auto x = nq_test::random_f32(2 * 3 * 10, 4);
  auto w = nq_test::random_f32(4 * 3 * 4, 5);
  OpCase op("Conv");
  op.in(DType::f32, {2, 3, 10}).in(DType::f32, {4, 3, 4}, w.data()).out(DType::f32, {2, 4, 5})
      .attr("strides", attr_ints({2})).attr("auto_pad", attr_string("SAME_UPPER"));
  REQUIRE(op.create().is_ok());
  std::vector<float> y(40);
  REQUIRE(op.run({x.data(), w.data()}, {y.data()}).is_ok());
  // total pad = (5-1)*2 + 4 - 10 = 2: one before, one after.
  ConvShape s{2, 3, 1, 10, 4, 1, 4, 1, 2, 1, 1, 0, 1, 0, 1, 1, false};
  expect_close(y, conv_ref(s, x, w, {}, 1, 5), "conv1d same_upper");
}

TEST_CASE("ops.nn Conv rejects bad geometry with a named error") {
  OpCase op("Conv");
  op.in(DType::f32, {1, 3, 8, 8}).in(DType::f32, {4, 3, 3, 3}).out(DType::f32, {1, 4, 7, 7});
  nq::Status s = op.create();
  CHECK_FALSE(s.is_ok());
  CHECK(s.message.find("Conv node 't'") != std::string::npos);
}

TEST_CASE("ops.nn ConvTranspose matches a naive scatter") {
  const int64_t C = 3, M = 4, H = 4, W = 5, k = 3, s = 2, p = 1, op_ = 1;
  const int64_t OH = s * (H - 1) + op_ + k - 2 * p, OW = s * (W - 1) + op_ + k - 2 * p;
  auto x = nq_test::random_f32(size_t(C * H * W), 6);
  auto w = nq_test::random_f32(size_t(C * M * k * k), 7);
  auto b = nq_test::random_f32(size_t(M), 8);
  std::vector<double> want(size_t(M * OH * OW));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t i = 0; i < OH * OW; ++i) want[size_t(m * OH * OW + i)] = b[size_t(m)];
  for (int64_t c = 0; c < C; ++c)
    for (int64_t iy = 0; iy < H; ++iy)
      for (int64_t ix = 0; ix < W; ++ix)
        for (int64_t m = 0; m < M; ++m)
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t oy = iy * s - p + ky, ox = ix * s - p + kx;
              if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
              want[size_t((m * OH + oy) * OW + ox)] +=
                  double(x[size_t((c * H + iy) * W + ix)]) * w[size_t(((c * M + m) * k + ky) * k + kx)];
            }
  for (bool constant : {true, false}) {
    OpCase o("ConvTranspose");
    o.in(DType::f32, {1, C, H, W}).in(DType::f32, {C, M, k, k}, constant ? w.data() : nullptr)
        .in(DType::f32, {M}).out(DType::f32, {1, M, OH, OW})
        .attr("strides", attr_ints({s, s})).attr("pads", attr_ints({p, p, p, p}))
        .attr("output_padding", attr_ints({op_, op_}));
    nq::Status st = o.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<float> y(want.size());
    REQUIRE(o.run({x.data(), w.data(), b.data()}, {y.data()}).is_ok());
    expect_close(y, want, "convtranspose");
  }
}

TEST_CASE("ops.nn Gemm: alpha, beta, transposes, C broadcasts, fused activation") {
  const int64_t M = 5, K = 7, N = 33;
  auto a = nq_test::random_f32(size_t(M * K), 9);
  auto bm = nq_test::random_f32(size_t(K * N), 10);
  auto c = nq_test::random_f32(size_t(M * N), 11);
  struct Variant { bool ta, tb; std::vector<int64_t> cdims; float alpha, beta; const char* act; bool const_b; };
  const Variant vs[] = {
      {false, false, {N}, 1.f, 1.f, "", true},      {true, false, {M, N}, 0.5f, 2.f, "", true},
      {false, true, {1, N}, 1.f, 0.5f, "", false},  {true, true, {M, 1}, 2.f, 1.f, "", false},
      {false, false, {}, 1.f, 1.f, "Relu", true},   {false, true, {N}, 1.f, 1.f, "Clip", true},
  };
  for (const Variant& v : vs) {
    // Stored operands: A is K x M when transposed, B is N x K when transposed.
    std::vector<float> as(a.size()), bs(bm.size());
    for (int64_t i = 0; i < M; ++i)
      for (int64_t p = 0; p < K; ++p) as[size_t(v.ta ? p * M + i : i * K + p)] = a[size_t(i * K + p)];
    for (int64_t p = 0; p < K; ++p)
      for (int64_t j = 0; j < N; ++j) bs[size_t(v.tb ? j * K + p : p * N + j)] = bm[size_t(p * N + j)];
    size_t ccount = 1;
    for (int64_t d : v.cdims) ccount *= size_t(d);
    const bool fused = v.act[0] != 0;
    OpCase op(fused ? "FusedGemm" : "Gemm", fused ? "nquant" : "");
    op.in(DType::f32, v.ta ? std::vector<int64_t>{K, M} : std::vector<int64_t>{M, K})
        .in(DType::f32, v.tb ? std::vector<int64_t>{N, K} : std::vector<int64_t>{K, N}, v.const_b ? bs.data() : nullptr)
        .in(DType::f32, v.cdims).out(DType::f32, {M, N})
        .attr("transA", attr_int(v.ta)).attr("transB", attr_int(v.tb)).attr("alpha", attr_float(v.alpha)).attr("beta", attr_float(v.beta));
    if (fused) op.attr("activation", attr_string(v.act)).attr("clip_min", attr_float(-0.5)).attr("clip_max", attr_float(0.5));
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<float> y(size_t(M * N));
    REQUIRE(op.run({as.data(), bs.data(), c.data()}, {y.data()}).is_ok());
    std::vector<double> want(y.size());
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < K; ++p) acc += double(a[size_t(i * K + p)]) * bm[size_t(p * N + j)];
        size_t ci = 0;
        if (v.cdims.size() == 2) ci = size_t((v.cdims[0] == 1 ? 0 : i) * v.cdims[1] + (v.cdims[1] == 1 ? 0 : j));
        else if (v.cdims.size() == 1) ci = size_t(j);
        double r = v.alpha * acc + v.beta * double(c[ci]);
        if (std::string(v.act) == "Relu") r = std::max(r, 0.0);
        if (std::string(v.act) == "Clip") r = std::min(std::max(r, -0.5), 0.5);
        want[size_t(i * N + j)] = r;
      }
    expect_close(y, want, "gemm ta=" + std::to_string(v.ta) + " tb=" + std::to_string(v.tb));
  }
}

TEST_CASE("ops.nn MatMul: batched, broadcast, 1-D, constant and dynamic B") {
  struct Case { std::vector<int64_t> ad, bd, yd; };
  const Case cases[] = {
      {{2, 3, 4, 5}, {5, 6}, {2, 3, 4, 6}},
      {{3, 4, 5}, {3, 5, 6}, {3, 4, 6}},
      {{1, 4, 5}, {3, 5, 6}, {3, 4, 6}},
      {{2, 1, 4, 5}, {3, 5, 7}, {2, 3, 4, 7}},
      {{5}, {5, 6}, {6}},
      {{4, 5}, {5}, {4}},
      {{1, 5}, {5, 40}, {1, 40}},
  };
  for (const Case& cs : cases) {
    auto count = [](const std::vector<int64_t>& d) { size_t n = 1; for (auto v : d) n *= size_t(v); return n; };
    auto a = nq_test::random_f32(count(cs.ad), 12);
    auto b = nq_test::random_f32(count(cs.bd), 13);
    const int64_t K = cs.ad.back();
    const int64_t M = cs.ad.size() == 1 ? 1 : cs.ad[cs.ad.size() - 2];
    const int64_t N = cs.bd.size() == 1 ? 1 : cs.bd.back();
    // Reference with explicit broadcasting over up to 2 batch dims (right-aligned).
    std::vector<int64_t> ab(cs.ad.begin(), cs.ad.end() - std::min<size_t>(2, cs.ad.size()));
    std::vector<int64_t> bb(cs.bd.begin(), cs.bd.end() - std::min<size_t>(2, cs.bd.size()));
    while (ab.size() < 2) ab.insert(ab.begin(), 1);
    while (bb.size() < 2) bb.insert(bb.begin(), 1);
    const int64_t y0 = std::max(ab[0], bb[0]), y1 = std::max(ab[1], bb[1]);
    std::vector<double> want;
    for (int64_t i0 = 0; i0 < y0; ++i0)
      for (int64_t i1 = 0; i1 < y1; ++i1) {
        const int64_t am = (ab[0] == 1 ? 0 : i0) * ab[1] + (ab[1] == 1 ? 0 : i1);
        const int64_t bmi = (bb[0] == 1 ? 0 : i0) * bb[1] + (bb[1] == 1 ? 0 : i1);
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double acc = 0;
            for (int64_t p = 0; p < K; ++p)
              acc += double(a[size_t(am * M * K + i * K + p)]) * b[size_t(bmi * K * N + p * N + j)];
            want.push_back(acc);
          }
      }
    for (bool constant : {true, false}) {
      OpCase op("MatMul");
      op.in(DType::f32, cs.ad).in(DType::f32, cs.bd, constant ? b.data() : nullptr).out(DType::f32, cs.yd);
      nq::Status st = op.create();
      REQUIRE_MESSAGE(st.is_ok(), st.message);
      std::vector<float> y(count(cs.yd));
      REQUIRE(op.run({a.data(), b.data()}, {y.data()}).is_ok());
      expect_close(y, want, "matmul");
    }
  }
}

TEST_CASE("ops.nn MaxPool / AveragePool: pads, strides, dilation, ceil_mode, count_include_pad") {
  const int64_t C = 2, H = 7, W = 6;
  auto x = nq_test::random_f32(size_t(C * H * W), 14);
  struct Case { const char* op; int64_t k, s, d, pt, pl, pb, pr; bool ceil, include; };
  const Case cases[] = {
      {"MaxPool", 3, 2, 1, 1, 1, 1, 1, false, false}, {"MaxPool", 2, 2, 2, 0, 1, 1, 0, false, false},
      {"MaxPool", 3, 2, 1, 0, 0, 0, 0, true, false},  {"AveragePool", 3, 2, 1, 1, 1, 1, 1, false, false},
      {"AveragePool", 3, 2, 1, 1, 1, 1, 1, false, true}, {"AveragePool", 3, 2, 1, 0, 0, 0, 0, true, false},
      {"AveragePool", 2, 1, 1, 0, 1, 1, 0, false, true},
  };
  for (const Case& c : cases) {
    const int64_t dk = (c.k - 1) * c.d + 1;
    auto outdim = [&](int64_t in, int64_t a, int64_t b) {
      const int64_t span = in + a + b - dk;
      int64_t o = c.ceil ? (span + c.s - 1) / c.s + 1 : span / c.s + 1;
      if (c.ceil && (o - 1) * c.s >= in + a) --o;
      return o;
    };
    const int64_t OH = outdim(H, c.pt, c.pb), OW = outdim(W, c.pl, c.pr);
    OpCase op(c.op);
    op.in(DType::f32, {1, C, H, W}).out(DType::f32, {1, C, OH, OW})
        .attr("kernel_shape", attr_ints({c.k, c.k})).attr("strides", attr_ints({c.s, c.s}))
        .attr("pads", attr_ints({c.pt, c.pl, c.pb, c.pr})).attr("ceil_mode", attr_int(c.ceil))
        .attr("count_include_pad", attr_int(c.include));
    if (c.d != 1) op.attr("dilations", attr_ints({c.d, c.d}));
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<float> y(size_t(C * OH * OW));
    REQUIRE(op.run({x.data()}, {y.data()}).is_ok());
    std::vector<double> want;
    const bool mx = std::string(c.op) == "MaxPool";
    for (int64_t ch = 0; ch < C; ++ch)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double best = -1e30, sum = 0;
          int64_t cnt = 0, padcnt = 0;
          for (int64_t ky = 0; ky < c.k; ++ky)
            for (int64_t kx = 0; kx < c.k; ++kx) {
              const int64_t iy = oy * c.s - c.pt + ky * c.d, ix = ox * c.s - c.pl + kx * c.d;
              if (iy >= -c.pt && iy < H + c.pb && ix >= -c.pl && ix < W + c.pr) ++padcnt;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              const double v = x[size_t((ch * H + iy) * W + ix)];
              best = std::max(best, v);
              sum += v;
              ++cnt;
            }
          want.push_back(mx ? best : sum / double(c.include ? padcnt : cnt));
        }
    expect_close(y, want, std::string(c.op) + " k" + std::to_string(c.k) + " ceil" + std::to_string(c.ceil));
  }
}

TEST_CASE("ops.nn GlobalAveragePool, BatchNormalization, InstanceNormalization, LayerNormalization") {
  const int64_t N = 2, C = 3, HW = 37;
  auto x = nq_test::random_f32(size_t(N * C * HW), 15, -2.f, 3.f);
  {
    OpCase op("GlobalAveragePool");
    op.in(DType::f32, {N, C, 1, HW}).out(DType::f32, {N, C, 1, 1});
    REQUIRE(op.create().is_ok());
    std::vector<float> y(size_t(N * C));
    REQUIRE(op.run({x.data()}, {y.data()}).is_ok());
    std::vector<double> want;
    for (int64_t p = 0; p < N * C; ++p) {
      double s = 0;
      for (int64_t i = 0; i < HW; ++i) s += x[size_t(p * HW + i)];
      want.push_back(s / HW);
    }
    expect_close(y, want, "gap");
  }
  auto sc = nq_test::random_f32(size_t(C), 16);
  auto bi = nq_test::random_f32(size_t(C), 17);
  auto mean = nq_test::random_f32(size_t(C), 18);
  auto var = nq_test::random_f32(size_t(C), 19, 0.1f, 2.f);
  {
    for (bool constant : {true, false}) {
      OpCase op("BatchNormalization");
      op.in(DType::f32, {N, C, HW}).in(DType::f32, {C}, constant ? sc.data() : nullptr).in(DType::f32, {C}, constant ? bi.data() : nullptr)
          .in(DType::f32, {C}, constant ? mean.data() : nullptr).in(DType::f32, {C}, constant ? var.data() : nullptr)
          .out(DType::f32, {N, C, HW}).attr("epsilon", attr_float(1e-3));
      REQUIRE(op.create().is_ok());
      std::vector<float> y(x.size());
      REQUIRE(op.run({x.data(), sc.data(), bi.data(), mean.data(), var.data()}, {y.data()}).is_ok());
      std::vector<double> want(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        const size_t c = (i / HW) % C;
        want[i] = (x[i] - mean[c]) / std::sqrt(double(var[c]) + 1e-3) * sc[c] + bi[c];
      }
      expect_close(y, want, "batchnorm");
    }
  }
  {
    OpCase op("InstanceNormalization");
    op.in(DType::f32, {N, C, HW}).in(DType::f32, {C}).in(DType::f32, {C}).out(DType::f32, {N, C, HW});
    REQUIRE(op.create().is_ok());
    std::vector<float> y(x.size());
    REQUIRE(op.run({x.data(), sc.data(), bi.data()}, {y.data()}).is_ok());
    std::vector<double> want(x.size());
    for (int64_t p = 0; p < N * C; ++p) {
      double m = 0, v = 0;
      for (int64_t i = 0; i < HW; ++i) m += x[size_t(p * HW + i)];
      m /= HW;
      for (int64_t i = 0; i < HW; ++i) v += (x[size_t(p * HW + i)] - m) * (x[size_t(p * HW + i)] - m);
      v /= HW;
      for (int64_t i = 0; i < HW; ++i)
        want[size_t(p * HW + i)] = (x[size_t(p * HW + i)] - m) / std::sqrt(v + 1e-5) * sc[size_t(p % C)] + bi[size_t(p % C)];
    }
    expect_close(y, want, "instancenorm");
  }
  {
    // axis 1 over [C, HW]: Scale/B of shape [C, HW], Mean/InvStdDev outputs [N, 1, 1].
    auto scale = nq_test::random_f32(size_t(C * HW), 20);
    auto bias = nq_test::random_f32(size_t(C * HW), 21);
    OpCase op("LayerNormalization");
    op.in(DType::f32, {N, C, HW}).in(DType::f32, {C, HW}).in(DType::f32, {C, HW})
        .out(DType::f32, {N, C, HW}).out(DType::f32, {N, 1, 1}).out(DType::f32, {N, 1, 1}).attr("axis", attr_int(1));
    REQUIRE(op.create().is_ok());
    std::vector<float> y(x.size()), mo(N), io(N);
    REQUIRE(op.run({x.data(), scale.data(), bias.data()}, {y.data(), mo.data(), io.data()}).is_ok());
    std::vector<double> want(x.size()), wm, wi;
    const int64_t inner = C * HW;
    for (int64_t n = 0; n < N; ++n) {
      double m = 0, v = 0;
      for (int64_t i = 0; i < inner; ++i) m += x[size_t(n * inner + i)];
      m /= inner;
      for (int64_t i = 0; i < inner; ++i) v += (x[size_t(n * inner + i)] - m) * (x[size_t(n * inner + i)] - m);
      const double inv = 1 / std::sqrt(v / inner + 1e-5);
      for (int64_t i = 0; i < inner; ++i)
        want[size_t(n * inner + i)] = (x[size_t(n * inner + i)] - m) * inv * scale[size_t(i)] + bias[size_t(i)];
      wm.push_back(m);
      wi.push_back(inv);
    }
    expect_close(y, want, "layernorm");
    expect_close(mo, wm, "layernorm mean");
    expect_close(io, wi, "layernorm invstd");
  }
}

TEST_CASE("ops.nn Softmax / LogSoftmax: opset 13 axis vs opset 11 flattening") {
  const std::vector<int64_t> dims = {2, 3, 4};
  auto x = nq_test::random_f32(24, 22, -5.f, 5.f);
  for (int64_t opset : {11, 13})
    for (int64_t axis : {0, 1, 2, -1})
      for (bool log : {false, true}) {
        OpCase op(log ? "LogSoftmax" : "Softmax");
        op.attr("__opset", attr_int(opset)).attr("axis", attr_int(axis));
        op.in(DType::f32, dims).out(DType::f32, dims);
        REQUIRE(op.create().is_ok());
        std::vector<float> y(24);
        REQUIRE(op.run({x.data()}, {y.data()}).is_ok());
        const int64_t a = axis < 0 ? axis + 3 : axis;
        int64_t outer = 1, n = 1, inner = 1;
        for (int64_t i = 0; i < 3; ++i) (i < a ? outer : i == a ? n : inner) *= dims[size_t(i)];
        if (opset < 13) {
          n *= inner;
          inner = 1;
        }
        std::vector<double> want(24);
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t j = 0; j < inner; ++j) {
            double mx = -1e30, s = 0;
            for (int64_t i = 0; i < n; ++i) mx = std::max(mx, double(x[size_t((o * n + i) * inner + j)]));
            for (int64_t i = 0; i < n; ++i) s += std::exp(x[size_t((o * n + i) * inner + j)] - mx);
            for (int64_t i = 0; i < n; ++i) {
              const double v = x[size_t((o * n + i) * inner + j)] - mx;
              want[size_t((o * n + i) * inner + j)] = log ? v - std::log(s) : std::exp(v) / s;
            }
          }
        expect_close(y, want, std::string(log ? "logsoftmax" : "softmax") + " opset " + std::to_string(opset) + " axis " + std::to_string(axis));
      }
}

TEST_CASE("ops.nn Resize nearest (asymmetric, floor) and linear (half_pixel)") {
  const int64_t H = 3, W = 4;
  std::vector<float> x(H * W);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);
  {
    const float scales[] = {1, 1, 2, 2};
    OpCase op("Resize");
    op.in(DType::f32, {1, 1, H, W}).absent().in(DType::f32, {4}, scales).out(DType::f32, {1, 1, 6, 8})
        .attr("mode", attr_string("nearest")).attr("coordinate_transformation_mode", attr_string("asymmetric"))
        .attr("nearest_mode", attr_string("floor"));
    REQUIRE(op.create().is_ok());
    std::vector<float> y(48);
    REQUIRE(op.run({x.data(), nullptr, scales}, {y.data()}).is_ok());
    std::vector<double> want;
    for (int64_t oy = 0; oy < 6; ++oy)
      for (int64_t ox = 0; ox < 8; ++ox) want.push_back(x[size_t((oy / 2) * W + ox / 2)]);
    expect_close(y, want, "resize nearest");
  }
  {
    const float scales[] = {1, 1, 2, 2};
    OpCase op("Resize");
    op.in(DType::f32, {1, 1, H, W}).absent().in(DType::f32, {4}, scales).out(DType::f32, {1, 1, 6, 8})
        .attr("mode", attr_string("linear"));
    REQUIRE(op.create().is_ok());
    std::vector<float> y(48);
    REQUIRE(op.run({x.data(), nullptr, scales}, {y.data()}).is_ok());
    auto coord = [](int64_t o, int64_t in) {
      double c = (o + 0.5) / 2 - 0.5;
      return std::min(std::max(c, 0.0), double(in - 1));
    };
    std::vector<double> want;
    for (int64_t oy = 0; oy < 6; ++oy)
      for (int64_t ox = 0; ox < 8; ++ox) {
        const double cy = coord(oy, H), cx = coord(ox, W);
        const int64_t y0 = int64_t(cy), x0 = int64_t(cx);
        const int64_t y1 = std::min(y0 + 1, H - 1), x1 = std::min(x0 + 1, W - 1);
        const double fy = cy - y0, fx = cx - x0;
        auto at = [&](int64_t yy, int64_t xx) { return double(x[size_t(yy * W + xx)]); };
        want.push_back((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1)));
      }
    expect_close(y, want, "resize linear");
  }
}

TEST_CASE("ops.quant QuantizeLinear / DequantizeLinear per tensor and per axis") {
  auto x = nq_test::random_f32(2 * 3 * 4, 23, -3.f, 3.f);
  const float scales[] = {0.02f, 0.05f, 0.1f};
  const uint8_t zps[] = {128, 0, 255};
  OpCase q("QuantizeLinear");
  q.in(DType::f32, {2, 3, 4}).in(DType::f32, {3}, scales).in(DType::u8, {3}, zps).out(DType::u8, {2, 3, 4});
  REQUIRE(q.create().is_ok());
  std::vector<uint8_t> y(24);
  REQUIRE(q.run({x.data(), scales, zps}, {y.data()}).is_ok());
  for (size_t i = 0; i < 24; ++i) {
    const size_t c = (i / 4) % 3;
    const double v = std::nearbyint(double(x[i]) / scales[c]) + zps[c];
    CHECK(int(y[i]) == int(std::min(255.0, std::max(0.0, v))));
  }
  OpCase d("DequantizeLinear");
  d.in(DType::u8, {2, 3, 4}).in(DType::f32, {3}, scales).in(DType::u8, {3}, zps).out(DType::f32, {2, 3, 4});
  REQUIRE(d.create().is_ok());
  std::vector<float> back(24);
  REQUIRE(d.run({y.data(), scales, zps}, {back.data()}).is_ok());
  for (size_t i = 0; i < 24; ++i) {
    const size_t c = (i / 4) % 3;
    CHECK(back[i] == float(int(y[i]) - int(zps[c])) * scales[c]);
  }
  // int32 input (biases), per tensor.
  const int32_t xi[] = {-1000, 0, 77, 1 << 20};
  const float s1[] = {0.5f};
  OpCase d32("DequantizeLinear");
  d32.in(DType::s32, {4}).in(DType::f32, {}, s1).out(DType::f32, {4});
  REQUIRE(d32.create().is_ok());
  std::vector<float> y32(4);
  REQUIRE(d32.run({xi, s1, nullptr}, {y32.data()}).is_ok());
  for (size_t i = 0; i < 4; ++i) CHECK(y32[i] == float(xi[i]) * 0.5f);
}

TEST_CASE("ops.quant MatMulInteger and QLinearMatMul on the INT8 GEMM") {
  const int64_t M = 5, K = 19, N = 37;
  auto a = nq_test::random_u8(size_t(M * K), 24);
  auto b = nq_test::random_s8(size_t(K * N), 25);
  const uint8_t za = 131;
  std::vector<int8_t> zb(static_cast<size_t>(N));
  for (int64_t j = 0; j < N; ++j) zb[size_t(j)] = int8_t(j % 7 - 3);
  std::vector<int32_t> want(size_t(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      int32_t acc = 0;
      for (int64_t p = 0; p < K; ++p) acc += (int32_t(a[size_t(i * K + p)]) - za) * (int32_t(b[size_t(p * N + j)]) - zb[size_t(j)]);
      want[size_t(i * N + j)] = acc;
    }
  for (bool constant : {true, false}) {
    OpCase op("MatMulInteger");
    op.in(DType::u8, {M, K}).in(DType::s8, {K, N}, constant ? b.data() : nullptr).in(DType::u8, {}, &za)
        .in(DType::s8, {N}, constant ? zb.data() : nullptr).out(DType::s32, {M, N});
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<int32_t> y(size_t(M * N));
    REQUIRE(op.run({a.data(), b.data(), &za, zb.data()}, {y.data()}).is_ok());
    CHECK(y == want);
  }
  // QLinearMatMul: per-tensor b, uint8 out; reference rounds half to even like ONNX.
  const float sa = 0.02f, sb = 0.01f, sy = 0.05f;
  const int8_t zb1 = 2;
  const uint8_t zy = 100;
  OpCase q("QLinearMatMul");
  q.in(DType::u8, {M, K}).in(DType::f32, {}, &sa).in(DType::u8, {}, &za).in(DType::s8, {K, N}, b.data())
      .in(DType::f32, {}, &sb).in(DType::s8, {}, &zb1).in(DType::f32, {}, &sy).in(DType::u8, {}, &zy)
      .out(DType::u8, {M, N});
  nq::Status st = q.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<uint8_t> y(size_t(M * N));
  REQUIRE(q.run({a.data(), &sa, &za, b.data(), &sb, &zb1, &sy, &zy}, {y.data()}).is_ok());
  const float rq = (sa * sb) / sy;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      int32_t acc = 0;
      for (int64_t p = 0; p < K; ++p) acc += (int32_t(a[size_t(i * K + p)]) - za) * (int32_t(b[size_t(p * N + j)]) - zb1);
      const float v = std::nearbyint(float(acc) * rq) + zy;
      CHECK(int(y[size_t(i * N + j)]) == int(std::min(255.f, std::max(0.f, v))));
    }
}

TEST_CASE("ops.quant ConvInteger and QLinearConv: padding takes the zero point, groups") {
  const int64_t C = 4, H = 6, W = 5, M = 6, k = 3, G = 2, cg = C / G, mg = M / G;
  auto x = nq_test::random_u8(size_t(C * H * W), 26);
  auto w = nq_test::random_s8(size_t(M * cg * k * k), 27);
  const uint8_t zx = 120;
  std::vector<int8_t> zw(static_cast<size_t>(M));
  for (int64_t m = 0; m < M; ++m) zw[size_t(m)] = int8_t(m - 2);
  const int64_t OH = H, OW = W;  // pad 1, stride 1
  std::vector<int32_t> want(size_t(M * OH * OW));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        int32_t acc = 0;
        const int64_t g = m / mg;
        for (int64_t c = 0; c < cg; ++c)
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t iy = oy - 1 + ky, ix = ox - 1 + kx;
              const int32_t xv = (iy < 0 || iy >= H || ix < 0 || ix >= W) ? zx : x[size_t(((g * cg + c) * H + iy) * W + ix)];
              acc += (xv - zx) * (int32_t(w[size_t(((m * cg + c) * k + ky) * k + kx)]) - zw[size_t(m)]);
            }
        want[size_t((m * OH + oy) * OW + ox)] = acc;
      }
  for (bool constant : {true, false}) {
    OpCase op("ConvInteger");
    op.in(DType::u8, {1, C, H, W}).in(DType::s8, {M, cg, k, k}, constant ? w.data() : nullptr).in(DType::u8, {}, &zx)
        .in(DType::s8, {M}, constant ? zw.data() : nullptr).out(DType::s32, {1, M, OH, OW})
        .attr("pads", attr_ints({1, 1, 1, 1})).attr("group", attr_int(G));
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<int32_t> y(want.size());
    REQUIRE(op.run({x.data(), w.data(), &zx, zw.data()}, {y.data()}).is_ok());
    CHECK(y == want);
  }
  // QLinearConv with per-channel w scales and an int32 bias.
  const float sx = 0.03f, sy = 0.2f;
  std::vector<float> sw(static_cast<size_t>(M));
  for (int64_t m = 0; m < M; ++m) sw[size_t(m)] = 0.01f * float(m + 1);
  std::vector<int32_t> bias(static_cast<size_t>(M));
  for (int64_t m = 0; m < M; ++m) bias[size_t(m)] = int32_t(m * 100 - 250);
  const int8_t zy = -5;
  OpCase q("QLinearConv");
  q.in(DType::u8, {1, C, H, W}).in(DType::f32, {}, &sx).in(DType::u8, {}, &zx).in(DType::s8, {M, cg, k, k}, w.data())
      .in(DType::f32, {M}, sw.data()).in(DType::s8, {M}, zw.data()).in(DType::f32, {}, &sy).in(DType::s8, {}, &zy)
      .in(DType::s32, {M}, bias.data()).out(DType::s8, {1, M, OH, OW})
      .attr("pads", attr_ints({1, 1, 1, 1})).attr("group", attr_int(G));
  nq::Status st = q.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<int8_t> y(want.size());
  REQUIRE(q.run({x.data(), &sx, &zx, w.data(), sw.data(), zw.data(), &sy, &zy, bias.data()}, {y.data()}).is_ok());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t i = 0; i < OH * OW; ++i) {
      const float rq = (sx * sw[size_t(m)]) / sy;
      const float v = std::nearbyint(float(want[size_t(m * OH * OW + i)] + bias[size_t(m)]) * rq) + zy;
      CHECK(int(y[size_t(m * OH * OW + i)]) == int(std::min(127.f, std::max(-128.f, v))));
    }
}

TEST_CASE("ops.nn registry lists every op of both families") {
  for (const char* op : {"Conv", "ConvTranspose", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool",
                         "BatchNormalization", "InstanceNormalization", "LayerNormalization", "Softmax", "LogSoftmax",
                         "Resize", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger",
                         "ConvInteger", "QLinearMatMul", "QLinearConv"})
    CHECK_MESSAGE(nq::ops::find_op("", op) != nullptr, op);
  CHECK(nq::ops::find_op("nquant", "FusedConv") != nullptr);
  CHECK(nq::ops::find_op("nquant", "FusedGemm") != nullptr);
}

TEST_CASE("kernels dwconv row: every SIMD variant against the scalar twin") {
  for (nq::Isa isa : nq_test::simd_isas()) {
    const nq::DwConvKernel& k = nq::dwconv_kernel_for(isa);
    for (size_t kh : {1, 3, 5})
      for (size_t sw : {1, 2, 3})
        for (size_t dw : {1, 2})
          for (size_t ow : {1, 7, 8, 15, 16, 17, 33}) {
            const size_t kw = kh;
            const size_t len = (ow - 1) * sw + (kw - 1) * dw + 1;  // exactly what may be read
            std::vector<std::vector<float>> rows;
            std::vector<const float*> ptrs;
            for (size_t r = 0; r < kh; ++r) {
              rows.push_back(nq_test::random_f32(len, uint32_t(100 + r + ow)));
              ptrs.push_back(rows.back().data());
            }
            auto w = nq_test::random_f32(kh * kw, 7);
            nq::DwConvRowArgs a;
            a.rows = ptrs.data();
            a.w = w.data();
            a.bias = 0.25f;
            a.ow = ow;
            a.kh = kh;
            a.kw = kw;
            a.sw = sw;
            a.dw = dw;
            a.clamp = ow % 2 == 1;
            a.lo = -0.3f;
            a.hi = 0.4f;
            std::vector<float> got(ow + 1, 9.f), want(ow + 1, 9.f);
            k.row(a, got.data());
            nq::dwconv_f32_row__ref.row(a, want.data());
            CHECK_MESSAGE(got[ow] == 9.f, k.name << " wrote past ow=" << ow);
            for (size_t i = 0; i < ow; ++i)
              CHECK_MESSAGE(std::fabs(got[i] - want[i]) <= 1e-5f * (1 + std::fabs(want[i])),
                            k.name << " k" << kh << " s" << sw << " d" << dw << " ow" << ow << " [" << i
                                   << "] got " << got[i] << " want " << want[i]);
          }
  }
}

TEST_CASE("kernels im2col panel: every SIMD variant equals the scalar twin exactly") {
  struct G { int64_t c, ih, iw, kh, kw, s, d, pt, pl, oh, ow; };
  const G geos[] = {
      {3, 9, 11, 3, 3, 1, 1, 1, 1, 9, 11},  {2, 7, 7, 3, 3, 2, 1, 1, 1, 4, 4},
      {2, 10, 13, 7, 7, 2, 1, 3, 3, 5, 7},  {2, 9, 9, 3, 3, 1, 2, 2, 2, 9, 9},
      {4, 5, 40, 1, 1, 1, 1, 0, 0, 5, 40},  {2, 8, 30, 3, 3, 3, 1, 1, 1, 3, 10},
      {3, 4, 3, 2, 2, 1, 1, 0, 0, 3, 2},    {2, 12, 12, 1, 1, 2, 1, 0, 0, 6, 6},
  };
  for (nq::Isa isa : nq_test::simd_isas()) {
    for (size_t nr : {16, 32, 64}) {
      const nq::Im2colKernel& k = nq::im2col_kernel_for(isa, nr);
      if (k.isa == nq::Isa::scalar) continue;
      for (const G& g : geos) {
        nq::Im2colGeom ig;
        ig.in[1] = g.ih; ig.in[2] = g.iw; ig.out[1] = g.oh; ig.out[2] = g.ow;
        ig.k[1] = g.kh; ig.k[2] = g.kw; ig.s[1] = ig.s[2] = g.s; ig.d[1] = ig.d[2] = g.d;
        ig.pb[1] = g.pt; ig.pb[2] = g.pl; ig.plane = size_t(g.ih * g.iw);
        auto x = nq_test::random_f32(size_t(g.c * g.ih * g.iw), 31);
        const size_t K = size_t(g.c * g.kh * g.kw), N = size_t(g.oh * g.ow);
        for (size_t j0 = 0; j0 < N; j0 += nr)
          for (size_t k0 : {size_t(0), K / 3}) {
            const size_t kc = K - k0, nc = std::min(nr, N - j0);
            std::vector<float> got(kc * nr, 5.f), want(kc * nr, 6.f);
            k.panel(ig, x.data(), k0, kc, j0, nc, nr, got.data());
            nq::im2col_f32_panel__ref.panel(ig, x.data(), k0, kc, j0, nc, nr, want.data());
            CHECK_MESSAGE(got == want, k.name << " nr" << nr << " k" << g.kh << " s" << g.s << " d" << g.d
                                              << " j0=" << j0 << " k0=" << k0);
          }
      }
    }
  }
}
