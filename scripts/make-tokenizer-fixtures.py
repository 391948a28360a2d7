#!/usr/bin/env python3
"""Writes byte-level BPE tokenizer fixtures (GPT-2 and Llama-3 style) with
the `tokenizers` package's ids and decodings for a varied corpus:

    scripts/make-tokenizer-fixtures.py [--out tests/fixtures/tokenizers]

OUT/gpt2-style.json    ByteLevel pre-tokenizer (the GPT-2 regex built in),
                       ByteLevel decoder and post-processor, <|endoftext|>.
OUT/llama3-style.json  Split(Llama-3 regex, isolated) + ByteLevel(use_regex=
                       false), ignore_merges, <|begin_of_text|> prepended by
                       a TemplateProcessing post-processor (as Llama-3 does).
OUT/corpus.json        the test strings.
OUT/expected.json      per tokenizer and string: ids without and with the
                       special tokens the post-processor adds, the
                       pre-tokenizer's pieces, and decodings.
Both are trained here (BpeTrainer) on a small built-in corpus, so the merges
are realistic but the files stay tens of KB. Needs tokenizers (PyPI).
"""
import argparse
import codecs
import contextlib
import io
import json
import os
import random

# One worker thread: the fixtures are small, and this machine is shared.
os.environ.setdefault("RAYON_RS_NUM_CPUS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402

# Meta-Llama-3-8B tokenizer.json's Split pattern, verbatim (the same as
# tiktoken's cl100k_base pattern).
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# What ByteLevel(use_regex=True) splits on; built into the library, so it
# never appears in tokenizer.json. Recorded here and in the README for the
# C++ side.
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

GPT2_SPECIAL = "<|endoftext|>"
LLAMA3_BOS, LLAMA3_EOS = "<|begin_of_text|>", "<|end_of_text|>"
# A word given a vocabulary entry that no merge sequence reaches, as in
# Llama-3's tiktoken-converted vocabulary: with ignore_merges it is one
# token, without it several (the corpus checks both).
UNREACHABLE_WORD = " zebra"

# Hand-written training text: English prose, code, numbers, contractions,
# and some other scripts so merges inside multi-byte UTF-8 also exist.
# Kept in the script (not stdlib docstrings) so regenerating on another
# Python gives the same files.
TRAINING_TEXT = """\
It was a bright cold day in April, and the clocks were striking thirteen.
The quick brown fox jumps over the lazy dog; the dog doesn't mind.
She said: "I'm sure we'll find it. They've looked everywhere, haven't they?"
We're going to the market at 10:30 to buy 12 eggs, 3 loaves and 250g of butter.
In 1969, 600 million people watched the landing; in 2024 the number was 8,100,000,000.
Call 555-0123 or write to info@example.com before 31/12/2025.
def tokenize(text):
    \"\"\"Split text into tokens and return their ids.\"\"\"
    return [vocab[piece] for piece in pieces(text)]  # TODO: unknown pieces

for (int i = 0; i < n; ++i) { total += values[i] * 2; }
if x != y and not (a <= b or c >= d): print("mismatch!", x, y)
The tokenizer reads the text, splits it into words, and merges the most frequent pairs.
Tokenization is the first step: every model sees numbers, never letters.
Whitespace matters:  two spaces,   three spaces,\ttabs, and
blank lines.

Windows files end their lines with a carriage return.\r
Les élèves ont étudié la théorie à l'école, déjà fatigués.
Ein schöner Tag: Größe, Straße, über, Mädchen und Jürgen.
El niño comió piñas y jalapeños en la mañana.
Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.
Быстрая коричневая лиса прыгает через ленивую собаку.
Привет, мир! Как дела? Всё хорошо, спасибо.
日本語の文章を分割します。東京は日本の首都です。
中文的句子也需要分词。我们今天去公园。
Emoji are bytes too: 🙂 😀 👍 ☕ 🚀 ❤️
Prices: $5.99, €12, £7.50; discounts of 15% apply!!!
"""
SUBJECTS = ["the model", "a tokenizer", "this library", "our team", "the runtime", "every user", "she", "they"]
VERBS = ["reads", "writes", "splits", "merges", "encodes", "decodes", "loads", "checks", "measures"]
OBJECTS = ["the text", "byte pairs", "long words", "two files", "the vocabulary", "42 tokens", "special tokens",
           "unicode strings", "the weights", "numbers like 1234"]
ENDINGS = [".", "!", "?", ", quickly.", " again and again.", " (twice).", "; then it stops.", "..."]

# The test strings: each exercises a different part of pre-tokenization,
# merging, added-token matching or decoding.
CORPUS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces",
    "trailing spaces   ",
    "multiple   spaces  between    words",
    "tabs\tand\t\ttabs",
    "line one\nline two",
    "para one\n\npara two\n",
    "windows\r\nline endings\r\n\r\n",
    "mixed \t \n  whitespace \n\n\n",
    "1 12 123 1234 1234567",
    "pi is 3.14159, year 2024, id#42x",
    "Wait... what?!?! (yes) [no] {maybe} <tag> -- ok!!! ---",
    "don't, I'm, we'll, they've, you'd, it's, SHE'S, I'LL, We'Re",
    "'s 's' ''' rock'n'roll",
    "naïve café, déjà vu, Ångström, façade, smörgåsbord",
    "Ελληνικά: καλημέρα κόσμε",
    "Русский текст: привет, мир!",
    "日本語のテキストと中文字符",
    "emoji 🙂 ☕ 👍🏽",
    "family 👨\u200d👩\u200d👧\u200d👦 and flag 🏳\ufe0f\u200d🌈 and 🇫🇷",
    "combining: e\u0301 a\u0308 n\u0303 (decomposed)",
    "non-ASCII numbers: ½ ² Ⅻ ١٢٣٤ １２３４５",
    # \s is Unicode White_Space (NBSP, U+3000, U+0085, U+2028, \v, \f), not
    # U+001C, which Python's str.isspace() counts.
    "unicode spaces: a\u00a0\u00a0b\u3000\u3000c\u2003d\x85\x85e\u2028f \x0b\x0cg\x1c\x1ch",
    # (?i:'s) folds Unicode case: "'ſ" (long s) is a contraction for Llama-3.
    "case folding: it'ſx IT'Sx",
    "control\x1b[0m chars\x7f",
    "def f(x):\n    return x**2  # square\n",
    "hello" + GPT2_SPECIAL + "world",
    "a " + GPT2_SPECIAL + " b " + GPT2_SPECIAL + GPT2_SPECIAL,
    LLAMA3_BOS + "Hi there" + LLAMA3_EOS,
    "almost special: <|endoftext| and <|end_of_text|>>",
    "a" + UNREACHABLE_WORD + " and" + UNREACHABLE_WORD + "s",
    "",
    " ",
    "\n",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 5,
]


def training_lines():
    """The built-in text, the Zen of Python, and seeded random sentences:
    enough repetition that frequent words become single tokens."""
    with contextlib.redirect_stdout(io.StringIO()):  # `import this` prints the Zen
        import this
    zen = codecs.decode(this.s, "rot13")
    rng = random.Random(1234)  # random.choice is stable across Python 3 versions
    made = [" ".join([rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)]) + rng.choice(ENDINGS)
            for _ in range(400)]
    lines = (TRAINING_TEXT + zen).splitlines(keepends=True)
    return lines * 3 + made


def train(tok, vocab_size, special_tokens):
    # initial_alphabet: all 256 byte symbols, so any input encodes without
    # an unknown token, as GPT-2 and Llama-3 do.
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=special_tokens)
    tok.train_from_iterator(training_lines(), trainer=trainer)
    return tok


def build_gpt2():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    # GPT-2's post-processor only adjusts offsets; kept so the JSON has the
    # same shape as the real file.
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    # As in GPT-2, <|endoftext|> is both in model.vocab and an added token.
    return train(tok, 600, [GPT2_SPECIAL])


def build_llama3():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    train(tok, 700, [])
    # Llama-3's BPE model sets ignore_merges (a whole pre-token found in the
    # vocabulary is emitted as is), and its vocabulary has tokens merges do
    # not reach; one such token makes the flag change an encoding here.
    j = json.loads(tok.to_str())
    j["model"]["ignore_merges"] = True
    vocab = j["model"]["vocab"]
    word = "".join(BYTE_CHARS[b] for b in UNREACHABLE_WORD.encode())
    assert word not in vocab, "pick another UNREACHABLE_WORD: the trainer already made it a token"
    vocab[word] = len(vocab)
    tok = Tokenizer.from_str(json.dumps(j))
    # As in Llama-3, the special tokens come after the model's vocabulary and
    # live only in added_tokens.
    tok.add_special_tokens([LLAMA3_BOS, LLAMA3_EOS])
    bos = tok.token_to_id(LLAMA3_BOS)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=LLAMA3_BOS + " $A:0",
                                      pair=LLAMA3_BOS + " $A:0 " + LLAMA3_BOS + ":1 $B:1",
                                      special_tokens=[(LLAMA3_BOS, bos)])])
    return tok


def byte_chars():
    """GPT-2's byte → printable character table (bytes_to_unicode)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHARS = byte_chars()


def pre_tokens(tok, text, specials):
    """The pre-tokenizer's pieces in the byte-level alphabet, with special
    tokens split out first and kept whole, as Tokenizer.encode does; lets
    the C++ regex be checked on its own."""
    out = []
    for part in split_specials(text, specials):
        out += [part] if part in specials else [p for p, _ in tok.pre_tokenizer.pre_tokenize_str(part)]
    return out


def split_specials(text, specials):
    """Text cut at special tokens (leftmost, then longest match first)."""
    out, rest = [], text
    while rest:
        hits = [(rest.find(s), -len(s), s) for s in specials if s in rest]
        if not hits:
            return out + [rest]
        cut, _, s = min(hits)
        out += ([rest[:cut]] if cut else []) + [s]
        rest = rest[cut + len(s):]
    return out


def expectations(tok, specials):
    rows = []
    for text in CORPUS:
        ids = tok.encode(text, add_special_tokens=False).ids
        ids_special = tok.encode(text, add_special_tokens=True).ids
        row = {"text": text, "ids": ids, "ids_special": ids_special,
               "pre_tokens": pre_tokens(tok, text, specials),
               "decoded": tok.decode(ids_special, skip_special_tokens=False),
               "decoded_skip": tok.decode(ids_special, skip_special_tokens=True)}
        check_row(tok, row, specials)
        rows.append(row)
    return rows


def check_row(tok, row, specials):
    """Byte-level BPE is lossless: the ids decode to the exact text, the
    pre-tokens cover it, and skipping specials only removes specials."""
    text = row["text"]
    assert tok.decode(row["ids"], skip_special_tokens=False) == text, text
    assert "".join(row["pre_tokens"]) == "".join(
        s if s in specials else "".join(BYTE_CHARS[b] for b in s.encode()) for s in split_specials(text, specials)), text
    prefix = "".join(tok.id_to_token(i) for i in row["ids_special"][:len(row["ids_special"]) - len(row["ids"])])
    assert row["decoded"] == prefix + text, text
    stripped = text
    for s in specials:
        stripped = stripped.replace(s, "")
    assert row["decoded_skip"] == stripped, text


def check_ignore_merges(tok):
    """The unreachable word is one token with ignore_merges, several without."""
    j = json.loads(tok.to_str())
    j["model"]["ignore_merges"] = False
    plain = Tokenizer.from_str(json.dumps(j))
    with_flag = tok.encode(UNREACHABLE_WORD, add_special_tokens=False).ids
    without = plain.encode(UNREACHABLE_WORD, add_special_tokens=False).ids
    assert len(with_flag) == 1 and len(without) > 1, (with_flag, without)
    return with_flag, without


def save(tok, path, legacy_merges):
    j = json.loads(tok.to_str())
    if legacy_merges:
        # Safe: byte-level tokens never contain a space (it is "Ġ").
        assert all(" " not in a + b for a, b in j["model"]["merges"])
        j["model"]["merges"] = [a + " " + b for a, b in j["model"]["merges"]]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False, indent=1)
        f.write("\n")


def write_json(path, value, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        if compact:  # one row per line: small, yet diffs stay readable
            f.write("{\n")
            for n, (name, rows) in enumerate(value.items()):
                f.write("  %s: [\n" % json.dumps(name))
                f.write(",\n".join("    " + json.dumps(r, ensure_ascii=False) for r in rows))
                f.write("\n  ]%s\n" % ("," if n + 1 < len(value) else ""))
            f.write("}\n")
        else:
            json.dump(value, f, ensure_ascii=False, indent=1)
            f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "tokenizers"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    # gpt2-style keeps the older "a b" merge strings of GPT-2's hub file,
    # llama3-style the ["a", "b"] pairs tokenizers >= 0.20 writes: a loader
    # meets both.
    made = {"gpt2-style": (build_gpt2(), [GPT2_SPECIAL], True),
            "llama3-style": (build_llama3(), [LLAMA3_BOS, LLAMA3_EOS], False)}
    expected = {}
    for name, (tok, specials, legacy_merges) in made.items():
        path = os.path.join(args.out, name + ".json")
        save(tok, path, legacy_merges)
        # What the C++ loads is the saved file, so the expectations come
        # from reloading it.
        tok = Tokenizer.from_file(path)
        expected[name] = expectations(tok, specials)
        print("%s: vocab %d (with added tokens), %d bytes" % (name, tok.get_vocab_size(), os.path.getsize(path)))
    with_flag, without = check_ignore_merges(Tokenizer.from_file(os.path.join(args.out, "llama3-style.json")))
    print("llama3-style %r: %s with ignore_merges, %s without" % (UNREACHABLE_WORD, with_flag, without))
    write_json(os.path.join(args.out, "corpus.json"), CORPUS)
    write_json(os.path.join(args.out, "expected.json"), expected, compact=True)
    print("tokenizers %s, %d corpus strings" % (tokenizers.__version__, len(CORPUS)))


if __name__ == "__main__":
    main()
