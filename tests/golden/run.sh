#!/usr/bin/env bash
# Golden IR tests: for each tests/golden/*.ir, run `nnc opt FILE --passes=P`
# (P from its `# PASSES:` line) and check the printed graph against the
# file's `# CHECK:` lines with FileCheck. Usage: run.sh SOURCE_DIR
set -uo pipefail
src=${1:?source dir}
nnc=${NNC:?path to nnc}
filecheck=${FILECHECK:-/usr/lib/llvm-19/bin/FileCheck}
if [ ! -x "$filecheck" ]; then
  echo "FileCheck not found at $filecheck (install llvm-19-tools)"
  exit 1
fi
passed=0
failed=0
for f in "$src"/tests/golden/*.ir; do
  passes=$(sed -n 's/^# PASSES: *//p' "$f" | head -n 1)
  if [ -z "$passes" ]; then
    echo "FAIL: $f has no '# PASSES:' line"
    failed=$((failed + 1))
    continue
  fi
  if "$nnc" opt "$f" --passes="$passes" | "$filecheck" --match-full-lines=false \
      --comment-prefixes=NOTE --check-prefix=CHECK "$f"; then
    passed=$((passed + 1))
  else
    echo "FAIL: $(basename "$f") (--passes=$passes)"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
