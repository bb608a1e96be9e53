#!/usr/bin/python3
"""One command for the whole benchmark (bench/README.md):

    python3 bench/run.py [--quick] [--rounds R] [--threads 1,2] [--no-mnist]

Runs every workload in nnc (build/nnc_bench), PyTorch eager
(bench/torch_bench.py) and oneDNN (build/nnc_bench --engine onednn) in
round-robin rounds, each measurement a fresh process with the same
environment and thread count, at 1 and 2 threads; then workload 7 (Fashion-
MNIST epochs through `nnc train` against bench/torch_mnist.py). Prints the
table of medians and ratios and writes bench/RESULTS.md.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("NNC_BUILD_DIR", os.path.join(ROOT, "build"))
PY = "/usr/bin/python3"
DATA = "/usr/share/datasets/fashion-mnist"

# name, engines, description
WORKLOADS = [
    ("mm_784x256", ["nnc", "onednn", "torch"], "1. matmul+bias+relu 64x784 * 784x256"),
    ("mm_512", ["nnc", "onednn", "torch"], "1. matmul+bias+relu 512x512x512"),
    ("mlp_train", ["nnc", "torch"], "2. MLP 784-256-256-10 train step, batch 64"),
    ("xor_train", ["nnc", "torch"], "3. XOR 2-4-1 train step, batch 4"),
    ("resln_fwd", ["nnc", "torch"], "4. residual+layernorm 512, batch 64, forward"),
    ("resln_train", ["nnc", "torch"], "4. residual+layernorm 512, batch 64, fwd+bwd+SGD"),
    ("conv_fwd", ["nnc", "torch"], "5. conv2d 3x3 1->16 28x28, batch 64, forward"),
    ("compile_mlp", ["nnc"], "6. JIT compile of the MLP train step, cold"),
]
# target: (comparator, factor) -- nnc must be `factor` times faster
TARGETS = {
    "mm_784x256": ("onednn", 1.0), "mm_512": ("onednn", 1.0),
    "mlp_train": ("torch", 2.0), "xor_train": ("torch", 300.0),
    "resln_fwd": ("torch", 2.5), "resln_train": ("torch", 2.5),
    "conv_fwd": ("torch", 1.5),
}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def find_openblas():
    """Debian's torch calls libblas.so.3. If the system alternative is the
    reference BLAS (no OpenBLAS installed), use OpenBLAS unpacked from the
    Debian package into a private directory (not installed system-wide)."""
    alt = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    if "openblas" in alt:
        return None, "OpenBLAS (system, %s)" % alt
    cands = [os.environ.get("NNC_BENCH_OPENBLAS", ""),
             os.path.expanduser("~/.cache/nnc-bench/openblas/usr/lib/x86_64-linux-gnu/openblas-pthread"),
             "/tmp/nnc-bench-openblas/root/usr/lib/x86_64-linux-gnu/openblas-pthread"]
    for c in cands:
        if c and os.path.exists(os.path.join(c, "libblas.so.3")):
            return c, "OpenBLAS 0.3.21 (libopenblas0-pthread unpacked in %s, via LD_LIBRARY_PATH)" % c
    cache = os.path.expanduser("~/.cache/nnc-bench/openblas")
    os.makedirs(cache, exist_ok=True)
    print("run.py: no OpenBLAS installed; fetching libopenblas0-pthread into", cache, file=sys.stderr)
    sh(f"cd {cache} && apt-get download libopenblas0-pthread && dpkg -x libopenblas0-pthread_*.deb .")
    c = os.path.join(cache, "usr/lib/x86_64-linux-gnu/openblas-pthread")
    if os.path.exists(os.path.join(c, "libblas.so.3")):
        return c, "OpenBLAS 0.3.21 (libopenblas0-pthread unpacked in %s, via LD_LIBRARY_PATH)" % c
    return None, "reference BLAS (%s): PyTorch's GEMM is slow here; install libopenblas0" % alt


def base_env(openblas_dir):
    env = dict(os.environ)
    if openblas_dir:
        env["LD_LIBRARY_PATH"] = openblas_dir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    # OpenBLAS 0.3.21 does not know recent Xeons and falls back to its generic
    # "Prescott" kernels; name the nearest core it knows.
    probe = subprocess.run([PY, "-c", "import torch; torch.ones(4,4)@torch.ones(4,4)"],
                           env=dict(env, OPENBLAS_VERBOSE="2"), capture_output=True, text=True)
    core = re.search(r"Core: (\S+)", probe.stdout + probe.stderr)
    flags = open("/proc/cpuinfo").read()
    if core and core.group(1) == "Prescott" and "OPENBLAS_CORETYPE" not in env:
        env["OPENBLAS_CORETYPE"] = "SkylakeX" if " avx512f" in flags else "Haswell"
    return env, (core.group(1) if core else "?"), env.get("OPENBLAS_CORETYPE")


def thread_env(env, n, tmp):
    e = dict(env)
    e["OPENBLAS_NUM_THREADS"] = str(n)
    e["OMP_NUM_THREADS"] = str(n)
    if n > 1:
        e["OMP_WAIT_POLICY"] = "PASSIVE"
    else:
        e.pop("OMP_WAIT_POLICY", None)
    cache = tempfile.mkdtemp(prefix="cache-", dir=tmp)  # empty: cold compiles
    e["NNC_CACHE_DIR"] = cache
    return e


def run_one(workload, engine, threads, reps, env):
    if engine == "torch":
        cmd = [PY, os.path.join(ROOT, "bench/torch_bench.py")]
    else:
        cmd = [os.path.join(BUILD, "nnc_bench"), "--engine", engine]
    if workload == "compile_mlp":
        reps = 1  # one cold compile per fresh process
    cmd += ["--workload", workload, "--threads", str(threads), "--reps", str(reps)]
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    except OSError as e:
        print(f"run.py: {' '.join(cmd)}: {e}", file=sys.stderr)
        return None
    if p.returncode != 0:
        print(f"run.py: {' '.join(cmd)} failed:\n{p.stderr}", file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def load_avg():
    return open("/proc/loadavg").read().split()[:3]


def mnist(threads, epochs, env, tmp):
    """Workload 7: nnc train and the PyTorch loop, same data, batch, threads.
    Each trains twice, in the order A B B A, so that a slow spell of the
    (shared) machine does not fall on one side only; the epoch time is the
    median over both runs' epochs, the accuracy that of the first run."""
    out = {}
    first, second = ["nnc", "torch"] if threads % 2 else ["torch", "nnc"]
    for run, engine in enumerate([first, second, second, first]):
        e = thread_env(env, threads, tmp)
        log = os.path.join(tmp, f"mnist-{engine}-{threads}-{run}.jsonl")
        if engine == "nnc":
            cmd = [os.path.join(BUILD, "nnc"), "train", "examples/mlp.ir", "--data", DATA,
                   "--epochs", str(epochs), "--batch", "64", "--lr-schedule", "cosine",
                   "--threads", str(threads), "--log", log]
            p = subprocess.run(cmd, env=e, capture_output=True, text=True, cwd=ROOT)
            lines = open(log).read().splitlines() if os.path.exists(log) else []
        else:
            cmd = [PY, "bench/torch_mnist.py", "--data", DATA, "--epochs", str(epochs),
                   "--threads", str(threads)]
            p = subprocess.run(cmd, env=e, capture_output=True, text=True, cwd=ROOT)
            lines = p.stdout.splitlines()
        if p.returncode != 0:
            print(f"run.py: {' '.join(cmd)} failed:\n{p.stderr}", file=sys.stderr)
            continue
        recs = [json.loads(l) for l in lines if l.startswith("{")]
        if not recs:
            continue
        secs = [r["seconds"] for r in recs]
        if engine in out:
            out[engine]["epoch_seconds"] += secs
            out[engine]["median_s"] = statistics.median(out[engine]["epoch_seconds"])
        else:
            out[engine] = {"epoch_seconds": secs, "median_s": statistics.median(secs),
                           "accuracy": recs[-1].get("test_accuracy"), "epochs": len(recs)}
    return out


def ratio(nnc, other):
    if not nnc or not other:
        return "-"
    r = other / nnc
    return f"{r:.2f}x faster" if r >= 1 else f"{1 / r:.2f}x slower"


def fmt_us(v):
    if v is None:
        return "-"
    return f"{v:,.1f}" if v >= 100 else (f"{v:.2f}" if v >= 1 else f"{v:.3f}")


def main():
    global BUILD
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1 round, fewer reps, 2 MNIST epochs")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--no-mnist", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/RESULTS.md"))
    a = ap.parse_args()
    rounds = a.rounds or (1 if a.quick else 5)
    reps = a.reps or (5 if a.quick else 11)
    epochs = a.epochs or (2 if a.quick else 5)
    threads = [int(t) for t in a.threads.split(",")]
    for exe in ("nnc_bench", "nnc"):
        if not os.path.exists(os.path.join(BUILD, exe)):
            sys.exit(f"run.py: {BUILD}/{exe} is missing: tools/setup.sh --bench, then "
                     f"cmake --build build --target nnc nnc_bench")

    openblas_dir, blas = find_openblas()
    env, core, coretype = base_env(openblas_dir)
    tmp = tempfile.mkdtemp(prefix="nnc-bench-")
    # Snapshot the binaries: a rebuild during the run must not change (or
    # break) what is measured.
    snap = os.path.join(tmp, "bin")
    os.makedirs(snap)
    for exe in ("nnc_bench", "nnc"):
        shutil.copy2(os.path.join(BUILD, exe), snap)
    BUILD = snap
    load_before = load_avg()
    started = datetime.datetime.now()
    results = {}  # (workload, engine, threads) -> list of records
    peaks = {}    # threads -> list of GFLOP/s
    for r in range(rounds):
        for t in threads:
            rec = run_one("fma_peak", "cpu", t, reps, thread_env(env, t, tmp))
            if rec:
                peaks.setdefault(t, []).append(rec["peak_gflops"])
            for w, engines, _ in WORKLOADS:
                k = r % len(engines)
                for engine in engines[k:] + engines[:k]:  # rotate who goes first
                    rec = run_one(w, engine, t, reps, thread_env(env, t, tmp))
                    if rec:
                        results.setdefault((w, engine, t), []).append(rec)
                        print(f"round {r + 1}/{rounds} threads {t} {w:12s} {engine:6s} "
                              f"{rec.get('first_us', rec['median_us']):>12.3f} us", file=sys.stderr)
    mn = {}
    if not a.no_mnist:
        for t in threads:
            mn[t] = mnist(t, epochs, env, tmp)
            print(f"mnist threads {t}: {json.dumps(mn[t])}", file=sys.stderr)
    load_after = load_avg()
    shutil.rmtree(tmp, ignore_errors=True)

    def med(w, e, t, key="median_us"):
        recs = results.get((w, e, t))
        if not recs:
            return None
        key = "first_us" if w == "compile_mlp" else key
        return statistics.median(float(x[key]) for x in recs)

    def gf(w, e, t):
        recs = results.get((w, e, t))
        return statistics.median(x["gflops"] for x in recs) if recs and "gflops" in recs[0] else None

    peak = {t: max(v) for t, v in peaks.items()}
    lines = []
    lines.append("| workload | threads | nnc us | PyTorch us | oneDNN us | nnc vs PyTorch | nnc vs oneDNN | GFLOP/s nnc / oneDNN / PyTorch (% of the FMA peak) |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for w, engines, desc in WORKLOADS:
        for t in threads:
            n, tt, o = med(w, "nnc", t), med(w, "torch", t), med(w, "onednn", t)
            g = [gf(w, e, t) for e in ("nnc", "onednn", "torch")]
            def of_peak(x):
                return f" ({x / peak[t] * 100:.0f}%)" if t in peak and peak[t] else ""
            gs = " / ".join("-" if x is None else f"{x:.1f}{of_peak(x)}" for x in g) if any(g) else "-"
            extra = ""
            if w == "conv_fwd" and results.get((w, "torch", t)):
                rs = results[(w, "torch", t)]
                extra = (f" (mkldnn {statistics.median(x['mkldnn_us'] for x in rs):,.0f},"
                         f" off {statistics.median(x['no_mkldnn_us'] for x in rs):,.0f})")
            lines.append(f"| {desc} | {t} | {fmt_us(n)} | {fmt_us(tt)}{extra} | {fmt_us(o)} | "
                         f"{ratio(n, tt) if tt else '-'} | {ratio(n, o) if o else '-'} | {gs} |")
    for t in threads:
        if t in mn and "nnc" in mn[t] and "torch" in mn[t]:
            n, tt = mn[t]["nnc"], mn[t]["torch"]
            lines.append(f"| 7. Fashion-MNIST MLP epoch (s), test acc after {epochs} | {t} | "
                         f"{n['median_s']:.3f} s, acc {n['accuracy']} | {tt['median_s']:.3f} s, acc {tt['accuracy']} | - | "
                         f"{ratio(n['median_s'], tt['median_s'])} | - | - |")
    table = "\n".join(lines)

    # PyTorch at its best thread count vs nnc at its best.
    best_lines = ["| workload | nnc best us (threads) | PyTorch best us (threads) | nnc vs PyTorch best |",
                  "|---|---|---|---|"]
    for w, engines, desc in WORKLOADS:
        if "torch" not in engines:
            continue
        nb = min(((med(w, "nnc", t), t) for t in threads if med(w, "nnc", t)), default=(None, None))
        tb = min(((med(w, "torch", t), t) for t in threads if med(w, "torch", t)), default=(None, None))
        if nb[0] and tb[0]:
            best_lines.append(f"| {desc} | {fmt_us(nb[0])} ({nb[1]}) | {fmt_us(tb[0])} ({tb[1]}) | {ratio(nb[0], tb[0])} |")
    if mn:
        nb = min(((mn[t]["nnc"]["median_s"], t) for t in mn if "nnc" in mn[t]), default=(None, None))
        tb = min(((mn[t]["torch"]["median_s"], t) for t in mn if "torch" in mn[t]), default=(None, None))
        if nb[0] and tb[0]:
            best_lines.append(f"| 7. Fashion-MNIST epoch (s) | {nb[0]:.3f} ({nb[1]}) | {tb[0]:.3f} ({tb[1]}) | {ratio(nb[0], tb[0])} |")
    best_table = "\n".join(best_lines)

    # Targets.
    tl = ["| target | threads | measured | status |", "|---|---|---|---|"]
    for w, (cmp_, factor) in TARGETS.items():
        for t in threads:
            n, o = med(w, "nnc", t), med(w, cmp_, t)
            if not n or not o:
                continue
            sp = o / n
            ok = sp >= factor
            what = f"nnc {sp:.2f}x vs {cmp_} (need >= {factor:g}x)"
            if w.startswith("mm_") and t in peak:
                g = gf(w, "nnc", t)
                pk = g / peak[t] if g else 0
                what += f"; {g:.1f} GFLOP/s = {pk * 100:.0f}% of the {t}-thread FMA peak {peak[t]:.0f} (need >= 90%)"
                ok = ok and pk >= 0.9
            tl.append(f"| {w} | {t} | {what} | {'met' if ok else 'NOT met'} |")
    for t in threads:
        c = med("compile_mlp", "nnc", t)
        if c:
            tl.append(f"| compile_mlp (cold, < 150 ms) | {t} | {c / 1e3:.0f} ms | {'met' if c < 150e3 else 'NOT met'} |")
    for t in threads:
        if t in mn and "nnc" in mn[t] and "torch" in mn[t]:
            n, tt = mn[t]["nnc"], mn[t]["torch"]
            sp = tt["median_s"] / n["median_s"]
            acc = n["accuracy"] or 0
            tl.append(f"| Fashion-MNIST (acc >= 0.88 after 5 epochs, epoch >= 2x faster) | {t} | "
                      f"acc {acc} after {n['epochs']} epochs; epoch {n['median_s']:.3f} s vs {tt['median_s']:.3f} s = {sp:.2f}x | "
                      f"acc {'met' if acc >= 0.88 and n['epochs'] >= 5 else 'NOT met'}, speed {'met' if sp >= 2 else 'NOT met'} |")
    targets = "\n".join(tl)

    commit = sh("git rev-parse --short HEAD") + (" (with uncommitted changes)" if sh("git status --porcelain --untracked-files=no") else "")
    model = sh("lscpu | sed -n 's/^Model name: *//p'")
    cpus = sh("nproc")
    flags = open("/proc/cpuinfo").read()
    isa = ", ".join(x for x in ("avx512f", "avx512_bf16", "amx_tile", "avx2", "fma") if re.search(r"\b%s\b" % x, flags))
    peak_s = ", ".join(f"{t} thread{'s' if t > 1 else ''}: {peak[t]:.0f} GFLOP/s" for t in sorted(peak))
    md = f"""# nnc benchmark results

Produced by `python3 bench/run.py{' --quick' if a.quick else ''}` on {started:%Y-%m-%d %H:%M}
({rounds} round(s) of fresh processes, {reps} samples per process, nnc/PyTorch/oneDNN alternating).

## Machine

- CPU: {model}, {cpus} CPUs ({platform.machine()}, {sh("lscpu | sed -n 's/^Hypervisor vendor: *//p'") or 'bare metal'} guest); ISA: {isa}
- Measured FP32 FMA peak (bench/nnc_bench --workload fma_peak): {peak_s}
- nnc commit: {commit}; LLVM 19; oneDNN {sh("dpkg-query -W -f='${Version}' libdnnl2")}; PyTorch {sh(PY + " -c 'import torch; print(torch.__version__)'")}
- PyTorch's BLAS: {blas}; OpenBLAS core detected: {core}{f', forced OPENBLAS_CORETYPE={coretype}' if coretype else ''}
- Load average (1/5/15 min) before: {' '.join(load_before)}, after: {' '.join(load_after)} (2 CPUs shared with other work: expect 10-30% noise)
- Every engine runs on the row's thread count: nnc on its runtime pool (`nnc_bench --threads N`,
  `nnc train --threads N`), PyTorch and oneDNN through OMP_NUM_THREADS, OPENBLAS_NUM_THREADS,
  torch.set_num_threads, OMP_WAIT_POLICY=PASSIVE.

## Medians (microseconds per call; ratio = comparator time / nnc time)

{table}

Workload 6 is the first (cold, no disk cache) `CompiledModel::load` of examples/mlp.ir with its training step
in a fresh process, median over rounds. Workload 7: `nnc train examples/mlp.ir --epochs {epochs}` (`seconds` of --log, median over the epochs of two runs each, in the order A B B A)
against bench/torch_mnist.py (same model, init scheme, batch 64, SGD lr 0.1 with a per-batch cosine schedule, same threads).

## Each side at its best thread count

{best_table}

## Targets of issue 6

{targets}
"""
    with open(a.out, "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
