#!/usr/bin/env bash
# `nnc compile`: outputs written together or not at all, checked before any
# work; --memory-report beside -o; weights computed by P_init (not carried)
# or baked from a checkpoint (--params); a C program links the result.
# Usage: compile_test.sh NNC SOURCE_DIR
nnc=${1:?path to nnc}
src=${2:?source dir}
source "$src/tests/cli/lib.sh"
xor="$src/examples/xor.ir"

# -o and --header together or not at all.
echo "old header" >"$work/m.h"
expect_status 1 "compile with an unwritable header" -- "$nnc" compile "$xor" -o "$work/m.o" --header "$work/nodir/m.h"
expect_in "$work/err" "$work/nodir/m.h: cannot write: the folder '$work/nodir' does not exist" "the header path is named"
if [ ! -e "$work/m.o" ]; then pass; else failure "no object beside a failed header"; fi
expect_status 1 "compile over a directory" -- "$nnc" compile "$xor" -o "$work" --header "$work/m.h"
if [ "$(cat "$work/m.h")" = "old header" ]; then pass; else failure "the old header is untouched"; fi
expect_status 1 "-o and --header the same file" -- "$nnc" compile "$xor" -o "$work/same" --header "$work/same"
# --memory-report with -o writes the object and header too.
expect_status 0 "--memory-report with outputs" -- "$nnc" compile "$xor" --memory-report -o "$work/r.o" --header "$work/r.h"
expect_in "$work/out" "xor train_step" "the report is printed"
if [ -s "$work/r.o" ] && [ -s "$work/r.h" ]; then pass; else failure "--memory-report also wrote -o and --header"; fi

# Weights as code: a 2048 x 2048 param does not make a 16 MiB object.
cat >"$work/big.ir" <<'IR'
model big {
  dim B
  input x: f32[B, 2048]
  param w: f32[2048, 2048] = he_normal(seed=1)
  y = matmul(x, w)
  output y
}
IR
expect_status 0 "compile a big model" -- "$nnc" compile "$work/big.ir" -o "$work/big.o"
size=$(stat -c %s "$work/big.o")
if [ "$size" -lt 262144 ]; then pass; else failure "the object of a 16 MiB param is $size bytes"; fi

# --params bakes trained weights: a C program's predictions equal nnc run's.
"$py" - "$work" <<'PY'
import numpy as np, sys
w = sys.argv[1]
np.save(f"{w}/x.npy", np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32))
np.save(f"{w}/y.npy", np.array([[0], [1], [1], [0]], np.float32))
PY
expect_status 0 "train xor" -- "$nnc" train "$xor" --data "$work/x.npy,$work/y.npy" --batch 4 --epochs 3000 \
  --save "$work/xor.st" --save-every 3000
expect_status 0 "compile --params" -- "$nnc" compile "$xor" --params "$work/xor.st" -o "$work/xor.o" \
  --header "$work/xor.h" --name trained
cat >"$work/main.c" <<'C'
#include "xor.h"
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  int64_t dims[1] = {4};
  void *state = aligned_alloc(64, (trained_state_size() + 127) / 64 * 64);
  void *ws = aligned_alloc(64, (trained_workspace_size(dims) + 127) / 64 * 64);
  float x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}}, yhat[4];
  const void *in[2] = {x, NULL}; /* y feeds only the loss: inference takes NULL */
  void *out[1] = {yhat};
  if (trained_init(state) || trained_infer(state, ws, dims, in, out))
    return 1;
  for (int i = 0; i < 4; ++i)
    printf("%.9g\n", yhat[i]);
  return 0;
}
C
expect_true "the C program builds" -- cc -O2 -I"$work" "$work/main.c" "$work/xor.o" -lm -o "$work/main"
expect_true "the C program runs" -- sh -c "'$work/main' > '$work/c.txt'"
expect_status 0 "nnc run with the checkpoint" -- "$nnc" run "$xor" --params "$work/xor.st" --in x="$work/x.npy" -o "$work/run"
check_py "baked weights predict what the checkpoint predicts" "$work" <<'PY'
import numpy as np, sys
w = sys.argv[1]
c = np.array([float(v) for v in open(w + "/c.txt")], np.float32)
n = np.load(w + "/run/yhat.npy").ravel()
assert np.abs(c - n).max() <= 1e-6, (c, n)
assert ((c >= 0.5) == np.array([0, 1, 1, 0], bool)).all(), c
PY

# --split-step: a C program trains with compute_gradients then
# apply_gradients and gets the bits of train_step (the ABI of IR.md
# section 6); a model without minimize is refused.
expect_status 1 "--split-step without minimize" -- "$nnc" compile "$src/examples/mcculloch_pitts.ir" --split-step -o "$work/mp.o"
expect_in "$work/err" "has no 'minimize'" "the reason is given"
expect_status 0 "compile --split-step" -- "$nnc" compile "$xor" --split-step -o "$work/split.o" --header "$work/split.h" --name split
expect_in "$work/split.h" "int      split_compute_gradients(" "the header declares compute_gradients"
expect_in "$work/split.h" "#define split_GRADIENTS_SIZE 256" "and the buffer's size"
cat >"$work/split_main.c" <<'C'
#include "split.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int readies[split_NUM_GRADIENTS];
static void ready(void *ctx, int64_t i) { (void)ctx; ++readies[i]; }
int main(void) {
  int64_t dims[1] = {4};
  void *a = aligned_alloc(64, (split_state_size() + 63) / 64 * 64);
  void *b = aligned_alloc(64, (split_state_size() + 63) / 64 * 64);
  void *ws = aligned_alloc(64, (split_workspace_size(dims) + 63) / 64 * 64);
  float *g = malloc(split_gradients_size());
  float x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}}, y[4] = {0, 1, 1, 0}, la, lb;
  const void *in[2] = {x, y};
  if (split_init(a) || split_init(b))
    return 1;
  for (int step = 0; step < 100; ++step) {
    if (split_train_step(a, ws, dims, in, &la) ||
        split_compute_gradients(b, ws, dims, in, g, &lb, ready, NULL) ||
        split_apply_gradients(b, ws, g) || la != lb)
      return 2;
  }
  for (int i = 0; i < split_NUM_GRADIENTS; ++i)
    if (readies[i] != 100)
      return 3;
  if (split_gradient_offset("b1") != 64 || split_gradient_offset("nope") != -1)
    return 4;
  return memcmp(a, b, split_state_size()) == 0 ? 0 : 5;
}
C
expect_true "the split-step C program builds" -- cc -O2 -I"$work" "$work/split_main.c" "$work/split.o" -lm -o "$work/split_main"
expect_true "compute then apply is train_step, in C" -- "$work/split_main"

# --precision bf16: refused by name for a CPU without AVX512_BF16 (nothing
# written); an unknown precision is refused; on a CPU with it, the object
# checks the feature and trains.
expect_status 1 "bf16 for skylake-avx512" -- "$nnc" compile "$xor" --precision bf16 --target-cpu skylake-avx512 -o "$work/nobf16.o" --header "$work/nobf16.h"
expect_in "$work/err" "needs a CPU with AVX512_BF16" "the missing feature is named"
expect_in "$work/err" "skylake-avx512" "and the CPU"
expect_true "nothing was written" -- test ! -e "$work/nobf16.o" -a ! -e "$work/nobf16.h"
expect_status 1 "an unknown precision" -- "$nnc" compile "$xor" --precision fp8 -o "$work/fp8.o"
expect_in "$work/err" "--precision must be f32, bf16 or auto, got 'fp8'" "the values are listed"
expect_status 1 "an unknown precision in train" -- "$nnc" train "$xor" --data "$work/none.csv" --precision half
expect_in "$work/err" "--precision must be f32, bf16 or auto" "train says so too"
if grep -qw avx512_bf16 /proc/cpuinfo; then
  expect_status 0 "compile --precision bf16" -- "$nnc" compile "$src/examples/digits_mlp.ir" --precision bf16 -o "$work/bf.o" --header "$work/bf.h" --name bf
  cat >"$work/bf_main.c" <<'C'
#include "bf.h"
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  if (!bf_cpu_supported())
    return 1;
  int64_t dims[1] = {64};
  void *s = aligned_alloc(64, (bf_state_size() + 63) / 64 * 64);
  void *ws = aligned_alloc(64, (bf_workspace_size(dims) + 63) / 64 * 64);
  static float x[64][64];
  static int32_t y[64];
  for (int i = 0; i < 64; ++i) {
    y[i] = i % 10;
    for (int j = 0; j < 64; ++j)
      x[i][j] = (float)((i * 7 + j * (y[i] + 1)) % 17);
  }
  const void *in[2] = {x, y};
  float first = 0, loss = 0;
  if (bf_init(s))
    return 2;
  for (int step = 0; step < 100; ++step) {
    if (bf_train_step(s, ws, dims, in, &loss))
      return 3;
    if (step == 0)
      first = loss;
  }
  printf("%g -> %g\n", first, loss);
  return loss < 0.8f * first ? 0 : 4;
}
C
  expect_true "the bf16 C program builds" -- cc -O2 -I"$work" "$work/bf_main.c" "$work/bf.o" -lm -o "$work/bf_main"
  expect_true "a bf16 object checks its CPU and trains" -- "$work/bf_main"
fi

finish
