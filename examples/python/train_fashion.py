#!/usr/bin/python3
"""Train the Fashion-MNIST MLP (examples/mlp.ir) from numpy arrays with nnc's
Python module, notebook style: load the data, compile, loop over batches,
evaluate, plot the loss curve (when matplotlib is installed).

    PYTHONPATH=PREFIX/lib/python3.11/dist-packages /usr/bin/python3 \\
        examples/python/train_fashion.py [--epochs 3] [--batch 128] [--plot loss.png]

The data: Debian's dataset-fashion-mnist (IDX files under
/usr/share/datasets/fashion-mnist).
"""

import argparse
import gzip
import os
import time

import numpy as np

import nnc

DATA = "/usr/share/datasets/fashion-mnist"
HERE = os.path.dirname(os.path.abspath(__file__))


def read_idx(name):
    """An IDX file (big-endian header, then uint8 values) as a numpy array."""
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        data = f.read()
    rank = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--plot", default="fashion_loss.png", help="where to draw the loss curve")
    args = parser.parse_args()

    # Pixels scaled to [0, 1] as float32, labels as int32: passed without a copy.
    x_train = (read_idx("train-images-idx3-ubyte.gz").reshape(-1, 784) / 255).astype(np.float32)
    y_train = read_idx("train-labels-idx1-ubyte.gz").astype(np.int32)
    x_test = (read_idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784) / 255).astype(np.float32)
    y_test = read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int32)

    model = nnc.compile(os.path.join(HERE, "..", "mlp.ir"), threads=args.threads)
    print(model)
    sess = model.session()

    rng = np.random.default_rng(0)
    losses = []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        order = rng.permutation(len(x_train))
        for first in range(0, len(order) - args.batch + 1, args.batch):
            rows = order[first:first + args.batch]
            losses.append(sess.train_step(x=x_train[rows], label=y_train[rows]))
        seconds = time.perf_counter() - start
        pred = sess.infer(x=x_test)["pred"]
        accuracy = float(np.mean(pred == y_test))
        print(f"epoch {epoch + 1}: loss {np.mean(losses[-100:]):.4f}, "
              f"test accuracy {accuracy:.4f}, {seconds:.2f} s")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    plt.plot(losses, linewidth=0.5)
    plt.xlabel("step")
    plt.ylabel("training loss")
    plt.title("Fashion-MNIST MLP, nnc")
    plt.savefig(args.plot, dpi=120)
    print(f"loss curve: {args.plot}")


if __name__ == "__main__":
    main()
