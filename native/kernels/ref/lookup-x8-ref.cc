// Scalar reference twin of the byte table lookup.
#include "kernels/lookup.h"

namespace nq {
namespace {

void run(const uint8_t* x, uint8_t* y, size_t n, const uint8_t* table) {
  for (size_t i = 0; i < n; ++i) y[i] = table[x[i]];
}

}  // namespace

const LookupKernel lookup_x8__ref = {"lookup_x8__ref", Isa::scalar, run};

}  // namespace nq
