#!/usr/bin/env python3
"""ONNX on the CPU, a zoo of architectures: mrt against onnxruntime and OpenVINO.

    scripts/bench-zoo.py [--models resnet18,bert_base,...] [--batches 1,8]
                         [--runs 5] [--threads 2] [--quick] [--tolerance 1e-3]
                         [--zoo-dir ~/.cache/mrt-bench/zoo] [--mrt build/vnode/mrt]
                         [--daemon build/vnode/model-runtime.vnode] [--no-service]
                         [--markdown] [--write-docs] [--export-only] [--list]

Install (PyPI only; torch, torchvision and transformers are needed for the
export alone, which is cached):

    python3 -m venv ~/.cache/mrt-bench/venv
    ~/.cache/mrt-bench/venv/bin/pip install -r scripts/requirements-bench.txt
    ~/.cache/mrt-bench/venv/bin/python scripts/bench-zoo.py --quick

The zoo (`--list`): torchvision and transformers architectures built with
random weights (torchvision `weights=None`, transformers from a config; no
download), every BatchNorm's running mean and variance, scale and shift set
to random values (so folding them into the convolutions is exercised, not a
no-op), exported to ONNX opset 17 by torch's TorchScript exporter with a
dynamic batch axis. Exports are cached in --zoo-dir/<name>/ (model.onnx,
model.yml for mrt, input_b<B>/*.npy, export.json); a model is exported only
when its model.onnx is missing, and an export that failed is not tried again
until --reexport (its error stays in export-error.txt).

Each (model, batch) case runs the three runtimes in three processes of
their own, so that each one's peak RSS is its own:

- mrt: `mrt run <dir> -i ... --threads T --plugin onednn --bench N
  --bench-paced` (bench-onnx.py's way: load, warm-up, then blocks of runs
  on request);
- onnxruntime: this script as a worker, InferenceSession with
  ORT_ENABLE_ALL, intra_op_num_threads T, inter_op_num_threads 1,
  sequential;
- OpenVINO: this script as a worker, read_model + compile_model on CPU with
  INFERENCE_NUM_THREADS T, PERFORMANCE_HINT LATENCY and
  INFERENCE_PRECISION_HINT f32 (the model as exported, batch dynamic; --ov-static
  reshapes it to the case's batch first).

They are started one after the other (each loads while the others are
idle). Then --runs paired rounds: in each round every runtime runs one block
of ~--block-ms of inferences (the first not counted), back to back, --gap-ms
idle before each block (onnxruntime's pool threads spin ~100 ms after a run),
the order rotated every round. A round's three blocks are a second or two
apart, so their ratios cancel the shared machine's slow swings; the ratio
columns are medians over rounds of each round's peer ms / mrt ms (> 1: mrt
faster), "best" the faster peer of that round. The ms columns are medians
over rounds of each block's median.

Load: mrt's `load_ms` (a fresh process's first load), onnxruntime's session
creation and OpenVINO's read_model + compile_model, each the first in a
fresh process (median over the batches). Peak RSS: VmHWM of each process
after its last block; for the two Python workers minus the RSS of the
harness (the interpreter and numpy, measured before the runtime is
imported), so that they are charged for their runtime and model only. The
service column is how mrt is deployed: model-runtime.vnode started with the
shipped vnode.yml (plugins isolated in worker processes; only
required_mem_mb and max_cpu_share raised so that the model fits and runs on
T threads), the model loaded and run 3 times at the case's batch through
`mrt run --socket`, then the VmHWM of the service process plus that of its
plugin workers. The RSS target is judged on the service figure (on `mrt run`'s
with --no-service).

Correctness: mrt's and OpenVINO's outputs on the case's input against
onnxruntime's, per output max |got - want| / max |want|; pass when it is at
most --tolerance.

Targets (issue: ONNX on the CPU against onnxruntime and OpenVINO): every
model at every batch at least 1.0x the faster peer; the geometric mean of
best/mrt over all cases at least 1.25x; mrt's peak RSS at most onnxruntime's;
mrt's load at most onnxruntime's session creation.

--write-docs replaces the part of docs/performance.md between
`<!-- bench-zoo:begin -->` and `<!-- bench-zoo:end -->` with this run's
markdown tables.
"""
import argparse
import datetime
import glob
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIREMENTS = os.path.join("scripts", "requirements-bench.txt")
DEFAULT_ZOO = os.path.join(os.path.expanduser("~"), ".cache", "mrt-bench", "zoo")
DOCS = os.path.join(REPO_ROOT, "docs", "performance.md")
BEGIN, END = "<!-- bench-zoo:begin -->", "<!-- bench-zoo:end -->"
QUICK_MODELS = ["resnet18", "mobilenet_v3_large", "efficientnet_b0", "minilm_l6"]
OPSET = 17
EXPORT_BATCH = 2  # traced at batch 2, so no reshape is specialised to batch 1


def log(msg):
    # Progress on stderr; stdout holds only the tables.
    print(msg, file=sys.stderr, flush=True)


INSTALL_HINT = """missing Python package: %s

bench-zoo.py needs packages from PyPI (listed in %s):
    python3 -m venv ~/.cache/mrt-bench/venv
    ~/.cache/mrt-bench/venv/bin/pip install -r %s
    ~/.cache/mrt-bench/venv/bin/python scripts/bench-zoo.py ...
(torch pulls the CUDA libraries from PyPI, several GB: check df first; only
the export needs torch, torchvision and transformers.)"""


def need(module):
    """import `module`, or exit telling the user how to install it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as e:
        sys.exit(INSTALL_HINT % (e.name or module, REQUIREMENTS, REQUIREMENTS))


# ---------------------------------------------------------------- the zoo

class Entry:
    """One architecture: how to build it and what it reads.

    kind "image": one float32 input `image` [B, 3, size, size]; kind "text":
    int64 `input_ids` [B, seq] (and `attention_mask` when `mask`), token
    ids below `vocab`.
    """

    def __init__(self, name, label, source, build, kind="image", size=224, seq=128, vocab=0, mask=True):
        self.name, self.label, self.source, self.build = name, label, source, build
        self.kind, self.size, self.seq, self.vocab, self.mask = kind, size, seq, vocab, mask

    def input_names(self):
        if self.kind == "image":
            return ["image"]
        return ["input_ids", "attention_mask"] if self.mask else ["input_ids"]

    def shape_text(self):
        return "%dx%d" % (self.size, self.size) if self.kind == "image" else "seq %d" % self.seq


def tv(fn, **kw):
    def build():
        models = need("torchvision.models")
        return getattr(models, fn)(weights=None, **kw)
    return build


def tv_class(path, **kw):
    """A torchvision model class built directly (shapes torchvision has no
    builder for, e.g. ViT-S/16, which is DeiT-S's architecture)."""
    def build():
        import importlib
        mod, cls = path.rsplit(".", 1)
        return getattr(importlib.import_module(mod), cls)(**kw)
    return build


def hf(model_cls, config_cls, output="last_hidden_state", **cfg):
    """A transformers model from a config (random weights), wrapped so that
    it takes positional tensors and returns the one output benchmarked."""
    def build():
        torch = need("torch")
        transformers = need("transformers")
        config = getattr(transformers, config_cls)(**cfg)
        model = getattr(transformers, model_cls)(config)

        class Wrapped(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, *tensors):
                names = ["input_ids", "attention_mask"] if len(tensors) == 2 else ["input_ids"]
                if model_cls.startswith("MobileViT"):
                    names = ["pixel_values"]
                kwargs = dict(zip(names, tensors))
                if "GPT2" in model_cls:
                    kwargs["use_cache"] = False
                return getattr(self.inner(**kwargs), output)

        return Wrapped(model)
    return build


ZOO = [
    Entry("resnet18", "ResNet-18", "torchvision", tv("resnet18")),
    Entry("resnet50", "ResNet-50", "torchvision", tv("resnet50")),
    Entry("mobilenet_v2", "MobileNetV2", "torchvision", tv("mobilenet_v2")),
    Entry("mobilenet_v3_large", "MobileNetV3-Large", "torchvision", tv("mobilenet_v3_large")),
    Entry("squeezenet1_1", "SqueezeNet 1.1", "torchvision", tv("squeezenet1_1")),
    Entry("densenet121", "DenseNet-121", "torchvision", tv("densenet121")),
    Entry("convnext_tiny", "ConvNeXt-Tiny", "torchvision", tv("convnext_tiny")),
    Entry("shufflenet_v2", "ShuffleNetV2 1.0x", "torchvision", tv("shufflenet_v2_x1_0")),
    Entry("efficientnet_b0", "EfficientNet-B0", "torchvision", tv("efficientnet_b0")),
    Entry("efficientnet_b3", "EfficientNet-B3", "torchvision", tv("efficientnet_b3"), size=300),
    Entry("regnet_y_400mf", "RegNetY-400MF", "torchvision", tv("regnet_y_400mf")),
    Entry("regnet_y_1_6gf", "RegNetY-1.6GF", "torchvision", tv("regnet_y_1_6gf")),
    Entry("googlenet", "GoogLeNet", "torchvision", tv("googlenet", aux_logits=False, init_weights=True)),
    Entry("inception_v3", "Inception-v3", "torchvision", tv("inception_v3", aux_logits=False, init_weights=True),
          size=299),
    Entry("mnasnet1_0", "MNASNet 1.0", "torchvision", tv("mnasnet1_0")),
    Entry("resnext50_32x4d", "ResNeXt-50 32x4d", "torchvision", tv("resnext50_32x4d")),
    Entry("wide_resnet50_2", "Wide ResNet-50-2", "torchvision", tv("wide_resnet50_2")),
    Entry("vgg11", "VGG-11", "torchvision", tv("vgg11")),
    Entry("vit_b_16", "ViT-B/16", "torchvision", tv("vit_b_16")),
    Entry("deit_s", "DeiT-S (ViT-S/16)", "torchvision",
          tv_class("torchvision.models.vision_transformer.VisionTransformer", image_size=224, patch_size=16,
                   num_layers=12, num_heads=6, hidden_dim=384, mlp_dim=1536)),
    Entry("swin_t", "Swin-T", "torchvision", tv("swin_t")),
    Entry("mobilevit_s", "MobileViT-S", "transformers",
          hf("MobileViTForImageClassification", "MobileViTConfig", output="logits", num_labels=1000), size=256),
    Entry("minilm_l6", "MiniLM-L6 (BERT, hidden 384)", "transformers",
          hf("BertModel", "BertConfig", hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
             intermediate_size=1536), kind="text", vocab=30522),
    Entry("distilbert", "DistilBERT", "transformers", hf("DistilBertModel", "DistilBertConfig"), kind="text",
          vocab=30522),
    Entry("bert_base", "BERT-base", "transformers", hf("BertModel", "BertConfig"), kind="text", vocab=30522),
    # GPT-2 gets an attention_mask as well: without one transformers looks
    # for packed sequences with torch.diff, which the exporter lacks.
    Entry("gpt2", "GPT-2 (124M, no KV cache)", "transformers",
          hf("GPT2LMHeadModel", "GPT2Config", output="logits"), kind="text", vocab=50257),
]
BY_NAME = {e.name: e for e in ZOO}


# ---------------------------------------------------------------- export

def model_dir(args, name):
    return os.path.join(args.zoo_dir, name)


def make_inputs(entry, batch, seed):
    """{input name: numpy array} for one batch size, fixed by `seed`.

    Text: random token ids; at batch > 1 row i keeps seq - 16 i tokens
    (the rest masked), so the masking paths are exercised.
    """
    import numpy as np
    rng = np.random.default_rng(seed)
    if entry.kind == "image":
        return {"image": rng.standard_normal((batch, 3, entry.size, entry.size), dtype=np.float32)}
    ids = rng.integers(0, entry.vocab, size=(batch, entry.seq), dtype=np.int64)
    out = {"input_ids": ids}
    if entry.mask:
        mask = np.ones((batch, entry.seq), dtype=np.int64)
        for i in range(batch):
            mask[i, max(1, entry.seq - 16 * i):] = 0
        out["attention_mask"] = mask
    return out


def perturb_batchnorm(torch, model, gen):
    """Random running statistics, scale and shift for every BatchNorm, so
    that folding them is not the identity it is on a fresh model."""
    count = 0
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            with torch.no_grad():
                if m.running_mean is not None:
                    m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                    m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
                    m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
            count += 1
    return count


def redraw_tiny_weights(torch, model, gen):
    """Weights that a fresh model has at (or next to) zero, drawn again from
    N(0, 0.02): torchvision zero-initialises ViT's classifier and class
    token, and ConvNeXt scales each block's branch by 1e-6, which would
    leave outputs all zero or nearly independent of most layers (and the
    comparison with onnxruntime with nothing to compare). Biases (1-D) stay."""
    count = 0
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2 and p.numel() and float(p.abs().max()) < 1e-4:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
                count += 1
    return count


ONNX_DTYPES = {1: "float32", 6: "int32", 7: "int64", 9: "bool", 10: "float16"}


def io_spec(vi):
    dims = [-1 if (d.dim_param or not d.HasField("dim_value")) else d.dim_value
            for d in vi.type.tensor_type.shape.dim]
    return "{name: %s, dtype: %s, shape: [%s]}" % (vi.name, ONNX_DTYPES.get(vi.type.tensor_type.elem_type, "float32"),
                                                   ", ".join(map(str, dims)))


def write_manifest(path, entry, model):
    g = model.graph
    lines = ["# %s (%s), random weights, BatchNorm statistics perturbed; made by scripts/bench-zoo.py."
             % (entry.label, entry.source), "format: onnx", "task: tensor", "files: [model.onnx]", "inputs:"]
    lines += ["  - " + io_spec(v) for v in g.input]
    lines += ["outputs:"] + ["  - " + io_spec(v) for v in g.output]
    lines += ["device: cpu"]
    with open(os.path.join(path, "model.yml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def export_one(args, entry):
    """Export one model into its zoo directory; returns None or the error text."""
    import numpy as np
    torch = need("torch")
    onnx = need("onnx")
    out = model_dir(args, entry.name)
    os.makedirs(out, exist_ok=True)
    seed = zlib.crc32(entry.name.encode())
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    model = entry.build()
    bn = perturb_batchnorm(torch, model, gen)
    redrawn = redraw_tiny_weights(torch, model, gen)
    model.eval()
    example = make_inputs(entry, EXPORT_BATCH, seed)
    names = entry.input_names()
    tensors = tuple(torch.from_numpy(example[n]) for n in names)
    tmp = os.path.join(out, "model.onnx.tmp")
    # nn.MultiheadAttention (torchvision's ViT) otherwise takes its fused
    # inference path under no_grad, an op the exporter does not know
    # (aten::_native_multi_head_attention).
    torch.backends.mha.set_fastpath_enabled(False)
    import warnings
    with torch.no_grad(), warnings.catch_warnings():
        # dynamo=False is chosen: the TorchScript exporter writes opset 17
        # directly; torch warns that it is the legacy one.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, tensors, tmp, input_names=names, output_names=["output"],
                          dynamic_axes={n: {0: "batch"} for n in names + ["output"]},
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    os.replace(tmp, os.path.join(out, "model.onnx"))
    write_manifest(out, entry, m)
    for b in (1, 8):
        d = os.path.join(out, "input_b%d" % b)
        os.makedirs(d, exist_ok=True)
        for k, v in make_inputs(entry, b, seed + b).items():
            np.save(os.path.join(d, k + ".npy"), v)
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    info = {"name": entry.name, "label": entry.label, "source": entry.source, "opset": OPSET,
            "torch": torch.__version__, "onnx": onnx.__version__,
            "params": int(sum(p.numel() for p in model.parameters())), "batchnorms_perturbed": bn, "zero_weights_redrawn": redrawn,
            "export_s": round(time.time() - t0, 1), "bytes": os.path.getsize(os.path.join(out, "model.onnx")),
            "inputs": entry.shape_text(), "ops": dict(sorted(ops.items()))}
    if entry.source == "transformers":
        info["transformers"] = need("transformers").__version__
    with open(os.path.join(out, "export.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def ensure_exported(args, entries):
    """Export what is missing; returns {name: error text} of the failures."""
    failed = {}
    for e in entries:
        d = model_dir(args, e.name)
        err_file = os.path.join(d, "export-error.txt")
        if os.path.exists(os.path.join(d, "model.onnx")) and not args.reexport:
            continue
        if os.path.exists(err_file) and not args.reexport:
            with open(err_file) as f:
                failed[e.name] = f.read().strip()
            continue
        log("exporting %s (%s) to %s" % (e.name, e.label, d))
        try:
            info = export_one(args, e)
            if os.path.exists(err_file):
                os.remove(err_file)
            log("  %.1f s, %.1f MB, %d params, %d BatchNorms perturbed"
                % (info["export_s"], info["bytes"] / 1e6, info["params"], info["batchnorms_perturbed"]))
        except Exception as ex:  # noqa: BLE001 - one model's failure is a finding, not the end of the run
            import traceback
            text = "%s: %s\n\n%s" % (type(ex).__name__, ex, traceback.format_exc())
            os.makedirs(d, exist_ok=True)
            with open(err_file, "w") as f:
                f.write(text)
            failed[e.name] = text
            log("  export failed: %s: %s" % (type(ex).__name__, str(ex).splitlines()[0] if str(ex) else ""))
    return failed


# ---------------------------------------------------------------- workers (onnxruntime, OpenVINO)

def rss_kb(pid="self", field="VmRSS"):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def worker(args):
    """A runtime in a process of its own, driven like `mrt run --bench-paced`:
    prints base_rss_kb (the harness: interpreter and numpy), load_ms, writes
    the outputs of one run to --out, warms up, prints bench-ready, then for
    each line on stdin (a count k) makes k timed runs printing run_ms=; ends
    at EOF."""
    import numpy as np
    base = rss_kb()
    print("base_rss_kb=%d" % base, flush=True)
    files = sorted(glob.glob(os.path.join(args.inputs, "*.npy")))
    feeds = {os.path.basename(f)[:-4]: np.load(f) for f in files}
    if args.worker == "ort":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        t0 = time.perf_counter()
        sess = ort.InferenceSession(args.model_path, sess_options=so, providers=["CPUExecutionProvider"])
        load_ms = (time.perf_counter() - t0) * 1000
        names = [o.name for o in sess.get_outputs()]

        def run():
            return sess.run(None, feeds)
    else:
        import openvino as ov
        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": args.threads, "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_PRECISION_HINT": "f32"}
        t0 = time.perf_counter()
        model = core.read_model(args.model_path)
        if args.ov_static:
            model.reshape({i.get_any_name(): list(feeds[i.get_any_name()].shape) for i in model.inputs})
        compiled = core.compile_model(model, "CPU", config)
        load_ms = (time.perf_counter() - t0) * 1000
        request = compiled.create_infer_request()
        names = [o.get_any_name() for o in compiled.outputs]

        def run():
            r = request.infer(feeds, share_inputs=True, share_outputs=True)
            return [r[o] for o in compiled.outputs]
    print("load_ms=%.2f" % load_ms, flush=True)
    outs = run()
    os.makedirs(args.out, exist_ok=True)
    for n, v in zip(names, outs):
        np.save(os.path.join(args.out, n + ".npy"), np.asarray(v))
    warm = []
    for _ in range(0 if args.no_warmup else 3):
        t0 = time.perf_counter()
        run()
        warm.append((time.perf_counter() - t0) * 1000)
    if warm:
        print("warm_ms=%.4f" % statistics.median(warm), flush=True)
    print("bench-ready", flush=True)
    for line in sys.stdin:
        k = int(line.strip() or 1)
        for _ in range(max(1, k)):
            t0 = time.perf_counter()
            run()
            print("run_ms=%.4f" % ((time.perf_counter() - t0) * 1000), flush=True)
    return 0


# ---------------------------------------------------------------- driving the three

class Paced:
    """A process that loads a model, prints bench-ready, then runs blocks of
    k runs on request (mrt run --bench-paced, or worker() above)."""

    def __init__(self, label, cmd):
        self.label, self.cmd = label, cmd
        self.lines = []
        self.err_file = tempfile.TemporaryFile(mode="w+")  # stderr, read on failure (no pipe to fill up)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err_file,
                                     text=True, bufsize=1)
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("bench-ready"):
                return
        self.proc.wait()
        raise RuntimeError("%s did not start (rc=%s): %s" % (label, self.proc.returncode, self.stderr_tail()))

    def stderr_tail(self):
        self.err_file.seek(0)
        text = self.err_file.read().strip() or "".join(self.lines).strip() or "no output"
        return text.splitlines()[-1][:400]

    def field(self, key):
        for line in self.lines:
            for tok in line.split():
                if tok.startswith(key + "="):
                    return float(tok.split("=", 1)[1])
        return None

    def block(self, k):
        """k + 1 runs (the first, threads waking up, not counted): their ms."""
        self.proc.stdin.write("%d\n" % (k + 1))
        self.proc.stdin.flush()
        ms = []
        for _ in range(k + 1):
            line = self.proc.stdout.readline()
            if not line.startswith("run_ms="):
                self.proc.wait()
                raise RuntimeError("%s stopped mid-block: %s" % (self.label, self.stderr_tail()))
            ms.append(float(line.split("=", 1)[1]))
        return ms[1:]

    def finish(self):
        """Peak RSS (kB) before stdin closes, then the process's last words."""
        peak = rss_kb(self.proc.pid, "VmHWM")
        try:
            rest, _ = self.proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
        self.lines += rest.splitlines(True)
        return peak

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def mrt_inputs(files):
    out = []
    for name, path in sorted(files.items()):
        out += ["-i", "%s=%s" % (name, path)]
    return out


def compare(want_dir, got_dir):
    """Worst max|got - want| / max|want| over the outputs (and that max abs
    error); (None, None, reason) when an output is missing or misshapen."""
    import numpy as np
    worst_rel, worst_abs = 0.0, 0.0
    wants = sorted(glob.glob(os.path.join(want_dir, "*.npy")))
    if not wants:
        return None, None, "no reference output"
    for w in wants:
        g = os.path.join(got_dir, os.path.basename(w))
        if not os.path.exists(g):
            return None, None, "no output %s" % os.path.basename(w)[:-4]
        want, got = np.load(w), np.load(g)
        if want.dtype.kind != "f" or got.dtype.kind != "f":  # integer outputs: compare as float64
            want, got = want.astype(np.float64), got.astype(np.float64)
        if want.shape != got.shape:
            return None, None, "shape %s, want %s" % (list(got.shape), list(want.shape))
        if not np.all(np.isfinite(got)):
            return float("inf"), float("inf"), "non-finite values"
        err = float(np.max(np.abs(got - want))) if want.size else 0.0
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        if scale == 0.0:
            return None, None, "onnxruntime's output is all zero: nothing to compare"
        worst_abs, worst_rel = max(worst_abs, err), max(worst_rel, err / scale)
    return worst_rel, worst_abs, None


def service_rss(args, entry, files, work):
    """The service's way: model-runtime.vnode with the shipped vnode.yml,
    the model loaded and run through the socket; (service kB, workers kB,
    load ms through the service) or RuntimeError."""
    models = os.path.join(work, "models")
    mdir = os.path.join(models, entry.name)
    os.makedirs(mdir, exist_ok=True)
    src = model_dir(args, entry.name)
    link = os.path.join(mdir, "model.onnx")
    if not os.path.exists(link):
        try:
            os.link(os.path.join(src, "model.onnx"), link)
        except OSError:
            shutil.copy(os.path.join(src, "model.onnx"), link)
    with open(os.path.join(src, "model.yml")) as f:
        manifest = f.read()
    with open(os.path.join(mdir, "model.yml"), "w") as f:
        f.write(manifest.rstrip("\n") + "\nplugin: %s\n" % args.plugin)
    with open(args.vnode_yml) as f:
        vnode = f.read()
    share = min(1.0, args.threads / float(os.cpu_count() or 1))
    lines = []
    for line in vnode.splitlines():
        key = line.strip().split(":", 1)[0]
        if key == "required_mem_mb":
            line = "  required_mem_mb: 16384"
        elif key == "max_cpu_share":
            line = "  max_cpu_share: %.4f" % share
        lines.append(line)
    yml = os.path.join(work, "vnode.yml")
    with open(yml, "w") as f:
        f.write("\n".join(lines) + "\n")
    sock = os.path.join(work, "svc.sock")
    if os.path.exists(sock):
        os.remove(sock)
    log_path = os.path.join(work, "service.log")
    with open(log_path, "w") as logf:
        daemon = subprocess.Popen([args.daemon, "--socket", sock, "--state-dir", os.path.join(work, "state"),
                                   "--system-models", models, "--manifest", yml, "--log-level", "error",
                                   "--max-frame-bytes", str(1 << 30)], stdout=logf, stderr=subprocess.STDOUT)
    try:
        for _ in range(2000):
            if os.path.exists(sock) or daemon.poll() is not None:
                break
            time.sleep(0.005)
        if daemon.poll() is not None:
            raise RuntimeError("service did not start: %s" % tail_of(log_path))
        t0 = time.perf_counter()
        p = subprocess.run([args.mrt, "load", entry.name, "--socket", sock], capture_output=True, text=True)
        load_ms = (time.perf_counter() - t0) * 1000
        if p.returncode != 0:
            raise RuntimeError("service load: %s" % ((p.stderr or p.stdout).strip().splitlines() or ["?"])[-1])
        p = subprocess.run([args.mrt, "run", entry.name, "--socket", sock, "--bench", "3"] + mrt_inputs(files),
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("service run: %s" % ((p.stderr or p.stdout).strip().splitlines() or ["?"])[-1])
        main = rss_kb(daemon.pid, "VmHWM") or 0
        workers = sum(rss_kb(pid, "VmHWM") or 0 for pid in children(daemon.pid))
        return main, workers, load_ms
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def tail_of(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return text.splitlines()[-1] if text else "no output"
    except OSError:
        return "no log"


def children(parent):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            out.append(int(name))
    return out


def bench_case(args, entry, batch):
    """All rounds of one (model, batch): a result dict."""
    src = model_dir(args, entry.name)
    model_path = os.path.join(src, "model.onnx")
    in_dir = os.path.join(src, "input_b%d" % batch)
    files = {os.path.basename(f)[:-4]: f for f in sorted(glob.glob(os.path.join(in_dir, "*.npy")))}
    res = {"model": entry.name, "label": entry.label, "batch": batch, "ms": {}, "ratio": {}, "load": {}, "rss": {},
           "base_rss": {}, "err": {}, "error": {}}
    work = tempfile.mkdtemp(prefix="bench-zoo-")
    sides = {}
    try:
        # onnxruntime first: the reference, and its warm-up sizes the blocks.
        worker_cmd = [sys.executable, os.path.abspath(__file__), "--threads", str(args.threads),
                      "--model-path", model_path, "--inputs", in_dir]
        if args.ov_static:
            worker_cmd.append("--ov-static")
        try:
            sides["ort"] = Paced("onnxruntime", worker_cmd + ["--worker", "ort", "--out", os.path.join(work, "ort")])
        except RuntimeError as e:
            res["error"]["ort"] = str(e)
            log("%s b%d: %s" % (entry.name, batch, e))
            return res
        est = sides["ort"].field("warm_ms") or 10.0
        k = max(2, min(200, int(round(args.block_ms / max(est, 1e-3)))))
        n = args.runs * (k + 1) + 1  # one more than asked for: mrt stays up until stdin closes
        mrt_cmd = [args.mrt, "run", src] + mrt_inputs(files) + [
            "--threads", str(args.threads), "--bench", str(n), "--plugin", args.plugin, "--bench-paced",
            "-o", os.path.join(work, "mrt")]
        for key, label, cmd in (("mrt", "mrt", mrt_cmd),
                                ("ov", "OpenVINO", worker_cmd + ["--worker", "ov", "--out", os.path.join(work, "ov")])):
            try:
                sides[key] = Paced(label, cmd)
            except RuntimeError as e:
                res["error"][key] = str(e)
                log("%s b%d: %s" % (entry.name, batch, e))
        order = [s for s in ("mrt", "ort", "ov") if s in sides]
        blocks = {s: [] for s in order}
        per_round = {s: [] for s in order}
        for r in range(args.runs):
            turn = order[r % len(order):] + order[:r % len(order)]
            got = {}
            for s in turn:
                time.sleep(args.gap_ms / 1000.0)
                try:
                    got[s] = sides[s].block(k)
                except RuntimeError as e:
                    res["error"][s] = str(e)
                    log("%s b%d: %s" % (entry.name, batch, e))
                    sides.pop(s).kill()
                    order.remove(s)
            for s, ms in got.items():
                blocks[s] += ms
                per_round[s].append(statistics.median(ms))
            line = "%s b%d round %d/%d (k=%d):" % (entry.name, batch, r + 1, args.runs, k)
            for s in ("mrt", "ort", "ov"):
                if s in got:
                    line += " %s %.3f ms" % (s, per_round[s][-1])
            if "mrt" in got:
                for peer in ("ort", "ov"):
                    if peer in got:
                        res["ratio"].setdefault(peer, []).append(per_round[peer][-1] / per_round["mrt"][-1])
                peers = [per_round[p][-1] for p in ("ort", "ov") if p in got]
                if peers:
                    res["ratio"].setdefault("best", []).append(min(peers) / per_round["mrt"][-1])
            log(line)
        for s in list(sides):
            p = sides[s]
            res["rss"][s] = p.finish()
            if p.proc.returncode not in (0, None):
                res["error"][s] = "rc=%d: %s" % (p.proc.returncode, p.stderr_tail())
            res["ms"][s] = statistics.median(per_round[s]) if per_round[s] else None
            res["fastest_" + s] = min(blocks[s]) if blocks[s] else None
            res["base_rss"][s] = p.field("base_rss_kb")
            res["load"][s] = p.field("load_ms")
        if "mrt" in sides:
            res["mrt_reload"] = sides["mrt"].field("reload_ms")
        for s in ("mrt", "ov"):
            if s in sides:
                rel, abs_err, why = compare(os.path.join(work, "ort"), os.path.join(work, s))
                res["err"][s] = (rel, abs_err, why)
        if "mrt" in sides and not args.no_service:
            try:
                main, workers, load_ms = service_rss(args, entry, files, os.path.join(work, "service"))
                res["rss"]["service"] = main + workers
                res["service_split"] = (main, workers)
                res["load"]["service"] = load_ms
            except RuntimeError as e:
                res["error"]["service"] = str(e)
                log("%s b%d: %s" % (entry.name, batch, e))
        log("%s b%d: load ms mrt %s ort %s ov %s; peak RSS MB mrt %s service %s ort %s ov %s" % (
            entry.name, batch, fmt(res["load"].get("mrt"), "%.1f"), fmt(res["load"].get("ort"), "%.1f"),
            fmt(res["load"].get("ov"), "%.1f"), fmt(mb(res, "mrt")), fmt(mb(res, "service")), fmt(mb(res, "ort")),
            fmt(mb(res, "ov"))))
        return res
    finally:
        for p in sides.values():
            p.kill()
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- --check

def check(args, entries, export_failed):
    """One run of each runtime per model and batch, outputs compared with
    onnxruntime's: which models mrt and OpenVINO load and get right, without
    the timing (a minute or two for the whole zoo)."""
    rows = [("model", "batch", "mrt", "OpenVINO")]
    bad = 0
    for e in entries:
        if e.name in export_failed:
            rows.append((e.name, "-", "export failed: " + export_failed[e.name].splitlines()[0][:120], "-"))
            bad += 1
            continue
        src = model_dir(args, e.name)
        for b in args.batch_list:
            in_dir = os.path.join(src, "input_b%d" % b)
            files = {os.path.basename(f)[:-4]: f for f in sorted(glob.glob(os.path.join(in_dir, "*.npy")))}
            work = tempfile.mkdtemp(prefix="bench-zoo-check-")
            try:
                cells = {}
                for side in ("ort", "ov"):
                    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", side, "--threads",
                                        str(args.threads), "--model-path", os.path.join(src, "model.onnx"),
                                        "--inputs", in_dir, "--out", os.path.join(work, side), "--no-warmup"]
                                       + (["--ov-static"] if args.ov_static else []),
                                       input="", capture_output=True, text=True)
                    if p.returncode != 0:
                        cells[side] = "fail: " + ((p.stderr or p.stdout).strip().splitlines() or ["?"])[-1][:200]
                p = subprocess.run([args.mrt, "run", src] + mrt_inputs(files) + [
                    "--threads", str(args.threads), "--plugin", args.plugin, "-o", os.path.join(work, "mrt")],
                    capture_output=True, text=True)
                if p.returncode != 0:
                    cells["mrt"] = "fail: " + ((p.stderr or p.stdout).strip().splitlines() or ["?"])[-1][:200]
                if "ort" in cells:
                    rows.append((e.name, str(b), "onnxruntime " + cells["ort"], "-"))
                    bad += 1
                    continue
                for side in ("mrt", "ov"):
                    if side in cells:
                        continue
                    rel, abs_err, why = compare(os.path.join(work, "ort"), os.path.join(work, side))
                    cells[side] = ("FAIL (%s)" % why if why or rel is None else
                                   "%.1e%s" % (rel, "" if rel <= args.tolerance else " FAIL"))
                if not (cells["mrt"][0].isdigit() and "FAIL" not in cells["mrt"]):
                    bad += 1
                rows.append((e.name, str(b), cells["mrt"], cells["ov"]))
                log("%s b%d: mrt %s, OpenVINO %s" % (e.name, b, cells["mrt"], cells["ov"]))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    print("max |x - onnxruntime| / max |onnxruntime| over the outputs (tolerance %.0e):\n" % args.tolerance)
    print(table_text(rows, args.markdown))
    return 1 if bad else 0


# ---------------------------------------------------------------- report

def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def med(xs):
    return statistics.median(xs) if xs else None


def mb(res, side):
    """Peak RSS in MB; the Python workers' harness (interpreter, numpy) taken off."""
    kb = res["rss"].get(side)
    if kb is None:
        return None
    base = res["base_rss"].get(side) or 0
    return (kb - base) / 1024.0


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def err_text(res, side, tol):
    e = res["err"].get(side)
    if e is None:
        return "-"
    rel, _, why = e
    if rel is None:
        return "FAIL (%s)" % why
    if why:
        return "FAIL (%s)" % why
    return ("%.1e" % rel) + ("" if rel <= tol else " FAIL")


def mrt_rss_for_target(res, args):
    return mb(res, "mrt") if args.no_service else mb(res, "service")


def build_tables(args, results, export_failed):
    lat = [("model", "batch", "mrt ms", "ORT ms", "OV ms", "ORT/mrt", "OV/mrt", "best/mrt", "≥ 1.0",
            "mrt err", "OV err")]
    mem = [("model", "batch", "mrt load ms", "ORT load ms", "OV load ms", "service load ms", "mrt RSS MB",
            "service RSS MB (daemon + workers)", "ORT RSS MB", "OV RSS MB")]
    best_all, ort_all, ov_all = [], [], []
    slow, rss_fail, load_fail, wrong, failed = [], [], [], [], []
    for r in results:
        ro, rv, rb = med(r["ratio"].get("ort", [])), med(r["ratio"].get("ov", [])), med(r["ratio"].get("best", []))
        ok = rb is not None and rb >= 1.0
        case = "%s b%d" % (r["model"], r["batch"])
        if "mrt" in r["error"] or r["ms"].get("mrt") is None:
            failed.append(case)
        elif not ok:
            slow.append("%s %.2f" % (case, rb) if rb else case)
        best_all.append(rb)
        ort_all.append(ro)
        ov_all.append(rv)
        for s in ("mrt", "ov"):
            e = r["err"].get(s)
            if e and (e[0] is None or e[2] or e[0] > args.tolerance):
                wrong.append("%s %s" % (case, s if s == "mrt" else "OV"))
        mrt_mb, ort_mb = mrt_rss_for_target(r, args), mb(r, "ort")
        if mrt_mb is not None and ort_mb is not None and mrt_mb > ort_mb:
            rss_fail.append("%s %.0f > %.0f MB" % (case, mrt_mb, ort_mb))
        lat.append((r["label"], str(r["batch"]), fmt(r["ms"].get("mrt"), "%.2f") if "mrt" not in r["error"] else "fail",
                    fmt(r["ms"].get("ort"), "%.2f"), fmt(r["ms"].get("ov"), "%.2f") if "ov" not in r["error"] else "fail",
                    fmt(ro, "%.2f"), fmt(rv, "%.2f"), fmt(rb, "%.2f"), "yes" if ok else "**no**",
                    err_text(r, "mrt", args.tolerance), err_text(r, "ov", args.tolerance)))
        mem.append((r["label"], str(r["batch"]), fmt(r["load"].get("mrt")), fmt(r["load"].get("ort")),
                    fmt(r["load"].get("ov")), fmt(r["load"].get("service")), fmt(mb(r, "mrt")),
                    fmt(mb(r, "service")) + ("" if "service_split" not in r else " (%.0f + %.0f)" % (
                        r["service_split"][0] / 1024.0, r["service_split"][1] / 1024.0)),
                    fmt(mb(r, "ort")), fmt(mb(r, "ov"))))
    # Load per model: median over its batches, against ORT's.
    by_model = {}
    for r in results:
        by_model.setdefault(r["model"], []).append(r)
    for name, rs in by_model.items():
        ml = med([r["load"]["mrt"] for r in rs if r["load"].get("mrt") is not None])
        ol = med([r["load"]["ort"] for r in rs if r["load"].get("ort") is not None])
        if ml is not None and ol is not None and ml > ol:
            load_fail.append("%s %.0f > %.0f ms" % (name, ml, ol))
        elif ml is None:
            load_fail.append("%s (mrt did not load)" % name)
    g_best, g_ort, g_ov = geomean(best_all), geomean(ort_all), geomean(ov_all)
    n_cases = len(results)
    every = not slow and not failed and n_cases > 0
    targets = [("target", "reached"),
               ("every model at every batch ≥ 1.0× the faster peer",
                ("**met**" if every else "**not met**") + " (%d of %d cases%s%s)" % (
                    n_cases - len(slow) - len(failed), n_cases,
                    "; below: " + ", ".join(slow) if slow else "",
                    "; mrt failed: " + ", ".join(failed) if failed else "")),
               ("geometric mean of best/mrt ≥ 1.25×",
                ("**met**" if g_best and g_best >= 1.25 and not failed else "**not met**") +
                " (%s over %d cases; vs ORT %s, vs OV %s%s)" % (fmt(g_best, "%.2f"), len([x for x in best_all if x]),
                                                               fmt(g_ort, "%.2f"), fmt(g_ov, "%.2f"),
                                                               "; failed cases not counted" if failed else "")),
               ("peak RSS ≤ onnxruntime's (%s)" % ("`mrt run`" if args.no_service else "service + workers"),
                ("**met**" if not rss_fail and not failed else "**not met**") +
                (" (above: " + ", ".join(rss_fail) + ")" if rss_fail else "")),
               ("load ≤ onnxruntime's session creation",
                ("**met**" if not load_fail else "**not met**") +
                (" (above: " + ", ".join(load_fail) + ")" if load_fail else "")),
               ("outputs within %.0e of onnxruntime's" % args.tolerance,
                "yes" if not wrong else "**no**: " + ", ".join(wrong))]
    if export_failed:
        targets.append(("models exported", "%d failed: %s" % (len(export_failed), ", ".join(sorted(export_failed)))))
    return lat, mem, targets


def table_text(rows, markdown):
    out = []
    if markdown:
        out.append("| " + " | ".join(rows[0]) + " |")
        out.append("| " + " | ".join("---" for _ in rows[0]) + " |")
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join(out) + "\n"


def versions():
    out = {}
    for mod, key in (("onnxruntime", "onnxruntime"), ("openvino", "openvino")):
        try:
            import importlib
            m = importlib.import_module(mod)
            out[key] = (getattr(m, "__version__", None) or m.get_version()).split("-")[0]
        except Exception:  # noqa: BLE001
            out[key] = "?"
    return out


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    flags = ""
                    break
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    fl = line.split()
                    flags = "AVX-512" if "avx512f" in fl else "AVX2" if "avx2" in fl else "SSE"
                    break
        return "%s (%s), %d CPUs" % (name, flags, os.cpu_count())
    except (OSError, UnboundLocalError):
        return platform.processor()


def report(args, results, export_failed, argv):
    v = versions()
    head = ("%s UTC, %s; threads=%d runs=%d batches=%s onnxruntime %s, OpenVINO %s; `%s`"
            % (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"), cpu_name(), args.threads,
               args.runs, ",".join(map(str, args.batch_list)), v["onnxruntime"], v["openvino"],
               "python3 scripts/bench-zoo.py " + " ".join(argv)))
    lat, mem, targets = build_tables(args, results, export_failed)
    md = args.markdown or args.write_docs
    parts = [head + "\n", table_text(lat, md), table_text(mem, md), table_text(targets, md)]
    errs = []
    for r in results:
        for s, e in sorted(r["error"].items()):
            errs.append("%s b%d %s: %s" % (r["model"], r["batch"], s, e.splitlines()[0]))
    for name, e in sorted(export_failed.items()):
        errs.append("%s export: %s" % (name, e.splitlines()[0]))
    if errs:
        parts.append("Failures:\n\n" + "\n".join(("- " if md else "  ") + e for e in errs) + "\n")
    return "\n".join(parts)


def write_docs(text):
    with open(DOCS) as f:
        doc = f.read()
    if BEGIN not in doc or END not in doc:
        sys.exit("error: %s has no %s ... %s section to replace" % (DOCS, BEGIN, END))
    before, rest = doc.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    with open(DOCS, "w") as f:
        f.write(before + BEGIN + "\n" + text.rstrip("\n") + "\n" + END + after)
    log("wrote the table section of %s" % DOCS)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="Install: pip install -r %s (see the top of bench-zoo.py)" % REQUIREMENTS)
    ap.add_argument("--models", help="comma-separated names (see --list); default: the whole zoo")
    ap.add_argument("--batches", default=None, help="comma-separated batch sizes (default 1,8)")
    ap.add_argument("--runs", type=int, default=None, help="paired rounds per case (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads for every runtime")
    ap.add_argument("--quick", action="store_true",
                    help="%s at batch 1, 2 rounds (unless --models/--batches/--runs say otherwise)"
                    % ",".join(QUICK_MODELS))
    ap.add_argument("--tolerance", type=float, default=1e-3, help="max |got - want| / max |want| that passes")
    ap.add_argument("--block-ms", type=float, default=500, help="length of each runtime's block in a round")
    ap.add_argument("--gap-ms", type=float, default=250, help="idle before each block (spinning pool threads sleep)")
    ap.add_argument("--zoo-dir", default=DEFAULT_ZOO, help="exported models (cache)")
    ap.add_argument("--mrt", default=os.path.join(REPO_ROOT, "build", "vnode", "mrt"))
    ap.add_argument("--daemon", help="model-runtime.vnode (default: beside --mrt)")
    ap.add_argument("--vnode-yml", default=os.path.join(REPO_ROOT, "vnode", "model-runtime", "vnode.yml"),
                    help="the service manifest the RSS of the service is measured with")
    ap.add_argument("--plugin", default="onednn", help="mrt's plugin")
    ap.add_argument("--no-service", action="store_true", help="skip the service's RSS (judge `mrt run`'s)")
    ap.add_argument("--ov-static", action="store_true", help="OpenVINO: reshape to the case's batch before compiling")
    ap.add_argument("--markdown", action="store_true", help="markdown tables")
    ap.add_argument("--write-docs", action="store_true", help="replace the bench-zoo section of docs/performance.md")
    ap.add_argument("--export-only", action="store_true", help="export what is missing, then stop")
    ap.add_argument("--reexport", action="store_true", help="export again, also models that failed before")
    ap.add_argument("--list", action="store_true", help="list the zoo and what is exported")
    ap.add_argument("--check", action="store_true",
                    help="no timing: one run of each runtime per case, outputs against onnxruntime's")
    # worker() mode (this script as the onnxruntime or OpenVINO process)
    ap.add_argument("--worker", choices=["ort", "ov"], help=argparse.SUPPRESS)
    ap.add_argument("--model-path", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--no-warmup", action="store_true", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    if args.quick:
        args.models = args.models or ",".join(QUICK_MODELS)
        args.batches = args.batches or "1"
        args.runs = args.runs or 2
    args.batches = args.batches or "1,8"
    args.runs = args.runs or 5
    args.batch_list = [int(b) for b in args.batches.split(",") if b]
    args.daemon = args.daemon or os.path.join(os.path.dirname(args.mrt), "model-runtime.vnode")
    names = [m for m in (args.models or "").split(",") if m] or [e.name for e in ZOO]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        sys.exit("error: unknown model(s) %s; the zoo: %s" % (", ".join(unknown), ", ".join(BY_NAME)))
    entries = [BY_NAME[n] for n in names]

    if args.list:
        for e in ZOO:
            d = model_dir(args, e.name)
            state = ("exported" if os.path.exists(os.path.join(d, "model.onnx"))
                     else "export failed" if os.path.exists(os.path.join(d, "export-error.txt")) else "not exported")
            print("%-20s %-30s %-13s %-9s %s" % (e.name, e.label, e.source, e.shape_text(), state))
        return 0

    need("numpy")
    export_failed = ensure_exported(args, entries)
    if args.export_only:
        for name, e in sorted(export_failed.items()):
            print("%s: export failed: %s" % (name, e.splitlines()[0]))
        return 1 if export_failed else 0
    need("onnxruntime")
    need("openvino")
    if not os.access(args.mrt, os.X_OK):
        sys.exit("error: no mrt at %s (build first, or pass --mrt)" % args.mrt)
    if args.check:
        return check(args, entries, export_failed)
    if not args.no_service and not os.access(args.daemon, os.X_OK):
        sys.exit("error: no service at %s (pass --daemon, or --no-service)" % args.daemon)

    results = []
    for e in entries:
        if e.name in export_failed:
            continue
        for b in args.batch_list:
            results.append(bench_case(args, e, b))
    text = report(args, results, export_failed, argv)
    print(text)
    if args.write_docs:
        write_docs(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
