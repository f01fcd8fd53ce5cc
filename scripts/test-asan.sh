#!/usr/bin/env bash
# Builds the kernels, the native test binary and the addon with AddressSanitizer +
# UndefinedBehaviorSanitizer into build-asan/, then runs under them: the native tests (every
# ISA level this CPU has, with LeakSanitizer on) and the jest suites that drive native code;
# then the load -> run -> quantize -> dispose leak loop on the regular addon. Any sanitizer
# report, test failure or memory growth fails the run.
# Usage: bash scripts/test-asan.sh [jest suite files...]   (default: the list below)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=build-asan
logs=$build/logs
mkdir -p "$logs"

# Suites that reach the native kernels through every family of binding: the ops and quantized
# op conformance, both quantizers over real models, the raw binding surface, training
# gradients (the backward kernels) and the INT4 / binary / clustering compressors.
default_suites=(
  test/binding.test.ts
  test/binding-families.test.ts
  test/conformance.test.ts
  test/quant-gemm-ops.test.ts
  test/quant-contrib-ops.test.ts
  test/onnx-quant-ops.test.ts
  test/quantize-static.test.ts
  test/quantize-dynamic.test.ts
  test/train-gradients.test.ts
  test/compress-int4.test.ts
  test/compress-binary.test.ts
  test/compress-cluster.test.ts
  test/serve-batching.test.ts
  test/compress-sparse.test.ts
  test/qdq-lookup.test.ts
  test/concurrency.test.ts
)
if [ "$#" -gt 0 ]; then suites=("$@"); else suites=("${default_suites[@]}"); fi

echo "== build ($build, NQUANT_SANITIZE=ON)"
npx cmake-js compile --out "$build" --CDNQUANT_SANITIZE=ON --CDCMAKE_BUILD_TYPE=RelWithDebInfo \
  -p "$(nproc)" >"$logs/build.log" 2>&1 || { tail -40 "$logs/build.log"; exit 1; }
addon=$root/$build/Release/nquant.node
tests=$root/$build/nquant_native_tests
# The serving pool's worker threads run the compiled dist/ code, so it must know NQUANT_ADDON.
npx tsc -p tsconfig.json

asan_runtime=$(gcc -print-file-name=libasan.so)
if [ ! -e "$asan_runtime" ]; then
  echo "test:asan: gcc has no libasan.so (looked at $asan_runtime)" >&2
  exit 1
fi

# Reports abort the process (and -fno-sanitize-recover=all makes every UBSan check fatal); the
# log grep below is a second line of defence for a report printed by a process whose exit
# status got lost (a jest worker that is respawned, a child of a child).
common_asan=halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0

check_log() {
  if grep -nE 'runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: (Address|UndefinedBehavior|Leak)Sanitizer' "$1" >"$1.reports"; then
    echo "test:asan: sanitizer reports in $1:" >&2
    head -40 "$1.reports" >&2
    status=1
  fi
}

echo "== native tests under ASan+UBSan+LSan"
start=$SECONDS
ASAN_OPTIONS=$common_asan:detect_leaks=1 "$tests" 2>&1 | tee "$logs/native.log" || status=1
check_log "$logs/native.log"
echo "native: $((SECONDS - start)) s"

echo "== jest under ASan+UBSan (${#suites[@]} suites)"
start=$SECONDS
# Node itself is not instrumented, so the runtime is preloaded ahead of it. Node keeps memory
# alive until exit by design, so leak detection is off here; the leak loop below covers the addon.
LD_PRELOAD=$asan_runtime ASAN_OPTIONS=$common_asan:detect_leaks=0 NQUANT_ADDON=$addon \
  npx jest --maxWorkers=2 "${suites[@]}" 2>&1 | tee "$logs/jest.log" || status=1
check_log "$logs/jest.log"
echo "jest: $((SECONDS - start)) s"

echo "== leak loop (release addon)"
# Measured on the regular build: ASan's allocator keeps touching fresh memory for a while
# (size-class regions, shadow, quarantine), so RSS under it grows without any leak. Leaks in
# the kernels themselves are caught exactly by LeakSanitizer in the native tests above.
start=$SECONDS
if [ ! -e build/Release/nquant.node ]; then
  echo "test:asan: the leak loop needs the regular build at build/Release/nquant.node (npm run build:native)" >&2
  status=1
else
  node --expose-gc scripts/leak-check.js 2>&1 | tee "$logs/leak.log" || status=1
fi
echo "leak loop: $((SECONDS - start)) s"

if [ "$status" -ne 0 ]; then echo "test:asan: FAILED (logs in $logs/)" >&2; fi
exit "$status"
