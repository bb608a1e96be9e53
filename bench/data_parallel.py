#!/usr/bin/python3
"""Data-parallel training on this machine: 2 ranks x 1 thread (mpiexec)
against 1 process x 2 threads, on the same global batch, and the constants
of DESIGN.md's cost model ("Data parallelism"):

    python3 bench/data_parallel.py [--models mlp,resnet_s,transformer_lm] [--out FILE]
    python3 bench/data_parallel.py --predict FILE   (the cost model's table from a report)

Per model, one epoch each way (nnc train --log; the step time is the
epoch's seconds over its steps):

  1 process   build/nnc train M --batch 2b --threads 2
  2 ranks     mpiexec -n 2 build/nnc train M --batch b --threads 1
  1 rank      build/nnc train M --batch b --threads 1   (the compute of one
              rank's share, without communication)

  mlp, resnet_s   Fashion-MNIST, b = 32 (global batch 64)
  transformer_lm  the first 400 KB of the fortunes, b = 16 (global batch 32)

and the all-reduce's time from the 2-rank log (allreduce_seconds: the
background thread's time in the sums; allreduce_wait_seconds: the time the
main thread waited for them after the backward pass). The local latency and
bandwidth of an all-reduce are fitted from the MLP's 2-rank run with one
bucket per param (--bucket-kb 1) and with one bucket in all. Writes a
markdown report (default: print it).
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NNC = os.path.join(ROOT, "build", "nnc")
FASHION = "/usr/share/datasets/fashion-mnist"
MODELS = {"mlp": (FASHION, 32), "resnet_s": (FASHION, 32), "transformer_lm": (None, 16)}


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def fortunes(scratch):
    path = os.path.join(scratch, "fortunes.txt")
    with open(path, "wb") as out:
        left = 400_000
        for name in sorted(os.listdir("/usr/share/games/fortunes")):
            full = os.path.join("/usr/share/games/fortunes", name)
            if left <= 0 or not os.path.isfile(full) or "." in name:
                continue
            data = open(full, "rb").read()[:left]
            out.write(data)
            left -= len(data)
    return "text:" + path


def mpiexec():
    cmd = ["mpiexec", "--oversubscribe", "-n", "2"]
    if os.getuid() == 0:
        cmd.insert(1, "--allow-run-as-root")
    return cmd


def train(model, data, batch, threads, scratch, ranks=1, extra=()):
    log = os.path.join(scratch, f"{model}-{ranks}-{threads}-{batch}-{len(extra)}.jsonl")
    if os.path.exists(log):
        os.remove(log)
    cmd = [NNC, "train", os.path.join(ROOT, "examples", model + ".ir"), "--data", data,
           "--batch", str(batch), "--threads", str(threads), "--epochs", "1", "--log", log,
           "--holdout", data if data.startswith("text:") else FASHION, *extra]
    if ranks > 1:
        cmd = mpiexec() + cmd
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    line = json.loads(open(log).read().splitlines()[-1])
    return line


def gradient_layout(model, scratch):
    """The flat gradient buffer's bytes, and the buckets nnc train's reducer
    makes of it at the default size (runtime/distributed/GradientReducer.h:
    from the last param, each at least BUCKET_BYTES)."""
    header = os.path.join(scratch, model + ".h")
    subprocess.run([NNC, "compile", os.path.join(ROOT, "examples", model + ".ir"), "--split-step",
                    "-o", os.path.join(scratch, model + ".o"), "--header", header], check=True)
    text = open(header).read()
    size = int(re.search(r"_GRADIENTS_SIZE (\d+)", text).group(1))
    offsets = [int(x) for x in re.findall(r"\*   \S+ at byte (\d+)\n",
                                          text.split("cut at the gradients")[1])]
    buckets = []
    for bytes_ in reversed([b - a for a, b in zip(offsets, offsets[1:] + [size])]):
        if not buckets or buckets[-1] >= BUCKET_BYTES:
            buckets.append(0)
        buckets[-1] += bytes_
    return size, len(buckets)


def gradient_bytes(model, scratch):
    return gradient_layout(model, scratch)[0]


# The networks of the prediction: (name, bandwidth in bytes/s, latency per
# message step in seconds). Latencies are assumptions: TCP over 10 and 25 Gb/s
# Ethernet, RDMA (InfiniBand or RoCE) at 100 Gb/s.
NETWORKS = [("10 Gb/s", 10e9 / 8, 25e-6), ("25 Gb/s", 25e9 / 8, 20e-6), ("100 Gb/s", 100e9 / 8, 5e-6)]
# The share of a step's compute that can hide the sums of all buckets but
# the last (the first layer's, ready only at the end of the backward pass):
# the backward pass after the first bucket is ready, about 2/3 of the step
# less its start.
OVERLAP = 0.5
BUCKET_BYTES = 512 * 1024


def predict(rows):
    """DESIGN.md's table: step time and scaling efficiency at N ranks."""
    scratch = tempfile.mkdtemp(prefix="nnc-dp-")
    out = ["| model | gradient MB (buckets) | compute (ms/step, one rank's b) | N | " +
           " | ".join(f"{n} step ms (eff.)" for n, _, _ in NETWORKS) + " |",
           "|---|---|---|---|" + "---|" * len(NETWORKS)]
    for r in rows:
        compute = r["alone_ms"] / 1e3
        buckets = gradient_layout(r["model"], scratch)[1]
        for n in (2, 8, 64):
            cells = []
            for _, bandwidth, latency in NETWORKS:
                reduce = 2 * (n - 1) / n * r["bytes"] / bandwidth + 2 * (n - 1) * latency * buckets
                last = reduce / buckets  # never hidden
                step = compute + last + max(0.0, reduce - last - OVERLAP * compute)
                cells.append(f"{1e3 * step:.2f} ({100 * compute / step:.0f}%)")
            out.append(f"| {r['model']} | {r['bytes'] / 1e6:.2f} ({buckets}) | "
                       f"{1e3 * compute:.2f} | {n} | " +
                       " | ".join(cells) + " |")
    return "\n".join(out)


def rows_from_report(path):
    rows = []
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[1].isdigit():
            rows.append({"model": cells[0], "bytes": int(cells[1]), "one_ms": float(cells[2]),
                         "two_ms": float(cells[3]), "alone_ms": float(cells[4]),
                         "reduce_ms": float(cells[5]), "wait_ms": float(cells[6])})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,resnet_s,transformer_lm")
    parser.add_argument("--out")
    parser.add_argument("--predict", metavar="REPORT")
    args = parser.parse_args()
    if args.predict:
        print(predict(rows_from_report(args.predict)))
        return 0
    scratch = tempfile.mkdtemp(prefix="nnc-dp-")
    text = fortunes(scratch)
    rows, fit = [], None
    for model in args.models.split(","):
        data, b = MODELS[model]
        data = data or text
        one = train(model, data, 2 * b, 2, scratch)
        two = train(model, data, b, 1, scratch, ranks=2)
        alone = train(model, data, b, 1, scratch)
        steps = two["step"]
        rows.append({
            "model": model, "bytes": gradient_bytes(model, scratch), "steps": steps,
            "one_ms": 1e3 * one["seconds"] / one["step"],
            "two_ms": 1e3 * two["seconds"] / steps,
            "alone_ms": 1e3 * alone["seconds"] / alone["step"],
            "reduce_ms": 1e3 * two["allreduce_seconds"] / steps,
            "wait_ms": 1e3 * two["allreduce_wait_seconds"] / steps,
        })
        if model == "mlp":
            many = train(model, data, b, 1, scratch, ranks=2, extra=("--bucket-kb", "1"))
            single = train(model, data, b, 1, scratch, ranks=2, extra=("--bucket-kb", "1000000"))
            fit = (many["allreduce_seconds"] / steps, single["allreduce_seconds"] / steps,
                   rows[-1]["bytes"])
    out = [f"# Data parallelism on this machine ({cpu_name()}, {os.cpu_count()} cores)", "",
           "One epoch each; step times are the epoch's seconds over its steps.", "",
           "| model | gradient bytes | 1 process x 2 threads (ms/step) | 2 ranks x 1 thread "
           "(ms/step) | 1 rank alone, its share (ms/step) | all-reduce (ms/step) | "
           "waited for it (ms/step) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['bytes']} | {r['one_ms']:.2f} | {r['two_ms']:.2f} | "
                   f"{r['alone_ms']:.2f} | {r['reduce_ms']:.3f} | {r['wait_ms']:.3f} |")
    if fit:
        many, single, nbytes = fit
        buckets = 6  # mlp: one bucket per param with --bucket-kb 1
        alpha = max(0.0, (many - single) / (buckets - 1)) / 2  # 2 (N - 1) latencies per sum
        seconds_per_byte = max(1e-15, single - 2 * alpha) / nbytes  # 2 (N - 1) / N = 1 at N = 2
        out += ["", f"Local all-reduce (2 ranks, loopback): {1e6 * alpha:.1f} us latency, "
                f"{nbytes / 1e6 / max(1e-12, single - 2 * alpha) / 1e3:.2f} GB/s "
                f"({1e3 * single:.3f} ms for the MLP's {nbytes} bytes in one bucket, "
                f"{1e3 * many:.3f} ms in {buckets})."]
    text = "\n".join(out) + "\n"
    if args.out:
        open(args.out, "w").write(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
