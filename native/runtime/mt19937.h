// The 32-bit Mersenne Twister (Matsumoto & Nishimura, 1998) with the seeding and the
// [0, 1) doubles of NumPy's legacy RandomState: np.random.seed(s) followed by
// np.random.uniform(0, 1, n) gives the same n numbers as seed(s) and n next_double() calls.
// ONNX's reference Dropout draws its training mask that way from the node's `seed`, so a
// seeded Dropout here drops exactly the elements the reference (and the conformance data) do.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nq {

class Mt19937 {
 public:
  explicit Mt19937(uint32_t seed) {
    state_[0] = seed;
    for (uint32_t i = 1; i < kN; ++i) state_[i] = 1812433253u * (state_[i - 1] ^ (state_[i - 1] >> 30)) + i;
    pos_ = kN;
  }

  uint32_t next_u32() {
    if (pos_ == kN) refill();
    uint32_t y = state_[pos_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
  }

  // 53 random bits from two draws (27 + 26), as NumPy's random_sample.
  double next_double() {
    const uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
    return (double(a) * 67108864.0 + double(b)) / 9007199254740992.0;
  }

 private:
  static constexpr uint32_t kN = 624, kM = 397;

  void refill() {
    for (uint32_t i = 0; i < kN; ++i) {
      const uint32_t y = (state_[i] & 0x80000000u) | (state_[(i + 1) % kN] & 0x7fffffffu);
      state_[i] = state_[(i + kM) % kN] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    pos_ = 0;
  }

  uint32_t state_[kN];
  uint32_t pos_;
};

}  // namespace nq
