// Sizes from dims a hostile model controls: TensorDesc::count()/bytes() saturate instead of
// wrapping, and create_op refuses descs no buffer could hold (negative dims, more than 2^48
// bytes, products past SIZE_MAX) with an error naming the node, the argument and the dims,
// before any factory multiplies them.
#include <doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "op_case.h"
#include "ops/shape_util.h"

namespace {

using nq::ops::DType;
using nq::ops::TensorDesc;
using nq::test::attr_int;
using nq::test::OpCase;

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("shape overflow: count() and bytes() saturate at SIZE_MAX instead of wrapping") {
  // 2^32 * 2^32 wraps to 0 in size_t; 5 * 2^62 wraps to 2^62.
  CHECK(TensorDesc{DType::f32, {int64_t(1) << 32, int64_t(1) << 32}}.count() == SIZE_MAX);
  CHECK(TensorDesc{DType::f32, {5, int64_t(1) << 62}}.count() == SIZE_MAX);
  CHECK(TensorDesc{DType::f32, {3, int64_t(1) << 62}}.count() == 3 * (size_t(1) << 62));
  CHECK(TensorDesc{DType::f32, {kI64Max, kI64Max, kI64Max}}.count() == SIZE_MAX);
  // Fits in count, not in bytes: 2^62 floats.
  CHECK(TensorDesc{DType::f32, {int64_t(1) << 62}}.count() == size_t(1) << 62);
  CHECK(TensorDesc{DType::f32, {int64_t(1) << 62}}.bytes() == SIZE_MAX);
  CHECK(TensorDesc{DType::f32, {-1, 4}}.count() == SIZE_MAX);
  CHECK(TensorDesc{DType::f32, {-1, 0}}.count() == SIZE_MAX);  // negative is never a size
  // A zero dim empties the tensor even when the others overflow together.
  CHECK(TensorDesc{DType::f32, {kI64Max, kI64Max, 0}}.count() == 0);
  CHECK(TensorDesc{DType::f32, {2, 3}}.bytes() == 24);
  CHECK(TensorDesc{DType::f32, {}}.count() == 1);
  CHECK(nq::ops::dims_count({int64_t(1) << 33, int64_t(1) << 33}) == SIZE_MAX);
  CHECK(TensorDesc{static_cast<DType>(99), {2}}.bytes() == SIZE_MAX);
}

TEST_CASE("shape overflow: check() accepts what memory can hold and says why it refuses") {
  CHECK(TensorDesc{DType::f32, {2, 3}}.check().empty());
  CHECK(TensorDesc{DType::u8, {int64_t(1) << 48}}.check().empty());
  CHECK(TensorDesc{DType::f32, {0, 5}}.check().empty());
  const std::string big = TensorDesc{DType::f32, {int64_t(1) << 47}}.check();  // 2^49 bytes
  CHECK(contains(big, "2^48"));
  CHECK(contains(big, "[140737488355328]"));
  CHECK(contains(TensorDesc{DType::f32, {2, -3}}.check(), "dims >= 0, got [2,-3]"));
  CHECK(contains(TensorDesc{static_cast<DType>(99), {2}}.check(), "got 99"));
  // Zero-size, but the other dims multiply past 2^48: kernels form those partial products.
  CHECK(contains(TensorDesc{DType::f32, {0, int64_t(1) << 40, int64_t(1) << 40}}.check(), "2^48"));
}

TEST_CASE("shape overflow: create_op refuses giant and negative dims before the factory runs") {
  struct Case { std::vector<int64_t> a, b, y; const char* want; };
  const int64_t g = int64_t(1) << 32;
  const Case cases[] = {
      {{g, g}, {g, g}, {g, g}, "input 0 must have at most 2^48 bytes"},       // wraps to 0 elements
      {{2, 3}, {2, 3}, {g, g}, "output 0 must have at most 2^48 bytes"},
      {{2, 3}, {-2, 3}, {2, 3}, "input 1 must have dims >= 0, got [-2,3]"},
      {{kI64Max}, {1}, {kI64Max}, "input 0 must have at most 2^48 bytes"},
  };
  for (const Case& c : cases) {
    OpCase op("Add");
    op.in(DType::f32, c.a).in(DType::f32, c.b).out(DType::f32, c.y);
    const nq::Status st = op.create();
    CAPTURE(c.want);
    CHECK(!st.is_ok());
    CHECK(contains(st.message, "Add node 't'"));
    CHECK(contains(st.message, c.want));
  }
}

TEST_CASE("shape overflow: giant GEMM dims are refused, not wrapped into small buffers") {
  const int64_t g = int64_t(1) << 31;
  {
    // A is 2^62 floats: its byte count wraps size_t to 0.
    OpCase op("MatMul");
    op.in(DType::f32, {g, g}).in(DType::f32, {g, 4}).out(DType::f32, {g, 4});
    const nq::Status st = op.create();
    CHECK(!st.is_ok());
    CHECK(contains(st.message, "input 0 must have at most 2^48 bytes"));
  }
}

TEST_CASE("shape overflow: create_op checks the input lists agree and absent inputs carry no data") {
  OpCase op("Relu");
  op.in(DType::f32, {2}).out(DType::f32, {2});
  op.init.input_present.push_back(true);
  nq::Status st = op.create();
  CHECK(!st.is_ok());
  CHECK(contains(st.message, "one length, got 1, 2 and 1"));

  const float v = 1.f;
  OpCase ab("Clip");
  ab.in(DType::f32, {2}).absent().out(DType::f32, {2});
  ab.init.constant_inputs[1] = &v;
  st = ab.create();
  CHECK(!st.is_ok());
  CHECK(contains(st.message, "input 1 is absent but has constant data"));
}
