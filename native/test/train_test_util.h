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

// An op under test: descriptors, attributes, the created kernel and its scratch.
struct OpCase {
  OpInit init;
  std::unique_ptr<OpKernel> kernel;
  nq::AlignedBuffer<uint8_t> scratch;

  explicit OpCase(const std::string& op, const std::string& domain = "com.nquant.train") {
    init.op_type = op;
    init.domain = domain;
    init.node_name = "t";
  }
  OpCase& in(DType t, Dims dims) {
    init.inputs.push_back(TensorDesc{t, std::move(dims)});
    init.input_present.push_back(true);
    init.constant_inputs.push_back(nullptr);
    return *this;
  }
  OpCase& absent_in() {
    init.inputs.push_back(TensorDesc{});
    init.input_present.push_back(false);
    init.constant_inputs.push_back(nullptr);
    return *this;
  }
  OpCase& out(DType t, Dims dims) {
    init.outputs.push_back(TensorDesc{t, std::move(dims)});
    return *this;
  }
  // An omitted output in the middle of the list: the runtime describes it with an empty desc.
  OpCase& absent_out() {
    init.outputs.push_back(TensorDesc{});
    return *this;
  }
  OpCase& attr(const std::string& name, Attribute a) {
    init.attrs.set(name, std::move(a));
    return *this;
  }
  nq::Status create() {
    const nq::ops::OpRegistration* r = nq::ops::find_op(init.domain, init.op_type);
    if (!r) return nq::Status::invalid("no op " + init.domain + ":" + init.op_type);
    nq::Status s = r->factory(init, &kernel);
    if (!s.is_ok()) return s;
    if (!scratch.reset(kernel->scratch_bytes() + 64)) return nq::Status::oom("scratch");
    kernel->set_scratch(scratch.data());
    return s;
  }
  nq::Status run(std::vector<const void*> ins, std::vector<void*> outs) {
    return kernel->run(ins, outs);
  }
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
