#!/usr/bin/env python3
"""Writes a sample ".dense" model for the example plugin, with reference data.

    scripts/make-dense-model.py OUT_DIR [--in N --out M --batch B --seed S]

OUT_DIR gets model.dense, model.yml, labels.txt and reference/ (inputs,
expected outputs computed here in double precision, and the tolerance the
conformance harness applies). Pure Python on purpose: the oracle shares no
code with the C++ plugin, and the script needs nothing installed.
"""
import argparse
import math
import os
import random
import struct


def write_npy(path, shape, values):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        "".join("%d," % d for d in shape) if len(shape) == 1 else ", ".join(str(d) for d in shape))
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%df" % len(values), *values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--in", dest="n_in", type=int, default=4)
    ap.add_argument("--out", dest="n_out", type=int, default=3)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    n_in, n_out = args.n_in, args.n_out
    # float32-representable weights so the oracle and the plugin see the same values.
    f32 = lambda v: struct.unpack("<f", struct.pack("<f", v))[0]
    w = [[f32(rng.uniform(-1, 1)) for _ in range(n_in)] for _ in range(n_out)]
    b = [f32(rng.uniform(-0.5, 0.5)) for _ in range(n_out)]
    x = [[f32(rng.uniform(-2, 2)) for _ in range(n_in)] for _ in range(args.batch)]

    os.makedirs(os.path.join(args.out_dir, "reference", "inputs"), exist_ok=True)
    os.makedirs(os.path.join(args.out_dir, "reference", "outputs"), exist_ok=True)
    with open(os.path.join(args.out_dir, "model.dense"), "wb") as f:
        f.write(b"MRTDENSE" + struct.pack("<IIII", 1, n_in, n_out, 0))
        for row in w:
            f.write(struct.pack("<%df" % n_in, *row))
        f.write(struct.pack("<%df" % n_out, *b))

    probs = []
    for xb in x:
        logits = [sum(w[o][i] * xb[i] for i in range(n_in)) + b[o] for o in range(n_out)]
        m = max(logits)
        e = [math.exp(v - m) for v in logits]
        s = sum(e)
        probs.extend(v / s for v in e)
    write_npy(os.path.join(args.out_dir, "reference", "inputs", "x.npy"), (args.batch, n_in), [v for r in x for v in r])
    write_npy(os.path.join(args.out_dir, "reference", "outputs", "probabilities.npy"), (args.batch, n_out), probs)
    with open(os.path.join(args.out_dir, "reference", "tolerance.yml"), "w") as f:
        f.write("# float32 dot products of %d terms then softmax: a few ulp of 1.0.\n" % n_in)
        f.write("atol: 1.0e-6\nrtol: 1.0e-5\n")
    labels = ["class-%d" % i for i in range(n_out)]
    if n_out == 3:
        labels = ["setosa", "versicolor", "virginica"]
    with open(os.path.join(args.out_dir, "labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    with open(os.path.join(args.out_dir, "model.yml"), "w") as f:
        f.write("# A %d→%d dense layer with softmax, random weights (seed %d),\n" % (n_in, n_out, args.seed))
        f.write("# made by scripts/make-dense-model.py.\n")
        f.write("format: dense\ntask: classification\nfiles: [model.dense]\n")
        f.write("inputs:\n  - {name: x, dtype: float32, shape: [-1, %d]}\n" % n_in)
        f.write("outputs:\n  - {name: probabilities, dtype: float32, shape: [-1, %d]}\n" % n_out)
        f.write("postprocess: {kind: classification, top_k: %d, labels: labels.txt}\n" % min(3, n_out))
        f.write("device: cpu\n")


if __name__ == "__main__":
    main()
