// CPU feature detection: what the processor has and what the OS lets us use.
#pragma once
#include <string>
#include <vector>

namespace nq {

// Ordered: a level implies everything below it on its architecture.
enum class Isa { scalar = 0, avx2 = 1, avx512vnni = 2, amx = 3, neon = 10 };

const char* isa_name(Isa isa);
bool isa_from_name(const std::string& name, Isa* out);

struct CpuFeatures {
  const char* arch = "unknown";  // "x64" or "arm64", as Node's process.arch says
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false;
  bool avx512vbmi = false;  // byte permutes (the 256-entry table lookup); not part of any level
  bool amx_tile = false, amx_int8 = false;  // includes the OS granting tile state
  bool neon = false, neon_dotprod = false;
  std::vector<std::string> names() const;
};

// Detected once, on first use; cheap afterwards.
const CpuFeatures& cpu_features();

// Every ISA level this CPU and OS can run, best first, scalar last.
std::vector<Isa> supported_isas();
bool isa_supported(Isa isa);

}  // namespace nq
