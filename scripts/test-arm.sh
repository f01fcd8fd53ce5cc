#!/usr/bin/env bash
# Builds the native kernel tests for AArch64 and runs them under qemu, so the NEON path is
# exercised on every test run even on x86 machines.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  echo "test:arm needs g++-aarch64-linux-gnu and qemu-user (apt-get install g++-aarch64-linux-gnu qemu-user)" >&2
  exit 1
fi
build=build/arm64
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-toolchain.cmake \
  -DNQUANT_BUILD_ADDON=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target nquant_native_tests -j "$(nproc)" >/dev/null
qemu-aarch64 -L /usr/aarch64-linux-gnu "$build/nquant_native_tests" "$@"
