// Owning, 64-byte aligned, zero-initialised storage for packed operands.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace nq {

constexpr size_t kBufferAlignment = 64;
// Packed buffers carry this much slack at the end so SIMD kernels may read a full vector
// past the last element (contract checked in tests).
constexpr size_t kOverreadPadding = 64;
// Large buffers (packed weights, arenas) are placed on 2 MiB boundaries and offered to the
// kernel as transparent huge pages: streaming 16 MB of weights through 4 KiB pages costs
// thousands of TLB misses per call, which showed as a ~1.4x slower GEMV after an idle gap.
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugePageMinBytes = 2 * kHugePage;

template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t count) { reset(count); }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = o.data_;
      size_ = o.size_;
      o.data_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }

  // Returns false when memory is exhausted; the buffer is then empty.
  bool reset(size_t count) {
    std::free(data_);
    data_ = nullptr;
    size_ = 0;
    if (count == 0) return true;
    if (count > (SIZE_MAX - kHugePage - kOverreadPadding) / sizeof(T)) return false;
    size_t bytes = count * sizeof(T) + kOverreadPadding;
    const size_t align = bytes >= kHugePageMinBytes ? kHugePage : kBufferAlignment;
    bytes = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, bytes);
    if (!p) return false;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == kHugePage) madvise(p, bytes, MADV_HUGEPAGE);  // a hint; failure is harmless
#endif
    std::memset(p, 0, bytes);
    data_ = static_cast<T*>(p);
    size_ = count;
    return true;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

// Zeroed scratch for one kernel call, taken from a buffer the calling thread keeps (`reused`,
// a thread_local of the call site) rather than from a fresh allocation. When calls alternate
// with other work's allocations (an event loop's, between async calls on the main thread),
// malloc trims its heap in between and each call's scratch pages fault in anew: that cost
// ~30 us per 1x4096x4096 INT8 GEMV here. Requests above kMaxReusedBytes get their own buffer,
// so an idle thread never holds more than that per call site.
template <typename T>
class CallScratch {
 public:
  static constexpr size_t kMaxReusedBytes = size_t{4} << 20;

  // Returns false when memory is exhausted.
  bool reset(AlignedBuffer<T>& reused, size_t count) {
    if (count > kMaxReusedBytes / sizeof(T)) {
      buf_ = &own_;
      return own_.reset(count);
    }
    buf_ = &reused;
    if (reused.size() < count && !reused.reset(count)) return false;
    if (count) std::memset(static_cast<void*>(reused.data()), 0, count * sizeof(T));
    return true;
  }

  T* data() { return buf_->data(); }
  T& operator[](size_t i) { return buf_->data()[i]; }

 private:
  AlignedBuffer<T> own_;
  AlignedBuffer<T>* buf_ = &own_;
};

}  // namespace nq
