#!/usr/bin/env python3
"""Converts the byte-level BPE tokenizer fixtures (tests/fixtures/tokenizers/
{gpt2-style,llama3-style}.json, made by scripts/make-tokenizer-fixtures.py)
into vocabulary-only GGUF files (metadata, no tensors), the way llama.cpp's
convert_hf_to_gguf.py writes a "gpt2" tokenizer:

    scripts/make-tokenizer-gguf.py [--dir tests/fixtures/tokenizers]

tokenizer.ggml.model "gpt2"; tokens by id (in GPT-2's byte alphabet);
token_type CONTROL for special added tokens, USER_DEFINED for other added
ones, NORMAL otherwise; merges as "a b"; tokenizer.ggml.pre "gpt2" or
"llama-bpe" (the name the converter gives Llama 3's pre-tokenizer); BOS/EOS
ids and add_bos_token as the post-processor implies (GPT-2: no BOS; Llama 3:
<|begin_of_text|>). The raw plugin's tests encode expected.json's corpus with
these and must get the tokenizers package's ids. Needs gguf (PyPI).
"""
import argparse
import json
from pathlib import Path

import gguf

ROOT = Path(__file__).resolve().parents[1]

# name → (pre-tokenizer name, BOS, EOS, add_bos)
FIXTURES = {
    "gpt2-style": ("gpt2", "<|endoftext|>", "<|endoftext|>", False),
    "llama3-style": ("llama-bpe", "<|begin_of_text|>", "<|end_of_text|>", True),
}


def convert(src, dst, pre, bos, eos, add_bos):
    tok = json.loads(src.read_text())
    vocab = dict(tok["model"]["vocab"])
    added = {t["content"]: t for t in tok["added_tokens"]}
    for t in tok["added_tokens"]:
        vocab[t["content"]] = t["id"]
    n = max(vocab.values()) + 1
    by_id = {i: p for p, i in vocab.items()}
    tokens, types = [], []
    for i in range(n):
        if i not in by_id:  # as the converter pads holes
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        p = by_id[i]
        tokens.append(p)
        if p in added:
            types.append(gguf.TokenType.CONTROL if added[p]["special"] else gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    w = gguf.GGUFWriter(str(dst), "llama")
    w.add_name(src.stem)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab[bos])
    w.add_eos_token_id(vocab[eos])
    w.add_add_bos_token(add_bos)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, default=ROOT / "tests/fixtures/tokenizers")
    args = ap.parse_args()
    for name, (pre, bos, eos, add_bos) in FIXTURES.items():
        dst = args.dir / f"{name}.gguf"
        convert(args.dir / f"{name}.json", dst, pre, bos, eos, add_bos)
        print(dst, dst.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
