// com.nquant.train element-wise, normalization, loss, reduction, dropout and optimizer ops
// against naive double-precision references written here, plus central-difference checks of
// every differentiable one. (ConvGrad and pooling: test_ops_train_conv.cc; QAT ops:
// test_ops_train_quant.cc.)
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "runtime/threadpool.h"
#include "train_test_util.h"

namespace {

using namespace nq_train_test;

// ---- ActivationGrad ---------------------------------------------------------------------------

struct ActCase {
  const char* name;
  double alpha = 0, beta = 0, lo = 0, hi = 0;
  bool attrs = false;  // pass alpha/beta/min/max (else the op's defaults must match these)
};

double act_forward(const ActCase& a, double x) {
  const std::string n = a.name;
  if (n == "Relu") return x > 0 ? x : 0;
  if (n == "LeakyRelu") return x > 0 ? x : a.alpha * x;
  if (n == "Sigmoid") return 1 / (1 + std::exp(-x));
  if (n == "Tanh") return std::tanh(x);
  if (n == "HardSigmoid") return std::max(0.0, std::min(1.0, a.alpha * x + a.beta));
  if (n == "HardSwish") return x * std::max(0.0, std::min(1.0, x / 6 + 0.5));
  if (n == "Clip") return std::min(std::max(x, a.lo), a.hi);
  if (n == "Gelu") return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  return x;  // Identity
}

// The derivative with the conventions the op documents at the kinks.
double act_derivative(const ActCase& a, double x) {
  const std::string n = a.name;
  if (n == "Relu") return x > 0 ? 1 : 0;
  if (n == "LeakyRelu") return x > 0 ? 1 : a.alpha;
  if (n == "Sigmoid") { const double s = 1 / (1 + std::exp(-x)); return s * (1 - s); }
  if (n == "Tanh") { const double t = std::tanh(x); return 1 - t * t; }
  if (n == "HardSigmoid") { const double t = a.alpha * x + a.beta; return t > 0 && t < 1 ? a.alpha : 0; }
  if (n == "HardSwish") return x < -3 ? 0 : x > 3 ? 1 : x / 3 + 0.5;
  if (n == "Clip") return x >= a.lo && x <= a.hi ? 1 : 0;
  if (n == "Gelu") {
    const double cdf = 0.5 * (1 + std::erf(x / std::sqrt(2.0)));
    const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2 * 3.14159265358979323846);
    return cdf + x * pdf;
  }
  return 1;
}

// Points where the derivative jumps (finite differences stay clear of them).
std::vector<double> act_kinks(const ActCase& a) {
  const std::string n = a.name;
  if (n == "Relu" || n == "LeakyRelu") return {0};
  if (n == "HardSigmoid") return {-a.beta / a.alpha, (1 - a.beta) / a.alpha};
  if (n == "HardSwish") return {-3, 3};
  if (n == "Clip") return {a.lo, a.hi};
  return {};
}

const ActCase kActs[] = {
    {"Relu"},
    {"LeakyRelu", 0.01},
    {"LeakyRelu", 0.2, 0, 0, 0, true},
    {"Sigmoid"},
    {"Tanh"},
    {"HardSigmoid", 0.2, 0.5},
    {"HardSigmoid", 0.5, 0.25, 0, 0, true},
    {"HardSwish"},
    {"Clip", 0, 0, -1.0, 1.5, true},
    {"Gelu"},
    {"Identity"},
};

std::string act_text(const ActCase& a) {
  return std::string(a.name) + (a.attrs ? " alpha " + std::to_string(a.alpha) + " beta " + std::to_string(a.beta) +
                                              " min " + std::to_string(a.lo) + " max " + std::to_string(a.hi)
                                        : " (defaults)");
}

std::vector<float> run_activation_grad(const ActCase& a, const std::vector<float>& dy,
                                       const std::vector<float>& x, const std::vector<float>& y) {
  OpCase op("ActivationGrad");
  const Dims d = {int64_t(x.size())};
  op.in(DType::f32, d).in(DType::f32, d).in(DType::f32, d).out(DType::f32, d)
      .attr("activation", attr_string(a.name));
  if (a.attrs) {
    op.attr("alpha", attr_float(a.alpha)).attr("beta", attr_float(a.beta));
    if (std::string(a.name) == "Clip") op.attr("min", attr_float(a.lo)).attr("max", attr_float(a.hi));
  }
  nq::Status st = op.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  std::vector<float> dx(x.size(), 5.f);
  REQUIRE(op.run({dy.data(), x.data(), y.data()}, {dx.data()}).is_ok());
  return dx;
}

}  // namespace

TEST_CASE("ops.train ActivationGrad matches each derivative, kinks included") {
  const size_t n = 40000;  // over one chunk: runs split across the pool
  for (const ActCase& a : kActs) {
    INFO(act_text(a));
    auto x = nq_test::random_f32(n, 1000, -5.f, 5.f);
    // Exactly on the kinks: the documented one-sided values.
    size_t i = 0;
    for (double k : act_kinks(a)) x[i++] = float(k);
    auto dy = nq_test::random_f32(n, 1001);
    std::vector<float> y(n);
    for (size_t j = 0; j < n; ++j) y[j] = float(act_forward(a, x[j]));
    const auto dx = run_activation_grad(a, dy, x, y);
    std::vector<double> want(n);
    for (size_t j = 0; j < n; ++j) {
      // Sigmoid/Tanh read Y, which is float-rounded: use the same Y in the reference.
      const std::string nm = a.name;
      double d = act_derivative(a, x[j]);
      if (nm == "Sigmoid") d = double(y[j]) * (1 - double(y[j]));
      if (nm == "Tanh") d = 1 - double(y[j]) * y[j];
      want[j] = dy[j] * d;
    }
    expect_close(dx, want, "ActivationGrad " + act_text(a), 1e-5, 1e-6);
  }
}

TEST_CASE("ops.train ActivationGrad agrees with central differences away from kinks") {
  for (const ActCase& a : kActs) {
    INFO(act_text(a));
    auto x = nq_test::random_f32(200, 1100, -4.f, 4.f);
    for (float& v : x)
      for (double k : act_kinks(a))
        if (std::fabs(v - k) < 0.01) v = float(k + 0.05);
    auto r = nq_test::random_f32(x.size(), 1101);
    std::vector<float> y(x.size());
    for (size_t j = 0; j < x.size(); ++j) y[j] = float(act_forward(a, x[j]));
    const auto dx = run_activation_grad(a, r, x, y);
    const auto num = numeric_grad(to_double(x), [&](const std::vector<double>& v) {
      double s = 0;
      for (size_t j = 0; j < v.size(); ++j) s += r[j] * act_forward(a, v[j]);
      return s;
    });
    expect_grad(dx, num, "ActivationGrad " + act_text(a));
  }
}

TEST_CASE("ops.train ActivationGrad refuses an unknown activation") {
  OpCase op("ActivationGrad");
  op.in(DType::f32, {4}).in(DType::f32, {4}).in(DType::f32, {4}).out(DType::f32, {4})
      .attr("activation", attr_string("Swish"));
  nq::Status s = op.create();
  CHECK_FALSE(s.is_ok());
  CHECK(s.message.find("Swish") != std::string::npos);
}

// ---- SoftmaxGrad ------------------------------------------------------------------------------

namespace {

// Softmax of x along `axis` of dims, in double.
std::vector<double> softmax_ref(const Dims& d, int64_t axis, const std::vector<double>& x) {
  if (axis < 0) axis += int64_t(d.size());
  size_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= size_t(d[size_t(i)]);
  for (size_t i = size_t(axis) + 1; i < d.size(); ++i) inner *= size_t(d[i]);
  const size_t n = size_t(d[size_t(axis)]);
  std::vector<double> y(x.size());
  for (size_t o = 0; o < outer; ++o)
    for (size_t j = 0; j < inner; ++j) {
      double mx = -1e300, s = 0;
      for (size_t i = 0; i < n; ++i) mx = std::max(mx, x[(o * n + i) * inner + j]);
      for (size_t i = 0; i < n; ++i) s += std::exp(x[(o * n + i) * inner + j] - mx);
      for (size_t i = 0; i < n; ++i) y[(o * n + i) * inner + j] = std::exp(x[(o * n + i) * inner + j] - mx) / s;
    }
  return y;
}

}  // namespace

TEST_CASE("ops.train SoftmaxGrad matches the Jacobian product and central differences") {
  struct Case { Dims d; int64_t axis; };
  const Case cases[] = {{{3, 5}, -1}, {{2, 4, 3}, 1}, {{4, 3}, 0}, {{7}, 0}, {{2, 3, 2, 5}, -2}, {{64, 600}, -1}};
  uint32_t seed = 1200;
  for (const Case& c : cases) {
    INFO("dims " << dims_text(c.d) << " axis " << c.axis);
    auto x = nq_test::random_f32(count_of(c.d), seed++, -2.f, 2.f);
    auto r = nq_test::random_f32(x.size(), seed++);
    const auto xd = to_double(x);
    const auto y = to_float(softmax_ref(c.d, c.axis, xd));
    OpCase op("SoftmaxGrad");
    op.in(DType::f32, c.d).in(DType::f32, c.d).out(DType::f32, c.d).attr("axis", attr_int(c.axis));
    REQUIRE(op.create().is_ok());
    std::vector<float> dx(x.size());
    REQUIRE(op.run({r.data(), y.data()}, {dx.data()}).is_ok());
    // Explicit Jacobian: dX_i = Σ_j dY_j·Y_j(δ_ij − Y_i), along the axis.
    int64_t axis = c.axis < 0 ? c.axis + int64_t(c.d.size()) : c.axis;
    size_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= size_t(c.d[size_t(i)]);
    for (size_t i = size_t(axis) + 1; i < c.d.size(); ++i) inner *= size_t(c.d[i]);
    const size_t n = size_t(c.d[size_t(axis)]);
    std::vector<double> want(x.size(), 0.0);
    for (size_t o = 0; o < outer; ++o)
      for (size_t k = 0; k < inner; ++k)
        for (size_t i = 0; i < n; ++i) {
          const size_t ii = (o * n + i) * inner + k;
          for (size_t j = 0; j < n; ++j) {
            const size_t jj = (o * n + j) * inner + k;
            want[ii] += double(r[jj]) * double(y[jj]) * ((i == j ? 1.0 : 0.0) - double(y[ii]));
          }
        }
    expect_close(dx, want, "SoftmaxGrad " + dims_text(c.d), 1e-4, 1e-6);
    if (x.size() <= 200)
      expect_grad(dx, numeric_grad(xd, [&](const std::vector<double>& v) { return dot(softmax_ref(c.d, c.axis, v), r); }),
                  "SoftmaxGrad " + dims_text(c.d));
  }
}

// ---- BatchNormTraining / BatchNormGrad -----------------------------------------------------

namespace {

struct BnCase {
  Dims d;
  double eps = 1e-5, momentum = 0.9;
  size_t channels() const { return size_t(d[1]); }
  size_t spatial() const { return count_of(d) / size_t(d[0] * d[1]); }
};

struct BnStats {
  std::vector<double> mean, var;  // biased
};

BnStats bn_stats(const BnCase& c, const std::vector<double>& x) {
  const size_t N = size_t(c.d[0]), C = c.channels(), S = c.spatial();
  BnStats st;
  st.mean.assign(C, 0);
  st.var.assign(C, 0);
  for (size_t ch = 0; ch < C; ++ch) {
    double s = 0;
    for (size_t n = 0; n < N; ++n)
      for (size_t i = 0; i < S; ++i) s += x[(n * C + ch) * S + i];
    const double mean = s / double(N * S);
    double v = 0;
    for (size_t n = 0; n < N; ++n)
      for (size_t i = 0; i < S; ++i) v += (x[(n * C + ch) * S + i] - mean) * (x[(n * C + ch) * S + i] - mean);
    st.mean[ch] = mean;
    st.var[ch] = v / double(N * S);
  }
  return st;
}

std::vector<double> bn_forward(const BnCase& c, const std::vector<double>& x,
                               const std::vector<double>& scale, const std::vector<double>& b) {
  const size_t N = size_t(c.d[0]), C = c.channels(), S = c.spatial();
  const BnStats st = bn_stats(c, x);
  std::vector<double> y(x.size());
  for (size_t n = 0; n < N; ++n)
    for (size_t ch = 0; ch < C; ++ch)
      for (size_t i = 0; i < S; ++i) {
        const size_t k = (n * C + ch) * S + i;
        y[k] = (x[k] - st.mean[ch]) / std::sqrt(st.var[ch] + c.eps) * scale[ch] + b[ch];
      }
  return y;
}

OpCase make_bn_training(const BnCase& c) {
  const int64_t C = c.d[1];
  OpCase op("BatchNormTraining");
  op.in(DType::f32, c.d).in(DType::f32, {C}).in(DType::f32, {C}).in(DType::f32, {C}).in(DType::f32, {C})
      .out(DType::f32, c.d).out(DType::f32, {C}).out(DType::f32, {C}).out(DType::f32, {C}).out(DType::f32, {C})
      .attr("epsilon", attr_float(c.eps)).attr("momentum", attr_float(c.momentum));
  return op;
}

const BnCase kBnCases[] = {
    {{1, 3, 5, 4}},                 // N = 1, spatial > 1
    {{4, 3, 2, 3}, 1e-3, 0.8},      // N > 1
    {{6, 5}, 1e-5, 0.0},            // [N, C]: no spatial dims; momentum 0 takes the batch stats
    {{2, 4, 7}},                    // 1-D spatial
    {{8, 6, 30, 30}, 1e-5, 0.9},    // channels split over the pool
};

}  // namespace

TEST_CASE("ops.train BatchNormTraining: batch statistics, running update in place") {
  uint32_t seed = 1300;
  for (const BnCase& c : kBnCases) {
    INFO("X " << dims_text(c.d) << " eps " << c.eps << " momentum " << c.momentum);
    const size_t C = c.channels();
    auto x = nq_test::random_f32(count_of(c.d), seed++, -2.f, 3.f);
    auto scale = nq_test::random_f32(C, seed++, 0.5f, 1.5f);
    auto b = nq_test::random_f32(C, seed++);
    auto rmean = nq_test::random_f32(C, seed++);
    auto rvar = nq_test::random_f32(C, seed++, 0.5f, 2.f);
    const auto rmean0 = rmean, rvar0 = rvar;
    OpCase op = make_bn_training(c);
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<float> y(x.size()), smean(C), sinv(C);
    // running_mean/running_var are updated in place: the same buffers in and out.
    st = op.run({x.data(), scale.data(), b.data(), rmean.data(), rvar.data()},
                {y.data(), rmean.data(), rvar.data(), smean.data(), sinv.data()});
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    const auto xd = to_double(x);
    const BnStats bs = bn_stats(c, xd);
    const double n = double(count_of(c.d) / C);
    std::vector<double> want_rm(C), want_rv(C), want_sm(C), want_si(C);
    for (size_t ch = 0; ch < C; ++ch) {
      const double unbiased = n > 1 ? bs.var[ch] * n / (n - 1) : bs.var[ch];
      want_rm[ch] = rmean0[ch] * c.momentum + bs.mean[ch] * (1 - c.momentum);
      want_rv[ch] = rvar0[ch] * c.momentum + unbiased * (1 - c.momentum);
      want_sm[ch] = bs.mean[ch];
      want_si[ch] = 1 / std::sqrt(bs.var[ch] + c.eps);
    }
    expect_close(y, bn_forward(c, xd, to_double(scale), to_double(b)), "Y", 1e-4, 1e-5);
    expect_close(rmean, want_rm, "running_mean", 1e-5, 1e-6);
    expect_close(rvar, want_rv, "running_var (unbiased)", 1e-5, 1e-6);
    expect_close(smean, want_sm, "saved_mean", 1e-5, 1e-6);
    expect_close(sinv, want_si, "saved_invstd", 1e-5, 1e-6);
  }
}

TEST_CASE("ops.train BatchNormTraining with only Y requested") {
  const BnCase c{{2, 3, 4}};
  auto x = nq_test::random_f32(24, 1350);
  std::vector<float> scale = {1.f, 2.f, 0.5f}, b = {0.f, 1.f, -1.f}, rm = {0, 0, 0}, rv = {1, 1, 1};
  OpCase op("BatchNormTraining");
  op.in(DType::f32, c.d).in(DType::f32, {3}).in(DType::f32, {3}).in(DType::f32, {3}).in(DType::f32, {3})
      .out(DType::f32, c.d);
  REQUIRE(op.create().is_ok());
  std::vector<float> y(24);
  REQUIRE(op.run({x.data(), scale.data(), b.data(), rm.data(), rv.data()}, {y.data()}).is_ok());
  expect_close(y, bn_forward(c, to_double(x), to_double(scale), to_double(b)), "Y only");
}

TEST_CASE("ops.train BatchNormGrad matches the formula and central differences") {
  uint32_t seed = 1400;
  for (const BnCase& c : kBnCases) {
    INFO("X " << dims_text(c.d));
    const size_t C = c.channels(), N = size_t(c.d[0]), S = c.spatial();
    auto x = nq_test::random_f32(count_of(c.d), seed++, -2.f, 3.f);
    auto scale = nq_test::random_f32(C, seed++, 0.5f, 1.5f);
    auto b = nq_test::random_f32(C, seed++);
    auto r = nq_test::random_f32(x.size(), seed++);  // loss = Σ r·Y, so dY = r
    std::vector<float> rm(C, 0.f), rv(C, 1.f), y(x.size()), smean(C), sinv(C), rmo(C), rvo(C);
    OpCase fwd = make_bn_training(c);
    REQUIRE(fwd.create().is_ok());
    REQUIRE(fwd.run({x.data(), scale.data(), b.data(), rm.data(), rv.data()},
                    {y.data(), rmo.data(), rvo.data(), smean.data(), sinv.data()}).is_ok());
    OpCase op("BatchNormGrad");
    const int64_t Ci = int64_t(C);
    op.in(DType::f32, c.d).in(DType::f32, c.d).in(DType::f32, {Ci}).in(DType::f32, {Ci}).in(DType::f32, {Ci})
        .out(DType::f32, c.d).out(DType::f32, {Ci}).out(DType::f32, {Ci});
    REQUIRE(op.create().is_ok());
    std::vector<float> dx(x.size()), dscale(C), db(C);
    REQUIRE(op.run({r.data(), x.data(), scale.data(), smean.data(), sinv.data()},
                   {dx.data(), dscale.data(), db.data()}).is_ok());
    // Reference: the textbook backward in double from double statistics.
    const auto xd = to_double(x), sd = to_double(scale), bd = to_double(b);
    const BnStats bs = bn_stats(c, xd);
    const double n = double(N * S);
    std::vector<double> wdx(x.size()), wds(C, 0), wdb(C, 0);
    for (size_t ch = 0; ch < C; ++ch) {
      const double is = 1 / std::sqrt(bs.var[ch] + c.eps);
      for (size_t k = 0; k < N; ++k)
        for (size_t i = 0; i < S; ++i) {
          const size_t j = (k * C + ch) * S + i;
          wdb[ch] += r[j];
          wds[ch] += r[j] * (xd[j] - bs.mean[ch]) * is;
        }
      for (size_t k = 0; k < N; ++k)
        for (size_t i = 0; i < S; ++i) {
          const size_t j = (k * C + ch) * S + i;
          const double xh = (xd[j] - bs.mean[ch]) * is;
          wdx[j] = sd[ch] * is / n * (n * r[j] - wdb[ch] - xh * wds[ch]);
        }
    }
    expect_close(dx, wdx, "dX", 1e-3, 1e-5);
    expect_close(dscale, wds, "dScale", 1e-4, 1e-5);
    expect_close(db, wdb, "dB", 1e-5, 1e-5);
    if (x.size() <= 200) {
      expect_grad(dx, numeric_grad(xd, [&](const std::vector<double>& v) { return dot(bn_forward(c, v, sd, bd), r); }), "dX");
      expect_grad(dscale, numeric_grad(sd, [&](const std::vector<double>& v) { return dot(bn_forward(c, xd, v, bd), r); }), "dScale");
      expect_grad(db, numeric_grad(bd, [&](const std::vector<double>& v) { return dot(bn_forward(c, xd, sd, v), r); }), "dB");
    }
    // Only dScale and dB (dX omitted): same values.
    OpCase part("BatchNormGrad");
    part.in(DType::f32, c.d).in(DType::f32, c.d).in(DType::f32, {Ci}).in(DType::f32, {Ci}).in(DType::f32, {Ci})
        .absent_out().out(DType::f32, {Ci}).out(DType::f32, {Ci});
    REQUIRE(part.create().is_ok());
    std::vector<float> ds2(C), db2(C);
    REQUIRE(part.run({r.data(), x.data(), scale.data(), smean.data(), sinv.data()}, {nullptr, ds2.data(), db2.data()}).is_ok());
    CHECK(ds2 == dscale);
    CHECK(db2 == db);
  }
}

// ---- SoftmaxCrossEntropy / Grad -------------------------------------------------------------

namespace {

double ce_loss_ref(size_t N, size_t K, const std::vector<double>& logits, const std::vector<int64_t>& labels) {
  double total = 0;
  for (size_t r = 0; r < N; ++r) {
    double mx = -1e300, s = 0;
    for (size_t j = 0; j < K; ++j) mx = std::max(mx, logits[r * K + j]);
    for (size_t j = 0; j < K; ++j) s += std::exp(logits[r * K + j] - mx);
    total += -(logits[r * K + size_t(labels[r])] - mx - std::log(s));
  }
  return total / double(N);
}

}  // namespace

TEST_CASE("ops.train SoftmaxCrossEntropy: loss, prob, int32/int64 labels, large logits") {
  struct Case { size_t n, k; float lo, hi; bool wide; };
  const Case cases[] = {{1, 3, -1, 1, true}, {5, 7, -3, 3, true}, {4, 10, -3, 3, false},
                        {3, 4, 900, 1000, true}, {300, 100, -5, 5, true}};
  uint32_t seed = 1500;
  for (const Case& c : cases) {
    INFO("N " << c.n << " K " << c.k << " logits in [" << c.lo << "," << c.hi << "] " << (c.wide ? "int64" : "int32"));
    auto logits = nq_test::random_f32(c.n * c.k, seed++, c.lo, c.hi);
    std::vector<int64_t> labels(c.n);
    for (size_t i = 0; i < c.n; ++i) labels[i] = int64_t((i * 7 + 3) % c.k);
    std::vector<int32_t> labels32(labels.begin(), labels.end());
    OpCase op("SoftmaxCrossEntropy");
    const Dims ld = {int64_t(c.n)}, xd = {int64_t(c.n), int64_t(c.k)};
    op.in(DType::f32, xd).in(c.wide ? DType::s64 : DType::s32, ld).out(DType::f32, {}).out(DType::f32, xd);
    REQUIRE(op.create().is_ok());
    float loss = -1;
    std::vector<float> prob(logits.size());
    const void* lab = c.wide ? static_cast<const void*>(labels.data()) : labels32.data();
    REQUIRE(op.run({logits.data(), lab}, {&loss, prob.data()}).is_ok());
    const auto ld_ = to_double(logits);
    expect_close(&loss, {ce_loss_ref(c.n, c.k, ld_, labels)}, "loss", 1e-5, 1e-6);
    std::vector<double> want_p = softmax_ref(xd, -1, ld_);
    expect_close(prob, want_p, "prob", 1e-5, 1e-7);
    // The gradient op against central differences of the loss (dLoss = 0.7).
    const float dloss = 0.7f;
    OpCase g("SoftmaxCrossEntropyGrad");
    g.in(DType::f32, {}).in(DType::f32, xd).in(c.wide ? DType::s64 : DType::s32, ld).out(DType::f32, xd);
    REQUIRE(g.create().is_ok());
    std::vector<float> dlogits(logits.size());
    REQUIRE(g.run({&dloss, prob.data(), lab}, {dlogits.data()}).is_ok());
    std::vector<double> want_g(logits.size());
    for (size_t r = 0; r < c.n; ++r)
      for (size_t j = 0; j < c.k; ++j)
        want_g[r * c.k + j] = dloss * (want_p[r * c.k + j] - (int64_t(j) == labels[r] ? 1.0 : 0.0)) / double(c.n);
    expect_close(dlogits, want_g, "dLogits", 1e-4, 1e-7);
    if (c.n * c.k <= 100)
      expect_grad(dlogits, numeric_grad(ld_, [&](const std::vector<double>& v) { return dloss * ce_loss_ref(c.n, c.k, v, labels); }),
                  "dLogits");
  }
}

TEST_CASE("ops.train SoftmaxCrossEntropy refuses labels out of range at run time") {
  const Dims xd = {3, 4};
  auto logits = nq_test::random_f32(12, 1600);
  std::vector<float> prob(12), dl(12);
  float loss = 0, dloss = 1;
  for (int64_t bad : {int64_t(-1), int64_t(4), int64_t(1) << 40}) {
    INFO("bad label " << bad);
    std::vector<int64_t> labels = {0, bad, 2};
    OpCase op("SoftmaxCrossEntropy");
    op.in(DType::f32, xd).in(DType::s64, {3}).out(DType::f32, {}).out(DType::f32, xd);
    REQUIRE(op.create().is_ok());
    nq::Status s = op.run({logits.data(), labels.data()}, {&loss, prob.data()});
    CHECK_FALSE(s.is_ok());
    CHECK(s.message.find("row 1") != std::string::npos);
    CHECK(s.message.find(std::to_string(bad)) != std::string::npos);
    CHECK(s.message.find("SoftmaxCrossEntropy node 't'") != std::string::npos);
    OpCase g("SoftmaxCrossEntropyGrad");
    g.in(DType::f32, {}).in(DType::f32, xd).in(DType::s64, {3}).out(DType::f32, xd);
    REQUIRE(g.create().is_ok());
    s = g.run({&dloss, prob.data(), labels.data()}, {dl.data()});
    CHECK_FALSE(s.is_ok());
    CHECK(s.message.find("row 1") != std::string::npos);
  }
  std::vector<int32_t> labels32 = {0, 1, -5};
  OpCase op("SoftmaxCrossEntropy");
  op.in(DType::f32, xd).in(DType::s32, {3}).out(DType::f32, {});
  REQUIRE(op.create().is_ok());
  nq::Status s = op.run({logits.data(), labels32.data()}, {&loss});
  CHECK_FALSE(s.is_ok());
  CHECK(s.message.find("row 2") != std::string::npos);
}

// ---- MseLoss / MseLossGrad ------------------------------------------------------------------

TEST_CASE("ops.train MseLoss and MseLossGrad") {
  for (size_t n : {size_t(1), size_t(37), size_t(100000)}) {
    INFO("count " << n);
    auto p = nq_test::random_f32(n, 1700, -2.f, 2.f);
    auto t = nq_test::random_f32(n, 1701, -2.f, 2.f);
    const Dims d = {int64_t(n)};
    OpCase op("MseLoss");
    op.in(DType::f32, d).in(DType::f32, d).out(DType::f32, {});
    REQUIRE(op.create().is_ok());
    float loss = -1;
    REQUIRE(op.run({p.data(), t.data()}, {&loss}).is_ok());
    double want = 0;
    for (size_t i = 0; i < n; ++i) want += (double(p[i]) - t[i]) * (double(p[i]) - t[i]);
    want /= double(n);
    expect_close(&loss, {want}, "MseLoss", 1e-5, 1e-7);
    const float dloss = 1.5f;
    OpCase g("MseLossGrad");
    g.in(DType::f32, {}).in(DType::f32, d).in(DType::f32, d).out(DType::f32, d);
    REQUIRE(g.create().is_ok());
    std::vector<float> dp(n);
    REQUIRE(g.run({&dloss, p.data(), t.data()}, {dp.data()}).is_ok());
    std::vector<double> wg(n);
    for (size_t i = 0; i < n; ++i) wg[i] = dloss * 2 * (double(p[i]) - t[i]) / double(n);
    expect_close(dp, wg, "MseLossGrad", 1e-5, 1e-9);
    if (n <= 40) {
      const auto td = to_double(t);
      expect_grad(dp, numeric_grad(to_double(p), [&](const std::vector<double>& v) {
                    double s = 0;
                    for (size_t i = 0; i < n; ++i) s += (v[i] - td[i]) * (v[i] - td[i]);
                    return dloss * s / double(n);
                  }), "MseLossGrad");
    }
  }
}

// ---- ReduceToShape ------------------------------------------------------------------------

TEST_CASE("ops.train ReduceToShape sums over the broadcast dims") {
  struct Case { Dims in, out; };
  const Case cases[] = {
      {{2, 3, 4, 5}, {}},             // scalar target
      {{2, 3, 4, 5}, {3, 1, 1}},      // per-channel bias, leading rank dropped
      {{2, 3, 4, 5}, {1, 3, 1, 1}},
      {{2, 3, 4, 5}, {4, 5}},         // leading-rank drop only
      {{2, 3, 4, 5}, {2, 1, 4, 1}},   // alternating kept and summed dims
      {{2, 3, 4, 5}, {1, 1, 1, 5}},
      {{6, 7}, {1, 7}},
      {{6, 7}, {6, 1}},
      {{6, 7}, {7}},
      {{3, 1, 4}, {1, 4}},            // size-1 dims on both sides
      {{2, 3, 4, 5}, {2, 3, 4, 5}},   // same shape: a copy
      {{2, 3, 4, 5}, {1, 3, 4, 5}},   // summing N only
      {{64, 32, 40}, {32, 1}},        // big: tasks with partials
      {{8, 300, 70}, {300, 70}},      // big output: task count capped by count ratio
      {{300000}, {}},                 // long single run
      {{300000}, {1}},
      {{5, 1, 3}, {5, 1, 3}},
  };
  uint32_t seed = 1800;
  for (const Case& c : cases) {
    INFO("dY " << dims_text(c.in) << " -> " << dims_text(c.out));
    auto dy = nq_test::random_f32(count_of(c.in), seed++);
    OpCase op("ReduceToShape");
    op.in(DType::f32, c.in).out(DType::f32, c.out);
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<float> dx(count_of(c.out), 9.f);
    REQUIRE(op.run({dy.data()}, {dx.data()}).is_ok());
    // Reference: every dY element added to the output element it broadcast from.
    Dims o(c.in.size() - c.out.size(), 1);
    o.insert(o.end(), c.out.begin(), c.out.end());
    std::vector<double> want(dx.size(), 0.0);
    std::vector<int64_t> idx(c.in.size(), 0);
    for (size_t i = 0; i < dy.size(); ++i) {
      size_t oi = 0;
      for (size_t a = 0; a < o.size(); ++a) oi = oi * size_t(o[a]) + size_t(o[a] == 1 ? 0 : idx[a]);
      want[oi] += dy[i];
      for (size_t a = c.in.size(); a-- > 0;) {
        if (++idx[a] < c.in[a]) break;
        idx[a] = 0;
      }
    }
    expect_close(dx, want, "ReduceToShape " + dims_text(c.in) + " -> " + dims_text(c.out), 1e-5, 1e-4);
  }
  OpCase bad("ReduceToShape");
  bad.in(DType::f32, {2, 3}).out(DType::f32, {2, 1, 3});
  CHECK_FALSE(bad.create().is_ok());
  OpCase bad2("ReduceToShape");
  bad2.in(DType::f32, {2, 3}).out(DType::f32, {2});
  CHECK_FALSE(bad2.create().is_ok());
}

TEST_CASE("ops.train ReduceToShape does not depend on the thread count beyond rounding") {
  const size_t saved = nq::get_num_threads();
  auto dy = nq_test::random_f32(64 * 32 * 40, 1900);
  std::vector<std::vector<float>> results;
  for (size_t threads : {size_t(1), size_t(2), size_t(5)}) {
    nq::set_num_threads(threads);
    OpCase op("ReduceToShape");
    op.in(DType::f32, {64, 32, 40}).out(DType::f32, {1, 32, 1});
    REQUIRE(op.create().is_ok());
    std::vector<float> dx(32);
    REQUIRE(op.run({dy.data()}, {dx.data()}).is_ok());
    results.push_back(dx);
  }
  nq::set_num_threads(saved);
  for (size_t k = 1; k < results.size(); ++k)
    expect_close(results[k], to_double(results[0]), "threads vs 1", 1e-6, 1e-6);
}

// ---- DropoutTrain / DropoutGrad -------------------------------------------------------------

namespace {

struct DropoutRun {
  std::vector<float> y;
  std::vector<uint8_t> mask;
};

DropoutRun run_dropout(const std::vector<float>& x, int64_t seed, double ratio) {
  OpCase op("DropoutTrain");
  const Dims d = {int64_t(x.size())};
  op.in(DType::f32, d).in(DType::s64, {}).out(DType::f32, d).out(DType::u8, d).attr("ratio", attr_float(ratio));
  nq::Status st = op.create();
  REQUIRE_MESSAGE(st.is_ok(), st.message);
  DropoutRun r;
  r.y.assign(x.size(), 7.f);
  r.mask.assign(x.size(), 7);
  REQUIRE(op.run({x.data(), &seed}, {r.y.data(), r.mask.data()}).is_ok());
  return r;
}

}  // namespace

TEST_CASE("ops.train DropoutTrain: deterministic per seed, keep rate, scaling") {
  const size_t n = 100000;
  auto x = nq_test::random_f32(n, 2000);
  for (double ratio : {0.1, 0.5, 0.8}) {
    INFO("ratio " << ratio);
    const DropoutRun a = run_dropout(x, 42, ratio);
    const DropoutRun b = run_dropout(x, 42, ratio);
    const DropoutRun c = run_dropout(x, 43, ratio);
    CHECK(a.mask == b.mask);
    CHECK(a.y == b.y);
    size_t kept = 0, differ = 0;
    bool binary = true;
    for (size_t i = 0; i < n; ++i) {
      kept += a.mask[i];
      differ += a.mask[i] != c.mask[i];
      binary = binary && a.mask[i] <= 1;
    }
    CHECK(binary);
    const double rate = double(kept) / double(n);
    CHECK_MESSAGE(std::fabs(rate - (1 - ratio)) < 0.01, "keep rate " << rate);
    // Independent masks differ where exactly one keeps: 2p(1-p) of the elements.
    const double expect_differ = 2 * ratio * (1 - ratio);
    CHECK_MESSAGE(std::fabs(double(differ) / double(n) - expect_differ) < 0.01,
                  "seeds 42/43 differ at " << double(differ) / double(n));
    std::vector<double> want(n);
    for (size_t i = 0; i < n; ++i) want[i] = a.mask[i] ? double(x[i]) / (1 - ratio) : 0.0;
    expect_close(a.y, want, "Y", 1e-6, 0);
    if (ratio == 0.5) {
      // Fair coins: the longest run of equal draws in 1e5 is ~17; a badly mixed counter
      // (neighbouring indices drawing alike) shows much longer ones.
      size_t longest = 0, run = 0;
      for (size_t i = 1; i < n; ++i) {
        run = a.mask[i] == a.mask[i - 1] ? run + 1 : 0;
        longest = std::max(longest, run);
      }
      CHECK_MESSAGE(longest < 40, "longest run " << longest);
    }
  }
}

TEST_CASE("ops.train DropoutTrain mask does not depend on threading; ratio 0 and 1") {
  const size_t saved = nq::get_num_threads();
  auto x = nq_test::random_f32(70000, 2100);
  nq::set_num_threads(1);
  const DropoutRun one = run_dropout(x, -7, 0.3);
  nq::set_num_threads(4);
  const DropoutRun four = run_dropout(x, -7, 0.3);
  nq::set_num_threads(saved);
  CHECK(one.mask == four.mask);
  CHECK(one.y == four.y);
  const DropoutRun keep = run_dropout(x, 5, 0.0);
  CHECK(std::all_of(keep.mask.begin(), keep.mask.end(), [](uint8_t m) { return m == 1; }));
  CHECK(std::memcmp(keep.y.data(), x.data(), x.size() * sizeof(float)) == 0);
  const DropoutRun drop = run_dropout(x, 5, 1.0);
  CHECK(std::all_of(drop.mask.begin(), drop.mask.end(), [](uint8_t m) { return m == 0; }));
  CHECK(std::all_of(drop.y.begin(), drop.y.end(), [](float v) { return v == 0.f; }));
  OpCase bad("DropoutTrain");
  bad.in(DType::f32, {4}).in(DType::s64, {}).out(DType::f32, {4}).attr("ratio", attr_float(1.5));
  CHECK_FALSE(bad.create().is_ok());
}

TEST_CASE("ops.train DropoutGrad scales the kept gradients") {
  const size_t n = 50000;
  auto dy = nq_test::random_f32(n, 2200);
  auto x = nq_test::random_f32(n, 2201);
  const DropoutRun fwd = run_dropout(x, 9, 0.25);
  OpCase op("DropoutGrad");
  const Dims d = {int64_t(n)};
  op.in(DType::f32, d).in(DType::u8, d).out(DType::f32, d).attr("ratio", attr_float(0.25));
  REQUIRE(op.create().is_ok());
  std::vector<float> dx(n);
  REQUIRE(op.run({dy.data(), fwd.mask.data()}, {dx.data()}).is_ok());
  std::vector<double> want(n);
  for (size_t i = 0; i < n; ++i) want[i] = fwd.mask[i] ? double(dy[i]) / 0.75 : 0.0;
  expect_close(dx, want, "DropoutGrad", 1e-6, 0);
}

// ---- SgdUpdate / AdamUpdate --------------------------------------------------------------------

TEST_CASE("ops.train SgdUpdate follows PyTorch SGD over several steps, in place") {
  struct Case { double momentum, wd; int nesterov; bool velocity; };
  const Case cases[] = {{0, 0, 0, false}, {0, 0.01, 0, false}, {0, 0.01, 0, true},
                        {0.9, 0, 0, true}, {0.9, 0.05, 0, true}, {0.8, 0.01, 1, true}};
  const size_t n = 33;
  for (const Case& c : cases) {
    INFO("momentum " << c.momentum << " wd " << c.wd << " nesterov " << c.nesterov << " velocity " << c.velocity);
    auto param = nq_test::random_f32(n, 2300);
    std::vector<float> vel(n, 0.f);
    std::vector<double> p_ref = to_double(param), v_ref(n, 0.0);
    OpCase op("SgdUpdate");
    const Dims d = {int64_t(n)};
    op.in(DType::f32, d).in(DType::f32, d);
    if (c.velocity) op.in(DType::f32, d); else op.absent_in();
    op.in(DType::f32, {1}).out(DType::f32, d);
    if (c.velocity) op.out(DType::f32, d);
    op.attr("momentum", attr_float(c.momentum)).attr("weight_decay", attr_float(c.wd)).attr("nesterov", attr_int(c.nesterov));
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    for (int step = 0; step < 5; ++step) {
      auto grad = nq_test::random_f32(n, 2310 + uint32_t(step));
      const float lr = 0.1f / float(step + 1);
      std::vector<void*> outs = {param.data()};
      if (c.velocity) outs.push_back(vel.data());
      // param_out is param and velocity_out is velocity: the in-place update.
      REQUIRE(op.run({param.data(), grad.data(), c.velocity ? vel.data() : nullptr, &lr}, outs).is_ok());
      for (size_t i = 0; i < n; ++i) {
        const double g = grad[i] + c.wd * p_ref[i];
        double stepv = g;
        if (c.momentum != 0) {
          v_ref[i] = c.momentum * v_ref[i] + g;
          stepv = c.nesterov ? g + c.momentum * v_ref[i] : v_ref[i];
        }
        p_ref[i] -= double(lr) * stepv;
      }
    }
    expect_close(param, p_ref, "param after 5 steps", 1e-5, 1e-6);
    if (c.velocity) expect_close(vel, v_ref, "velocity after 5 steps", 1e-5, 1e-6);
  }
}

TEST_CASE("ops.train AdamUpdate follows PyTorch Adam/AdamW over several steps, in place") {
  struct Case { double wd; int decoupled; double b1, b2, eps; };
  const Case cases[] = {{0, 0, 0.9, 0.999, 1e-8}, {0.01, 0, 0.9, 0.999, 1e-8}, {0.01, 1, 0.9, 0.999, 1e-8},
                        {0.1, 1, 0.8, 0.99, 1e-6}};
  const size_t n = 20000;  // over one chunk
  for (const Case& c : cases) {
    INFO("wd " << c.wd << " decoupled " << c.decoupled << " betas " << c.b1 << "," << c.b2 << " eps " << c.eps);
    auto param = nq_test::random_f32(n, 2400);
    std::vector<float> m(n, 0.f), v(n, 0.f);
    std::vector<double> p_ref = to_double(param), m_ref(n, 0.0), v_ref(n, 0.0);
    OpCase op("AdamUpdate");
    const Dims d = {int64_t(n)};
    op.in(DType::f32, d).in(DType::f32, d).in(DType::f32, d).in(DType::f32, d).in(DType::f32, {3})
        .out(DType::f32, d).out(DType::f32, d).out(DType::f32, d)
        .attr("beta1", attr_float(c.b1)).attr("beta2", attr_float(c.b2)).attr("epsilon", attr_float(c.eps))
        .attr("weight_decay", attr_float(c.wd)).attr("decoupled", attr_int(c.decoupled));
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    for (int t = 1; t <= 6; ++t) {
      auto grad = nq_test::random_f32(n, 2410 + uint32_t(t));
      const double lr = 1e-2;
      const double bc1 = 1 - std::pow(c.b1, t), bc2 = 1 - std::pow(c.b2, t);
      const float hyper[3] = {float(lr), float(bc1), float(bc2)};
      REQUIRE(op.run({param.data(), grad.data(), m.data(), v.data(), hyper}, {param.data(), m.data(), v.data()}).is_ok());
      for (size_t i = 0; i < n; ++i) {
        double g = grad[i];
        if (c.decoupled) p_ref[i] *= 1 - lr * c.wd;
        else g += c.wd * p_ref[i];
        m_ref[i] = c.b1 * m_ref[i] + (1 - c.b1) * g;
        v_ref[i] = c.b2 * v_ref[i] + (1 - c.b2) * g * g;
        p_ref[i] -= lr * (m_ref[i] / bc1) / (std::sqrt(v_ref[i] / bc2) + c.eps);
      }
    }
    expect_close(param, p_ref, "param after 6 steps", 1e-5, 1e-6);
    expect_close(m, m_ref, "m", 1e-4, 1e-7);
    expect_close(v, v_ref, "v", 1e-4, 1e-9);
  }
}

TEST_CASE("ops.train optimizer steps write separate outputs like in-place ones") {
  const size_t n = 17;
  auto p = nq_test::random_f32(n, 2500), g = nq_test::random_f32(n, 2501), vel = nq_test::random_f32(n, 2502);
  const float lr = 0.05f;
  OpCase op("SgdUpdate");
  const Dims d = {int64_t(n)};
  op.in(DType::f32, d).in(DType::f32, d).in(DType::f32, d).in(DType::f32, {1}).out(DType::f32, d).out(DType::f32, d)
      .attr("momentum", attr_float(0.9));
  REQUIRE(op.create().is_ok());
  std::vector<float> po(n), vo(n), p2 = p, v2 = vel;
  REQUIRE(op.run({p.data(), g.data(), vel.data(), &lr}, {po.data(), vo.data()}).is_ok());
  REQUIRE(op.run({p2.data(), g.data(), v2.data(), &lr}, {p2.data(), v2.data()}).is_ok());
  CHECK(po == p2);
  CHECK(vo == v2);
  OpCase bad("SgdUpdate");
  bad.in(DType::f32, d).in(DType::f32, d).absent_in().in(DType::f32, {1}).out(DType::f32, d)
      .attr("momentum", attr_float(0.9));
  CHECK_FALSE(bad.create().is_ok());  // momentum without velocity
}

// ---- GatherGrad -----------------------------------------------------------------------------

TEST_CASE("ops.train GatherGrad scatter-adds dY into the gathered rows") {
  struct Case { Dims data, indices; int64_t axis; };
  const Case cases[] = {
      {{16}, {300000}, 0},          // a codebook under many weights: tasks with partials
      {{16}, {40, 30, 3, 3}, 0},    // index tensor shaped like a conv weight
      {{5, 7}, {9}, 0},             // rows of 7
      {{4, 6, 3}, {2, 5}, 1},       // middle axis: outer 4, block 3
      {{3, 2}, {4}, -1},            // negative axis
      {{1}, {70000}, 0},            // every index on one row
  };
  uint32_t seed = 2600;
  for (const Case& c : cases) {
    const size_t rank = c.data.size();
    const size_t axis = size_t(c.axis < 0 ? c.axis + int64_t(rank) : c.axis);
    Dims yd(c.data.begin(), c.data.begin() + int64_t(axis));
    yd.insert(yd.end(), c.indices.begin(), c.indices.end());
    yd.insert(yd.end(), c.data.begin() + int64_t(axis) + 1, c.data.end());
    INFO("data " << dims_text(c.data) << " indices " << dims_text(c.indices) << " axis " << c.axis);
    auto dy = nq_test::random_f32(count_of(yd), seed++);
    std::vector<int32_t> idx(count_of(c.indices));
    const int64_t ad = c.data[axis];
    for (size_t j = 0; j < idx.size(); ++j) {
      const int64_t v = int64_t((j * 2654435761u + seed) % uint64_t(ad));
      idx[j] = int32_t(j % 3 == 0 ? v - ad : v);  // some negative
    }
    OpCase op("GatherGrad");
    op.in(DType::f32, yd).in(DType::s32, c.indices).out(DType::f32, c.data).attr("axis", attr_int(c.axis));
    nq::Status st = op.create();
    REQUIRE_MESSAGE(st.is_ok(), st.message);
    std::vector<float> dx(count_of(c.data), 9.f);
    REQUIRE(op.run({dy.data(), idx.data()}, {dx.data()}).is_ok());
    size_t outer = 1, block = 1;
    for (size_t i = 0; i < axis; ++i) outer *= size_t(c.data[i]);
    for (size_t i = axis + 1; i < rank; ++i) block *= size_t(c.data[i]);
    std::vector<double> want(dx.size(), 0.0);
    for (size_t o = 0; o < outer; ++o)
      for (size_t j = 0; j < idx.size(); ++j) {
        const size_t row = size_t(idx[j] < 0 ? idx[j] + ad : idx[j]);
        for (size_t b = 0; b < block; ++b)
          want[(o * size_t(ad) + row) * block + b] += dy[(o * idx.size() + j) * block + b];
      }
    expect_close(dx, want, "GatherGrad", 1e-5, 1e-4);
  }
  // int64 indices, out of range index fails the run, mismatched dY fails creation.
  OpCase op64("GatherGrad");
  op64.in(DType::f32, {3}).in(DType::s64, {3}).out(DType::f32, {4});
  REQUIRE(op64.create().is_ok());
  const std::vector<float> dy3 = {1.f, 2.f, 4.f};
  const std::vector<int64_t> good = {3, 0, 3};
  std::vector<float> out4(4);
  REQUIRE(op64.run({dy3.data(), good.data()}, {out4.data()}).is_ok());
  CHECK(out4 == std::vector<float>{2.f, 0.f, 0.f, 5.f});
  const std::vector<int64_t> bad = {0, 4, 1};
  CHECK_FALSE(op64.run({dy3.data(), bad.data()}, {out4.data()}).is_ok());
  OpCase wrong("GatherGrad");
  wrong.in(DType::f32, {2}).in(DType::s32, {3}).out(DType::f32, {4});
  CHECK_FALSE(wrong.create().is_ok());
}
