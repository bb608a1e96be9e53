#!/usr/bin/env bash
# Data-parallel training under Open MPI (ctest label mpi): 2 ranks on this
# machine against one process on the same global batch, and the faults.
# Usage: run.sh NNC SOURCE_DIR SCRATCH
set -euo pipefail
nnc=$1 source=$2 scratch=$3
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch"
mpi=(mpiexec --oversubscribe)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1280 Fashion-MNIST examples: 20 steps of a global batch of 64.
/usr/bin/python3 - <<'PY'
import gzip, numpy as np
def idx(p):
    d = gzip.open(p).read(); r = d[3]
    shape = tuple(int.from_bytes(d[4 + 4 * i:8 + 4 * i], 'big') for i in range(r))
    return np.frombuffer(d, np.uint8, offset=4 + 4 * r).reshape(shape)
root = '/usr/share/datasets/fashion-mnist/'
x = idx(root + 'train-images-idx3-ubyte.gz')[:1280].reshape(1280, 784).astype(np.float32) / 255
y = idx(root + 'train-labels-idx1-ubyte.gz')[:1280].astype(np.int32)
np.save('x.npy', x); np.save('y.npy', y)
PY

compare() { # two checkpoints: every tensor within 1e-5 of the largest magnitude
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, struct, sys, numpy as np
def load(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: np.frombuffer(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]],
                             np.float32 if v['dtype'] == 'F32' else np.int32)
            for k, v in h.items() if k != '__metadata__'}
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys(), (a.keys(), b.keys())
worst = max(float(np.max(np.abs(a[k] - b[k])) / max(1e-12, float(np.max(np.abs(b[k]))))) for k in a)
print(f'  largest relative difference over all params: {worst:.2e}')
sys.exit(0 if worst <= 1e-5 else 1)
PY
}

for model in mlp resnet_s; do
  echo "== $model: 2 ranks x batch 32 against 1 process x batch 64, 20 steps"
  "${mpi[@]}" -n 2 "$nnc" train "$source/examples/$model.ir" --data x.npy,y.npy --batch 32 \
    --threads 1 --no-cache --save "$model.2.safetensors" --log "$model.2.jsonl" 2>"$model.2.err" ||
    { cat "$model.2.err"; fail "$model: the 2-rank run failed"; }
  "$nnc" train "$source/examples/$model.ir" --data x.npy,y.npy --batch 64 --threads 1 --no-cache \
    --save "$model.1.safetensors" 2>"$model.1.err" || fail "$model: the 1-process run failed"
  compare "$model.2.safetensors" "$model.1.safetensors" || fail "$model: the params differ"
  # Rank 0 alone logs (one line for the epoch) and says how many ranks ran;
  # the ranks' params were the same bits (checked each epoch, or exit 1).
  [ "$(wc -l <"$model.2.jsonl")" = 1 ] || fail "$model: the log has $(wc -l <"$model.2.jsonl") lines"
  grep -q '"ranks": 2' "$model.2.jsonl" || fail "$model: the log does not say 2 ranks"
  [ "$(grep -c 'train_loss' "$model.2.err")" = 1 ] || fail "$model: more than rank 0 reported"
done

echo "== a step where one rank has no rows (65 examples), several buckets"
/usr/bin/python3 -c "
import numpy as np
np.save('x65.npy', np.load('x.npy')[:65]); np.save('y65.npy', np.load('y.npy')[:65])"
"${mpi[@]}" -n 2 "$nnc" train "$source/examples/mlp.ir" --data x65.npy,y65.npy --batch 32 \
  --threads 1 --no-cache --bucket-kb 1 --save uneven.2.safetensors 2>uneven.err ||
  { cat uneven.err; fail "the uneven run failed"; }
"$nnc" train "$source/examples/mlp.ir" --data x65.npy,y65.npy --batch 64 --threads 1 --no-cache \
  --save uneven.1.safetensors 2>/dev/null || fail "the 1-process uneven run failed"
compare uneven.2.safetensors uneven.1.safetensors || fail "uneven: the params differ"

echo "== different settings: refused before the first step"
if "${mpi[@]}" -n 1 "$nnc" train "$source/examples/mlp.ir" --data x.npy,y.npy --batch 32 : \
  -n 1 "$nnc" train "$source/examples/mlp.ir" --data x.npy,y.npy --batch 16 >out 2>err; then
  fail "ranks with different batches trained"
fi
grep -q "rank 1's training settings differ from rank 0's" err || { cat err; fail "no clear error"; }

echo "== resuming on another number of ranks: refused"
if "${mpi[@]}" -n 1 "$nnc" train "$source/examples/mlp.ir" --data x.npy,y.npy --batch 32 \
  --epochs 2 --resume mlp.2.safetensors >out 2>err; then
  fail "a 2-rank run resumed on 1 rank"
fi
grep -q "cannot resume on 1 process: the run was trained on 2" err || { cat err; fail "no clear error"; }

echo "== different model files: refused before the first step"
if "${mpi[@]}" -n 1 "$nnc" train "$source/examples/mlp.ir" --data x.npy,y.npy : \
  -n 1 "$nnc" train "$source/examples/resnet_s.ir" --data x.npy,y.npy >out 2>err; then
  fail "ranks with different models trained"
fi
grep -q "rank 1 was started with another model than rank 0" err || { cat err; fail "no clear error"; }

echo "== data one rank cannot read: every rank stops with that rank's message"
if "${mpi[@]}" -n 1 "$nnc" train "$source/examples/mlp.ir" --data x.npy,y.npy : \
  -n 1 "$nnc" train "$source/examples/mlp.ir" --data missing.npy,y.npy >out 2>err; then
  fail "a rank without data trained"
fi
grep -q "rank 1: .*missing.npy" err || { cat err; fail "rank 1's message is not reported"; }

rank1() { # the pid of rank 1 of the run whose command line matches $1
  for pid in $(pgrep -f "$1" || true); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then
      echo "$pid"
    fi
  done
}

echo "== SIGTERM to one rank: every rank stops at the same step, rank 0 names its checkpoint"
"${mpi[@]}" -n 2 "$nnc" train "$source/examples/mlp.ir" --data x.npy,y.npy --batch 32 \
  --epochs 100000 --threads 1 --no-cache --save term.safetensors >term.out 2>term.err &
runner=$!
for _ in $(seq 1 600); do [ -f term.safetensors ] && break; sleep 0.1; done
victim=$(rank1 "nnc train .*term.safetensors")
[ -n "$victim" ] || fail "rank 1 not found"
kill -TERM "$victim"
status=0
timeout 60 tail --pid="$runner" -f /dev/null || fail "mpiexec still runs 60 s after SIGTERM to a rank"
wait "$runner" || status=$?
[ "$status" != 0 ] || fail "the run exited 0 after SIGTERM"
grep -q "interrupted at epoch .*last checkpoint: term.safetensors" term.err ||
  { cat term.err; fail "rank 0 does not name the checkpoint"; }
[ "$(grep -c interrupted term.err)" = 1 ] || fail "more than rank 0 reported the interrupt"

echo "== a rank killed (kill -9): the others stop in bounded time, the checkpoint intact"
"${mpi[@]}" -n 2 "$nnc" train "$source/examples/mlp.ir" --data /usr/share/datasets/fashion-mnist \
  --batch 16 --epochs 50 --threads 1 --no-cache --save long.safetensors >long.out 2>long.err &
runner=$!
for _ in $(seq 1 600); do [ -f long.safetensors ] && break; sleep 0.1; done
[ -f long.safetensors ] || fail "no checkpoint after the first epoch"
victim=$(rank1 "nnc train .*long.safetensors")
[ -n "$victim" ] || fail "rank 1 not found"
kill -9 "$victim"
start=$(date +%s)
status=0
timeout 60 tail --pid="$runner" -f /dev/null || fail "mpiexec still runs 60 s after a rank died"
wait "$runner" || status=$?
echo "  mpiexec stopped $(($(date +%s) - start)) s after rank 1 died, exit status $status"
[ "$status" != 0 ] || fail "mpiexec exited 0 after a rank died"
"$nnc" eval "$source/examples/mlp.ir" --params long.safetensors \
  --data /usr/share/datasets/fashion-mnist >eval.out 2>&1 || { cat eval.out; fail "the checkpoint is damaged"; }
echo "  the last checkpoint loads: $(tail -1 eval.out)"
echo "mpi tests passed"
