// The Winograd F(4x4, 3x3) variant selector and the weight transform (once per plan, so it
// is portable code in double).
#include "kernels/winograd.h"

namespace nq {

const WinogradKernel& winograd_kernel_for(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx:
    case Isa::avx512vnni: return winograd_f32_f43__avx512;
    case Isa::avx2: return winograd_f32_f43__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
    case Isa::neon: return winograd_f32_f43__neon;
#endif
    default: return winograd_f32_f43__ref;
  }
}

void winograd_f43_weights(const float* w, size_t m, size_t c, float* u) {
  static const double G[6][3] = {{1.0 / 4, 0, 0},
                                 {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                 {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                 {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                 {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                 {0, 0, 1}};
  for (size_t mi = 0; mi < m; ++mi)
    for (size_t ci = 0; ci < c; ++ci) {
      const float* g = w + (mi * c + ci) * 9;
      double t[6][3];  // G g
      for (size_t i = 0; i < 6; ++i)
        for (size_t j = 0; j < 3; ++j) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
      for (size_t i = 0; i < 6; ++i)
        for (size_t j = 0; j < 6; ++j) {
          const double v = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];  // (G g) G^T
          u[((i * 6 + j) * c + ci) * m + mi] = float(v);
        }
    }
}

}  // namespace nq
