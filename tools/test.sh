#!/usr/bin/env bash
# Runs nnc's whole default test suite from a clean clone: installs what is
# missing, configures, builds, and runs ctest. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build_dir=${NNC_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j2 "$@"
