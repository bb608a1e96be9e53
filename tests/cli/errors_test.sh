#!/usr/bin/env bash
# Mistakes a new user makes, each with its one clear error (IR.md section 5):
# a binary file as a model, an output that would overwrite a gradient, an
# empty reduction, help and typos. Usage: errors_test.sh NNC SOURCE_DIR
nnc=${1:?path to nnc}
src=${2:?source dir}
source "$src/tests/cli/lib.sh"

# A binary file given as a model: one error, not fifty.
head -c 4096 /dev/urandom >"$work/garbage.ir"
printf 'model m {\0}' >"$work/nul.ir"
for f in garbage nul; do
  expect_status 1 "a binary model ($f)" -- "$nnc" check "$work/$f.ir"
  expect_in "$work/err" "$work/$f.ir: not a text file: " "the binary file is named"
  if [ "$(wc -l <"$work/err")" = 1 ]; then pass; else failure "one error for a binary file ($f)"; cat "$work/err"; fi
done

# run --grads: an output named grad_w would be overwritten.
cat >"$work/clash.ir" <<'IR'
model clash {
  dim B
  input x: f32[B, 2]
  param w: f32[2, 1] = ones()
  y = matmul(x, w)
  grad_w = y * 2
  loss = sse(y, grad_w)
  output y, grad_w
  minimize loss with sgd(lr=0.1)
}
IR
"$py" -c "import numpy as np; np.save('$work/x.npy', np.ones((3, 2), np.float32))"
expect_status 1 "run --grads with a clashing output" -- "$nnc" run "$work/clash.ir" --in x="$work/x.npy" --grads -o "$work/o"
expect_in "$work/err" "output 'grad_w' and the gradient of param 'w' would both be written to grad_w.npy" "the clash is named"
if [ ! -e "$work/o" ]; then pass; else failure "nothing written on a clash"; fi

# max over an empty axis: refused by check when static; the same error from
# both engines when a dim is 0 at run time.
printf 'model e {\n  input x: f32[2, 0]\n  y = max(x, axes=[1])\n  output y\n}\n' >"$work/empty.ir"
expect_status 1 "check a static empty max" -- "$nnc" check "$work/empty.ir"
expect_in "$work/err" "empty.ir:3:7: error: max: cannot reduce over an empty axis of f32[2, 0]" "check refuses it"
printf 'model e {\n  dim K\n  input x: f32[2, K]\n  y = max(x, axes=[1])\n  output y\n}\n' >"$work/empty2.ir"
"$py" -c "import numpy as np; np.save('$work/e.npy', np.zeros((2, 0), np.float32))"
for engine in jit interp; do
  expect_status 1 "max over K = 0 ($engine)" -- "$nnc" run "$work/empty2.ir" --in x="$work/e.npy" -o "$work/e-$engine" --engine "$engine"
  expect_in "$work/err" "empty2.ir:4:7: error: max: cannot reduce over an empty axis of f32[2, 0]" "$engine: located error"
done

# Help for every command; typos get a suggestion.
for command in check print opt run train eval gradcheck compile dot summary plot; do
  expect_status 0 "nnc $command --help" -- "$nnc" "$command" --help
  expect_in "$work/out" "usage: nnc $command " "$command --help starts with its usage"
  expect_in "$work/out" "-h, --help" "$command --help lists its options"
done
expect_status 0 "nnc --help" -- "$nnc" --help
for command in check print opt run train eval gradcheck compile dot summary plot; do
  expect_in "$work/out" "  $command " "nnc --help lists $command"
done
expect_status 1 "a misspelt option" -- "$nnc" train "$src/examples/xor.ir" --data x --epoch 3
expect_in "$work/err" "unknown option '--epoch' (did you mean '--epochs'?)" "option suggestion"
expect_status 1 "a misspelt command" -- "$nnc" trian
expect_in "$work/err" "unknown command 'trian' (did you mean 'train'?)" "command suggestion"
printf 'model m {\n  input x: f32[2]\n  y = sigmiod(x)\n  output y\n}\n' >"$work/typo.ir"
expect_status 1 "a misspelt op" -- "$nnc" check "$work/typo.ir"
expect_in "$work/err" "unknown op 'sigmiod' (did you mean 'sigmoid'?)" "op suggestion"

finish
