// The byte format the op_registry fuzz target reads: one op creation (op, opset, input and
// output descs, constant data, attributes) and then the run-time input data. Decoding never
// fails: missing bytes read as zero, which decodes to the plainest value (dim 0, value 0,
// present f32 input), so every prefix of a good case is still a case. The seed generator
// writes the same format from hand-built cases (Writer), so seeds start libFuzzer inside
// real shapes instead of in the sea of creation errors.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ops/op.h"

namespace nq::fuzz {

// Element counts above this are created (overflow and validation paths run) but not run.
constexpr size_t kMaxRunElements = size_t{1} << 16;

// dtype codes the fuzzer may put in a desc. Index 0 is float32 so exhausted input is plain;
// 0 and 99 are codes no op knows (a hostile model can carry any code).
inline const std::vector<int32_t>& dtype_codes() {
  static const std::vector<int32_t> v = {1, 2, 3, 6, 7, 9, 10, 11, 4, 5, 12, 13, 0, 99};
  return v;
}

inline const std::vector<int64_t>& opsets() {
  static const std::vector<int64_t> v = {17, 13, 11, 10, 7, 9, 12, 14, 15, 16, 18, 19, 20, 21, 1, 6};
  return v;
}

// Every attribute name the op sources read (grep get_int/get_ints/... in native/ops), and the
// strings they compare against.
inline const std::vector<std::string>& attr_names() {
  static const std::vector<std::string> v = {
      "axis", "axes", "pads", "strides", "dilations", "kernel_shape", "group", "auto_pad",
      "ceil_mode", "perm", "keepdims", "alpha", "beta", "transA", "transB", "epsilon", "mode",
      "value", "min", "max", "starts", "ends", "split", "to", "K", "N", "bits", "block_size",
      "accuracy_level", "activation", "approximate", "antialias", "beta1", "beta2",
      "binary_activations", "channels_last", "clip_max", "clip_min",
      "coordinate_transformation_mode", "count_include_pad", "cubic_coeff_a", "decoupled",
      "end", "exclude_outside", "extrapolation_value", "fmod", "gamma",
      "keep_aspect_ratio_policy", "momentum", "nearest_mode", "nesterov",
      "noop_with_empty_axes", "output_padding", "output_shape", "qmax", "qmin", "ratio", "relu",
      "start", "storage_order", "symmetric", "training_mode", "value_float", "value_floats",
      "value_int", "value_ints", "weight_decay", "__opset"};
  return v;
}

inline const std::vector<std::string>& attr_strings() {
  static const std::vector<std::string> v = {
      "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "constant", "reflect", "edge", "wrap",
      "linear", "nearest", "cubic", "half_pixel", "asymmetric", "align_corners",
      "pytorch_half_pixel", "tf_crop_and_resize", "half_pixel_symmetric",
      "tf_half_pixel_for_nn", "round_prefer_floor", "round_prefer_ceil", "floor", "ceil",
      "stretch", "none", "tanh", "Relu", "Clip", "", "nquant"};
  return v;
}

// Dims and ints outside the one-byte range: what overflow and sign bugs need.
inline const std::vector<int64_t>& special_ints() {
  static const std::vector<int64_t> v = {
      -1, -2, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
      int64_t{1} << 31, (int64_t{1} << 31) - 1, int64_t{1} << 32, int64_t{1} << 62,
      3037000500LL /* ~sqrt(2^63) */, int64_t{1} << 21, 65537, 65536, int64_t{1} << 24,
      -(int64_t{1} << 31), 255, 256, 4294967295LL, int64_t{1} << 40, 1000, -1000, 127, -128,
      -129, 128, 2147483647LL * 3, int64_t{1} << 16, 4096, 1023, 1024, 15, 16, 17};
  return v;
}

inline const std::vector<float>& special_floats() {
  static const std::vector<float> v = {
      std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
      std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), 0.f,
      -0.f, std::numeric_limits<float>::min(), std::numeric_limits<float>::denorm_min(),
      std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(), 1e-30f, 1e30f,
      0.5f, 255.f, 1.f / 255.f, 65504.f, 1e-8f, 3e38f, -1e-45f, 1.f, -1.f, 2.f, 0.1f, 0.25f,
      128.f, -128.f, 1e10f, -1e10f, 8388608.f, 2147483648.f, 0.0078125f, 1e-3f};
  return v;
}

class Reader {
 public:
  Reader(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  uint8_t u8() { return pos_ < n_ ? d_[pos_++] : 0; }
  uint64_t raw(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t{u8()} << (8 * i);
    return v;
  }
  bool empty() const { return pos_ >= n_; }

  // 0..0xDF: the value; 0xE0..0xFE: special_ints; 0xFF: 8 raw bytes.
  int64_t dim() {
    const uint8_t b = u8();
    if (b < 0xE0) return b;
    if (b == 0xFF) return static_cast<int64_t>(raw(8));
    return special_ints()[(b - 0xE0u) % special_ints().size()];
  }
  // Zigzag 0..0xBF (0, -1, 1, -2, ...); 0xC0..0xFE: special_ints; 0xFF: 8 raw bytes.
  int64_t integer() {
    const uint8_t b = u8();
    if (b < 0xC0) return (b & 1) ? -static_cast<int64_t>((b + 1) >> 1) : static_cast<int64_t>(b >> 1);
    if (b == 0xFF) return static_cast<int64_t>(raw(8));
    return special_ints()[(b - 0xC0u) % special_ints().size()];
  }
  // Zigzag eighths 0..0x7F; 0x80..0xFE: special_floats; 0xFF: 4 raw bytes.
  float real() {
    const uint8_t b = u8();
    if (b < 0x80) return ((b & 1) ? -static_cast<float>((b + 1) >> 1) : static_cast<float>(b >> 1)) / 8.f;
    if (b == 0xFF) {
      const uint32_t u = static_cast<uint32_t>(raw(4));
      float f;
      std::memcpy(&f, &u, 4);
      return f;
    }
    return special_floats()[(b - 0x80u) % special_floats().size()];
  }
  std::string str(const std::vector<std::string>& dict) {
    const uint8_t b = u8();
    if (b != 0xFF) return dict[b % dict.size()];
    std::string s(u8() % 24, '\0');
    for (char& c : s) c = static_cast<char>(u8());
    return s;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
};

// Element count of dims, or false when a dim is negative or the product passes `cap`.
inline bool small_count(const std::vector<int64_t>& dims, size_t cap, size_t* out) {
  size_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return false;
    if (d != 0 && n > cap / static_cast<size_t>(d)) return false;
    n *= static_cast<size_t>(d);
  }
  *out = n;
  return true;
}

// Reads one element of dtype t into dst (dtype_size(t) bytes; 1 for unknown codes).
inline void read_element(Reader& r, ops::DType t, uint8_t* dst) {
  switch (t) {
    case ops::DType::f32: { const float f = r.real(); std::memcpy(dst, &f, 4); return; }
    case ops::DType::f64: { const double f = r.real(); std::memcpy(dst, &f, 8); return; }
    case ops::DType::f16: { const uint16_t h = static_cast<uint16_t>(r.raw(2)); std::memcpy(dst, &h, 2); return; }
    case ops::DType::boolean: { const uint8_t b = r.u8(); *dst = b < 0xF0 ? (b & 1) : b; return; }
    default: {
      const int64_t v = r.integer();
      const size_t n = ops::dtype_size(t);
      std::memcpy(dst, &v, n ? n : 1);  // little-endian truncation, like a C cast
      return;
    }
  }
}

// One decoded case. Constant inputs point into const_data.
struct Case {
  size_t op_index = 0;
  ops::OpInit init;
  std::vector<std::vector<uint8_t>> const_data;
};

inline std::vector<int64_t> read_dims(Reader& r) {
  std::vector<int64_t> dims(r.u8() % 7);
  for (int64_t& d : dims) d = r.dim();
  return dims;
}

inline ops::DType read_dtype(Reader& r, uint8_t sel) {
  return static_cast<ops::DType>(dtype_codes()[sel % dtype_codes().size()]);
}

inline void read_attribute(Reader& r, ops::Attribute* a) {
  a->kind = static_cast<ops::Attribute::Kind>(r.u8() % 6);
  switch (a->kind) {
    case ops::Attribute::Kind::i: a->i = r.integer(); break;
    case ops::Attribute::Kind::f: a->f = r.real(); break;
    case ops::Attribute::Kind::s: a->s = r.str(attr_strings()); break;
    case ops::Attribute::Kind::ints: a->ints.resize(r.u8() % 13); for (int64_t& v : a->ints) v = r.integer(); break;
    case ops::Attribute::Kind::floats: a->floats.resize(r.u8() % 13); for (double& v : a->floats) v = r.real(); break;
    case ops::Attribute::Kind::strings: a->strings.resize(r.u8() % 5); for (std::string& v : a->strings) v = r.str(attr_strings()); break;
  }
}

// Layout: op u16 | opset u8 | n_in u8 | per input: flags u8 (bit0 absent, bit1 constant,
// bits 2.. dtype), dims, constant elements | n_out u8 | per output: mode u8 (0 explicit,
// 1 like input k, 2 absent), ... | n_attr u8 | per attr: name, kind, value. What follows is
// run-time data.
inline void decode_case(Reader& r, size_t num_ops, Case* c) {
  c->op_index = r.raw(2) % num_ops;
  const ops::OpRegistration& reg = ops::op_registry()[c->op_index];
  ops::OpInit& init = c->init;
  init.op_type = reg.op_type;
  init.domain = reg.domain;
  init.node_name = "fuzz";
  ops::Attribute opset;
  opset.i = opsets()[r.u8() % opsets().size()];
  init.attrs.set("__opset", opset);

  const size_t n_in = r.u8() % 9;
  std::vector<size_t> const_index(n_in, SIZE_MAX);
  for (size_t i = 0; i < n_in; ++i) {
    const uint8_t flags = r.u8();
    if (flags & 1) {
      init.inputs.push_back(ops::TensorDesc{});
      init.input_present.push_back(false);
      continue;
    }
    ops::TensorDesc d{read_dtype(r, flags >> 2), read_dims(r)};
    size_t n;
    if ((flags & 2) && small_count(d.dims, kMaxRunElements, &n)) {
      const size_t es = ops::dtype_size(d.dtype) ? ops::dtype_size(d.dtype) : 1;
      std::vector<uint8_t> data(n * es);
      for (size_t e = 0; e < n; ++e) read_element(r, d.dtype, data.data() + e * es);
      const_index[i] = c->const_data.size();
      c->const_data.push_back(std::move(data));
    }
    init.inputs.push_back(std::move(d));
    init.input_present.push_back(true);
  }
  for (size_t i = 0; i < n_in; ++i)
    init.constant_inputs.push_back(const_index[i] == SIZE_MAX ? nullptr : c->const_data[const_index[i]].data());

  const size_t n_out = r.u8() % 5;
  for (size_t o = 0; o < n_out; ++o) {
    const uint8_t mode = r.u8();
    init.output_present.push_back(true);
    if (mode % 3 == 2) {
      // The desc of an omitted output, or (bit 6) a present float32 scalar that looks the same.
      init.outputs.push_back(ops::TensorDesc{});
      init.output_present.back() = (mode & 0x40) != 0;
    } else if (mode % 3 == 1 && n_in > 0) {
      ops::TensorDesc d = init.inputs[r.u8() % n_in];
      if (mode & 0x80) d.dtype = read_dtype(r, r.u8());
      init.outputs.push_back(std::move(d));
    } else {
      const ops::DType t = read_dtype(r, r.u8());
      init.outputs.push_back(ops::TensorDesc{t, read_dims(r)});
    }
  }

  const size_t n_attr = r.u8() % 9;
  for (size_t k = 0; k < n_attr; ++k) {
    const std::string name = r.str(attr_names());
    ops::Attribute a;
    read_attribute(r, &a);
    init.attrs.set(name, std::move(a));
  }
}

// Encoder for seeds: writes what decode_case reads back as the same case.
class Writer {
 public:
  std::vector<uint8_t> bytes;
  void u8(uint8_t b) { bytes.push_back(b); }
  void raw(uint64_t v, int n) { for (int i = 0; i < n; ++i) u8(static_cast<uint8_t>(v >> (8 * i))); }
  void dim(int64_t d) {
    if (d >= 0 && d < 0xE0) return u8(static_cast<uint8_t>(d));
    u8(0xFF);
    raw(static_cast<uint64_t>(d), 8);
  }
  void integer(int64_t v) {
    if (v >= -95 && v <= 95) return u8(static_cast<uint8_t>(v >= 0 ? 2 * v : -2 * v - 1));
    u8(0xFF);
    raw(static_cast<uint64_t>(v), 8);
  }
  void real(float f) {
    const float e = f * 8.f;
    if (e == std::floor(e) && e >= -63.f && e <= 63.f) {
      const int v = static_cast<int>(e);
      return u8(static_cast<uint8_t>(v >= 0 ? 2 * v : -2 * v - 1));
    }
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u8(0xFF);
    raw(u, 4);
  }
  void str(const std::string& s, const std::vector<std::string>& dict) {
    for (size_t i = 0; i < dict.size(); ++i)
      if (dict[i] == s) return u8(static_cast<uint8_t>(i));
    u8(0xFF);
    u8(static_cast<uint8_t>(s.size()));
    for (char ch : s) u8(static_cast<uint8_t>(ch));
  }
  void dtype(ops::DType t) {
    const auto& codes = dtype_codes();
    for (size_t i = 0; i < codes.size(); ++i)
      if (codes[i] == static_cast<int32_t>(t)) return u8(static_cast<uint8_t>(i));
    u8(0);
  }
  void dims(const std::vector<int64_t>& d) {
    u8(static_cast<uint8_t>(d.size()));
    for (int64_t v : d) dim(v);
  }
};

}  // namespace nq::fuzz
