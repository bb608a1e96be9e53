#!/usr/bin/env bash
# Command-line tests of the byte-level language-model path: `nnc train
# --data text:PATH` (windows, the held-out 5%, bits per byte), `nnc sample`
# (deterministic for a seed) and their errors. Usage: text_test.sh NNC SOURCE_DIR
nnc=${1:?path to nnc}
src=${2:?source dir}
source "$src/tests/cli/lib.sh"

# A tiny causal model: each byte's embedding, a linear map to the next byte.
cat >"$work/bigram.ir" <<'IR'
model bigram {
  dim B
  input x: i32[B, 8]
  input y: i32[B, 8]
  param e: f32[256, 16] = normal(0, 0.1, seed=1)
  param w: f32[16, 256] = normal(0, 0.1, seed=2)
  logits = matmul(gather(e, x), w)
  loss = softmax_cross_entropy(logits, y)
  output logits
  minimize loss with adam(lr=0.01)
}
IR
"$py" - "$work" <<'PY'
import sys
w = sys.argv[1]
line = "the cat sat on the mat. the dog sat on the log.\n"
open(f"{w}/text.txt", "w").write(line * 400)
open(f"{w}/short.txt", "w").write("tiny")
import os
os.makedirs(f"{w}/folder", exist_ok=True)
open(f"{w}/folder/a", "w").write(line * 200)
open(f"{w}/folder/a.dat", "wb").write(b"\x00" * 64)   # an index: skipped
open(f"{w}/folder/b", "w").write(line * 200)
os.symlink("a", f"{w}/folder/a.u8")                    # a symlink: skipped
PY

expect_status 0 "train on text" -- "$nnc" train "$work/bigram.ir" --data "text:$work/text.txt" \
  --epochs 3 --batch 16 --log "$work/text.jsonl" --save "$work/bigram.safetensors"
check_py "text training log: windows, held-out loss in bits" "$work/text.jsonl" "$work/text.txt" <<'PY'
import json, math, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 3, lines
last = lines[-1]
size = os.path.getsize(sys.argv[2])
windows = (size - size // 20) // 9  # the last 5% held out; windows of T + 1 = 9 bytes
assert last["step"] == 3 * math.ceil(windows / 16), (last, windows)
assert abs(last["test_bits_per_byte"] - last["test_loss"] / math.log(2)) < 1e-3, last
assert last["test_loss"] < 1.0 < lines[0]["train_loss"], lines
PY
expect_status 0 "train on a folder of text" -- "$nnc" train "$work/bigram.ir" --data "text:$work/folder" --epochs 1 --batch 16
expect_in "$work/err" "bits/byte" "folder training reports bits per byte"

expect_status 0 "sample" -- "$nnc" sample "$work/bigram.ir" --params "$work/bigram.safetensors" --prompt "the " --length 40 --seed 3
cp "$work/out" "$work/sample1"
expect_status 0 "sample again" -- "$nnc" sample "$work/bigram.ir" --params "$work/bigram.safetensors" --prompt "the " --length 40 --seed 3
if cmp -s "$work/out" "$work/sample1"; then pass; else failure "the same seed gives the same text"; fi
check_py "sample continues the prompt" "$work/sample1" <<'PY'
import sys
text = open(sys.argv[1], "rb").read()
assert text.startswith(b"the ") and len(text) == 4 + 40 + 1, text
PY
expect_status 0 "greedy sample" -- "$nnc" sample "$work/bigram.ir" --params "$work/bigram.safetensors" --prompt "the c" --length 6 --temperature 0
expect_in "$work/out" "the cat" "the most likely bytes of a learned bigram"

# Errors: each named, exit 1.
expect_status 1 "a text too short for one window" -- "$nnc" train "$work/bigram.ir" --data "text:$work/short.txt"
expect_in "$work/err" "hold no window of T + 1 = 9 bytes" "short text error"
expect_status 1 "a missing text file" -- "$nnc" train "$work/bigram.ir" --data "text:$work/nope.txt"
expect_in "$work/err" "nope.txt" "missing text names the file"
expect_status 1 "sample a model without byte input" -- "$nnc" sample "$src/examples/xor.ir" --length 3
expect_in "$work/err" "must be i32[B, T] (bytes) to sample" "sample input error"
expect_status 1 "sample with a negative temperature" -- "$nnc" sample "$work/bigram.ir" --length 3 --temperature -1
expect_in "$work/err" "--temperature must be 0 or more" "temperature error"
expect_status 1 "sample without --length" -- "$nnc" sample "$work/bigram.ir"

finish
