#!/usr/bin/env bash
# nnc's one set-up script: installs what a fresh Debian 12 machine lacks, then
# configures and builds. Idempotent: run it as often as you like.
#
#   tools/setup.sh            packages for building, testing and the main job
#   tools/setup.sh --bench    also the benchmark comparators (PyTorch, oneDNN)
#   tools/setup.sh --no-build only install packages
#   NNC_WERROR=ON             configure with warnings as errors (CI does)
set -euo pipefail
cd "$(dirname "$0")/.."

want_bench=0
want_build=1
build_dir=${NNC_BUILD_DIR:-build}
for arg in "$@"; do
  case "$arg" in
    --bench) want_bench=1 ;;
    --no-build) want_build=0 ;;
    *) echo "setup.sh: unknown option '$arg'" >&2; exit 1 ;;
  esac
done

packages=(
  g++ cmake ninja-build pkg-config
  llvm-19-dev llvm-19-tools libfmt-dev libboost-graph-dev zlib1g-dev
  libonnx-dev libprotobuf-dev libonnx-testdata
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  clang-19 libclang-rt-19-dev clang-format-19
  python3 python3-numpy python3-torch python3-onnx python3-pytest
  dpkg-dev file
  openmpi-bin libopenmpi-dev
  librsvg2-bin
  dataset-fashion-mnist fortunes
)
if [ "$want_bench" = 1 ]; then
  packages+=(libdnnl-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$want_build" = 1 ]; then
  if [ ! -f "$build_dir/build.ninja" ]; then
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${NNC_BUILD_TYPE:-RelWithDebInfo} \
      -DNNC_WARNINGS_AS_ERRORS=${NNC_WERROR:-OFF}
  elif [ -n "${NNC_WERROR:-}" ]; then
    cmake -S . -B "$build_dir" -DNNC_WARNINGS_AS_ERRORS="$NNC_WERROR" >/dev/null
  fi
  cmake --build "$build_dir"
fi
