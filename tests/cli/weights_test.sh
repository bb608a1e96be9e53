#!/usr/bin/env bash
# The safetensors("FILE", key=NAME) initializer: pretrained weights from a
# file beside the model, and never a file outside the model's folder unless
# --allow-external-paths says so. Usage: weights_test.sh NNC SOURCE_DIR
nnc=${1:?path to nnc}
src=${2:?source dir}
source "$src/tests/cli/lib.sh"

mkdir -p "$work/model" "$work/outside"
"$py" - "$work" <<'PY'
import numpy as np, sys
w = sys.argv[1]
np.save(f"{w}/x.npy", np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32))
np.save(f"{w}/y.npy", np.array([[0], [1], [1], [0]], np.float32))
PY
expect_status 0 "train xor" -- "$nnc" train "$src/examples/xor.ir" --data "$work/x.npy,$work/y.npy" --batch 4 \
  --epochs 500 --save "$work/model/xor.safetensors" --save-every 500
cp "$work/model/xor.safetensors" "$work/outside/xor.safetensors"
model() { # model FILE-EXPRESSION-FOR-w1 > model.ir
  cat <<IR
model pre {
  dim B
  input x: f32[B, 2]
  param w1: f32[2, 2] = $1
  param b1: f32[2] = safetensors("xor.safetensors", key="b1")
  param w2: f32[2, 1] = safetensors("xor.safetensors", key="w2")
  param b2: f32[1] = safetensors("xor.safetensors", key="b2")
  h = sigmoid(matmul(x, w1) + b1)
  yhat = sigmoid(matmul(h, w2) + b2)
  output yhat
}
IR
}
model 'safetensors("xor.safetensors")' >"$work/model/pre.ir"
expect_status 0 "run with weights from a file" -- "$nnc" run "$work/model/pre.ir" --in x="$work/x.npy" -o "$work/o1"
expect_status 0 "run xor with the checkpoint" -- "$nnc" run "$src/examples/xor.ir" --params "$work/model/xor.safetensors" \
  --in x="$work/x.npy" -o "$work/o2"
check_py "the initializer gives the checkpoint's values" "$work" <<'PY'
import numpy as np, sys
w = sys.argv[1]
a, b = np.load(w + "/o1/yhat.npy"), np.load(w + "/o2/yhat.npy")
assert (a == b).all(), (a, b)
PY
expect_status 0 "print" -- "$nnc" print "$work/model/pre.ir"
expect_in "$work/out" '  param w1: f32[2, 2] = safetensors("xor.safetensors")' "the initializer prints as written"
cp "$work/out" "$work/model/printed.ir"
expect_status 0 "the printed form checks" -- "$nnc" check "$work/model/printed.ir"

# Paths that leave the model's folder: refused, located, unless allowed.
ln -s "$work/outside" "$work/model/link"
for bad in '"../outside/xor.safetensors"' "\"$work/outside/xor.safetensors\"" '"link/xor.safetensors"'; do
  model "safetensors($bad)" >"$work/model/bad.ir"
  expect_status 1 "refuse $bad" -- "$nnc" check "$work/model/bad.ir"
  expect_in "$work/err" "bad.ir:4:25: error: safetensors: " "the error is located ($bad)"
  expect_in "$work/err" "; pass --allow-external-paths to allow it" "the error says how to allow it ($bad)"
  expect_status 0 "allow $bad" -- "$nnc" check "$work/model/bad.ir" --allow-external-paths
done

# A missing file, key, or a wrong shape: located errors naming the file.
model 'safetensors("nope.safetensors")' >"$work/model/e1.ir"
expect_status 1 "a missing file" -- "$nnc" check "$work/model/e1.ir"
expect_in "$work/err" "e1.ir:4:25: error: safetensors: $work/model/nope.safetensors: cannot open" "missing file"
model 'safetensors("xor.safetensors", key="w9")' >"$work/model/e2.ir"
expect_status 1 "a missing key" -- "$nnc" check "$work/model/e2.ir"
expect_in "$work/err" "safetensors: xor.safetensors has no tensor 'w9'" "missing key"
model 'safetensors("xor.safetensors", key="w2")' >"$work/model/e3.ir"
expect_status 1 "a wrong shape" -- "$nnc" check "$work/model/e3.ir"
expect_in "$work/err" "safetensors: tensor 'w2' in xor.safetensors is f32[2, 1] but 'w1' is f32[2, 2]" "wrong shape"
model 'safetensors(xor.safetensors)' >"$work/model/e4.ir"
expect_status 1 "an unquoted file" -- "$nnc" check "$work/model/e4.ir"

finish
