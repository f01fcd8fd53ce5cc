#!/usr/bin/env bash
# libFuzzer over the JS decoders (fuzz/js): each target runs FUZZ_SECONDS (default 60) under
# -rss_limit_mb=2048 -timeout=10, seeded with a corpus generated now (fuzz/js/seeds.js) plus
# whatever earlier runs kept in $FUZZ_OUT/<target>/corpus. Crash, timeout and OOM inputs land
# in $FUZZ_OUT/<target>/crashes/; the script exits 1 when any target found one.
#   scripts/fuzz-js.sh                    all targets
#   scripts/fuzz-js.sh npy infer-request  some of them
# A self-test first checks that coverage feedback works. Needs clang and libclang-rt-14-dev
# (Debian) for the bridge, and dist/ (built when stale).
set -uo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
OUT="${FUZZ_OUT:-fuzz-out/js}"
ALL=(onnx-loader onnx-plan tensor-pb npy feeds-json infer-request)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${ALL[@]}"); fi

bridge=fuzz/js/bridge/build/fuzz_js_bridge.node
if [ ! -f "$bridge" ] || [ fuzz/js/bridge/bridge.cc -nt "$bridge" ]; then
  bash fuzz/js/bridge/build.sh || exit 2
fi
# Fuzzing stale JS would report on code that no longer exists.
if [ ! -f dist/lib/index.js ] || [ -n "$(find lib -name '*.ts' -newer dist/lib/index.js -print -quit)" ]; then
  echo "fuzz-js: compiling dist/ (npx tsc -p tsconfig.json)"
  npx tsc -p tsconfig.json || exit 2
fi

# Blind fuzzing looks just like fuzzing that finds nothing: first check that coverage
# guides the fuzzer to the bug planted behind five magic bytes (seconds; blind: never).
selftest="$(mktemp -d)"
start=$(date +%s)
if node fuzz/js/run.js selftest-magic -max_total_time=120 -print_final_stats=1 -artifact_prefix="$selftest/" >"$selftest/log" 2>&1; then
  echo "fuzz-js: self-test FAILED: the planted bug was not found in 120 s, coverage feedback is broken ($selftest/log)" >&2
  exit 2
fi
if ! grep -q 'Cannot read properties of undefined' "$selftest/log"; then
  echo "fuzz-js: self-test FAILED: the fuzzer stopped without finding the planted bug ($selftest/log)" >&2
  exit 2
fi
echo "fuzz-js: self-test: coverage led to the planted bug in $(( $(date +%s) - start ))s, $(sed -n 's/^stat::number_of_executed_units: *//p' "$selftest/log") inputs"
rm -rf "$selftest"

seeds_root="$(mktemp -d)"
trap 'rm -rf "$seeds_root"' EXIT
failed=0
summary=()
for t in "${targets[@]}"; do
  dir="$OUT/$t"
  mkdir -p "$dir/corpus" "$dir/crashes"
  node fuzz/js/seeds.js "$t" "$seeds_root/$t" || exit 2
  dict=()
  [ -f "$seeds_root/$t.dict" ] && dict=("-dict=$seeds_root/$t.dict")
  echo "fuzz-js: $t for ${SECONDS_PER_TARGET}s (log $dir/log)"
  start=$(date +%s)
  node fuzz/js/run.js "$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/crashes/" "${dict[@]}" "$dir/corpus" "$seeds_root/$t" >"$dir/log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log")
  corp=$(grep -o 'corp: [0-9]*/[0-9]*[bKM]*' "$dir/log" | tail -1 | sed 's/corp: //')
  cov=$(node fuzz/js/coverage.js "$t" "$dir/corpus" "$seeds_root/$t" | sed 's/^[^:]*: //')
  if [ $rc -ne 0 ]; then
    failed=1
    artifact=$(sed -n "s/.*Test unit written to //p" "$dir/log" | tail -1)
    grep -A4 '==JS FINDING==' "$dir/log" | head -5
    grep -E '^(ALARM|==[0-9]+== ERROR)' "$dir/log" | head -2
    summary+=("$t: FOUND (exit $rc) after ${took}s, ${execs:-?} execs: ${artifact:-see $dir/log}")
  else
    summary+=("$t: ${took}s, ${execs} execs, ${rate} exec/s, corpus ${corp}, $cov")
  fi
done
echo
printf '%s\n' "${summary[@]}"
exit $failed
