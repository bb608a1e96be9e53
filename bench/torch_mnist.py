#!/usr/bin/python3
"""The PyTorch twin of `nnc train examples/mlp.ir --data fashion-mnist`:
the MLP 784-256-256-10 (pixels standardized with mean 0.2860 and std 0.3530
inside the model, relu, He-normal / Glorot-uniform init), softmax
cross-entropy, plain SGD lr=0.1 annealed per batch by CosineAnnealingLR over
the whole run (`nnc train --lr-schedule cosine`), batch 64, shuffled every
epoch; test accuracy after every epoch. Reads the same IDX files (gzip) with numpy.
Prints one JSON line per epoch, like `nnc train --log`: "seconds" covers
the epoch's training loop only (shuffling, batching, steps), not the test
pass and not the file loading. --precision bf16 runs the forward pass
under CPU autocast to bfloat16 (PyTorch's mixed precision: its matmuls in
bf16 through oneDNN, params, gradients and the optimizer in f32), the twin
of `nnc train --precision bf16`.

--model cnn is the twin of examples/fashion_cnn.ir instead (the CNN of
bench/cnn.py: conv 1->8 and 8->16, 3x3 padding 1, each with relu and 2x2
max pooling, then linear 784->10; He-normal / Glorot-uniform init; SGD lr
0.05 momentum 0.9, constant); --mkldnn off runs its convolutions without
oneDNN (torch.backends.mkldnn), PyTorch's other CPU path.

    OPENBLAS_NUM_THREADS=N OMP_NUM_THREADS=N /usr/bin/python3 bench/torch_mnist.py \
        --data /usr/share/datasets/fashion-mnist --epochs 5 --threads N
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data, split):
    images = read_idx(os.path.join(data, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data, f"{split}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    ap.add_argument("--mkldnn", choices=["on", "off"], default="on")
    a = ap.parse_args()
    torch.backends.mkldnn.enabled = a.mkldnn == "on"
    bf16 = a.precision == "bf16"
    torch.set_num_threads(a.threads)
    xtr, ytr = load(a.data, "train")
    xte, yte = load(a.data, "t10k")
    g = torch.Generator().manual_seed(0)

    def he(i, o):
        return (torch.randn(i, o, generator=g) * (2.0 / i) ** 0.5).requires_grad_(True)

    def glorot(i, o):
        lim = (6.0 / (i + o)) ** 0.5
        return ((torch.rand(i, o, generator=g) * 2 - 1) * lim).requires_grad_(True)

    def filters(f, c):
        return he(c * 9, f).t().reshape(f, c, 3, 3).detach().requires_grad_(True)

    n = len(xtr)
    if a.model == "mlp":
        w1, b1 = he(784, 256), torch.zeros(256, requires_grad=True)
        w2, b2 = he(256, 256), torch.zeros(256, requires_grad=True)
        w3, b3 = glorot(256, 10), torch.zeros(10, requires_grad=True)
        params = [w1, b1, w2, b2, w3, b3]
        opt = torch.optim.SGD(params, lr=0.1)
        steps = a.epochs * ((n + a.batch - 1) // a.batch)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)

        def model(x):
            h1 = torch.relu(torch.addmm(b1, (x - 0.2860) / 0.3530, w1))
            h2 = torch.relu(torch.addmm(b2, h1, w2))
            return torch.addmm(b3, h2, w3)
    else:
        k1, c1 = filters(8, 1), torch.zeros(8, requires_grad=True)
        k2, c2 = filters(16, 8), torch.zeros(16, requires_grad=True)
        w3, b3 = glorot(784, 10), torch.zeros(10, requires_grad=True)
        params = [k1, c1, k2, c2, w3, b3]
        opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
        schedule = None

        def model(x):
            x = x.reshape(-1, 1, 28, 28)
            h1 = F.max_pool2d(torch.relu(F.conv2d(x, k1, c1, padding=1)), 2)
            h2 = F.max_pool2d(torch.relu(F.conv2d(h1, k2, c2, padding=1)), 2)
            return torch.addmm(b3, h2.reshape(len(x), -1), w3)

    for epoch in range(a.epochs):
        start = time.perf_counter()
        perm = torch.randperm(n, generator=g)
        loss_sum = 0.0
        for i in range(0, n, a.batch):
            idx = perm[i:i + a.batch]
            xb, yb = xtr[idx], ytr[idx]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if schedule:
                schedule.step()
            loss_sum += loss.item() * len(idx)
        seconds = time.perf_counter() - start
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(xte).float()
            test_loss = F.cross_entropy(logits, yte).item()
            acc = (logits.argmax(1) == yte).float().mean().item()
        print(json.dumps({"epoch": epoch + 1, "train_loss": round(loss_sum / n, 6),
                          "seconds": round(seconds, 3), "test_loss": round(test_loss, 6),
                          "test_accuracy": round(acc, 4), "threads": a.threads,
                          "precision": a.precision, "model": a.model,
                          "mkldnn": a.mkldnn}), flush=True)


if __name__ == "__main__":
    main()
