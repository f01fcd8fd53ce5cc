#include "runtime/cpu.h"

#include <cstdint>
#include <cstring>

#if defined(NQ_ARCH_X86)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(NQ_ARCH_ARM64)
#include <sys/auxv.h>
#endif

namespace nq {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512vnni: return "avx512vnni";
    case Isa::amx: return "amx";
    case Isa::neon: return "neon";
  }
  return "unknown";
}

bool isa_from_name(const std::string& name, Isa* out) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512vnni, Isa::amx, Isa::neon}) {
    if (name == isa_name(isa)) {
      *out = isa;
      return true;
    }
  }
  return false;
}

std::vector<std::string> CpuFeatures::names() const {
  std::vector<std::string> out;
  const std::pair<bool, const char*> all[] = {
      {avx2, "avx2"},         {fma, "fma"},           {f16c, "f16c"},
      {avx512f, "avx512f"},   {avx512bw, "avx512bw"}, {avx512vl, "avx512vl"},
      {avx512dq, "avx512dq"}, {avx512vnni, "avx512vnni"}, {avx512vbmi, "avx512vbmi"},
      {amx_tile, "amx-tile"},
      {amx_int8, "amx-int8"}, {neon, "neon"},         {neon_dotprod, "dotprod"}};
  for (const auto& f : all)
    if (f.first) out.push_back(f.second);
  return out;
}

#if defined(NQ_ARCH_X86)
static uint64_t read_xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

// Linux hands out AMX tile state only to processes that ask for it (since 5.16).
static bool request_amx_permission() {
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureTileData = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureTileData) == 0;
}

static CpuFeatures detect() {
  CpuFeatures f;
  f.arch = "x64";
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27);
  const bool has_avx = c & (1u << 28);
  const bool has_fma = c & (1u << 12);
  const bool has_f16c = c & (1u << 29);
  if (!osxsave || !has_avx) return f;
  const uint64_t xcr0 = read_xcr0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;
  const bool os_tile = (xcr0 & (3ull << 17)) == (3ull << 17);
  if (!os_ymm) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = (b & (1u << 5)) != 0;
  f.fma = has_fma;
  f.f16c = has_f16c;
  if (os_zmm) {
    f.avx512f = b & (1u << 16);
    f.avx512dq = b & (1u << 17);
    f.avx512bw = b & (1u << 30);
    f.avx512vl = b & (1u << 31);
    f.avx512vnni = c & (1u << 11);
    f.avx512vbmi = c & (1u << 1);
  }
  const bool cpu_amx_tile = d & (1u << 24);
  const bool cpu_amx_int8 = d & (1u << 25);
  if (os_tile && cpu_amx_tile && cpu_amx_int8 && request_amx_permission()) {
    f.amx_tile = true;
    f.amx_int8 = true;
  }
  return f;
}
#elif defined(NQ_ARCH_ARM64)
static CpuFeatures detect() {
  CpuFeatures f;
  f.arch = "arm64";
  f.neon = true;  // mandatory in AArch64
  const unsigned long hw = getauxval(AT_HWCAP);
  f.neon_dotprod = hw & (1ul << 20);  // HWCAP_ASIMDDP
  return f;
}
#else
static CpuFeatures detect() { return CpuFeatures{}; }
#endif

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return f.avx2 && f.fma && f.f16c;
    case Isa::avx512vnni:
      return isa_supported(Isa::avx2) && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq &&
             f.avx512vnni;
    case Isa::amx: return isa_supported(Isa::avx512vnni) && f.amx_tile && f.amx_int8;
    case Isa::neon: return f.neon;
  }
  return false;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::amx, Isa::avx512vnni, Isa::avx2, Isa::neon, Isa::scalar})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

}  // namespace nq
