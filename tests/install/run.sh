#!/usr/bin/env bash
# nnc as an installed library, from the outside: one stage per ctest test.
#   run.sh install  BUILD PREFIX SOURCE   cmake --install into a fresh PREFIX
#   run.sh headers  BUILD PREFIX SOURCE   each public header compiles alone
#   run.sh exports  BUILD PREFIX SOURCE   libnnc.so exports only the public API
#   run.sh cpp      BUILD PREFIX SOURCE   examples/host via find_package(nnc)
#   run.sh c        BUILD PREFIX SOURCE   a C program via pkg-config
#   run.sh python   BUILD PREFIX SOURCE   the Python tests against the module
#   run.sh deb      BUILD PREFIX SOURCE   cpack -G DEB: its Depends, files, and a
#                                         Python session from the unpacked tree
set -euo pipefail
stage=$1 build=$2 prefix=$3 source=$4
scratch="$build/install-tests/$stage"
rm -rf "$scratch" && mkdir -p "$scratch"
libdir=$(cd "$prefix" && ls -d lib/x86_64-linux-gnu 2>/dev/null || echo lib)

case "$stage" in
install)
  rm -rf "$prefix"
  cmake --install "$build" --prefix "$prefix" >"$scratch/install.log"
  for f in bin/nnc "$libdir"/libnnc.so include/nnc/nnc.h include/nnc/Dsl.h include/nnc/Host.h \
    include/nnc/Ops.def "$libdir"/cmake/nnc/nncConfig.cmake "$libdir"/cmake/nnc/nncConfigVersion.cmake \
    "$libdir"/pkgconfig/nnc.pc share/nnc/examples/xor.ir share/doc/nnc/IR.md; do
    [ -e "$prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
  done
  ls -l "$prefix/$libdir"/libnnc.so*
  ;;
headers)
  # Nothing under include/nnc/ may include a header that is not installed.
  for h in "$prefix"/include/nnc/*.h; do
    name=$(basename "$h")
    if [ "$name" = nnc.h ]; then
      printf '#include <nnc/nnc.h>\nint main(void) { return 0; }\n' >"$scratch/t.c"
      cc -std=c99 -Wall -Werror -pedantic -I"$prefix/include" -c "$scratch/t.c" -o "$scratch/t.o"
    fi
    printf '#include <nnc/%s>\nint main() { return 0; }\n' "$name" >"$scratch/t.cpp"
    c++ -std=c++20 -Wall -Werror -I"$prefix/include" -c "$scratch/t.cpp" -o "$scratch/t.o" ||
      { echo "include/nnc/$name does not compile on its own" >&2; exit 1; }
  done
  echo "every public header compiles alone against the prefix"
  ;;
exports)
  lib="$prefix/$libdir/libnnc.so"
  nm -D --defined-only "$lib" | awk '{print $3}' | sort -u >"$scratch/symbols"
  # C API functions (nnc_*) and the C++ API (nnc::...); nothing else but the
  # version node.
  c++filt <"$scratch/symbols" | grep -v -E '^(nnc_[a-z_]+|nnc::.*|NNC_[0-9.]+)$' \
    >"$scratch/others" || true
  if [ -s "$scratch/others" ]; then
    echo "libnnc.so exports symbols outside the public API:" >&2
    head -20 "$scratch/others" >&2
    exit 1
  fi
  c_count=$(grep -c '^nnc_' "$scratch/symbols")
  cpp_count=$(grep -c '^_Z' "$scratch/symbols" || true)
  echo "libnnc.so exports $c_count C functions and $cpp_count C++ symbols, nothing else"
  # Every function nnc.h declares is exported.
  for fn in $(grep -o 'nnc_[a-z_]*(' "$prefix/include/nnc/nnc.h" | tr -d '(' | sort -u); do
    grep -qx "$fn" "$scratch/symbols" || { echo "nnc.h declares $fn, not exported" >&2; exit 1; }
  done
  ;;
cpp)
  cmake -S "$source/examples/host" -B "$scratch" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release >"$scratch/configure.log"
  cmake --build "$scratch" >"$scratch/build.log"
  strip -o "$scratch/mlp_digits.stripped" "$scratch/mlp_digits"
  echo "mlp_digits (find_package(nnc)): $(stat -c %s "$scratch/mlp_digits") bytes," \
    "$(stat -c %s "$scratch/mlp_digits.stripped") stripped"
  LD_LIBRARY_PATH="$prefix/$libdir" "$scratch/mlp_digits" "$source/examples/data/digits.csv.gz"
  ;;
c)
  export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
  pkg-config --exists nnc
  # shellcheck disable=SC2046
  cc -std=c99 -Wall -Werror -o "$scratch/capi_test" "$source/tests/install/capi_test.c" \
    $(pkg-config --cflags --libs nnc) -Wl,-rpath,"$prefix/$libdir" -lm
  echo "capi_test (pkg-config): $(stat -c %s "$scratch/capi_test") bytes"
  "$scratch/capi_test" "$prefix/share/nnc/examples" "$scratch"
  ;;
python)
  pydir=$(cd "$prefix" && ls -d lib/python3*/dist-packages | head -1)
  cd "$scratch"
  PYTHONPATH="$prefix/$pydir" NNC_EXAMPLES="$prefix/share/nnc/examples" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider "$source/tests/python"
  ;;
deb)
  (cd "$build" && cpack -G DEB -B "$scratch" >"$scratch/cpack.log")
  deb=$(ls "$scratch"/nnc_*_amd64.deb)
  echo "$(basename "$deb"): $(stat -c %s "$deb") bytes"
  depends=$(dpkg-deb -f "$deb" Depends)
  echo "Depends: $depends"
  for need in libllvm19 libfmt9 libonnx1 libprotobuf32 python3-numpy; do
    grep -q "$need" <<<"$depends" || { echo "the package does not depend on $need" >&2; exit 1; }
  done
  dpkg-deb -x "$deb" "$scratch/root"
  root="$scratch/root/usr"
  for f in bin/nnc include/nnc/nnc.h share/nnc/examples/xor.ir; do
    [ -e "$root/$f" ] || { echo "the package lacks /usr/$f" >&2; exit 1; }
  done
  pydir=$(cd "$root" && ls -d lib/python3*/dist-packages | head -1)
  PYTHONPATH="$root/$pydir" /usr/bin/python3 -c "
import nnc, numpy as np
s = nnc.compile('$root/share/nnc/examples/xor.ir', threads=1, cache=False).session()
x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
print('from the unpacked package: nnc', nnc.version(), 'loss', s.train_step(x=x, y=x[:, :1]))
"
  ;;
*)
  echo "run.sh: unknown stage '$stage'" >&2
  exit 2
  ;;
esac
