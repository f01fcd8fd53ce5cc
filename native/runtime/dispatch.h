// The one place that maps the CPU to kernels. Filled once; tests and benchmarks may ask
// for any supported level's table to compare variants side by side.
#pragma once
#include <string>

#include "runtime/cpu.h"

namespace nq {

struct QGemmKernel;
struct SGemmKernel;
struct QuantKernels;
struct Int4GemmKernel;
struct DwConvKernel;
struct Im2colKernel;

struct KernelTable {
  Isa isa;
  const QGemmKernel* qgemm;
  const SGemmKernel* sgemm;
  const QuantKernels* quant;
  const Int4GemmKernel* int4;
  const DwConvKernel* dwconv;
  const Im2colKernel* im2col;
};

// The table for one ISA level: each family takes its best variant at or below that level
// (the scalar reference where a family has no SIMD variant). isa must be supported.
const KernelTable& kernels_for(Isa isa);

// The table in use: the best supported level, or NQUANT_ISA's when set (clamped to what the
// CPU can run; see isa_request_note()).
const KernelTable& active_kernels();
Isa active_isa();
// Switches the active level at run time (tests, benchmarks). False if unsupported.
bool set_active_isa(Isa isa);
// Why the active level differs from the one NQUANT_ISA asked for; empty when it does not.
const std::string& isa_request_note();

}  // namespace nq
