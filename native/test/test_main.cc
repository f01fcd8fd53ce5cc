// Native kernel tests: every ISA variant against its scalar reference twin.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest.h>

#include <cstdio>

#include "runtime/cpu.h"
#include "runtime/dispatch.h"

int main(int argc, char** argv) {
  std::printf("nquant native tests on %s; ISA levels:", nq::cpu_features().arch);
  for (nq::Isa isa : nq::supported_isas()) std::printf(" %s", nq::isa_name(isa));
  std::printf("\n");
  doctest::Context context(argc, argv);
  return context.run();
}
