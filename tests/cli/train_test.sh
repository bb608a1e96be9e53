#!/usr/bin/env bash
# `nnc train` and `nnc eval` on every kind of data a model can take:
# class labels, f32 targets (regression), and features alone.
# Usage: train_test.sh NNC SOURCE_DIR
nnc=${1:?path to nnc}
src=${2:?source dir}
source "$src/tests/cli/lib.sh"

"$py" - "$work" <<'PY'
import numpy as np, sys
w = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (64, 2)).astype(np.float32)
t = (0.5 * x[:, :1] - 0.25 * x[:, 1:] + 1.296224).astype(np.float32)  # f32 targets, not classes
np.save(f"{w}/reg_x.npy", x)
np.save(f"{w}/reg_t.npy", t)
np.savetxt(f"{w}/reg.csv", np.hstack([x, t]), delimiter=",", fmt="%.7g",
           header="x1,x2,t", comments="")
t2 = np.hstack([t, -t]).astype(np.float32)
np.savetxt(f"{w}/reg2.csv", np.hstack([x, t2]), delimiter=",", fmt="%.7g")
np.save(f"{w}/ae_x.npy", rng.uniform(0, 1, (32, 4)).astype(np.float32))
PY

cat >"$work/linreg.ir" <<'IR'
model linreg {
  dim B
  input x: f32[B, 2]
  input t: f32[B, 1]
  param w: f32[2, 1] = zeros()
  param b: f32[1] = zeros()
  y = matmul(x, w) + b
  loss = mse(y, t)
  output y
  minimize loss with sgd(lr=0.5)
}
IR
cat >"$work/linreg2.ir" <<'IR'
model linreg2 {
  dim B
  input x: f32[B, 2]
  input t: f32[B, 2]
  param w: f32[2, 2] = zeros()
  param b: f32[2] = zeros()
  y = matmul(x, w) + b
  loss = mse(y, t)
  output y
  minimize loss with sgd(lr=0.5)
}
IR
cat >"$work/ae.ir" <<'IR'
model ae {
  dim B
  input x: f32[B, 4]
  param w1: f32[4, 3] = glorot_uniform(seed=1)
  param w2: f32[3, 4] = glorot_uniform(seed=2)
  y = matmul(tanh(matmul(x, w1)), w2)
  loss = mse(y, x)
  output y
  minimize loss with sgd(lr=0.2)
}
IR

# Regression: f32 targets from .npy and from a CSV with a header row.
for data in "$work/reg_x.npy,$work/reg_t.npy" "$work/reg.csv"; do
  expect_status 0 "train a regression on $data" -- "$nnc" train "$work/linreg.ir" --data "$data" \
    --epochs 40 --batch 16 --save "$work/linreg.safetensors" --log "$work/linreg.jsonl"
  check_py "the regression fits its f32 targets ($data)" "$work" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1] + "/linreg.jsonl")]
assert log[-1]["train_loss"] < 1e-3 * log[0]["train_loss"], log
assert "test_accuracy" not in log[-1], log[-1]
PY
done
# f32[B, 2] targets: the CSV's last two columns.
expect_status 0 "train on two target columns" -- "$nnc" train "$work/linreg2.ir" --data "$work/reg2.csv" \
  --epochs 40 --batch 16 --log "$work/linreg2.jsonl"
check_py "two targets are fitted" "$work" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1] + "/linreg2.jsonl")]
assert log[-1]["train_loss"] < 1e-3 * log[0]["train_loss"], log
PY
"$py" -c "import numpy as np; np.savetxt('$work/reg5.csv', np.ones((3, 5)), delimiter=',')"
expect_status 1 "a CSV with the wrong number of target columns" -- "$nnc" train "$work/linreg2.ir" \
  --data "$work/reg5.csv"
expect_in "$work/err" "reg5.csv:1: 5 columns, but the model takes 2 features and 2 targets (4 columns) or 2 features and a class label (3 columns)" \
  "column count error"
expect_status 1 "one label column for two targets must hold classes" -- "$nnc" train "$work/linreg2.ir" \
  --data "$work/reg.csv"
expect_in "$work/err" "column 3: label '1.548292' is not a non-negative integer" "class column error"

# A model with one input trains on features alone, in both engines.
for engine in jit interp; do
  expect_status 0 "train an autoencoder ($engine)" -- "$nnc" train "$work/ae.ir" --data "$work/ae_x.npy" \
    --epochs 30 --batch 8 --engine "$engine" --log "$work/ae-$engine.jsonl"
done
check_py "the autoencoder's loss falls, the same in both engines" "$work" <<'PY'
import json, sys
jit = [json.loads(l) for l in open(sys.argv[1] + "/ae-jit.jsonl")]
interp = [json.loads(l) for l in open(sys.argv[1] + "/ae-interp.jsonl")]
assert jit[-1]["train_loss"] < 0.5 * jit[0]["train_loss"], jit
for a, b in zip(jit, interp):
    assert abs(a["train_loss"] - b["train_loss"]) <= 1e-5 * max(1, abs(b["train_loss"])), (a, b)
PY

finish
