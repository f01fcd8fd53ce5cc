// Byte table lookup: every variant equals the reference over lengths around its vector width
// (tails included), in place and out of place, for every byte value.
#include <doctest.h>

#include <vector>

#include "kernels/lookup.h"
#include "runtime/cpu.h"
#include "test_util.h"

TEST_CASE("lookup: every variant equals the reference, tails and in place included") {
  std::vector<uint8_t> table = nq_test::random_u8(256, 41);
  std::vector<nq::Isa> isas = nq_test::simd_isas();
  size_t fast = 0;
  for (nq::Isa isa : isas) {
    const nq::LookupKernel& k = nq::lookup_kernel_for(isa);
    INFO(k.name);
    fast += k.isa != nq::Isa::scalar;
    for (size_t n : {0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 256, 1000, 4099}) {
      std::vector<uint8_t> x = nq_test::random_u8(n + 1, uint32_t(n) + 3);
      for (size_t i = 0; i < n && i < 256; ++i) x[i] = uint8_t(i);  // every byte value
      std::vector<uint8_t> want(n + 1, 0xEE), got(n + 1, 0xEE);
      nq::lookup_x8__ref.run(x.data(), want.data(), n, table.data());
      k.run(x.data(), got.data(), n, table.data());
      CHECK(got == want);  // the byte past n is untouched in both
      std::vector<uint8_t> in_place = x;
      k.run(in_place.data(), in_place.data(), n, table.data());
      for (size_t i = 0; i < n; ++i) REQUIRE(in_place[i] == want[i]);
    }
  }
#if defined(NQ_ARCH_X86)
  if (nq::cpu_features().avx512vbmi && nq::isa_supported(nq::Isa::avx512vnni)) CHECK(fast > 0);
#endif
}
