# Helpers shared by the command-line test scripts (sourced, not run).
# Each script sets `nnc` and `src`, then calls these; `finish` ends it.
set -uo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
py=/usr/bin/python3
# Compiled code goes to a cache of this run's own.
export NNC_CACHE_DIR="$work/cache"

pass() { passed=$((passed + 1)); }
failure() { failed=$((failed + 1)); echo "FAIL: $*"; }

# expect_status CODE DESCRIPTION -- COMMAND...
expect_status() {
  local want=$1 what=$2; shift 3
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" = "$want" ]; then pass; else failure "$what: exit $got, wanted $want"; cat "$work/err"; fi
}
# expect_in FILE TEXT DESCRIPTION
expect_in() {
  if grep -qF -- "$2" "$1"; then pass; else failure "$3: '$2' not in $1:"; cat "$1"; fi
}
# expect_not_in FILE TEXT DESCRIPTION
expect_not_in() {
  if grep -qF -- "$2" "$1"; then failure "$3: '$2' is in $1:"; cat "$1"; else pass; fi
}
# expect_true DESCRIPTION -- COMMAND...: the command succeeds (output hidden)
expect_true() {
  local what=$1; shift 2
  if "$@" >"$work/check.out" 2>&1; then pass; else failure "$what"; cat "$work/check.out"; fi
}
# check_py DESCRIPTION ARGS... <<'PY' ... PY: a Python check reading stdin
check_py() {
  local what=$1; shift
  if "$py" - "$@" >"$work/check.out" 2>&1; then pass; else failure "$what"; cat "$work/check.out"; fi
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}
