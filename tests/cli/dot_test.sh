#!/usr/bin/env bash
# `nnc dot`: fused ops drawn as clusters of the operations they fused, and
# output that stays well-formed DOT. Usage: dot_test.sh NNC [SOURCE_DIR]
# (NNC may also come from the environment, as for run.sh; SOURCE_DIR
# defaults to the checkout this script is in).
set -uo pipefail
nnc=${1:-${NNC:?path to nnc}}
src=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

pass() { passed=$((passed + 1)); }
failure() { failed=$((failed + 1)); echo "FAIL: $*"; }
# check DESCRIPTION -- COMMAND...: passes when COMMAND succeeds
check() {
  local what=$1; shift 2
  if "$@"; then pass; else failure "$what"; fi
}

# both_in TEXT1 TEXT2 FILE: some line of FILE holds both texts
both_in() { grep -F -- "$1" "$3" | grep -qF -- "$2"; }
# in_one_cluster PART1 PART2 CLUSTERS: some cluster (as `clusters` lists) has both parts
in_one_cluster() { grep -E ":$1[,|]" "$3" | grep -qE ":$2[,|]"; }

# The clusters of a DOT file, one line each: "LABEL|id:part,id:part,...|a->b,..."
# (Boost writes each cluster's `graph [...]` line, then its nodes and edges).
clusters() {
  awk '
    /^subgraph cluster/ { inside = 1; label = ""; parts = ""; edges = ""; next }
    inside && /^}/ { print label "|" parts "|" edges; inside = 0; next }
    inside && /^[a-z]+=/ { match($0, /label="[^"]*"/); label = substr($0, RSTART + 7, RLENGTH - 8) }
    inside && /^[0-9]+\[/ {
      match($0, /label="[^"]*"/)
      parts = parts (parts == "" ? "" : ",") $0 + 0 ":" substr($0, RSTART + 7, RLENGTH - 8)
    }
    inside && /^[0-9]+ -> [0-9]+/ { edges = edges (edges == "" ? "" : ",") $1 "->" $3 + 0 }
  ' "$1"
}

# Well-formed: braces balance; every node is defined once; every edge joins
# defined nodes; no bare DOT keyword as a value; `dot` accepts it if installed.
well_formed() {
  local f=$1
  [ "$(head -1 "$f")" = "digraph G {" ] && [ "$(tail -1 "$f")" = "}" ] || return 1
  [ "$(grep -c '{$' "$f")" = "$(grep -c '^}$' "$f")" ] || return 1
  [ -z "$(grep -oE '^[0-9]+\[' "$f" | sort | uniq -d)" ] || return 1
  grep -oE '^[0-9]+\[' "$f" | tr -d '[' | sort -u >"$work/defined"
  grep -E '^[0-9]+ -> [0-9]+' "$f" | awk '{print $1; print $3 + 0}' | sort -u >"$work/used"
  [ -z "$(comm -13 "$work/defined" "$work/used")" ] || return 1
  ! grep -qiE '=(node|edge|graph|digraph|subgraph|strict)[],]' "$f" || return 1
  if command -v dot >/dev/null; then dot -Tsvg "$f" >/dev/null || return 1; fi
}

# The default pipeline: one cluster per fused op that `nnc opt` prints.
mlp=$src/examples/mlp.ir
check "dot mlp --pipeline=train" -- "$nnc" dot "$mlp" --pipeline=train -o "$work/train.dot"
check "opt mlp" -- "$nnc" opt "$mlp" -o "$work/train.ir"
fused=$(grep -cE '= fused_[a-z_]+\(' "$work/train.ir")
nclusters=$(grep -c '^subgraph cluster_' "$work/train.dot")
check "a cluster per fused op ($nclusters clusters, $fused fused ops)" -- \
  test "$fused" -gt 0 -a "$nclusters" = "$fused"
check "training step is well-formed DOT" -- well_formed "$work/train.dot"
clusters "$work/train.dot" >"$work/clusters"

# fused_matmul(h1...) = relu(matmul + bias): a chain inside one cluster,
# labelled with result, op, type and source line.
h1=$(grep -E '^h1 = fused_matmul\\nf32\[B, 256\]\\n[^|]*mlp\.ir:27[|]' "$work/clusters")
check "h1's cluster: matmul -> add (bias) -> relu" -- \
  grep -qE '[|]([0-9]+):matmul,([0-9]+):add \(bias\),([0-9]+):relu[|]\1->\2,\2->\3$' <<<"$h1"
check "relu and matmul nodes inside one cluster" -- in_one_cluster relu matmul "$work/clusters"
# Inputs enter where they are read; the result leaves from the last part.
id() { sed -E "s/.*[|,]([0-9]+):$1[,|].*/\1/" <<<"$2"; }
decl() { grep -F "label=\"$1\\n" "$work/train.dot" | grep -oE '^[0-9]+'; }
pixels=$(grep -F 'pixels = fused_elementwise' "$work/clusters")
check "x enters the pixels' sub" -- grep -qx "$(decl 'input x') -> $(id 'sub \(0\.286\)' "$pixels");" "$work/train.dot"
check "pixels leave from div into h1's matmul" -- \
  grep -qx "$(id 'div \(0\.353\)' "$pixels") -> $(id matmul "$h1");" "$work/train.dot"
check "b1 enters at add (bias)" -- \
  grep -qx "$(decl 'param b1') -> $(id 'add \(bias\)' "$h1");" "$work/train.dot"
h2=$(grep -F 'h2 = fused_matmul' "$work/clusters")
check "h1 leaves from relu into h2's matmul" -- \
  grep -qx "$(id relu "$h1") -> $(id matmul "$h2");" "$work/train.dot"

# Backward: the activation's gradient, then the GEMM or the bias sum.
check "fused_matmul_grad_input: relu_grad -> matmul" -- \
  grep -qE '^fused_matmul_grad_input\\n.*[|][0-9]+:relu_grad,[0-9]+:matmul \(transpose_b\)[|]' \
  "$work/clusters"
check "fused_matmul_grad_bias: relu_grad -> sum" -- \
  grep -qE '^grad\.b1 = fused_matmul_grad_bias\\n.*[|][0-9]+:relu_grad,[0-9]+:sum' "$work/clusters"
check "forward clusters blue" -- \
  grep -qE 'class="fused forward", fillcolor="#f0f5ff", label="h1 = ' "$work/train.dot"
check "backward clusters orange" -- \
  grep -qE 'class="fused backward", fillcolor="#fff4ea", label="grad.b1 = ' "$work/train.dot"
check "plain backward ops keep their colour" -- \
  both_in 'class="backward"' 'fillcolor="#ffe0c2"' "$work/train.dot"
# fused_elementwise (when that fusion runs): one node per instruction.
if grep -q 'fused_elementwise' "$work/train.ir"; then
  check "fused_elementwise parts" -- grep -qE '^[^|]*fused_elementwise.*[|][0-9]+:mul,[0-9]+:sub[|]' \
    "$work/clusters"
fi

# fused_add_layernorm and its gradients: the add, then the layernorm op.
check "dot resnet_s --pipeline=train" -- "$nnc" dot "$src/examples/resnet_s.ir" --pipeline=train \
  -o "$work/resnet.dot"
clusters "$work/resnet.dot" >"$work/resnet-clusters"
for norm in layernorm layernorm_grad layernorm_gamma_grad; do
  check "fused add + $norm" -- grep -qE "fused_add_$norm\\\\n.*[|][0-9]+:add,[0-9]+:${norm}[|]" \
    "$work/resnet-clusters"
done

# Without passes, or with passes that fuse nothing: no clusters.
check "dot mlp without passes" -- "$nnc" dot "$mlp" -o "$work/plain.dot"
check "no clusters without passes" -- test "$(grep -c 'subgraph' "$work/plain.dot")" = 0
check "unfused relu stays a box" -- grep -qF 'label="h1 = relu\nf32[B, 256]\n' "$work/plain.dot"
check "graph as written is well-formed DOT" -- well_formed "$work/plain.dot"
check "dot mlp --passes=autodiff" -- "$nnc" dot "$mlp" --passes=autodiff -o "$work/ad.dot"
check "no clusters after autodiff alone" -- test "$(grep -c 'subgraph' "$work/ad.dot")" = 0

# Every example and pipeline stays well-formed.
for f in "$src"/examples/*.ir; do
  for p in --pipeline=infer --pipeline=train; do
    grep -qE '^ *minimize ' "$f" || [ "$p" = --pipeline=infer ] || continue
    if "$nnc" dot "$f" "$p" -o "$work/ex.dot" && well_formed "$work/ex.dot"; then pass; else
      failure "well-formed DOT: $(basename "$f") $p"
    fi
  done
done

# Values are always quoted: a model named like a DOT keyword.
cat >"$work/graph.ir" <<'IR'
model graph {
  input node: f32[2, 3]
  param w: f32[3, 4] = zeros()
  param b: f32[4] = zeros()
  y = leaky_relu(matmul(node, w) + b, alpha=0.2)
  output y
}
IR
check "dot keyword model" -- "$nnc" dot "$work/graph.ir" --pipeline=infer -o "$work/kw.dot"
check "keyword model is well-formed DOT" -- well_formed "$work/kw.dot"
check "leaky_relu part carries its slope" -- grep -qF 'label="leaky_relu (alpha=0.2)"' "$work/kw.dot"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
