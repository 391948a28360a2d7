#!/usr/bin/env python3
"""The building blocks of torchvision's small CNNs and of BERT as ONNX graphs
(onnx.helper, no torch), timed on the oneDNN backend's planner
(build/tests/onnx-plan-bench) against onnxruntime.

    scripts/bench-onnx-blocks.py [--dir /tmp/onnx-blocks] [--bench build/tests/onnx-plan-bench]
                                 [--models se_silu_144,effnet_stack] [--batches 1,8]
                                 [--threads 2] [--rounds 5] [--block 10] [--make-only]

Models (opset 17, float32, deterministic random weights; input `x`):
  se_<act>_<C>     EfficientNet's / MobileNetV3's squeeze-and-excitation after a
                   3x3 depthwise convolution: dw → GlobalAveragePool → 1x1 (C/4)
                   → act → 1x1 (C) → gate → Mul [N,C,H,W] x [N,C,1,1] → 1x1
                   projection. act silu: SiLU + Sigmoid (EfficientNet), relu:
                   Relu + HardSigmoid (MobileNetV3).
  regnet_<C>       RegNetY-400MF's block: 1x1, 3x3 grouped (group width 8), SE
                   (Relu, Sigmoid), 1x1, residual, Relu.
  effnet_stack     EfficientNet-B0's stem and first three MBConv stages at 224x224
                   (SiLU as Sigmoid*Mul, SE in every block, residuals).
  shuffle          ShuffleNetV2's unit: Split, a 1x1/dw/1x1 branch, Concat, channel
                   shuffle (Reshape, Transpose, Reshape).
  attention        a BERT encoder layer (S=64, D=256, 4 heads) with a [N,1,1,S]
                   additive mask, Softmax, LayerNormalization, Gelu.
The ms columns are each side's median over rounds of per-round medians; a round
alternates blocks of --block runs of onnxruntime and onnx-plan-bench (each in
its own process, the gap after an ORT block lets its spinning threads sleep).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Builder:
    """A graph under construction: nodes, initializers, fresh names."""

    def __init__(self, seed):
        self.nodes, self.inits, self.n = [], [], 0
        self.rng = np.random.default_rng(seed)

    def name(self, p):
        self.n += 1
        return "%s_%d" % (p, self.n)

    def const(self, arr, p="w"):
        n = self.name(p)
        self.inits.append(helper.make_tensor(n, TensorProto.FLOAT if arr.dtype == np.float32 else TensorProto.INT64,
                                             arr.shape, arr.flatten().tolist()))
        return n

    def op(self, op_type, inputs, p=None, **attrs):
        out = self.name(p or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x, cin, cout, k=1, stride=1, group=1):
        fan_in = cin // group * k * k
        w = (self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = (self.rng.standard_normal(cout) * 0.1).astype(np.float32)
        return self.op("Conv", [x, self.const(w), self.const(b, "b")], kernel_shape=[k, k], strides=[stride, stride],
                       pads=[k // 2] * 4, group=group)

    def act(self, x, kind):
        if kind == "silu":
            return self.op("Mul", [x, self.op("Sigmoid", [x])])
        if kind == "hswish":
            return self.op("HardSwish", [x])
        return self.op("Relu", [x])

    def se(self, x, c, squeeze, act="silu", gate="sigmoid"):
        s = self.op("GlobalAveragePool", [x])
        s = self.act(self.conv(s, c, squeeze), act)
        s = self.conv(s, squeeze, c)
        s = self.op("Sigmoid", [s]) if gate == "sigmoid" else self.op("HardSigmoid", [s], alpha=1 / 6, beta=0.5)
        return self.op("Mul", [x, s], "se_mul")

    def model(self, inputs, out, opset=17):
        g = helper.make_graph(self.nodes, "blocks", inputs, [], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8
        inferred = onnx.shape_inference.infer_shapes(m)
        m.graph.output.extend([vi for vi in inferred.graph.value_info if vi.name == out])
        return m


def image_input(c, hw):
    return [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, hw, hw])]


def se_block(act, c, hw=56):
    b = Builder(c)
    x = b.act(b.conv("x", c, c, k=3, group=c), "silu" if act == "silu" else "hswish")
    x = b.se(x, c, max(8, c // 4), act="silu" if act == "silu" else "relu", gate="sigmoid" if act == "silu" else "hard")
    return b.model(image_input(c, hw), b.conv(x, c, max(16, c // 6)))


def regnet_block(c, hw):
    b = Builder(c)
    y = b.act(b.conv("x", c, c), "relu")
    y = b.act(b.conv(y, c, c, k=3, group=c // 8), "relu")
    y = b.se(y, c, max(8, c // 4), act="relu")
    y = b.conv(y, c, c)
    return b.model(image_input(c, hw), b.act(b.op("Add", [y, "x"]), "relu"))


def mbconv(b, x, cin, cout, expand, k, stride):
    c = cin * expand
    y = b.act(b.conv(x, cin, c), "silu") if expand != 1 else x
    y = b.act(b.conv(y, c, c, k=k, stride=stride, group=c), "silu")
    y = b.se(y, c, max(1, cin // 4))
    y = b.conv(y, c, cout)
    return b.op("Add", [y, x]) if stride == 1 and cin == cout else y


def effnet_stack():
    b = Builder(7)
    x = b.act(b.conv("x", 3, 32, k=3, stride=2), "silu")
    x = mbconv(b, x, 32, 16, 1, 3, 1)
    x = mbconv(b, x, 16, 24, 6, 3, 2)
    x = mbconv(b, x, 24, 24, 6, 3, 1)
    x = mbconv(b, x, 24, 40, 6, 5, 2)
    x = mbconv(b, x, 40, 40, 6, 5, 1)
    return b.model(image_input(3, 224), x)


def shuffle_unit(c=116, hw=28):
    b = Builder(3)
    half = c // 2
    x1, x2 = b.name("half"), b.name("half")
    b.nodes.append(helper.make_node("Split", ["x", b.const(np.array([half, half], np.int64), "split")], [x1, x2], axis=1))
    y = b.act(b.conv(x2, half, half), "relu")
    y = b.conv(y, half, half, k=3, group=half)
    y = b.act(b.conv(y, half, half), "relu")
    cat = b.op("Concat", [x1, y], axis=1)
    shape5 = b.const(np.array([0, 2, half, hw, hw], np.int64), "shape")
    t = b.op("Transpose", [b.op("Reshape", [cat, shape5])], perm=[0, 2, 1, 3, 4])
    out = b.op("Reshape", [t, b.const(np.array([0, c, hw, hw], np.int64), "shape")])
    return b.model(image_input(c, hw), out)


def attention(s=64, d=256, heads=4):
    b = Builder(5)
    dh = d // heads
    lin = lambda x, i, o: b.op("Add", [b.op("MatMul", [x, b.const((b.rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32))]),
                                      b.const((b.rng.standard_normal(o) * 0.1).astype(np.float32), "b")])
    m = b.op("Mul", [b.op("Sub", [b.const(np.array(1, np.float32), "one"), "mask"]), b.const(np.array(-10000, np.float32), "big")])
    m = b.op("Unsqueeze", [m, b.const(np.array([1, 2], np.int64), "axes")])
    heads_shape = b.const(np.array([0, s, heads, dh], np.int64), "shape")
    split = lambda x, perm: b.op("Transpose", [b.op("Reshape", [x, heads_shape])], perm=perm)
    q, k, v = split(lin("x", d, d), [0, 2, 1, 3]), split(lin("x", d, d), [0, 2, 3, 1]), split(lin("x", d, d), [0, 2, 1, 3])
    att = b.op("Div", [b.op("MatMul", [q, k]), b.const(np.array(np.sqrt(dh), np.float32), "scale")])
    att = b.op("Softmax", [b.op("Add", [att, m])], axis=-1)
    ctx = b.op("Reshape", [b.op("Transpose", [b.op("MatMul", [att, v])], perm=[0, 2, 1, 3]), b.const(np.array([0, s, d], np.int64), "shape")])
    ln = lambda x: b.op("LayerNormalization", [x, b.const(np.ones(d, np.float32), "g"), b.const(np.zeros(d, np.float32), "beta")], axis=-1)
    h = ln(b.op("Add", [lin(ctx, d, d), "x"]))
    f = lin(gelu_erf(b, lin(h, d, 4 * d)), 4 * d, d)
    out = ln(b.op("Add", [f, h]))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", s, d]),
              helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", s])]
    return b.model(inputs, out)


def gelu_erf(b, x):
    """Gelu as PyTorch exports it at opset 17: x * 0.5 * (1 + erf(x / sqrt 2))."""
    e = b.op("Erf", [b.op("Div", [x, b.const(np.array(np.sqrt(2), np.float32), "c")])])
    return b.op("Mul", [b.op("Mul", [x, b.op("Add", [e, b.const(np.array(1, np.float32), "c")])]), b.const(np.array(0.5, np.float32), "c")])


MODELS = {
    "se_silu_32": lambda: se_block("silu", 32, 112),
    "se_silu_96": lambda: se_block("silu", 96, 56),
    "se_silu_144": lambda: se_block("silu", 144, 56),
    "se_silu_240": lambda: se_block("silu", 240, 28),
    "se_hard_72": lambda: se_block("hard", 72, 28),
    "regnet_48": lambda: regnet_block(48, 56),
    "regnet_104": lambda: regnet_block(104, 28),
    "regnet_208": lambda: regnet_block(208, 14),
    "regnet_440": lambda: regnet_block(440, 7),
    "effnet_stack": effnet_stack,
    "shuffle": shuffle_unit,
    "attention": attention,
}


def inputs_for(model, batch):
    feeds = {}
    for vi in model.graph.input:
        dims = [batch if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]
        n = int(np.prod(dims))
        if vi.name == "mask":  # the last quarter of each sequence padded
            a = np.ones(dims, np.float32)
            a[:, dims[1] * 3 // 4:] = 0
        else:
            a = np.sin(0.37 * np.arange(n, dtype=np.float32)).reshape(dims)
        feeds[vi.name] = a
    return feeds


def bench(args, name, path, batch):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    model = onnx.load(path)
    feeds = inputs_for(model, batch)
    mrt_ms, ort_ms, ratios = [], [], []
    for _ in range(args.rounds):
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        for _ in range(3):
            sess.run(None, feeds)
        proc = subprocess.Popen([args.bench, path, "--batch", str(batch), "--threads", str(args.threads), "--paced"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("onnx-plan-bench failed on " + name)
        o_all, m_all = [], []
        for _ in range(3):
            o = []
            for _ in range(args.block):
                t0 = time.perf_counter()
                sess.run(None, feeds)
                o.append((time.perf_counter() - t0) * 1e3)
            time.sleep(0.25)  # ORT's pool threads spin ~100 ms after a run
            proc.stdin.write("%d\n" % args.block)
            proc.stdin.flush()
            m = [float(t) for t in proc.stdout.readline().split()]
            o_all += o[1:]
            m_all += m[1:]
            ratios.append(statistics.median(o[1:]) / statistics.median(m[1:]))
        proc.stdin.close()
        proc.wait()
        mrt_ms.append(statistics.median(m_all))
        ort_ms.append(statistics.median(o_all))
    return statistics.median(mrt_ms), statistics.median(ort_ms), statistics.median(ratios)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/onnx-blocks")
    ap.add_argument("--bench", default=os.path.join(REPO_ROOT, "build", "tests", "onnx-plan-bench"))
    ap.add_argument("--models", default="se_silu_144,effnet_stack")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--make-only", action="store_true")
    args = ap.parse_args()
    names = list(MODELS) if args.models == "all" else args.models.split(",")
    os.makedirs(args.dir, exist_ok=True)
    paths = {}
    for name in names:
        paths[name] = os.path.join(args.dir, name + ".onnx")
        m = MODELS[name]()
        onnx.checker.check_model(m)
        onnx.save(m, paths[name])
    if args.make_only:
        return
    print("| model | batch | mrt ms | ORT ms | ORT/mrt (paired) |")
    print("| --- | --- | --- | --- | --- |")
    for name in names:
        for batch in [int(x) for x in args.batches.split(",")]:
            m, o, r = bench(args, name, paths[name], batch)
            print("| %s | %d | %.3f | %.3f | %.2f |" % (name, batch, m, o, r), flush=True)


if __name__ == "__main__":
    sys.exit(main())
