#!/usr/bin/env python3
"""Writes a tiny random Llama model as a llama2.c checkpoint, with its
tokenizer.bin and reference data computed by an independent NumPy forward
pass (float64), for the raw plugin's tests.

    scripts/make-tiny-llama2c.py OUT_DIR [--seed S]

OUT_DIR/model.bin, tokenizer.bin, model.yml, and reference/:
  inputs/input_ids.npy, outputs/logits.npy, tolerance.yml  (conformance)
  generation.txt  (prompt, its token ids, greedy continuation ids)
Needs numpy (PyPI). The model is untrained: outputs are not language, but
every number is reproducible from the seed.
"""
import argparse
import os
import struct

import numpy as np

DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, SEQ = 64, 128, 2, 4, 2, 64
MERGES = [" t", "th", "he", " th", " the", "in", "er", "an", " a", "on", "re", "at", "en", "nd", " o", "ed",
          "is", " s", "or", " w", "it", "es", " i", "ing", " c", "ar", "le", " b", "ou", " f", "as", " m",
          "al", " p", "ll", "ic", " d", "hat", " that", " and", " of"]


def make_vocab():
    pieces = ["<unk>", "\n<s>\n", "\n</s>\n"] + ["<0x%02X>" % b for b in range(256)]
    scores = [0.0] * len(pieces)
    for ch in [" "] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + list(".,!?'"):
        pieces.append(ch)
        scores.append(-1000.0)  # single characters: lowest, merged last
    for rank, m in enumerate(MERGES):
        pieces.append(m)
        scores.append(-float(rank))  # earlier merges win
    return pieces, scores


def encode(text, pieces, scores, bos=True):
    """The llama2.c / SentencePiece-BPE encoder, written again from the spec."""
    ids = {p: i for i, p in enumerate(pieces)}
    toks = [1] if bos else []
    if not text:
        return toks
    body = []
    for ch in " " + text:
        if ch in ids:
            body.append(ids[ch])
        else:
            body.extend(b + 3 for b in ch.encode("utf-8"))
    while True:
        best, best_i, best_id = None, -1, -1
        for i in range(len(body) - 1):
            merged = pieces[body[i]] + pieces[body[i + 1]]
            if merged in ids and (best is None or scores[ids[merged]] > best):
                best, best_i, best_id = scores[ids[merged]], i, ids[merged]
        if best_id < 0:
            break
        body[best_i:best_i + 2] = [best_id]
    return toks + body


def rmsnorm(x, w, eps=1e-5):
    return w * (x / np.sqrt(np.mean(x * x) + eps))


def rope(v, pos, heads):
    hs = DIM // HEADS
    v = v.reshape(heads, hs).copy()
    for i in range(hs // 2):
        freq = 1.0 / (10000.0 ** (2.0 * i / hs))
        c, s = np.cos(pos * freq), np.sin(pos * freq)
        a, b = v[:, 2 * i].copy(), v[:, 2 * i + 1].copy()
        v[:, 2 * i], v[:, 2 * i + 1] = a * c - b * s, a * s + b * c
    return v.reshape(-1)


def forward_all(w, tokens):
    """Logits (float64) at every position, with a KV cache like the engine's."""
    hs, kv_dim, group = DIM // HEADS, KV_HEADS * (DIM // HEADS), HEADS // KV_HEADS
    kc = np.zeros((LAYERS, SEQ, kv_dim))
    vc = np.zeros((LAYERS, SEQ, kv_dim))
    out = []
    for pos, tok in enumerate(tokens):
        x = w["emb"][tok].astype(np.float64)
        for l in range(LAYERS):
            h = rmsnorm(x, w["rms_att"][l])
            q = rope(w["wq"][l] @ h, pos, HEADS)
            k = rope(w["wk"][l] @ h, pos, KV_HEADS)
            kc[l, pos], vc[l, pos] = k, w["wv"][l] @ h
            att_out = np.zeros(DIM)
            for head in range(HEADS):
                kvh = head // group
                qh = q[head * hs:(head + 1) * hs]
                keys = kc[l, :pos + 1, kvh * hs:(kvh + 1) * hs]
                scores = keys @ qh / np.sqrt(hs)
                p = np.exp(scores - scores.max())
                p /= p.sum()
                att_out[head * hs:(head + 1) * hs] = p @ vc[l, :pos + 1, kvh * hs:(kvh + 1) * hs]
            x = x + w["wo"][l] @ att_out
            h = rmsnorm(x, w["rms_ffn"][l])
            g = w["w1"][l] @ h
            x = x + w["w2"][l] @ ((g / (1 + np.exp(-g))) * (w["w3"][l] @ h))
        out.append(w["emb"].astype(np.float64) @ rmsnorm(x, w["rms_final"]))
    return np.array(out)


def write_npy(path, arr):
    arr = np.ascontiguousarray(arr)
    np.save(path, arr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    pieces, scores = make_vocab()
    vocab = len(pieces)
    kv_dim = KV_HEADS * (DIM // HEADS)
    f32 = lambda *shape, s=0.15: (rng.standard_normal(shape) * s).astype(np.float32)
    w = {
        "emb": f32(vocab, DIM, s=0.5),
        "rms_att": (1 + f32(LAYERS, DIM, s=0.1)), "wq": f32(LAYERS, DIM, DIM), "wk": f32(LAYERS, kv_dim, DIM),
        "wv": f32(LAYERS, kv_dim, DIM), "wo": f32(LAYERS, DIM, DIM), "rms_ffn": (1 + f32(LAYERS, DIM, s=0.1)),
        "w1": f32(LAYERS, HIDDEN, DIM), "w2": f32(LAYERS, DIM, HIDDEN), "w3": f32(LAYERS, HIDDEN, DIM),
        "rms_final": (1 + f32(DIM, s=0.1)),
    }
    out = args.out_dir
    os.makedirs(os.path.join(out, "reference", "inputs"), exist_ok=True)
    os.makedirs(os.path.join(out, "reference", "outputs"), exist_ok=True)
    with open(os.path.join(out, "model.bin"), "wb") as f:
        f.write(struct.pack("<7i", DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, vocab, SEQ))
        for key in ["emb", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3", "rms_final"]:
            f.write(w[key].astype("<f4").tobytes())
        hs = DIM // HEADS
        f.write(np.zeros((2, SEQ, hs // 2), dtype="<f4").tobytes())  # legacy freq_cis (unused)
    with open(os.path.join(out, "tokenizer.bin"), "wb") as f:
        data = [p.encode("utf-8") for p in pieces]
        f.write(struct.pack("<i", max(len(d) for d in data)))
        for d, s in zip(data, scores):
            f.write(struct.pack("<fi", s, len(d)) + d)
    with open(os.path.join(out, "model.yml"), "w") as f:
        f.write("# A tiny random Llama (llama2.c checkpoint) made by scripts/make-tiny-llama2c.py.\n")
        f.write("format: llama2c\ntask: text-generation\nfiles: [model.bin, tokenizer.bin]\n")
        f.write("# Float32 KV entries: reference/ holds float64 NumPy logits, checked to 2e-4.\n")
        f.write("options: {tokenizer: tokenizer.bin, kv_cache: f32}\n")

    prompt = "the cat sat on that mat"
    ids = encode(prompt, pieces, scores)
    logits = forward_all(w, ids)
    write_npy(os.path.join(out, "reference", "inputs", "input_ids.npy"), np.array(ids, dtype=np.int64))
    write_npy(os.path.join(out, "reference", "outputs", "logits.npy"), logits.astype(np.float32))
    with open(os.path.join(out, "reference", "tolerance.yml"), "w") as f:
        f.write("# float32 engine against a float64 NumPy forward pass; logits are O(1).\n")
        f.write("atol: 2.0e-4\nrtol: 1.0e-4\n")
    # Greedy continuation: argmax, stopping at BOS/EOS, 16 tokens at most.
    seq = list(ids)
    for _ in range(16):
        nxt = int(np.argmax(forward_all(w, seq)[-1]))
        if nxt in (1, 2):
            break
        seq.append(nxt)
    with open(os.path.join(out, "reference", "generation.txt"), "w") as f:
        f.write("prompt=%s\n" % prompt)
        f.write("prompt_ids=%s\n" % " ".join(map(str, ids)))
        f.write("greedy_ids=%s\n" % " ".join(map(str, seq[len(ids):])))
        text = b""
        prev = ids[-1]
        for t in seq[len(ids):]:
            piece = pieces[t]
            if prev == 1 and piece.startswith(" "):
                piece = piece[1:]
            text += bytes([int(piece[3:5], 16)]) if piece.startswith("<0x") and len(piece) == 6 else piece.encode("utf-8")
            prev = t
        # Clients get valid UTF-8: invalid bytes become U+FFFD.
        f.write("greedy_text_hex=%s\n" % text.decode("utf-8", errors="replace").encode("utf-8").hex())
        for text in ["hello world", "the theory of it", "naïve café ☕", "  spaces  and\ttabs", ""]:
            f.write("encode=%s|%s\n" % (text, " ".join(map(str, encode(text, pieces, scores)))))


if __name__ == "__main__":
    main()
