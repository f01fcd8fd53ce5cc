#include "runtime/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "kernels/dwconv.h"
#include "kernels/im2col.h"
#include "kernels/int4.h"
#include "kernels/qgemm.h"
#include "kernels/quantize.h"
#include "kernels/sgemm.h"

namespace nq {

// Each family's pick: the best variant at or below `isa`. A family edits only its own pick.

static const QGemmKernel* pick_qgemm(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx: return &qgemm_u8s8_32x32__amx;
    case Isa::avx512vnni: return &qgemm_u8s8_8x32__avx512vnni;
    case Isa::avx2: return &qgemm_u8s8_6x16__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
    case Isa::neon: return &qgemm_u8s8_4x16__neon;
#endif
    default: return &qgemm_u8s8_4x16__ref;
  }
}

static const SGemmKernel* pick_sgemm(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx:  // no AMX FP32 path: AMX machines have AVX-512
    case Isa::avx512vnni: return &sgemm_f32_14x32__avx512;
    case Isa::avx2: return &sgemm_f32_6x16__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
    case Isa::neon: return &sgemm_f32_8x12__neon;
#endif
    default: return &sgemm_f32_4x16__ref;
  }
}

static const QuantKernels* pick_quant(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx:
    case Isa::avx512vnni: return &quant_f32__avx512;
    case Isa::avx2: return &quant_f32__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
    case Isa::neon: return &quant_f32__neon;
#endif
    default: return &quant_f32__ref;
  }
}

static const Int4GemmKernel* pick_int4(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx:
    case Isa::avx512vnni: return &q4gemm_f32_16x8__avx512vnni;
    case Isa::avx2: return &q4gemm_f32_16x8__avx2;
#endif
#if defined(NQ_ARCH_ARM64)
    case Isa::neon: return &q4gemm_f32_16x8__neon;
#endif
    default: return &q4gemm_f32_16x8__ref;
  }
}

static const DwConvKernel* pick_dwconv(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx:
    case Isa::avx512vnni: return &dwconv_f32_row__avx512;
    case Isa::avx2: return &dwconv_f32_row__avx2;
#endif
    default: return &dwconv_f32_row__ref;
  }
}

// The SIMD panel writers also need a panel width they handle; im2col_kernel_for checks it.
static const Im2colKernel* pick_im2col(Isa isa) {
  switch (isa) {
#if defined(NQ_ARCH_X86)
    case Isa::amx:
    case Isa::avx512vnni: return &im2col_f32_panel__avx512;
#endif
    default: return &im2col_f32_panel__ref;
  }
}

namespace {

constexpr Isa kAllIsas[] = {Isa::scalar, Isa::avx2, Isa::avx512vnni, Isa::amx, Isa::neon};

struct Registry {
  KernelTable tables[sizeof(kAllIsas) / sizeof(kAllIsas[0])];
  std::atomic<const KernelTable*> active{nullptr};
  std::string note;

  Registry() {
    for (size_t i = 0; i < sizeof(kAllIsas) / sizeof(kAllIsas[0]); ++i) {
      const Isa isa = kAllIsas[i];
      tables[i] = KernelTable{isa,           pick_qgemm(isa),  pick_sgemm(isa), pick_quant(isa),
                              pick_int4(isa), pick_dwconv(isa), pick_im2col(isa)};
    }
    Isa chosen = supported_isas().front();
    if (const char* env = std::getenv("NQUANT_ISA")) {
      Isa wanted;
      if (!isa_from_name(env, &wanted)) {
        note = std::string("NQUANT_ISA='") + env +
               "' is not one of scalar, avx2, avx512vnni, amx, neon; using " + isa_name(chosen);
      } else if (!isa_supported(wanted)) {
        note = std::string("NQUANT_ISA=") + env + " is not supported by this CPU; using " +
               isa_name(chosen);
      } else {
        chosen = wanted;
      }
    }
    active.store(&table(chosen));
  }

  const KernelTable& table(Isa isa) const {
    for (size_t i = 0; i < sizeof(kAllIsas) / sizeof(kAllIsas[0]); ++i)
      if (kAllIsas[i] == isa) return tables[i];
    return tables[0];
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

const KernelTable& kernels_for(Isa isa) { return registry().table(isa); }
const KernelTable& active_kernels() { return *registry().active.load(); }
Isa active_isa() { return active_kernels().isa; }
const std::string& isa_request_note() { return registry().note; }

bool set_active_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  registry().active.store(&registry().table(isa));
  return true;
}

}  // namespace nq
