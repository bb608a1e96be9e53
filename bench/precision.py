#!/usr/bin/python3
"""Mixed precision: nnc in f32 and in bf16 against PyTorch in f32 and under
CPU autocast to bf16, on the Fashion-MNIST MLP (examples/mlp.ir and its twin
bench/torch_mnist.py), and the bf16 GEMM against oneDNN's:

    python3 bench/precision.py [--threads 1,2] [--epochs 5] [--out bench/PRECISION.md]

For every thread count, four trainings of `--epochs` epochs each, in fresh
processes with the environment of bench/run.py (OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS, OMP_WAIT_POLICY=PASSIVE above 1 thread, OpenBLAS for
Debian's torch), each twice in the order A B C D D C B A so that a slow
spell of the shared machine does not fall on one side only:

  nnc f32     build/nnc train examples/mlp.ir --precision f32  ...
  nnc bf16    build/nnc train examples/mlp.ir --precision bf16 ...
  torch f32   bench/torch_mnist.py --precision f32
  torch bf16  bench/torch_mnist.py --precision bf16   (torch.autocast("cpu", bfloat16))

(batch 64, SGD lr 0.1 with a per-batch cosine schedule). The epoch time is
the median over both runs' epochs; the accuracy is the first run's after
the last epoch. Then the GEMM of the MLP's first layer (64x784 by 784x256
with bias and relu, bench/nnc_bench --workload mm_784x256) in f32 and bf16,
nnc against oneDNN (oneDNN's bf16 operands converted before timing, nnc's
converted inside it), medians of 3 fresh processes each.

The report (default bench/PRECISION.md) names the CPU, the load average
before and after, and gives the issue's targets: bf16 epochs at least 1.6x
faster than nnc's f32 and at least 1.5x faster than PyTorch's autocast bf16,
test accuracy within 0.5 percentage points of f32.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  bench/run.py: find_openblas, base_env, thread_env, load_avg, sh, ratio

ROOT, BUILD, PY, DATA = run.ROOT, run.BUILD, run.PY, run.DATA
ENGINES = ["nnc f32", "nnc bf16", "torch f32", "torch bf16"]


def train(engine, threads, epochs, env, tmp, tag):
    """One training run: the --log records (nnc) or the JSON lines (torch)."""
    side, precision = engine.split()
    log = os.path.join(tmp, f"{side}-{precision}-{threads}-{tag}.jsonl")
    if side == "nnc":
        cmd = [os.path.join(BUILD, "nnc"), "train", "examples/mlp.ir", "--data", DATA,
               "--epochs", str(epochs), "--batch", "64", "--lr-schedule", "cosine",
               "--threads", str(threads), "--precision", precision, "--log", log]
    else:
        cmd = [PY, "bench/torch_mnist.py", "--data", DATA, "--epochs", str(epochs),
               "--threads", str(threads), "--precision", precision]
    p = subprocess.run(cmd, env=run.thread_env(env, threads, tmp), capture_output=True,
                       text=True, cwd=ROOT)
    if p.returncode != 0:
        print(f"precision.py: {' '.join(cmd)} failed:\n{p.stderr}", file=sys.stderr)
        return []
    lines = open(log).read().splitlines() if side == "nnc" else p.stdout.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def epochs_of(threads, epochs, env, tmp):
    out = {}
    order = ENGINES + ENGINES[::-1]
    for i, engine in enumerate(order):
        recs = train(engine, threads, epochs, env, tmp, i)
        if not recs:
            continue
        o = out.setdefault(engine, {"seconds": [], "accuracy": recs[-1].get("test_accuracy")})
        o["seconds"] += [r["seconds"] for r in recs]
        o["median_s"] = statistics.median(o["seconds"])
    return out


def gemm(engine, precision, threads, env, tmp):
    samples = []
    for _ in range(3):
        cmd = [os.path.join(BUILD, "nnc_bench"), "--engine", engine, "--workload", "mm_784x256",
               "--threads", str(threads), "--reps", "15", "--precision", precision]
        p = subprocess.run(cmd, env=run.thread_env(env, threads, tmp), capture_output=True,
                           text=True, cwd=ROOT)
        if p.returncode == 0:
            samples.append(json.loads(p.stdout.strip().splitlines()[-1])["median_us"])
    return statistics.median(samples) if samples else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(HERE, "PRECISION.md"))
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    openblas, blas = run.find_openblas()
    env, core, forced = run.base_env(openblas)
    before = run.load_avg()
    tmp = tempfile.mkdtemp(prefix="nnc-precision-")
    results = {t: epochs_of(t, a.epochs, env, tmp) for t in threads}
    gemms = {t: {(e, p): gemm(e, p, t, env, tmp) for e in ("nnc", "onednn") for p in ("f32", "bf16")}
             for t in threads}
    after = run.load_avg()
    cpu = run.sh("lscpu | sed -n 's/^Model name: *//p'")
    commit = run.sh("git rev-parse --short HEAD") + (" (with uncommitted changes)"
                                                     if run.sh("git status --porcelain") else "")
    torch_version = run.sh(f"{PY} -c 'import torch; print(torch.__version__)'")
    lines = [
        "# Mixed precision: nnc f32 and bf16 against PyTorch f32 and autocast bf16",
        "",
        f"Produced by `python3 bench/precision.py --threads {a.threads} --epochs {a.epochs}` on "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}.",
        "",
        f"- CPU: {cpu}, {os.cpu_count()} CPUs; nnc commit {commit}; PyTorch {torch_version}",
        f"- PyTorch's BLAS: {blas}; OpenBLAS core detected: {core}"
        + (f", forced OPENBLAS_CORETYPE={forced}" if forced else ""),
        f"- Load average (1/5/15 min) before: {' '.join(before)}, after: {' '.join(after)}",
        "- The Fashion-MNIST MLP 784-256-256-10, batch 64, SGD lr 0.1 with a per-batch cosine "
        "schedule; nnc `train --precision P`, PyTorch bench/torch_mnist.py `--precision P` "
        "(bf16: `torch.autocast(\"cpu\", dtype=torch.bfloat16)` around the forward pass and "
        "the loss).",
        "- Epoch seconds: median over the epochs of two runs each (order A B C D D C B A); "
        "accuracy: the first run's, after the last epoch.",
        "",
        "| threads | engine | epoch s | test accuracy | speedup of nnc bf16 |",
        "|---|---|---|---|---|",
    ]
    targets = []
    for t in threads:
        r = results[t]
        nb = r.get("nnc bf16", {}).get("median_s")
        for engine in ENGINES:
            if engine not in r:
                continue
            s = r[engine]["median_s"]
            speed = "-" if engine == "nnc bf16" else run.ratio(nb, s)
            lines.append(f"| {t} | {engine} | {s:.3f} | {r[engine]['accuracy']:.4f} | {speed} |")
        if nb and "nnc f32" in r and "torch bf16" in r:
            vs_f32 = r["nnc f32"]["median_s"] / nb
            vs_torch = r["torch bf16"]["median_s"] / nb
            drop = (r["nnc f32"]["accuracy"] - r["nnc bf16"]["accuracy"]) * 100
            targets.append(
                f"| {t} | {vs_f32:.2f}x ({'met' if vs_f32 >= 1.6 else 'NOT met'}) | "
                f"{vs_torch:.2f}x ({'met' if vs_torch >= 1.5 else 'NOT met'}) | "
                f"{drop:+.2f} points ({'met' if abs(drop) <= 0.5 else 'NOT met'}) |")
    lines += ["", "## Targets", "",
              "| threads | nnc bf16 vs nnc f32 (>= 1.6x) | nnc bf16 vs PyTorch autocast bf16 "
              "(>= 1.5x) | accuracy f32 - bf16 (within 0.5) |", "|---|---|---|---|"] + targets
    lines += ["", "## The first layer's GEMM (64x784 by 784x256, bias, relu)", "",
              "| threads | nnc f32 us | oneDNN f32 us | nnc bf16 us | oneDNN bf16 us | "
              "nnc bf16 vs f32 | nnc bf16 vs oneDNN bf16 |", "|---|---|---|---|---|---|---|"]
    for t in threads:
        g = gemms[t]
        cells = [g[("nnc", "f32")], g[("onednn", "f32")], g[("nnc", "bf16")], g[("onednn", "bf16")]]
        text = " | ".join(f"{c:.1f}" if c else "-" for c in cells)
        lines.append(f"| {t} | {text} | {run.ratio(cells[2], cells[0])} | "
                     f"{run.ratio(cells[2], cells[3])} |")
    lines.append("")
    with open(a.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
