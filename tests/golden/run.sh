#!/usr/bin/env bash
# Golden IR tests: for each tests/golden/*.ir, run `nnc opt FILE --passes=P`
# (P from its `# PASSES:` line; `default` runs the default pipeline) with the
# options of its `# OPTIONS:` line, and check the output against the file's
# `# CHECK:` lines with FileCheck. Usage: run.sh SOURCE_DIR
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
  options=$(sed -n 's/^# OPTIONS: *//p' "$f" | head -n 1)
  pass_option=--passes="$passes"
  [ "$passes" = default ] && pass_option=
  # shellcheck disable=SC2086 # the options are words
  if "$nnc" opt "$f" $pass_option $options | "$filecheck" --match-full-lines=false \
      --comment-prefixes=NOTE --check-prefix=CHECK "$f"; then
    passed=$((passed + 1))
  else
    echo "FAIL: $(basename "$f") (--passes=$passes)"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
