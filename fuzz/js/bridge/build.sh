#!/usr/bin/env bash
# Builds fuzz/js/bridge/build/fuzz_js_bridge.node with clang and Debian's libFuzzer (no main).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
CXX="${CXX_FUZZ:-clang++}"
CC_FOR_RT="${CC_FUZZ:-clang}"
fuzzer_lib="$($CC_FOR_RT -print-file-name=libclang_rt.fuzzer_no_main-x86_64.a)"
if [ ! -f "$fuzzer_lib" ]; then
  # clang 14 on Debian answers with the bare name when it has no such file: search its tree.
  fuzzer_lib="$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | sort -V | tail -1 || true)"
fi
if [ ! -f "$fuzzer_lib" ]; then
  echo "build.sh: libclang_rt.fuzzer_no_main-x86_64.a not found: apt-get install clang libclang-rt-14-dev (or libclang-rt-dev)" >&2
  exit 1
fi
node_include="$(node -p "require('path').join(process.execPath, '..', '..', 'include', 'node')")"
if [ ! -f "$node_include/node_api.h" ]; then node_include="$root/node_modules/node-api-headers/include"; fi
addon_include="$(cd "$root" && node -p "require('path').resolve(require('node-addon-api').include_dir)")"
mkdir -p "$here/build"
"$CXX" -std=c++17 -O2 -g -fPIC -shared -Wall -Wextra \
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
  -I"$node_include" -I"$addon_include" \
  "$here/bridge.cc" "$fuzzer_lib" -lpthread \
  -o "$here/build/fuzz_js_bridge.node"
echo "built $here/build/fuzz_js_bridge.node with $fuzzer_lib"
