#!/usr/bin/env python3
"""Converts the tiny Hugging Face Llama fixture (tests/fixtures/models/
tiny-llama-hf, made by scripts/make-tiny-llama-hf.py) into GGUF files the way
llama.cpp's convert_hf_to_gguf.py lays them out, for the raw plugin's tests:

    scripts/make-tiny-llama-gguf.py [--src DIR] [--out DIR]

OUT/tiny-llama-{f32,f16,q8_0,q4_0}.gguf (default OUT: tests/fixtures/models/
tiny-llama-gguf). Each holds:
  - llama.* metadata (context 96, embedding 64, 2 blocks, FFN 128, 4 heads,
    2 KV heads, RMS eps, RoPE base and dimension count);
  - tensors token_embd, blk.N.{attn_norm, attn_q, attn_k, attn_v,
    attn_output, ffn_norm, ffn_gate, ffn_down, ffn_up}, output_norm, output;
    attn_q/attn_k rows permuted as the converter does (so RoPE rotates
    adjacent pairs); 1-D norms always F32, 2-D weights in the file's type
    (F16 copied from the F16 safetensors bit for bit; Q8_0/Q4_0 by the gguf
    package's quantizers);
  - the tokenizer as a SentencePiece ("llama") vocabulary: tokens by id with
    ▁ for spaces, token types (unknown, control, byte, normal), and scores
    that reproduce tokenizer.json's merge order (the token a merge makes
    scores -(rank + 1), others 0: SentencePiece merges the best-scoring
    pair, the tokenizers library the lowest-ranked merge);
  - BOS/EOS/UNK ids, add_bos_token, and a chat template (kept by the plugin).
OUT/reference/logits-{q8_0,q4_0}.npy: a float64 NumPy forward pass over the
reference input ids (tiny-llama-hf/reference/inputs/input_ids.npy) on each
quantized file's weights as the gguf package dequantizes them, with RoPE on
adjacent pairs as the GGUF layout needs: what the plugin must compute from
those files (the quantization error itself is measured against F16 there).
Needs numpy and gguf (PyPI: pip install gguf). The output is committed.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import gguf
from gguf.quants import quantize

ROOT = Path(__file__).resolve().parents[1]
CHAT_TEMPLATE = "{% for m in messages %}<|user|>{{ m['content'] }}<|end|>{% endfor %}"


def read_safetensors(path):
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F16": np.float16, "F32": np.float32}[e["dtype"]]
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + end], dtype=dtype).reshape(e["shape"])
    return out


def permute(w, n_head):
    # convert_hf_to_gguf's permutation: rotate-half pairs (i, i + d/2) of each
    # head become adjacent pairs (2i, 2i + 1).
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def vocabulary(tok):
    model = tok["model"]
    vocab = dict(model["vocab"])
    added = {t["content"]: t for t in tok["added_tokens"]}
    for t in tok["added_tokens"]:
        vocab[t["content"]] = t["id"]
    n = max(vocab.values()) + 1
    tokens = [None] * n
    for piece, i in vocab.items():
        tokens[i] = piece
    assert all(t is not None for t in tokens), "vocabulary ids are not 0..n-1"
    merged = {}
    for rank, m in enumerate(model["merges"]):
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        merged.setdefault(a + b, rank)
    scores, types = [], []
    for t in tokens:
        scores.append(-(merged[t] + 1.0) if t in merged else 0.0)
        if t == model.get("unk_token"):
            types.append(gguf.TokenType.UNKNOWN)
        elif t in added:
            types.append(gguf.TokenType.CONTROL if added[t]["special"] else gguf.TokenType.USER_DEFINED)
        elif len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            types.append(gguf.TokenType.BYTE)
        else:
            types.append(gguf.TokenType.NORMAL)
    return tokens, scores, types


def write(path, qtype, cfg, tensors, tok):
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llama")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_rope_dimension_count(cfg["hidden_size"] // cfg["num_attention_heads"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_vocab_size(cfg["vocab_size"])
    w.add_file_type({gguf.GGMLQuantizationType.F32: gguf.LlamaFileType.ALL_F32,
                     gguf.GGMLQuantizationType.F16: gguf.LlamaFileType.MOSTLY_F16,
                     gguf.GGMLQuantizationType.Q8_0: gguf.LlamaFileType.MOSTLY_Q8_0,
                     gguf.GGMLQuantizationType.Q4_0: gguf.LlamaFileType.MOSTLY_Q4_0}[qtype])
    tokens, scores, types = vocabulary(tok)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)
    for name, t in tensors:
        if t.ndim == 1 or qtype == gguf.GGMLQuantizationType.F32:
            w.add_tensor(name, t.astype(np.float32))
        elif qtype == gguf.GGMLQuantizationType.F16:
            w.add_tensor(name, t.astype(np.float16))
        else:
            q = quantize(t.astype(np.float32), qtype)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def rmsnorm(x, w, eps):
    return w * (x / np.sqrt(np.mean(x * x) + eps))


def rope_pairs(v, pos, heads, theta):
    # Adjacent pairs (2i, 2i + 1) of each head rotate by pos * theta^(-2i/hs).
    hs = v.size // heads
    v = v.reshape(heads, hs // 2, 2)
    f = pos / theta ** (np.arange(hs // 2) * 2.0 / hs)
    c, s = np.cos(f), np.sin(f)
    out = np.stack([v[..., 0] * c - v[..., 1] * s, v[..., 0] * s + v[..., 1] * c], axis=-1)
    return out.reshape(-1)


def forward(path, cfg, tokens):
    """Logits for each position of `tokens`, float64, from the GGUF file."""
    r = gguf.GGUFReader(str(path))
    t = {x.name: gguf.quants.dequantize(x.data, x.tensor_type).astype(np.float64).reshape(
        [int(d) for d in reversed(x.shape)]) for x in r.tensors}
    heads, kv_heads, eps, theta = (cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["rms_norm_eps"],
                                   cfg["rope_theta"])
    dim = cfg["hidden_size"]
    hs, group = dim // heads, heads // kv_heads
    layers = cfg["num_hidden_layers"]
    keys = [[] for _ in range(layers)]
    values = [[] for _ in range(layers)]
    out = []
    for pos, tok in enumerate(tokens):
        x = t["token_embd.weight"][tok]
        for l in range(layers):
            b = lambda n: t[f"blk.{l}.{n}.weight"]
            h = rmsnorm(x, b("attn_norm"), eps)
            q = rope_pairs(b("attn_q") @ h, pos, heads, theta)
            keys[l].append(rope_pairs(b("attn_k") @ h, pos, kv_heads, theta))
            values[l].append(b("attn_v") @ h)
            k, v = np.array(keys[l]), np.array(values[l])
            att = np.zeros(dim)
            for head in range(heads):
                kv = slice((head // group) * hs, (head // group + 1) * hs)
                sc = k[:, kv] @ q[head * hs:(head + 1) * hs] / np.sqrt(hs)
                p = np.exp(sc - sc.max())
                att[head * hs:(head + 1) * hs] = (p / p.sum()) @ v[:, kv]
            x = x + b("attn_output") @ att
            h = rmsnorm(x, b("ffn_norm"), eps)
            g = b("ffn_gate") @ h
            x = x + b("ffn_down") @ ((g / (1 + np.exp(-g))) * (b("ffn_up") @ h))
        out.append(t["output.weight"] @ rmsnorm(x, t["output_norm.weight"], eps))
    return np.array(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", type=Path, default=ROOT / "tests/fixtures/models/tiny-llama-hf")
    ap.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/models/tiny-llama-gguf")
    args = ap.parse_args()
    cfg = json.loads((args.src / "config.json").read_text())
    tok = json.loads((args.src / "tokenizer.json").read_text())
    st = read_safetensors(args.src / "model.safetensors")
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    tensors = [("token_embd.weight", st["model.embed_tokens.weight"])]
    for l in range(cfg["num_hidden_layers"]):
        p, q = f"model.layers.{l}.", f"blk.{l}."
        tensors += [
            (q + "attn_norm.weight", st[p + "input_layernorm.weight"]),
            (q + "attn_q.weight", permute(st[p + "self_attn.q_proj.weight"], heads)),
            (q + "attn_k.weight", permute(st[p + "self_attn.k_proj.weight"], kv_heads)),
            (q + "attn_v.weight", st[p + "self_attn.v_proj.weight"]),
            (q + "attn_output.weight", st[p + "self_attn.o_proj.weight"]),
            (q + "ffn_norm.weight", st[p + "post_attention_layernorm.weight"]),
            (q + "ffn_gate.weight", st[p + "mlp.gate_proj.weight"]),
            (q + "ffn_down.weight", st[p + "mlp.down_proj.weight"]),
            (q + "ffn_up.weight", st[p + "mlp.up_proj.weight"]),
        ]
    tensors += [("output_norm.weight", st["model.norm.weight"]), ("output.weight", st["lm_head.weight"])]
    args.out.mkdir(parents=True, exist_ok=True)
    for suffix, qtype in [("f32", gguf.GGMLQuantizationType.F32), ("f16", gguf.GGMLQuantizationType.F16),
                          ("q8_0", gguf.GGMLQuantizationType.Q8_0), ("q4_0", gguf.GGMLQuantizationType.Q4_0)]:
        path = args.out / f"tiny-llama-{suffix}.gguf"
        write(path, qtype, cfg, tensors, tok)
        print(path, path.stat().st_size, "bytes")
    tokens = [int(i) for i in np.load(args.src / "reference/inputs/input_ids.npy")]
    (args.out / "reference").mkdir(exist_ok=True)
    for suffix in ["q8_0", "q4_0"]:
        logits = forward(args.out / f"tiny-llama-{suffix}.gguf", cfg, tokens)
        np.save(args.out / "reference" / f"logits-{suffix}.npy", logits.astype(np.float32))
    # The F16 file's pass must reproduce the safetensors reference (checks the
    # permutation and this forward pass both).
    f16 = forward(args.out / "tiny-llama-f16.gguf", cfg, tokens)
    want = np.load(args.src / "reference/outputs/logits.npy")
    assert np.abs(f16 - want).max() < 1e-5, np.abs(f16 - want).max()


if __name__ == "__main__":
    main()
