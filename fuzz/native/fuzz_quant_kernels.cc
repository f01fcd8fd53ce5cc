// libFuzzer target for the kernel drivers whose parameters come from model data: per-axis
// quantize/dequantize, min/max, DynamicQuantizeLinear, FP16 conversion, INT4 block
// quantize/pack/GEMM, sign packing and 1-D k-means. Sizes, scales, zero points and values
// (NaN, infinities, denormals) are fuzzed. Every ISA level this CPU runs must agree with the
// scalar reference bit for bit where the header promises it (abort otherwise), and a refused
// argument must come back as a Status, never a crash.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cluster.h"
#include "kernels/int4.h"
#include "kernels/quantize.h"
#include "op_format.h"
#include "runtime/cpu.h"
#include "runtime/dispatch.h"
#include "runtime/threadpool.h"

namespace {

using nq::Isa;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_quant_kernels: %s\n", what);
    std::abort();
  }
}

std::vector<float> floats(nq::fuzz::Reader& r, size_t n) {
  std::vector<float> v(n);
  for (float& f : v) f = r.real();
  return v;
}

// Runs fn on every supported ISA and requires its bytes to equal the scalar run's.
template <typename Fn>
void same_on_every_isa(Fn&& fn, const char* what) {
  static const std::vector<Isa> isas = nq::supported_isas();  // best first, scalar last
  nq::set_active_isa(Isa::scalar);
  nq::Status ref_status;
  const std::vector<uint8_t> ref = fn(&ref_status);
  for (Isa isa : isas) {
    if (isa == Isa::scalar) continue;
    nq::set_active_isa(isa);
    nq::Status s;
    const std::vector<uint8_t> got = fn(&s);
    require(s.code == ref_status.code, what);
    if (ref_status.is_ok() && got != ref && std::getenv("FUZZ_DESCRIBE")) {
      // The first differing 32-bit word, as float and hex, for turning a finding into a test.
      size_t at = 0;
      while (at < got.size() && at < ref.size() && got[at] == ref[at]) ++at;
      at &= ~size_t{3};
      float g = 0, f = 0;
      if (at + 4 <= got.size()) std::memcpy(&g, &got[at], 4);
      if (at + 4 <= ref.size()) std::memcpy(&f, &ref[at], 4);
      std::fprintf(stderr, "%s: word %zu: %s gives %g, scalar gives %g\n", what, at / 4, nq::isa_name(isa), g, f);
    }
    if (ref_status.is_ok()) require(got == ref, what);
  }
}

template <typename T>
std::vector<uint8_t> as_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

void quantize_axis(nq::fuzz::Reader& r) {
  nq::AxisView v;
  v.outer = r.u8() % 5;
  v.channels = r.u8() % 9;
  v.inner = r.u8() % 70;  // past one AVX-512 vector, for the tails
  const bool per_channel = r.u8() & 1;
  const bool out_signed = r.u8() & 1;
  const size_t np = per_channel ? v.channels : 1;
  const std::vector<float> scales = floats(r, np);
  std::vector<int32_t> zps(np);
  for (int32_t& z : zps) z = static_cast<int32_t>(r.integer());
  const bool with_zps = r.u8() & 1;
  const std::vector<float> x = floats(r, v.size());
  same_on_every_isa([&](nq::Status* s) {
    std::vector<uint8_t> y(v.size());
    *s = nq::quantize_linear(x.data(), v, scales.data(), with_zps ? zps.data() : nullptr, np, out_signed, y.data());
    if (s->is_ok()) {
      // NaN must land on qmin whatever the zero point and ISA (the documented rule).
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i] == x[i]) continue;
        const int32_t q = out_signed ? static_cast<int8_t>(y[i]) : y[i];
        require(q == (out_signed ? -128 : 0), "quantize_linear: NaN did not map to qmin");
      }
    }
    return y;
  }, "quantize_linear differs between ISAs");
  const std::vector<uint8_t> q = [&] { std::vector<uint8_t> b(v.size()); for (uint8_t& e : b) e = r.u8(); return b; }();
  same_on_every_isa([&](nq::Status* s) {
    std::vector<float> y(v.size());
    *s = nq::dequantize_linear(q.data(), out_signed, v, scales.data(), with_zps ? zps.data() : nullptr, np, y.data());
    return as_bytes(y);
  }, "dequantize_linear differs between ISAs");
}

void ranges(nq::fuzz::Reader& r) {
  nq::AxisView v;
  v.outer = r.u8() % 4;
  v.channels = 1 + r.u8() % 6;
  v.inner = r.u8() % 70;
  const std::vector<float> x = floats(r, v.size());
  same_on_every_isa([&](nq::Status* s) {
    std::vector<float> mm(2 * v.channels);
    size_t nonfinite = 0;
    *s = nq::minmax_per_channel(x.data(), v, mm.data(), mm.data() + v.channels, &nonfinite);
    mm.push_back(static_cast<float>(nonfinite));
    return as_bytes(mm);
  }, "minmax_per_channel differs between ISAs");
  same_on_every_isa([&](nq::Status* s) {
    std::vector<uint8_t> y(x.size() + 5);
    float scale = 0;
    *s = nq::dynamic_quantize_u8(x.data(), x.size(), y.data(), &scale, &y[x.size()]);
    if (s->is_ok()) require(scale == scale && scale > 0 && scale < INFINITY, "dynamic_quantize_u8: scale not finite and > 0");
    std::memcpy(&y[x.size() + 1], &scale, 4);
    return y;
  }, "dynamic_quantize_u8 differs between ISAs");
  same_on_every_isa([&](nq::Status* s) {
    std::vector<uint16_t> h(x.size());
    *s = nq::f32_to_f16(x.data(), x.size(), h.data());
    std::vector<float> back(x.size());
    if (s->is_ok()) *s = nq::f16_to_f32(h.data(), h.size(), back.data());
    std::vector<uint8_t> b = as_bytes(h), c = as_bytes(back);
    b.insert(b.end(), c.begin(), c.end());
    return b;
  }, "f16 conversion differs between ISAs");
  const float lo = r.real(), hi = r.real();
  const uint32_t bins = static_cast<uint32_t>(r.integer());
  if (bins <= 4096) {
    same_on_every_isa([&](nq::Status* s) {
      std::vector<uint64_t> counts(bins ? bins : 1);
      *s = nq::histogram(x.data(), x.size(), lo, hi, bins, counts.data());
      return as_bytes(counts);
    }, "histogram differs between ISAs");
  }
}

void int4(nq::fuzz::Reader& r) {
  const size_t rows = r.u8() % 20, cols = r.u8() % 80;
  const size_t block = static_cast<size_t>(r.integer());
  const bool symmetric = r.u8() & 1;
  const std::vector<float> w = floats(r, rows * cols);
  if (block > 4096) {  // bigger blocks are legal; keep buffers small, but still hit the check
    nq::Status s = nq::int4_quantize_blockwise(w.data(), rows, cols, block, symmetric, nullptr, nullptr, nullptr);
    (void)s;
    return;
  }
  const size_t nb = block ? (cols + block - 1) / block : 0;
  std::vector<uint8_t> packed(rows * nq::int4_row_bytes(cols));
  std::vector<float> scales(rows * nb);
  std::vector<uint8_t> zps(block ? rows * nq::int4_zp_row_bytes(cols, block) : 0);
  const nq::Status qs = nq::int4_quantize_blockwise(w.data(), rows, cols, block, symmetric, packed.data(),
                                                    scales.data(), symmetric ? nullptr : zps.data());
  if (!qs.is_ok()) return;
  std::vector<float> back(rows * cols);
  require(nq::int4_dequantize_blockwise(packed.data(), scales.data(), symmetric ? nullptr : zps.data(), rows, cols,
                                        block, back.data()).is_ok(), "int4 dequantize refused what quantize wrote");
  const size_t m = r.u8() % 4;
  const std::vector<float> x = floats(r, m * cols);
  const bool int8_act = r.u8() & 1;
  if (std::getenv("FUZZ_DESCRIBE")) {
    std::fprintf(stderr, "int4: rows %zu cols %zu block %zu symmetric %d m %zu int8_act %d\n  w:", rows, cols, block,
                 int(symmetric), m, int(int8_act));
    for (float v : w) std::fprintf(stderr, " %g", v);
    std::fprintf(stderr, "\n  x:");
    for (float v : x) std::fprintf(stderr, " %g", v);
    std::fprintf(stderr, "\n");
  }
  same_on_every_isa([&](nq::Status* s) {
    nq::Int4PackedW pw;
    *s = nq::int4_pack(*nq::active_kernels().int4, packed.data(), scales.data(), symmetric ? nullptr : zps.data(),
                       rows, cols, block, symmetric, &pw);
    std::vector<float> y(m * rows);
    if (s->is_ok()) *s = nq::int4_gemm(x.data(), m, pw, nullptr, int8_act, y.data());
    // fp32 activations may differ in the last bits between ISAs (FMA order); int8 may not.
    // A NaN's sign and payload are not part of the contract: compare NaN as one value.
    for (float& v : y)
      if (v != v) v = std::numeric_limits<float>::quiet_NaN();
    return int8_act ? as_bytes(y) : std::vector<uint8_t>{};
  }, "int4 gemm differs between ISAs");
}

void cluster(nq::fuzz::Reader& r) {
  const size_t n = r.raw(2) % 600;
  const uint32_t k = static_cast<uint32_t>(r.raw(2) % 300);
  const auto init = static_cast<nq::KMeansInit>(r.u8() % 3);
  const uint32_t iters = r.u8() % 40;
  const std::vector<float> x = floats(r, n);
  std::vector<float> centroids(k ? k : 1);
  std::vector<uint32_t> assign(n ? n : 1);
  nq::KMeansResult res{centroids.data(), assign.data()};
  if (nq::kmeans1d(x.data(), n, k, init, iters, 7, &res).is_ok()) {
    for (size_t i = 0; i < n; ++i) require(assign[i] < k, "kmeans1d: assignment out of range");
    for (uint32_t c = 1; c < k; ++c) require(!(centroids[c] < centroids[c - 1]), "kmeans1d: centroids not sorted");
  }
  if (k && nq::kmeans1d_assign(x.data(), n, centroids.data(), k, assign.data()).is_ok())
    for (size_t i = 0; i < n; ++i) require(assign[i] < k, "kmeans1d_assign: assignment out of range");
  float t = 0;
  (void)nq::magnitude_threshold(x.data(), n, static_cast<size_t>(r.raw(2)), &t);
  const size_t rows = n ? 1 + r.u8() % 4 : 0, cols = rows ? n / rows : 0;
  std::vector<uint8_t> bits(rows * ((cols + 7) / 8));
  std::vector<float> sc(rows), y(rows * cols);
  if (nq::sign_pack(x.data(), rows, cols, bits.data(), sc.data()).is_ok())
    require(nq::sign_unpack(bits.data(), sc.data(), rows, cols, y.data()).is_ok(), "sign_unpack refused sign_pack's output");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  nq::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nq::fuzz::Reader r(data, size);
  switch (r.u8() % 4) {
    case 0: quantize_axis(r); break;
    case 1: ranges(r); break;
    case 2: int4(r); break;
    default: cluster(r); break;
  }
  return 0;
}
