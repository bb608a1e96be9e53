#!/usr/bin/env bash
# `nnc opt`'s views of the pipeline: --print-after-all prints models that
# parse back, --remarks says each fusion decision once with its count.
# Usage: opt_test.sh NNC SOURCE_DIR
nnc=${1:?path to nnc}
src=${2:?source dir}
source "$src/tests/cli/lib.sh"

expect_status 0 "opt --print-after-all" -- "$nnc" opt "$src/examples/resnet_s.ir" --print-after-all -o "$work/final.ir"
expect_in "$work/err" "# ----- after autodiff -----" "sections are headed by comments"
# Each section is a whole model: split at the comment lines and check each.
awk -v dir="$work" '/^# ----- after /{n++; next} {print > (dir "/section" n ".ir")}' "$work/err"
sections=$(ls "$work"/section*.ir | wc -l)
if [ "$sections" -ge 5 ]; then pass; else failure "one section per pass, got $sections"; fi
for f in "$work"/section*.ir; do
  expect_status 0 "section $(basename "$f") parses" -- "$nnc" check "$f"
done
# The whole stderr parses too when it holds one section: comments are skipped.
expect_status 0 "one pass" -- "$nnc" opt "$src/examples/xor.ir" --passes=autodiff --print-after-all
expect_status 0 "its printout parses as it is" -- bash -c "'$nnc' opt '$src/examples/xor.ir' --passes=autodiff --print-after-all 2>&1 >/dev/null | '$nnc' check -"

expect_status 0 "opt --remarks" -- "$nnc" opt "$src/examples/resnet_s.ir" --remarks
expect_in "$work/err" "resnet_s.ir:47:13: remark: 6 x matmul fused with add and relu into fused_matmul (also at lines 48, 50, 51, 53 and 54)" \
  "repeated remarks are grouped with their lines"
expect_in "$work/err" "22 x 6 element-wise ops fused into fused_elementwise" "the optimizer's fusions are counted"
if [ "$(grep -c 'matmul fused with add and relu' "$work/err")" = 1 ]; then pass; else failure "a grouped remark is printed once"; fi
expect_in "$work/err" "not fused with div: its result must be kept (an output, an update or the loss)" "remarks say why plainly"

finish
