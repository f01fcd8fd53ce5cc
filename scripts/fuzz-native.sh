#!/usr/bin/env bash
# Builds the native libFuzzer targets (fuzz/native/fuzz_*.cc) with clang, ASan and UBSan over
# the whole kernel library, seeds the corpora, and runs each target for FUZZ_SECONDS (default
# 30). Any crash, sanitizer report, timeout or out-of-memory fails the script; the input that
# caused it is left in $FUZZ_OUT/crashes (default build-fuzz/crashes) for a regression test.
#   FUZZ_SECONDS=30 bash scripts/fuzz-native.sh            # every target
#   FUZZ_RUNS=100000 FUZZ_SEED=1 bash scripts/fuzz-native.sh  # a fixed number of inputs from a fixed
#                                                             # seed: the same inputs every time (CI)
#   bash scripts/fuzz-native.sh fuzz_op_registry           # one target
#   bash scripts/fuzz-native.sh --replay FILE...           # rerun saved inputs (no fuzzing)
# Needs clang and libclang-rt (apt-get install clang libclang-rt-14-dev on Debian 12).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
build="${FUZZ_BUILD:-build-fuzz}"
out="${FUZZ_OUT:-$build/crashes}"
cc="${FUZZ_CC:-clang}"
cxx="${FUZZ_CXX:-clang++}"
if ! command -v "$cxx" >/dev/null; then
  echo "fuzz-native needs clang++ with libFuzzer (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi

# -O1 keeps the sanitizers' reports readable and the runs fast; no -fno-sanitize-recover
# needed for ASan, but UBSan must abort so libFuzzer records the input.
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Fuzz \
  -DCMAKE_CXX_FLAGS="$flags" -DNQUANT_BUILD_ADDON=OFF -DNQUANT_BUILD_TESTS=OFF -DNQUANT_BUILD_FUZZ=ON >/dev/null
targets=()
for f in fuzz/native/fuzz_*.cc; do targets+=("$(basename "$f" .cc)"); done
cmake --build "$build" --target "${targets[@]}" fuzz_make_seeds fuzz_regression_tests -j "$(nproc)" >/dev/null

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ "${1:-}" = "--replay" ]; then
  shift
  status=0
  for f in "$@"; do
    for t in "${targets[@]}"; do
      case "$(basename "$f")" in "$t"-*) "$build/$t" -runs=1 "$f" || status=1 ;; esac
    done
  done
  exit $status
fi
[ $# -gt 0 ] && targets=("$@")

# First what was found before: the doctest regressions under the sanitizers, then every saved
# crash input (fuzz/native/regressions/TARGET-name) through its target.
"$build/fuzz_regression_tests" >"$build/regression_tests.log" 2>&1 || { echo "fuzz-native: sanitized regression tests failed" >&2; tail -40 "$build/regression_tests.log"; exit 1; }
for f in fuzz/native/regressions/*; do
  [ -f "$f" ] || continue
  t="$(basename "$f")"; t="${t%%-*}"
  "$build/$t" -runs=1 "$f" >/dev/null 2>&1 || { echo "fuzz-native: regression $f fails again" >&2; "$build/$t" -runs=1 "$f" 2>&1 | grep -E 'ERROR|runtime error|SUMMARY' | head; exit 1; }
done

mkdir -p "$out"
failed=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  seeds="$build/seeds/$t"
  mkdir -p "$corpus" "$seeds"
  "$build/fuzz_make_seeds" "$t" "$seeds" >/dev/null
  log="$build/$t.log"
  if [ -n "${FUZZ_RUNS:-}" ]; then
    # A fresh corpus too: what earlier runs kept would change the inputs tried.
    corpus="$build/corpus-fixed/$t"
    rm -rf "$corpus" && mkdir -p "$corpus"
    budget=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
    echo "== $t: $FUZZ_RUNS inputs, seed ${FUZZ_SEED:-1}"
  else
    budget=(-max_total_time="$seconds")
    echo "== $t: ${seconds}s"
  fi
  if "$build/$t" "$corpus" "$seeds" "${budget[@]}" -rss_limit_mb=2048 -timeout=10 \
      -max_len=4096 -print_final_stats=1 -artifact_prefix="$out/$t-" >"$log" 2>&1; then
    grep -E '^#[0-9]+.*DONE' "$log" | tail -1 || true
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$log" || true
    echo "corpus: $(ls "$corpus" | wc -l) files"
  else
    echo "$t FAILED (log: $log)"
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -20 || true
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-native: failing targets: ${failed[*]} (inputs in $out)" >&2
  exit 1
fi
