#!/usr/bin/python3
"""PyTorch eager side of the nnc benchmark: one workload per invocation, one
JSON line on stdout, the same fields as nnc_bench.

    OPENBLAS_NUM_THREADS=N OMP_NUM_THREADS=N [OMP_WAIT_POLICY=PASSIVE] \
        /usr/bin/python3 bench/torch_bench.py --workload NAME --threads N --reps R

Run it through bench/run.py, which sets that environment (Debian's torch
sends GEMM to OpenBLAS's own thread pool, which torch.set_num_threads does
not control). Shapes, losses and optimizers match bench/models/*.ir and
examples/mlp.ir. conv_fwd times the default (mkldnn) path and the path with
torch.backends.mkldnn.enabled = False and reports the faster as median_us.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def measure(fn, reps):
    """Warm up, pick calls per sample (>= ~2 ms), return (median, samples, iters)."""
    for _ in range(3):
        fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 5e-8)
    iters = max(1, int(0.002 / one))
    samples = []
    for _ in range(reps):
        s = time.perf_counter()
        for _ in range(iters):
            fn()
        samples.append((time.perf_counter() - s) / iters * 1e6)
    return statistics.median(samples), samples, iters


def he_normal(fan_in, fan_out, g):
    return torch.randn(fan_in, fan_out, generator=g) * (2.0 / fan_in) ** 0.5


def glorot_uniform(fan_in, fan_out, g):
    lim = (6.0 / (fan_in + fan_out)) ** 0.5
    return (torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * lim


def param(t):
    return t.clone().requires_grad_(True)


def run(workload, reps):
    g = torch.Generator().manual_seed(0)
    out = {}
    if workload in ("mm_784x256", "mm_512"):
        m, k, n = (64, 784, 256) if workload == "mm_784x256" else (512, 512, 512)
        x = torch.rand(m, k, generator=g) * 2 - 1
        w = he_normal(k, n, g)
        b = torch.rand(n, generator=g) * 0.2 - 0.1
        # torch.addmm + relu_ with a preallocated output: PyTorch's best eager form.
        y = torch.empty(m, n)

        def fn():
            torch.addmm(b, x, w, out=y)
            torch.relu_(y)

        with torch.no_grad():
            med, samples, iters = measure(fn, reps)
        out["gflops"] = round(2.0 * m * k * n / (med * 1e3), 2)
    elif workload == "mlp_train":
        bsz = 64
        x = torch.rand(bsz, 784, generator=g)
        label = torch.arange(bsz) % 10
        w1, b1 = param(he_normal(784, 256, g)), param(torch.zeros(256))
        w2, b2 = param(he_normal(256, 256, g)), param(torch.zeros(256))
        w3, b3 = param(glorot_uniform(256, 10, g)), param(torch.zeros(10))
        opt = torch.optim.SGD([w1, b1, w2, b2, w3, b3], lr=0.1)

        def fn():
            h1 = torch.relu(torch.addmm(b1, (x - 0.2860) / 0.3530, w1))
            h2 = torch.relu(torch.addmm(b2, h1, w2))
            logits = torch.addmm(b3, h2, w3)
            loss = F.cross_entropy(logits, label)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        med, samples, iters = measure(fn, reps)
        # Forward, weight gradients, input gradients but x's (as nnc_bench).
        flops = 2.0 * bsz * (2 * 784 * 256 + 3 * (256 * 256 + 256 * 10))
        out["gflops"] = round(flops / (med * 1e3), 2)
    elif workload == "xor_train":
        x = torch.tensor([[0.0, 0], [0, 1], [1, 0], [1, 1]])
        t = torch.tensor([[0.0], [1], [1], [0]])
        w1, b1 = param(torch.rand(2, 4, generator=g) * 2 - 1), param(torch.zeros(4))
        w2, b2 = param(torch.rand(4, 1, generator=g) * 2 - 1), param(torch.zeros(1))
        opt = torch.optim.SGD([w1, b1, w2, b2], lr=0.5)

        def fn():
            h = torch.sigmoid(torch.addmm(b1, x, w1))
            yhat = torch.sigmoid(torch.addmm(b2, h, w2))
            loss = 0.5 * ((yhat - t) ** 2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        med, samples, iters = measure(fn, reps)
    elif workload in ("resln_fwd", "resln_train"):
        bsz, d = 64, 512
        x = torch.rand(bsz, d, generator=g) * 2 - 1
        t = torch.rand(bsz, d, generator=g) * 2 - 1
        w1, b1 = param(he_normal(d, d, g)), param(torch.zeros(d))
        w2, b2 = param(he_normal(d, d, g)), param(torch.zeros(d))
        gamma, beta = param(torch.ones(d)), param(torch.zeros(d))
        opt = torch.optim.SGD([w1, b1, w2, b2, gamma, beta], lr=0.01)

        def forward():
            a = torch.relu(torch.addmm(b1, x, w1))
            return F.layer_norm(x + torch.relu(torch.addmm(b2, a, w2)), (d,), gamma, beta, 1e-5)

        if workload == "resln_fwd":
            with torch.no_grad():
                med, samples, iters = measure(forward, reps)
            flops = 2 * 2.0 * bsz * d * d
        else:
            def fn():
                loss = F.mse_loss(forward(), t)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            med, samples, iters = measure(fn, reps)
            flops = 5 * 2.0 * bsz * d * d  # both GEMMs 3 times, but x's gradient
        out["gflops"] = round(flops / (med * 1e3), 2)
    elif workload == "conv_fwd":
        x = torch.rand(64, 1, 28, 28, generator=g)
        k = torch.randn(16, 1, 3, 3, generator=g) * (2.0 / 9) ** 0.5
        c = torch.rand(16, generator=g) * 0.2 - 0.1

        def fn():
            F.conv2d(x, k, c, padding=1)

        paths = {}
        with torch.no_grad():
            for name, enabled in (("mkldnn", True), ("no_mkldnn", False)):
                torch.backends.mkldnn.enabled = enabled
                paths[name] = measure(fn, reps)
        torch.backends.mkldnn.enabled = True
        best = min(paths, key=lambda p: paths[p][0])
        med, samples, iters = paths[best]
        out["path"] = best
        out["mkldnn_us"] = round(paths["mkldnn"][0], 3)
        out["no_mkldnn_us"] = round(paths["no_mkldnn"][0], 3)
        out["gflops"] = round(2.0 * 64 * 16 * 28 * 28 * 9 / (med * 1e3), 2)
    else:
        sys.exit(f"torch_bench: unknown workload {workload}")
    return med, samples, iters, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=15)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    med, samples, iters, extra = run(a.workload, a.reps)
    rec = {
        "workload": a.workload,
        "engine": "torch",
        "threads": a.threads,
        "engine_threads": torch.get_num_threads(),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "median_us": round(med, 3),
        "samples_us": [round(s, 3) for s in samples],
        "iters_per_sample": iters,
    }
    rec.update(extra)
    print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
