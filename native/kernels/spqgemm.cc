// The sparse INT8 GEMM driver (the path qgemm() takes for B stored sparse) and the choice of
// sparse kernel per ISA level.
#include "kernels/spqgemm.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "kernels/qgemm_internal.h"
#include "kernels/transpose.h"
#include "runtime/aligned_buffer.h"
#include "runtime/threadpool.h"

namespace nq {
namespace {

// Columns per kernel call: their raw sums (kCols x kSparseRows int32, 4 KB) stay in L1 for
// the transpose and the epilogue.
constexpr size_t kCols = 16;
constexpr size_t kTasksPerThread = 8;

}  // namespace

const SparseQGemmKernel* sparse_qgemm_kernel_for(Isa isa) {
#if defined(NQ_ARCH_X86)
  // AMX machines have AVX-512 VNNI; tiles of 16x64 gain nothing from skipping 4-deep groups.
  if (isa == Isa::avx512vnni || isa == Isa::amx) return &spqgemm_u8s8_64__avx512vnni;
#endif
  if (isa == Isa::scalar) return &spqgemm_u8s8_64__ref;
  return nullptr;
}

namespace {
std::atomic<uint64_t> sparse_calls{0};
}  // namespace

uint64_t sparse_qgemm_calls() { return sparse_calls.load(std::memory_order_relaxed); }

Status qgemm_sparse_run(const QGemmA& a, const QGemmPackedB& b, const QGemmEpilogueArgs& e,
                        uint8_t a_flip) {
  sparse_calls.fetch_add(1, std::memory_order_relaxed);
  const SparseQGemmKernel& sk = *b.sparse.kernel;
  const QGemmKernel& dense = *b.kernel;  // its epilogue finishes the sums
  const size_t m = a.m, n = b.n, k = b.k;
  const size_t lda = a.lda == 0 ? k : a.lda;
  const size_t kpad4 = (k + 3) / 4 * 4;
  const size_t m_blocks = (m + kSparseRows - 1) / kSparseRows;
  const size_t block_bytes = kpad4 * kSparseRows;

  const TransposeKernel& tr =
      transpose_kernel_for(dense.isa == Isa::amx ? Isa::avx512vnni : dense.isa);
  const size_t a_bytes = m_blocks * block_bytes;
  PackedAScratch scratch;
  if (!scratch.reserve(a_bytes, m_blocks * kSparseRows))
    return Status::oom("qgemm: could not allocate " + std::to_string(a_bytes) +
                       " bytes of packed A");
  uint8_t* const packed_a = scratch.a();
  int32_t* const row_sums = scratch.row_sums();
  const uint8_t* a_data = static_cast<const uint8_t*>(a.data);
  const size_t threads = get_num_threads();
  const bool parallel_pack = threads > 1 && m_blocks > 1 && m * k >= 64 * 1024;
  parallel_for(parallel_pack ? m_blocks : 1, [&](size_t t) {
    const size_t b0 = parallel_pack ? t : 0, b1 = parallel_pack ? t + 1 : m_blocks;
    for (size_t blk = b0; blk < b1; ++blk) {
      const size_t rows = std::min(kSparseRows, m - blk * kSparseRows);
      for (size_t r0 = 0; r0 < kSparseRows; r0 += kSparseStripRows) {
        int32_t* rs = row_sums + blk * kSparseRows + r0;
        if (r0 >= rows) {
          std::fill(rs, rs + kSparseStripRows, 0);
          continue;
        }
        sk.pack_strip(a_data + (blk * kSparseRows + r0) * lda, lda,
                      std::min(kSparseStripRows, rows - r0), k, kpad4 / 4, a_flip,
                      packed_a + blk * block_bytes + (r0 / kSparseStripRows) * (block_bytes / 4),
                      rs);
      }
    }
  });

  const size_t chunks = (n + kCols - 1) / kCols;
  const size_t want = threads <= 1 ? 1 : threads * kTasksPerThread;
  size_t n_splits = std::min(chunks, std::max<size_t>(1, (want + m_blocks - 1) / m_blocks));
  const size_t per_split = (chunks + n_splits - 1) / n_splits;
  n_splits = (chunks + per_split - 1) / per_split;
  const SparseQGemmKernel* skp = &sk;
  parallel_for(m_blocks * n_splits, [&](size_t id) {
    const size_t blk = id % m_blocks, split = id / m_blocks;
    const size_t row0 = blk * kSparseRows, rows = std::min(kSparseRows, m - row0);
    const uint8_t* a4 = packed_a + blk * block_bytes;
    const size_t strips = (rows + kSparseStripRows - 1) / kSparseStripRows;
    const int32_t* rs = row_sums + blk * kSparseRows;
    alignas(64) int32_t by_column[kCols * kSparseRows];
    alignas(64) int32_t tile[kSparseRows * kCols];
    const size_t c0 = split * per_split, c1 = std::min(chunks, c0 + per_split);
    for (size_t c = c0; c < c1; ++c) {
      const size_t col0 = c * kCols, cols = std::min(kCols, n - col0);
      skp->columns(a4, block_bytes / 4, strips, b.sparse.col_start.data(), b.sparse.group.data(),
                   b.sparse.values.data(),
                   col0, cols, by_column);
      tr.x32(reinterpret_cast<const uint32_t*>(by_column), kSparseRows,
             reinterpret_cast<uint32_t*>(tile), kCols, cols, rows);
      dense.epilogue(e, tile, kCols, rows, cols, rs, row0, col0);
    }
  });
  return Status::ok();
}

}  // namespace nq
