#!/usr/bin/env bash
# Formats every tracked C and C++ source with clang-format 19 (.clang-format).
#
#   tools/format.sh           rewrite the files in place
#   tools/format.sh --check   change nothing; list the files that differ and
#                             exit 1 if any does (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
formatter=${CLANG_FORMAT:-clang-format-19}
command -v "$formatter" >/dev/null || {
  echo "format.sh: $formatter not found (tools/setup.sh installs clang-format-19)" >&2
  exit 1
}
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.c')
if [ "${1:-}" = "--check" ]; then
  if ! "$formatter" --dry-run --Werror "${files[@]}" 2>/tmp/nnc-format.$$; then
    grep -o '^[^:]*:[0-9]*:[0-9]*: error' /tmp/nnc-format.$$ | cut -d: -f1 | sort -u |
      sed 's/^/format.sh: not formatted: /' >&2
    rm -f /tmp/nnc-format.$$
    echo "format.sh: run tools/format.sh to fix" >&2
    exit 1
  fi
  rm -f /tmp/nnc-format.$$
  echo "format: ${#files[@]} files clean"
else
  "$formatter" -i "${files[@]}"
fi
