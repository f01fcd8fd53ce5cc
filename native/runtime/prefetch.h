// Software prefetch of a byte range, in a form the optimizer keeps.
#pragma once
#include <cstddef>

namespace nq {

// GCC at -O2 takes every C++ loop to terminate (-ffinite-loops) and deletes a loop without
// side effects; a prefetch is not one, so a bare loop of __builtin_prefetch compiles to
// nothing (gcc 12 did so to this project's first prefetch loops). The empty volatile asm
// gives each iteration a side effect: the loop and its prefetches stay.
inline void prefetch_lines_for_read(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t b = 0; b < bytes; b += 64) {
    __builtin_prefetch(c + b, 0, 3);
    asm volatile("");
  }
}

inline void prefetch_lines_for_write(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t b = 0; b < bytes; b += 64) {
    __builtin_prefetch(c + b, 1, 3);
    asm volatile("");
  }
}

}  // namespace nq
