#!/usr/bin/env python3
"""Trains "tiny-fortunes": a small Llama-architecture language model, from
scratch, on the English text of Debian's `fortunes` packages, and writes it
in the Hugging Face layout the raw-weights plugin loads (docs/raw-plugin.md).

    # everything (tokenizer step is run with --tokenizer-python if this
    # interpreter lacks `tokenizers`):
    /usr/bin/python3 scripts/train-tiny-llama.py all [--minutes 28] [--steps N]
    # or step by step:
    python3          scripts/train-tiny-llama.py prepare   # needs numpy, tokenizers
    /usr/bin/python3 scripts/train-tiny-llama.py train     # needs torch, numpy
    /usr/bin/python3 scripts/train-tiny-llama.py export    # needs torch, numpy; runs mrt

Requirements, and why they are split: the model is trained with Debian's
PyTorch (`apt-get install python3-torch python3-numpy`; CPU only, small),
which belongs to Debian's /usr/bin/python3; PyPI's `tokenizers` (which builds
and saves the tokenizer.json the runtime reads) is installed for another
interpreter (`python3` on PATH). `prepare` therefore imports no torch and
`train`/`export` import no tokenizers; `all` runs `prepare` in a subprocess
with --tokenizer-python when the current interpreter cannot import
tokenizers. The text comes from `apt-get install fortunes fortunes-min`.

Steps and outputs (WORK = --work, default /tmp/tiny-fortunes-work):
  prepare: reads /usr/share/games/fortunes/* (plain text, `%` lines between
      fortunes; .dat/.u8 index files, off/ and non-English files skipped),
      holds out every --val-every'th fortune for validation, trains a
      SentencePiece-style BPE with byte fallback (<unk> <s> </s>, <0x00>..
      <0xFF>, merges; Llama-2 normaliser: prepend ▁, spaces -> ▁; no
      pre-tokenizer) and writes WORK/tokenizer.json, WORK/{train,val}_ids.npy
      and _offsets.npy (each fortune as <s> ... </s>), WORK/prepare.json
      (per-file counts, licence notes, unigram entropy) and
      WORK/prompts.json (ids of the sample prompts).
  train: a Llama (RMSNorm, RoPE rotate-half, SwiGLU, grouped-query attention,
      tied embeddings) with AdamW and a warmup + cosine schedule, one CPU
      thread. --minutes fixes the step count from the measured speed of the
      first steps, so the cosine schedule ends on time. WORK/ckpt.pt (latest,
      resumable with --resume), WORK/best.pt (lowest validation loss),
      WORK/train_log.jsonl.
  export: OUT (--out, default models/tiny-fortunes): config.json,
      model.safetensors (F16), tokenizer.json, model.yml, MODEL_CARD.md. It
      then checks the runtime (--mrt, default build/vnode/mrt): `mrt run` on
      a prompt's input_ids must give PyTorch's logits (float32 on the same
      F16 weights; max abs difference recorded), `mrt generate` greedy must
      give PyTorch's greedy text, and the card's sample generations are
      `mrt generate` outputs, printed with their exact commands.
"""
import argparse
import collections
import importlib.util
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_f16 import write_safetensors  # noqa: E402  scripts/safetensors_f16.py

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = "scripts/train-tiny-llama.py"
FORTUNE_DIR = "/usr/share/games/fortunes"
COPYRIGHT = "/usr/share/doc/fortunes/copyright"
SP = "\u2581"  # SentencePiece's ▁, which stands for a space
SPECIALS = ["<unk>", "<s>", "</s>"]
UNK, BOS, EOS = 0, 1, 2
# Not English prose: drawings, and untranslated Latin/German quotes.
DEFAULT_EXCLUDE = ["ascii-art", "translate-me"]
PROMPTS = ["The meaning of life", "A computer", "Love is", "Q: Why did the chicken cross the road?",
           "Never trust a man who"]
# What the upstream list (cookie-files, shipped in /usr/share/doc/fortunes)
# and the Debian copyright file say about each source; "mixed" means the
# quotes come from many people, attributed or not, and are not individually
# licensed: see the card.
SOURCE_NOTES = {
    "cookie": "Karl Lehenbauer's fortune postings to alt.sources (copyright file)",
    "linuxcookie": "the Linux cookie collection from ftp.icce.rug.nl (cookie-files)",
    "zippy": "quotes from the comic strip Zippy the Pinhead (Bill Griffith), still in copyright",
    "startrek": "quotes from the original Star Trek series, still in copyright",
    "pratchett": "a Terry Pratchett quote, still in copyright",
    "songs-poems": "songs and poems, some traditional or public domain, some lyrics still in copyright",
    "humorists": "stand-up comedians and columnists (e.g. Steven Wright, Dave Barry), mostly in copyright",
    "debian": "quotes from Debian developers and mailing lists",
    "knghtbrd": "quotes collected by Joseph Carter (Knghtbrd) from IRC and mail",
    "literature": "mostly classic authors, largely public domain by age",
    "tao": "The Tao of Programming (Geoffrey James, 1987) and similar, in copyright",
}


# ---------------------------------------------------------------- corpus --

def clean_fortune(text):
    """One fortune as plain text: overstrikes resolved, controls dropped."""
    # "____\b\b\b\bBODY" is a typewriter overstrike: keep what is printed last.
    while "\b" in text:
        new = re.sub("[^\b]\b", "", text)
        if new == text:
            new = text.replace("\b", "")
        text = new
    text = "".join(c for c in text if c in "\n\t" or ord(c) >= 32 and ord(c) != 127)
    text = fix_mojibake(text)
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


def fix_mojibake(text):
    """A few fortunes are UTF-8 read as Latin-1 and saved again ("donâ\x80\x99t",
    twice over in `law`): undo it while the text is Latin-1-encodable bytes
    that decode as UTF-8. Genuine Latin-1 text ("über") does not decode, so
    is kept."""
    while any(ord(c) > 127 for c in text):
        try:
            fixed = text.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            break
        text = fixed
    return text


def read_fortunes(directory, exclude):
    """{file name: [fortune, ...]} for the plain-text fortune files."""
    sources = {}
    for path in sorted(glob.glob(os.path.join(directory, "*"))):
        name = os.path.basename(path)
        # .dat is strfile's binary index, .u8 a symlink to the same text;
        # off/ (offensive, rot13) is not installed by Debian 12 but skipped anyway.
        if os.path.isdir(path) or os.path.islink(path) or "." in name or name in exclude:
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            raw = f.read()
        items = [clean_fortune(t) for t in re.split(r"^%[ \t]*$", raw, flags=re.M)]
        sources[name] = [t for t in items if t.strip()]
    if not sources:
        sys.exit("no fortune files under %s: apt-get install -y fortunes fortunes-min" % directory)
    return sources


def split_corpus(sources, val_every):
    """Every val_every'th fortune of each file is held out, so both splits
    cover every file; the rest trains."""
    train, val = [], []
    for name in sorted(sources):
        for i, t in enumerate(sources[name]):
            (val if i % val_every == val_every - 1 else train).append(t)
    return train, val


# ------------------------------------------------------------- tokenizer --

def train_tokenizer(texts, vocab_size, limit_alphabet, max_token_length):
    """A Llama-2 style tokenizer: BPE over characters with byte fallback.

    The `tokenizers` trainer splits words at ▁ (Metaspace) so that merges
    never cross a space; the saved tokenizer has no pre-tokenizer (like
    Llama-2's and like our C++ loader, which merges the whole normalised
    text). Since no merge has a right-hand side starting with ▁, merging
    the unsplit text gives the same pieces, and prepare() checks that on
    every fortune. The 256 <0xNN> byte tokens must be ordinary vocabulary
    (special tokens are dropped when decoding), so the vocabulary is rebuilt
    after training: specials, bytes, then the learned pieces in order.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    normalizer = normalizers.Sequence([normalizers.Prepend(SP), normalizers.Replace(" ", SP)])
    learner = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    learner.normalizer = normalizer
    learner.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SP, prepend_scheme="never", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 256, special_tokens=SPECIALS, limit_alphabet=limit_alphabet,
                                  initial_alphabet=alphabet(texts, limit_alphabet), max_token_length=max_token_length,
                                  show_progress=False)
    learner.train_from_iterator(texts, trainer)
    learned = json.loads(learner.to_str())["model"]

    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for piece, _ in sorted(learned["vocab"].items(), key=lambda kv: kv[1]):
        vocab.setdefault(piece, len(vocab))
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in learned["merges"]]

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizer
    tok.decoder = decoders.Sequence([decoders.Replace(SP, " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", BOS)])
    tok.add_special_tokens(SPECIALS)
    return tok, learner


def alphabet(texts, size):
    """The `size` most frequent characters of the normalised text, ties by
    code point. Given to the trainer as its initial alphabet: its own cut
    at limit_alphabet breaks ties between equally rare characters in hash
    order, so two runs could keep different characters (and shift ids)."""
    counts = collections.Counter()
    for t in texts:
        counts.update(SP + t.replace(" ", SP))
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]]


def encode_all(tok, texts):
    """Token ids of each text (<s> from the post-processor, </s> appended)."""
    return [enc.ids + [EOS] for enc in tok.encode_batch(texts)]


def check_tokenizer(tok, learner, texts):
    """The saved (unsplit) tokenizer must agree with the split one it was
    trained as, and decode back to the text, or the runtime would see other
    ids than training did."""
    a = [e.ids[1:] for e in tok.encode_batch(texts)]
    b = [e.tokens for e in learner.encode_batch(texts)]
    # The learner has no byte tokens: it says <unk> once per character the
    # saved tokenizer spells in bytes.
    bad = sum(1 for x, y in zip(a, b) if pieces_with_unk(tok, x) != y)
    if bad:
        sys.exit("tokenizer check: %d of %d texts tokenize differently without the pre-tokenizer" % (bad, len(texts)))
    wrong = sum(1 for t, ids in zip(texts, a) if tok.decode(ids) != t)
    if wrong:
        sys.exit("tokenizer check: %d of %d texts do not decode back to themselves" % (wrong, len(texts)))


def pieces_with_unk(tok, ids):
    """Pieces of ids, each run of byte tokens that spells one UTF-8
    character replaced by one <unk>."""
    out, pending = [], 0
    for i in ids:
        piece = tok.id_to_token(i)
        if 3 <= i < 259:
            b = i - 3
            if pending == 0:  # a lead byte says how many bytes its character has
                pending = 1 if b < 0x80 else 2 if b >> 5 == 6 else 3 if b >> 4 == 14 else 4
                out.append("<unk>")
            pending -= 1
        else:
            out.append(piece)
    return out


def save_split(work, name, seqs):
    """A split as one flat int16 id array plus offsets (fortune i is
    ids[off[i]:off[i+1]])."""
    off = np.cumsum([0] + [len(s) for s in seqs]).astype(np.int64)
    np.save(os.path.join(work, name + "_ids.npy"), np.concatenate([np.array(s, dtype=np.int16) for s in seqs]))
    np.save(os.path.join(work, name + "_offsets.npy"), off)


def unigram_entropy(train_seqs, val_seqs, vocab_size):
    """Cross-entropy (nats/token) of a unigram model fitted on train (add-one
    smoothing) on the validation tokens: the bar a language model must beat.
    Targets <s> are left out, as in training."""
    counts = np.bincount(np.concatenate([np.array(s[1:]) for s in train_seqs]), minlength=vocab_size) + 1.0
    p = counts / counts.sum()
    val = np.concatenate([np.array(s[1:]) for s in val_seqs])
    return float(-np.log(p[val]).mean())


def cmd_prepare(args):
    import tokenizers  # fails here, before any work, where it is missing

    os.makedirs(args.work, exist_ok=True)
    sources = read_fortunes(args.fortunes, set(args.exclude))
    train, val = split_corpus(sources, args.val_every)
    tok, learner = train_tokenizer(train, args.vocab_size, args.limit_alphabet, args.max_token_length)
    check_tokenizer(tok, learner, train + val)
    tok.save(os.path.join(args.work, "tokenizer.json"))
    train_ids, val_ids = encode_all(tok, train), encode_all(tok, val)
    save_split(args.work, "train", train_ids)
    save_split(args.work, "val", val_ids)
    vocab_size = tok.get_vocab_size()
    n_bytes = sum(1 for s in train_ids + val_ids for i in s if 3 <= i < 259)
    info = {
        "fortune_dir": args.fortunes,
        "package_versions": package_versions(["fortunes", "fortunes-min"]),
        "excluded": sorted(args.exclude),
        "files": {n: {"fortunes": len(v), "chars": sum(len(t) for t in v)} for n, v in sources.items()},
        "train_fortunes": len(train), "val_fortunes": len(val),
        "train_chars": sum(len(t) for t in train), "val_chars": sum(len(t) for t in val),
        "train_tokens": sum(len(s) for s in train_ids), "val_tokens": sum(len(s) for s in val_ids),
        "vocab_size": vocab_size, "merges": len(json.loads(tok.to_str())["model"]["merges"]),
        "byte_fallback_tokens": n_bytes,
        "unigram_val_nats": unigram_entropy(train_ids, val_ids, vocab_size),
        "val_every": args.val_every, "tokenizers_version": tokenizers.__version__,
    }
    with open(os.path.join(args.work, "prepare.json"), "w") as f:
        json.dump(info, f, indent=1)
    with open(os.path.join(args.work, "prompts.json"), "w") as f:
        json.dump([{"prompt": p, "ids": tok.encode(p).ids} for p in PROMPTS], f, indent=1)
    print("prepare: %d train / %d val fortunes, %d / %d tokens, vocab %d, unigram val entropy %.3f nats" % (
        info["train_fortunes"], info["val_fortunes"], info["train_tokens"], info["val_tokens"], vocab_size,
        info["unigram_val_nats"]))


def package_versions(names):
    """Debian package versions, for the card (empty where dpkg says nothing)."""
    out = {}
    for n in names:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", n], capture_output=True, text=True)
        out[n] = r.stdout.strip() if r.returncode == 0 else ""
    return out


# ----------------------------------------------------------------- model --

# Every message is one fortune, the only shape the model knows; the reply is
# the next one (MODEL_CARD.md, "Chat").
CHAT_TEMPLATE = ("{% for message in messages %}{{ bos_token + message['content'] + eos_token }}{% endfor %}"
                 "{% if add_generation_prompt %}{{ bos_token }}{% endif %}")


def write_tokenizer_config(out):
    """tokenizer_config.json as transformers saves it, with the chat template."""
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "model_max_length": 256,
        "chat_template": CHAT_TEMPLATE,
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


def model_config(args, vocab_size):
    """The Hugging Face config.json fields our loader and transformers read."""
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": args.dim,
            "intermediate_size": args.hidden, "num_hidden_layers": args.layers, "num_attention_heads": args.heads,
            "num_key_value_heads": args.kv_heads, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "max_position_embeddings": args.seq_len, "tie_word_embeddings": True, "vocab_size": vocab_size,
            "bos_token_id": BOS, "eos_token_id": EOS, "hidden_act": "silu", "attention_bias": False,
            "torch_dtype": "float16"}


def build_model(cfg):
    """A plain PyTorch Llama whose parameter names are transformers' (so
    export is a rename-free dump) and whose arithmetic is the runtime's:
    RMSNorm w * x / sqrt(mean(x^2) + eps), rotate-half RoPE, SwiGLU."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    dim, heads, kv_heads = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hs, eps = dim // heads, cfg["rms_norm_eps"]

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj = nn.Linear(dim, heads * hs, bias=False)
            self.k_proj = nn.Linear(dim, kv_heads * hs, bias=False)
            self.v_proj = nn.Linear(dim, kv_heads * hs, bias=False)
            self.o_proj = nn.Linear(heads * hs, dim, bias=False)

        def forward(self, x, cos, sin, mask):
            b, t, _ = x.shape
            q = self.q_proj(x).view(b, t, heads, hs).transpose(1, 2)
            k = self.k_proj(x).view(b, t, kv_heads, hs).transpose(1, 2)
            v = self.v_proj(x).view(b, t, kv_heads, hs).transpose(1, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            if kv_heads != heads:  # grouped-query attention: query head h reads kv head h // group
                k = k.repeat_interleave(heads // kv_heads, dim=1)
                v = v.repeat_interleave(heads // kv_heads, dim=1)
            att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hs)) + mask[:t, :t]
            y = att.softmax(-1) @ v
            return self.o_proj(y.transpose(1, 2).reshape(b, t, dim))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_proj = nn.Linear(dim, cfg["intermediate_size"], bias=False)
            self.up_proj = nn.Linear(dim, cfg["intermediate_size"], bias=False)
            self.down_proj = nn.Linear(cfg["intermediate_size"], dim, bias=False)

        def forward(self, x):
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.self_attn, self.mlp = Attention(), MLP()
            self.input_layernorm, self.post_attention_layernorm = RMSNorm(), RMSNorm()

        def forward(self, x, cos, sin, mask):
            x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
            return x + self.mlp(self.post_attention_layernorm(x))

    class Body(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(cfg["vocab_size"], dim)
            self.layers = nn.ModuleList(Layer() for _ in range(cfg["num_hidden_layers"]))
            self.norm = RMSNorm()

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = Body()
            n = cfg["max_position_embeddings"]
            inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
            ang = torch.outer(torch.arange(n, dtype=torch.float64), inv)
            ang = torch.cat([ang, ang], dim=-1)
            self.register_buffer("cos", ang.cos().float(), persistent=False)
            self.register_buffer("sin", ang.sin().float(), persistent=False)
            self.register_buffer("mask", torch.full((n, n), float("-inf")).triu(1), persistent=False)
            self.apply(self._init)
            # GPT-2's scaled init for the projections that write into the residual stream.
            for name, p in self.named_parameters():
                if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                    nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg["num_hidden_layers"]))

        @staticmethod
        def _init(m):
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

        def forward(self, ids):
            t = ids.shape[1]
            x = self.model.embed_tokens(ids)
            cos, sin = self.cos[:t], self.sin[:t]
            for layer in self.model.layers:
                x = layer(x, cos, sin, self.mask)
            # Tied embeddings: the classifier is the embedding matrix.
            return F.linear(self.model.norm(x), self.model.embed_tokens.weight)

    def rotate_half(x):
        a, b = x[..., : hs // 2], x[..., hs // 2:]
        return torch.cat([-b, a], dim=-1)

    return Llama()


def count_params(model):
    return sum(p.numel() for p in model.parameters())


# -------------------------------------------------------------- training --

def load_split(work, name):
    ids = np.load(os.path.join(work, name + "_ids.npy")).astype(np.int64)
    off = np.load(os.path.join(work, name + "_offsets.npy"))
    return ids, off


def train_batch(rng, ids, off, batch, seq_len):
    """Each row starts at a random fortune's <s> and continues with randomly
    chosen whole fortunes: position 0 is always <s>, as when the runtime
    generates, and fortunes meet in a new order every time."""
    n = len(off) - 1
    rows = np.empty((batch, seq_len + 1), dtype=np.int64)
    for r in range(batch):
        parts, have = [], 0
        while have < seq_len + 1:
            i = rng.integers(n)
            parts.append(ids[off[i]:off[i + 1]])
            have += len(parts[-1])
        rows[r] = np.concatenate(parts)[: seq_len + 1]
    return rows


def val_batches(ids, seq_len, batch):
    """The validation fortunes in order, cut into back-to-back windows, every
    token predicted once."""
    n = (len(ids) - 1) // seq_len
    rows = np.stack([ids[i * seq_len: i * seq_len + seq_len + 1] for i in range(n)])
    return [rows[i:i + batch] for i in range(0, n, batch)]


def loss_of(model, rows):
    """Mean next-token cross-entropy; targets <s> (always right after </s>)
    are ignored, as free points."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(rows[:, :-1])
    y = torch.from_numpy(rows[:, 1:]).clone()
    y[y == BOS] = -100
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100, reduction="sum"), \
        int((y != -100).sum())


def evaluate(model, batches):
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for rows in batches:
            s, n = loss_of(model, rows)
            total, count = total + float(s), count + n
    model.train()
    return total / count


def lr_at(step, total, peak, warmup, floor):
    """Linear warmup, then cosine decay to floor * peak at the last step."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))


def make_optimizer(model, lr, weight_decay):
    """AdamW; no weight decay on the norm gains."""
    import torch

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    plain = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.95), eps=1e-8)


def save_checkpoint(path, model, opt, state):
    import torch

    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, tmp)
    os.replace(tmp, path)  # a checkpoint is never half-written, even if training is killed


def cmd_train(args):
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    prep = json.load(open(os.path.join(args.work, "prepare.json")))
    cfg = model_config(args, prep["vocab_size"])
    model = build_model(cfg)
    opt = make_optimizer(model, args.lr, args.weight_decay)
    tr_ids, tr_off = load_split(args.work, "train")
    va_ids, _ = load_split(args.work, "val")
    vbatches = val_batches(va_ids, args.seq_len, args.batch)
    rng = np.random.default_rng(args.seed)
    ckpt_path, best_path = os.path.join(args.work, "ckpt.pt"), os.path.join(args.work, "best.pt")
    state = {"step": 0, "total_steps": args.steps, "elapsed_s": 0.0, "best_val": float("inf"), "config": cfg,
             "args": vars(args), "torch_version": torch.__version__, "tokens_seen": 0, "blas": blas_library(),
             "nice": os.nice(0), "cpu": cpu_name(), "cpus": os.cpu_count()}
    if "openblas" not in state["blas"] and "mkl" not in state["blas"]:
        print("warning: torch uses %s; with Debian's reference BLAS training is ~5x slower. Install "
              "libopenblas0-serial, or point LD_LIBRARY_PATH at its openblas-serial directory" % state["blas"])
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        # Resuming with the same seed would replay batches: advance the stream.
        rng = np.random.default_rng([args.seed, state["step"]])
        print("resumed at step %d" % state["step"])
    log = open(os.path.join(args.work, "train_log.jsonl"), "a" if args.resume else "w")
    print("params %d (%.2f M), train tokens %d, val windows %d" % (
        count_params(model), count_params(model) / 1e6, prep["train_tokens"], sum(len(b) for b in vbatches)))

    t0 = time.time() - state["elapsed_s"]
    deadline = t0 + args.max_minutes * 60 if args.max_minutes else None
    window_loss, window_n = 0.0, 0
    while state["step"] < state["total_steps"]:
        step = state["step"]
        lr = lr_at(step, state["total_steps"], args.lr, args.warmup, args.lr_floor)
        for g in opt.param_groups:
            g["lr"] = lr
        rows = train_batch(rng, tr_ids, tr_off, args.batch, args.seq_len)
        s, n = loss_of(model, rows)
        loss = s / n
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        state["step"] += 1
        state["tokens_seen"] += int(rows[:, 1:].size)
        window_loss, window_n = window_loss + float(loss), window_n + 1
        state["elapsed_s"] = time.time() - t0

        # --minutes: after the calibration steps, fix the total so the
        # cosine schedule ends when the time budget does (eval time included).
        if args.minutes and step + 1 == args.calibrate:
            per_step = state["elapsed_s"] / args.calibrate * 1.07
            state["total_steps"] = max(args.calibrate + 1, int(args.minutes * 60 / per_step))
            print("calibrated: %.2f s/step -> %d steps" % (per_step / 1.07, state["total_steps"]))

        last = state["step"] == state["total_steps"]
        if state["step"] % args.log_every == 0 or last:
            print("step %5d/%d  loss %.4f  lr %.2e  %.0f s" % (
                state["step"], state["total_steps"], window_loss / window_n, lr, state["elapsed_s"]), flush=True)
            window_loss, window_n = 0.0, 0
        out_of_time = deadline is not None and time.time() > deadline
        if state["step"] % args.eval_every == 0 or last or out_of_time:
            val = evaluate(model, vbatches)
            rec = {"step": state["step"], "train_loss": float(loss), "val_loss": val, "lr": lr,
                   "elapsed_s": time.time() - t0, "tokens_seen": state["tokens_seen"]}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print("  val loss %.4f (ppl %.2f)" % (val, math.exp(val)), flush=True)
            if val < state["best_val"]:
                state["best_val"] = val
                state["best_step"] = state["step"]
                save_checkpoint(best_path, model, opt, state)
            save_checkpoint(ckpt_path, model, opt, state)
        if out_of_time:
            print("stopping: --max-minutes reached at step %d" % state["step"])
            break
    state["elapsed_s"] = time.time() - t0
    # Final train loss over a fixed sample of training windows, measured the
    # same way as validation, for the card.
    frng = np.random.default_rng(12345)
    state["final_train_loss"] = evaluate(model, [train_batch(frng, tr_ids, tr_off, args.batch, args.seq_len)
                                                 for _ in range(max(1, len(vbatches)))])
    state["final_val_loss"] = evaluate(model, vbatches)
    save_checkpoint(ckpt_path, model, opt, state)
    print("done: %d steps in %.0f s; train %.4f, val %.4f" % (state["step"], state["elapsed_s"],
                                                              state["final_train_loss"], state["final_val_loss"]))


# ---------------------------------------------------------------- export --

class PieceDecoder:
    """Decodes ids with tokenizer.json's vocabulary the way its decoder does
    (▁ -> space, <0xNN> -> byte, specials dropped, one leading space
    stripped), so export needs no `tokenizers`."""

    def __init__(self, path):
        j = json.load(open(path, encoding="utf-8"))
        self.pieces = {i: p for p, i in j["model"]["vocab"].items()}
        self.special = {t["id"] for t in j["added_tokens"] if t.get("special")}

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            if i in self.special:
                continue
            p = self.pieces[i]
            m = re.fullmatch(r"<0x([0-9A-F]{2})>", p)
            out += bytes([int(m.group(1), 16)]) if m else p.replace(SP, " ").encode()
        s = out.decode("utf-8", errors="replace")
        return s[1:] if s.startswith(" ") else s


def greedy(model, ids, n, seq_len):
    """PyTorch greedy continuation (no cache: the model is small), stopping
    at </s> or <s> as the runtime does."""
    import torch

    seq = list(ids)
    with torch.no_grad():
        for _ in range(n):
            if len(seq) >= seq_len:
                break
            nxt = int(model(torch.tensor([seq]))[0, -1].argmax())
            if nxt in (BOS, EOS):
                break
            seq.append(nxt)
    return seq[len(ids):]


def run_mrt(mrt, *argv):
    r = subprocess.run([mrt] + list(argv), capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("%s %s failed (%d): %s" % (mrt, " ".join(argv), r.returncode, r.stderr.strip()))
    return r.stdout


def check_runtime(args, model, out, prompts, decoder, cfg):
    """Logits and greedy text from `mrt` against PyTorch on the exported F16
    weights; returns what the card reports."""
    import torch

    res = {}
    ids = prompts[0]["ids"]
    tmp = os.path.join(args.work, "mrt-check")
    os.makedirs(tmp, exist_ok=True)
    np.save(os.path.join(tmp, "input_ids.npy"), np.array(ids, dtype=np.int64))
    run_mrt(args.mrt, "run", out, "-i", "input_ids=" + os.path.join(tmp, "input_ids.npy"), "-o", tmp,
            "--threads", "1")
    mrt_logits = np.load(os.path.join(tmp, "logits.npy"))
    with torch.no_grad():
        ref = model(torch.tensor([ids]))[0].numpy()
    res["logits_prompt"] = prompts[0]["prompt"]
    res["logits_shape"] = list(mrt_logits.shape)
    res["logits_max_abs_diff"] = float(np.abs(mrt_logits - ref).max())
    res["logits_max_abs"] = float(np.abs(ref).max())
    res["argmax_agree"] = bool((mrt_logits.argmax(-1) == ref.argmax(-1)).all())
    # Greedy: the runtime's text must be PyTorch's (this also checks the C++
    # tokenizer gives the prompt the ids `tokenizers` gave it).
    res["greedy"] = []
    for p in prompts:
        gen = greedy(model, p["ids"], args.sample_tokens, cfg["max_position_embeddings"])
        # The continuation as the runtime streams it: decoded after the
        # prompt, so its leading space is kept.
        full, prompt = decoder.decode(p["ids"] + gen), decoder.decode(p["ids"])
        torch_text = full[len(prompt):] if full.startswith(prompt) else full
        mrt_text = run_mrt(args.mrt, "generate", out, "--prompt", p["prompt"], "--max-tokens",
                           str(args.sample_tokens), "--temperature", "0", "--threads", "1")
        mrt_text = mrt_text[:-1] if mrt_text.endswith("\n") else mrt_text  # the CLI ends with a newline
        res["greedy"].append({"prompt": p["prompt"], "torch": torch_text, "mrt": mrt_text,
                              "agree": mrt_text == torch_text})
    return res


def sample_generations(args, out):
    """Seeded samples from the runtime, with the command that reproduces each."""
    samples = []
    for p in PROMPTS:
        for seed in (1, 2):
            argv = ["generate", os.path.relpath(out, REPO), "--prompt", p, "--max-tokens", str(args.sample_tokens),
                    "--seed", str(seed), "--temperature", "0.8"]
            text = run_mrt(args.mrt, *argv)
            samples.append({"cmd": "build/vnode/mrt " + " ".join(shell_quote(a) for a in argv), "text": text})
    return samples


def shell_quote(s):
    return s if re.fullmatch(r"[\w./:=-]+", s) else "'" + s.replace("'", "'\\''") + "'"


def cmd_export(args):
    import torch

    torch.set_num_threads(args.threads)
    prep = json.load(open(os.path.join(args.work, "prepare.json")))
    prompts = json.load(open(os.path.join(args.work, "prompts.json")))
    ck = torch.load(os.path.join(args.work, "best.pt" if args.use_best else "ckpt.pt"))
    last = torch.load(os.path.join(args.work, "ckpt.pt"))["state"]
    state, cfg = ck["state"], ck["state"]["config"]
    model = build_model(cfg)
    model.load_state_dict(ck["model"])
    model.eval()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    # Weights rounded to F16 once; PyTorch checks below use the rounded values.
    sd = {k: v.detach().numpy().astype(np.float16) for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(out, "model.safetensors"), dict(sorted(sd.items())))
    model.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in sd.items()})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    shutil.copyfile(os.path.join(args.work, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    write_tokenizer_config(out)
    with open(os.path.join(out, "model.yml"), "w") as f:
        f.write("# tiny-fortunes: a small Llama trained from scratch on Debian's fortunes\n"
                "# (see MODEL_CARD.md); made by %s.\n" % SCRIPT)
        f.write("format: safetensors\ntask: text-generation\n")
        f.write("files: [model.safetensors, config.json, tokenizer.json, tokenizer_config.json]\n")

    # The final losses are re-measured on the exported F16 weights.
    batch = ck["state"]["args"]["batch"]
    va_ids, _ = load_split(args.work, "val")
    tr_ids, tr_off = load_split(args.work, "train")
    vb = val_batches(va_ids, cfg["max_position_embeddings"], batch)
    frng = np.random.default_rng(12345)  # the same rows as train's final measurement
    tb = [train_batch(frng, tr_ids, tr_off, batch, cfg["max_position_embeddings"]) for _ in vb]
    losses = {"val": evaluate(model, vb), "train": evaluate(model, tb), "train_rows": sum(len(b) for b in tb)}
    runtime = samples = None
    if args.mrt and os.path.exists(args.mrt):
        runtime = check_runtime(args, model, out, prompts, PieceDecoder(os.path.join(out, "tokenizer.json")), cfg)
        samples = sample_generations(args, out)
        print(json.dumps(runtime, indent=1))
    else:
        print("no runtime at %s: card without runtime checks and samples" % args.mrt)
    log = [json.loads(l) for l in open(os.path.join(args.work, "train_log.jsonl"))]
    card = model_card(cfg, prep, state, last, losses, runtime, samples, log, count_params(model),
                      os.path.getsize(os.path.join(out, "model.safetensors")), args)
    with open(os.path.join(out, "MODEL_CARD.md"), "w") as f:
        f.write(card)
    print("wrote %s (val loss %.4f, ppl %.2f)" % (out, losses["val"], math.exp(losses["val"])))


def licence_table(prep):
    rows = ["| file | fortunes | characters | provenance |", "| --- | ---: | ---: | --- |"]
    for name, v in sorted(prep["files"].items()):
        rows.append("| %s | %d | %d | %s |" % (name, v["fortunes"], v["chars"],
                                                SOURCE_NOTES.get(name, "mixed: anonymous and attributed quotations")))
    return "\n".join(rows)


def model_card(cfg, prep, state, last, losses, runtime, samples, log, params, size, args):
    a = state["args"]
    unigram = prep["unigram_val_nats"]
    chars_per_token = prep["val_chars"] / prep["val_tokens"]
    bpc = losses["val"] / math.log(2) / chars_per_token
    curve = "\n".join("| %d | %.0f | %.4f | %.4f | %.2f |" % (r["step"], r["elapsed_s"], r["train_loss"], r["val_loss"],
                                                             math.exp(r["val_loss"])) for r in log)
    hw = cpu_name()
    L = []
    L.append("# tiny-fortunes\n")
    L.append("A %.1f M-parameter Llama-architecture language model trained from scratch, on one CPU core, on the "
             "English text of Debian's `fortunes` and `fortunes-min` packages (the fortune cookie collection of BSD "
             "`fortune`). It writes fortune-shaped English: mostly real words, common phrases, punctuation, line "
             "breaks and `-- Attribution` lines, mixed with invented words, and no sustained sense. It exists so "
             "the runtime ships a real, trained, small text-generation model (tests, demos, benchmarks) whose "
             "every byte can be rebuilt from Debian packages with `%s`.\n" % (params / 1e6, SCRIPT))
    L.append("Files: `config.json` (LlamaForCausalLM), `model.safetensors` (F16, %.2f MB), `tokenizer.json`, "
             "`tokenizer_config.json` (its chat template), `model.yml`.\n" % (size / 1e6))
    L.append("## Chat\n")
    L.append("The model never saw a conversation, so its chat template is honest about what it does: every message "
             "becomes one fortune (`<s> text </s>`, the only shape it was trained on) and the reply is the next "
             "fortune. `mrt chat tiny-fortunes` thus answers each line with a fortune-shaped text, which is enough "
             "to exercise chat requests, the OpenAI-compatible endpoint and the chat CLI end to end.\n")
    L.append("## Architecture\n")
    L.append("| | |\n| --- | --- |\n| layers | %d |\n| hidden size | %d |\n| MLP (SwiGLU) size | %d |\n"
             "| attention heads / KV heads | %d / %d (head size %d) |\n| context | %d tokens |\n"
             "| position encoding | RoPE (rotate-half), theta %g |\n| norm | RMSNorm, eps %g |\n"
             "| embeddings | tied (the classifier is the embedding matrix) |\n| vocabulary | %d |\n"
             "| parameters | %d |\n" % (
                 cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"],
                 cfg["num_key_value_heads"], cfg["hidden_size"] // cfg["num_attention_heads"],
                 cfg["max_position_embeddings"], cfg["rope_theta"], cfg["rms_norm_eps"], cfg["vocab_size"], params))
    L.append("## Tokenizer\n")
    L.append("SentencePiece-style BPE with byte fallback, Llama-2 conventions, trained with PyPI `tokenizers` %s on "
             "the training split: ids 0-2 `<unk>` `<s>` `</s>`, 3-258 the byte tokens `<0x00>`..`<0xFF>`, then %d "
             "learned pieces (%d merges over an alphabet of the %d most frequent characters; pieces at most %d "
             "characters). Normaliser: prepend `▁`, replace spaces with `▁`; no pre-tokenizer (merges never cross "
             "a space, checked on every fortune); `<s>` is prepended; the decoder maps `▁` back to spaces and byte "
             "tokens to bytes. %.2f characters per token on the validation text; %d byte-fallback tokens in the "
             "whole corpus. Each fortune is one sequence `<s> text </s>`, so generation ends when a fortune does.\n" % (
                 prep["tokenizers_version"], cfg["vocab_size"] - 259, prep["merges"], a["limit_alphabet"],
                 a["max_token_length"], chars_per_token, prep["byte_fallback_tokens"]))
    L.append("## Data\n")
    L.append("`%s/*` from the Debian 12 packages fortunes %s and fortunes-min %s: %d files, %d fortunes, "
             "%.2f M characters. Skipped: strfile's `.dat` indexes and the `.u8` links, the offensive `off/` "
             "directory (not in Debian 12 anyway), and %s (not English prose). Cleaning: typewriter overstrikes "
             "(`x\\b`) resolved to what prints last, other control characters dropped, trailing blanks removed. "
             "Every %dth fortune of each file is held out for validation: %d train / %d validation fortunes, "
             "%d / %d tokens.\n" % (
                 FORTUNE_DIR, prep["package_versions"].get("fortunes", "?"),
                 prep["package_versions"].get("fortunes-min", "?"), len(prep["files"]),
                 sum(v["fortunes"] for v in prep["files"].values()),
                 sum(v["chars"] for v in prep["files"].values()) / 1e6,
                 ", ".join("`%s`" % e for e in prep["excluded"]), prep["val_every"], prep["train_fortunes"],
                 prep["val_fortunes"], prep["train_tokens"], prep["val_tokens"]))
    L.append("### Licence\n")
    L.append("Debian distributes these files in `main` under the licence in `%s`: the BSD licence of the "
             "University of California for fortune-mod (Ken Arnold's BSD fortune, Linux port by Florian La Roche, "
             "files reorganised by Amy A. Lewis), which covers the collection as packaged. The fortunes themselves "
             "are quotations gathered over decades from Usenet, mail and print: many anonymous or folklore, many "
             "attributed (Mark Twain, Oscar Wilde, ... are public domain by age), and some from works still in "
             "copyright (comic strips, TV series, song lyrics, living humorists). No per-quote licence exists, so "
             "the text is freely redistributable as Debian ships it, but it is **not all public domain**. The "
             "weights are a statistical summary that can reproduce short famous quotes verbatim. Per file:\n"
             % COPYRIGHT)
    L.append(licence_table(prep) + "\n")
    L.append("## Training\n")
    L.append("PyTorch %s (Debian `python3-torch`, BLAS `%s`), float32, %d thread(s) at nice %d, on one core of an "
             "%s (%d CPUs, shared with other work, so timings are rough). "
             "AdamW (betas 0.9/0.95, weight decay %g on matrices, grad-norm clip %g), peak learning rate %g, "
             "%d warmup steps, cosine decay to %g x peak; batch %d sequences x %d tokens (%d tokens/step); "
             "init N(0, 0.02), residual projections scaled by 1/sqrt(2 x layers); no dropout; seed %d. "
             "Each training row starts at a random fortune's `<s>` and continues with random whole fortunes; "
             "targets `<s>` (always right after `</s>`) are not scored. %d steps, %.2f M tokens seen (%.1f epochs), "
             "%.1f minutes of wall time%s. The exported weights are from step %d (lowest validation loss).\n" % (
                 last["torch_version"], last.get("blas", "?"), a["threads"], last.get("nice", 0),
                 last.get("cpu", hw), last.get("cpus", 0), a["weight_decay"], a["clip"], a["lr"], a["warmup"],
                 a["lr_floor"], a["batch"], a["seq_len"], a["batch"] * a["seq_len"], a["seed"], last["step"],
                 last["tokens_seen"] / 1e6, last["tokens_seen"] / prep["train_tokens"], last["elapsed_s"] / 60,
                 " (step count fixed from the speed of the first %d steps to fit %g minutes)" % (
                     a["calibrate"], a["minutes"]) if a.get("minutes") else "",
                 state.get("best_step", state["step"])))
    L.append("## Results\n")
    L.append("Losses are mean next-token cross-entropy in nats per token, measured on the exported F16 weights "
             "(validation: every validation token once; train: %d sequences sampled like training batches).\n"
             % losses["train_rows"])
    L.append("| | loss | perplexity |\n| --- | ---: | ---: |\n| train | %.4f | %.2f |\n| validation | %.4f | %.2f |\n"
             "| unigram baseline (validation) | %.4f | %.2f |\n" % (
                 losses["train"], math.exp(losses["train"]), losses["val"], math.exp(losses["val"]), unigram,
                 math.exp(unigram)))
    L.append("Validation: %.3f bits per character (%.2f characters per token).\n" % (bpc, chars_per_token))
    L.append("Loss curve (train loss: that step's batch):\n")
    L.append("| step | seconds | train loss | validation loss | validation perplexity |\n"
             "| ---: | ---: | ---: | ---: | ---: |\n" + curve + "\n")
    if runtime:
        L.append("## Runtime check\n")
        L.append("`mrt run` with `input_ids` for %r (%d tokens, `<s>` included) against PyTorch float32 on the same "
                 "F16 weights: max abs logit difference %.2e (logits up to %.1f in magnitude); argmax agrees at "
                 "every position: %s. Greedy generation (%d tokens) from `mrt generate --temperature 0` equals "
                 "PyTorch's greedy text for %d of %d prompts.\n" % (
                     runtime["logits_prompt"], runtime["logits_shape"][0], runtime["logits_max_abs_diff"],
                     runtime["logits_max_abs"], "yes" if runtime["argmax_agree"] else "no", args.sample_tokens,
                     sum(g["agree"] for g in runtime["greedy"]), len(runtime["greedy"])))
        L.append("## Samples\n")
        L.append("From the runtime, %d tokens at most, temperature 0.8, plain sampling (no top-k/top-p: the CLI's "
                 "defaults), run from the repository root:\n" % args.sample_tokens)
        for s in samples:
            L.append("```console\n$ %s\n%s\n```\n" % (s["cmd"], s["text"].rstrip("\n")))
        L.append("Greedy (`--temperature 0`):\n")
        for g in runtime["greedy"]:
            L.append("```console\n$ build/vnode/mrt generate %s --prompt %s --max-tokens %d --temperature 0\n%s\n```\n"
                     % (os.path.relpath(os.path.abspath(args.out), REPO), shell_quote(g["prompt"]), args.sample_tokens,
                        g["mrt"].rstrip("\n")))
    L.append("## Limitations\n")
    L.append("- A toy: %.1f M parameters and %.1f M characters of text. Words and short phrases are English; "
             "sentences wander and rarely mean anything; facts are not to be trusted.\n"
             "- Greedy decoding soon loops (\"the friends of the friends of\"); sample at temperature 0.7-1.0.\n"
             "- Validation loss was still falling when training stopped: a longer run (`--minutes`) would help.\n"
             "- The training text is a 1970s-2000s joke collection: expect its biases, dated humour and, despite "
             "the offensive files being left out, jokes some will find offensive.\n"
             "- It may reproduce short well-known quotations from the training text verbatim; see the licence "
             "notes.\n"
             "- English only; characters outside the %d-character alphabet are spelled with byte tokens and "
             "rarely produced.\n"
             "- Context is %d tokens (about %d characters); the model has never seen a longer one.\n" % (
                 params / 1e6, sum(v["chars"] for v in prep["files"].values()) / 1e6, a["limit_alphabet"],
                 cfg["max_position_embeddings"], int(cfg["max_position_embeddings"] * chars_per_token)))
    L.append("## Reproducing\n")
    L.append("```sh\napt-get install -y fortunes fortunes-min python3-torch python3-numpy libopenblas0-serial\n"
             "pip install tokenizers        # for the `python3` on PATH (the tokenizer step)\n"
             "nice -n 10 /usr/bin/python3 %s all --minutes %s --threads %d --eval-every %d\n```\n\n"
             "Training on CPU is not bit-reproducible across machines or thread counts; the step count also depends "
             "on the measured speed when `--minutes` is used (`--steps %d` without `--minutes` repeats this run's "
             "schedule).\n" % (SCRIPT, a.get("minutes") or "0 --steps %d" % last["total_steps"], a["threads"],
                               a["eval_every"], last["total_steps"]))
    return "\n".join(L)


def blas_library():
    """The BLAS shared object torch's matrix products run on: Debian's torch
    links libblas.so.3, whichever implementation the alternatives system (or
    LD_LIBRARY_PATH) provides, and the reference one is very slow."""
    import torch

    torch.ones(2, 2) @ torch.ones(2, 2)
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    libs = sorted({"/".join(os.path.realpath(p).split("/")[-2:]) for p in libs})
    return ", ".join(libs) or "unknown"


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "an unknown CPU"


# ------------------------------------------------------------------ main --

def has_tokenizers():
    return importlib.util.find_spec("tokenizers") is not None


def cmd_all(args):
    """prepare (here, or in --tokenizer-python), then train and export."""
    if has_tokenizers():
        cmd_prepare(args)
    else:
        argv = [args.tokenizer_python, os.path.abspath(__file__), "prepare", "--work", args.work, "--fortunes",
                args.fortunes, "--vocab-size", str(args.vocab_size), "--limit-alphabet", str(args.limit_alphabet),
                "--max-token-length", str(args.max_token_length), "--val-every", str(args.val_every),
                "--exclude"] + args.exclude
        print("prepare with %s (this interpreter has no tokenizers)" % args.tokenizer_python)
        subprocess.run(argv, check=True)
    cmd_train(args)
    cmd_export(args)


def parse_args():
    ap = argparse.ArgumentParser(description="Train tiny-fortunes, a small Llama, on Debian's fortunes.",
                                 epilog="Steps, requirements and outputs: the docstring at the head of this file.")
    ap.add_argument("step", choices=["prepare", "train", "export", "all"])
    ap.add_argument("--work", default="/tmp/tiny-fortunes-work", help="intermediate files and checkpoints")
    ap.add_argument("--out", default=os.path.join(REPO, "models", "tiny-fortunes"), help="model directory to write")
    ap.add_argument("--mrt", default=os.path.join(REPO, "build", "vnode", "mrt"), help="runtime CLI for the checks")
    ap.add_argument("--tokenizer-python", default=shutil.which("python3") or "python3",
                    help="interpreter with `tokenizers`, for `all` when this one has none")
    d = ap.add_argument_group("data and tokenizer")
    d.add_argument("--fortunes", default=FORTUNE_DIR)
    d.add_argument("--exclude", nargs="*", default=DEFAULT_EXCLUDE, help="fortune files to leave out")
    d.add_argument("--val-every", type=int, default=20, help="hold out every Nth fortune")
    d.add_argument("--vocab-size", type=int, default=1024)
    d.add_argument("--limit-alphabet", type=int, default=100)
    d.add_argument("--max-token-length", type=int, default=16)
    m = ap.add_argument_group("model")
    m.add_argument("--dim", type=int, default=192)
    m.add_argument("--hidden", type=int, default=512, help="SwiGLU intermediate size")
    m.add_argument("--layers", type=int, default=4)
    m.add_argument("--heads", type=int, default=6)
    m.add_argument("--kv-heads", type=int, default=2)
    m.add_argument("--seq-len", type=int, default=256)
    t = ap.add_argument_group("training")
    t.add_argument("--steps", type=int, default=2000, help="total steps (replaced by --minutes' estimate)")
    t.add_argument("--minutes", type=float, default=0, help="fit the schedule to this much training time")
    t.add_argument("--calibrate", type=int, default=20, help="steps timed for --minutes")
    t.add_argument("--max-minutes", type=float, default=0, help="hard stop (checkpoint kept)")
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--lr-floor", type=float, default=0.1, help="final lr as a fraction of the peak")
    t.add_argument("--warmup", type=int, default=50)
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--clip", type=float, default=1.0)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--log-every", type=int, default=20)
    t.add_argument("--eval-every", type=int, default=200)
    t.add_argument("--resume", action="store_true", help="continue from WORK/ckpt.pt")
    e = ap.add_argument_group("export")
    e.add_argument("--use-best", action=argparse.BooleanOptionalAction, default=True,
                   help="export WORK/best.pt (lowest validation loss) rather than the last checkpoint")
    e.add_argument("--sample-tokens", type=int, default=60)
    return ap.parse_args()


def main():
    args = parse_args()
    {"prepare": cmd_prepare, "train": cmd_train, "export": cmd_export, "all": cmd_all}[args.step](args)


if __name__ == "__main__":
    main()
