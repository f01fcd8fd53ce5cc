// A spin-wait hint: lets the core's sibling thread and its power logic know this loop only
// polls. Shared by the thread pool's workers and the plan thread.
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace nq {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

}  // namespace nq
