// SGEMM tests: the ref twin against a double-precision triple loop, every SIMD variant against
// the ref over the edges (M around mr, N around nr, K around the K block, strides, transposed
// B, epilogues), the packed layout contract, and guard pages behind every user buffer.
#include <doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/sgemm.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"
#include "test_util.h"

namespace {

using nq::Activation;
using nq::SGemmEpilogue;
using nq::SGemmKernel;

// |got - want| <= k*Tol * magnitude, magnitude = |alpha| sum|a b| + |c_in| + |bias|: the size
// float rounding scales with, so the bound holds for cancelling sums too.
constexpr double kRefVsDoubleTol = 1e-5;   // ref (one float chain per output) vs exact
constexpr double kSimdVsRefTol = 1e-5;     // any blocking/chain order vs the ref
constexpr double kAbsFloor = 1e-30;

struct Case {
  size_t m, n, k;
  size_t lda, ldb, ldc;  // 0 = dense
  bool transposed;
  SGemmEpilogue e;
};

std::string describe(const Case& t, const char* kernel, const char* path) {
  const char* act = t.e.activation == Activation::relu   ? "relu"
                    : t.e.activation == Activation::clip ? "clip"
                                                         : "none";
  return std::string(kernel) + " " + path + " m=" + std::to_string(t.m) + " n=" +
         std::to_string(t.n) + " k=" + std::to_string(t.k) + " lda=" + std::to_string(t.lda) +
         " ldb=" + std::to_string(t.ldb) + " ldc=" + std::to_string(t.ldc) +
         " transposed=" + std::to_string(t.transposed) + " alpha=" + std::to_string(t.e.alpha) +
         " accumulate=" + std::to_string(t.e.accumulate) + " bias=" +
         std::to_string(t.e.bias != nullptr) + " act=" + act;
}

struct Operands {
  size_t lda, ldb, ldc;
  std::vector<float> a, b, c_in, bias;
};

Operands make_operands(const Case& t, uint32_t seed) {
  Operands o;
  o.lda = t.lda ? t.lda : t.k;
  o.ldb = t.ldb ? t.ldb : (t.transposed ? t.k : t.n);
  o.ldc = t.ldc ? t.ldc : t.n;
  o.a = nq_test::random_f32(std::max<size_t>(1, t.m * o.lda), seed);
  o.b = nq_test::random_f32(std::max<size_t>(1, (t.transposed ? t.n : t.k) * o.ldb), seed + 1);
  o.c_in = nq_test::random_f32(std::max<size_t>(1, t.m * o.ldc), seed + 2);
  o.bias = nq_test::random_f32(std::max<size_t>(1, t.n), seed + 3);
  return o;
}

float b_at(const Case& t, const Operands& o, size_t p, size_t j) {
  return t.transposed ? o.b[j * o.ldb + p] : o.b[p * o.ldb + j];
}

// Exact-ish expected value and the magnitude its rounding scales with.
void expect_double(const Case& t, const Operands& o, size_t i, size_t j, double* want,
                   double* mag) {
  double s = 0, abs_s = 0;
  for (size_t p = 0; p < t.k; ++p) {
    const double prod = double(o.a[i * o.lda + p]) * double(b_at(t, o, p, j));
    s += prod;
    abs_s += std::fabs(prod);
  }
  double v = double(t.e.alpha) * s;
  *mag = std::fabs(double(t.e.alpha)) * abs_s;
  if (t.e.accumulate) {
    v += o.c_in[i * o.ldc + j];
    *mag += std::fabs(o.c_in[i * o.ldc + j]);
  }
  if (t.e.bias) {
    v += o.bias[j];
    *mag += std::fabs(o.bias[j]);
  }
  if (t.e.activation == Activation::relu) v = std::max(v, 0.0);
  if (t.e.activation == Activation::clip) v = std::min(std::max(v, double(t.e.clip_min)), double(t.e.clip_max));
  *mag = std::max(*mag, kAbsFloor);
  *want = v;
}

// Runs the case through the packed (sgemm_pack_b + sgemm) or unpacked path; c starts as c_in.
std::vector<float> run(const SGemmKernel& kern, const Case& t, const Operands& o, bool packed) {
  std::vector<float> c = o.c_in;
  SGemmEpilogue e = t.e;
  if (e.bias) e.bias = o.bias.data();
  nq::Status s;
  if (packed) {
    nq::SGemmPackedB pb;
    s = nq::sgemm_pack_b(kern, o.b.data(), t.k, t.n, t.ldb, t.transposed, &pb);
    REQUIRE(s.is_ok());
    s = nq::sgemm(o.a.data(), t.m, t.lda, pb, c.data(), t.ldc, e);
  } else {
    s = nq::sgemm_unpacked(kern, o.a.data(), t.m, t.k, t.lda, o.b.data(), t.n, t.ldb, t.transposed,
                           c.data(), t.ldc, e);
  }
  INFO(s.message);
  REQUIRE(s.is_ok());
  return c;
}

// Cells outside the m x n window (the ldc gap) must hold c_in untouched.
void check_outside_untouched(const Case& t, const Operands& o, const std::vector<float>& c) {
  for (size_t i = 0; i < t.m; ++i)
    for (size_t j = t.n; j < o.ldc; ++j) REQUIRE(c[i * o.ldc + j] == o.c_in[i * o.ldc + j]);
}

// The edge sweep for one kernel's tile: M and N below/at/above the tile, K around the block.
std::vector<Case> edge_cases(const SGemmKernel& kern) {
  const size_t mr = kern.mr, nr = kern.nr;
  const std::vector<size_t> ms = {1, 2, mr - 1, mr, mr + 1, 2 * mr + 3};
  const std::vector<size_t> ns = {1, 5, nr - 1, nr, nr + 1, 3 * nr + 7};
  constexpr size_t kb = nq::kSGemmKcMax;
  const std::vector<size_t> ks = {1, 2, 17, 384, kb - 1, kb, kb + 1, 2 * kb + 77};
  std::vector<Case> out;
  size_t variant = 0;
  for (size_t m : ms)
    for (size_t n : ns)
      for (size_t k : ks) {
        Case t{m, n, k, 0, 0, 0, false, SGemmEpilogue{}};
        // Cycle the options so every shape sees several and every option sees every edge.
        const size_t v = variant++;
        t.transposed = v % 2 == 1;
        if (v % 3 == 1) {
          t.lda = k + 3;
          t.ldb = (t.transposed ? k : n) + 2;
          t.ldc = n + 5;
        }
        t.e.alpha = v % 5 == 2 ? -0.75f : 1.f;
        t.e.accumulate = v % 4 == 3;
        t.e.bias = v % 3 == 2 ? reinterpret_cast<const float*>(1) : nullptr;  // set per run
        switch (v % 7) {
          case 1: t.e.activation = Activation::relu; break;
          case 4:
            t.e.activation = Activation::clip;
            t.e.clip_min = -0.5f;
            t.e.clip_max = 0.75f;
            break;
          default: break;
        }
        out.push_back(t);
      }
  return out;
}

}  // namespace

TEST_CASE("sgemm ref matches a double-precision triple loop") {
  const SGemmKernel& ref = nq::sgemm_f32_4x16__ref;
  uint32_t seed = 100;
  for (const Case& t : edge_cases(ref)) {
    if (t.k > 400 && t.m * t.n > 60) continue;  // the big-K shapes are covered by the SIMD sweep
    const Operands o = make_operands(t, seed += 7);
    for (bool packed : {true, false}) {
      const std::vector<float> c = run(ref, t, o, packed);
      CAPTURE(describe(t, ref.name, packed ? "packed" : "unpacked"));
      for (size_t i = 0; i < t.m; ++i)
        for (size_t j = 0; j < t.n; ++j) {
          double want, mag;
          expect_double(t, o, i, j, &want, &mag);
          const double got = c[i * o.ldc + j];
          CAPTURE(i);
          CAPTURE(j);
          CAPTURE(got);
          CAPTURE(want);
          REQUIRE(std::fabs(got - want) <= kRefVsDoubleTol * mag);
        }
      check_outside_untouched(t, o, c);
    }
  }
}

TEST_CASE("sgemm SIMD variants match the ref over the edges") {
  const SGemmKernel& ref = nq::sgemm_f32_4x16__ref;
  for (nq::Isa isa : nq_test::simd_isas()) {
    const SGemmKernel& kern = *nq::kernels_for(isa).sgemm;
    const std::string kernel_name = kern.name;
    CAPTURE(kernel_name);
    uint32_t seed = 1000;
    for (const Case& t : edge_cases(kern)) {
      const Operands o = make_operands(t, seed += 11);
      const std::vector<float> want = run(ref, t, o, true);
      for (bool packed : {true, false}) {
        const std::vector<float> c = run(kern, t, o, packed);
        CAPTURE(describe(t, kern.name, packed ? "packed" : "unpacked"));
        for (size_t i = 0; i < t.m; ++i)
          for (size_t j = 0; j < t.n; ++j) {
            double exact, mag;
            expect_double(t, o, i, j, &exact, &mag);
            CAPTURE(i);
            CAPTURE(j);
            REQUIRE(std::fabs(double(c[i * o.ldc + j]) - double(want[i * o.ldc + j])) <=
                    kSimdVsRefTol * mag);
          }
        check_outside_untouched(t, o, c);
      }
    }
  }
}

TEST_CASE("sgemm results do not depend on the thread count") {
  const size_t saved = nq::get_num_threads();
  for (nq::Isa isa : nq::supported_isas()) {
    const SGemmKernel& kern = *nq::kernels_for(isa).sgemm;
    // Shapes that split over N, over M, over a 2-D grid, and a GEMV; each is big enough to
    // go parallel.
    const Case cases[] = {{3, 200, 1800, 0, 0, 0, false, {}},
                          {150, 20, 400, 0, 0, 0, false, {}},
                          {1, 300, 3600, 0, 0, 0, true, {}},
                          {1, 300, 3600, 0, 0, 0, false, {}},
                          {40, 40, 700, 0, 0, 0, false, {}}};
    for (const Case& t : cases) {
      REQUIRE(t.m * t.n * t.k >= nq::kSGemmMinParallelMacs);
      const Operands o = make_operands(t, 77);
      for (bool packed : {true, false}) {
        nq::set_num_threads(1);
        const std::vector<float> one = run(kern, t, o, packed);
        for (size_t threads : {2, 3, 5}) {
          nq::set_num_threads(threads);
          const std::vector<float> many = run(kern, t, o, packed);
          CAPTURE(describe(t, kern.name, packed ? "packed" : "unpacked"));
          CAPTURE(threads);
          for (size_t i = 0; i < one.size(); ++i) {
            double exact, mag;
            expect_double(t, o, i / o.ldc, i % o.ldc, &exact, &mag);
            REQUIRE(std::fabs(double(one[i]) - double(many[i])) <= kSimdVsRefTol * mag);
          }
        }
      }
    }
  }
  nq::set_num_threads(saved);
}

TEST_CASE("sgemm epilogue keeps NaN through relu and clip") {
  for (nq::Isa isa : nq::supported_isas()) {
    const SGemmKernel& kern = *nq::kernels_for(isa).sgemm;
    for (size_t m : {size_t(1), size_t(kern.mr)}) {
      Case t{m, kern.nr, 4, 0, 0, 0, false, {}};
      Operands o = make_operands(t, 5);
      o.a[0] = std::numeric_limits<float>::quiet_NaN();  // row 0 all NaN
      for (Activation act : {Activation::none, Activation::relu, Activation::clip}) {
        t.e.activation = act;
        t.e.clip_min = -1.f;
        t.e.clip_max = 1.f;
        for (bool packed : {true, false}) {
          const std::vector<float> c = run(kern, t, o, packed);
          CAPTURE(describe(t, kern.name, packed ? "packed" : "unpacked"));
          for (size_t j = 0; j < t.n; ++j) REQUIRE(std::isnan(c[j]));
        }
      }
    }
  }
}

TEST_CASE("sgemm packed B layout: panels of k*nr, zero past n, overread padding") {
  for (nq::Isa isa : nq::supported_isas()) {
    const SGemmKernel& kern = *nq::kernels_for(isa).sgemm;
    const size_t k = 9, n = kern.nr + 3, nr = kern.nr;
    const std::string kernel_name = kern.name;
    CAPTURE(kernel_name);
    for (bool transposed : {false, true}) {
      CAPTURE(transposed);
      const std::vector<float> b = nq_test::random_f32(k * n, 3);
      nq::SGemmPackedB pb;
      REQUIRE(nq::sgemm_pack_b(kern, b.data(), k, n, 0, transposed, &pb).is_ok());
      REQUIRE(pb.panels.size() == 2 * k * nr);
      for (size_t j = 0; j < 2 * nr; ++j)
        for (size_t p = 0; p < k; ++p) {
          const float got = pb.panels[(j / nr) * k * nr + p * nr + j % nr];
          const float want = j < n ? (transposed ? b[j * k + p] : b[p * n + j]) : 0.f;
          REQUIRE(got == want);
        }
      // The allocation carries the over-read slack the contract promises, zeroed.
      const float* end = pb.panels.data() + pb.panels.size();
      for (size_t i = 0; i < nq::kOverreadPadding / sizeof(float); ++i) REQUIRE(end[i] == 0.f);
    }
  }
}

namespace {

// `count` floats ending exactly at a PROT_NONE page: any read or write past the end faults.
class GuardedFloats {
 public:
  explicit GuardedFloats(size_t count) {
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    const size_t data_bytes = (count * sizeof(float) + page - 1) / page * page;
    total_ = data_bytes + page;
    void* p = mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    base_ = static_cast<char*>(p);
    REQUIRE(mprotect(base_ + data_bytes, page, PROT_NONE) == 0);
    data_ = reinterpret_cast<float*>(base_ + data_bytes) - count;
  }
  ~GuardedFloats() { munmap(base_, total_); }
  GuardedFloats(const GuardedFloats&) = delete;
  GuardedFloats& operator=(const GuardedFloats&) = delete;
  float* data() { return data_; }

 private:
  char* base_ = nullptr;
  size_t total_ = 0;
  float* data_ = nullptr;
};

}  // namespace

TEST_CASE("sgemm never reads or writes past user buffers (guard pages)") {
  for (nq::Isa isa : nq::supported_isas()) {
    const SGemmKernel& kern = *nq::kernels_for(isa).sgemm;
    const std::string kernel_name = kern.name;
    CAPTURE(kernel_name);
    for (size_t m : {size_t(1), size_t(kern.mr + 1)})
      for (size_t n : {size_t(1), size_t(3), size_t(kern.nr + 5)})
        for (size_t k : {size_t(1), size_t(7), size_t(19)})
          for (bool transposed : {false, true}) {
            Case t{m, n, k, 0, 0, 0, transposed, {}};
            t.e.accumulate = true;
            t.e.activation = Activation::relu;
            const Operands o = make_operands(t, 9);
            GuardedFloats a(m * k), b(k * n), c(m * n), bias(n);
            std::copy(o.a.begin(), o.a.begin() + m * k, a.data());
            std::copy(o.b.begin(), o.b.begin() + k * n, b.data());
            std::copy(o.bias.begin(), o.bias.begin() + n, bias.data());
            t.e.bias = bias.data();
            std::vector<float> want(o.c_in.begin(), o.c_in.begin() + m * n);
            SGemmEpilogue e = t.e;
            REQUIRE(nq::sgemm_unpacked(nq::sgemm_f32_4x16__ref, o.a.data(), m, k, 0, o.b.data(), n,
                                       0, transposed, want.data(), 0, e)
                        .is_ok());
            for (bool packed : {true, false}) {
              CAPTURE(describe(t, kern.name, packed ? "packed" : "unpacked"));
              std::copy(o.c_in.begin(), o.c_in.begin() + m * n, c.data());
              nq::Status s;
              if (packed) {
                nq::SGemmPackedB pb;
                REQUIRE(nq::sgemm_pack_b(kern, b.data(), k, n, 0, transposed, &pb).is_ok());
                s = nq::sgemm(a.data(), m, 0, pb, c.data(), 0, e);
              } else {
                s = nq::sgemm_unpacked(kern, a.data(), m, k, 0, b.data(), n, 0, transposed, c.data(),
                                       0, e);
              }
              REQUIRE(s.is_ok());
              for (size_t i = 0; i < m * n; ++i)
                REQUIRE(std::fabs(c.data()[i] - want[i]) <= 1e-5f * (1.f + std::fabs(want[i])) * k);
            }
          }
  }
}

TEST_CASE("sgemm K == 0 writes bias/accumulate and activation only") {
  const SGemmKernel& kern = *nq::active_kernels().sgemm;
  std::vector<float> c = {1.f, -2.f, 3.f, -4.f};
  const float bias[2] = {0.5f, 0.5f};
  SGemmEpilogue e;
  e.accumulate = true;
  e.bias = bias;
  e.activation = Activation::relu;
  REQUIRE(nq::sgemm_unpacked(kern, nullptr, 2, 0, 0, nullptr, 2, 0, false, c.data(), 0, e).is_ok());
  CHECK(c == std::vector<float>{1.5f, 0.f, 3.5f, 0.f});
}

TEST_CASE("sgemm rejects bad arguments with messages that name them") {
  const SGemmKernel& kern = *nq::active_kernels().sgemm;
  std::vector<float> a(64, 1.f), b(64, 1.f), c(64, 0.f);
  SGemmEpilogue e;
  nq::Status s = nq::sgemm_unpacked(kern, a.data(), 4, 4, 3, b.data(), 4, 0, false, c.data(), 0, e);
  CHECK(s.code == nq::Status::Code::invalid_argument);
  CHECK(s.message.find("lda") != std::string::npos);
  CHECK(s.message.find("got 3") != std::string::npos);
  s = nq::sgemm_unpacked(kern, a.data(), 4, 4, 0, b.data(), 4, 0, false, c.data(), 2, e);
  CHECK(s.message.find("ldc") != std::string::npos);
  s = nq::sgemm_unpacked(kern, a.data(), 4, 4, 0, b.data(), 4, 2, true, c.data(), 0, e);
  CHECK(s.message.find("ldb") != std::string::npos);
  e.activation = Activation::clip;
  e.clip_min = 1.f;
  e.clip_max = 0.f;
  s = nq::sgemm_unpacked(kern, a.data(), 4, 4, 0, b.data(), 4, 0, false, c.data(), 0, e);
  CHECK(s.message.find("clip_min") != std::string::npos);
  nq::SGemmPackedB empty;
  s = nq::sgemm(a.data(), 4, 0, empty, c.data(), 0, SGemmEpilogue{});
  CHECK(!s.is_ok());
  CHECK(s.message.find("sgemm_pack_b") != std::string::npos);
}

TEST_CASE("sgemm pack_a of every variant matches the portable packer exactly") {
  for (nq::Isa isa : nq::supported_isas()) {
    const SGemmKernel& kern = *nq::kernels_for(isa).sgemm;
    const std::string kernel_name = kern.name;
    CAPTURE(kernel_name);
    const size_t mr = kern.mr;
    for (size_t rows : {size_t(1), mr - 1, mr, mr + 1, 3 * mr + 2})
      for (size_t kc : {1, 7, 8, 15, 16, 17, 100})
        for (float alpha : {1.f, -0.5f}) {
          CAPTURE(rows);
          CAPTURE(kc);
          CAPTURE(alpha);
          const size_t lda = kc + 5;
          const std::vector<float> a = nq_test::random_f32(rows * lda, 21);
          std::vector<float> want(rows * kc + 64, -7.f), got(rows * kc + 64, -7.f);
          nq::sgemm_pack_a_panels(mr, a.data(), lda, rows, kc, alpha, want.data());
          kern.pack_a(a.data(), lda, rows, kc, alpha, got.data());
          REQUIRE(got == want);  // also: nothing written past rows * kc
        }
  }
}
