#!/usr/bin/env python3
"""Writes a tiny random Llama in the Hugging Face layout, and the same
weights as a llama2.c checkpoint, with reference data:

    scripts/make-tiny-llama-hf.py OUT_DIR [--seed S]

OUT_DIR/config.json, model.safetensors (F16), tokenizer.json (a
SentencePiece-style BPE with byte fallback, built and saved with PyPI's
`tokenizers`), model.yml; OUT_DIR/llama2c/ holds the same weights as a
llama2.c checkpoint (q/k rows permuted for its RoPE pairing). reference/:
  inputs/input_ids.npy, outputs/logits.npy, tolerance.yml (NumPy float64
  forward pass, rotate-half RoPE, on the F16 weights), greedy.txt, and
  tokenizer.jsonl: the `tokenizers` package's ids for a varied corpus.
Needs numpy and tokenizers (PyPI).
"""
import argparse
import json
import os
import struct

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, processors

from safetensors_f16 import write_safetensors  # scripts/safetensors_f16.py

DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, SEQ = 64, 128, 2, 4, 2, 96
SP = "\u2581"
WORDS = ["the", "and", "that", "cat", "sat", "on", "mat", "hello", "world", "it", "is", "of", "in"]
CORPUS = ["hello world", "The cat sat on the mat.", "  leading and  double  spaces", "tabs\tand\nnewlines",
          "digits 0123456789 and 3.14159", "naïve café, déjà vu", "emoji 🙂 and ☕", "日本語のテキスト",
          "<|user|>hi there<|end|>", "mixed<|user|>inline special", "", " ", "a", "punctuation!?;:'\"",
          "UPPER lower MiXeD", "the theory that it is"]


def build_tokenizer():
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for ch in [SP] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + list(".,!?'T"):
        vocab.setdefault(ch, len(vocab))
    merges = []

    def add_merge(a, b):
        if a + b not in vocab:
            merges.append((a, b))
            vocab[a + b] = len(vocab)

    for w in WORDS:  # merge each word left to right, with its leading ▁
        cur = SP
        for ch in w:
            add_merge(cur, ch)
            cur += ch
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(SP), normalizers.Replace(" ", SP)])
    tok.decoder = decoders.Sequence([decoders.Replace(SP, " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok.add_special_tokens(["<unk>", "<s>", "</s>", "<|user|>", "<|end|>"])
    return tok


def rmsnorm(x, w, eps=1e-5):  # llama2.c's fixed epsilon, so both formats agree
    return w * (x / np.sqrt(np.mean(x * x) + eps))


def rope_half(v, pos, heads):
    hs = DIM // HEADS
    v = v.reshape(heads, hs).copy()
    half = hs // 2
    freq = 1.0 / (10000.0 ** (np.arange(half) * 2.0 / hs))
    c, s = np.cos(pos * freq), np.sin(pos * freq)
    a, b = v[:, :half].copy(), v[:, half:].copy()
    v[:, :half], v[:, half:] = a * c - b * s, a * s + b * c
    return v.reshape(-1)


def forward_all(w, tokens):
    hs, kv_dim, group = DIM // HEADS, KV_HEADS * (DIM // HEADS), HEADS // KV_HEADS
    kc, vc, out = np.zeros((LAYERS, SEQ, kv_dim)), np.zeros((LAYERS, SEQ, kv_dim)), []
    for pos, tok in enumerate(tokens):
        x = w["emb"][tok]
        for l in range(LAYERS):
            h = rmsnorm(x, w["rms_att"][l])
            q = rope_half(w["wq"][l] @ h, pos, HEADS)
            kc[l, pos] = rope_half(w["wk"][l] @ h, pos, KV_HEADS)
            vc[l, pos] = w["wv"][l] @ h
            att = np.zeros(DIM)
            for head in range(HEADS):
                kvh = head // group
                sc = kc[l, :pos + 1, kvh * hs:(kvh + 1) * hs] @ q[head * hs:(head + 1) * hs] / np.sqrt(hs)
                p = np.exp(sc - sc.max())
                att[head * hs:(head + 1) * hs] = (p / p.sum()) @ vc[l, :pos + 1, kvh * hs:(kvh + 1) * hs]
            x = x + w["wo"][l] @ att
            h = rmsnorm(x, w["rms_ffn"][l])
            g = w["w1"][l] @ h
            x = x + w["w2"][l] @ ((g / (1 + np.exp(-g))) * (w["w3"][l] @ h))
        out.append(w["lm_head"] @ rmsnorm(x, w["rms_final"]))
    return np.array(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    out = args.out_dir
    for d in ["reference/inputs", "reference/outputs", "llama2c"]:
        os.makedirs(os.path.join(out, d), exist_ok=True)
    tok = build_tokenizer()
    tok.save(os.path.join(out, "tokenizer.json"))
    vocab = tok.get_vocab_size()
    rng = np.random.default_rng(args.seed)
    kv_dim = KV_HEADS * (DIM // HEADS)
    # Weights rounded to float16 once, so every consumer sees the same numbers.
    r = lambda *shape, s=0.15: (rng.standard_normal(shape) * s).astype(np.float16).astype(np.float64)
    w = {"emb": r(vocab, DIM, s=0.5), "rms_att": 1 + r(LAYERS, DIM, s=0.1), "wq": r(LAYERS, DIM, DIM),
         "wk": r(LAYERS, kv_dim, DIM), "wv": r(LAYERS, kv_dim, DIM), "wo": r(LAYERS, DIM, DIM),
         "rms_ffn": 1 + r(LAYERS, DIM, s=0.1), "w1": r(LAYERS, HIDDEN, DIM), "w2": r(LAYERS, DIM, HIDDEN),
         "w3": r(LAYERS, HIDDEN, DIM), "rms_final": 1 + r(DIM, s=0.1), "lm_head": r(vocab, DIM, s=0.5)}
    for k in ["rms_att", "rms_ffn", "rms_final"]:
        w[k] = w[k].astype(np.float16).astype(np.float64)
    t = {"model.embed_tokens.weight": w["emb"], "model.norm.weight": w["rms_final"], "lm_head.weight": w["lm_head"]}
    for l in range(LAYERS):
        p = "model.layers.%d." % l
        t.update({p + "self_attn.q_proj.weight": w["wq"][l], p + "self_attn.k_proj.weight": w["wk"][l],
                  p + "self_attn.v_proj.weight": w["wv"][l], p + "self_attn.o_proj.weight": w["wo"][l],
                  p + "mlp.gate_proj.weight": w["w1"][l], p + "mlp.down_proj.weight": w["w2"][l],
                  p + "mlp.up_proj.weight": w["w3"][l], p + "input_layernorm.weight": w["rms_att"][l],
                  p + "post_attention_layernorm.weight": w["rms_ffn"][l]})
    write_safetensors(os.path.join(out, "model.safetensors"), t)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": DIM,
              "intermediate_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
              "num_key_value_heads": KV_HEADS, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
              "max_position_embeddings": SEQ, "tie_word_embeddings": False, "vocab_size": vocab,
              "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "model.yml"), "w") as f:
        f.write("# A tiny random Llama (Hugging Face layout) made by scripts/make-tiny-llama-hf.py.\n")
        f.write("format: safetensors\ntask: text-generation\n")
        f.write("files: [model.safetensors, config.json, tokenizer.json]\n")
        f.write("# Float32 KV entries: reference/ holds float64 NumPy logits, checked to 2e-4.\n")
        f.write("options: {kv_cache: f32}\n")

    # The same model for llama2.c: q/k rows permuted from rotate-half pairs
    # to adjacent pairs (the inverse of llama2.c's export permutation).
    def to_interleaved(m, heads):
        hs = DIM // HEADS
        return m.reshape(heads, 2, hs // 2, DIM).transpose(0, 2, 1, 3).reshape(heads * hs, DIM)
    with open(os.path.join(out, "llama2c", "model.bin"), "wb") as f:
        f.write(struct.pack("<7i", DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, -vocab, SEQ))
        parts = [w["emb"], w["rms_att"], np.stack([to_interleaved(w["wq"][l], HEADS) for l in range(LAYERS)]),
                 np.stack([to_interleaved(w["wk"][l], KV_HEADS) for l in range(LAYERS)]), w["wv"], w["wo"],
                 w["rms_ffn"], w["w1"], w["w2"], w["w3"], w["rms_final"],
                 np.zeros((2, SEQ, DIM // HEADS // 2)), w["lm_head"]]
        for p in parts:
            f.write(np.asarray(p, dtype="<f4").tobytes())

    prompt = "the cat sat on the mat"
    ids = tok.encode(prompt).ids
    logits = forward_all(w, ids)
    np.save(os.path.join(out, "reference", "inputs", "input_ids.npy"), np.array(ids, dtype=np.int64))
    np.save(os.path.join(out, "reference", "outputs", "logits.npy"), logits.astype(np.float32))
    with open(os.path.join(out, "reference", "tolerance.yml"), "w") as f:
        f.write("# float32 engine on F16 weights against float64 NumPy on the same weights.\n")
        f.write("atol: 2.0e-4\nrtol: 1.0e-4\n")
    seq = list(ids)
    for _ in range(12):
        nxt = int(np.argmax(forward_all(w, seq)[-1]))
        if nxt == 2:
            break
        seq.append(nxt)
    with open(os.path.join(out, "reference", "greedy.txt"), "w") as f:
        f.write("prompt=%s\nprompt_ids=%s\ngreedy_ids=%s\n" % (prompt, " ".join(map(str, ids)),
                                                               " ".join(map(str, seq[len(ids):]))))
    with open(os.path.join(out, "reference", "tokenizer.jsonl"), "w") as f:
        for text in CORPUS:
            enc = tok.encode(text)
            f.write(json.dumps({"text": text, "ids": enc.ids, "decoded": tok.decode(enc.ids)}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
