#!/usr/bin/env python3
"""Speed of the raw plugin on models shaped like stories15M and stories110M
(random float32 llama2.c checkpoints written to a temporary folder), against
the machine's limits measured beside it and against PyTorch.

    scripts/bench-raw.py [--mrt build/vnode/mrt] [--threads 2] [--runs 5]

Each of --runs rounds measures per shape, back to back: the memory read
bandwidth (build/tests/read-bandwidth), `mrt generate --bench 3` with a
64-token prompt and 64 new tokens (prefill pp64 and decode), the bandwidth
again, the FP32 peak (build/tests/fma-peak), and `mrt generate --bench 3`
with a 512-token prompt (pp512, the prompt length llama.cpp's llama-bench
reports). Ratios to the limits are
taken within a round, then the median over rounds is printed: this machine
is shared, and its bandwidth and clock move between minutes.

- decode bound = bandwidth ÷ weight bytes read per decoded token;
- prefill GFLOP/s counts the arithmetic a prefill really does (layer
  matrices for every token, the classifier for the last, causal attention),
  against the measured peak and the nominal one (scripts/cpu_peak.py).

PyTorch (scripts/torch-llama-ref.py: same checkpoint, prompt lengths, new
tokens and threads) runs once per shape after the rounds. Needs numpy
(PyPI); the PyTorch columns need an interpreter with torch (--torch-python;
Debian's python3-torch runs under /usr/bin/python3) and are left out when
there is none.
"""
import argparse
import os
import re
import statistics
import struct
import subprocess
import tempfile

import numpy as np

import cpu_peak

# The issue names dim, layers, heads and vocab; both get a 1024-token
# context so that a 512-token prompt fits (stories15M itself has 256).
SHAPES = {  # dim, hidden, layers, heads, kv_heads, vocab, seq_len
    "stories15M": (288, 768, 6, 6, 6, 32000, 1024),
    "stories110M": (768, 2048, 12, 12, 12, 32000, 1024),
}
# Prompts of 64 and 512 tokens with BOS and the leading space (the random
# tokenizer has no merges: one token per byte).
PROMPTS = {64: "abcdefghij" * 6 + "ab", 512: "abcdefghij" * 51}
NEW_TOKENS = 64


def write_model(path, shape, rng):
    dim, hidden, layers, heads, kv, vocab, seq = shape
    kv_dim = dim * kv // heads
    with open(os.path.join(path, "model.bin"), "wb") as f:
        f.write(struct.pack("<7i", dim, hidden, layers, heads, kv, vocab, seq))
        sizes = [vocab * dim, layers * dim, layers * dim * dim, layers * kv_dim * dim, layers * kv_dim * dim,
                 layers * dim * dim, layers * dim, layers * hidden * dim, layers * dim * hidden, layers * hidden * dim,
                 dim, seq * (dim // heads)]
        for n in sizes:
            f.write((rng.standard_normal(n, dtype=np.float32) * 0.02).tobytes())
    with open(os.path.join(path, "tokenizer.bin"), "wb") as f:
        f.write(struct.pack("<i", 16))
        pieces = ["<unk>", "\n<s>\n", "\n</s>\n"] + ["<0x%02X>" % b for b in range(256)]
        pieces += ["w%d" % i for i in range(vocab - len(pieces))]
        for i, p in enumerate(pieces):
            d = p.encode()
            f.write(struct.pack("<fi", -float(i), len(d)) + d)
    with open(os.path.join(path, "model.yml"), "w") as f:
        f.write("format: llama2c\ntask: text-generation\nfiles: [model.bin, tokenizer.bin]\n")
    params = sum(sizes[:-1]) - vocab * dim  # embedding rows are looked up, not multiplied
    weight_bytes = 4 * (sum(sizes[2:6]) + sum(sizes[7:10]) + vocab * dim)  # read per decoded token
    return params + vocab * dim, weight_bytes


def prefill_flops(shape, tokens):
    """Arithmetic a prefill of `tokens` tokens does: every layer matrix for
    every token, the classifier for the last token only (that is all the
    engine computes), and causal attention (scores and weighted sums)."""
    dim, hidden, layers, heads, kv, vocab, seq = shape
    kv_dim = dim * kv // heads
    layer_matrices = layers * (2 * dim * dim + 2 * kv_dim * dim + 3 * hidden * dim)
    attention = layers * 4 * dim * tokens * (tokens + 1) // 2
    return 2 * layer_matrices * tokens + 2 * vocab * dim + attention


def bandwidth_gbs(tool, threads):
    out = subprocess.run([tool, str(threads)], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"read_bandwidth_gbs=([\d.]+)", out).group(1))


def generate(args, model_dir, prompt, new_tokens):
    """(prompt tokens, prefill tok/s, decode tok/s): medians of `mrt generate --bench 3` (after its warm-up)."""
    out = subprocess.run([args.mrt, "generate", model_dir, "--prompt", prompt, "--max-tokens", str(new_tokens),
                          "--temperature", "1", "--seed", "1", "--threads", str(args.threads), "--bench", "3"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("mrt generate failed: " + out.stderr)
    m = re.search(r"prompt_tokens=(\d+).*prefill_tok_s=([\d.]+) decode_tok_s=([\d.]+)", out.stdout)
    return int(m.group(1)), float(m.group(2)), float(m.group(3))


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mrt", default="build/vnode/mrt")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=5, help="rounds (and PyTorch generations)")
    ap.add_argument("--bandwidth-tool", default="build/tests/read-bandwidth")
    ap.add_argument("--peak-tool", default="build/tests/fma-peak")
    ap.add_argument("--torch-python", default="/usr/bin/python3",
                    help="interpreter with PyTorch for the reference ('' to skip)")
    args = ap.parse_args()
    nominal, nominal_line = cpu_peak.nominal_peak(args.threads)
    has_torch = bool(args.torch_python) and subprocess.run([args.torch_python, "-c", "import torch"],
                                                           capture_output=True).returncode == 0
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as root:
        models = {}
        for name, shape in SHAPES.items():
            d = os.path.join(root, name)
            os.mkdir(d)
            models[name] = (d,) + write_model(d, shape, rng)
        rows = {name: {"pp64": [], "pp512": [], "decode": [], "bound": [], "of_bound": [], "gf64": [], "gf512": [],
                       "peak64": [], "peak512": []} for name in SHAPES}
        bws, peaks = [], []
        for _ in range(args.runs):
            for name, shape in SHAPES.items():
                d, _, wbytes = models[name]
                r = rows[name]
                # The bound uses the bandwidth measured right before and right
                # after the decode it is compared with (their mean).
                bw_before = bandwidth_gbs(args.bandwidth_tool, args.threads)
                n64, pp64, decode = generate(args, d, PROMPTS[64], NEW_TOKENS)
                bw = (bw_before + bandwidth_gbs(args.bandwidth_tool, args.threads)) / 2
                peak = cpu_peak.measured_peak(args.peak_tool, args.threads)
                n512, pp512, _ = generate(args, d, PROMPTS[512], 2)
                bws.append(bw)
                peaks.append(peak)
                bound = bw * 1e9 / wbytes
                gf64 = prefill_flops(shape, n64) / (n64 / pp64) / 1e9
                gf512 = prefill_flops(shape, n512) / (n512 / pp512) / 1e9
                for key, value in (("pp64", pp64), ("pp512", pp512), ("decode", decode), ("bound", bound),
                                   ("of_bound", decode / bound), ("gf64", gf64), ("gf512", gf512),
                                   ("peak64", gf64 / peak), ("peak512", gf512 / peak)):
                    r[key].append(value)
        print("threads=%d rounds=%d; medians over rounds, ratios taken within each round" % (args.threads, args.runs))
        print("memory read bandwidth (read-bandwidth, 1 GiB, best of 5 passes; mean of before and after): %s GB/s"
              % " / ".join("%.1f" % b for b in bws))
        print("FP32 peak measured (fma-peak): %s GFLOP/s" % " / ".join("%.0f" % p for p in peaks))
        print(nominal_line)
        print()
        print("%-12s %8s %10s %10s %9s %9s %9s %10s %9s %9s %9s" % (
            "model", "params", "pp64 t/s", "pp512 t/s", "pp64 GF/s", "of peak", "nominal", "pp512 GF/s", "of peak",
            "nominal", ""))
        for name in SHAPES:
            r, params = rows[name], models[name][1]
            print("%-12s %7.1fM %10.1f %10.1f %9.1f %8.0f%% %8.0f%% %10.1f %8.0f%% %8.0f%%" % (
                name, params / 1e6, median(r["pp64"]), median(r["pp512"]), median(r["gf64"]),
                100 * median(r["peak64"]), 100 * median(r["gf64"]) / nominal, median(r["gf512"]),
                100 * median(r["peak512"]), 100 * median(r["gf512"]) / nominal))
        print()
        print("%-12s %12s %12s %10s" % ("model", "decode t/s", "bound t/s", "of bound"))
        for name in SHAPES:
            r = rows[name]
            print("%-12s %12.1f %12.1f %9.0f%%" % (name, median(r["decode"]), median(r["bound"]),
                                                   100 * median(r["of_bound"])))
        if not has_torch:
            print("\nno PyTorch found (--torch-python), so no PyTorch comparison")
            return
        print()
        print("%-12s %14s %14s %14s %10s %10s %10s" % ("PyTorch", "pp64 t/s", "pp512 t/s", "decode t/s", "x pp64",
                                                       "x pp512", "x decode"))
        for name in SHAPES:
            d, r = models[name][0], rows[name]
            t64, t_decode = torch_reference(args, d, 64, NEW_TOKENS)
            t512, _ = torch_reference(args, d, 512, 2)
            print("%-12s %14.1f %14.1f %14.1f %10.2f %10.2f %10.2f" % (
                name, t64, t512, t_decode, median(r["pp64"]) / t64, median(r["pp512"]) / t512,
                median(r["decode"]) / t_decode))
        print("x = raw plugin ÷ PyTorch (same checkpoint, prompt lengths, new tokens, threads)")


def torch_reference(args, model_dir, prompt_tokens, new_tokens):
    """Prefill and decode tokens/s of the PyTorch reference on the same model."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch-llama-ref.py")
    out = subprocess.run([args.torch_python, script, model_dir, "--prompt-tokens", str(prompt_tokens),
                          "--new-tokens", str(new_tokens), "--threads", str(args.threads), "--runs", str(args.runs)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("torch reference failed: " + out.stderr)
    m = re.search(r"prefill_tok_s=([\d.]+) decode_tok_s=([\d.]+)", out.stdout)
    return float(m.group(1)), float(m.group(2))


if __name__ == "__main__":
    main()
