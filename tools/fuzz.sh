#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang-19 in build-fuzz/ and
# runs each for a bounded time, starting from its seed corpus
# tests/fuzz/corpus/<target>/ and the malformed inputs
# tests/fuzz/malformed/<target>/. Any crash, hang, leak or out-of-memory
# input is copied to tests/fuzz/regressions/<target>/ (replayed from then on by the
# FuzzRegression unit test) and the script fails.
#
#   tools/fuzz.sh                 every target, FUZZ_SECONDS (30) each
#   tools/fuzz.sh npy csv         only these targets
#   FUZZ_SECONDS=20               time per target
#   NNC_FUZZ_DIR=DIR              another build directory
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${NNC_FUZZ_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-30}
lock=${NNC_BUILD_LOCK:-/tmp/nnc-build.lock}
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(parser npy safetensors idx csv onnx)

cc=${NNC_FUZZ_CC:-clang-19}
cxx=${NNC_FUZZ_CXX:-clang++-19}
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DNNC_FUZZ=ON -DNNC_BUILD_TESTS=OFF \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
fi
flock "$lock" cmake --build "$build_dir" -j2 --target $(printf 'fuzz_%s ' "${targets[@]}")

failed=()
for t in "${targets[@]}"; do
  seeds=$root/tests/fuzz/corpus/$t
  work=$build_dir/corpus/$t
  artifacts=$build_dir/artifacts/$t
  mkdir -p "$work" "$artifacts"
  rm -f "$artifacts"/*
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024
           -print_final_stats=1 -artifact_prefix="$artifacts/")
  [ -f "$root/tests/fuzz/$t.dict" ] && options+=(-dict="$root/tests/fuzz/$t.dict")
  # Every parse registers its text for the life of the process (SourceFile),
  # so each input looks like a possible leak and libFuzzer would run a full
  # LeakSanitizer scan after it (20x slower). The sanitizer build's tests
  # check the parser for leaks instead.
  [ "$t" = parser ] && options+=(-detect_leaks=0)
  log=$build_dir/fuzz-$t.log
  status=0
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    "$build_dir/fuzz_$t" "${options[@]}" "$work" "$seeds" "$root/tests/fuzz/malformed/$t" >"$log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  echo "fuzz: $t: ${runs:-?} executions in ${seconds} s, corpus $(ls "$work" | wc -l) inputs"
  if [ "$status" != 0 ] || ls "$artifacts" | grep -q .; then
    mkdir -p "$root/tests/fuzz/regressions/$t"
    for f in "$artifacts"/*; do
      [ -f "$f" ] || continue
      cp "$f" "$root/tests/fuzz/regressions/$t/$(basename "$f")"
      echo "fuzz: $t: new regression input tests/fuzz/regressions/$t/$(basename "$f")"
    done
    grep -E 'ERROR|SUMMARY|fuzz target:|runtime error' "$log" | head -5 || true
    echo "fuzz: $t: FAILED (log: $log)"
    failed+=("$t")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets clean"
