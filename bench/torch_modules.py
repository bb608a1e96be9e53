#!/usr/bin/python3
"""The PyTorch twins of two nnc example models, trained as `nnc train` trains them:

  resnet_bn       examples/resnet_bn.ir on Fashion-MNIST
                  (nnc train examples/resnet_bn.ir --data /usr/share/datasets/fashion-mnist --batch 64)
  transformer_lm  examples/transformer_lm.ir, byte-level LM on text:/usr/share/games/fortunes
                  (nnc train examples/transformer_lm.ir --data text:/usr/share/games/fortunes --batch 32)

Each twin is the .ir's architecture op for op (same shapes, same order, the
params under the .ir's names), the same optimizer and hyperparameters
(resnet_bn: torch.optim.SGD lr 0.1 momentum 0.9 with CosineAnnealingLR over
the run's steps, stepped per batch, as `nnc train --lr-schedule cosine`; transformer_lm:
torch.optim.Adam lr 0.002, betas (0.9, 0.999), eps 1e-8), batch norm with
momentum 0.1 and eps 1e-5 (train() while training, eval() for the test pass),
layernorm eps 1e-5, exact (erf) GELU, the causal mask written as the .ir
writes it, mean softmax cross-entropy.

Beyond the same distributions, the twins start from the *same numbers*: the
initial params are nnc's initializers reproduced bit for bit (SplitMix64 and
Box-Muller of runtime/Initializers.h, fans as nnc computes them), and by
default (`--shuffle nnc`) every epoch visits the examples in the order
`nnc train --seed 0` does (runtime/io/Batcher.cpp: SplitMix64 stream seed,
Fisher-Yates with rejection sampling; checked against nnc's golden values in
tests/unit/DatasetTest.cpp). The shuffle is inside the epoch's timer, as in
nnc (in pure Python it costs ~30 ms for 60000 rows); `--shuffle torch` uses
torch.randperm instead.

Data: Fashion-MNIST IDX files (gzip) read with numpy, pixels / 255 as f32
[N, 1, 28, 28]; text: every regular file of the folder that is not a symlink
and does not end in `.dat`, sorted by name, concatenated; the last
size // 20 bytes held out; examples are the non-overlapping windows of 65
bytes from the start of each split (features bytes 0..63, labels 1..64).

Prints one JSON line per epoch, like `nnc train --log`: "epoch",
"train_loss" (mean over the epoch's examples), "seconds" (the training loop
only: batching and steps, not the test pass nor loading), "step_ms" (median
wall time of one step: batch gather, forward, backward, update), "steps",
"test_loss", "test_accuracy" (for the LM: next-byte accuracy) and for the LM
"test_bits_per_byte" (test_loss / ln 2), "threads", "mkldnn"; with
`--log-every N` also {"epoch", "step", "loss"} every N steps of the run, as
`nnc train --log-every N` (the batches being nnc's, the step losses compare
one for one).

    OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE \\
        /usr/bin/python3 bench/torch_modules.py --model resnet_bn --epochs 1 --threads 2

or, with bench/run.py's environment (OpenBLAS for torch's BLAS, thread
variables) set up and the process re-executed in it:

    /usr/bin/python3 bench/torch_modules.py --model transformer_lm --threads 2 --fair-env

`--max-steps S` ends each epoch after S steps (quick runs; "seconds" and
"step_ms" then cover those steps). bench/modules.py runs these against nnc.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_mnist import read_idx  # noqa: E402  (the same IDX reader as the MLP twin)

HERE = os.path.dirname(os.path.abspath(__file__))
FASHION = "/usr/share/datasets/fashion-mnist"
FORTUNES = "text:/usr/share/games/fortunes"
CONTEXT = 64

# ---- nnc's random numbers (runtime/Initializers.h), bit for bit -------------

_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_MASK = (1 << 64) - 1


def _bits(seed, count):
    """Draws 0..count-1 of seed `seed`: SplitMix64 outputs, as uint64."""
    k = np.arange(1, count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed & _MASK) + k * np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
        return z ^ (z >> np.uint64(31))


def nnc_uniform(shape, lo, hi, seed):
    n = int(np.prod(shape))
    u = (_bits(seed, n) >> np.uint64(40)).astype(np.float64) / 16777216.0
    v = lo + (hi - lo) * u
    r = v.astype(np.float32)
    if hi > lo:
        over = r.astype(np.float64) >= hi
        r[over] = np.nextafter(r[over], np.float32(-np.inf))
    return r.reshape(shape)


def nnc_normal(shape, mean, std, seed):
    n = int(np.prod(shape))
    b = _bits(seed, 2 * n)
    u1 = ((b[0::2] >> np.uint64(11)) + np.uint64(1)).astype(np.float64) / 9007199254740992.0
    u2 = (b[1::2] >> np.uint64(11)).astype(np.float64) / 9007199254740992.0
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)
    return (mean + std * z).astype(np.float32).reshape(shape)


def fans(shape):
    """nnc's fansOf: [in, out] for a matmul weight, C*KH*KW and F*KH*KW for a conv filter."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:
        f, c, kh, kw = shape
        return c * kh * kw, f * kh * kw
    n = int(np.prod(shape))
    return n, n


def he_normal(shape, seed):
    return nnc_normal(shape, 0.0, math.sqrt(2.0 / fans(shape)[0]), seed)


def glorot_uniform(shape, seed):
    fi, fo = fans(shape)
    a = math.sqrt(6.0 / (fi + fo))
    return nnc_uniform(shape, -a, a, seed)


# ---- nnc's shuffle (runtime/io/Batcher.cpp), bit for bit ----------------------

def _splitmix_next(state):
    state = (state + _GOLDEN) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK
    return state, z ^ (z >> 31)


def nnc_order(n, epoch, seed=0):
    """The row order of `nnc train --seed SEED` in epoch `epoch` (0-based)."""
    _, s = _splitmix_next(seed & _MASK)
    _, state = _splitmix_next(s ^ epoch)
    order = list(range(n))
    golden, mix1, mix2, mask = _GOLDEN, _MIX1, _MIX2, _MASK
    for i in range(n - 1, 0, -1):
        bound = i + 1
        threshold = ((1 << 64) - bound) % bound
        while True:
            state = (state + golden) & mask
            z = state
            z = ((z ^ (z >> 30)) * mix1) & mask
            z = ((z ^ (z >> 27)) * mix2) & mask
            r = z ^ (z >> 31)
            if r >= threshold:
                break
        j = r % bound
        order[i], order[j] = order[j], order[i]
    return order


# ---- data ---------------------------------------------------------------------

def load_fashion(data, split):
    import torch
    images = read_idx(os.path.join(data, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data, f"{split}-labels-idx1-ubyte.gz"))
    x = images.reshape(len(images), 1, 28, 28).astype(np.float32) / np.float32(255.0)
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


def read_text(path):
    """nnc's readText: a file, or a folder's regular non-symlink, non-.dat files by name."""
    if not os.path.isdir(path):
        with open(path, "rb") as f:
            return f.read()
    files = []
    for name in os.listdir(path):
        p = os.path.join(path, name)
        if os.path.islink(p) or not os.path.isfile(p) or os.path.splitext(name)[1] == ".dat":
            continue
        files.append(p)
    out = b""
    for p in sorted(files):
        with open(p, "rb") as f:
            out += f.read()
    return out


def text_windows(spec, context=CONTEXT):
    """(train x, train y, test x, test y) as int64 [N, context], nnc's readTextWindows."""
    import torch
    path = spec[5:] if spec.startswith("text:") else spec
    text = np.frombuffer(read_text(path), dtype=np.uint8)
    held = len(text) // 20
    splits = []
    for begin, end in ((0, len(text) - held), (len(text) - held, len(text))):
        window = context + 1
        count = (end - begin) // window
        w = text[begin:begin + count * window].reshape(count, window).astype(np.int64)
        splits += [torch.from_numpy(np.ascontiguousarray(w[:, :context])),
                   torch.from_numpy(np.ascontiguousarray(w[:, 1:]))]
    return splits


def train_steps_per_epoch(model, batch, data=None):
    """Steps of one epoch of `nnc train` (ceil(train examples / batch))."""
    if model == "resnet_bn":
        n = 60000
    else:
        spec = data or FORTUNES
        path = spec[5:] if spec.startswith("text:") else spec
        size = len(read_text(path))
        n = (size - size // 20) // (CONTEXT + 1)
    return (n + batch - 1) // batch


# ---- the models ---------------------------------------------------------------

def build_models():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def P(a):
        return nn.Parameter(torch.from_numpy(np.ascontiguousarray(a)))

    class ResNetBN(nn.Module):
        """examples/resnet_bn.ir."""

        def __init__(self):
            super().__init__()

            def conv_bn(w, g, b, rm, rv, shape, seed):
                self.register_parameter(w, P(he_normal(shape, seed)))
                self.register_parameter(g, nn.Parameter(torch.ones(shape[0])))
                self.register_parameter(b, nn.Parameter(torch.zeros(shape[0])))
                self.register_buffer(rm, torch.zeros(shape[0]))
                self.register_buffer(rv, torch.ones(shape[0]))

            conv_bn("stem_w", "stem_g", "stem_b", "stem_rm", "stem_rv", (16, 1, 3, 3), 1)
            conv_bn("b1_w1", "b1_g1", "b1_b1", "b1_rm1", "b1_rv1", (16, 16, 3, 3), 11)
            conv_bn("b1_w2", "b1_g2", "b1_b2", "b1_rm2", "b1_rv2", (16, 16, 3, 3), 12)
            conv_bn("b2_w1", "b2_g1", "b2_b1", "b2_rm1", "b2_rv1", (32, 16, 3, 3), 21)
            conv_bn("b2_w2", "b2_g2", "b2_b2", "b2_rm2", "b2_rv2", (32, 32, 3, 3), 22)
            conv_bn("b2_ws", "b2_gs", "b2_bs", "b2_rms", "b2_rvs", (32, 16, 1, 1), 23)
            conv_bn("b3_w1", "b3_g1", "b3_b1", "b3_rm1", "b3_rv1", (64, 32, 3, 3), 31)
            conv_bn("b3_w2", "b3_g2", "b3_b2", "b3_rm2", "b3_rv2", (64, 64, 3, 3), 32)
            conv_bn("b3_ws", "b3_gs", "b3_bs", "b3_rms", "b3_rvs", (64, 32, 1, 1), 33)
            self.w_out = P(glorot_uniform((64, 10), 2))
            self.b_out = nn.Parameter(torch.zeros(10))

        def bn(self, x, g, b, rm, rv):
            return F.batch_norm(x, getattr(self, rm), getattr(self, rv), getattr(self, g),
                                getattr(self, b), self.training, 0.1, 1e-5)

        def forward(self, x):
            relu, conv, bn = torch.relu, F.conv2d, self.bn
            h0 = relu(bn(conv(x, self.stem_w, padding=1), "stem_g", "stem_b", "stem_rm", "stem_rv"))
            a1 = relu(bn(conv(h0, self.b1_w1, padding=1), "b1_g1", "b1_b1", "b1_rm1", "b1_rv1"))
            h1 = relu(bn(conv(a1, self.b1_w2, padding=1), "b1_g2", "b1_b2", "b1_rm2", "b1_rv2") + h0)
            a2 = relu(bn(conv(h1, self.b2_w1, stride=2, padding=1), "b2_g1", "b2_b1", "b2_rm1", "b2_rv1"))
            s2 = bn(conv(h1, self.b2_ws, stride=2), "b2_gs", "b2_bs", "b2_rms", "b2_rvs")
            h2 = relu(bn(conv(a2, self.b2_w2, padding=1), "b2_g2", "b2_b2", "b2_rm2", "b2_rv2") + s2)
            a3 = relu(bn(conv(h2, self.b3_w1, stride=2, padding=1), "b3_g1", "b3_b1", "b3_rm1", "b3_rv1"))
            s3 = bn(conv(h2, self.b3_ws, stride=2), "b3_gs", "b3_bs", "b3_rms", "b3_rvs")
            h3 = relu(bn(conv(a3, self.b3_w2, padding=1), "b3_g2", "b3_b2", "b3_rm2", "b3_rv2") + s3)
            return torch.addmm(self.b_out, h3.mean(dim=(2, 3)), self.w_out)

    def lin(x, w, b):
        """matmul(x, w) + b for x [..., K], w [K, N]: one GEMM with the bias (addmm)."""
        return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).reshape(*x.shape[:-1], w.shape[1])

    class TransformerLM(nn.Module):
        """examples/transformer_lm.ir."""

        def __init__(self):
            super().__init__()
            self.wte = P(nnc_normal((256, 128), 0, 0.02, 1))
            self.wpe = P(nnc_normal((64, 128), 0, 0.01, 2))
            self.register_buffer("pos", torch.arange(64))
            self.register_buffer("ones", torch.ones(64, 64))
            seeds = {1: (11, 12, 13, 14, 15, 16), 2: (17, 18, 19, 20, 21, 22)}
            for i in (1, 2):
                sq, sk, sv, so, s1, s2 = seeds[i]
                for j in (1, 2):
                    setattr(self, f"ln{i}_{j}_gamma", nn.Parameter(torch.ones(128)))
                    setattr(self, f"ln{i}_{j}_beta", nn.Parameter(torch.zeros(128)))
                for n, seed, std in (("q", sq, 0.02), ("k", sk, 0.02), ("v", sv, 0.02), ("o", so, 0.01)):
                    setattr(self, f"b{i}_w{n}", P(nnc_normal((128, 128), 0, std, seed)))
                    setattr(self, f"b{i}_b{n}", nn.Parameter(torch.zeros(128)))
                setattr(self, f"b{i}_w1", P(nnc_normal((128, 512), 0, 0.02, s1)))
                setattr(self, f"b{i}_c1", nn.Parameter(torch.zeros(512)))
                setattr(self, f"b{i}_w2", P(nnc_normal((512, 128), 0, 0.01, s2)))
                setattr(self, f"b{i}_c2", nn.Parameter(torch.zeros(128)))
            self.lnf_gamma = nn.Parameter(torch.ones(128))
            self.lnf_beta = nn.Parameter(torch.zeros(128))
            self.w_out = P(nnc_normal((128, 256), 0, 0.02, 3))
            self.b_out = nn.Parameter(torch.zeros(256))

        def block(self, h, i, mask):
            p = lambda name: getattr(self, f"b{i}_{name}")  # noqa: E731
            B = h.shape[0]
            a = F.layer_norm(h, (128,), getattr(self, f"ln{i}_1_gamma"), getattr(self, f"ln{i}_1_beta"), 1e-5)
            q = lin(a, p("wq"), p("bq")).reshape(B, 64, 4, 32).transpose(1, 2)
            k = lin(a, p("wk"), p("bk")).reshape(B, 64, 4, 32).transpose(1, 2)
            v = lin(a, p("wv"), p("bv")).reshape(B, 64, 4, 32).transpose(1, 2)
            s = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * 0.17677669 + mask, dim=-1)
            o = torch.matmul(s, v).transpose(1, 2).reshape(B, 64, 128)
            r = h + lin(o, p("wo"), p("bo"))
            m = F.gelu(lin(F.layer_norm(r, (128,), getattr(self, f"ln{i}_2_gamma"),
                                        getattr(self, f"ln{i}_2_beta"), 1e-5), p("w1"), p("c1")))
            return r + lin(m, p("w2"), p("c2"))

        def forward(self, x):
            mask = (torch.tril(self.ones) - 1) * 1e9
            h = F.embedding(x, self.wte) + F.embedding(self.pos, self.wpe)
            h = self.block(h, 1, mask)
            h = self.block(h, 2, mask)
            return lin(F.layer_norm(h, (128,), self.lnf_gamma, self.lnf_beta, 1e-5), self.w_out, self.b_out)

    return ResNetBN, TransformerLM


# ---- training -----------------------------------------------------------------

def fair_env_reexec(threads):
    """Re-executes this script in bench/run.py's environment (OpenBLAS, thread variables)."""
    if os.environ.get("NNC_TWIN_FAIR_ENV") == "1":
        return
    sys.path.insert(0, HERE)
    import run  # bench/run.py
    import tempfile
    openblas_dir, blas = run.find_openblas()
    env, core, coretype = run.base_env(openblas_dir)
    env = run.thread_env(env, threads, tempfile.gettempdir())
    os.rmdir(env.pop("NNC_CACHE_DIR"))  # an empty nnc cache folder: nothing here compiles with nnc
    env["NNC_TWIN_FAIR_ENV"] = "1"
    print(f"torch_modules.py: BLAS {blas}; core {core}"
          f"{f', OPENBLAS_CORETYPE={coretype}' if coretype else ''}", file=sys.stderr)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, choices=["resnet_bn", "transformer_lm"])
    ap.add_argument("--data", default=None,
                    help=f"default {FASHION} (resnet_bn) or {FORTUNES} (transformer_lm)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=None, help="default 64 (resnet_bn), 32 (transformer_lm)")
    ap.add_argument("--max-steps", type=int, default=None, help="end each epoch after S steps")
    ap.add_argument("--mkldnn", choices=["on", "off"], default="on",
                    help="torch.backends.mkldnn.enabled (matters for the ResNet's convolutions)")
    ap.add_argument("--shuffle", choices=["nnc", "torch"], default="nnc",
                    help="nnc (default): nnc train --seed SEED's order; torch: torch.randperm")
    ap.add_argument("--seed", type=int, default=0, help="shuffle seed (nnc train --seed)")
    ap.add_argument("--fair-env", action="store_true",
                    help="re-execute in bench/run.py's environment (OpenBLAS, OMP/OPENBLAS threads)")
    ap.add_argument("--eval-batch", type=int, default=500)
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                    help="bf16: the forward pass and loss under torch.autocast('cpu', bfloat16), "
                         "the twin of nnc train --precision bf16")
    ap.add_argument("--log-every", type=int, default=0,
                    help="also a JSON line every N steps: epoch, step (of the run), loss (that batch's), "
                         "as nnc train --log-every N writes")
    a = ap.parse_args()
    if a.fair_env:
        fair_env_reexec(a.threads)
    lm = a.model == "transformer_lm"
    data = a.data or (FORTUNES if lm else FASHION)
    batch = a.batch or (32 if lm else 64)

    import torch
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    torch.backends.mkldnn.enabled = a.mkldnn == "on"
    torch.ones(4, 4) @ torch.ones(4, 4)  # loads the BLAS
    with open("/proc/self/maps") as f:
        if "openblas" not in f.read():
            print("torch_modules.py: warning: torch is not on OpenBLAS here (Debian's reference BLAS is "
                  "~20x slower); use --fair-env or bench/modules.py", file=sys.stderr)
    ResNetBN, TransformerLM = build_models()
    if lm:
        xtr, ytr, xte, yte = text_windows(data)
        model = TransformerLM()
        opt = torch.optim.Adam(model.parameters(), lr=0.002, betas=(0.9, 0.999), eps=1e-8)
    else:
        xtr, ytr = load_fashion(data, "train")
        xte, yte = load_fashion(data, "t10k")
        model = ResNetBN()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def loss_of(logits, y):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    n = len(xtr)
    steps_full = (n + batch - 1) // batch
    schedule = None
    if not lm:  # nnc train --lr-schedule cosine: over every step of the run
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs * steps_full)
    g = torch.Generator().manual_seed(a.seed)
    run_steps = 0
    for epoch in range(a.epochs):
        model.train()
        step_s = []
        loss_sum, seen = 0.0, 0
        start = time.perf_counter()
        if a.shuffle == "nnc":
            order = torch.tensor(nnc_order(n, epoch, a.seed))
        else:
            order = torch.randperm(n, generator=g)
        for step in range(steps_full):
            if a.max_steps is not None and step >= a.max_steps:
                break
            t0 = time.perf_counter()
            idx = order[step * batch:(step + 1) * batch]
            xb, yb = xtr[idx], ytr[idx]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
                loss = loss_of(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if schedule:
                schedule.step()
            lv = loss.item()
            step_s.append(time.perf_counter() - t0)
            if not math.isfinite(lv):
                sys.exit(f"torch_modules.py: epoch {epoch + 1}, step {step + 1}: the loss is {lv}")
            loss_sum += lv * len(idx)
            seen += len(idx)
            run_steps += 1
            if a.log_every and run_steps % a.log_every == 0:
                print(json.dumps({"epoch": epoch + 1, "step": run_steps, "loss": round(lv, 6)}), flush=True)
        seconds = time.perf_counter() - start

        model.eval()
        test_sum, correct, labels = 0.0, 0, 0
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                             enabled=a.precision == "bf16"):
            for i in range(0, len(xte), a.eval_batch):
                logits = model(xte[i:i + a.eval_batch]).float()
                yb = yte[i:i + a.eval_batch]
                test_sum += loss_of(logits, yb).item() * yb.numel()
                correct += (logits.argmax(-1) == yb).sum().item()
                labels += yb.numel()
        test_loss = test_sum / labels
        rec = {"epoch": epoch + 1, "train_loss": round(loss_sum / seen, 6),
               "seconds": round(seconds, 3), "step_ms": round(statistics.median(step_s) * 1e3, 3),
               "steps": len(step_s), "test_loss": round(test_loss, 6),
               "test_accuracy": round(correct / labels, 4)}
        if lm:
            rec["test_bits_per_byte"] = round(test_loss / math.log(2.0), 4)
        rec.update({"threads": a.threads, "mkldnn": a.mkldnn, "engine": "torch", "model": a.model,
                    "precision": a.precision})
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
