#!/usr/bin/env python3
"""Reference data for the raw-weights plugin from Hugging Face `transformers`
(needs torch and transformers; run where they are installed, e.g. the GPU
machine's PyTorch environment; CPU is enough):

    scripts/make-llama-transformers-fixture.py --base tests/fixtures/models/tiny-llama-hf --out DIR

1. transformers' LlamaForCausalLM loads the NumPy-built fixture at --base
   (config.json + F16 model.safetensors) and computes float32 logits for its
   reference/inputs/input_ids.npy, and 12 greedy tokens after them:
   DIR/base-logits.npy, DIR/base-greedy.txt.
2. A second tiny random Llama is built by transformers itself (seeded; tied
   embeddings, grouped-query attention, BF16 weights), saved with
   save_pretrained: DIR/tf-config.json, DIR/tf-model.safetensors, and its
   float32 logits and greedy tokens for the same ids: DIR/tf-logits.npy,
   DIR/tf-greedy.txt. It reuses the base fixture's tokenizer (same vocab).

The files are flat so they come back from a remote $OUT; copy them into
tests/fixtures/models/ (see tests/fixtures/models/tiny-llama-tf/README).
"""
import argparse
import json
import os
import shutil
import tempfile

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

GREEDY = 12


def load(path):
    try:  # transformers 5 names it dtype
        return LlamaForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    except TypeError:
        return LlamaForCausalLM.from_pretrained(path, torch_dtype=torch.float32).eval()


def logits_and_greedy(model, ids):
    x = torch.tensor(ids[None, :], dtype=torch.long)
    with torch.no_grad():
        logits = model(x).logits[0].float().numpy()
        out = model.generate(x, max_new_tokens=GREEDY, do_sample=False, min_new_tokens=GREEDY,
                             eos_token_id=None, pad_token_id=0)
    return logits, [int(t) for t in out[0, len(ids):]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ids = np.load(os.path.join(args.base, "reference", "inputs", "input_ids.npy")).reshape(-1).astype(np.int64)

    base = load(args.base)
    logits, greedy = logits_and_greedy(base, ids)
    np.save(os.path.join(args.out, "base-logits.npy"), logits)
    with open(os.path.join(args.out, "base-greedy.txt"), "w") as f:
        f.write("prompt_ids=" + " ".join(map(str, ids)) + "\ngreedy_ids=" + " ".join(map(str, greedy)) + "\n")
    numpy_ref = np.load(os.path.join(args.base, "reference", "outputs", "logits.npy"))
    print(f"base fixture: transformers vs NumPy logits max abs diff {np.abs(logits - numpy_ref).max():.3e}")

    with open(os.path.join(args.base, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    torch.manual_seed(args.seed)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=128,
                      rms_norm_eps=1e-6, rope_theta=50000.0, tie_word_embeddings=True, bos_token_id=1,
                      eos_token_id=2, initializer_range=0.15)
    model = LlamaForCausalLM(cfg).eval().to(torch.bfloat16)
    tmp = tempfile.mkdtemp()
    model.save_pretrained(tmp, safe_serialization=True)
    shutil.copy(os.path.join(tmp, "config.json"), os.path.join(args.out, "tf-config.json"))
    shutil.copy(os.path.join(tmp, "model.safetensors"), os.path.join(args.out, "tf-model.safetensors"))
    # The reference computes in float32 on the BF16 weights, as the plugin does.
    ref = load(tmp)
    logits, greedy = logits_and_greedy(ref, ids)
    np.save(os.path.join(args.out, "tf-logits.npy"), logits)
    with open(os.path.join(args.out, "tf-greedy.txt"), "w") as f:
        f.write("prompt_ids=" + " ".join(map(str, ids)) + "\ngreedy_ids=" + " ".join(map(str, greedy)) + "\n")
    import transformers
    print(f"transformers {transformers.__version__}, torch {torch.__version__}: tf fixture greedy {greedy}")


if __name__ == "__main__":
    main()
