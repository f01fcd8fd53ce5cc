// Shared by the com.nquant.train op tests: an op built through the registry like the plan
// builds it, tolerance checks that say where they failed, and central-difference gradients.
#pragma once
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/op.h"
#include "runtime/aligned_buffer.h"
#include "op_attrs.h"
#include "op_case.h"
#include "test_util.h"

namespace nq_train_test {

using nq::ops::Attribute;
using nq::ops::DType;
using nq::ops::OpInit;
using nq::ops::OpKernel;
using nq::ops::TensorDesc;
using nq::test::attr_float;
using nq::test::attr_int;
using nq::test::attr_ints;
using nq::test::attr_string;
using Dims = std::vector<int64_t>;

inline size_t count_of(const Dims& d) {
  size_t n = 1;
  for (int64_t v : d) n *= size_t(v);
  return n;
}

inline std::string dims_text(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

// Train ops live in com.nquant.train, so that is the default domain here.
struct OpCase : nq::test::OpCase {
  explicit OpCase(const std::string& op, const std::string& domain = "com.nquant.train")
      : nq::test::OpCase(op, domain) {}
};

inline std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// |got - want| <= abs + rel*|want| everywhere; the first few misses are reported with `what`.
inline void expect_close(const float* got, const std::vector<double>& want,
                         const std::string& what, double rel = 1e-4, double abs = 1e-5) {
  size_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double tol = abs + rel * std::fabs(want[i]);
    if (!(std::fabs(double(got[i]) - want[i]) <= tol)) {
      if (bad < 4)
        FAIL_CHECK(what << " [" << i << "] got " << got[i] << " want " << want[i]
                            << " (tol " << tol << ")");
      ++bad;
    }
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << want.size() << " values off");
}
inline void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                         const std::string& what, double rel = 1e-4, double abs = 1e-5) {
  REQUIRE_MESSAGE(got.size() == want.size(), what << ": size " << got.size() << " vs " << want.size());
  expect_close(got.data(), want, what, rel, abs);
}

// Central differences (h = 1e-3, in double) of a scalar loss at every element of x.
template <typename Loss>
std::vector<double> numeric_grad(const std::vector<double>& x0, Loss&& loss, double h = 1e-3) {
  std::vector<double> x = x0, g(x0.size());
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = x0[i] + h;
    const double lp = loss(x);
    x[i] = x0[i] - h;
    const double lm = loss(x);
    x[i] = x0[i];
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

// An op's float gradient against the numeric one: 1e-3 relative, 1e-4 absolute.
inline void expect_grad(const std::vector<float>& got, const std::vector<double>& numeric,
                        const std::string& what) {
  expect_close(got, numeric, what + " vs central differences", 1e-3, 1e-4);
}

inline double dot(const std::vector<double>& a, const std::vector<float>& r) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * r[i];
  return s;
}

inline std::vector<float> to_float(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());
}

}  // namespace nq_train_test
