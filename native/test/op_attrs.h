// Attribute values for op tests, one builder per kind, shared by the op test files.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ops/op.h"

namespace nq::test {

inline ops::Attribute attr_int(int64_t v) {
  ops::Attribute a;
  a.kind = ops::Attribute::Kind::i;
  a.i = v;
  return a;
}

inline ops::Attribute attr_ints(std::vector<int64_t> v) {
  ops::Attribute a;
  a.kind = ops::Attribute::Kind::ints;
  a.ints = std::move(v);
  return a;
}

inline ops::Attribute attr_float(double v) {
  ops::Attribute a;
  a.kind = ops::Attribute::Kind::f;
  a.f = v;
  return a;
}

inline ops::Attribute attr_string(std::string v) {
  ops::Attribute a;
  a.kind = ops::Attribute::Kind::s;
  a.s = std::move(v);
  return a;
}

}  // namespace nq::test
