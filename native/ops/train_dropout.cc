// Dropout for training (float32 data, uint8 mask):
//   DropoutTrain (X, seed int64 []) -> (Y, mask): mask[i] = 1 with probability 1 − ratio,
//     Y = X·mask/(1 − ratio). ratio (attribute, default 0.5) in [0, 1]: 0 keeps everything
//     (Y = X exactly), 1 drops everything.
//   DropoutGrad (dY, mask) -> dX = dY·mask/(1 − ratio).
// The mask is counter-based: element i's draw is a hash of (seed, i), so a seed gives the same
// mask whatever the thread count or chunking. The hash is the splitmix64 stream seeded from
// the seed, evaluated at position i directly (the i-th output of that generator): a
// Weyl-sequence state with splitmix's finaliser, which passes BigCrush.
#include <cstring>

#include "ops/train_ops.h"

namespace nq::ops {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Keep element i when the top 32 bits of its draw reach the threshold ratio·2³².
struct DropoutRule {
  uint64_t key = 0;        // mix64(seed): decorrelates neighbouring seeds
  uint64_t threshold = 0;  // in [0, 2³²]; 2³² drops everything
  float scale = 1.f;       // 1/(1 − ratio), 0 when everything drops

  static DropoutRule make(double ratio) {
    DropoutRule r;
    const double t = ratio * 4294967296.0;
    r.threshold = ratio >= 1 ? (uint64_t(1) << 32) : uint64_t(t);
    r.scale = ratio >= 1 ? 0.f : float(1.0 / (1.0 - ratio));
    return r;
  }
  uint8_t keep(uint64_t i) const {
    return uint8_t((mix64(key + (i + 1) * kGolden) >> 32) >= threshold);
  }
};

Status read_ratio(const OpInit& init, double* ratio) {
  *ratio = init.attrs.get_float("ratio", 0.5);
  if (!(*ratio >= 0 && *ratio <= 1))
    return op_error(init, "ratio must be in [0, 1], got " + std::to_string(*ratio));
  return Status::ok();
}

class DropoutTrainKernel final : public OpKernel {
 public:
  DropoutTrainKernel(double ratio, size_t count) : ratio_(ratio), count_(count) {}

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* x = static_cast<const float*>(in[0]);
    const int64_t seed = *static_cast<const int64_t*>(in[1]);
    float* y = static_cast<float*>(output_at(out, 0));
    uint8_t* mask = static_cast<uint8_t*>(output_at(out, 1));
    if (ratio_ == 0) {
      // Everything kept: Y = X bit for bit (no multiply by 1/(1 − 0) rounding anything).
      for_elements(count_, [&](size_t b, size_t e) {
        if (y && y != x) std::memcpy(y + b, x + b, (e - b) * sizeof(float));
        if (mask) std::memset(mask + b, 1, e - b);
      });
      return Status::ok();
    }
    DropoutRule rule = DropoutRule::make(ratio_);
    rule.key = mix64(uint64_t(seed));
    for_elements(count_, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        const uint8_t k = rule.keep(i);
        if (mask) mask[i] = k;
        if (y) y[i] = k ? x[i] * rule.scale : 0.f;
      }
    });
    return Status::ok();
  }

 private:
  double ratio_;
  size_t count_;
};

class DropoutGradKernel final : public OpKernel {
 public:
  DropoutGradKernel(double ratio, size_t count) : ratio_(ratio), count_(count) {}

  int in_place_input() const override { return 0; }

  Status run(const std::vector<const void*>& in, const std::vector<void*>& out) override {
    const float* dy = static_cast<const float*>(in[0]);
    const uint8_t* mask = static_cast<const uint8_t*>(in[1]);
    float* dx = static_cast<float*>(output_at(out, 0));
    if (!dx) return Status::ok();
    const float scale = ratio_ >= 1 ? 0.f : float(1.0 / (1.0 - ratio_));
    for_elements(count_, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) dx[i] = mask[i] ? dy[i] * scale : 0.f;
    });
    return Status::ok();
  }

 private:
  double ratio_;
  size_t count_;
};

}  // namespace

Status create_dropout_train(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 2, 1);
  if (!s.is_ok()) return s;
  s = check_input_dtype(init, 0, "X", DType::f32);
  if (s.is_ok()) s = check_input_dtype(init, 1, "seed", DType::s64);
  if (s.is_ok() && init.inputs[1].count() != 1)
    s = op_error(init, "seed must be an int64 scalar, got " + dims_str(init.inputs[1].dims));
  const auto& xd = init.inputs[0].dims;
  if (s.is_ok()) s = check_output(init, 0, "Y", DType::f32, xd, false);
  if (s.is_ok()) s = check_output(init, 1, "mask", DType::u8, xd, false);
  double ratio = 0;
  if (s.is_ok()) s = read_ratio(init, &ratio);
  if (!s.is_ok()) return s;
  *out = std::make_unique<DropoutTrainKernel>(ratio, init.inputs[0].count());
  return Status::ok();
}

Status create_dropout_grad(const OpInit& init, std::unique_ptr<OpKernel>* out) {
  Status s = check_arity(init, 2, 2, 1);
  if (!s.is_ok()) return s;
  s = check_input_dtype(init, 0, "dY", DType::f32);
  const auto& d = init.inputs[0].dims;
  if (s.is_ok()) s = check_input(init, 1, "mask", DType::u8, d);
  if (s.is_ok()) s = check_output(init, 0, "dX", DType::f32, d, true);
  double ratio = 0;
  if (s.is_ok()) s = read_ratio(init, &ratio);
  if (!s.is_ok()) return s;
  *out = std::make_unique<DropoutGradKernel>(ratio, init.inputs[0].count());
  return Status::ok();
}

}  // namespace nq::ops
