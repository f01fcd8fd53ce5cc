// Sparse INT8 GEMM: the same C = (A - za) x (B - zb) and epilogues as qgemm.h, for a constant
// B whose zeros come in whole groups of 4 consecutive k of one column (the unit VPDPBUSD
// multiplies; pruning with structure 'block4' makes every zero fall in such groups, and
// unstructured pruning leaves some). Only the groups holding a nonzero weight are stored
// and multiplied, so the work falls with the share of empty groups.
//
// Layout: A is packed per block of kSparseRows rows as up to 4 strips of 16 rows, each strip
// [kpad/4][16][4] bytes (one zmm per group: a 16 x (kpad/4) transpose of 32-bit words); per
// column j, B is a list of (group g, 4 weights) over col_start[j]..col_start[j+1]. A kernel computes raw sums for a run of columns, column-major;
// the driver transposes them and hands them to the ISA's dense epilogue, so zero points,
// bias and requantisation are the dense path's, bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/cpu.h"

namespace nq {

// Rows of A per block (one column's raw sums are kSparseRows int32 = 4 zmm registers).
constexpr size_t kSparseRows = 64;
constexpr size_t kSparseStripRows = 16;

struct SparseQGemmKernel {
  const char* name;  // e.g. "spqgemm_u8s8_64xN__avx512vnni"
  Isa isa;
  // For jj < cols and rows i < 16 * strips (strips in 1..4; rows past the block's end are
  // zero-packed), with strip = a4 + (i / 16) * strip_bytes:
  //   acc[jj * kSparseRows + i] = sum over the groups e of column col0 + jj of
  //     sum_{l<4} strip[(group[e] * 16 + i % 16) * 4 + l] * (int8) byte l of values[e]
  void (*columns)(const uint8_t* a4, size_t strip_bytes, size_t strips, const uint32_t* col_start,
                  const uint32_t* group, const int32_t* values, size_t col0, size_t cols,
                  int32_t* acc);
  // Packs `rows` (1..16) rows of A (row stride lda, k bytes each, xor-ed with flip) into one
  // strip [groups][16][4] (groups = ceil(k/4); zero past k and past `rows`) and writes
  // row_sums[r] = the sum of row r's flipped bytes for r < 16 (0 past `rows`).
  void (*pack_strip)(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t groups,
                     uint8_t flip, uint8_t* strip, int32_t* row_sums);
};

extern const SparseQGemmKernel spqgemm_u8s8_64__ref;
#if defined(NQ_ARCH_X86)
extern const SparseQGemmKernel spqgemm_u8s8_64__avx512vnni;
#endif

// The sparse kernel of an ISA level, or null where that level has none (the dense kernel
// is then always used). The reference is returned for the scalar level.
const SparseQGemmKernel* sparse_qgemm_kernel_for(Isa isa);

// GEMM calls that took the sparse path since the process started (tests check the path).
uint64_t sparse_qgemm_calls();

// Share of groups (out of kpad/4 * n) at or below which the sparse kernel is chosen when the
// policy is automatic, and the fewest rows of A for which a call then takes it (B is kept
// dense too, for the calls with fewer rows: a 16-row strip computing one row wastes most of
// its work, and single-row GEMVs only gain below about a tenth of the groups). Measured
// with `npm run bench -- compress` (see bench/compress-sparse.ts): on AVX-512 VNNI, one
// thread, the sparse kernel passes the dense one near 0.3 and is 1.3-1.5x faster at 0.2.
constexpr double kSparseMaxDensity = 0.25;
constexpr size_t kSparseMinRows = 16;

}  // namespace nq
