#!/usr/bin/env bash
# The compile cache seen from the command line: damaged entries are caught,
# recompiled and replaced (never copied out by `nnc compile`, never run),
# and an unsafe cache folder is not used. Usage: cache_test.sh NNC SOURCE_DIR
nnc=${1:?path to nnc}
src=${2:?source dir}
source "$src/tests/cli/lib.sh"
xor="$src/examples/xor.ir"

expect_status 0 "compile fills the cache" -- "$nnc" compile "$xor" -o "$work/a.o"
entry=$(ls "$NNC_CACHE_DIR"/*.o)
head -c 2000 "$entry" >"$work/half" && cp "$work/half" "$entry"
expect_status 0 "compile with a truncated cache entry" -- "$nnc" compile "$xor" -o "$work/b.o"
expect_in "$work/err" "was damaged (it is truncated): removed; compiling again" "the damage is reported"
if cmp -s "$work/a.o" "$work/b.o"; then pass; else failure "the object is whole, as compiled fresh"; fi
expect_status 0 "the replaced entry serves the next compile" -- "$nnc" compile "$xor" -o "$work/c.o"
expect_not_in "$work/err" "warning" "no warning once replaced"
if cmp -s "$work/a.o" "$work/c.o"; then pass; else failure "the replaced entry is whole"; fi

# A byte flipped in the middle of the code: caught, never run.
"$py" - "$entry" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0xff
open(p, "wb").write(b)
PY
expect_status 0 "compile with a flipped byte in the cached code" -- "$nnc" compile "$xor" -o "$work/d.o"
expect_in "$work/err" "its checksum does not match its bytes" "the flip is reported"
if cmp -s "$work/a.o" "$work/d.o"; then pass; else failure "the flipped entry is not copied out"; fi

# A cache folder open to everyone is not used, and says so.
mkdir -p "$work/open" && chmod 777 "$work/open"
NNC_CACHE_DIR="$work/open" expect_status 0 "compile with a world-writable cache" -- "$nnc" compile "$xor" -o "$work/e.o"
expect_in "$work/err" "not using the compile cache $work/open: it is writable by others" "the folder is refused"
if [ -z "$(ls -A "$work/open")" ]; then pass; else failure "nothing is written to a refused cache folder"; fi

finish
