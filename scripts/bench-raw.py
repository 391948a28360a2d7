#!/usr/bin/env python3
"""Speed of the raw plugin on models shaped like stories15M and stories110M
(random float32 llama2.c checkpoints written to a temporary folder), against
the memory-bandwidth bound measured in the same run.

    scripts/bench-raw.py [--mrt build/vnode/mrt] [--threads 2] [--runs 3]

Prints prefill and decode tokens/s (medians over --runs, from `mrt generate
--bench`), the bound (bandwidth ÷ weight bytes read per token) and the
fraction reached, prefill GFLOP/s (the arithmetic the prefill really does:
layer matrices for every token, the classifier for the last, attention),
and the same generation in PyTorch
(scripts/torch-llama-ref.py, same checkpoint, prompt length, new tokens and
threads) with the ratios. Needs numpy (PyPI); the PyTorch column needs an
interpreter with torch (--torch-python; Debian's python3-torch runs under
/usr/bin/python3) and is left out when there is none.
"""
import argparse
import os
import re
import struct
import subprocess
import tempfile

import numpy as np

SHAPES = {  # dim, hidden, layers, heads, kv_heads, vocab, seq_len
    "stories15M": (288, 768, 6, 6, 6, 32000, 256),
    "stories110M": (768, 2048, 12, 12, 12, 32000, 1024),
}


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mrt", default="build/vnode/mrt")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bandwidth-tool", default="build/tests/read-bandwidth")
    ap.add_argument("--torch-python", default="/usr/bin/python3",
                    help="interpreter with PyTorch for the reference ('' to skip)")
    args = ap.parse_args()
    bw = bandwidth_gbs(args.bandwidth_tool, args.threads)
    print("memory read bandwidth (read-bandwidth, %d threads, 1 GiB, best of 5): %.1f GB/s" % (args.threads, bw))
    rng = np.random.default_rng(0)
    prompt = "abcdefghij" * 6 + "ab"  # 64 tokens with BOS and the leading space (bytes: no merges)
    has_torch = bool(args.torch_python) and subprocess.run([args.torch_python, "-c", "import torch"],
                                                           capture_output=True).returncode == 0
    print("%-12s %10s %12s %12s %14s %10s %14s %14s %14s %9s %9s" % (
        "model", "params", "prefill t/s", "decode t/s", "bound t/s", "of bound", "prefill GF/s", "torch prefill",
        "torch decode", "x prefill", "x decode"))
    for name, shape in SHAPES.items():
        with tempfile.TemporaryDirectory() as d:
            params, wbytes = write_model(d, shape, rng)
            out = subprocess.run([args.mrt, "generate", d, "--prompt", prompt, "--max-tokens", "64", "--temperature",
                                  "1", "--seed", "1", "--threads", str(args.threads), "--bench", str(args.runs)],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit("mrt generate failed: " + out.stderr)
            out = out.stdout
            m = re.search(r"prompt_tokens=(\d+).*prefill_tok_s=([\d.]+) decode_tok_s=([\d.]+)", out)
            prompt_tokens, prefill, decode = int(m.group(1)), float(m.group(2)), float(m.group(3))
            bound = bw * 1e9 / wbytes
            t_prefill = t_decode = float("nan")
            if has_torch:
                t_prefill, t_decode = torch_reference(args, d, prompt_tokens)
            print("%-12s %9.1fM %12.1f %12.1f %14.1f %9.0f%% %14.1f %14.1f %14.1f %9.2f %9.2f" % (
                name, params / 1e6, prefill, decode, bound, 100 * decode / bound,
                prefill_flops(shape, prompt_tokens) / (prompt_tokens / prefill) / 1e9,
                t_prefill, t_decode, prefill / t_prefill, decode / t_decode))
    print("threads=%d; x = raw plugin ÷ PyTorch (same checkpoint, prompt length, 64 new tokens, threads)%s"
          % (args.threads, "" if has_torch else "; no PyTorch found, so no PyTorch columns"))


def torch_reference(args, model_dir, prompt_tokens):
    """Prefill and decode tokens/s of the PyTorch reference on the same model."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch-llama-ref.py")
    out = subprocess.run([args.torch_python, script, model_dir, "--prompt-tokens", str(prompt_tokens),
                          "--new-tokens", "64", "--threads", str(args.threads), "--runs", str(args.runs)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("torch reference failed: " + out.stderr)
    m = re.search(r"prefill_tok_s=([\d.]+) decode_tok_s=([\d.]+)", out.stdout)
    return float(m.group(1)), float(m.group(2))


if __name__ == "__main__":
    main()
