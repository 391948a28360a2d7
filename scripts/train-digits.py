#!/usr/bin/env python3
"""Trains the shipped "digits" model: a small CNN for scikit-learn's bundled
8x8 handwritten digits, exported to ONNX.

    scripts/train-digits.py [--out-model DIR] [--out-fixture DIR] [--seed N] [--epochs N]

The network is trained with NumPy only (im2col convolutions, hand-written
backward pass, Adam), so the script needs numpy, onnx, onnxruntime,
scikit-learn (for the data set and the split) and Pillow (PNG files), all
from PyPI. Building, testing and running the service need none of it.

Input convention (the service's image preprocessing does exactly this):
the input "image" is float32 [N, 1, 8, 8], pixel = grayscale_uint8 / 255.
The data set's values 0..16 are stored as uint8 round(v * 255 / 16) (round
half up), and the network is trained on those quantised values, so a PNG
round trip loses nothing. The output "logits" is float32 [N, 10], raw
logits (the service applies softmax).

It writes:
  --out-model (models/digits/): model.onnx, labels.txt, model.yml,
      MODEL_CARD.md and samples/digit-0.png .. digit-9.png (one correctly
      classified held-out image per class, 8x8 grayscale).
  --out-fixture (tests/fixtures/digits-heldout/): every held-out image as
      NNN-L.png (NNN its index in the held-out split, L its true label),
      onnxruntime.tsv (file, true_label, ort_prediction, ort_top_score:
      onnxruntime run on the image decoded back from the PNG) and README.md
      with the accuracy.

The ONNX graph is checked with onnx.checker, and onnxruntime's predictions
on the held-out split must equal the NumPy model's, or the script fails.
"""
import argparse
import os
import shutil
import sys
import time

# One BLAS thread: the brief is "one core", and a fixed thread count keeps the
# floating-point summation order (and so the trained weights) reproducible.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = "scripts/train-digits.py"
OPSET = 13
IR_VERSION = 8  # what torch 2.x writes for opset 13; old enough for any reader
TEST_FRACTION = 0.2
BATCH = 32
LR = 3e-3
CLASSES = [str(d) for d in range(10)]

# model.yml as the service's manifest reads it (preprocess keys: see the brief).
MODEL_YML = """\
# Handwritten digit classifier (8x8 grayscale), trained by scripts/train-digits.py.
format: onnx
task: classification
files: [model.onnx]
inputs:
  - {name: image, dtype: float32, shape: [-1, 1, 8, 8]}
outputs:
  - {name: logits, dtype: float32, shape: [-1, 10]}
preprocess: {kind: image, width: 8, height: 8, resize: exact, channels: 1, layout: nchw, scale: 0.00392156862745098, mean: [0.0], std: [1.0]}
postprocess: {kind: classification, top_k: 3, labels: labels.txt, softmax: true}
device: cpu
"""


# --------------------------------------------------------------------------
# Data

def quantise(values):
    """0..16 data-set values -> the uint8 grayscale a PNG stores.

    Round half up, spelled out, because np.round rounds half to even and
    8 * 255 / 16 = 127.5 would otherwise depend on the rounding mode."""
    return np.floor(values.astype(np.float64) * 255.0 / 16.0 + 0.5).astype(np.uint8)


def to_input(u8):
    """uint8 [N, 8, 8] -> the model input float32 [N, 1, 8, 8] (pixel / 255)."""
    return (u8.astype(np.float64) / 255.0).astype(np.float32)[:, None, :, :]


def load_split(seed):
    """Stratified, seeded train / held-out split of the 1797 images."""
    digits = load_digits()
    u8 = quantise(digits.images)
    y = digits.target.astype(np.int64)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=TEST_FRACTION, stratify=y, random_state=seed)
    # Sorted so the held-out numbering follows the data set's order.
    tr, te = np.sort(tr), np.sort(te)
    return u8[tr], y[tr], u8[te], y[te], te


def shift_batch(u8, rng):
    """Light augmentation: move each image by -1, 0 or +1 pixel in x and y,
    filling with background (0). The digits are centred and size-normalised
    in the data set, so one-pixel shifts are plausible variants."""
    out = np.zeros_like(u8)
    dy = rng.integers(-1, 2, len(u8))
    dx = rng.integers(-1, 2, len(u8))
    for i in range(len(u8)):
        sy, sx = dy[i], dx[i]
        src = u8[i, max(0, -sy):8 - max(0, sy), max(0, -sx):8 - max(0, sx)]
        out[i, max(0, sy):max(0, sy) + src.shape[0], max(0, sx):max(0, sx) + src.shape[1]] = src
    return out


# --------------------------------------------------------------------------
# Layers: NumPy forward / backward. Shapes are NCHW as in ONNX.

def im2col3(x):
    """x [N, C, H, W] -> columns [N*H*W, C*9] for a 3x3 convolution with
    padding 1 and stride 1; column order (c, kh, kw) matches weight.reshape(O, -1)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.empty((n, h, w, c, 3, 3), x.dtype)
    for ki in range(3):
        for kj in range(3):
            cols[:, :, :, :, ki, kj] = xp[:, :, ki:ki + h, kj:kj + w].transpose(0, 2, 3, 1)
    return cols.reshape(n * h * w, c * 9)


def col2im3(dcols, shape):
    """Adjoint of im2col3: scatter-add column gradients back onto the input."""
    n, c, h, w = shape
    d = dcols.reshape(n, h, w, c, 3, 3)
    dxp = np.zeros((n, c, h + 2, w + 2), dcols.dtype)
    for ki in range(3):
        for kj in range(3):
            dxp[:, :, ki:ki + h, kj:kj + w] += d[:, :, :, :, ki, kj].transpose(0, 3, 1, 2)
    return dxp[:, :, 1:-1, 1:-1]


def conv_forward(x, w, b):
    n, _, h, wd = x.shape
    cols = im2col3(x)
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(n, h, wd, -1).transpose(0, 3, 1, 2), cols


def conv_backward(dout, cols, x_shape, w):
    o = w.shape[0]
    d = dout.transpose(0, 2, 3, 1).reshape(-1, o)
    dw = (d.T @ cols).reshape(w.shape)
    db = d.sum(0)
    dx = col2im3(d @ w.reshape(o, -1), x_shape)
    return dx, dw, db


def pool_forward(x):
    """2x2 max pool, stride 2; remembers which element won each window."""
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    arg = win.argmax(-1)
    return np.take_along_axis(win, arg[..., None], -1)[..., 0], arg


def pool_backward(dout, arg, x_shape):
    n, c, h, w = x_shape
    dwin = np.zeros(dout.shape + (4,), dout.dtype)
    np.put_along_axis(dwin, arg[..., None], dout[..., None], -1)
    return dwin.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x_shape)


# --------------------------------------------------------------------------
# Model

# (name, kind, shape of weight); biases are [out]. The names are the
# parameter names a torch module with these attributes would export.
LAYERS = [
    ("conv1", "conv", (16, 1, 3, 3)),
    ("conv2", "conv", (32, 16, 3, 3)),
    ("fc1", "linear", (64, 32 * 2 * 2)),
    ("fc2", "linear", (10, 64)),
]


def init_params(rng):
    """He-normal weights (keeps activations O(1) through the Relus), zero biases."""
    p = {}
    for name, _, shape in LAYERS:
        fan_in = int(np.prod(shape[1:]))
        p[name + ".weight"] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        p[name + ".bias"] = np.zeros(shape[0], np.float32)
    return p


def forward(p, x, keep=False):
    """Logits for x [N, 1, 8, 8]; with keep=True also the cache backward() needs."""
    c1, cols1 = conv_forward(x, p["conv1.weight"], p["conv1.bias"])
    r1 = np.maximum(c1, 0)
    m1, arg1 = pool_forward(r1)
    c2, cols2 = conv_forward(m1, p["conv2.weight"], p["conv2.bias"])
    r2 = np.maximum(c2, 0)
    m2, arg2 = pool_forward(r2)
    f = m2.reshape(len(x), -1)
    h = f @ p["fc1.weight"].T + p["fc1.bias"]
    r3 = np.maximum(h, 0)
    logits = r3 @ p["fc2.weight"].T + p["fc2.bias"]
    if not keep:
        return logits
    return logits, dict(x=x, cols1=cols1, c1=c1, r1=r1, arg1=arg1, m1=m1, cols2=cols2, c2=c2,
                        r2=r2, arg2=arg2, m2=m2, f=f, h=h, r3=r3)


def backward(p, cache, dlogits):
    """Gradients of the loss for every parameter, given dLoss/dlogits."""
    g = {}
    c = cache
    g["fc2.weight"] = dlogits.T @ c["r3"]
    g["fc2.bias"] = dlogits.sum(0)
    dh = (dlogits @ p["fc2.weight"]) * (c["h"] > 0)
    g["fc1.weight"] = dh.T @ c["f"]
    g["fc1.bias"] = dh.sum(0)
    dm2 = (dh @ p["fc1.weight"]).reshape(c["m2"].shape)
    dc2 = pool_backward(dm2, c["arg2"], c["r2"].shape) * (c["c2"] > 0)
    dm1, g["conv2.weight"], g["conv2.bias"] = conv_backward(dc2, c["cols2"], c["m1"].shape, p["conv2.weight"])
    dc1 = pool_backward(dm1, c["arg1"], c["r1"].shape) * (c["c1"] > 0)
    _, g["conv1.weight"], g["conv1.bias"] = conv_backward(dc1, c["cols1"], c["x"].shape, p["conv1.weight"])
    return g


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def train(p, u8, y, epochs, rng, log):
    """Mini-batch Adam on softmax cross-entropy, cosine-decayed learning rate."""
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    steps_per_epoch = (len(y) + BATCH - 1) // BATCH
    total, t = epochs * steps_per_epoch, 0
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        loss_sum, correct = 0.0, 0
        for s in range(0, len(y), BATCH):
            idx = order[s:s + BATCH]
            x = to_input(shift_batch(u8[idx], rng))
            logits, cache = forward(p, x, keep=True)
            prob = softmax(logits)
            loss_sum += -np.log(prob[np.arange(len(idx)), y[idx]] + 1e-12).sum()
            correct += int((logits.argmax(1) == y[idx]).sum())
            dlogits = prob
            dlogits[np.arange(len(idx)), y[idx]] -= 1
            dlogits /= len(idx)
            grads = backward(p, cache, dlogits.astype(np.float32))
            lr = LR * 0.5 * (1 + np.cos(np.pi * t / total))
            t += 1
            for k in p:
                m[k] = b1 * m[k] + (1 - b1) * grads[k]
                v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
                mhat = m[k] / (1 - b1 ** t)
                vhat = v[k] / (1 - b2 ** t)
                p[k] = (p[k] - lr * mhat / (np.sqrt(vhat) + eps)).astype(np.float32)
        log(f"epoch {epoch + 1:3d}/{epochs}: loss {loss_sum / len(y):.4f}, train acc {correct / len(y):.4f}")
    return p


# --------------------------------------------------------------------------
# ONNX export, named as torch.onnx.export names the equivalent module:
#   conv1, conv2: nn.Conv2d; fc1, fc2: nn.Linear; F.relu, F.max_pool2d and
#   torch.flatten in forward(), so those nodes sit at the top scope.

def export_onnx(p, doc):
    nodes, counts = [], {}

    def node(op, inputs, scope="", out=None, **attrs):
        k = counts.get((scope, op), 0)
        counts[(scope, op)] = k + 1
        name = f"{scope}/{op}" + (f"_{k}" if k else "")
        out = out or name + "_output_0"
        nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv(x, mod):
        return node("Conv", [x, mod + ".weight", mod + ".bias"], scope="/" + mod, dilations=[1, 1], group=1,
                    kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])

    def pool(x):
        return node("MaxPool", [x], ceil_mode=0, kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2])

    x = "image"
    x = pool(node("Relu", [conv(x, "conv1")]))
    x = pool(node("Relu", [conv(x, "conv2")]))
    x = node("Flatten", [x], axis=1)
    x = node("Relu", [node("Gemm", [x, "fc1.weight", "fc1.bias"], scope="/fc1", alpha=1.0, beta=1.0, transB=1)])
    node("Gemm", [x, "fc2.weight", "fc2.bias"], scope="/fc2", out="logits", alpha=1.0, beta=1.0, transB=1)

    inits = [numpy_helper.from_array(np.ascontiguousarray(p[k]), k) for k in p]
    graph = helper.make_graph(
        nodes, "main_graph",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name=SCRIPT, doc_string=doc)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def ort_session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


# --------------------------------------------------------------------------
# Output files

def write_png(path, u8):
    # 2-D uint8 -> 8-bit grayscale ("L") PNG, no metadata chunks.
    Image.fromarray(np.ascontiguousarray(u8)).save(path, optimize=True)


def read_png(path):
    im = Image.open(path)
    if im.mode != "L" or im.size != (8, 8):
        raise SystemExit(f"{path}: expected an 8x8 grayscale PNG, got {im.mode} {im.size}")
    return np.asarray(im, dtype=np.uint8)


def clean_dir(path, keep_suffixes):
    """Removes files this script writes (from an earlier run, maybe with
    another seed and so other file names) and nothing else."""
    if not os.path.isdir(path):
        return
    for name in os.listdir(path):
        if name.endswith(keep_suffixes):
            os.remove(os.path.join(path, name))


def param_count(p, name):
    return int(p[name + ".weight"].size + p[name + ".bias"].size)


def confusion(y, pred):
    cm = np.zeros((10, 10), np.int64)
    np.add.at(cm, (y, pred), 1)
    return cm


def write_model_card(path, p, info):
    cm = info["cm"]
    per_class = "\n".join(
        f"| {d} | {cm[d].sum()} | {cm[d, d]} | {cm[d, d] / cm[d].sum():.1%} |" for d in range(10))
    errors = [(t, q, int(cm[t, q])) for t in range(10) for q in range(10) if t != q and cm[t, q]]
    err_text = ", ".join(f"{t} read as {q}" + (f" (x{n})" if n > 1 else "") for t, q, n in errors) or "none"
    rows = [
        ("conv1", "Conv 3x3, 1→16, pad 1, stride 1", "[N, 16, 8, 8]", param_count(p, "conv1")),
        ("", "Relu", "[N, 16, 8, 8]", 0),
        ("", "MaxPool 2x2, stride 2", "[N, 16, 4, 4]", 0),
        ("conv2", "Conv 3x3, 16→32, pad 1, stride 1", "[N, 32, 4, 4]", param_count(p, "conv2")),
        ("", "Relu", "[N, 32, 4, 4]", 0),
        ("", "MaxPool 2x2, stride 2", "[N, 32, 2, 2]", 0),
        ("", "Flatten", "[N, 128]", 0),
        ("fc1", "Gemm 128→64", "[N, 64]", param_count(p, "fc1")),
        ("", "Relu", "[N, 64]", 0),
        ("fc2", "Gemm 64→10 (logits)", "[N, 10]", param_count(p, "fc2")),
    ]
    table = "\n".join(f"| {m} | {l} | {s} | {n:,} |" for m, l, s, n in rows)
    total = sum(r[3] for r in rows)
    text = f"""# digits — handwritten digit classifier (8x8)

A small convolutional network that reads an 8x8 grayscale image of a
handwritten digit and returns logits for the classes 0–9 (`labels.txt`).
Trained by [`scripts/train-digits.py`](../../scripts/train-digits.py) with
NumPy only; exported to ONNX (opset {OPSET}, IR version {IR_VERSION}).

## Architecture

| module | layer | output | parameters |
| --- | --- | --- | ---: |
{table}
| | **total** | | **{total:,}** |

`model.onnx` is {info["onnx_bytes"]:,} bytes (float32 weights). ONNX
operators: Conv, Relu, MaxPool, Flatten, Gemm. Input `image` float32
`[batch, 1, 8, 8]`, output `logits` float32 `[batch, 10]` (raw logits;
the service applies softmax, `postprocess.softmax: true`).

## Input convention

- One channel, 8x8 pixels, white (high) digit on a black (0) background,
  as in the data set. The image is used as is: no resize, no inversion.
- pixel = grayscale_uint8 / 255, layout NCHW; no mean or std
  normalisation (`preprocess: {{scale: 1/255, mean: [0], std: [1]}}`).
- The data set's values 0..16 map to uint8 as round(v × 255 / 16), round
  half up (0→0, 8→128, 16→255). The network is trained on exactly these
  quantised values, so an image stored as an 8-bit PNG loses nothing.

## Data

scikit-learn's bundled `sklearn.datasets.load_digits()`: 1,797 images,
8x8, integer pixels 0..16, ten classes. It is a copy of the test set of
the UCI ML hand-written digits data set ("Optical Recognition of
Handwritten Digits", E. Alpaydin and C. Kaynak, Boğaziçi University,
1998; <https://archive.ics.uci.edu/dataset/80>), written by 13 people:
32x32 NIST bitmaps whose 4x4 blocks were counted into 8x8 images.

Licence: scikit-learn's description of the data set names its creator
and source but states no licence of its own. The UCI Machine Learning
Repository lists the data set under Creative Commons Attribution 4.0
(CC BY 4.0), which asks for credit to the creators (above).

Split: `sklearn.model_selection.train_test_split`, stratified by label,
test_size {TEST_FRACTION}, random_state {info["seed"]}: {info["n_train"]} training
images, {info["n_test"]} held out. The held-out images are never used for
training or model selection.

## Training

- Loss: softmax cross-entropy. Optimizer: Adam (β1 0.9, β2 0.999,
  ε 1e-8), learning rate {LR:g} with cosine decay to 0, no weight decay.
- {info["epochs"]} epochs, mini-batches of {BATCH}, shuffled each epoch.
- Augmentation: each training image shifted by −1, 0 or +1 pixel in x
  and y independently (background fill).
- Initialisation: He-normal weights, zero biases. Seed {info["seed"]} for
  the split, the initialisation, the shuffling and the augmentation.
- Training time: {info["train_s"]:.0f} s on one CPU core
  ({info["machine"]}).

## Results on the held-out split

Accuracy: **{info["acc"]:.2%}** ({info["correct"]} of {info["n_test"]}). The
NumPy model and onnxruntime {ort.__version__} agree on every prediction
(largest logit difference {info["max_diff"]:.1e}).

| digit | images | correct | accuracy |
| --- | ---: | ---: | ---: |
{per_class}

Errors: {err_text}.

`tests/fixtures/digits-heldout/` holds every held-out image as a PNG with
onnxruntime's prediction for it; `samples/digit-0.png` … `digit-9.png`
are one correctly classified held-out image per class.

## Reproduce

```sh
pip install numpy onnx onnxruntime scikit-learn Pillow
scripts/train-digits.py --seed {info["seed"]} --epochs {info["epochs"]}
```

This rewrites `models/digits/` and `tests/fixtures/digits-heldout/`.
The weights are reproducible for a given seed, NumPy and BLAS on one
thread; another BLAS may round differently and end with slightly
different weights.

## Limitations

- Only 8x8 images in this data set's style: a thick white digit on a
  black background, centred and size-normalised, as produced by the UCI
  4x4 block counting. A photo, a dark digit on a light background, or a
  larger image downscaled some other way is outside what it has seen and
  will often be misread.
- The data come from only 13 writers (the UCI test set, 1998); accuracy
  on other handwriting is not measured. The held-out split comes from the
  same writers as the training split, so it overstates accuracy on new
  writers.
- There is no "not a digit" class: every input gets one of 0–9.
- A demonstration model for the service, not meant for real use.
"""
    with open(path, "w") as f:
        f.write(text)


def write_fixture_readme(path, info):
    text = f"""# digits-heldout

Every image of the `digits` model's held-out split ({info["n_test"]} images),
written by `scripts/train-digits.py` (seed {info["seed"]}), with
onnxruntime's predictions for them.

- `NNN-L.png`: 8x8 8-bit grayscale PNG; NNN is the image's index in the
  held-out split, L its true label. Pixels are the data set's values
  0..16 stored as round(v × 255 / 16).
- `onnxruntime.tsv`: tab-separated, one header line, one row per PNG:
  `file`, `true_label`, `ort_prediction` (argmax of the logits),
  `ort_top_score` (softmax probability of the predicted class, 6
  decimals). onnxruntime {ort.__version__} ran `models/digits/model.onnx` on
  the image decoded back from the PNG with Pillow, as float32
  [1, 1, 8, 8] = uint8 / 255.

onnxruntime's accuracy on these images: {info["acc"]:.4f} ({info["correct"]}/{info["n_test"]}).
The service's predictions through its image preprocessing must equal
`ort_prediction` for every file.
"""
    with open(path, "w") as f:
        f.write(text)


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-model", default=os.path.join(REPO, "models", "digits"))
    ap.add_argument("--out-fixture", default=os.path.join(REPO, "tests", "fixtures", "digits-heldout"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args()
    log = lambda s: print(s, flush=True)

    xtr, ytr, xte, yte, _ = load_split(args.seed)
    log(f"split: {len(ytr)} train, {len(yte)} held out (seed {args.seed})")
    rng = np.random.default_rng(args.seed)
    params = init_params(rng)
    t0 = time.process_time()
    params = train(params, xtr, ytr, args.epochs, rng, log)
    train_s = time.process_time() - t0

    x_test = to_input(xte)
    np_logits = forward(params, x_test)
    np_pred = np_logits.argmax(1)
    acc = float((np_pred == yte).mean())
    log(f"held-out accuracy (NumPy): {acc:.4f}, training {train_s:.1f} s CPU")
    if acc < 0.97:
        sys.exit(f"held-out accuracy {acc:.4f} is below the required 0.97")

    # Model directory.
    os.makedirs(os.path.join(args.out_model, "samples"), exist_ok=True)
    model = export_onnx(params, "Handwritten digit classifier, 8x8 grayscale; input pixel = uint8 / 255. "
                                f"Trained by {SCRIPT} (seed {args.seed}).")
    onnx_path = os.path.join(args.out_model, "model.onnx")
    onnx.save(model, onnx_path)
    sess = ort_session(onnx_path)
    ort_logits = sess.run(["logits"], {"image": x_test})[0]
    max_diff = float(np.abs(ort_logits - np_logits).max())
    if not np.array_equal(ort_logits.argmax(1), np_pred):
        sys.exit("onnxruntime's predictions differ from the NumPy model's")
    log(f"onnxruntime agrees on all {len(yte)} predictions (max logit diff {max_diff:.2e})")

    with open(os.path.join(args.out_model, "labels.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    with open(os.path.join(args.out_model, "model.yml"), "w") as f:
        f.write(MODEL_YML)
    clean_dir(os.path.join(args.out_model, "samples"), (".png",))
    for d in range(10):
        # The first held-out image of each class that the model gets right.
        i = int(np.flatnonzero((yte == d) & (np_pred == d))[0])
        write_png(os.path.join(args.out_model, "samples", f"digit-{d}.png"), xte[i])

    # Fixture: PNGs, then onnxruntime on what the PNGs decode to.
    os.makedirs(args.out_fixture, exist_ok=True)
    clean_dir(args.out_fixture, (".png", ".tsv"))
    names = [f"{i:03d}-{yte[i]}.png" for i in range(len(yte))]
    for name, img in zip(names, xte):
        write_png(os.path.join(args.out_fixture, name), img)
    decoded = np.stack([read_png(os.path.join(args.out_fixture, n)) for n in names])
    if not np.array_equal(decoded, xte):
        sys.exit("PNG round trip changed pixels")
    fx_logits = np.concatenate([sess.run(["logits"], {"image": to_input(decoded[i:i + 1])})[0]
                                for i in range(len(names))])
    fx_prob = softmax(fx_logits.astype(np.float64))
    fx_pred = fx_prob.argmax(1)
    if not np.array_equal(fx_pred, np_pred):
        sys.exit("onnxruntime on the decoded PNGs disagrees with the NumPy model")
    with open(os.path.join(args.out_fixture, "onnxruntime.tsv"), "w") as f:
        f.write("file\ttrue_label\tort_prediction\tort_top_score\n")
        for i, name in enumerate(names):
            f.write(f"{name}\t{yte[i]}\t{fx_pred[i]}\t{fx_prob[i, fx_pred[i]]:.6f}\n")

    # The service scales by a float constant (1/255) rather than dividing;
    # report how close the decision margins come to that 1-ulp difference.
    alt = sess.run(["logits"], {"image": (decoded.astype(np.float32) * np.float32(1 / 255))[:, None]})[0]
    top2 = np.sort(fx_logits, 1)[:, -2:]
    log(f"x*float32(1/255) instead of x/255: predictions {'equal' if np.array_equal(alt.argmax(1), fx_pred) else 'DIFFER'}"
        f", max logit diff {np.abs(alt - fx_logits).max():.1e}, smallest top-2 logit margin {(top2[:, 1] - top2[:, 0]).min():.2e}")

    info = dict(seed=args.seed, epochs=args.epochs, n_train=len(ytr), n_test=len(yte), acc=acc,
                correct=int((np_pred == yte).sum()), train_s=train_s, max_diff=max_diff, cm=confusion(yte, np_pred),
                onnx_bytes=os.path.getsize(onnx_path), machine=f"NumPy {np.__version__}, one BLAS thread")
    write_model_card(os.path.join(args.out_model, "MODEL_CARD.md"), params, info)
    write_fixture_readme(os.path.join(args.out_fixture, "README.md"), info)
    log(f"wrote {os.path.relpath(args.out_model, os.getcwd())} and {os.path.relpath(args.out_fixture, os.getcwd())}")


if __name__ == "__main__":
    main()
