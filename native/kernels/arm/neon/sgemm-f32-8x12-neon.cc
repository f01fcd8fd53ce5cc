// NEON SGEMM: 8x12 register tile (24 q accumulators, 3 for B, 2 for A, within the 32),
// plus the GEMV kernels that stream unpacked B.
#include <arm_neon.h>

#include <cstring>

#include "kernels/sgemm.h"

namespace nq {
namespace {

constexpr size_t kMr = 8, kNr = 12, kLanes = 4, kNv = kNr / kLanes;

void pack_b_neon(const float* b, size_t k, size_t n, size_t ldb, bool transposed, float* packed) {
  sgemm_pack_b_panels(kNr, b, k, n, ldb, transposed, packed);
}

void pack_a_neon(const float* a, size_t lda, size_t rows_total, size_t kc, float alpha,
               float* packed) {
  sgemm_pack_a_panels(kMr, a, lda, rows_total, kc, alpha, packed);
}

template <int MR>
inline void store_tile(float32x4_t (&acc)[MR][kNv], size_t nc, float* c, size_t ldc,
                       const SGemmTileArgs& args) {
  const float32x4_t lo = vdupq_n_f32(args.lo), hi = vdupq_n_f32(args.hi);
  float bias_buf[kNr] = {};
  if (args.bias) std::memcpy(bias_buf, args.bias, nc * sizeof(float));
  for (int i = 0; i < MR; ++i) {
    // Partial tiles go through a stack row so no lane past nc is read or written.
    float row[kNr];
    float* dst = c + i * ldc;
    float* io = nc == kNr ? dst : row;
    if (args.load_c && io == row) std::memcpy(row, dst, nc * sizeof(float));
    for (size_t v = 0; v < kNv; ++v) {
      float32x4_t x = acc[i][v];
      if (args.load_c) x = vaddq_f32(x, vld1q_f32(io + v * kLanes));
      if (args.bias) x = vaddq_f32(x, vld1q_f32(bias_buf + v * kLanes));
      // Compare-and-select keeps NaN (vmaxq would also propagate it; this matches the ref).
      if (args.clamp) {
        x = vbslq_f32(vcltq_f32(x, lo), lo, x);
        x = vbslq_f32(vcgtq_f32(x, hi), hi, x);
      }
      vst1q_f32(io + v * kLanes, x);
    }
    if (io == row) std::memcpy(dst, row, nc * sizeof(float));
  }
}

template <int MR>
void tile(size_t nc, size_t kc, const float* a, const float* b, float* c, size_t ldc,
          const SGemmTileArgs& args) {
  float32x4_t acc[MR][kNv];
  for (int i = 0; i < MR; ++i)
    for (size_t v = 0; v < kNv; ++v) acc[i][v] = vdupq_n_f32(0.f);
  for (size_t p = 0; p < kc; ++p) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
    for (int i = 0; i < MR; ++i) {
      const float ai = a[i];
      acc[i][0] = vfmaq_n_f32(acc[i][0], b0, ai);
      acc[i][1] = vfmaq_n_f32(acc[i][1], b1, ai);
      acc[i][2] = vfmaq_n_f32(acc[i][2], b2, ai);
    }
    a += MR;
    b += kNr;
  }
  store_tile<MR>(acc, nc, c, ldc, args);
}

void ukernel_neon(size_t rows, size_t nc, size_t kc, const float* a, const float* b_panel,
                  float* c, size_t ldc, const SGemmTileArgs& args) {
  switch (rows) {
    case 1: return tile<1>(nc, kc, a, b_panel, c, ldc, args);
    case 2: return tile<2>(nc, kc, a, b_panel, c, ldc, args);
    case 3: return tile<3>(nc, kc, a, b_panel, c, ldc, args);
    case 4: return tile<4>(nc, kc, a, b_panel, c, ldc, args);
    case 5: return tile<5>(nc, kc, a, b_panel, c, ldc, args);
    case 6: return tile<6>(nc, kc, a, b_panel, c, ldc, args);
    case 7: return tile<7>(nc, kc, a, b_panel, c, ldc, args);
    default: return tile<8>(nc, kc, a, b_panel, c, ldc, args);
  }
}

// Row-major B: B is read row after row, front to back (column strips would walk it with a
// page-sized stride and defeat the prefetcher); c stays in cache and takes two rows per pass.
void gemv_n_neon(size_t k, size_t n, const float* a, const float* b, size_t ldb, float* c,
                 bool accumulate) {
  if (!accumulate) std::memset(c, 0, n * sizeof(float));
  size_t p = 0;
  for (; p + 2 <= k; p += 2) {
    const float* b0 = b + p * ldb;
    const float* b1 = b0 + ldb;
    const float a0 = a[p], a1 = a[p + 1];
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
      float32x4_t x = vfmaq_n_f32(vld1q_f32(c + j), vld1q_f32(b0 + j), a0);
      vst1q_f32(c + j, vfmaq_n_f32(x, vld1q_f32(b1 + j), a1));
    }
    for (; j < n; ++j) c[j] += a0 * b0[j] + a1 * b1[j];
  }
  for (; p < k; ++p) {
    const float* b0 = b + p * ldb;
    const float a0 = a[p];
    size_t j = 0;
    for (; j + 4 <= n; j += 4) vst1q_f32(c + j, vfmaq_n_f32(vld1q_f32(c + j), vld1q_f32(b0 + j), a0));
    for (; j < n; ++j) c[j] += a0 * b0[j];
  }
}

// Transposed B: one dot product per row, vector body plus scalar tail.
void gemv_t_neon(size_t k, size_t n, const float* a, const float* b, size_t ldb, float* c,
                 bool accumulate) {
  for (size_t j = 0; j < n; ++j) {
    const float* row = b + j * ldb;
    float32x4_t acc0 = vdupq_n_f32(0.f), acc1 = vdupq_n_f32(0.f);
    size_t p = 0;
    for (; p + 8 <= k; p += 8) {
      acc0 = vfmaq_f32(acc0, vld1q_f32(a + p), vld1q_f32(row + p));
      acc1 = vfmaq_f32(acc1, vld1q_f32(a + p + 4), vld1q_f32(row + p + 4));
    }
    float s = vaddvq_f32(vaddq_f32(acc0, acc1));
    for (; p < k; ++p) s += a[p] * row[p];
    c[j] = accumulate ? c[j] + s : s;
  }
}

}  // namespace

const SGemmKernel sgemm_f32_8x12__neon = {
    "sgemm_f32_8x12__neon", Isa::neon, kMr, kNr, pack_b_neon, pack_a_neon, ukernel_neon, gemv_n_neon,
    gemv_t_neon,
};

}  // namespace nq
