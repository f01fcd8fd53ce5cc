// Scalar twin of the Winograd F(4x4, 3x3) transforms: one channel at a time through the
// shared formulas (winograd_f43_math.h), which the SIMD variants run a vector at a time.
#include "kernels/winograd.h"
#include "kernels/winograd_f43_math.h"

namespace nq {

const WinogradKernel winograd_f32_f43__ref = {
    "winograd_f32_f43__ref", Isa::scalar, winograd_math::input_tile<winograd_math::ScalarOps>,
    winograd_math::output_tile<winograd_math::ScalarOps>};

}  // namespace nq
