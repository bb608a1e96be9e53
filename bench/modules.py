#!/usr/bin/python3
"""nnc against its PyTorch twins on the two "modern modules" examples:

    python3 bench/modules.py [--threads 1,2] [--models resnet_bn,transformer_lm]
                             [--epochs N | --epochs-resnet N --epochs-lm N]
                             [--quick [--with-nnc]] [--log-every N] [--dry-run] [--out FILE]

For every thread count and model it trains, each in a fresh process with the
environment of bench/run.py (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS,
OMP_WAIT_POLICY=PASSIVE above 1 thread, OpenBLAS for Debian's torch via
run.find_openblas):

  nnc    build/nnc train examples/MODEL.ir --data DATA --epochs E --batch B
                   --threads N --log LOG --no-cache
  torch  bench/torch_modules.py --model MODEL --epochs E --batch B --threads N
         (resnet_bn with --mkldnn on and with --mkldnn off; the faster is
         "PyTorch best")

  resnet_bn       DATA = /usr/share/datasets/fashion-mnist, B = 64, E = 3
  transformer_lm  DATA = text:/usr/share/games/fortunes,     B = 32, E = 1

and writes a markdown report (default bench/MODULES.md): a table per model
(epoch seconds = median over the epochs, per-step ms, final test loss, test
accuracy or bits/byte, nnc's speedup = PyTorch time / nnc time), the
per-epoch loss curves of nnc and PyTorch side by side (the twins start from
nnc's very initial params and visit the data in nnc's order, so the curves
should agree within float noise), the CPU, the load average before and after,
and the date. nnc's per-step time is its epoch `seconds` over the epoch's
steps, ceil(train examples / batch) (938 for Fashion-MNIST at 64, ~1177 for
the fortunes at 32); PyTorch's is its epoch `seconds` over its steps (its
median step time is shown as well).

Both engines also log the loss of every 100th step's batch (`--log-every
100`, nnc train's option of that name; 0 turns it off); the report shows
them side by side.

--quick runs only the PyTorch twins, 1 epoch of --max-steps 50 each (nnc
train has no step limit); add --with-nnc to also run nnc for 1 full epoch
(its step time is then comparable, its losses are not: 1 full epoch against
50 steps). --dry-run prints the commands and environment without running
anything. A full run at 1 and 2 threads takes about an hour on 2 cores.
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  bench/run.py: find_openblas, base_env, thread_env, load_avg, sh, ratio
import torch_modules  # noqa: E402  steps per epoch (imports no torch at module level)

ROOT = run.ROOT
PY = run.PY

MODELS = {
    # name: (data, batch, default epochs, what the accuracy column shows)
    "resnet_bn": ("/usr/share/datasets/fashion-mnist", 64, 3, "test accuracy"),
    "transformer_lm": ("text:/usr/share/games/fortunes", 32, 1, "bits/byte"),
}


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def nnc_cmd(nnc, model, threads, epochs, log, log_every, precision="f32"):
    data, batch, _, _ = MODELS[model]
    cmd = [nnc, "train", f"examples/{model}.ir", "--data", data, "--epochs", str(epochs),
           "--batch", str(batch), "--threads", str(threads), "--log", log, "--no-cache",
           "--precision", precision]
    if model == "resnet_bn":  # as README.md trains it
        cmd += ["--lr-schedule", "cosine"]
    if log_every:
        cmd += ["--log-every", str(log_every)]
    return cmd


def torch_cmd(model, threads, epochs, mkldnn, max_steps, log_every, precision="f32"):
    _, batch, _, _ = MODELS[model]
    cmd = [PY, os.path.join(HERE, "torch_modules.py"), "--model", model, "--epochs", str(epochs),
           "--batch", str(batch), "--threads", str(threads), "--mkldnn", mkldnn,
           "--precision", precision]
    if max_steps:
        cmd += ["--max-steps", str(max_steps)]
    if log_every:
        cmd += ["--log-every", str(log_every)]
    return cmd


def execute(cmd, env, log=None):
    """Runs one training process; its JSON lines (from LOG, else stdout), or None."""
    print("modules.py: " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        print(f"modules.py: failed (exit {p.returncode}):\n{p.stderr[-3000:]}", file=sys.stderr)
        return None
    text = open(log).read() if log else p.stdout
    recs = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return recs or None


def summarize(lines, steps):
    """Epoch seconds (median), mean step ms, median step ms (torch), final scores."""
    recs = [r for r in lines if "train_loss" in r]
    step_losses = {r["step"]: r["loss"] for r in lines if "loss" in r and "train_loss" not in r}
    secs = [r["seconds"] for r in recs]
    n_steps = [r.get("steps", steps) for r in recs]
    last = recs[-1]
    return {
        "records": recs,
        "step_losses": step_losses,
        "epoch_s": statistics.median(secs),
        "step_ms": statistics.median(s / n * 1e3 for s, n in zip(secs, n_steps)),
        "median_step_ms": statistics.median(r["step_ms"] for r in recs) if "step_ms" in last else None,
        "steps": n_steps[-1],
        "test_loss": last.get("test_loss"),
        "test_accuracy": last.get("test_accuracy"),
        "bpb": last.get("test_bits_per_byte"),
        "epochs": len(recs),
    }


def name(model, engine):
    if engine == "nnc":
        return "nnc"
    return engine.replace("torch-", "PyTorch ") if model == "resnet_bn" else "PyTorch"


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description="nnc against its PyTorch twins (bench/torch_modules.py)")
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated (default 1,2)")
    ap.add_argument("--models", default="resnet_bn,transformer_lm")
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                    help="both sides: nnc train --precision, PyTorch under CPU autocast (bf16)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs for both models")
    ap.add_argument("--epochs-resnet", type=int, default=None, help="default 3")
    ap.add_argument("--epochs-lm", type=int, default=None, help="default 1")
    ap.add_argument("--mkldnn", default="on,off", help="PyTorch settings tried for resnet_bn (default on,off)")
    ap.add_argument("--quick", action="store_true",
                    help="PyTorch twins only, 1 epoch of --max-steps 50 (nnc too with --with-nnc: 1 full epoch)")
    ap.add_argument("--with-nnc", action="store_true", help="with --quick: also 1 full nnc epoch")
    ap.add_argument("--max-steps", type=int, default=50, help="the PyTorch step limit of --quick")
    ap.add_argument("--log-every", type=int, default=100,
                    help="both engines log the loss every N steps, shown side by side (0: off)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/MODULES.md"))
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    models = a.models.split(",")
    for m in models:
        if m not in MODELS:
            ap.error(f"unknown model '{m}' (resnet_bn, transformer_lm)")
    mkl = a.mkldnn.split(",")
    if any(x not in ("on", "off") for x in mkl):
        ap.error("--mkldnn takes on, off or on,off")
    if a.with_nnc and not a.quick:
        ap.error("--with-nnc goes with --quick (a full run always runs nnc)")
    epochs = {m: (1 if a.quick else (a.epochs or {"resnet_bn": a.epochs_resnet,
                                                    "transformer_lm": a.epochs_lm}[m] or MODELS[m][2]))
              for m in models}
    run_nnc = not a.quick or a.with_nnc
    max_steps = a.max_steps if a.quick else None
    steps = {m: torch_modules.train_steps_per_epoch(m, MODELS[m][1], MODELS[m][0]) for m in models}

    nnc = os.path.join(run.BUILD, "nnc")
    if run_nnc and not os.path.exists(nnc) and not a.dry_run:
        sys.exit(f"modules.py: {nnc} is missing: cmake --build build --target nnc")
    openblas_dir, blas = run.find_openblas()
    env, core, coretype = run.base_env(openblas_dir)
    tmp = tempfile.mkdtemp(prefix="nnc-modules-")
    if run_nnc and not a.dry_run:
        # Snapshot the binary: a rebuild during the run must not change what is measured.
        shutil.copy2(nnc, tmp)
        nnc = os.path.join(tmp, "nnc")

    if a.dry_run:
        print(f"# BLAS for torch: {blas}; OpenBLAS core {core}"
              f"{f', OPENBLAS_CORETYPE={coretype}' if coretype else ''}")
        if openblas_dir:
            print(f"# LD_LIBRARY_PATH={env['LD_LIBRARY_PATH']}")
        for m in models:
            print(f"# {m}: {epochs[m]} epoch(s), {steps[m]} steps per epoch at batch {MODELS[m][1]}")
    load_before = run.load_avg()
    started = datetime.datetime.now()
    res = {}  # (model, threads, engine) -> summary; engine "nnc", "torch-mkldnn-on", ...
    for t in threads:
        for m in models:
            variants = [("nnc", None)] if run_nnc else []
            variants += [(f"torch-mkldnn-{x}", x) for x in (mkl if m == "resnet_bn" else ["on"])]
            if t % 2 == 0:  # alternate who goes first, as run.py does
                variants = variants[::-1]
            for engine, x in variants:
                e = run.thread_env(env, t, tmp)
                if engine == "nnc":
                    log = os.path.join(tmp, f"{m}-nnc-{t}.jsonl")
                    cmd = nnc_cmd(nnc, m, t, epochs[m], log, a.log_every, a.precision)
                else:
                    log = None
                    cmd = torch_cmd(m, t, epochs[m], x, max_steps, a.log_every, a.precision)
                if a.dry_run:
                    keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE")
                    envs = " ".join(f"{k}={e[k]}" for k in keys if k in e)
                    print(f"{envs} {' '.join(cmd)}")
                    continue
                recs = execute(cmd, e, log)
                if recs:
                    res[(m, t, engine)] = summarize(recs, steps[m])
                    print(f"modules.py: {m} threads {t} {engine}: "
                          f"{json.dumps({k: v for k, v in res[(m, t, engine)].items() if k not in ('records', 'step_losses')})}",
                          file=sys.stderr, flush=True)
    if a.dry_run:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    load_after = run.load_avg()
    shutil.rmtree(tmp, ignore_errors=True)

    sections = []
    for m in models:
        _, batch, _, score = MODELS[m]
        rows = ["| threads | engine | epochs | epoch s (median) | step ms (s/steps) | median step ms | "
                f"final test loss | {score} | nnc speedup (PyTorch / nnc) |",
                "|---|---|---|---|---|---|---|---|---|"]
        curves = []
        for t in threads:
            n = res.get((m, t, "nnc"))
            torches = {k[2]: v for k, v in res.items() if k[0] == m and k[1] == t and k[2] != "nnc"}
            best = min(torches, key=lambda k: torches[k]["step_ms"]) if torches else None
            entries = ([("nnc", n)] if n else []) + sorted(torches.items())
            for engine, s in entries:
                label = name(m, engine)
                if engine == best and len(torches) > 1:
                    label += " (best)"
                sc = s["test_accuracy"] if m == "resnet_bn" else s["bpb"]
                sp = run.ratio(n["step_ms"], s["step_ms"]) if n and engine != "nnc" else "-"
                ep = str(s["epochs"]) if s["steps"] == steps[m] else f"{s['epochs']} x {s['steps']} steps"
                rows.append(f"| {t} | {label} | {ep} | "
                            f"{s['epoch_s']:.2f} | {s['step_ms']:.2f} | {fmt(s['median_step_ms'], '.2f')} | "
                            f"{fmt(s['test_loss'], '.4f')} | {fmt(sc, '.4f')} | {sp} |")
            # loss curves, nnc against PyTorch best
            if n or best:
                tb = torches.get(best) if best else None
                curves.append(f"\n{t} thread(s): nnc against {name(m, best) if best else '-'}\n")
                curves.append("| epoch | nnc train_loss | PyTorch train_loss | nnc test_loss | PyTorch test_loss | "
                              f"nnc {score} | PyTorch {score} |")
                curves.append("|---|---|---|---|---|---|---|")
                key = "test_accuracy" if m == "resnet_bn" else "test_bits_per_byte"
                nr = n["records"] if n else []
                tr = tb["records"] if tb else []
                for i in range(max(len(nr), len(tr))):
                    x = nr[i] if i < len(nr) else {}
                    y = tr[i] if i < len(tr) else {}
                    curves.append(f"| {i + 1} | {fmt(x.get('train_loss'), '.4f')} | {fmt(y.get('train_loss'), '.4f')} | "
                                  f"{fmt(x.get('test_loss'), '.4f')} | {fmt(y.get('test_loss'), '.4f')} | "
                                  f"{fmt(x.get(key), '.4f')} | {fmt(y.get(key), '.4f')} |")
                ns = n["step_losses"] if n else {}
                ts = tb["step_losses"] if tb else {}
                if ns or ts:
                    curves.append(f"\nLoss of the batch at every {a.log_every}th step (the same batches in both):\n")
                    curves.append("| step | nnc loss | PyTorch loss |")
                    curves.append("|---|---|---|")
                    for k in sorted(set(ns) | set(ts)):
                        curves.append(f"| {k} | {fmt(ns.get(k), '.4f')} | {fmt(ts.get(k), '.4f')} |")
        data = MODELS[m][0]
        sections.append(f"## {m} (`examples/{m}.ir`, `--data {data}`, batch {batch}, "
                        f"{steps[m]} steps per epoch)\n\n" + "\n".join(rows) +
                        "\n\n### Loss curves (per epoch)\n" + "\n".join(curves) + "\n")

    commit = run.sh("git rev-parse --short HEAD") + (
        " (with uncommitted changes)" if run.sh("git status --porcelain --untracked-files=no") else "")
    torch_version = run.sh(PY + " -c 'import torch; print(torch.__version__)'")
    argv = " ".join(sys.argv[1:])
    md = f"""# nnc against PyTorch on ResNet-BN and the Transformer LM{' in bf16' if a.precision == 'bf16' else ''}

Produced by `python3 bench/modules.py{' ' + argv if argv else ''}` on {started:%Y-%m-%d %H:%M}.

- CPU: {cpu_name()}, {run.sh('nproc')} CPUs; nnc commit {commit}; PyTorch {torch_version}
- PyTorch's BLAS: {blas}; OpenBLAS core detected: {core}{f', forced OPENBLAS_CORETYPE={coretype}' if coretype else ''}
- Load average (1/5/15 min) before: {' '.join(load_before)}, after: {' '.join(load_after)}
- Same thread count for both: `nnc train --threads N`; PyTorch `torch.set_num_threads(N)`; both with
  OMP_NUM_THREADS, OPENBLAS_NUM_THREADS = N and OMP_WAIT_POLICY=PASSIVE above 1 thread.
- nnc's step ms = epoch `seconds` / steps per epoch; PyTorch's likewise (its median step is shown too).
  Epoch seconds cover the training loop only (shuffle, batches, steps), not the test pass.
- The twins (bench/torch_modules.py) start from nnc's initial params bit for bit and see the batches in
  `nnc train --seed 0`'s order{'; --quick: PyTorch ran ' + str(a.max_steps) + ' steps per epoch only' if a.quick else ''}.

{chr(10).join(sections)}"""
    with open(a.out, "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
