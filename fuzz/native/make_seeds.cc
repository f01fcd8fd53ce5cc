// Writes the op_registry target's seed corpus: one plain case per registered op (float32
// inputs of one shape, so element-wise and shape ops create at once) and hand-built cases with
// the shapes, constants and attributes the native tests use for the ops whose factories need
// consistent arguments (convolutions, quantized GEMMs, MatMulNBits, Slice, Pad, Resize ...).
// fuzz_quant_kernels gets one small case per driver family, sizes chosen to cross SIMD tails.
// Usage: make_seeds TARGET DIR
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "op_format.h"

namespace {

using nq::ops::DType;
using Dims = std::vector<int64_t>;

// A case in the fuzz format, built call by call in the order decode_case reads.
struct Seed {
  nq::fuzz::Writer w;
  struct In { DType t; Dims d; bool absent; std::vector<double> data; };
  std::vector<In> ins;
  std::vector<std::pair<DType, Dims>> outs;
  std::vector<std::pair<std::string, nq::ops::Attribute>> attrs;
  std::string op, domain;
  int64_t opset = 17;

  Seed(std::string o, std::string d = "") : op(std::move(o)), domain(std::move(d)) {}
  Seed& in(DType t, Dims d) { ins.push_back({t, std::move(d), false, {}}); return *this; }
  Seed& cin(DType t, Dims d, std::vector<double> v) { ins.push_back({t, std::move(d), false, std::move(v)}); return *this; }
  Seed& none() { ins.push_back({DType::f32, {}, true, {}}); return *this; }
  Seed& out(DType t, Dims d) { outs.emplace_back(t, std::move(d)); return *this; }
  Seed& i(const std::string& n, int64_t v) { nq::ops::Attribute a; a.i = v; attrs.emplace_back(n, a); return *this; }
  Seed& f(const std::string& n, double v) { nq::ops::Attribute a; a.kind = nq::ops::Attribute::Kind::f; a.f = v; attrs.emplace_back(n, a); return *this; }
  Seed& s(const std::string& n, std::string v) { nq::ops::Attribute a; a.kind = nq::ops::Attribute::Kind::s; a.s = std::move(v); attrs.emplace_back(n, a); return *this; }
  Seed& is(const std::string& n, Dims v) { nq::ops::Attribute a; a.kind = nq::ops::Attribute::Kind::ints; a.ints = std::move(v); attrs.emplace_back(n, a); return *this; }

  std::vector<uint8_t> encode() {
    const auto& reg = nq::ops::op_registry();
    size_t idx = 0;
    while (idx < reg.size() && !(op == reg[idx].op_type && domain == reg[idx].domain)) ++idx;
    if (idx == reg.size()) { std::fprintf(stderr, "no op %s:%s\n", domain.c_str(), op.c_str()); return {}; }
    w.raw(idx, 2);
    size_t os = 0;
    while (nq::fuzz::opsets()[os] != opset) ++os;
    w.u8(static_cast<uint8_t>(os));
    w.u8(static_cast<uint8_t>(ins.size()));
    for (const In& x : ins) {
      if (x.absent) { w.u8(1); continue; }
      nq::fuzz::Writer t;
      t.dtype(x.t);
      w.u8(static_cast<uint8_t>(t.bytes[0] << 2 | (x.data.empty() ? 0 : 2)));
      w.dims(x.d);
      for (double v : x.data) {
        if (x.t == DType::f32 || x.t == DType::f64) w.real(static_cast<float>(v));
        else if (x.t == DType::f16) w.raw(0x3C00, 2);
        else if (x.t == DType::boolean) w.u8(v != 0);
        else w.integer(static_cast<int64_t>(v));
      }
    }
    w.u8(static_cast<uint8_t>(outs.size()));
    for (const auto& o : outs) { w.u8(0); w.dtype(o.first); w.dims(o.second); }
    w.u8(static_cast<uint8_t>(attrs.size()));
    for (const auto& a : attrs) {
      w.str(a.first, nq::fuzz::attr_names());
      w.u8(static_cast<uint8_t>(a.second.kind));
      switch (a.second.kind) {
        case nq::ops::Attribute::Kind::i: w.integer(a.second.i); break;
        case nq::ops::Attribute::Kind::f: w.real(static_cast<float>(a.second.f)); break;
        case nq::ops::Attribute::Kind::s: w.str(a.second.s, nq::fuzz::attr_strings()); break;
        case nq::ops::Attribute::Kind::ints: w.u8(static_cast<uint8_t>(a.second.ints.size())); for (int64_t v : a.second.ints) w.integer(v); break;
        default: w.u8(0);
      }
    }
    w.u8(0);  // ISA: the best level
    // Run-time data: a ramp with a NaN and infinities in it, as bytes the readers decode.
    for (int k = 0; k < 512; ++k) w.u8(static_cast<uint8_t>(k % 7 == 3 ? 0x80 + (k % 4) : (k * 37) % 0x7F));
    return w.bytes;
  }
};

std::vector<double> seq(size_t n, double a, double step) {
  std::vector<double> v(n);
  for (size_t k = 0; k < n; ++k) v[k] = a + step * double(k);
  return v;
}

std::vector<Seed> specific() {
  const DType F = DType::f32, U8 = DType::u8, S8 = DType::s8, I64 = DType::s64, I32 = DType::s32, B = DType::boolean;
  std::vector<Seed> v;
  v.push_back(Seed("Conv").in(F, {1, 2, 5, 5}).cin(F, {4, 2, 3, 3}, seq(72, -2, 0.125)).cin(F, {4}, seq(4, 0, 1)).out(F, {1, 4, 3, 3}).is("kernel_shape", {3, 3}));
  v.push_back(Seed("Conv").in(F, {1, 4, 4, 4}).cin(F, {4, 1, 3, 3}, seq(36, -2, 0.125)).out(F, {1, 4, 4, 4}).i("group", 4).is("pads", {1, 1, 1, 1}));
  v.push_back(Seed("Conv").in(F, {1, 2, 7}).cin(F, {2, 2, 3}, seq(12, -1, 0.25)).out(F, {1, 2, 3}).is("strides", {2}));
  v.push_back(Seed("ConvTranspose").in(F, {1, 2, 3, 3}).cin(F, {2, 3, 3, 3}, seq(54, -3, 0.125)).out(F, {1, 3, 5, 5}));
  v.push_back(Seed("FusedConv", "nquant").in(F, {1, 2, 5, 5}).cin(F, {4, 2, 3, 3}, seq(72, -2, 0.125)).out(F, {1, 4, 3, 3}).s("activation", "Relu"));
  v.push_back(Seed("Gemm").in(F, {3, 4}).cin(F, {4, 5}, seq(20, -1, 0.125)).cin(F, {5}, seq(5, 0, 1)).out(F, {3, 5}));
  v.push_back(Seed("Gemm").in(F, {4, 3}).in(F, {5, 4}).out(F, {3, 5}).i("transA", 1).i("transB", 1).f("alpha", 0.5));
  v.push_back(Seed("MatMul").in(F, {2, 3, 4}).in(F, {4, 5}).out(F, {2, 3, 5}));
  v.push_back(Seed("MaxPool").in(F, {1, 2, 5, 5}).out(F, {1, 2, 2, 2}).is("kernel_shape", {2, 2}).is("strides", {2, 2}));
  v.push_back(Seed("AveragePool").in(F, {1, 2, 5, 5}).out(F, {1, 2, 3, 3}).is("kernel_shape", {3, 3}).is("pads", {1, 1, 1, 1}).is("strides", {2, 2}).i("count_include_pad", 1));
  v.push_back(Seed("GlobalAveragePool").in(F, {1, 3, 4, 4}).out(F, {1, 3, 1, 1}));
  v.push_back(Seed("BatchNormalization").in(F, {1, 3, 2, 2}).cin(F, {3}, seq(3, 1, 1)).cin(F, {3}, seq(3, 0, 1)).cin(F, {3}, seq(3, 0, 1)).cin(F, {3}, seq(3, 1, 1)).out(F, {1, 3, 2, 2}));
  v.push_back(Seed("LayerNormalization").in(F, {2, 3, 4}).cin(F, {4}, seq(4, 1, 0)).cin(F, {4}, seq(4, 0, 0)).out(F, {2, 3, 4}).i("axis", -1));
  v.push_back(Seed("Softmax").in(F, {2, 5}).out(F, {2, 5}).i("axis", 1));
  v.push_back(Seed("Resize").in(F, {1, 1, 2, 2}).none().cin(F, {4}, {1, 1, 2, 2}).out(F, {1, 1, 4, 4}).s("mode", "linear"));
  v.push_back(Seed("Resize").in(F, {1, 1, 2, 3}).none().none().cin(I64, {4}, {1, 1, 3, 5}).out(F, {1, 1, 3, 5}).s("mode", "cubic"));
  v.push_back(Seed("Reshape").in(F, {2, 3, 4}).cin(I64, {2}, {6, -1}).out(F, {6, 4}));
  v.push_back(Seed("Expand").in(F, {3, 1}).cin(I64, {2}, {3, 4}).out(F, {3, 4}));
  v.push_back(Seed("Slice").in(F, {4, 5}).cin(I64, {2}, {1, 0}).cin(I64, {2}, {3, 5}).cin(I64, {2}, {0, 1}).cin(I64, {2}, {1, 2}).out(F, {2, 3}));
  v.push_back(Seed("Slice").in(F, {6}).in(I64, {1}).in(I64, {1}).out(F, {3}));
  v.push_back(Seed("Pad").in(F, {2, 3}).cin(I64, {4}, {1, 0, 1, 2}).cin(F, {}, {1.5}).out(F, {4, 5}).s("mode", "reflect"));
  v.push_back(Seed("Gather").in(F, {5, 3}).cin(I64, {2}, {4, -1}).out(F, {2, 3}).i("axis", 0));
  v.push_back(Seed("Gather").in(F, {5, 3}).in(I32, {2}).out(F, {5, 2}).i("axis", 1));
  v.push_back(Seed("Transpose").in(F, {2, 3, 4}).out(F, {4, 2, 3}).is("perm", {2, 0, 1}));
  v.push_back(Seed("Concat").in(F, {2, 3}).in(F, {2, 1}).out(F, {2, 4}).i("axis", 1));
  v.push_back(Seed("Split").in(F, {2, 6}).cin(I64, {2}, {2, 4}).out(F, {2, 2}).out(F, {2, 4}).i("axis", 1));
  v.push_back(Seed("ReduceMean").in(F, {2, 3, 4}).cin(I64, {1}, {1}).out(F, {2, 1, 4}));
  v.push_back(Seed("ReduceSum").in(F, {2, 3, 4}).in(I64, {2}).out(F, {2, 1, 1}));
  v.push_back(Seed("Clip").in(F, {6}).cin(F, {}, {-1}).cin(F, {}, {1}).out(F, {6}));
  v.push_back(Seed("Where").in(B, {2, 3}).in(F, {2, 3}).in(F, {1}).out(F, {2, 3}));
  v.push_back(Seed("Cast").in(F, {6}).out(U8, {6}).i("to", 2));
  v.push_back(Seed("Range").cin(F, {}, {0}).cin(F, {}, {5}).cin(F, {}, {1}).out(F, {5}));
  v.push_back(Seed("ConstantOfShape").cin(I64, {2}, {2, 3}).out(F, {2, 3}));
  v.push_back(Seed("Shape").in(F, {2, 3}).out(I64, {2}));
  // INT8 paths.
  v.push_back(Seed("QuantizeLinear").in(F, {2, 8}).cin(F, {}, {0.05}).cin(U8, {}, {128}).out(U8, {2, 8}));
  v.push_back(Seed("QuantizeLinear").in(F, {2, 3, 4}).cin(F, {3}, {0.1, 0.2, 0.3}).cin(S8, {3}, {0, 1, -1}).out(S8, {2, 3, 4}).i("axis", 1));
  v.push_back(Seed("DequantizeLinear").in(U8, {2, 8}).cin(F, {}, {0.05}).cin(U8, {}, {128}).out(F, {2, 8}));
  v.push_back(Seed("DequantizeLinear").in(S8, {3, 4}).cin(F, {4}, {0.1, 0.2, 0.3, 0.4}).out(F, {3, 4}).i("axis", 1));
  v.push_back(Seed("DynamicQuantizeLinear").in(F, {3, 5}).out(U8, {3, 5}).out(F, {}).out(U8, {}));
  v.push_back(Seed("MatMulInteger").in(U8, {2, 4}).cin(S8, {4, 3}, seq(12, -6, 1)).cin(U8, {}, {128}).out(I32, {2, 3}));
  v.push_back(Seed("QLinearMatMul").in(U8, {2, 4}).cin(F, {}, {0.1}).cin(U8, {}, {128}).cin(S8, {4, 3}, seq(12, -6, 1)).cin(F, {}, {0.05}).cin(S8, {}, {0}).cin(F, {}, {0.2}).cin(U8, {}, {128}).out(U8, {2, 3}));
  v.push_back(Seed("QLinearMatMul", "nquant").in(U8, {2, 4}).cin(F, {}, {0.1}).cin(U8, {}, {128}).cin(S8, {4, 3}, seq(12, -6, 1)).cin(F, {3}, {0.05, 0.1, 0.2}).cin(S8, {3}, {0, 0, 0}).cin(F, {}, {0.2}).cin(U8, {}, {128}).out(U8, {2, 3}));
  v.push_back(Seed("ConvInteger").in(U8, {1, 2, 4, 4}).cin(S8, {3, 2, 3, 3}, seq(54, -27, 1)).cin(U8, {}, {128}).out(I32, {1, 3, 2, 2}));
  v.push_back(Seed("QLinearConv").in(U8, {1, 2, 5, 5}).cin(F, {}, {0.1}).cin(U8, {}, {128}).cin(S8, {4, 2, 3, 3}, seq(72, -36, 1)).cin(F, {4}, {0.01, 0.02, 0.03, 0.04}).cin(S8, {4}, {0, 0, 0, 0}).cin(F, {}, {0.2}).cin(U8, {}, {120}).cin(I32, {4}, {1, -1, 5, 0}).out(U8, {1, 4, 3, 3}));
  v.push_back(Seed("QLinearConv").in(U8, {1, 4, 4, 4}).cin(F, {}, {0.1}).cin(U8, {}, {128}).cin(S8, {4, 1, 3, 3}, seq(36, -18, 1)).cin(F, {}, {0.01}).cin(S8, {}, {0}).cin(F, {}, {0.2}).cin(U8, {}, {120}).out(U8, {1, 4, 4, 4}).i("group", 4).is("pads", {1, 1, 1, 1}));
  v.push_back(Seed("QLinearConv", "nquant").in(U8, {1, 2, 5, 5}).cin(F, {}, {0.1}).cin(U8, {}, {128}).cin(S8, {4, 2, 3, 3}, seq(72, -36, 1)).cin(F, {}, {0.01}).cin(S8, {}, {0}).cin(F, {}, {0.2}).cin(U8, {}, {120}).out(U8, {1, 4, 3, 3}).f("clip_min", 0).f("clip_max", 6));
  v.push_back(Seed("QLinearAdd", "com.microsoft").in(U8, {2, 4}).cin(F, {}, {0.1}).cin(U8, {}, {128}).in(U8, {4}).cin(F, {}, {0.2}).cin(U8, {}, {100}).cin(F, {}, {0.3}).cin(U8, {}, {128}).out(U8, {2, 4}));
  v.push_back(Seed("QLinearMul", "com.microsoft").in(S8, {2, 4}).cin(F, {}, {0.1}).cin(S8, {}, {0}).in(S8, {2, 4}).cin(F, {}, {0.2}).cin(S8, {}, {1}).cin(F, {}, {0.3}).cin(S8, {}, {-1}).out(S8, {2, 4}));
  v.push_back(Seed("QLinearSigmoid", "com.microsoft").in(U8, {2, 8}).cin(F, {}, {0.1}).cin(U8, {}, {128}).cin(F, {}, {1.0 / 256}).cin(U8, {}, {0}).out(U8, {2, 8}));
  v.push_back(Seed("QLinearLeakyRelu", "com.microsoft").in(S8, {2, 8}).cin(F, {}, {0.1}).cin(S8, {}, {0}).cin(F, {}, {0.05}).cin(S8, {}, {0}).out(S8, {2, 8}).f("alpha", 0.1));
  v.push_back(Seed("QLinearConcat", "com.microsoft").cin(F, {}, {0.1}).cin(U8, {}, {128}).in(U8, {2, 3}).cin(F, {}, {0.2}).cin(U8, {}, {100}).in(U8, {2, 1}).cin(F, {}, {0.1}).cin(U8, {}, {128}).out(U8, {2, 4}).i("axis", 1));
  v.push_back(Seed("QLinearGlobalAveragePool", "com.microsoft").in(U8, {1, 3, 4, 4}).cin(F, {}, {0.1}).cin(U8, {}, {128}).cin(F, {}, {0.05}).cin(U8, {}, {128}).out(U8, {1, 3, 1, 1}));
  v.push_back(Seed("QLinearAveragePool", "com.microsoft").in(U8, {1, 2, 5, 5}).cin(F, {}, {0.1}).cin(U8, {}, {128}).cin(F, {}, {0.05}).cin(U8, {}, {128}).out(U8, {1, 2, 3, 3}).is("kernel_shape", {3, 3}).is("pads", {1, 1, 1, 1}).is("strides", {2, 2}));
  v.push_back(Seed("NhwcMaxPool", "com.microsoft").in(U8, {1, 5, 5, 2}).out(U8, {1, 2, 2, 2}).is("kernel_shape", {2, 2}).is("strides", {2, 2}));
  v.push_back(Seed("QGemm", "com.microsoft").in(U8, {2, 4}).cin(F, {}, {0.1}).cin(U8, {}, {128}).cin(S8, {4, 3}, seq(12, -6, 1)).cin(F, {}, {0.05}).cin(S8, {}, {0}).cin(I32, {3}, {1, 2, 3}).cin(F, {}, {0.2}).cin(U8, {}, {128}).out(U8, {2, 3}));
  v.push_back(Seed("DynamicQuantizeMatMul", "com.microsoft").in(F, {2, 4}).cin(S8, {4, 3}, seq(12, -6, 1)).cin(F, {}, {0.05}).cin(S8, {}, {0}).cin(F, {3}, {0, 1, 2}).out(F, {2, 3}));
  v.push_back(Seed("MatMulNBits", "com.microsoft").in(F, {2, 32}).cin(U8, {3, 1, 16}, seq(48, 0, 5)).cin(F, {3}, {0.1, 0.2, 0.3}).out(F, {2, 3}).i("K", 32).i("N", 3).i("bits", 4).i("block_size", 32));
  v.push_back(Seed("MatMulNBits", "com.microsoft").in(F, {1, 40}).cin(U8, {2, 3, 8}, seq(48, 0, 5)).cin(F, {6}, seq(6, 0.1, 0.1)).cin(U8, {2, 2}, {0x88, 0x07, 0x19, 0x02}).out(F, {1, 2}).i("K", 40).i("N", 2).i("bits", 4).i("block_size", 16).i("accuracy_level", 4));
  v.push_back(Seed("BinaryMatMul", "com.nquant").in(F, {2, 16}).cin(U8, {3, 2}, {1, 2, 3, 4, 5, 6}).cin(F, {3}, {0.5, 1, 2}).out(F, {2, 3}));
  v.push_back(Seed("ChannelRange", "com.nquant.train").in(F, {2, 3, 4}).out(F, {3}).out(F, {3}).i("axis", 1));
  v.push_back(Seed("QParamsFromRange", "com.nquant.train").in(F, {3}).in(F, {3}).out(F, {3}).out(F, {3}).i("qmin", -128).i("qmax", 127));
  v.push_back(Seed("FakeQuantize", "com.nquant.train").in(F, {2, 3}).cin(F, {}, {0.1}).cin(F, {}, {3}).out(F, {2, 3}).i("qmin", 0).i("qmax", 255));
  v.push_back(Seed("FakeQuantize", "com.nquant.train").in(F, {2, 3}).in(F, {3}).in(F, {3}).out(F, {2, 3}).i("axis", 1).i("qmin", -8).i("qmax", 7));
  v.push_back(Seed("FakeBinarize", "com.nquant.train").in(F, {3, 4}).out(F, {3, 4}));
  return v;
}

// fuzz_quant_kernels: selector, then sizes, then a value ramp with NaN and infinities mixed in.
std::vector<std::vector<uint8_t>> kernel_seeds() {
  std::vector<std::vector<uint8_t>> v;
  auto values = [](nq::fuzz::Writer& w, int n) {
    for (int k = 0; k < n; ++k) w.u8(static_cast<uint8_t>(k % 11 == 5 ? 0x80 + (k % 4) : (k * 29) % 0x7F));
  };
  {  // per-axis quantize: outer 2, channels 3, inner 17, per channel, int8, zero points
    nq::fuzz::Writer w;
    for (uint8_t b : {0, 2, 3, 17, 1, 1}) w.u8(b);
    for (float f : {0.1f, 0.25f, 0.5f}) w.real(f);
    for (int z : {0, 3, -2}) w.integer(z);
    w.u8(1);
    values(w, 2 * 3 * 17 + 2 * 3 * 17);
    v.push_back(w.bytes);
  }
  {  // min/max, DynamicQuantizeLinear, f16, histogram: outer 1, channels 2, inner 33
    nq::fuzz::Writer w;
    for (uint8_t b : {1, 1, 1, 33}) w.u8(b);
    values(w, 66);
    w.real(-2.f);
    w.real(2.f);
    w.integer(16);
    v.push_back(w.bytes);
  }
  for (int sym = 0; sym < 2; ++sym) {  // INT4: 5 x 40 weights, block 16, 2 rows of activations
    nq::fuzz::Writer w;
    w.u8(2); w.u8(5); w.u8(40); w.integer(16); w.u8(static_cast<uint8_t>(sym));
    values(w, 200);
    w.u8(2);
    values(w, 80);
    w.u8(static_cast<uint8_t>(sym));
    v.push_back(w.bytes);
  }
  {  // k-means: 100 values, k 5, linear init, 10 iterations
    nq::fuzz::Writer w;
    w.u8(3); w.raw(100, 2); w.raw(5, 2); w.u8(1); w.u8(10);
    for (int k = 0; k < 100; ++k) w.u8(static_cast<uint8_t>((k * 13) % 0x7F));
    w.raw(10, 2); w.u8(2);
    v.push_back(w.bytes);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_seeds TARGET DIR\n");
    return 2;
  }
  const std::string target = argv[1], dir = argv[2];
  int written = 0;
  auto write = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    if (bytes.empty()) return;
    FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
    if (!f) { std::perror(name.c_str()); std::exit(1); }
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    ++written;
  };
  if (target == "fuzz_quant_kernels") {
    int k = 0;
    for (const auto& b : kernel_seeds()) write("kernel_" + std::to_string(k++), b);
  } else if (target == "fuzz_op_registry") {
    // One plain case per op: one to three float32 [2,3] inputs, one same-shaped output.
    const auto& reg = nq::ops::op_registry();
    for (size_t k = 0; k < reg.size(); ++k)
      for (int n_in = 1; n_in <= 3; ++n_in) {
        Seed s(reg[k].op_type, reg[k].domain);
        for (int j = 0; j < n_in; ++j) s.in(DType::f32, {2, 3});
        s.out(DType::f32, {2, 3});
        write(std::string("plain_") + (reg[k].domain[0] ? std::string(reg[k].domain) + "_" : "") + reg[k].op_type + "_" + std::to_string(n_in), s.encode());
      }
    int k = 0;
    for (Seed& s : specific()) write("case_" + std::to_string(k++) + "_" + s.op, s.encode());
  } else {
    std::fprintf(stderr, "make_seeds: no seeds for target '%s'\n", target.c_str());
    return 2;
  }
  std::printf("%d seeds in %s\n", written, dir.c_str());
  return 0;
}
