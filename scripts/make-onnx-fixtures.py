#!/usr/bin/env python3
"""Writes the ONNX test models (real architectures, random seeded weights)
with reference outputs from onnxruntime, and the malformed ONNX files the
loader must reject:

    scripts/make-onnx-fixtures.py [--fixtures DIR] [--only NAME]
    scripts/make-onnx-fixtures.py --bench-dir DIR [--only NAME]

Fixture mode (the default) writes tests/fixtures/models/onnx-<name>/ for
resnet, mobilenetv2, squeezenet, bert, bert17, fusions, exporter-ops and sdpa: model.onnx, model.yml and
reference/ (inputs/<input>.npy at batch 2 so a dynamic batch other than 1
is exercised, outputs/<output>.npy from onnxruntime with ORT_ENABLE_ALL, and
tolerance.yml). It also writes tests/fixtures/onnx-bad/ (name "bad"):
truncated, garbage, cyclic, dangling-initializer, unsupported-op and
external-data files, each listed with its expected error in its README.md.

--bench-dir DIR writes full-size resnet18, resnet50, mobilenetv2, squeezenet and bert
in the same layout (model.onnx, model.yml, input_b1/ and input_b8/ holding
<input>.npy at batch 1 and 8; no reference outputs) for the benchmarks;
they are large (up to ~100 MB each) and never committed.

The graphs are built with onnx.helper, not exported from PyTorch, but they
copy what torch.onnx.export emits: node names such as
"/layer1/layer1.0/conv1/Conv", parameter names such as
"layer1.0.conv1.weight" and "onnx::MatMul_N" for pre-transposed Linear
weights, Constant nodes, the Shape/Gather/Unsqueeze/Concat/Reshape chains
of x.view(x.size(0), -1) and of attention head reshapes, BatchNormalization
left after Conv, Clip with min/max inputs, LayerNorm decomposed at opset 13
and native at opset 17, and Gelu as x*0.5*(1+Erf(x/sqrt(2))). The batch
dimension is the symbolic "batch"; every other dimension is static.

BatchNormalization running statistics are calibrated on random inputs (as
training would leave them), so activations stay O(1) at any depth instead
of exploding or vanishing. Every model passes onnx.checker (full_check),
and the written files are loaded back and re-run to check the references.
Needs numpy, onnx and onnxruntime (PyPI).
"""
import argparse
import collections
import contextlib
import math
import os
import re
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = "scripts/make-onnx-fixtures.py"
IR_VERSION = 8  # what torch 2.x writes for opsets 13-17; old enough for any reader
DTYPES = {np.dtype(np.float32): ("float32", TensorProto.FLOAT), np.dtype(np.int64): ("int64", TensorProto.INT64)}
ELEM = {TensorProto.FLOAT: "float32", TensorProto.INT64: "int64"}


# --------------------------------------------------------------------------
# Graph builder: torch-exporter naming, initializers, BN bookkeeping.

class Graph:
    """Collects nodes and initializers, naming them the way torch.onnx.export
    does so the runtime sees realistic graphs: "/<module path>/<Op>[_k]" for
    nodes, "<node>_output_0" for their outputs, dotted qualified names for
    parameters."""

    def __init__(self, opset, rng):
        self.opset = opset
        self.rng = rng
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self.disp, self.qual = [], []  # module scope: displayed names, qualified parts
        self.used = collections.Counter()
        self.anon = 0
        self.bns = []  # (index of BN node, C) for calibration

    @contextlib.contextmanager
    def module(self, name):
        # Children of a called Sequential show as "<parent>.<idx>" in torch's
        # scope names ("/layer1/layer1.0"); ModuleList items are passed whole
        # ("layer.0") since the list itself never runs.
        disp = f"{self.disp[-1]}.{name}" if name.isdigit() and self.disp else name
        self.disp.append(disp)
        self.qual.append(name)
        try:
            yield
        finally:
            self.disp.pop()
            self.qual.pop()

    def pname(self, leaf):  # parameter name of the current module
        return ".".join(self.qual + [leaf])

    def node(self, op, inputs, out=None, **attrs):
        base = "/" + "/".join(self.disp + [op])
        k = self.used[base]
        self.used[base] += 1
        name = base if k == 0 else f"{base}_{k}"
        out = out or f"{name}_output_0"
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=name, **attrs))
        return out

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def anon_init(self, op, array):
        # Folded constants and pre-transposed weights are "onnx::<Op>_<id>".
        self.anon += 1
        return self.init(f"onnx::{op}_{self.anon}", array)

    def const(self, value, dtype=np.int64):
        return self.node("Constant", [], value=numpy_helper.from_array(np.array(value, dtype=dtype)))

    def input(self, name, dtype, shape):
        self.inputs.append(helper.make_tensor_value_info(name, DTYPES[np.dtype(dtype)][1], shape))
        return name

    def output(self, name, dtype, shape):
        self.outputs.append(helper.make_tensor_value_info(name, DTYPES[np.dtype(dtype)][1], shape))

    def model(self, doc):
        graph = helper.make_graph(self.nodes, "main_graph", self.inputs, self.outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                              producer_name=SCRIPT, doc_string=doc)
        m.ir_version = IR_VERSION
        return m


# --------------------------------------------------------------------------
# Layers, written as torch modules export them.

def he(rng, shape, fan_in):
    # Kaiming-normal: keeps the activation variance ~1 through Relu layers.
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)


def conv(g, x, name, cin, cout, k, stride=1, pad=None, groups=1, bias=False, out=None):
    pad = k // 2 if pad is None else pad
    with g.module(name):
        w = g.init(g.pname("weight"), he(g.rng, (cout, cin // groups, k, k), cin // groups * k * k))
        ins = [x, w]
        if bias:
            ins.append(g.init(g.pname("bias"), g.rng.uniform(-0.1, 0.1, cout).astype(np.float32)))
        return g.node("Conv", ins, out=out, dilations=[1, 1], group=groups, kernel_shape=[k, k],
                      pads=[pad] * 4, strides=[stride, stride])


def bn(g, x, name, c, gamma=(0.5, 1.5), out=None):
    # Running statistics are placeholders until calibrate_bn() sets them.
    with g.module(name):
        ins = [x, g.init(g.pname("weight"), g.rng.uniform(*gamma, c).astype(np.float32)),
               g.init(g.pname("bias"), g.rng.uniform(-0.2, 0.2, c).astype(np.float32)),
               g.init(g.pname("running_mean"), np.zeros(c, np.float32)),
               g.init(g.pname("running_var"), np.ones(c, np.float32))]
        g.bns.append(len(g.nodes))
        return g.node("BatchNormalization", ins, out=out, epsilon=1e-5, momentum=0.9)


def relu(g, x, name="relu", out=None):
    with g.module(name):
        return g.node("Relu", [x], out=out)


def clip6(g, x, name, clip_range):
    # ReLU6 exports as Clip with min/max as (shared, folded) inputs at opset >= 11.
    with g.module(name):
        return g.node("Clip", [x, *clip_range])


def unsqueeze(g, x, axes):
    if g.opset >= 13:  # axes became an input at opset 13
        return g.node("Unsqueeze", [x, g.const(axes)])
    return g.node("Unsqueeze", [x], axes=axes)


def reshape(g, x, shape):
    if g.opset >= 14:  # torch writes the opset-14 attribute explicitly
        return g.node("Reshape", [x, shape], allowzero=0)
    return g.node("Reshape", [x, shape])


def dims_of(g, x, idxs):
    # x.size(i) for each i, Unsqueezed for a Concat: one Shape per size() call.
    return [unsqueeze(g, g.node("Gather", [g.node("Shape", [x]), g.const(i)], axis=0), [0]) for i in idxs]


def view_flatten(g, x):
    # x.view(x.size(0), -1): Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) -> Reshape.
    shape = g.node("Concat", dims_of(g, x, [0]) + [g.anon_init("Concat", np.array([-1], np.int64))], axis=0)
    return reshape(g, x, shape)


def gemm(g, x, name, fin, fout, w_scale=None, out=None):
    # nn.Linear on 2-D input: Gemm(transB=1) with the weight as stored [out, in].
    s = w_scale if w_scale is not None else 1.0 / math.sqrt(fin)
    with g.module(name):
        w = g.init(g.pname("weight"), g.rng.uniform(-s, s, (fout, fin)).astype(np.float32))
        b = g.init(g.pname("bias"), g.rng.uniform(-0.1, 0.1, fout).astype(np.float32))
        return g.node("Gemm", [x, w, b], out=out, alpha=1.0, beta=1.0, transB=1)


def linear3d(g, x, name, fin, fout, std=None, out=None):
    # nn.Linear on 3-D input: MatMul by the pre-transposed weight, then
    # Add(bias, ·) with the bias first, as the exporter orders it.
    std = std if std is not None else 1.0 / math.sqrt(fin)
    with g.module(name):
        w = g.anon_init("MatMul", (g.rng.standard_normal((fin, fout)) * std).astype(np.float32))
        b = g.init(g.pname("bias"), (g.rng.standard_normal(fout) * 0.02).astype(np.float32))
        return g.node("Add", [b, g.node("MatMul", [x, w])], out=out)


def layer_norm(g, x, name, c, eps, native, out=None):
    # Native LayerNormalization from opset 17; before that the exporter's
    # decomposition ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add.
    with g.module(name):
        w = g.init(g.pname("weight"), (1.0 + 0.1 * g.rng.standard_normal(c)).astype(np.float32))
        b = g.init(g.pname("bias"), (0.1 * g.rng.standard_normal(c)).astype(np.float32))
        if native:
            return g.node("LayerNormalization", [x, w, b], out=out, axis=-1, epsilon=eps)
        mean = g.node("ReduceMean", [x], axes=[-1], keepdims=1)
        d = g.node("Sub", [x, mean])
        var = g.node("ReduceMean", [g.node("Pow", [d, g.const(2.0, np.float32)])], axes=[-1], keepdims=1)
        std = g.node("Sqrt", [g.node("Add", [var, g.const(eps, np.float32)])])
        return g.node("Add", [g.node("Mul", [g.node("Div", [d, std]), w]), b], out=out)


def gelu(g, x, name):
    # torch's exact gelu: x * 0.5 * (1 + erf(x / sqrt(2))), as Div/Erf/Add/Mul/Mul.
    with g.module(name):
        e = g.node("Erf", [g.node("Div", [x, g.const(1.4142135381698608, np.float32)])])
        return g.node("Mul", [g.node("Mul", [x, g.node("Add", [e, g.const(1.0, np.float32)])]),
                              g.const(0.5, np.float32)])


# --------------------------------------------------------------------------
# Architectures. Fixture and benchmark models come from the same builders.

def build_resnet(seed, opset, block, layers, widths, stem, classes, image):
    """torchvision-style ResNet: BasicBlock (resnet18) or Bottleneck (resnet50)."""
    g = Graph(opset, np.random.default_rng([seed, 0]))
    x = g.input("input", np.float32, ["batch", 3, image, image])
    x = conv(g, x, "conv1", 3, stem, 7, stride=2, pad=3)
    x = relu(g, bn(g, x, "bn1", stem))
    with g.module("maxpool"):
        x = g.node("MaxPool", [x], ceil_mode=0, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    cin, expansion = stem, (4 if block == "bottleneck" else 1)
    for si, (n, width) in enumerate(zip(layers, widths)):
        with g.module(f"layer{si + 1}"):
            for bi in range(n):
                stride = 2 if si > 0 and bi == 0 else 1
                cout = width * expansion
                with g.module(str(bi)):
                    identity = x
                    # The last BN of each branch gets a small gamma, as in
                    # trained ResNets, so the residual sum stays O(1) with depth.
                    small = (0.2, 0.5)
                    if block == "basic":
                        y = relu(g, bn(g, conv(g, x, "conv1", cin, width, 3, stride), "bn1", width))
                        y = bn(g, conv(g, y, "conv2", width, width, 3), "bn2", width, small)
                    else:
                        y = relu(g, bn(g, conv(g, x, "conv1", cin, width, 1), "bn1", width))
                        y = relu(g, bn(g, conv(g, y, "conv2", width, width, 3, stride), "bn2", width), "relu_1")
                        y = bn(g, conv(g, y, "conv3", width, cout, 1), "bn3", cout, small)
                    if stride != 1 or cin != cout:
                        with g.module("downsample"):
                            identity = bn(g, conv(g, x, "0", cin, cout, 1, stride), "1", cout)
                    x = g.node("Add", [y, identity])
                    x = relu(g, x, "relu_1" if block == "basic" else "relu_2")
                cin = cout
    with g.module("avgpool"):
        x = g.node("GlobalAveragePool", [x])
    x = g.node("Flatten", [x], axis=1)
    gemm(g, x, "fc", cin, classes, out="logits")
    g.output("logits", np.float32, ["batch", classes])
    return g


SQUEEZENET11_FIRES = [(64, 16, 64), (128, 16, 64), "pool", (128, 32, 128), (256, 32, 128), "pool",
                      (256, 48, 192), (384, 48, 192), (384, 64, 256), (512, 64, 256)]  # cin, squeeze, expand


def build_squeezenet(seed, opset, fires, classes, image):
    """torchvision squeezenet1_1: Fire modules (1x1 squeeze, then 1x1 and 3x3
    expands concatenated on channels), ceil-mode max pools, a 1x1 conv head."""
    g = Graph(opset, np.random.default_rng([seed, 0]))
    x = g.input("input", np.float32, ["batch", 3, image, image])

    def pool(x):
        return g.node("MaxPool", [x], ceil_mode=1, kernel_shape=[3, 3], pads=[0, 0, 0, 0], strides=[2, 2])

    with g.module("features"):
        x = relu(g, conv(g, x, "0", 3, 64, 3, stride=2, pad=0, bias=True), "1")
        with g.module("2"):
            x = pool(x)
        for i, f in enumerate(fires):
            with g.module(str(i + 3)):
                if f == "pool":
                    x = pool(x)
                    continue
                cin, sq, ex = f
                s = relu(g, conv(g, x, "squeeze", cin, sq, 1, bias=True), "squeeze_activation")
                e1 = relu(g, conv(g, s, "expand1x1", sq, ex, 1, bias=True), "expand1x1_activation")
                e3 = relu(g, conv(g, s, "expand3x3", sq, ex, 3, bias=True), "expand3x3_activation")
                x = g.node("Concat", [e1, e3], axis=1)
    with g.module("classifier"):  # Dropout is gone in eval mode
        x = relu(g, conv(g, x, "1", 2 * fires[-1][2], classes, 1, bias=True), "2")
        x = g.node("GlobalAveragePool", [x])
    g.node("Flatten", [x], axis=1, out="logits")
    g.output("logits", np.float32, ["batch", classes])
    return g


MOBILENETV2_CFG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                   (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]  # t, c, n, s (width 1.0)


def build_mobilenetv2(seed, opset, cfg, stem, last, classes, image):
    """torchvision-style MobileNetV2, but flattened with x.view(x.size(0), -1)."""
    g = Graph(opset, np.random.default_rng([seed, 0]))
    x = g.input("input", np.float32, ["batch", 3, image, image])
    # ReLU6 bounds are folded to two initializers shared by every Clip.
    clip_range = (g.anon_init("Clip", np.array(0.0, np.float32)), g.anon_init("Clip", np.array(6.0, np.float32)))

    def conv_bn_act(x, name, cin, cout, k, stride=1, groups=1):  # Conv2dNormActivation
        with g.module(name):
            y = bn(g, conv(g, x, "0", cin, cout, k, stride, groups=groups), "1", cout)
            return clip6(g, y, "2", clip_range)

    with g.module("features"):
        x = conv_bn_act(x, "0", 3, stem, 3, 2)
        cin, idx = stem, 1
        for t, c, n, s in cfg:
            for i in range(n):
                stride = s if i == 0 else 1
                hidden = cin * t
                with g.module(str(idx)):
                    with g.module("conv"):
                        y, j = x, 0
                        if t != 1:
                            y, j = conv_bn_act(y, "0", cin, hidden, 1), 1
                        y = conv_bn_act(y, str(j), hidden, hidden, 3, stride, groups=hidden)
                        y = conv(g, y, str(j + 1), hidden, c, 1)
                        y = bn(g, y, str(j + 2), c, (0.2, 0.5) if stride == 1 and cin == c else (0.5, 1.5))
                    if stride == 1 and cin == c:
                        y = g.node("Add", [x, y])
                    x = y
                cin, idx = c, idx + 1
        x = conv_bn_act(x, str(idx), cin, last, 1)
    x = g.node("GlobalAveragePool", [x])
    x = view_flatten(g, x)
    with g.module("classifier"):  # Dropout is gone in eval mode
        gemm(g, x, "1", last, classes, out="logits")
    g.output("logits", np.float32, ["batch", classes])
    return g


def build_bert(seed, opset, vocab, hidden, layers, heads, ffn, seq, max_pos):
    """Hugging Face BertModel: embeddings, encoder layers, pooler."""
    native = opset >= 17
    g = Graph(opset, np.random.default_rng([seed, 0]))
    rng, hd, eps = g.rng, hidden // heads, 1e-12
    ids = g.input("input_ids", np.int64, ["batch", seq])
    mask = g.input("attention_mask", np.int64, ["batch", seq])
    with g.module("embeddings"):
        # Embedding tables N(0, 1): the LayerNorm after them sets the scale.
        with g.module("word_embeddings"):
            w = g.init(g.pname("weight"), rng.standard_normal((vocab, hidden)).astype(np.float32))
            x = g.node("Gather", [w, ids])
        with g.module("token_type_embeddings"):  # token_type_ids default to zeros: a folded buffer
            w = g.init(g.pname("weight"), rng.standard_normal((2, hidden)).astype(np.float32))
            tt = g.node("Gather", [w, g.init("embeddings.token_type_ids", np.zeros((1, seq), np.int64))])
        x = g.node("Add", [x, tt])
        with g.module("position_embeddings"):
            w = g.init(g.pname("weight"), rng.standard_normal((max_pos, hidden)).astype(np.float32))
            pos = g.node("Gather", [w, g.init("embeddings.position_ids", np.arange(seq, dtype=np.int64)[None])])
        x = g.node("Add", [x, pos])
        x = layer_norm(g, x, "LayerNorm", hidden, eps, native)
    # Extended attention mask: (1.0 - mask[:, None, None, :].float()) * -10000.
    m = g.node("Cast", [unsqueeze(g, unsqueeze(g, mask, [1]), [2])], to=TensorProto.FLOAT)
    m = g.node("Mul", [g.node("Sub", [g.const(1.0, np.float32), m]), g.const(-10000.0, np.float32)])
    # Linear weights ~ 1/sqrt(fan_in) (not BERT's 0.02) so attention scores
    # are O(1) and softmax is far from uniform: a stronger test.
    for li in range(layers):
        with g.module("encoder"), g.module(f"layer.{li}"):
            with g.module("attention"):
                with g.module("self"):
                    q = linear3d(g, x, "query", hidden, hidden)
                    k = linear3d(g, x, "key", hidden, hidden)
                    v = linear3d(g, x, "value", hidden, hidden)

                    def heads_of(t, perm):  # t.view(t.size()[:-1] + (heads, hd)).permute(perm)
                        shape = g.node("Concat", dims_of(g, t, [0, 1]) + [g.const([heads]), g.const([hd])], axis=0)
                        return g.node("Transpose", [reshape(g, t, shape)], perm=perm)

                    q, k, v = heads_of(q, [0, 2, 1, 3]), heads_of(k, [0, 2, 3, 1]), heads_of(v, [0, 2, 1, 3])
                    s = g.node("Div", [g.node("MatMul", [q, k]), g.const(math.sqrt(hd), np.float32)])
                    p = g.node("Softmax", [g.node("Add", [s, m])], axis=-1)
                    c = g.node("Transpose", [g.node("MatMul", [p, v])], perm=[0, 2, 1, 3])
                    shape = g.node("Concat", dims_of(g, c, [0, 1]) + [g.const([hidden])], axis=0)
                    c = reshape(g, c, shape)
                with g.module("output"):
                    y = g.node("Add", [linear3d(g, c, "dense", hidden, hidden), x])
                    x = layer_norm(g, y, "LayerNorm", hidden, eps, native)
            with g.module("intermediate"):
                y = gelu(g, linear3d(g, x, "dense", hidden, ffn), "intermediate_act_fn")
            with g.module("output"):
                y = g.node("Add", [linear3d(g, y, "dense", ffn, hidden), x])
                last = li == layers - 1
                x = layer_norm(g, y, "LayerNorm", hidden, eps, native, out="last_hidden_state" if last else None)
    with g.module("pooler"):  # tanh(dense(hidden[:, 0]))
        first = g.node("Gather", [x, g.const(0)], axis=1)
        y = gemm(g, first, "dense", hidden, hidden)
        with g.module("activation"):
            g.node("Tanh", [y], out="pooler_output")
    g.output("last_hidden_state", np.float32, ["batch", seq, hidden])
    g.output("pooler_output", np.float32, ["batch", hidden])
    return g


def build_sdpa(seed):
    """A one-layer encoder with the index and mask arithmetic of the zoo's
    transformer exports (torch.onnx.export, opset 17): token types gathered
    from a buffer with GatherElements (transformers' BERT embeddings), a
    relative-position bias bucketed with Mod (fmod 0 and 1) as ViT/Swin
    index arithmetic does, a window bias built with ScatterND (Swin), and
    scaled_dot_product_attention's export: a -inf key-padding mask, Softmax,
    then Where(IsNaN(p), 0, p) for rows with every key masked."""
    seq, hidden, heads, vocab, buf_len, buckets = 8, 32, 2, 50, 16, 5
    g = Graph(17, np.random.default_rng([seed, 0]))
    rng, hd = g.rng, hidden // heads
    ids = g.input("input_ids", np.int64, ["batch", seq])
    mask = g.input("attention_mask", np.int64, ["batch", seq])
    with g.module("embeddings"):
        with g.module("word_embeddings"):
            w = g.init(g.pname("weight"), rng.standard_normal((vocab, hidden)).astype(np.float32))
            x = g.node("Gather", [w, ids])
        # token_type_ids = buffered_token_type_ids.expand(batch, buf_len).gather(1, position_ids)
        shape = g.node("Shape", [ids])
        batch = g.node("Gather", [shape, g.const([0])], axis=0)
        buf = g.init("embeddings.token_type_ids", rng.integers(0, 2, (1, buf_len), dtype=np.int64))
        buf = g.node("Expand", [buf, g.node("Concat", [batch, g.const([buf_len])], axis=0)])
        pos = g.init("embeddings.position_ids", np.arange(buf_len, dtype=np.int64)[None])
        pos = g.node("Slice", [pos, g.const([0]), g.const([seq]), g.const([1])])
        pos = g.node("Expand", [pos, shape])
        tt = g.node("GatherElements", [buf, pos], axis=1)
        with g.module("token_type_embeddings"):
            w = g.init(g.pname("weight"), rng.standard_normal((2, hidden)).astype(np.float32))
            x = g.node("Add", [x, g.node("Gather", [w, tt])])
    with g.module("attention"):
        # Relative positions (i - j) bucketed two ways: floored (fmod 0, in
        # [0, buckets)) and truncated (fmod 1, in (-buckets, buckets)), summed.
        r = g.node("Range", [g.const(0), g.node("Gather", [shape, g.const(1)], axis=0), g.const(1)])
        rel = g.node("Sub", [unsqueeze(g, r, [1]), unsqueeze(g, r, [0])])
        b0 = g.node("Mod", [rel, g.const(buckets)], fmod=0)
        b1 = g.node("Add", [g.node("Mod", [rel, g.const(buckets)], fmod=1), g.const(buckets - 1)])
        with g.module("relative_position_bias_table"):
            t0 = g.init(g.pname("weight"), rng.standard_normal((buckets, heads)).astype(np.float32))
            t1 = g.init(g.pname("weight_signed"), rng.standard_normal((2 * buckets - 1, heads)).astype(np.float32))
        bias = g.node("Add", [g.node("Gather", [t0, b0]), g.node("Gather", [t1, b1])])  # [seq, seq, heads]
        bias = g.node("Transpose", [bias], perm=[2, 0, 1])
        # A window bias: -2 on the first and last key of every query, as
        # Swin's shifted-window mask is built (ScatterND into zeros).
        idx = np.array([[i, j] for i in range(seq) for j in (0, seq - 1)], np.int64)
        win = g.node("ScatterND", [g.init("attention.window_zeros", np.zeros((seq, seq), np.float32)),
                                   g.init("attention.window_index", idx),
                                   g.init("attention.window_values", np.full(len(idx), -2.0, np.float32))])
        bias = g.node("Add", [bias, win])
        q = linear3d(g, x, "q_proj", hidden, hidden)
        k = linear3d(g, x, "k_proj", hidden, hidden)
        v = linear3d(g, x, "v_proj", hidden, hidden)

        def heads_of(t, perm):
            return g.node("Transpose", [reshape(g, t, g.const([0, seq, heads, hd]))], perm=perm)

        q, k, v = heads_of(q, [0, 2, 1, 3]), heads_of(k, [0, 2, 3, 1]), heads_of(v, [0, 2, 1, 3])
        # attn_mask = where(mask == 0, -inf, 0)[:, None, None, :]
        m = g.node("Equal", [unsqueeze(g, mask, [1, 2]), g.const(0)])
        m = g.node("Where", [m, g.const(-np.inf, np.float32), g.const(0.0, np.float32)])
        s = g.node("Mul", [g.node("MatMul", [q, k]), g.const(1 / math.sqrt(hd), np.float32)])
        p = g.node("Softmax", [g.node("Add", [g.node("Add", [s, bias]), m])], axis=-1)
        p = g.node("Where", [g.node("IsNaN", [p]), g.const(0.0, np.float32), p])
        c = g.node("Transpose", [g.node("MatMul", [p, v])], perm=[0, 2, 1, 3])
        c = reshape(g, c, g.const([0, seq, hidden]))
        y = g.node("Add", [linear3d(g, c, "out_proj", hidden, hidden), x])
    layer_norm(g, y, "LayerNorm", hidden, 1e-5, True, out="last_hidden_state")
    g.output("last_hidden_state", np.float32, ["batch", seq, hidden])
    return g


def sdpa_feeds(rng, inputs, batch):
    ids = rng.integers(0, 50, (batch, 8), dtype=np.int64)
    mask = np.ones((batch, 8), np.int64)
    mask[0, 5:] = 0  # trailing padding
    if batch > 1:
        mask[1, :] = 0  # every key masked: Softmax gives NaN rows, which Where(IsNaN) zeroes
    return {"input_ids": ids, "attention_mask": mask}


def build_fusions(seed):
    """A small CNN that strings together the post-op patterns a runtime fuses
    (Conv+bias+act, Conv+BN+act, Conv+Add+Relu) and the pooling, resizing,
    padding and head ops whose attributes are easy to get wrong."""
    g = Graph(14, np.random.default_rng([seed, 0]))  # HardSwish needs opset 14
    x = g.input("input", np.float32, ["batch", 4, 16, 16])
    x = relu(g, conv(g, x, "conv1", 4, 8, 3, bias=True))                    # Conv+bias+Relu
    x2 = bn(g, conv(g, x, "conv2", 8, 8, 3), "bn2", 8)                      # Conv, BN, HardSwish
    with g.module("act2"):
        x2 = g.node("HardSwish", [x2])
    x = conv(g, x2, "conv3", 8, 8, 1, bias=True)                            # Conv+Sigmoid
    with g.module("act3"):
        x = g.node("Sigmoid", [x])
    x = g.node("Add", [conv(g, x, "conv4", 8, 8, 3, bias=True), x2])        # Conv+residual Add+Relu
    x = relu(g, x, "relu_1")
    x = conv(g, x, "conv5", 8, 8, 1, bias=True)                             # Conv+LeakyRelu
    with g.module("act5"):
        x = g.node("LeakyRelu", [x], alpha=0.1)
    x = conv(g, x, "conv6", 8, 8, 3, bias=True)                             # Conv+HardSigmoid
    with g.module("act6"):  # torch's Hardsigmoid: alpha 1/6, beta 0.5
        x = g.node("HardSigmoid", [x], alpha=1.0 / 6, beta=0.5)
    with g.module("up"):  # 16 -> 32: (16-1)*2 - 2*1 + 3 + 1
        w = g.init(g.pname("weight"), he(g.rng, (8, 8, 3, 3), 8 * 9 / 4))
        b = g.init(g.pname("bias"), g.rng.uniform(-0.1, 0.1, 8).astype(np.float32))
        x = g.node("ConvTranspose", [x, w, b], dilations=[1, 1], group=1, kernel_shape=[3, 3],
                   output_padding=[1, 1], pads=[1, 1, 1, 1], strides=[2, 2])
    pool = dict(ceil_mode=0, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    with g.module("pool_a"):  # border windows average over the valid cells only
        a = g.node("AveragePool", [x], count_include_pad=0, **pool)
    with g.module("pool_b"):  # border windows count the zero padding
        b = g.node("AveragePool", [x], count_include_pad=1, **pool)
    with g.module("pool_c"):  # 16 -> 8 only with ceil_mode (floor gives 7)
        mp = g.node("MaxPool", [b], ceil_mode=1, kernel_shape=[3, 3], pads=[0, 0, 0, 0], strides=[2, 2])
    # F.interpolate(scale_factor=2): nearest (asymmetric, floor) and bilinear (half_pixel).
    scales = g.anon_init("Resize", np.array([1, 1, 2, 2], np.float32))
    with g.module("up_nearest"):
        r1 = g.node("Resize", [mp, "", scales], coordinate_transformation_mode="asymmetric",
                    cubic_coeff_a=-0.75, mode="nearest", nearest_mode="floor")
    with g.module("up_linear"):
        r2 = g.node("Resize", [mp, "", scales], coordinate_transformation_mode="half_pixel",
                    cubic_coeff_a=-0.75, mode="linear", nearest_mode="floor")
    # F.pad(conv(a), (1, 1, 0, 2), value=0.5): 14x14 -> 16x16, asymmetric.
    c = conv(g, a, "conv7", 8, 8, 3, pad=0, bias=True)
    p = g.node("Pad", [c, g.anon_init("Pad", np.array([0, 0, 0, 1, 0, 0, 2, 1], np.int64)),
                       g.anon_init("Pad", np.array(0.5, np.float32))], mode="constant")
    x = g.node("Concat", [r1, r2, b, p], out="features", axis=1)
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1)
    x = relu(g, gemm(g, x, "fc1", 32, 64, w_scale=math.sqrt(6.0 / 32)), "relu_2")
    with g.module("fc2"):  # MatMul + Add + Tanh
        w = g.anon_init("MatMul", (g.rng.standard_normal((64, 10)) / math.sqrt(64 / 4)).astype(np.float32))
        x = g.node("Add", [g.node("MatMul", [x, w]), g.init(g.pname("bias"), np.full(10, 0.05, np.float32))])
        x = g.node("Tanh", [x])
    g.node("LogSoftmax", [x], out="log_probs", axis=1)
    g.output("features", np.float32, ["batch", 32, 16, 16])
    g.output("log_probs", np.float32, ["batch", 10])
    return g


def build_exporter_ops(seed):
    """A small CNN of the activations, normalisations and resampling that
    exporters emit beyond the ResNet set: PReLU per channel, InstanceNorm,
    ELU, SELU, Mish, CELU, Softplus, bicubic upsampling, an antialiased
    downscale, an inference Dropout, GlobalMaxPool and an L2-normalised
    embedding (opset 18: Mish, Resize antialias, ReduceL2's axes input)."""
    g = Graph(18, np.random.default_rng([seed, 0]))
    x = g.input("input", np.float32, ["batch", 3, 16, 16])
    x = conv(g, x, "conv1", 3, 8, 3, bias=True)
    with g.module("prelu1"):  # nn.PReLU(8): slope [8, 1, 1]
        x = g.node("PRelu", [x, g.init(g.pname("weight"), g.rng.uniform(0.05, 0.3, (8, 1, 1)).astype(np.float32))])
    x = conv(g, x, "conv2", 8, 8, 3, bias=True)
    with g.module("norm2"):  # nn.InstanceNorm2d(8, affine=True)
        x = g.node("InstanceNormalization", [x, g.init(g.pname("weight"), g.rng.uniform(0.5, 1.5, 8).astype(np.float32)),
                                             g.init(g.pname("bias"), g.rng.uniform(-0.1, 0.1, 8).astype(np.float32))],
                   epsilon=1e-5)
    with g.module("act2"):
        x = g.node("Elu", [x], alpha=1.0)
    x = conv(g, x, "conv3", 8, 8, 3, bias=True)
    with g.module("act3"):
        x = g.node("Selu", [x])
    x = conv(g, x, "conv4", 8, 8, 1, bias=True)
    with g.module("act4"):
        x = g.node("Mish", [x])
    # F.interpolate(scale_factor=2, mode="bicubic"), then torchvision's
    # resize(antialias=True) back down by half.
    with g.module("up_cubic"):
        x = g.node("Resize", [x, "", g.anon_init("Resize", np.array([1, 1, 2, 2], np.float32))],
                   coordinate_transformation_mode="pytorch_half_pixel", cubic_coeff_a=-0.75, mode="cubic",
                   nearest_mode="floor")
    with g.module("down_aa"):
        x = g.node("Resize", [x, "", g.anon_init("Resize", np.array([1, 1, 0.5, 0.5], np.float32))],
                   coordinate_transformation_mode="half_pixel", mode="linear", antialias=1)
    with g.module("act5"):
        x = g.node("Celu", [x], alpha=2.0)
    with g.module("drop"):
        x = g.node("Dropout", [x], out="features")
    y = conv(g, x, "conv5", 8, 16, 3, stride=2, bias=True)
    with g.module("act6"):
        y = g.node("Softplus", [y])
    y = g.node("Flatten", [g.node("GlobalMaxPool", [y])], axis=1)
    y = gemm(g, y, "fc", 16, 10, w_scale=math.sqrt(6.0 / 16))
    # F.normalize(y, dim=1): y / ReduceL2(y, axes=[1], keepdims=1).
    norm = g.node("ReduceL2", [y, g.const([1])], keepdims=1)
    g.node("Div", [y, norm], out="embedding")
    g.output("features", np.float32, ["batch", 8, 16, 16])
    g.output("embedding", np.float32, ["batch", 10])
    return g


# --------------------------------------------------------------------------
# Calibration, checking, running.

def session(model_or_path, level=ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.log_severity_level = 3  # unused-initializer warnings from truncated graphs
    so.intra_op_num_threads = 2
    src = model_or_path if isinstance(model_or_path, str) else model_or_path.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def calibrate_bn(g, feeds):
    """Sets each BatchNormalization's running mean/var to the batch statistics
    of its input on `feeds`, in graph order (each depends on those before),
    running just the prefix of the graph that produces it."""
    inits = {t.name: i for i, t in enumerate(g.inits)}
    for ni in g.bns:
        node = g.nodes[ni]
        prefix = helper.make_graph(g.nodes[:ni], "calib", g.inputs,
                                   [helper.make_tensor_value_info(node.input[0], TensorProto.FLOAT, None)], g.inits)
        m = helper.make_model(prefix, opset_imports=[helper.make_opsetid("", g.opset)])
        m.ir_version = IR_VERSION
        y = session(m, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC).run(None, feeds)[0].astype(np.float64)
        for name, v in ((node.input[3], y.mean(axis=(0, 2, 3))), (node.input[4], y.var(axis=(0, 2, 3)))):
            g.inits[inits[name]] = numpy_helper.from_array(v.astype(np.float32), name)


def image_feeds(rng, inputs, batch):
    # Normalised-image-like N(0, 1) input; `inputs` are the graph's ValueInfos.
    shape = [batch] + [d.dim_value for d in inputs[0].type.tensor_type.shape.dim[1:]]
    return {inputs[0].name: rng.standard_normal(shape).astype(np.float32)}


def bert_feeds(rng, vocab, seq, batch, pad_last_row=True):
    ids = rng.integers(0, vocab, (batch, seq), dtype=np.int64)
    mask = np.ones((batch, seq), np.int64)
    if pad_last_row and batch > 1:
        mask[-1, seq - seq // 4 - 1:] = 0  # trailing padding in one row
    return {"input_ids": ids, "attention_mask": mask}


def io_spec(vi):
    dims = [-1 if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]
    return "{name: %s, dtype: %s, shape: [%s]}" % (vi.name, ELEM[vi.type.tensor_type.elem_type],
                                                   ", ".join(map(str, dims)))


def write_manifest(path, model, description, seed):
    g = model.graph
    lines = [f"# {description}, random weights (seed {seed}), made by {SCRIPT}.",
             "format: onnx", "task: tensor", "files: [model.onnx]", "inputs:"]
    lines += ["  - " + io_spec(v) for v in g.input]
    lines += ["outputs:"] + ["  - " + io_spec(v) for v in g.output]
    lines += ["device: cpu"]
    with open(os.path.join(path, "model.yml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def op_counts(model):
    return sorted(collections.Counter(n.op_type for n in model.graph.node).items())


def save_npy(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, array)


# --------------------------------------------------------------------------
# Fixture and benchmark model tables.

FIXTURES = {
    # name: (description, seed, builder, feeds(rng, inputs, batch), (atol, rtol, why))
    "resnet": ("ResNet-style CNN (4 BasicBlock stages, 16-128 channels, 64x64, 10 classes, opset 13)", 1,
               lambda s: build_resnet(s, 13, "basic", [1, 1, 1, 1], [16, 32, 64, 128], 16, 10, 64),
               image_feeds,
               (1e-4, 1e-3, "12 convolutions (9 on the longest path) with O(1) logits: float32 accumulation order (im2col/GEMM "
                            "blocking, BN folded into the conv) moves results by ~1e-6 to 1e-5.")),
    "mobilenetv2": ("MobileNetV2-style CNN (inverted residuals, depthwise convs, ReLU6, 64x64, 10 classes, "
                    "opset 11)", 2,
                    lambda s: build_mobilenetv2(s, 11, [(1, 8, 1, 1), (6, 16, 2, 2), (6, 24, 2, 2), (6, 32, 1, 2)],
                                                16, 128, 10, 64),
                    image_feeds,
                    (1e-4, 1e-3, "~20 convolutions deep (depthwise and pointwise) with O(1) logits: float32 "
                                 "accumulation order and BN folding move results by ~1e-6 to 1e-5.")),
    "bert": ("BERT-style encoder (2 layers, hidden 64, 4 heads, FFN 128, seq 16, vocab 100, decomposed "
             "LayerNorm, opset 13)", 3,
             lambda s: build_bert(s, 13, 100, 64, 2, 4, 128, 16, 32),
             lambda rng, g, b: bert_feeds(rng, 100, 16, b),
             (1e-4, 1e-3, "2 layers of 64-wide matmuls, softmax, erf and LayerNorm with O(1) outputs: "
                          "float32 reduction order and fused kernels (LayerNorm, Gelu, attention) move "
                          "results by ~1e-6.")),
    "bert17": ("BERT-style encoder (2 layers, hidden 64, 4 heads, FFN 128, seq 16, vocab 100, native "
               "LayerNormalization, opset 17)", 4,
               lambda s: build_bert(s, 17, 100, 64, 2, 4, 128, 16, 32),
               lambda rng, g, b: bert_feeds(rng, 100, 16, b),
               (1e-4, 1e-3, "2 layers of 64-wide matmuls, softmax, erf and LayerNorm with O(1) outputs: "
                            "float32 reduction order and fused kernels move results by ~1e-6.")),
    "squeezenet": ("SqueezeNet-style CNN (5 Fire modules, 16-64 channels, a pool between Concats, 64x64, 10 "
                   "classes, opset 13)", 6,
                   lambda s: build_squeezenet(s, 13, [(64, 16, 32), (64, 16, 32), "pool", (64, 32, 64), (128, 32, 64),
                                                      (128, 32, 64)], 10, 64),
                   image_feeds,
                   (1e-4, 1e-3, "11 convolutions deep with O(1) logits: float32 accumulation order (Winograd, "
                                "concats split into per-branch convolutions that sum) moves results by ~1e-6.")),
    "fusions": ("Small CNN exercising Conv post-op fusions, pooling, Resize, Pad and head ops (opset 14)", 5,
                build_fusions, image_feeds,
                (1e-4, 1e-3, "8 convolutions deep with O(1) activations: float32 accumulation order and "
                             "fused activations move results by ~1e-6; linear Resize and averaging pools "
                             "add rounding of the same order.")),
    "exporter-ops": ("Small CNN of the activations, normalisations and resampling exporters emit beyond ResNet's "
                     "(PReLU, InstanceNorm, ELU, SELU, Mish, CELU, Softplus, bicubic and antialiased Resize, "
                     "Dropout, GlobalMaxPool, L2 normalisation; opset 18)", 7,
                     build_exporter_ops, image_feeds,
                     (1e-4, 1e-3, "5 convolutions deep with O(1) activations: float32 accumulation order, the "
                                  "host kernels' double-precision statistics and oneDNN's eltwise approximations "
                                  "move results by ~1e-6.")),
    "sdpa": ("Attention with the index and mask ops of transformer exports (GatherElements, Mod, ScatterND, "
             "a -inf key-padding mask with a fully masked row, Where(IsNaN) after Softmax; opset 17)", 8,
             build_sdpa, sdpa_feeds,
             (1e-4, 1e-3, "one attention layer and a LayerNorm with O(1) outputs: float32 reduction order "
                          "moves results by ~1e-6; the fully masked row must come out as the bias path alone, "
                          "not NaN.")),
}

BENCH = {
    "resnet18": ("ResNet-18 (224x224, 1000 classes, opset 13, benchmark)", 101, image_feeds,
                 lambda s: build_resnet(s, 13, "basic", [2, 2, 2, 2], [64, 128, 256, 512], 64, 1000, 224)),
    "resnet50": ("ResNet-50 (bottleneck 3-4-6-3, 224x224, 1000 classes, opset 13, benchmark)", 102, image_feeds,
                 lambda s: build_resnet(s, 13, "bottleneck", [3, 4, 6, 3], [64, 128, 256, 512], 64, 1000, 224)),
    "mobilenetv2": ("MobileNetV2 (width 1.0, 224x224, 1000 classes, opset 13, benchmark)", 103, image_feeds,
                    lambda s: build_mobilenetv2(s, 13, MOBILENETV2_CFG, 32, 1280, 1000, 224)),
    "squeezenet": ("SqueezeNet 1.1 (Fire modules, 224x224, 1000 classes, opset 13, benchmark)", 105, image_feeds,
                   lambda s: build_squeezenet(s, 13, SQUEEZENET11_FIRES, 1000, 224)),
    "bert": ("BERT-style encoder (4 layers, hidden 256, 4 heads, FFN 1024, seq 128, vocab 30522, opset 17, "
             "benchmark)", 104, lambda rng, g, b: bert_feeds(rng, 30522, 128, b, pad_last_row=False),
             lambda s: build_bert(s, 17, 30522, 256, 4, 4, 1024, 128, 512)),
}


def finish(g, seed, feeds_fn, calib_batch):
    """Calibrates BN, builds the ModelProto and checks it."""
    if g.bns:
        calibrate_bn(g, feeds_fn(np.random.default_rng([seed, 2]), g.inputs, calib_batch))
    model = g.model(f"Random-weight test model made by {SCRIPT} (seed {seed}).")
    onnx.checker.check_model(model, full_check=True)
    return model


def make_fixture(name, root):
    description, seed, build, feeds_fn, (atol, rtol, why) = FIXTURES[name]
    model = finish(build(seed), seed, feeds_fn, 16)
    out = os.path.join(root, "models", f"onnx-{name}")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    path = os.path.join(out, "model.onnx")
    onnx.save_model(model, path)
    write_manifest(out, model, description, seed)

    feeds = feeds_fn(np.random.default_rng([seed, 1]), model.graph.input, 2)
    names = [o.name for o in model.graph.output]
    outs = session(model).run(names, feeds)
    for k, v in feeds.items():
        save_npy(os.path.join(out, "reference", "inputs", f"{k}.npy"), v)
    for k, v in zip(names, outs):
        save_npy(os.path.join(out, "reference", "outputs", f"{k}.npy"), v)
    with open(os.path.join(out, "reference", "tolerance.yml"), "w") as f:
        f.write(f"# onnxruntime (ORT_ENABLE_ALL) float32 reference. {why}\n")
        f.write(f"atol: {atol:.1e}\nrtol: {rtol:.1e}\n".replace("e-0", "e-"))  # 1.0e-4 style
    verify(out, model, feeds, dict(zip(names, outs)), atol, rtol)


def verify(out, model, feeds, ref, atol, rtol):
    """Reloads the written files, re-runs them and checks the references are
    finite, O(1), reproducible, and far wider than runtime-to-runtime noise
    (estimated as ORT with all graph optimisations against none)."""
    path = os.path.join(out, "model.onnx")
    onnx.checker.check_model(path, full_check=True)
    ins = {k: np.load(os.path.join(out, "reference", "inputs", f"{k}.npy")) for k in feeds}
    files = {k: np.load(os.path.join(out, "reference", "outputs", f"{k}.npy")) for k in ref}
    again = dict(zip(ref, session(path).run(list(ref), ins)))
    plain = dict(zip(ref, session(path, ort.GraphOptimizationLevel.ORT_DISABLE_ALL).run(list(ref), ins)))
    size = os.path.getsize(path)
    print(f"{os.path.relpath(out, REPO)}: opset {model.opset_import[0].version}, {size} bytes, "
          f"{len(model.graph.node)} nodes")
    for k, v in files.items():
        assert np.isfinite(v).all(), f"{k}: non-finite reference"
        assert np.array_equal(v, again[k]), f"{k}: reloaded model gives different outputs"
        noise = float(np.abs(v - plain[k]).max())
        amax, std = float(np.abs(v).max()), float(v.std())
        assert 0.05 < amax < 20 and std > 0.01, f"{k}: magnitude not O(1) (max {amax}, std {std})"
        assert noise * 10 < atol + rtol * amax, f"{k}: optimised/plain difference {noise} near tolerance"
        print(f"  {k} {list(v.shape)}: max|y| {amax:.3g}, std {std:.3g}, "
              f"|ENABLE_ALL - DISABLE_ALL| {noise:.2g}")
    print("  ops: " + ", ".join(f"{op} {n}" for op, n in op_counts(model)))


def make_bench(name, root):
    description, seed, feeds_fn, build = BENCH[name]
    model = finish(build(seed), seed, feeds_fn, 1 if name != "bert" else 2)
    out = os.path.join(root, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    path = os.path.join(out, "model.onnx")
    onnx.save_model(model, path)
    write_manifest(out, model, description, seed)
    sess = session(path)
    for b in (1, 8):
        feeds = feeds_fn(np.random.default_rng([seed, 1, b]), model.graph.input, b)
        for k, v in feeds.items():
            save_npy(os.path.join(out, f"input_b{b}", f"{k}.npy"), v)
        y = sess.run(None, feeds)
        assert all(np.isfinite(t).all() for t in y)
        summary = ", ".join(f"{o.name} max|y| {np.abs(t).max():.3g}" for o, t in zip(model.graph.output, y))
    print(f"{out}: opset {model.opset_import[0].version}, {os.path.getsize(path) / 1e6:.1f} MB, "
          f"{len(model.graph.node)} nodes; batch 8 {summary}")
    print("  ops: " + ", ".join(f"{op} {n}" for op, n in op_counts(model)))


# --------------------------------------------------------------------------
# Malformed and edge-case files for the loader.

def small_conv_model(weight, opset=13, relu_too=True, x_shape=(1, 2, 5, 5), bias=None):
    """x -> Conv(3x3, pad 1) [-> Relu] -> y, with `weight` named conv.weight."""
    cout = weight.dims[0] if isinstance(weight, TensorProto) else 3
    inits = [weight] if isinstance(weight, TensorProto) else []
    conv_ins = ["x", "conv.weight"] + (["conv.bias"] if bias is not None else [])
    if bias is not None:
        inits.append(numpy_helper.from_array(bias, "conv.bias"))
    nodes = [helper.make_node("Conv", conv_ins, ["conv_out" if relu_too else "y"], name="/conv/Conv",
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])]
    if relu_too:
        nodes.append(helper.make_node("Relu", ["conv_out"], ["y"], name="/relu/Relu"))
    out_shape = [x_shape[0], cout, x_shape[2], x_shape[3]]
    graph = helper.make_graph(nodes, "main_graph", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name=SCRIPT)
    m.ir_version = IR_VERSION
    return m


def expect_rejected(path, what):
    # The file must not load in onnxruntime either, or it is no test.
    try:
        session(path)
    except Exception as e:  # noqa: BLE001 - any load failure is what we want
        # Drop the machine-specific paths so README.md is reproducible.
        msg = re.sub(r"Load model from .* failed:", "", str(e).splitlines()[0])
        return msg.split(" External data path:")[0]
    raise AssertionError(f"{path}: onnxruntime accepted {what}")


BAD_README = """\
# Malformed and edge-case ONNX files

Made by `{script}` (seed {seed}); regenerate with
`{script} --only bad`. The ONNX loader must reject every file
below with a clear error (and never crash, hang or read outside the model
directory), and load the two good ones. `unsupported-op.onnx` is a valid
model (onnxruntime runs it): the error is ours, for an operator we lack.

| File | Content | Expected result |
|---|---|---|
| `good.onnx` | Conv(3x3, pad 1, 2->3 channels, bias) + Relu, input `x` [1,2,5,5] float32, output `y` [1,3,5,5]; `good_input.npy` / `good_output.npy` are its onnxruntime reference (atol 1e-5) | loads and runs |
| `truncated.onnx` | the first 60% of the bytes of `good.onnx` | parse error (truncated protobuf) |
| `garbage.onnx` | 256 random bytes | parse error (not a protobuf ModelProto) |
| `cycle.onnx` | Relu `relu_a` reads `relu_b`'s output and `relu_b` reads `relu_a`'s; `add` consumes the cycle | graph error: cycle / not a DAG |
| `missing-initializer.onnx` | Conv whose weight `conv.weight` is neither an initializer, an input nor a node output | graph error: undefined tensor `conv.weight` |
| `unsupported-op.onnx` | valid opset-13 graph x [1,4,4] -> Relu -> `Det` (node `det_node`) -> y [1] | unsupported operator `Det` (names node `det_node`) |
| `external-escape/model.onnx` | Conv weight stored as external data at `../../../etc/passwd` | refused: external data path leaves the model directory |
| `external-ok/model.onnx` | Conv(3x3, pad 1, 4->8, bias) + Relu on x [1,4,6,6]; the weight is external data in `weights.bin` (bias inline); `input.npy` / `output.npy` are the onnxruntime reference (atol 1e-5) | loads and runs |

onnxruntime's own messages (onnxruntime {ort_version}), for reference:

{ort}
"""


def make_bad(root, seed=6):
    out = os.path.join(root, "onnx-bad")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    rng = np.random.default_rng([seed, 0])
    ort_msgs = []

    # good.onnx and its reference.
    w = numpy_helper.from_array(he(rng, (3, 2, 3, 3), 18), "conv.weight")
    good = small_conv_model(w, bias=rng.uniform(-0.1, 0.1, 3).astype(np.float32))
    onnx.checker.check_model(good, full_check=True)
    good_path = os.path.join(out, "good.onnx")
    onnx.save_model(good, good_path)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    np.save(os.path.join(out, "good_input.npy"), x)
    np.save(os.path.join(out, "good_output.npy"), session(good_path).run(None, {"x": x})[0])

    # truncated.onnx: a prefix must not parse.
    data = open(good_path, "rb").read()
    trunc = os.path.join(out, "truncated.onnx")
    open(trunc, "wb").write(data[:len(data) * 6 // 10])
    # garbage.onnx: 256 random bytes.
    garbage = os.path.join(out, "garbage.onnx")
    open(garbage, "wb").write(rng.integers(0, 256, 256, dtype=np.uint8).tobytes())
    for p in (trunc, garbage):
        try:
            onnx.load(p)
        except Exception:  # noqa: BLE001
            pass
        else:
            raise AssertionError(f"{p} parses as a ModelProto")

    def raw_model(nodes, inputs, outputs, inits=(), opset=13):  # no checker on purpose
        m = helper.make_model(helper.make_graph(nodes, "main_graph", inputs, outputs, list(inits)),
                              opset_imports=[helper.make_opsetid("", opset)], producer_name=SCRIPT)
        m.ir_version = IR_VERSION
        return m

    f4 = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
    # cycle.onnx: relu_a <- relu_b <- relu_a.
    cycle = raw_model([helper.make_node("Relu", ["b_out"], ["a_out"], name="relu_a"),
                       helper.make_node("Relu", ["a_out"], ["b_out"], name="relu_b"),
                       helper.make_node("Add", ["x", "a_out"], ["y"], name="add")],
                      [f4("x", [1, 4])], [f4("y", [1, 4])])
    # missing-initializer.onnx: conv.weight is defined nowhere.
    missing = small_conv_model(None)
    # unsupported-op.onnx: valid, but Det is not an op the runtime implements.
    det = raw_model([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                     helper.make_node("Det", ["r"], ["y"], name="det_node")],
                    [f4("x", [1, 4, 4])], [f4("y", [1])])
    onnx.checker.check_model(det, full_check=True)
    # external-escape/model.onnx: external data pointing outside the model dir.
    esc = TensorProto(name="conv.weight", data_type=TensorProto.FLOAT, dims=[3, 2, 3, 3],
                      data_location=TensorProto.EXTERNAL)
    for k, v in (("location", "../../../etc/passwd"), ("offset", "0"), ("length", str(3 * 2 * 9 * 4))):
        esc.external_data.add(key=k, value=v)
    escape = small_conv_model(esc)
    os.makedirs(os.path.join(out, "external-escape"))
    for fname, m in (("cycle.onnx", cycle), ("missing-initializer.onnx", missing),
                     ("unsupported-op.onnx", det), ("external-escape/model.onnx", escape)):
        with open(os.path.join(out, fname), "wb") as f:
            f.write(m.SerializeToString())

    # external-ok/: weight (1152 bytes) in weights.bin, bias (32 bytes) inline.
    ok_dir = os.path.join(out, "external-ok")
    os.makedirs(ok_dir)
    w = numpy_helper.from_array(he(rng, (8, 4, 3, 3), 36), "conv.weight")
    ok = small_conv_model(w, x_shape=(1, 4, 6, 6), bias=rng.uniform(-0.1, 0.1, 8).astype(np.float32))
    onnx.checker.check_model(ok, full_check=True)
    ok_path = os.path.join(ok_dir, "model.onnx")
    onnx.save_model(ok, ok_path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=1024)
    onnx.checker.check_model(ok_path, full_check=True)
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    np.save(os.path.join(ok_dir, "input.npy"), x)
    np.save(os.path.join(ok_dir, "output.npy"), session(ok_path).run(None, {"x": x})[0])
    os.chmod(os.path.join(ok_dir, "weights.bin"), 0o644)  # onnx creates it 0600

    # Check the good files reload and reproduce; the bad ones fail in ORT too.
    for p, i, o in ((good_path, "good_input.npy", "good_output.npy"), (ok_path, "input.npy", "output.npy")):
        d = os.path.dirname(p)
        y = session(p).run(None, {"x": np.load(os.path.join(d, i))})[0]
        assert np.array_equal(y, np.load(os.path.join(d, o))) and np.isfinite(y).all()
    for fname in ("truncated.onnx", "garbage.onnx", "cycle.onnx", "missing-initializer.onnx",
                  "external-escape/model.onnx"):
        ort_msgs.append(f"- `{fname}`: {expect_rejected(os.path.join(out, fname), fname)}")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(BAD_README.format(script=SCRIPT, seed=seed, ort="\n".join(ort_msgs), ort_version=ort.__version__))
    print(f"{os.path.relpath(out, REPO)}: " + ", ".join(sorted(
        os.path.relpath(os.path.join(dp, fn), out) for dp, _, fns in os.walk(out) for fn in fns)))
    print("  " + "\n  ".join(ort_msgs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default=os.path.join(REPO, "tests", "fixtures"),
                    help="fixtures root (default: the repo's tests/fixtures)")
    ap.add_argument("--bench-dir", help="write the full-size benchmark models here instead")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="only this model (repeatable): %s, bad; or with --bench-dir: %s"
                         % (", ".join(FIXTURES), ", ".join(BENCH)))
    args = ap.parse_args()
    table = BENCH if args.bench_dir else dict(FIXTURES, bad=None)
    names = [n[len("onnx-"):] if n.startswith("onnx-") else n for n in (args.only or table)]
    for n in names:
        if n not in table:
            sys.exit(f"unknown model {n!r}; choose from {', '.join(table)}")
    for n in names:
        if args.bench_dir:
            make_bench(n, args.bench_dir)
        elif n == "bad":
            make_bad(args.fixtures)
        else:
            make_fixture(n, args.fixtures)


if __name__ == "__main__":
    main()
