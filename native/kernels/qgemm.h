// INT8 GEMM: C = (A - za) x (B - zb) with int32 accumulation, then an epilogue.
//
// Every variant computes u8 x s8. Signed A is moved to u8 by flipping its sign bit
// (a + 128, za + 128) and unsigned B to s8 by (b - 128, zb - 128); the results are equal.
// Zero points are removed after the raw product with row and column sums:
//   sum_k (a - za)(b - zb) = sum ab - za*colsum(b) - zb*rowsum(a) + K*za*zb.
//
// Work split: the driver (qgemm.cc) checks arguments, packs A one micro-tile at a time
// (kernel.pack_a, which also yields the row sums), folds every per-column term of the
// corrections into one vector, blocks M and N and spreads the tiles over the thread pool.
// Per tile it calls kernel.ukernel (raw int32 products over a K range, written to a small
// contiguous scratch tile) and then kernel.epilogue (corrections + output conversion,
// vectorised per ISA so that small K is not dominated by scalar code).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/aligned_buffer.h"
#include "runtime/cpu.h"
#include "runtime/status.h"

namespace nq {

enum class QGemmOutputKind { int32, float32, uint8, int8 };
enum class RequantMode { fixed_point, float_scale };

// Everything an epilogue needs, prepared once per qgemm call by the driver. Per-column
// arrays always hold n values (per-tensor parameters are broadcast by the driver), indexed
// by absolute column.
struct QGemmEpilogueArgs {
  QGemmOutputKind kind = QGemmOutputKind::int32;
  RequantMode mode = RequantMode::fixed_point;
  // corrected[i][j] = acc[i][j] + col_term[j] - row_sum[i] * zb[j]   (mod 2^32)
  // col_term[j] = K*za*zb[j] - za*colsum[j] (+ bias_i32[j] for the requantising outputs).
  const int32_t* col_term = nullptr;
  const int32_t* zb = nullptr;
  bool zb_uniform = false;  // every zb[j] equals zb[0]: the row term is one value per row
  // float32: v = float(corrected) * scale[j] (+ bias[j]); relu: max(v, 0). Multiply and add
  // are separate roundings (no FMA) so every ISA gives the same bits.
  const float* scale = nullptr;
  const float* bias = nullptr;
  bool relu = false;
  // fixed_point: gemmlowp's SaturatingRoundingDoublingHighMul(corrected, mult[j]) followed
  // by RoundingDivideByPOT(., shift[j]) (both round half away from zero), + zc, clamp.
  const int32_t* mult = nullptr;
  const int32_t* shift = nullptr;
  // float_scale: v = float(corrected) * rq_scale[j], clamped to [qmin - zc, qmax - zc],
  // rounded half to even, + zc (ONNX QLinearMatMul / MLAS requantisation).
  const float* rq_scale = nullptr;
  int32_t zc = 0, qmin = 0, qmax = 255;
  void* out = nullptr;
  size_t ldc = 0;  // elements
};

// One ISA's kernels for this family. Tile sizes are data, beside the function pointers.
struct QGemmKernel {
  const char* name;  // e.g. "qgemm_u8s8_8x32__avx512vnni": op, types, tile, ISA
  Isa isa;
  uint32_t mr;  // rows of C per micro-tile
  uint32_t nr;  // columns of C per micro-tile (one packed B panel)
  uint32_t kr;  // packed K (of A and B) is padded with zeros to a multiple of kr
  uint32_t a_elem_bytes;  // a packed A tile is mr * kpad * a_elem_bytes bytes

  // Packs B (k x n bytes, row stride ldb; or n x k when transposed) into ceil(n/nr) panels
  // of kpad*nr bytes each, each byte xor-ed with flip (0x80 turns u8 into s8 - 128),
  // zero-padded past n and k. Within a panel, the data for k >= k0 (k0 a multiple of kr)
  // starts at panel + k0*nr.
  void (*pack_b)(const int8_t* b, size_t k, size_t n, size_t ldb, bool transposed, size_t kpad,
                 uint8_t flip, int8_t* packed);

  // Packs `rows` (<= mr) rows of A (row stride lda, k bytes each, xor-ed with flip) into one
  // tile of the kernel's layout, zero-filled past rows and k; row_sums[r] = sum of the
  // flipped bytes of row r (rows < `rows`).
  void (*pack_a)(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t kpad, uint8_t flip,
                 void* tile, int32_t* row_sums);

  // c[rows x nr] (row-major, row stride nr) = sum over k in [k0, k0 + kc) of A tile x B
  // panel, raw (no zero-point terms); 1 <= rows <= mr (a single-row GEMV does not pay for a
  // full tile); rows past `rows` may be overwritten, c always has room for mr x nr. a_tile and b_panel are whole (kpad
  // long); k0 and kc are multiples of kr.
  void (*ukernel)(size_t rows, const void* a_tile, size_t kpad, size_t k0, size_t kc,
                  const int8_t* b_panel, int32_t* c);

  // Applies the corrections and the output conversion to a rows x cols block of raw sums
  // (acc, row stride ld_acc) and writes it to e.out at (row0, col0). row_sums has `rows`
  // values.
  void (*epilogue)(const QGemmEpilogueArgs& e, const int32_t* acc, size_t ld_acc, size_t rows,
                   size_t cols, const int32_t* row_sums, size_t row0, size_t col0);
};

struct SparseQGemmKernel;

// Whether qgemm_pack_b stores B for the sparse kernel (spqgemm.h). automatic: sparse (and
// dense as well, for calls with fewer than kSparseMinRows rows) when the ISA has a sparse
// kernel and at most kSparseMaxDensity of B's 4-deep column groups hold a nonzero; sparse:
// sparse only, whatever the density. The NQUANT_SPARSE environment variable (off | on |
// auto) stands in for an automatic request.
enum class QGemmSparsity { automatic, dense, sparse };

// B as the sparse kernel reads it: per column j, the groups g (k = 4g..4g+3) holding a
// nonzero weight, over col_start[j]..col_start[j+1], with their 4 weights (s8 domain) packed
// little-endian in one int32.
struct QGemmSparseB {
  const SparseQGemmKernel* kernel = nullptr;  // null: B is stored dense, in panels
  AlignedBuffer<uint32_t> col_start;
  AlignedBuffer<uint32_t> group;
  AlignedBuffer<int32_t> values;
};

struct QGemmPackedB {
  const QGemmKernel* kernel = nullptr;
  size_t k = 0, n = 0, kpad = 0;
  AlignedBuffer<int8_t> panels;  // empty when B was forced sparse
  QGemmSparseB sparse;
  double group_density = 1;  // share of 4-deep column groups holding a nonzero weight
  std::vector<int32_t> col_sums;     // sum over k of B (s8 domain), per column
  std::vector<int32_t> zero_points;  // zb (s8 domain), one per column
};

struct QGemmB {
  const void* data = nullptr;
  bool is_signed = true;  // int8 (true) or uint8 (false)
  size_t k = 0, n = 0;
  size_t ldb = 0;           // row stride in elements; 0 means dense
  bool transposed = false;  // stored n x k
  const int32_t* zero_points = nullptr;  // null: 0; else 1 (per tensor) or n values
  size_t num_zero_points = 0;
  QGemmSparsity sparsity = QGemmSparsity::automatic;
};

struct QGemmA {
  const void* data = nullptr;
  bool is_signed = false;  // uint8 (false) or int8 (true)
  size_t m = 0, k = 0;
  size_t lda = 0;  // row stride in elements; 0 means dense
  int32_t zero_point = 0;
};

struct QGemmOutput {
  QGemmOutputKind kind = QGemmOutputKind::int32;
  void* data = nullptr;
  size_t ldc = 0;  // row stride in elements; 0 means dense

  // float32: c = acc * a_scale * b_scales[n] + bias[n], then max(c, 0) when relu.
  // (a_scale * b_scales[n] is formed once in float, then c = float(acc) * that + bias.)
  float a_scale = 1.f;
  const float* b_scales = nullptr;  // 1 or n values (null means 1.0)
  size_t num_b_scales = 0;
  const float* bias = nullptr;  // n values or null
  bool relu = false;

  // uint8 / int8: c = clamp(zc + requant(acc + bias_i32[n]), qmin, qmax).
  // fixed_point: Jacob et al. 2018 as in gemmlowp: multiplier in Q31 (SaturatingRounding-
  // DoublingHighMul) then a rounding right shift (RoundingDivideByPOT); shifts in [0, 31].
  // float_scale: nearbyint((acc + bias) * scales[n]) as ONNX QLinearMatMul specifies.
  RequantMode requant_mode = RequantMode::fixed_point;
  const int32_t* bias_i32 = nullptr;      // n values or null
  const int32_t* multipliers = nullptr;   // fixed_point: 1 or n values
  const int32_t* shifts = nullptr;        // fixed_point: right shifts, same count
  const float* requant_scales = nullptr;  // float_scale: 1 or n values
  size_t num_requant = 0;
  int32_t out_zero_point = 0;
  int32_t qmin = 0, qmax = 255;
};

// Largest K whose corrected int32 result can never overflow (255*255*K <= INT32_MAX).
constexpr size_t kQGemmMaxKInt32 = 33025;

// What QGemmSparsity::automatic resolves to for B packed from now on (initially from
// NQUANT_SPARSE: off -> dense, on -> sparse, else automatic). Already packed B is unchanged.
void set_qgemm_sparsity(QGemmSparsity s);
QGemmSparsity qgemm_sparsity();

// Packs B for the given kernel. Errors name the argument.
Status qgemm_pack_b(const QGemmKernel& kernel, const QGemmB& b, QGemmPackedB* out);

// Runs the GEMM over the thread pool with the kernel B was packed for.
// int32/uint8/int8 outputs refuse k > kQGemmMaxKInt32; float32 splits K into blocks whose
// int32 partial sums cannot overflow, sums the blocks exactly in int64 and converts once.
Status qgemm(const QGemmA& a, const QGemmPackedB& b, const QGemmOutput& out);

// real = multiplier * 2^-31 * 2^-shift, multiplier in [2^30, 2^31), for 0 < real < 1 (or 0).
// Reals too small for a shift <= 31 give multiplier 0, shift 0 (the product rounds to 0).
void quantize_multiplier(double real, int32_t* multiplier, int32_t* shift);

// The kernels of each ISA (defined in their own files). Scalar reference first.
extern const QGemmKernel qgemm_u8s8_4x16__ref;
extern const QGemmKernel qgemm_u8s8_6x16__avx2;
extern const QGemmKernel qgemm_u8s8_8x32__avx512vnni;
extern const QGemmKernel qgemm_u8s8_32x32__amx;
extern const QGemmKernel qgemm_u8s8_4x16__neon;

}  // namespace nq
