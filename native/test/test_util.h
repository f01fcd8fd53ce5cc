// Shared helpers for the kernel tests: seeded data and the ISA levels to sweep.
#pragma once
#include <doctest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "runtime/cpu.h"
#include "runtime/dispatch.h"

namespace nq_test {

// Every supported level except scalar: each is compared with the scalar twin.
inline std::vector<nq::Isa> simd_isas() {
  std::vector<nq::Isa> out;
  for (nq::Isa isa : nq::supported_isas())
    if (isa != nq::Isa::scalar) out.push_back(isa);
  return out;
}

// Every supported level with scalar last, for tests that hold each path to the same expectation.
inline std::vector<nq::Isa> every_isa() {
  std::vector<nq::Isa> v = simd_isas();
  v.push_back(nq::Isa::scalar);
  return v;
}

// Forces one ISA for a scope (failing the test if the CPU lacks it) and restores the previous one.
struct IsaScope {
  nq::Isa saved = nq::active_isa();
  explicit IsaScope(nq::Isa isa) { REQUIRE(nq::set_active_isa(isa)); }
  ~IsaScope() { nq::set_active_isa(saved); }
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;
};

inline std::vector<uint8_t> random_u8(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(0, 255);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = static_cast<uint8_t>(d(rng));
  return v;
}

inline std::vector<int8_t> random_s8(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

inline std::vector<float> random_f32(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Distance in units in the last place between two floats (0: identical bits, 1: adjacent).
inline int64_t ulp_distance(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if (ia < 0) ia = std::numeric_limits<int32_t>::min() - ia;
  if (ib < 0) ib = std::numeric_limits<int32_t>::min() - ib;
  return std::llabs(int64_t(ia) - int64_t(ib));
}

}  // namespace nq_test
