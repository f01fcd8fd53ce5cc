// Owning, 64-byte aligned, zero-initialised storage for packed operands.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

namespace nq {

constexpr size_t kBufferAlignment = 64;
// Packed buffers carry this much slack at the end so SIMD kernels may read a full vector
// past the last element (contract checked in tests).
constexpr size_t kOverreadPadding = 64;

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
    size_t bytes = count * sizeof(T) + kOverreadPadding;
    bytes = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
    void* p = std::aligned_alloc(kBufferAlignment, bytes);
    if (!p) return false;
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

}  // namespace nq
