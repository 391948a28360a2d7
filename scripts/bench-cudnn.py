#!/usr/bin/env python3
"""The cuDNN plugin against PyTorch eager on the same GPU (run by
scripts/gpu-check --run on the GPU machine).

Builds torchvision's ResNet-50 and ResNet-18 with seeded random weights,
exports each to ONNX (opset 17, dynamic batch), and times, side by side:
  - PyTorch eager: host tensor in, .cuda(), model, .cpu() out;
  - `mrt run <model> --bench N` with the cuDNN plugin: host tensor in and
    out through the plugin ABI, exactly what a service call does.
Both include the host↔device copies; medians of N runs after warm-up.
Correctness: the plugin's output against PyTorch float32 (TF32 off) as
‖out − ref‖ / ‖ref‖. Prints one table; writes bench-cudnn.json to --out.
"""
import argparse
import copy
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision


def export(model, path, opset=17):
    x = torch.randn(1, 3, 224, 224)
    kwargs = dict(opset_version=opset, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    try:
        torch.onnx.export(model, (x,), path, dynamo=False, **kwargs)
    except TypeError:  # a torch without the dynamo switch
        torch.onnx.export(model, (x,), path, **kwargs)


def write_model_dir(root, name, onnx_path, precision):
    d = os.path.join(root, f"{name}-{precision}")
    os.makedirs(d, exist_ok=True)
    dst = os.path.join(d, "model.onnx")
    if not os.path.exists(dst):  # a link: the host's vfs refuses symlinks out of the model dir
        os.link(onnx_path, dst)
    with open(os.path.join(d, "model.yml"), "w") as f:
        f.write("format: onnx\ntask: tensor\nfiles: [model.onnx]\ndevice: gpu\n"
                f"options: {{precision: {precision}}}\n")
    return d


def torch_ms(model, x_host, half, iters):
    """Median ms of host→GPU→model→host, PyTorch eager."""
    times = []
    with torch.inference_mode():
        for i in range(iters + 10):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            x = x_host.cuda(non_blocking=False)
            if half:
                x = x.half()
            y = model(x)
            y = y.float().cpu()
            t1 = time.perf_counter()
            if i >= 10:
                times.append((t1 - t0) * 1e3)
    return statistics.median(times), y


def mrt_run(args, model_dir, x_path, iters, out_dir=None):
    cmd = [args.mrt, "run", model_dir, "--input", f"input={x_path}", "--plugin-file", args.plugin, "--plugin", "cudnn",
           "--bench", str(iters)]
    if out_dir:
        cmd += ["--output", out_dir]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    m = re.search(r"median_ms=([0-9.]+).*load_ms=([0-9.]+)", p.stdout)
    return float(m.group(1)), float(m.group(2))


def rel_err(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mrt", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--out", default=".")
    ap.add_argument("--models", default="resnet50,resnet18")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    dev = torch.cuda.get_device_name(0)
    work = tempfile.mkdtemp(prefix="mrt-gpu-bench-")
    rows = []
    # (batch, precision, iterations): the two targets, and the
    # other two corners for context.
    configs = [(1, "fp32", 200), (1, "fp16", 200), (64, "fp32", 20), (64, "fp16", 30)]
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval()
        onnx_path = os.path.join(work, f"{name}.onnx")
        export(model, onnx_path)
        model = model.cuda()
        for batch, precision, iters in configs:
            torch.manual_seed(batch)
            x = torch.randn(batch, 3, 224, 224)
            x_path = os.path.join(work, f"x{batch}.npy")
            np.save(x_path, x.numpy())
            d = write_model_dir(work, name, onnx_path, precision)
            out_dir = os.path.join(work, f"out-{name}-{batch}-{precision}")
            # PyTorch float32 reference with TF32 off, then timing as configured.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            with torch.inference_mode():
                ref = model(x.cuda()).float().cpu().numpy()
            half = precision == "fp16"
            # A half copy: converting `model` in place would round the
            # float32 reference's weights for the rows after it.
            m = copy.deepcopy(model).half() if half else model
            t_ms, _ = torch_ms(m, x, half, iters)
            del m
            mrt_ms, load_ms = mrt_run(args, d, x_path, iters, out_dir)
            got = np.load(os.path.join(out_dir, "logits.npy"))
            rows.append(dict(model=name, batch=batch, precision=precision, torch_ms=t_ms, mrt_ms=mrt_ms,
                             ratio=t_ms / mrt_ms, mrt_img_s=batch / mrt_ms * 1e3, torch_img_s=batch / t_ms * 1e3,
                             load_ms=load_ms, rel_err=rel_err(got, ref)))
            r = rows[-1]
            print(f"{name} b{batch} {precision}: torch {t_ms:.3f} ms, mrt {mrt_ms:.3f} ms (x{r['ratio']:.2f}), "
                  f"rel err {r['rel_err']:.2e}, load {load_ms:.0f} ms", flush=True)
    with open(os.path.join(args.out, "bench-cudnn.json"), "w") as f:
        json.dump(dict(device=dev, torch=torch.__version__, cudnn=torch.backends.cudnn.version(), rows=rows), f, indent=1)
    print(f"\nGPU: {dev}; PyTorch {torch.__version__} eager (cudnn.benchmark on), cuDNN {torch.backends.cudnn.version()}")
    print("ratio = PyTorch ms / mrt ms (above 1: the plugin is faster); both include host<->device copies")
    print(f"{'model':<10} {'batch':>5} {'prec':>5} {'torch ms':>9} {'mrt ms':>9} {'ratio':>6} {'mrt img/s':>10} {'rel err':>9} {'load ms':>8}")
    for r in rows:
        print(f"{r['model']:<10} {r['batch']:>5} {r['precision']:>5} {r['torch_ms']:>9.3f} {r['mrt_ms']:>9.3f} {r['ratio']:>6.2f} "
              f"{r['mrt_img_s']:>10.0f} {r['rel_err']:>9.2e} {r['load_ms']:>8.0f}")
    bad = [r for r in rows if not r["rel_err"] < (1e-3 if r["precision"] == "fp32" else 3e-2)]
    if bad:
        print(f"{len(bad)} rows exceed the error bound (fp32 1e-3, fp16 3e-2)")
        sys.exit(1)


if __name__ == "__main__":
    main()
