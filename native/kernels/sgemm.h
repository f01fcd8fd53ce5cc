// FP32 GEMM, blocked and packed: the baseline every INT8 speed-up is measured against and
// the kernel float layers run on.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/aligned_buffer.h"
#include "runtime/cpu.h"
#include "runtime/status.h"

namespace nq {

struct SGemmKernel {
  const char* name;  // e.g. "sgemm_f32_6x32__avx512"
  Isa isa;
  uint32_t mr, nr;
  // Packs B (k x n, row stride ldb; or n x k when transposed) into ceil(n/nr) panels of k*nr
  // floats (zero-padded past n); panel data for k >= k0 starts at panel + k0*nr.
  void (*pack_b)(const float* b, size_t k, size_t n, size_t ldb, bool transposed, float* packed);
  // c[mr x nr tile] (row stride ldc) = (accumulate ? c : 0) + A[mr x kc] * panel[kc x nr];
  // rows < mr and cols < nc are written, nothing else. a has row stride lda.
  void (*ukernel)(size_t mr, size_t nc, size_t kc, const float* a, size_t lda,
                  const float* b_panel, float* c, size_t ldc, bool accumulate);
};

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

Status sgemm_pack_b(const SGemmKernel& kernel, const float* b, size_t k, size_t n, size_t ldb,
                    bool transposed, SGemmPackedB* out);

// c (m x n, row stride ldc; 0 = dense) = alpha * A (m x k, row stride lda; 0 = dense) * B
// + epilogue; threaded over the pool.
Status sgemm(const float* a, size_t m, size_t lda, const SGemmPackedB& b, float* c, size_t ldc,
             const SGemmEpilogue& epilogue);

extern const SGemmKernel sgemm_f32_4x16__ref;

}  // namespace nq
