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

# A linear regression onto K f32 targets per example.
linreg() {
  cat <<IR
model linreg$1 {
  dim B
  input x: f32[B, 2]
  input t: f32[B, $1]
  param w: f32[2, $1] = zeros()
  param b: f32[$1] = zeros()
  y = matmul(x, w) + b
  loss = mse(y, t)
  output y
  minimize loss with sgd(lr=0.5)
}
IR
}
linreg 1 >"$work/linreg.ir"
linreg 2 >"$work/linreg2.ir"
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
# bf16 in the interpreter (it needs no CPU feature): the same fit, to
# bf16's precision.
expect_status 0 "train in bf16 in the interpreter" -- "$nnc" train "$work/linreg.ir" \
  --data "$work/reg.csv" --epochs 40 --batch 16 --engine interp --precision bf16 \
  --log "$work/linreg_bf16.jsonl"
check_py "the bf16 regression fits too" "$work" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1] + "/linreg_bf16.jsonl")]
assert log[-1]["train_loss"] < 1e-2 * log[0]["train_loss"], log
PY
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

# ---- eval, summary and plot ---------------------------------------------------
expect_status 0 "train the digits MLP for eval" -- "$nnc" train "$src/examples/digits_mlp.ir" \
  --data "$src/examples/data/digits.csv.gz" --epochs 3 --save "$work/digits.st" --log-every 5 \
  --log "$work/digits.jsonl" --holdout "$src/examples/data/digits.csv.gz"
expect_status 0 "eval --json" -- "$nnc" eval "$src/examples/digits_mlp.ir" --params "$work/digits.st" \
  --data "$src/examples/data/digits.csv.gz" --json
cp "$work/out" "$work/eval.json"
expect_status 0 "eval with the interpreter and another batch" -- "$nnc" eval "$src/examples/digits_mlp.ir" \
  --params "$work/digits.st" --data "$src/examples/data/digits.csv.gz" --engine interp --batch 100
expect_in "$work/out" "class  examples  accuracy" "eval prints per-class accuracy"
check_py "eval's scores agree across engines and with the data" "$work" <<'PY'
import json, re, sys
w = sys.argv[1]
j = json.load(open(w + "/eval.json"))
assert j["examples"] == 1797, j
text = open(w + "/out").read()
acc = float(re.search(r"^accuracy (\S+)", text, re.M).group(1))
loss = float(re.search(r"^loss (\S+)", text, re.M).group(1))
assert abs(acc - j["accuracy"]) < 1e-4 and abs(loss - j["loss"]) < 1e-5 * max(1, loss), (acc, loss, j)
assert 0.5 < j["accuracy"] <= 1, j
per = [j[f"accuracy_class_{c}"] for c in range(10)]
assert all(0 <= a <= 1 for a in per), per
PY
expect_status 0 "summary" -- "$nnc" summary "$src/examples/mlp.ir" --dim B=1
expect_in "$work/out" "  w1                       f32[784, 256]              200704" "summary lists params"
expect_in "$work/out" "total: 269322 params (1.03 MiB)" "summary totals"
# 784*256 + 256*256 + 256*10 multiply-adds = 537.6 k FLOPs, plus the element-wise ops.
expect_in "$work/out" "FLOPs at B = 1: forward 540.2 k" "summary counts the forward FLOPs"
if command -v rsvg-convert >/dev/null; then
  expect_status 0 "plot" -- "$nnc" plot "$work/digits.jsonl" -o "$work/curves.svg"
  expect_true "the picture renders" -- rsvg-convert "$work/curves.svg" -o "$work/curves.png"
  check_py "the rendered curves show the training and held-out colors" "$work/curves.png" <<'PY'
import struct, sys, zlib
png = open(sys.argv[1], "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, width = 8, b"", 0
while pos < len(png):
    n, kind = struct.unpack(">I4s", png[pos:pos + 8])
    body = png[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        width, height, depth, color = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and color in (2, 6), (depth, color)  # RGB or RGBA
        bpp = 3 if color == 2 else 4
    if kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride, rows = zlib.decompress(idat), width * bpp, []
prev = bytearray(stride)
for y in range(height):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        pred = [0, a, b, (a + b) // 2, a if abs(p - a) <= min(abs(p - b), abs(p - c)) else (b if abs(p - b) <= abs(p - c) else c)][f]
        line[i] = (line[i] + pred) & 255
    rows.append(line)
    prev = line
colors = {tuple(r[i:i + 3]) for r in rows for i in range(0, stride, bpp)}
for want in [(0x1f, 0x77, 0xb4), (0xff, 0x7f, 0x0e), (0xae, 0xc7, 0xe8)]:
    assert want in colors, ("missing", want)
assert width == 960, width  # the loss chart and the accuracy chart
PY
  expect_status 1 "plot a file that is not a log" -- "$nnc" plot "$src/examples/xor.ir" -o "$work/x.svg"
  expect_in "$work/err" "xor.ir:1: not a log line: not a JSON object" "plot names the bad line"
fi

# ---- a run that goes wrong loses nothing -----------------------------------
digits="$src/examples/data/digits.csv.gz"
dmlp="$src/examples/digits_mlp.ir"
expect_status 0 "a good checkpoint" -- "$nnc" train "$dmlp" --data "$digits" --save "$work/good.st"
cp "$work/good.st" "$work/good-before.st"
expect_status 1 "a diverging run" -- "$nnc" train "$dmlp" --data "$digits" --lr 1e8 --epochs 2 \
  --save "$work/good.st" --log "$work/div.jsonl"
expect_in "$work/err" "the loss is NaN: training diverged; stopped without saving ($work/good.st is unchanged)" \
  "divergence is located and says what happened"
expect_in "$work/err" "error: epoch 1, step " "divergence names the epoch and step"
if cmp -s "$work/good.st" "$work/good-before.st"; then pass; else failure "divergence kept the good checkpoint"; fi
check_py "the log of a diverged run is valid JSON Lines" "$work/div.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    json.loads(line)
PY
expect_status 1 "a log on a full disk" -- "$nnc" train "$dmlp" --data "$digits" --log /dev/full
expect_in "$work/err" "/dev/full: cannot write: No space left on device" "the write error names the file"
for bad in "$work/nodir/x.st" "$work"; do
  expect_status 1 "--save $bad is refused before training" -- "$nnc" train "$dmlp" --data "$digits" --save "$bad"
  expect_not_in "$work/err" "epoch 1" "no epoch ran before the output check"
done
expect_in "$work/err" "cannot write: it is a directory" "a directory as --save"
for lr in -1 1e39 nan; do
  expect_status 1 "--lr $lr" -- "$nnc" train "$dmlp" --data "$digits" --lr "$lr"
  expect_in "$work/err" "--lr needs a " "bad rate $lr is refused"
done

# A temp file of a process killed during a save is removed by the next save.
touch "$work/good.st.tmp.4194305.0"
expect_status 0 "a save after a killed one" -- "$nnc" train "$dmlp" --data "$digits" --save "$work/good.st"
if [ ! -e "$work/good.st.tmp.4194305.0" ]; then pass; else failure "the stale temp file is gone"; fi

# ---- resume: 1 + 1 epochs are 2 epochs, bit for bit --------------------------
expect_status 0 "two epochs straight" -- "$nnc" train "$dmlp" --data "$digits" --epochs 2 --seed 3 \
  --save "$work/two.st" --log "$work/two.jsonl"
expect_status 0 "one epoch" -- "$nnc" train "$dmlp" --data "$digits" --epochs 1 --seed 3 \
  --save "$work/one.st" --log "$work/resumed.jsonl"
expect_status 0 "and one more, resumed" -- "$nnc" train "$dmlp" --data "$digits" --epochs 2 \
  --resume "$work/one.st" --save "$work/resumed.st" --log "$work/resumed.jsonl"
if cmp -s "$work/two.st" "$work/resumed.st"; then pass; else failure "resumed params equal the straight run's bits"; fi
check_py "the resumed log is appended and continues the epochs" "$work" <<'PY'
import json, sys
w = sys.argv[1]
straight = [json.loads(l) for l in open(w + "/two.jsonl")]
resumed = [json.loads(l) for l in open(w + "/resumed.jsonl")]
assert [l["epoch"] for l in resumed] == [1, 2], resumed
assert [l["train_loss"] for l in resumed] == [l["train_loss"] for l in straight], (resumed, straight)
PY
expect_status 1 "resume with another batch" -- "$nnc" train "$dmlp" --data "$digits" --epochs 3 \
  --resume "$work/one.st" --batch 32
expect_in "$work/err" "cannot resume with --batch 32: the run was trained with --batch 64" "conflicting options"
expect_status 1 "resume past the total" -- "$nnc" train "$dmlp" --data "$digits" --epochs 2 --resume "$work/two.st"
expect_in "$work/err" "already holds 2 epochs of training" "nothing left to train"

# --save-every: epochs 2 and 3 (the last), not 1.
expect_status 0 "--save-every 2" -- "$nnc" train "$dmlp" --data "$digits" --epochs 3 --save-every 2 \
  --save "$work/every.st" --log-every 10 --log "$work/every.jsonl"
check_py "per-step log lines and the saved epoch" "$work" <<'PY'
import json, sys
w = sys.argv[1]
lines = [json.loads(l) for l in open(w + "/every.jsonl")]
steps = [l for l in lines if "loss" in l]
epochs = [l for l in lines if "train_loss" in l]
assert len(epochs) == 3, epochs
assert [l["step"] for l in steps] == list(range(10, 3 * 29 + 1, 10)), steps
assert all(l["examples_per_second"] > 0 and "lr" in l for l in steps), steps
head = open(w + "/every.st", "rb").read(600).decode("latin-1")
assert '"nnc.train.epochs":"3"' in head, head
PY

# ---- Ctrl-C: a message, exit 130, the checkpoint intact ---------------------
"$nnc" train "$dmlp" --data "$digits" --epochs 100000 --save "$work/int.st" >/dev/null 2>"$work/int.err" &
pid=$!
for _ in $(seq 100); do [ -e "$work/int.st" ] && break; sleep 0.1; done
sleep 0.3
kill -INT "$pid"
wait "$pid"
status=$?
if [ "$status" = 130 ]; then pass; else failure "an interrupted run exits 130, got $status"; cat "$work/int.err"; fi
expect_in "$work/int.err" "nnc: interrupted at epoch " "the interrupt is reported"
expect_in "$work/int.err" "; last checkpoint: $work/int.st (epoch " "it names the last checkpoint"
if tail -c 1 "$work/int.err" | od -c | grep -q '\\n'; then pass; else failure "stderr ends with a whole line"; fi
expect_status 0 "the interrupted run's checkpoint loads" -- "$nnc" train "$dmlp" --data "$digits" \
  --params "$work/int.st"
if ls "$work"/int.st.tmp.* >/dev/null 2>&1; then failure "no temp file is left"; else pass; fi

# Resuming after an interrupt: the log loses the lines of steps after the
# checkpoint, so its steps go up without repeats.
"$nnc" train "$dmlp" --data "$digits" --epochs 100000 --save "$work/r.st" --save-every 3 \
  --log "$work/r.jsonl" --log-every 7 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -e "$work/r.st" ] && break; sleep 0.1; done
sleep 0.2
kill -INT "$pid"
wait "$pid"
saved=$("$py" -c "import re; print(re.search(rb'\"nnc.train.epochs\":\"(\\d+)\"', open('$work/r.st', 'rb').read(4096)).group(1).decode())")
expect_status 0 "resume after the interrupt" -- "$nnc" train "$dmlp" --data "$digits" --epochs $((saved + 2)) \
  --resume "$work/r.st" --save "$work/r.st" --log "$work/r.jsonl" --log-every 7
check_py "the resumed log's steps go up without repeats" "$work/r.jsonl" "$((saved + 2))" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
epochs = [l["epoch"] for l in lines if "train_loss" in l]
steps = [l["step"] for l in lines if "loss" in l]
assert steps == sorted(set(steps)), steps
assert epochs == list(range(1, int(sys.argv[2]) + 1)), epochs
PY

# ---- hand-written updates (no minimize): trained, never applied by inference --
"$py" -c "import numpy as np; np.save('$work/and_x.npy', np.array([[0,0],[0,1],[1,0],[1,1]], np.float32)); np.save('$work/and_y.npy', np.array([[0],[0],[0],[1]], np.float32))"
for engine in jit interp; do
  expect_status 0 "train the perceptron rule ($engine)" -- "$nnc" train "$src/examples/perceptron_rule.ir" \
    --data "$work/and_x.npy,$work/and_y.npy" --epochs 10 --batch 1 --engine "$engine" --save "$work/pr-$engine.st"
done
if cmp -s "$work/pr-jit.st" "$work/pr-interp.st"; then pass; else failure "the rule trains alike in both engines"; fi
expect_status 0 "run the learned rule" -- "$nnc" run "$src/examples/perceptron_rule.ir" --params "$work/pr-jit.st" \
  --in x="$work/and_x.npy" --in y="$work/and_y.npy" -o "$work/pr"
check_py "the perceptron rule learned AND" "$work/pr" <<'PY'
import numpy as np, sys
assert (np.load(sys.argv[1] + "/yhat.npy").ravel() == [0, 0, 0, 1]).all()
assert float(np.load(sys.argv[1] + "/errors.npy")) == 0
PY
expect_status 1 "--lr for hand-written updates" -- "$nnc" train "$src/examples/perceptron_rule.ir" \
  --data "$work/and_x.npy,$work/and_y.npy" --lr 1
expect_in "$work/err" "writes its updates by hand (no 'minimize'): --lr and --lr-schedule do not apply" "--lr refused"

# A checkpoint of another model whose params match: loaded, with a warning.
sed 's/model perceptron_rule/model other_rule/' "$src/examples/perceptron_rule.ir" >"$work/other.ir"
expect_status 0 "another model's checkpoint" -- "$nnc" run "$work/other.ir" --params "$work/pr-jit.st" \
  --in x="$work/and_x.npy" -o "$work/pr2"
expect_in "$work/err" "warning: $work/pr-jit.st: written for model 'perceptron_rule', loaded into model 'other_rule'" \
  "the mismatch is named"

finish
