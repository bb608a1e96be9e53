#!/usr/bin/python3
"""The Fashion-MNIST CNN: nnc in f32 and bf16 against PyTorch in f32 (with
and without oneDNN) and under CPU autocast to bf16, on examples/fashion_cnn.ir
and its twin `bench/torch_mnist.py --model cnn`:

    python3 bench/cnn.py [--threads 1,2] [--epochs 3] [--out bench/CNN.md]
                         [--skip ENGINE[,ENGINE]] [--once ENGINE[,ENGINE]] [--dry-run]

For every thread count, five trainings of `--epochs` epochs each, in fresh
processes with the environment of bench/run.py (OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS, OMP_WAIT_POLICY=PASSIVE above 1 thread, OpenBLAS for
Debian's torch, an empty NNC_CACHE_DIR per process), each twice in the order
A B C D E E D C B A so that a slow spell of the shared machine does not fall
on one side only:

  nnc f32              build/nnc train examples/fashion_cnn.ir --precision f32  ...
  nnc bf16             build/nnc train examples/fashion_cnn.ir --precision bf16 ...
  torch f32            bench/torch_mnist.py --model cnn --precision f32
  torch f32 no-mkldnn  bench/torch_mnist.py --model cnn --precision f32 --mkldnn off
  torch bf16           bench/torch_mnist.py --model cnn --precision bf16   (autocast)

(batch 64, SGD lr 0.05 momentum 0.9). `--skip` drops engines (names as
above, comma-separated); `--once` runs engines in the first half only (the
no-mkldnn path takes ~25 s an epoch: `--once "torch f32 no-mkldnn"`). Without
avx512_bf16 in /proc/cpuinfo the two bf16 engines are skipped, and the report
says so. `--dry-run` prints the commands and their environment, runs nothing.

The epoch time is the median over both runs' epochs; the step time is that
over the 938 steps of an epoch; the accuracy is the first run's after the last
epoch. The report (default bench/CNN.md) names the CPU, the load average
before and after, and gives the issue's targets: nnc f32 at its best thread
count at least 2x faster per epoch than PyTorch f32 at its best thread count
and mkldnn setting; nnc bf16 at least 1.6x faster than nnc f32 and at least
1.5x faster than PyTorch's autocast bf16 at its best thread count; bf16's test
accuracy within 0.5 percentage points of f32's.
"""
import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  bench/run.py: find_openblas, base_env, thread_env, load_avg, sh, ratio

ROOT, BUILD, PY, DATA = run.ROOT, run.BUILD, run.PY, run.DATA
ENGINES = ["nnc f32", "nnc bf16", "torch f32", "torch f32 no-mkldnn", "torch bf16"]
BF16 = ["nnc bf16", "torch bf16"]
TORCH_F32 = ["torch f32", "torch f32 no-mkldnn"]
BATCH = 64
STEPS = (60000 + BATCH - 1) // BATCH  # 938 steps an epoch, the last one partial


def command(engine, threads, epochs, nnc, log):
    """The command line of one training run of `engine`."""
    if engine.startswith("nnc"):
        precision = engine.split()[1]
        return [nnc, "train", "examples/fashion_cnn.ir", "--data", DATA, "--epochs", str(epochs),
                "--batch", str(BATCH), "--threads", str(threads), "--precision", precision,
                "--log", log]
    precision = "bf16" if engine == "torch bf16" else "f32"
    return [PY, "bench/torch_mnist.py", "--model", "cnn", "--data", DATA, "--epochs", str(epochs),
            "--batch", str(BATCH), "--threads", str(threads), "--precision", precision,
            "--mkldnn", "off" if engine.endswith("no-mkldnn") else "on"]


def train(engine, threads, epochs, env, tmp, tag, nnc):
    """One training run: the --log records (nnc) or the JSON lines (torch)."""
    log = os.path.join(tmp, f"{engine.replace(' ', '-')}-{threads}-{tag}.jsonl")
    cmd = command(engine, threads, epochs, nnc, log)
    p = subprocess.run(cmd, env=run.thread_env(env, threads, tmp), capture_output=True,
                       text=True, cwd=ROOT)
    if p.returncode != 0:
        print(f"cnn.py: {' '.join(cmd)} failed:\n{p.stderr}", file=sys.stderr)
        return []
    if engine.startswith("nnc"):
        lines = open(log).read().splitlines() if os.path.exists(log) else []
    else:
        lines = p.stdout.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def order(engines, once):
    """A B C D E E D C B A, the --once engines in the first half only."""
    return engines + [e for e in engines[::-1] if e not in once]


def epochs_of(threads, epochs, env, tmp, engines, once, nnc):
    out = {}
    for i, engine in enumerate(order(engines, once)):
        recs = train(engine, threads, epochs, env, tmp, i, nnc)
        if not recs:
            continue
        o = out.setdefault(engine, {"seconds": [], "runs": 0,
                                    "accuracy": recs[-1].get("test_accuracy")})
        o["seconds"] += [r["seconds"] for r in recs]
        o["runs"] += 1
        o["median_s"] = statistics.median(o["seconds"])
        print(f"cnn.py: threads {threads} {engine}: epochs {[r['seconds'] for r in recs]} s, "
              f"accuracy {recs[-1].get('test_accuracy')}", file=sys.stderr, flush=True)
    return out


def names(text, ap, flag):
    """A comma-separated list of engine names."""
    got = [x.strip() for x in text.split(",") if x.strip()] if text else []
    for x in got:
        if x not in ENGINES:
            ap.error(f"{flag}: unknown engine '{x}' (one of: {', '.join(ENGINES)})")
    return got


def fmt_acc(a):
    return f"{a:.4f}" if isinstance(a, (int, float)) else "-"


def met(ok):
    return "met" if ok else "NOT met"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "CNN.md"))
    ap.add_argument("--skip", default="", help="engines not to run, comma-separated")
    ap.add_argument("--once", default="", help="engines to run in the first half only, comma-separated")
    ap.add_argument("--dry-run", action="store_true", help="print the commands and environment, run nothing")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    skip, once = names(a.skip, ap, "--skip"), names(a.once, ap, "--once")
    has_bf16 = re.search(r"\bavx512_bf16\b", open("/proc/cpuinfo").read()) is not None
    engines = [e for e in ENGINES if e not in skip and (has_bf16 or e not in BF16)]
    if not engines:
        ap.error("--skip leaves no engine to run")

    nnc = os.path.join(BUILD, "nnc")
    runs_nnc = any(e.startswith("nnc") for e in engines)
    if runs_nnc and not a.dry_run and not os.path.exists(nnc):
        sys.exit(f"cnn.py: {nnc} is missing: cmake --build build --target nnc")
    openblas, blas = run.find_openblas()
    env, core, forced = run.base_env(openblas)
    tmp = tempfile.mkdtemp(prefix="nnc-cnn-")

    if a.dry_run:
        print(f"# BLAS for torch: {blas}; OpenBLAS core {core}"
              + (f", OPENBLAS_CORETYPE={forced}" if forced else ""))
        if openblas:
            print(f"# LD_LIBRARY_PATH={env['LD_LIBRARY_PATH']}")
        if not has_bf16:
            print("# no avx512_bf16 in /proc/cpuinfo: nnc bf16 and torch bf16 skipped")
        print(f"# engines: {', '.join(engines)}" + (f"; once: {', '.join(once)}" if once else ""))
        keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE",
                "NNC_CACHE_DIR")
        for t in threads:
            for i, engine in enumerate(order(engines, once)):
                e = run.thread_env(env, t, tmp)
                log = os.path.join(tmp, f"{engine.replace(' ', '-')}-{t}-{i}.jsonl")
                envs = " ".join(f"{k}={e[k]}" for k in keys if k in e)
                print(f"# {engine}\n{envs} {shlex.join(command(engine, t, a.epochs, nnc, log))}")
        shutil.rmtree(tmp, ignore_errors=True)
        return

    if runs_nnc:
        # Snapshot the binary: a rebuild during the run must not change what is measured.
        shutil.copy2(nnc, tmp)
        nnc = os.path.join(tmp, "nnc")
    before = run.load_avg()
    started = datetime.datetime.now()
    results = {t: epochs_of(t, a.epochs, env, tmp, engines, once, nnc) for t in threads}
    after = run.load_avg()
    shutil.rmtree(tmp, ignore_errors=True)

    cpu = run.sh("lscpu | sed -n 's/^Model name: *//p'")
    commit = run.sh("git rev-parse --short HEAD") + (" (with uncommitted changes)"
                                                     if run.sh("git status --porcelain") else "")
    torch_version = run.sh(f"{PY} -c 'import torch; print(torch.__version__)'")
    invocation = " ".join(["python3 bench/cnn.py"] + [shlex.quote(x) for x in sys.argv[1:]])
    notes = []
    if not has_bf16:
        notes.append("- This CPU has no avx512_bf16 (/proc/cpuinfo): nnc bf16 and torch bf16 "
                     "were not run.")
    if skip:
        notes.append(f"- Skipped (--skip): {', '.join(skip)}.")
    if once:
        notes.append(f"- Run once only (--once, first half): {', '.join(once)}; their epoch "
                     "time is the median over that one run's epochs.")
    lines = [
        "# The Fashion-MNIST CNN: nnc against PyTorch",
        "",
        f"Produced by `{invocation}` on {started:%Y-%m-%d %H:%M}.",
        "",
        f"- CPU: {cpu}, {os.cpu_count()} CPUs; nnc commit {commit}; PyTorch {torch_version}",
        f"- PyTorch's BLAS: {blas}; OpenBLAS core detected: {core}"
        + (f", forced OPENBLAS_CORETYPE={forced}" if forced else ""),
        f"- Load average (1/5/15 min) before: {' '.join(before)}, after: {' '.join(after)}",
        "- The model (examples/fashion_cnn.ir; PyTorch: bench/torch_mnist.py `--model cnn`): "
        "conv 1->8 3x3 padding 1, relu, maxpool 2, conv 8->16 3x3 padding 1, relu, maxpool 2, "
        "linear 784->10; softmax cross-entropy; SGD lr 0.05 momentum 0.9, batch 64 "
        f"({STEPS} steps an epoch); {a.epochs} epoch(s) per run.",
        "- Engines: nnc `train --precision f32|bf16`; PyTorch f32 with oneDNN (mkldnn on) and "
        "without (`--mkldnn off`); PyTorch bf16: `torch.autocast(\"cpu\", dtype=torch.bfloat16)` "
        "around the forward pass and the loss, mkldnn on. Same thread count for every engine.",
        "- Epoch seconds: median over the epochs of two runs each (order A B C D E E D C B A); "
        f"step ms: epoch seconds / {STEPS}; accuracy: the first run's, after the last epoch; "
        "time / nnc f32: the engine's epoch time over nnc f32's at the same thread count (above 1: nnc f32 is faster; nnc bf16 below 1 is faster than nnc f32).",
    ] + notes + [
        "",
        "| threads | engine | epoch s | step ms | test accuracy | time / nnc f32 |",
        "|---|---|---|---|---|---|",
    ]
    for t in threads:
        r = results[t]
        nf = r.get("nnc f32", {}).get("median_s")
        for engine in ENGINES:
            if engine not in r:
                continue
            s = r[engine]["median_s"]
            speed = "-" if engine == "nnc f32" or not nf else f"{s / nf:.2f}x"
            lines.append(f"| {t} | {engine} | {s:.3f} | {s / STEPS * 1e3:.2f} | "
                         f"{fmt_acc(r[engine]['accuracy'])} | {speed} |")

    def best(engs):
        """(seconds, threads, engine) of the fastest of `engs` at any thread count."""
        return min(((results[t][e]["median_s"], t, e) for t in threads for e in engs
                    if e in results[t]), default=None)

    targets = ["| target | threads | measured | status |", "|---|---|---|---|"]
    nb, tb = best(["nnc f32"]), best(TORCH_F32)
    if nb and tb:
        sp = tb[0] / nb[0]
        targets.append(f"| nnc f32 at its best thread count vs PyTorch best (f32, any thread count "
                       f"and mkldnn setting; >= 2x) | {nb[1]} vs {tb[1]} | {nb[0]:.3f} s vs "
                       f"{tb[0]:.3f} s ({tb[2]}) = {sp:.2f}x | {met(sp >= 2)} |")
    else:
        targets.append("| nnc f32 at its best thread count vs PyTorch best (>= 2x) | - | "
                       "not measured | - |")
    tbb = best(["torch bf16"])
    for t in threads:
        r = results[t]
        f32, b16 = r.get("nnc f32"), r.get("nnc bf16")
        if not b16:
            why = "not measured (no avx512_bf16)" if not has_bf16 else "not measured"
            targets.append(f"| nnc bf16 vs nnc f32 (>= 1.6x) | {t} | {why} | - |")
            continue
        if f32:
            sp = f32["median_s"] / b16["median_s"]
            targets.append(f"| nnc bf16 vs nnc f32 (>= 1.6x) | {t} | {b16['median_s']:.3f} s vs "
                           f"{f32['median_s']:.3f} s = {sp:.2f}x | {met(sp >= 1.6)} |")
        if tbb:
            sp = tbb[0] / b16["median_s"]
            targets.append(f"| nnc bf16 vs torch bf16 at its best thread count (>= 1.5x) | "
                           f"{t} vs {tbb[1]} | {b16['median_s']:.3f} s vs {tbb[0]:.3f} s = "
                           f"{sp:.2f}x | {met(sp >= 1.5)} |")
        if f32 and isinstance(f32["accuracy"], (int, float)) \
                and isinstance(b16["accuracy"], (int, float)):
            drop = (f32["accuracy"] - b16["accuracy"]) * 100
            targets.append(f"| nnc bf16 accuracy vs nnc f32 (within 0.5 points) | {t} | "
                           f"{fmt_acc(b16['accuracy'])} vs {fmt_acc(f32['accuracy'])} = "
                           f"{-drop:+.2f} points | {met(abs(drop) <= 0.5)} |")
    lines += ["", "## Targets", ""] + targets + [""]
    with open(a.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
