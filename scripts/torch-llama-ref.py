#!/usr/bin/env python3
"""PyTorch reference generator for llama2.c checkpoints: the peer that
scripts/bench-raw.py times the raw plugin against.

    /usr/bin/python3 scripts/torch-llama-ref.py MODEL_DIR --prompt-tokens N \
        --new-tokens 64 --threads 2 --runs 3

Loads MODEL_DIR/model.bin (the legacy llama2.c export: 7 x int32 header, then
float32 weights) into a plain PyTorch Llama written the way llama2.c's
model.py is (RMSNorm, interleaved-pair RoPE, grouped-query attention with a
KV cache, SwiGLU), prefills N prompt tokens in one batched forward pass, then
decodes --new-tokens greedily one token at a time, under
torch.inference_mode() with --threads intra-op threads. Prints one line:

    torch: version=... threads=2 prompt_tokens=N generated=64 prefill_tok_s=... decode_tok_s=... (medians)

Needs PyTorch: Debian's python3-torch (CPU, light) runs under Debian's own
interpreter /usr/bin/python3; PyPI's wheel pulls gigabytes of CUDA libraries.
"""
import argparse
import math
import os
import statistics
import struct
import time

import torch


def load_llama2c(path):
    """The checkpoint as a dict of float32 tensors plus its header fields."""
    with open(path, "rb") as f:
        dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack("<7i", f.read(28))
        shared = vocab > 0
        vocab = abs(vocab)
        data = torch.frombuffer(bytearray(f.read()), dtype=torch.float32)
    head = dim // heads
    kv_dim = kv_heads * head
    shapes = [("emb", (vocab, dim)), ("rms_att", (layers, dim)), ("wq", (layers, dim, dim)),
              ("wk", (layers, kv_dim, dim)), ("wv", (layers, kv_dim, dim)), ("wo", (layers, dim, dim)),
              ("rms_ffn", (layers, dim)), ("w1", (layers, hidden, dim)), ("w2", (layers, dim, hidden)),
              ("w3", (layers, hidden, dim)), ("rms_final", (dim,)), ("freq_cos", (seq, head // 2)),
              ("freq_sin", (seq, head // 2))]
    w, at = {}, 0
    for name, shape in shapes:
        n = math.prod(shape)
        w[name] = data[at:at + n].view(shape)
        at += n
    w["cls"] = w["emb"] if shared else data[at:at + vocab * dim].view(vocab, dim)
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab, seq=seq)
    return cfg, w


class Llama:
    """llama2.c's forward pass with a KV cache; tokens at positions
    [pos, pos + T) go through together (prefill) or one by one (decode)."""

    def __init__(self, cfg, w):
        self.c, self.w = cfg, w
        self.head = cfg["dim"] // cfg["heads"]
        # RoPE tables recomputed here (the checkpoint's freq_cis are the same values).
        inv = 1.0 / (10000.0 ** (torch.arange(0, self.head, 2, dtype=torch.float64) / self.head))
        ang = torch.arange(cfg["seq"], dtype=torch.float64)[:, None] * inv[None, :]
        self.cos, self.sin = ang.cos().float(), ang.sin().float()
        shape = (cfg["layers"], cfg["seq"], cfg["kv_heads"], self.head)
        self.k_cache, self.v_cache = torch.zeros(shape), torch.zeros(shape)

    @staticmethod
    def rmsnorm(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * g

    def rope(self, x, pos):
        t = x.shape[0]
        cos, sin = self.cos[pos:pos + t][:, None, :], self.sin[pos:pos + t][:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]  # adjacent pairs, as llama2.c rotates them
        return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)

    def forward(self, tokens, pos):
        c, w, hs = self.c, self.w, self.head
        t = tokens.shape[0]
        x = w["emb"][tokens]
        group = c["heads"] // c["kv_heads"]
        mask = torch.full((t, pos + t), float("-inf")).triu(pos + 1)
        for l in range(c["layers"]):
            h = self.rmsnorm(x, w["rms_att"][l])
            q = self.rope((h @ w["wq"][l].T).view(t, c["heads"], hs), pos)
            k = self.rope((h @ w["wk"][l].T).view(t, c["kv_heads"], hs), pos)
            v = (h @ w["wv"][l].T).view(t, c["kv_heads"], hs)
            self.k_cache[l, pos:pos + t], self.v_cache[l, pos:pos + t] = k, v
            keys = self.k_cache[l, :pos + t].repeat_interleave(group, dim=1)
            vals = self.v_cache[l, :pos + t].repeat_interleave(group, dim=1)
            att = torch.einsum("thd,shd->hts", q, keys) / math.sqrt(hs) + mask
            out = torch.einsum("hts,shd->thd", att.softmax(-1), vals).reshape(t, c["dim"])
            x = x + out @ w["wo"][l].T
            h = self.rmsnorm(x, w["rms_ffn"][l])
            x = x + (torch.nn.functional.silu(h @ w["w1"][l].T) * (h @ w["w3"][l].T)) @ w["w2"][l].T
        return self.rmsnorm(x[-1], w["rms_final"]) @ w["cls"].T


def one_run(model, prompt, new_tokens):
    """(prefill seconds, decode seconds) for one generation from an empty cache."""
    t0 = time.perf_counter()
    logits = model.forward(prompt, 0)
    t1 = time.perf_counter()
    pos = prompt.shape[0]
    for _ in range(new_tokens):
        token = logits.argmax().view(1)
        logits = model.forward(token, pos)
        pos += 1
    return t1 - t0, time.perf_counter() - t1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, w = load_llama2c(os.path.join(args.model_dir, "model.bin"))
    model = Llama(cfg, w)
    prompt = torch.arange(args.prompt_tokens) % (cfg["vocab"] - 3) + 3
    prefill, decode = [], []
    with torch.inference_mode():
        one_run(model, prompt, 4)  # warm-up: allocator, thread pool
        for _ in range(args.runs):
            p, d = one_run(model, prompt, args.new_tokens)
            prefill.append(args.prompt_tokens / p)
            decode.append(args.new_tokens / d)
    print("torch: version=%s threads=%d prompt_tokens=%d generated=%d prefill_tok_s=%.1f decode_tok_s=%.1f (medians)" % (
        torch.__version__, args.threads, args.prompt_tokens, args.new_tokens, statistics.median(prefill),
        statistics.median(decode)))


if __name__ == "__main__":
    main()
