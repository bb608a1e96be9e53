#!/usr/bin/env bash
# Command-line tests: drive the nnc binary ($NNC) on small models and check
# outputs, exit codes and error messages. Usage: run.sh SOURCE_DIR
src=${1:?source dir}
nnc=${NNC:?path to nnc}
source "$src/tests/cli/lib.sh"

for f in "$src"/examples/*.ir; do
  expect_status 0 "check $(basename "$f")" -- "$nnc" check "$f"
  "$nnc" print "$f" >"$work/p1.ir" && "$nnc" print "$work/p1.ir" >"$work/p2.ir"
  if cmp -s "$work/p1.ir" "$work/p2.ir"; then pass; else failure "print fixed point: $f"; fi
done

# opt: the training step prints, parses back, and prints the same
expect_status 0 "opt xor" -- "$nnc" opt "$src/examples/xor.ir" -o "$work/xor-step.ir"
expect_in "$work/xor-step.ir" "sse_grad" "opt writes the backward graph"
"$nnc" print "$work/xor-step.ir" >"$work/xor-step2.ir"
if cmp -s "$work/xor-step.ir" "$work/xor-step2.ir"; then pass; else failure "train step print fixed point"; fi
expect_status 0 "opt --list-passes" -- "$nnc" opt --list-passes
expect_in "$work/out" "autodiff" "pass list"
expect_status 1 "opt unknown pass" -- "$nnc" opt "$src/examples/xor.ir" --passes=nope

# gradcheck: autodiff against central differences on every example that trains
for f in xor backprop_example mlp resnet_s cnn digits_mlp; do
  expect_status 0 "gradcheck $f" -- "$nnc" gradcheck "$src/examples/$f.ir" --max-elements 8
done
expect_status 0 "gradcheck perceptron (straight-through step is reported)" -- "$nnc" gradcheck "$src/examples/perceptron.ir"
expect_in "$work/out" "straight-through" "step is named as straight-through"

# compile: an object and the C header of IR.md section 6
expect_status 0 "compile xor" -- "$nnc" compile "$src/examples/xor.ir" -o "$work/xor.o" --header "$work/xor.h" --name xnet --no-cache
for sym in xnet_cpu_supported xnet_state_size xnet_workspace_size xnet_init xnet_infer xnet_train_step xnet_param_offset; do
  expect_in "$work/xor.h" "$sym(" "header declares $sym"
done
expect_in "$work/xor.h" "#define xnet_NUM_INPUTS 2" "header counts inputs"
if nm "$work/xor.o" | grep -q " T xnet_train_step"; then pass; else failure "object defines xnet_train_step"; fi
if nm -u "$work/xor.o" | grep -vqE " (memcpy|memset|expf|logf?|cos|nextafterf|tanhf|erff|strcmp|_ZGV[a-zA-Z0-9_]+)$"; then
  failure "object needs more than libc and libm:"; nm -u "$work/xor.o"
else pass; fi
expect_status 0 "compile mlp (inference only header)" -- "$nnc" compile "$src/examples/mcculloch_pitts.ir" -o "$work/mp.o" --header "$work/mp.h"
if grep -q "_train_step" "$work/mp.h"; then failure "a model without minimize has no train_step"; else pass; fi
expect_status 1 "compile for an unknown CPU" -- "$nnc" compile "$src/examples/xor.ir" -o "$work/bad.o" --target-cpu bogus
expect_in "$work/err" "unknown CPU 'bogus'" "unknown CPU error"
if [ ! -e "$work/bad.o" ]; then pass; else failure "a failed compile left an object"; fi
expect_status 1 "compile with a bad prefix" -- "$nnc" compile "$src/examples/xor.ir" -o "$work/bad.o" --name 1x

# print reads stdin with '-'
expect_status 0 "print -" -- bash -c "'$nnc' print - < '$src/examples/xor.ir'"
expect_in "$work/out" "minimize loss with sgd(lr=0.5)" "print - output"

# check: a broken model is exit 1 with a located error, source line and caret
cat >"$work/bad.ir" <<'IR'
model bad {
  dim B
  input x: f32[B, 3]
  param w1: f32[2, 1] = zeros()
  h = sigmoid(matmul(x, w1))
}
IR
expect_status 1 "check bad model" -- "$nnc" check "$work/bad.ir"
expect_in "$work/err" "bad.ir:5:15: error: matmul: inner dimensions differ: f32[B, 3] x f32[2, 1]" "located error"
expect_in "$work/err" "              ^" "caret"
expect_status 1 "missing model file" -- "$nnc" check "$work/nope.ir"
expect_in "$work/err" "nope.ir: cannot open" "missing file error"
expect_status 1 "directory as model" -- "$nnc" check "$work"
expect_status 1 "unknown command" -- "$nnc" frobnicate
expect_status 1 "unknown option" -- "$nnc" run "$src/examples/xor.ir" --bogus -o "$work/o"
expect_status 0 "version" -- "$nnc" --version
expect_in "$work/out" "LLVM 19" "version names LLVM"
expect_in "$work/out" "GEMM library: " "version describes the GEMM library"

# Binary garbage never crashes the parser.
head -c 4096 /dev/urandom >"$work/garbage.ir"
expect_status 1 "garbage model" -- "$nnc" check "$work/garbage.ir"

# run: the worked backpropagation example's forward pass
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 - "$work" <<'PY'
import numpy as np, sys
w = sys.argv[1]
np.save(f"{w}/x.npy", np.array([[0.35, 0.9]], dtype=np.float32))
np.save(f"{w}/t.npy", np.array([[0.5]], dtype=np.float32))
np.save(f"{w}/x3.npy", np.zeros((2, 3), dtype=np.float32))
np.save(f"{w}/x64.npy", np.zeros((1, 2), dtype=np.float64))
open(f"{w}/trunc.npy", "wb").write(open(f"{w}/x.npy", "rb").read()[:-3])
PY
  model="$src/examples/backprop_example.ir"
  expect_status 0 "run backprop example" -- "$nnc" run "$model" --in x="$work/x.npy" --in t="$work/t.npy" -o "$work/out1" --engine=interp
  /usr/bin/python3 - "$work/out1" <<'PY' && pass || failure "backprop forward values"
import numpy as np, sys, glob
out = sys.argv[1]
files = sorted(glob.glob(out + "/*.npy"))
assert files, "no outputs written"
vals = {f.split("/")[-1][:-4]: np.load(f) for f in files}
y = [v for k, v in vals.items() if v.shape == (1, 1)]
assert y and abs(float(y[0].ravel()[0]) - 0.690283) < 1e-6, vals
loss = [v for v in vals.values() if v.shape == ()]
assert loss and abs(float(loss[0]) - 0.5 * (0.690283 - 0.5) ** 2) < 1e-6, vals
PY
  expect_status 1 "wrong input shape" -- "$nnc" run "$model" --in x="$work/x3.npy" --in t="$work/t.npy" -o "$work/out2"
  expect_in "$work/err" "error: input 'x'" "input shape error names the input"
  expect_status 1 "wrong input dtype" -- "$nnc" run "$model" --in x="$work/x64.npy" --in t="$work/t.npy" -o "$work/out3"
  expect_in "$work/err" "x64.npy" "dtype error names the file"
  expect_status 1 "truncated npy" -- "$nnc" run "$model" --in x="$work/trunc.npy" --in t="$work/t.npy" -o "$work/out4"
  expect_in "$work/err" "trunc.npy" "truncated error names the file"
  # Inference without labels: the outputs that need only x, the loss left out.
  expect_status 0 "run without the target" -- "$nnc" run "$model" --in x="$work/x.npy" -o "$work/out5"
  expect_in "$work/err" "note: the loss 'loss' is not computed: it needs --in for t" "missing input note"
  if [ -e "$work/out5/y.npy" ] && [ ! -e "$work/out5/loss.npy" ]; then pass; else failure "run without t writes y, not the loss"; fi
  expect_status 1 "nothing computable" -- "$nnc" run "$model" --in t="$work/t.npy" -o "$work/out5b"
  expect_in "$work/err" "nothing to compute: every output needs an input not given (missing --in for x)" "nothing computable error"
  expect_status 1 "unknown input" -- "$nnc" run "$model" --in x="$work/x.npy" --in t="$work/t.npy" --in q="$work/t.npy" -o "$work/out6"
  if [ ! -e "$work/out2" ] && [ ! -e "$work/out4" ]; then pass; else failure "a failed run created its output folder"; fi

  # --grads: the worked example's output-layer gradients, by hand:
  # (y - t) y (1 - y) h_j, the step the course takes with lr 1.
  expect_status 0 "run --grads" -- "$nnc" run "$model" --in x="$work/x.npy" --in t="$work/t.npy" --grads -o "$work/g"
  /usr/bin/python3 - "$work/g" <<'PY' && pass || failure "worked example gradients"
import numpy as np, sys
g = sys.argv[1]
w2 = np.load(g + "/grad_w2.npy").ravel()
assert abs(w2[0] - (0.3 - 0.272326)) < 1e-6 and abs(w2[1] - (0.9 - 0.872998)) < 1e-6, w2
w1 = np.load(g + "/grad_w1.npy")
# hidden weights after one step: 0.0990709, 0.7976110 (top); 0.3971399, 0.5926455 (bottom)
want = np.array([[0.1 - 0.0990709, 0.4 - 0.3971399], [0.8 - 0.7976110, 0.6 - 0.5926455]])
assert np.abs(w1 - want).max() < 1e-6, w1
PY

  # --mode: dropout is the identity in inference, a scaled mask in training.
  printf 'model d {\n  input x: f32[64]\n  y = dropout(x, p=0.5, seed=1)\n  output y\n}\n' >"$work/drop.ir"
  /usr/bin/python3 -c "import numpy as np; np.save('$work/ones.npy', np.ones(64, np.float32))"
  expect_status 0 "run in inference mode (the default)" -- "$nnc" run "$work/drop.ir" --in x="$work/ones.npy" -o "$work/di"
  expect_status 0 "run --mode=train" -- "$nnc" run "$work/drop.ir" --in x="$work/ones.npy" --mode=train -o "$work/dt"
  /usr/bin/python3 - "$work" <<'PY' && pass || failure "dropout modes"
import numpy as np, sys
w = sys.argv[1]
assert (np.load(w + "/di/y.npy") == 1).all()
t = np.load(w + "/dt/y.npy")
assert set(np.unique(t)) == {0.0, 2.0} and 16 < (t == 2).sum() < 48, t
PY
  expect_status 1 "run --mode=bogus" -- "$nnc" run "$work/drop.ir" --in x="$work/ones.npy" --mode=bogus -o "$work/db"
  expect_in "$work/err" "--mode must be 'train' or 'infer'" "mode error"

  # train: XOR from a FEATURES.npy,LABELS.npy pair, logging JSON lines
  /usr/bin/python3 - "$work" <<'PY'
import numpy as np, sys
w = sys.argv[1]
np.save(f"{w}/xor_x.npy", np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32))
np.save(f"{w}/xor_y.npy", np.array([0, 1, 1, 0], dtype=np.int32))
np.save(f"{w}/bad_y.npy", np.zeros((4, 2), dtype=np.float32))  # xor takes one target per example
np.save(f"{w}/xor_t.npy", np.array([[0], [1], [1], [0]], dtype=np.float32))
PY
  expect_status 0 "train xor" -- "$nnc" train "$src/examples/xor.ir" --data "$work/xor_x.npy,$work/xor_y.npy" \
    --epochs 300 --batch 4 --lr 2 --log "$work/xor.jsonl" --save "$work/xor.safetensors"
  /usr/bin/python3 - "$work/xor.jsonl" <<'PY' && pass || failure "train log"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 300 and all({"epoch", "train_loss", "seconds"} <= set(l) for l in lines), lines[:2]
assert lines[-1]["train_loss"] < lines[0]["train_loss"], (lines[0], lines[-1])
PY
  # --lr-schedule cosine: the logged rate of each epoch's last step follows
  # lr (1 + cos(pi t / T)) / 2 with T = 300 epochs x 1 batch, t = epoch - 1.
  expect_status 0 "train xor, cosine schedule" -- "$nnc" train "$src/examples/xor.ir" \
    --data "$work/xor_x.npy,$work/xor_y.npy" --epochs 300 --batch 4 --lr 2 --lr-schedule cosine \
    --log "$work/xor-cosine.jsonl"
  /usr/bin/python3 - "$work/xor.jsonl" "$work/xor-cosine.jsonl" <<'PY' && pass || failure "cosine schedule log"
import json, math, sys
constant = [json.loads(l) for l in open(sys.argv[1])]
cosine = [json.loads(l) for l in open(sys.argv[2])]
assert all(l["lr"] == 2 for l in constant), constant[:2]
for l in cosine:
    want = 2 * (1 + math.cos(math.pi * (l["epoch"] - 1) / 300)) / 2
    assert abs(l["lr"] - want) < 1e-5 * 2, (l, want)
assert cosine[-1]["train_loss"] < cosine[0]["train_loss"], (cosine[0], cosine[-1])
PY
  expect_status 1 "unknown --lr-schedule" -- "$nnc" train "$src/examples/xor.ir" \
    --data "$work/xor_x.npy,$work/xor_y.npy" --lr-schedule step
  expect_in "$work/err" "--lr-schedule takes constant, cosine or linear, got 'step'" \
    "unknown schedule named"
  expect_status 0 "run from a checkpoint" -- "$nnc" run "$src/examples/xor.ir" --params "$work/xor.safetensors" --in x="$work/xor_x.npy" --in y="$work/xor_t.npy" -o "$work/o7"
  expect_status 1 "train on bad labels" -- "$nnc" train "$src/examples/xor.ir" --data "$work/xor_x.npy,$work/bad_y.npy"
  head -c 100 "$work/xor.safetensors" > "$work/trunc.safetensors"
  expect_status 1 "truncated checkpoint" -- "$nnc" run "$src/examples/xor.ir" --params "$work/trunc.safetensors" --in x="$work/xor_x.npy" --in y="$work/xor_t.npy" -o "$work/o8"
  expect_in "$work/err" "trunc.safetensors" "checkpoint error names the file"
else
  echo "numpy not available: skipping run tests"
fi

# dot: Graphviz of the training step; fused ops styled apart, forward and
# backward in different colours, labels with op, type and source line
expect_status 0 "dot mlp" -- "$nnc" dot "$src/examples/mlp.ir" --pipeline=train -o "$work/mlp.dot"
expect_in "$work/mlp.dot" "digraph G {" "dot header"
expect_in "$work/mlp.dot" 'class="fused forward"' "dot fused forward op"
expect_in "$work/mlp.dot" 'class="backward"' "dot backward op"
expect_in "$work/mlp.dot" 'fillcolor="#dbe9ff"' "dot forward colour"
expect_in "$work/mlp.dot" 'fillcolor="#ffe0c2"' "dot backward colour"
expect_in "$work/mlp.dot" 'loss = softmax_cross_entropy\nf32[]\n' "dot label: op and type"
expect_in "$work/mlp.dot" 'mlp.ir:28' "dot label: source line"
expect_status 0 "dot without passes" -- "$nnc" dot "$src/examples/xor.ir"
expect_in "$work/out" 'h = sigmoid' "dot of the graph as written"
expect_status 1 "dot unknown pass" -- "$nnc" dot "$src/examples/xor.ir" --passes=nope
# opt's default pipeline simplifies: sgd(lr=1) leaves no mul(grad, 1)
"$nnc" opt "$src/examples/backprop_example.ir" >"$work/bp.ir" 2>&1
if grep -q "= mul(.*, 1)$" "$work/bp.ir"; then failure "opt simplifies mul(x, 1)"; cat "$work/bp.ir"; else pass; fi

# limits: a huge param, an overflowing shape and an oversized model file are
# clear errors, not an out-of-memory kill
printf 'model big {\n  input x: f32[1, 100000]\n  param w: f32[100000, 100000] = zeros()\n  y = matmul(x, w)\n  output y\n}\n' >"$work/big.ir"
expect_status 1 "huge param" -- "$nnc" check "$work/big.ir"
expect_in "$work/err" "big.ir:3:" "huge param error is located"
expect_in "$work/err" "f32[100000, 100000] needs 40000000000 bytes" "huge param error names the size"
expect_status 1 "huge param under a lower limit" -- env NNC_MAX_TENSOR_BYTES=1K "$nnc" check "$src/examples/mlp.ir"
expect_in "$work/err" "more than the limit of 1024" "NNC_MAX_TENSOR_BYTES lowers the limit"
expect_status 1 "model file over the size limit" -- env NNC_MAX_MODEL_BYTES=100 "$nnc" check "$src/examples/xor.ir"
expect_in "$work/err" "too large: more than 100 bytes of model text" "model size limit"

# train --check-numerics: stops at the first non-finite value, names the step,
# the op and its line, and leaves the checkpoint as it was
printf '0,0,0\n0,1,1\n1,0,1\n1,1,0\n' >"$work/xor.csv"
cat >"$work/nan.ir" <<'IR'
model nan {
  dim B
  input x: f32[B, 2]
  input y: f32[B, 1]
  param w: f32[2, 1] = zeros()
  p = log(matmul(x, w))
  loss = mse(p, y)
  minimize loss with sgd(lr=0.1)
}
IR
echo "an earlier checkpoint" >"$work/nan.safetensors"
cp "$work/nan.safetensors" "$work/nan-before.safetensors" 2>/dev/null
expect_status 1 "train --check-numerics" -- "$nnc" train "$work/nan.ir" --data "$work/xor.csv" --batch 4 \
  --epochs 3 --check-numerics --save "$work/nan.safetensors"
expect_in "$work/err" "nan.ir:6:" "check-numerics names the line"
expect_in "$work/err" "error: step 1: log produced -Inf (in 'p')" "check-numerics names the step and op"
if cmp -s "$work/nan.safetensors" "$work/nan-before.safetensors"; then pass; else failure "check-numerics left the checkpoint unchanged"; fi
expect_status 0 "train --check-numerics on a finite model" -- "$nnc" train "$src/examples/xor.ir" \
  --data "$work/xor.csv" --batch 4 --epochs 5 --check-numerics
expect_status 1 "check-numerics with the jit" -- "$nnc" train "$src/examples/xor.ir" --data "$work/xor.csv" \
  --check-numerics --engine jit

finish
