#!/usr/bin/env bash
# Builds the whole tree with AddressSanitizer + UndefinedBehaviorSanitizer
# (LeakSanitizer on) and with assertions enabled (no -DNDEBUG: the C++
# library's and nnc's remaining asserts run too) in its own directory, and
# runs the test suite under it. JIT-compiled code is not instrumented; the
# code that compiles it is.
#
#   tools/sanitize.sh              build build-asan/ and run ctest
#   NNC_ASAN_DIR=DIR               another build directory
#   Extra arguments go to ctest.
#
# Tests matching a pattern in tools/sanitize.exclude are skipped (none
# today); that is the place for long end-to-end runs if the step outgrows
# the CI budget.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${NNC_ASAN_DIR:-build-asan}
lock=${NNC_BUILD_LOCK:-/tmp/nnc-build.lock}
start=$(date +%s)

if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNNC_SANITIZE=ON \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" >/dev/null
fi
flock "$lock" cmake --build "$build_dir" -j2
built=$(date +%s)

# halt_on_error: a report fails the test that caused it. detect_leaks: LSan
# (tools/lsan.supp holds suppressions, none needed today).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tools/lsan.supp:print_suppressions=0}
exclude=$(cat tools/sanitize.exclude 2>/dev/null | grep -v '^#' | grep . | paste -sd'|' || true)
if [ -n "$exclude" ]; then
  ctest --test-dir "$build_dir" --output-on-failure -j2 -E "$exclude" "$@"
else
  ctest --test-dir "$build_dir" --output-on-failure -j2 "$@"
fi
end=$(date +%s)
echo "sanitize: build $((built - start)) s, tests $((end - built)) s"
