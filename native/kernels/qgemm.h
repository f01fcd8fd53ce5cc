// INT8 GEMM: C = (A - za) x (B - zb) with int32 accumulation, then an epilogue.
//
// Every variant computes u8 x s8. Signed A is moved to u8 by flipping its sign bit
// (a + 128, za + 128) and unsigned B to s8 by (b - 128, zb - 128); the results are equal.
// Zero points are removed after the raw product with row and column sums:
//   sum_k (a - za)(b - zb) = sum ab - za*colsum(b) - zb*rowsum(a) + K*za*zb.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/aligned_buffer.h"
#include "runtime/cpu.h"
#include "runtime/status.h"

namespace nq {

// One ISA's kernels for this family. Tile sizes are data, beside the function pointers.
struct QGemmKernel {
  const char* name;  // e.g. "qgemm_u8s8_8x32__avx512vnni": op, types, tile, ISA
  Isa isa;
  uint32_t mr;  // rows of C per micro-tile
  uint32_t nr;  // columns of C per micro-tile (one packed B panel)
  uint32_t kr;  // packed K is padded with zeros to a multiple of kr

  // Packs B (k x n, s8, row stride ldb; or n x k when transposed) into ceil(n/nr) panels of
  // kpad*nr bytes each, zero-padded past n and k. Within a panel, the data for k >= k0
  // (k0 a multiple of kr) starts at panel + k0*nr, so the driver can block K.
  void (*pack_b)(const int8_t* b, size_t k, size_t n, size_t ldb, bool transposed, size_t kpad,
                 int8_t* packed);

  // c[mr x nr] (row-major, contiguous) = (accumulate ? c : 0) + A[mr x kc] * panel[kc x nr].
  // a: mr rows of u8 with row stride lda (rows and kc padded by the driver, so always full).
  void (*ukernel)(size_t kc, const uint8_t* a, size_t lda, const int8_t* b_panel, int32_t* c,
                  bool accumulate);
};

struct QGemmPackedB {
  const QGemmKernel* kernel = nullptr;
  size_t k = 0, n = 0, kpad = 0;
  AlignedBuffer<int8_t> panels;
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
};

struct QGemmA {
  const void* data = nullptr;
  bool is_signed = false;  // uint8 (false) or int8 (true)
  size_t m = 0, k = 0;
  size_t lda = 0;  // row stride in elements; 0 means dense
  int32_t zero_point = 0;
};

enum class QGemmOutputKind { int32, float32, uint8, int8 };
enum class RequantMode { fixed_point, float_scale };

struct QGemmOutput {
  QGemmOutputKind kind = QGemmOutputKind::int32;
  void* data = nullptr;
  size_t ldc = 0;  // row stride in elements; 0 means dense

  // float32: c = acc * a_scale * b_scales[n] + bias[n], then max(c, 0) when relu.
  float a_scale = 1.f;
  const float* b_scales = nullptr;  // 1 or n values (null means 1.0)
  size_t num_b_scales = 0;
  const float* bias = nullptr;  // n values or null
  bool relu = false;

  // uint8 / int8: c = clamp(zc + requant(acc + bias_i32[n]), qmin, qmax).
  // fixed_point: Jacob et al. 2018: multiplier in Q31 and a right shift, round half away.
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

// Packs B for the given kernel. Errors name the argument.
Status qgemm_pack_b(const QGemmKernel& kernel, const QGemmB& b, QGemmPackedB* out);

// Runs the GEMM over the thread pool with the kernel B was packed for.
// int32/uint8/int8 outputs refuse k > kQGemmMaxKInt32; float32 splits K into blocks whose
// int32 partial sums cannot overflow and adds them in float.
Status qgemm(const QGemmA& a, const QGemmPackedB& b, const QGemmOutput& out);

// real = multiplier * 2^-31 * 2^-shift, multiplier in [2^30, 2^31), for 0 < real < 1 (or 0).
void quantize_multiplier(double real, int32_t* multiplier, int32_t* shift);

// The kernels of each ISA (defined in their own files). Scalar reference first.
extern const QGemmKernel qgemm_u8s8_4x16__ref;

}  // namespace nq
