// AMX INT8 GEMM micro-kernel: a 32 x 32 int32 tile of C held in four AMX tiles, TDPBUSD
// (u8 x s8, four products per int32, no saturation), K in steps of 64 bytes.
//
// Tile registers (palette 1, configured with LDTILECFG at each call, since tile state is
// per thread and other code may have reconfigured it; released at the end):
//   tmm0..3: C blocks (rows 0-15 | 16-31) x (cols 0-15 | 16-31), 16 rows x 64 bytes
//   tmm4, 5: A rows 0-15 and 16-31, 16 rows x 64 bytes (64 k of one row per tile row)
//   tmm6, 7: B cols 0-15 and 16-31, 16 rows (groups of 4 k) x 64 bytes (16 cols x 4 k)
// A tile: [32 rows][kpad] u8 (row-major, stride kpad); B panel: [kpad/4][32 cols][4 k] s8,
// so a B tile row is 64 of the panel's 128-byte group rows.
// Not executed on the development machine (no AMX there); written to the Intel AMX model.
#include <immintrin.h>

#include <cstring>

#include "kernels/qgemm_internal.h"

namespace nq {
namespace {

constexpr size_t kMr = 32, kNr = 32, kKr = 64;

void pack_b(const int8_t* b, size_t k, size_t n, size_t ldb, bool transposed, size_t kpad,
            uint8_t flip, int8_t* packed) {
  qgemm_pack_b_interleaved(b, k, n, ldb, transposed, kpad, flip, kNr, 4, packed);
}

void pack_a(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t kpad, uint8_t flip,
            void* tile, int32_t* row_sums) {
  qgemm_pack_a_rows_u8(a, lda, rows, k, kpad, flip, kMr, static_cast<uint8_t*>(tile), row_sums);
}

struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
static_assert(sizeof(TileConfig) == 64, "LDTILECFG reads 64 bytes");

void configure() {
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof(cfg));
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
}

void ukernel(size_t rows, const void* a_tile, size_t kpad, size_t k0, size_t kc,
             const int8_t* b_panel, int32_t* c) {
  const uint8_t* a = static_cast<const uint8_t*>(a_tile);
  const size_t b_stride = kNr * 4;  // one group of 4 k across the 32 columns
  const size_t c_stride = kNr * sizeof(int32_t);
  configure();
  _tile_zero(0);
  _tile_zero(1);
  if (rows > 16) {
    _tile_zero(2);
    _tile_zero(3);
  }
  for (size_t k = k0; k < k0 + kc; k += kKr) {
    const int8_t* b = b_panel + k * kNr;
    _tile_loadd(6, b, b_stride);
    _tile_loadd(7, b + 64, b_stride);
    _tile_loadd(4, a + k, kpad);
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    if (rows > 16) {
      _tile_loadd(5, a + 16 * kpad + k, kpad);
      _tile_dpbusd(2, 5, 6);
      _tile_dpbusd(3, 5, 7);
    }
  }
  _tile_stored(0, c, c_stride);
  _tile_stored(1, c + 16, c_stride);
  if (rows > 16) {
    _tile_stored(2, c + 16 * kNr, c_stride);
    _tile_stored(3, c + 16 * kNr + 16, c_stride);
  }
  _tile_release();
}

}  // namespace

const QGemmKernel qgemm_u8s8_32x32__amx = {
    "qgemm_u8s8_32x32__amx", Isa::amx, kMr, kNr, kKr, 1, pack_b, pack_a, ukernel,
    qgemm_epilogue_avx512};

}  // namespace nq
