// FP32 GEMM, blocked and packed: the baseline every INT8 speed-up is measured against and
// the kernel float layers run on.
//
// Layout contract shared by every variant:
//   packed B: ceil(n/nr) panels of k*nr floats, panel[k*nr + j] = B[k][j0 + j], zero past n.
//   packed A: one micro-panel per `rows` (<= mr) rows and kc columns, a[k*rows + i] (the driver
//             packs it per block, scaling by alpha on the way so kernels never see alpha).
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/aligned_buffer.h"
#include "runtime/cpu.h"
#include "runtime/status.h"

namespace nq {

// What a micro-tile does after its product. The driver passes bias/clamp on the last K block
// only; earlier blocks get {load_c, nullptr, false}.
struct SGemmTileArgs {
  bool load_c = false;          // c = c + A*B (else c = A*B)
  const float* bias = nullptr;  // nc values (this tile's columns) or null
  bool clamp = false;           // c = min(max(c, lo), hi); NaN passes through
  float lo = 0.f, hi = 0.f;
};

struct SGemmKernel {
  const char* name;  // e.g. "sgemm_f32_14x32__avx512"
  Isa isa;
  uint32_t mr, nr;
  // Packs B (k x n, row stride ldb; or n x k when transposed) into ceil(n/nr) panels of k*nr
  // floats (zero-padded past n); panel data for k >= k0 starts at panel + k0*nr.
  void (*pack_b)(const float* b, size_t k, size_t n, size_t ldb, bool transposed, float* packed);
  // Packs rows_total rows x kc columns of A (row stride lda), times alpha, into consecutive
  // micro-panels of mr rows (the last holds the remainder), each a[k*rows + i].
  void (*pack_a)(const float* a, size_t lda, size_t rows_total, size_t kc, float alpha,
                 float* packed);
  // c[rows x nc] (row stride ldc) = (load_c ? c : 0) + Apacked[rows x kc] * panel[kc x nr],
  // then bias and clamp per args. 1 <= rows <= mr, 1 <= nc <= nr, kc >= 1. Only rows < rows
  // and cols < nc of c are touched. a: packed micro-panel (a[k*rows + i]).
  void (*ukernel)(size_t rows, size_t nc, size_t kc, const float* a, const float* b_panel,
                  float* c, size_t ldc, const SGemmTileArgs& args);
  // GEMV on unpacked B, k >= 1:
  //   gemv_n: B is k x n (row stride ldb): c[j] = (accumulate ? c[j] : 0) + sum_k a[k] B[k][j]
  //   gemv_t: B is n x k (row stride ldb): c[j] = (accumulate ? c[j] : 0) + dot(a, B[j][:])
  void (*gemv_n)(size_t k, size_t n, const float* a, const float* b, size_t ldb, float* c,
                 bool accumulate);
  void (*gemv_t)(size_t k, size_t n, const float* a, const float* b, size_t ldb, float* c,
                 bool accumulate);
};

// The driver's K block (tests sweep K around it). Blocks are equal-sized: K=1100 runs as
// 2x550, not 1024+76.
constexpr size_t kSGemmKcMax = 1024;
// Calls below this many multiply-adds (~5 us of one core) run on the calling thread only:
// waking the pool would cost more than it saves.
constexpr size_t kSGemmMinParallelMacs = size_t(1) << 20;

struct SGemmPackedB {
  const SGemmKernel* kernel = nullptr;
  size_t k = 0, n = 0;
  AlignedBuffer<float> panels;
};

enum class Activation { none, relu, clip };

struct SGemmEpilogue {
  const float* bias = nullptr;  // n values or null
  Activation activation = Activation::none;
  float clip_min = 0.f, clip_max = 0.f;
  bool accumulate = false;  // c += A*B (for ONNX Gemm's C input, written into c first)
  float alpha = 1.f;        // c = alpha * A*B (+ c) (+ bias)
};

// Packs B for `kernel` (panels are tile-specific: use the same kernel's sgemm). Threaded.
Status sgemm_pack_b(const SGemmKernel& kernel, const float* b, size_t k, size_t n, size_t ldb,
                    bool transposed, SGemmPackedB* out);

// c (m x n, row stride ldc; 0 = dense) = alpha * A (m x k, row stride lda; 0 = dense) * B
// (+ c when accumulate) (+ bias), then relu/clip; threaded over the pool. Runs b.kernel.
Status sgemm(const float* a, size_t m, size_t lda, const SGemmPackedB& b, float* c, size_t ldc,
             const SGemmEpilogue& epilogue);

// Same, with B given unpacked (k x n, or n x k when b_transposed; ldb 0 = dense): for MatMul
// with two dynamic inputs. m == 1 streams B directly (GEMV); otherwise B is packed into a
// scratch buffer per call. The first overload runs the active ISA's kernel.
Status sgemm_unpacked(const float* a, size_t m, size_t k, size_t lda, const float* b, size_t n,
                      size_t ldb, bool b_transposed, float* c, size_t ldc,
                      const SGemmEpilogue& epilogue);
Status sgemm_unpacked(const SGemmKernel& kernel, const float* a, size_t m, size_t k, size_t lda,
                      const float* b, size_t n, size_t ldb, bool b_transposed, float* c,
                      size_t ldc, const SGemmEpilogue& epilogue);

// Portable packers: every variant's pack_b forwards to the first with its own nr; the
// scalar twin of pack_a is the second.
void sgemm_pack_b_panels(size_t nr, const float* b, size_t k, size_t n, size_t ldb,
                         bool transposed, float* packed);
void sgemm_pack_a_panels(size_t mr, const float* a, size_t lda, size_t rows_total, size_t kc,
                         float alpha, float* packed);

extern const SGemmKernel sgemm_f32_4x16__ref;
#if defined(NQ_ARCH_X86)
extern const SGemmKernel sgemm_f32_6x16__avx2;
extern const SGemmKernel sgemm_f32_14x32__avx512;
#endif
#if defined(NQ_ARCH_ARM64)
extern const SGemmKernel sgemm_f32_8x12__neon;
#endif

}  // namespace nq
