"""ONNX round trips with the outside world.

PyTorch -> ONNX -> nnc: models exported by Debian's python3-torch
(torch.onnx.export at opsets 13, 14 and 17, the batch axis dynamic) run in
nnc's interpreter and JIT on a batch of another size and give torch's
outputs to 1e-4; the exported MLP trains in nnc to the accuracy of the same
MLP written in nnc's language (examples/digits_mlp.ir).

nnc -> ONNX -> nnc: a trained checkpoint exported with `nnc export`, which
the onnx package's checker accepts, computes what the .ir model computes.

usage: roundtrip.py NNC SOURCE_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import torch

NNC, SOURCE, WORK = sys.argv[1:4]
os.makedirs(WORK, exist_ok=True)
torch.manual_seed(0)
failures = []


class Cnn(torch.nn.Module):
    """Conv + batch norm + ReLU, max pooling, a strided conv, a linear head
    behind x.view(x.size(0), -1) (PyTorch's dynamic reshape)."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.b1 = torch.nn.BatchNorm2d(4)
        self.c2 = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.b2 = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = torch.relu(self.b1(self.c1(x)))
        x = torch.nn.functional.max_pool2d(x, 2)
        x = torch.relu(self.b2(self.c2(x)))
        return self.fc(x.view(x.size(0), -1))


class Residual(torch.nn.Module):
    """A pre-LN residual block with a GELU MLP (GELU exports in erf form)."""

    def __init__(self, d=16):
        super().__init__()
        self.ln = torch.nn.LayerNorm(d)
        self.fc1 = torch.nn.Linear(d, 32)
        self.fc2 = torch.nn.Linear(32, d)

    def forward(self, x):
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln(x))))


def with_trained_statistics(model, shape):
    """Batch norm's running statistics moved off 0 and 1 by a few training
    steps (so eval mode's normalization is not the identity)."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(*shape) * 2 + 0.5)
    return model.eval()


MODELS = {
    "mlp": (torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)),
            (2, 4)),
    "cnn": (with_trained_statistics(Cnn(), (4, 1, 16, 16)), (2, 1, 16, 16)),
    "residual": (Residual(), (2, 5, 16)),
    "encoder": (torch.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True),
                (2, 5, 16)),
}


def nnc(*args):
    return subprocess.run([NNC, *args], capture_output=True, text=True)


def check_outputs():
    for name, (model, shape) in MODELS.items():
        model.eval()
        x = torch.randn(3, *shape[1:])  # exported at batch 2, run at 3
        with torch.no_grad():
            want = model(x).numpy()
        x_file = os.path.join(WORK, f"{name}_x.npy")
        np.save(x_file, x.numpy())
        for opset in (13, 14, 17):
            path = os.path.join(WORK, f"{name}_{opset}.onnx")
            torch.onnx.export(model, torch.randn(*shape), path, opset_version=opset,
                              input_names=["input.1"], output_names=["output"],
                              dynamic_axes={"input.1": {0: "batch"}, "output": {0: "batch"}})
            onnx.checker.check_model(onnx.load(path))
            for engine in ("interp", "jit"):
                out = os.path.join(WORK, f"out_{name}_{opset}_{engine}")
                # The input by its ONNX name (the model's is input_1).
                r = nnc("run", path, "--in", f"input.1={x_file}", "-o", out, "--engine", engine)
                what = f"{name} opset {opset} {engine}"
                if r.returncode != 0:
                    failures.append(f"{what}: nnc run failed: {r.stderr.strip()}")
                    continue
                # "output" is a keyword of nnc's language: the output is voutput.
                got = np.load(os.path.join(out, "voutput.npy"))
                error = float(np.abs(got - want).max()) if got.shape == want.shape else None
                print(f"{what}: shape {got.shape}, largest difference {error}")
                if error is None or error > 1e-4:
                    failures.append(f"{what}: shape {got.shape} vs {want.shape}, error {error}")


class DigitsMlp(torch.nn.Module):
    """examples/digits_mlp.ir in PyTorch: 64-64-10, pixels scaled by 1/16."""

    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(64, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x / 16)))


def final_accuracy(log):
    with open(log) as f:
        return json.loads(f.readlines()[-1])["test_accuracy"]


def check_training():
    path = os.path.join(WORK, "digits.onnx")
    torch.onnx.export(DigitsMlp(), torch.randn(2, 64), path, opset_version=17,
                      input_names=["pixels"], output_names=["logits"],
                      dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}})
    data = os.path.join(SOURCE, "examples", "data", "digits.csv.gz")
    common = ["--data", data, "--holdout", data, "--epochs", "30"]
    onnx_log, ir_log = os.path.join(WORK, "onnx.jsonl"), os.path.join(WORK, "ir.jsonl")
    r1 = nnc("train", path, "--loss", "softmax_cross_entropy", "--optimizer", "sgd(lr=0.1)",
             *common, "--log", onnx_log)
    r2 = nnc("train", os.path.join(SOURCE, "examples", "digits_mlp.ir"), *common, "--log", ir_log)
    if r1.returncode or r2.returncode:
        failures.append(f"training failed: {r1.stderr.strip()} {r2.stderr.strip()}")
        return
    imported, written = final_accuracy(onnx_log), final_accuracy(ir_log)
    print(f"digits MLP after 30 epochs: imported from PyTorch {imported}, written in .ir {written}")
    # The two start from different initializations (PyTorch's and he_normal).
    if imported < written - 0.015:
        failures.append(f"the imported MLP reached {imported}, the .ir one {written}")


def check_export():
    model = os.path.join(SOURCE, "examples", "digits_mlp.ir")
    data = os.path.join(SOURCE, "examples", "data", "digits.csv.gz")
    params = os.path.join(WORK, "digits.safetensors")
    exported = os.path.join(WORK, "digits_export.onnx")
    steps = [nnc("train", model, "--data", data, "--epochs", "2", "--save", params),
             nnc("export", model, "--params", params, "-o", exported)]
    for r in steps:
        if r.returncode != 0:
            failures.append(f"nnc failed: {r.stderr.strip()}")
            return
    m = onnx.load(exported)
    onnx.checker.check_model(m, full_check=True)
    x = np.random.default_rng(0).uniform(0, 16, (7, 64)).astype(np.float32)
    x_file = os.path.join(WORK, "digits_x.npy")
    np.save(x_file, x)
    outs = []
    for args in (["run", model, "--params", params], ["run", exported]):
        out = os.path.join(WORK, "export_" + str(len(outs)))
        r = nnc(*args, "--in", f"x={x_file}", "-o", out)
        if r.returncode != 0:
            failures.append(f"nnc run failed: {r.stderr.strip()}")
            return
        outs.append(np.load(os.path.join(out, "logits.npy")))
    error = float(np.abs(outs[0] - outs[1]).max())
    print(f"digits MLP exported with trained params: opset {m.opset_import[0].version}, "
          f"largest difference {error}")
    if error > 1e-5:
        failures.append(f"the exported digits MLP differs by {error}")


check_outputs()
check_training()
check_export()
if failures:
    print("\n".join(["FAILED:"] + failures))
    sys.exit(1)
print("all ONNX round trips agree")
