#!/usr/bin/env bash
# nnc's main job on real data, from a clean clone: set up and build, then
# train the course's MLP on Fashion-MNIST (Debian's dataset-fashion-mnist)
# and report test accuracy per epoch. Extra arguments go to `nnc train`
# (e.g. --epochs 10).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build_dir=${NNC_BUILD_DIR:-build}
data=/usr/share/datasets/fashion-mnist
mkdir -p out
"$build_dir/nnc" check examples/mlp.ir
"$build_dir/nnc" train examples/mlp.ir --data "$data" --epochs 5 --batch 64 --lr-schedule cosine \
  --log out/mlp-fashion.jsonl --save out/mlp-fashion.safetensors "$@"
echo "log: out/mlp-fashion.jsonl, checkpoint: out/mlp-fashion.safetensors"
