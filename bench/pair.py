#!/usr/bin/python3
"""Paired A/B timing of two nnc builds (or two settings) on one model:

    python3 bench/pair.py MODEL.ir --a NNC_A [--b NNC_B] [--env-b VAR=VALUE ...]
                          [--dim B=64] [--train] [--reps N] [--precision bf16]
                          [--precision-b bf16]
                          [--threads N]

Compiles MODEL.ir ahead of time with each side (`nnc compile --name a|b`,
each with an empty cache), links both objects into bench/pair_driver.c and
calls them alternately in one process on the same inputs (one thread, or
--threads N: a spinning runner of N threads shared by both). On a
shared machine, slow spells of several seconds move run-to-run medians by
10-30%; calls that alternate share the spells, so the median of the per-pair
ratios (b / a) resolves differences of about 1-2%. Prints one JSON line.

--b defaults to --a (then --env-b tells the two sides apart, e.g. an
experiment switched by an environment variable).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BYTES = {"f32": 4, "i32": 4}


def buffers(header, section, dims):
    """(dtype, bytes) of the inputs or outputs listed in an nnc C header."""
    out, inside = [], False
    for line in header.splitlines():
        if re.match(r"^ \* (inputs|outputs|state)\b", line):
            inside = line.startswith(f" * {section}")
            continue
        m = re.match(r"^ \*   (\S+): (\w+)\[(.*)\]$", line)
        if inside and m:
            dtype, shape = m.group(2), m.group(3)
            n = 1
            for extent in (s.strip() for s in shape.split(",") if s.strip()):
                n *= int(dims.get(extent, extent))
            out.append((dtype, n * BYTES[dtype]))
        elif inside and not line.startswith(" *   "):
            inside = False
    return out


def compile_side(nnc, model, name, env, precision, tmp):
    obj, hdr = os.path.join(tmp, f"{name}.o"), os.path.join(tmp, f"{name}.h")
    e = dict(os.environ, NNC_CACHE_DIR=tempfile.mkdtemp(dir=tmp), **env)
    p = subprocess.run([nnc, "compile", model, "-o", obj, "--header", hdr, "--name", name,
                        "--precision", precision], env=e, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"pair.py: {nnc} compile {model} failed:\n{p.stderr}")
    return obj, open(hdr).read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--a", default=os.path.join(ROOT, "build/nnc"), help="nnc binary of side a")
    ap.add_argument("--b", default=None, help="nnc binary of side b (default: --a)")
    ap.add_argument("--env-b", action="append", default=[], help="VAR=VALUE for side b's compile")
    ap.add_argument("--dim", action="append", default=[], help="NAME=VALUE (default B=64)")
    ap.add_argument("--train", action="store_true", help="time train_step instead of infer")
    ap.add_argument("--reps", type=int, default=1000, help="pairs of calls (default 1000)")
    ap.add_argument("--precision", default="f32", help="f32 or bf16, both sides (default f32)")
    ap.add_argument("--precision-b", default=None, help="side b's precision (default --precision)")
    ap.add_argument("--threads", type=int, default=1, help="threads of both sides (default 1)")
    a = ap.parse_args()
    dims = {"B": "64"}
    dims.update(d.split("=", 1) for d in a.dim)
    env_b = dict(e.split("=", 1) for e in a.env_b)
    with tempfile.TemporaryDirectory(prefix="nnc-pair-") as tmp:
        obj_a, header = compile_side(a.a, a.model, "a", {}, a.precision, tmp)
        obj_b, _ = compile_side(a.b or a.a, a.model, "b", env_b, a.precision_b or a.precision, tmp)
        exe = os.path.join(tmp, "pair")
        cc = subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "bench/pair_driver.c"),
                             obj_a, obj_b, "-lm", "-lpthread"], capture_output=True, text=True)
        if cc.returncode != 0:
            sys.exit(f"pair.py: building the driver failed:\n{cc.stderr}")
        m = re.search(r"dims \(in this order in `dims`\): (.*)", header)
        listed = m.group(1).strip() if m else "(none)"
        order = [] if listed == "(none)" else [d.strip() for d in listed.split(",")]
        missing = [d for d in order if d not in dims]
        if missing:
            sys.exit(f"pair.py: give the model's dims with --dim: {', '.join(missing)}")
        args = [exe, str(a.reps), "1" if a.train else "0", str(a.threads)]
        args += [dims[d] for d in order] + ["--"]
        args += [f"{t}:{n}" for t, n in buffers(header, "inputs", dims)] + ["--"]
        args += [str(n) for _, n in buffers(header, "outputs", dims)]
        p = subprocess.run(args, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"pair.py: the driver failed:\n{p.stderr}")
        result = json.loads(p.stdout)
        result.update(model=a.model, train=a.train, env_b=env_b)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
