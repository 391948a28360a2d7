#!/usr/bin/env python3
"""Text generation from GGUF and quantized weights: mrt against llama.cpp and
llama2.c's run.c, side by side on the same random-weight models (issue 25).

    scripts/bench-gguf.py [--sizes 15M,gqa4L,110M] [--types f32,f16,bf16,q8_0,q4_0,q4_k_m]
                          [--runs 3] [--threads 2] [--mrt build/vnode/mrt] [--runc PATH]
                          [--skip-llamacpp] [--quick] [--perplexity TEXTFILE]

What one run does:

1. Memory read bandwidth at 1 and 2 threads (and --threads) with
   build/tests/read-bandwidth's three readers (a plain sum, 8 interleaved
   prefetched streams per thread, the same with non-temporal loads), before
   and after the rounds. Decode is reported as a share of the best figure
   measured in the run: weight bytes read per token x tok/s / bandwidth.
2. llama.cpp from the sources inside PyPI's llama-cpp-python sdist
   (pip download --no-binary :all: --no-deps), CMake Release, CPU only,
   GGML_NATIVE, no CURL/OpenSSL; only llama-bench, llama-completion,
   llama-perplexity and llama-quantize are built. Cached under
   ~/.cache/mrt-bench/ (sdist/, src/, llama.cpp-VERSION-build/).
3. llama2.c's run.c (--runc PATH; default ~/.cache/mrt-bench/llama2.c/run.c
   when present, else run.c is skipped), built with gcc -O3 -march=native
   -fopenmp into the cache.
4. Models with random weights (N(0, 0.02), RMSNorm weights 1, an untied
   classifier), each shape written once as GGUF F32 and F16 (gguf's
   GGUFWriter: llama metadata, a SentencePiece-style "llama" vocabulary of
   32000 pieces with scores and token types: <unk>, <s>, </s>, <0x00>..<0xFF>,
   "▁", printable ASCII, fillers "[N]") and as a llama2.c checkpoint with the
   same values; BF16, Q8_0, Q4_0 and Q4_K_M come from llama-quantize on the
   F32 file. Cached under ~/.cache/mrt-bench/models/. GGUF's llama tensors
   keep Meta's q/k row order (RoPE on adjacent pairs), which is llama2.c's
   too, so both files hold the same rows; only Hugging Face checkpoints are
   permuted (rotate_half). The greedy check below tests exactly that.
5. Greedy check on each F32 model: 16 greedy tokens after the same prompt
   from llama.cpp (llama-completion, F32 KV cache), run.c and mrt (F32 KV cache, llama2.c
   checkpoint, and the GGUF file once mrt loads it); prints whether the
   texts agree.
6. --runs paired rounds; in each, per model and type back to back: mrt
   (`mrt generate FILE.gguf --bench 1`: a 512-token prompt for prefill, a
   10-token prompt and 128 new tokens for decode; F32 also through the
   llama2.c checkpoint), llama-bench (-t THREADS -p 512 -n 128 -r 1 -o json)
   and run.c (128 tokens after BOS; F32, shapes up to 110M). Medians over
   rounds; peak RSS of each process (GNU time; see run_measured). A runtime that
   cannot load a file is reported as such and the run goes on.
7. The table, the ratios mrt/llama.cpp and mrt/run.c, and the issue's
   targets with PASS/FAIL (n/a where a side is missing).

--perplexity TEXTFILE runs llama-perplexity (-c 256, 4 chunks by default)
on every model and type, and computes the same figure for mrt through the
raw plugin's logits request (`mrt run MODEL -i input_ids=ids.npy`: logits at
every position), chunked and scored exactly as llama-perplexity does (BOS
first in each chunk, the second half of each chunk scored). Debian's
`fortunes` package gives held-out text (/usr/share/games/fortunes/*).

Needs numpy and gguf (PyPI), cmake, a C/C++ compiler, and mrt's build
(build/vnode/mrt, build/tests/read-bandwidth).
"""
import argparse
import glob
import json
import os
import re
import signal
import shutil
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib

import numpy as np

CACHE = os.path.expanduser("~/.cache/mrt-bench")
MODEL_FORMAT = "v2"  # bump when the generated files change

SHAPES = {  # dim, hidden, layers, heads, kv_heads, vocab, context
    "15M": (288, 768, 6, 6, 6, 32000, 1024),
    "gqa4L": (512, 1376, 4, 8, 2, 32000, 1024),
    "110M": (768, 2048, 12, 12, 12, 32000, 1024),
    "1.1B": (2048, 5632, 22, 32, 4, 32000, 2048),  # TinyLlama-1.1B's shape
}
RUNC_SHAPES = ("15M", "gqa4L", "110M")  # "the small shapes"
# Weights of the 15M and 4-layer shapes largely fit in the CPU's caches, so
# their share of memory bandwidth can pass 100%: the bandwidth target is
# judged on the others.
BANDWIDTH_SHAPES = ("110M", "1.1B")
TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m")
QUANTIZE_NAME = {"bf16": "BF16", "q8_0": "Q8_0", "q4_0": "Q4_0", "q4_k_m": "Q4_K_M"}
LLAMACPP_TARGETS = ("llama-bench", "llama-completion", "llama-perplexity", "llama-quantize")

PROMPT_512 = "abcdefghij" * 51  # BOS + "▁" + 510 letters = 512 tokens
PROMPT_SHORT = "abcdefgh"  # 10 tokens
DECODE_TOKENS = 128
GREEDY_PROMPT = "abcdefghij"
GREEDY_TOKENS = 16


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ vocabulary

def vocabulary(n):
    """(pieces, scores, types) of a SentencePiece-style vocabulary that llama.cpp
    accepts: no piece of two or more characters can be formed by merging the
    prompt's characters, so every runtime tokenizes text the same way: one
    token per printable ASCII character or "▁", byte tokens for the rest."""
    pieces = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + ["▁"]
    pieces += [chr(c) for c in range(0x21, 0x7F)]
    pieces += ["[%d]" % i for i in range(n - len(pieces))]
    types = [2, 3, 3] + [6] * 256 + [1] * (n - 259)  # UNKNOWN, CONTROL, BYTE, NORMAL
    scores = [0.0] * 259 + [-float(i) for i in range(n - 259)]
    return pieces, scores, types


def tokenize(text, n):
    """llama.cpp's ids for `text` with this vocabulary (BOS, space prefix)."""
    pieces, _, _ = vocabulary(n)
    single = {p: i for i, p in enumerate(pieces[259:259 + 95], 259)}
    ids = [1]
    for ch in "▁" + text.replace(" ", "▁"):
        if ch in single:
            ids.append(single[ch])
        else:
            ids.extend(3 + b for b in ch.encode())
    return ids


# ------------------------------------------------------------------ models

def tensor_values(name, shape, seed):
    if name.endswith("norm.weight"):
        return np.ones(shape, dtype=np.float32)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)


def gguf_tensors(shape):
    """(name, numpy shape) in file order. The classifier is its own matrix
    (untied, as TinyLlama's): with a tied one, random weights make every
    model repeat its input token, and the greedy check would prove little."""
    dim, hidden, layers, heads, kv, vocab, _ = shape
    kv_dim = dim * kv // heads
    out = [("token_embd.weight", (vocab, dim))]
    for l in range(layers):
        b = "blk.%d." % l
        out += [(b + "attn_norm.weight", (dim,)), (b + "attn_q.weight", (dim, dim)),
                (b + "attn_k.weight", (kv_dim, dim)), (b + "attn_v.weight", (kv_dim, dim)),
                (b + "attn_output.weight", (dim, dim)), (b + "ffn_norm.weight", (dim,)),
                (b + "ffn_gate.weight", (hidden, dim)), (b + "ffn_down.weight", (dim, hidden)),
                (b + "ffn_up.weight", (hidden, dim))]
    return out + [("output_norm.weight", (dim,)), ("output.weight", (vocab, dim))]


def write_gguf(path, shape, seed, dtype):
    import gguf
    dim, hidden, layers, heads, kv, vocab, context = shape
    tmp = path + ".tmp"
    w = gguf.GGUFWriter(tmp, "llama")
    w.add_name("mrt-bench random llama")
    w.add_context_length(context)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(hidden)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_dimension_count(dim // heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_file_type(0 if dtype == np.float32 else 1)  # ALL_F32, MOSTLY_F16
    pieces, scores, types = vocabulary(vocab)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(pieces)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
    tensors = gguf_tensors(shape)
    for name, shp in tensors:
        dt = np.float32 if len(shp) == 1 else dtype
        w.add_tensor_info(name, shp, np.dtype(dt), int(np.prod(shp)) * np.dtype(dt).itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shp in tensors:  # streamed: the 1.1B F32 file never sits in memory whole
        v = tensor_values(name, shp, seed)
        w.write_tensor_data(v if len(shp) == 1 else v.astype(dtype))
    w.close()
    os.replace(tmp, path)


def write_llama2c(d, shape, seed):
    """The same weights as a legacy llama2.c checkpoint (7 x int32 header,
    float32 tensors grouped by kind across layers; negative vocab = untied
    classifier, after the old RoPE tables)."""
    dim, hidden, layers, heads, kv, vocab, context = shape
    os.makedirs(d, exist_ok=True)
    tensors = dict(gguf_tensors(shape))
    kinds = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_down", "ffn_up"]
    tmp = os.path.join(d, "model.bin.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<7i", dim, hidden, layers, heads, kv, -vocab, context))
        tensor_values("token_embd.weight", tensors["token_embd.weight"], seed).tofile(f)
        for k in kinds:
            for l in range(layers):
                name = "blk.%d.%s.weight" % (l, k)
                tensor_values(name, tensors[name], seed).tofile(f)
        tensor_values("output_norm.weight", (dim,), seed).tofile(f)
        np.zeros(context * (dim // heads), dtype=np.float32).tofile(f)  # the old freq_cis tables, unused
        tensor_values("output.weight", tensors["output.weight"], seed).tofile(f)
    os.replace(tmp, os.path.join(d, "model.bin"))
    pieces, scores, _ = vocabulary(vocab)
    pieces = [p.replace("▁", " ") for p in pieces]
    pieces[1], pieces[2] = "\n<s>\n", "\n</s>\n"
    with open(os.path.join(d, "tokenizer.bin"), "wb") as f:
        f.write(struct.pack("<i", max(len(p.encode()) for p in pieces)))
        for p, s in zip(pieces, scores):
            b = p.encode()
            f.write(struct.pack("<fi", s, len(b)) + b)
    with open(os.path.join(d, "model.yml"), "w") as f:
        f.write("format: llama2c\ntask: text-generation\nfiles: [model.bin, tokenizer.bin]\n")


def model_dir(name, seed):
    return os.path.join(CACHE, "models", "%s-%s-seed%d" % (name, MODEL_FORMAT, seed))


def make_models(name, types, seed, quantize, threads):
    """Paths of the files of shape `name`: {type: gguf path}, plus 'l2c' (dir)."""
    shape = SHAPES[name]
    d = model_dir(name, seed)
    os.makedirs(d, exist_ok=True)
    out = {}
    f32 = os.path.join(d, "f32.gguf")
    if not os.path.exists(f32):
        log("writing %s" % f32)
        write_gguf(f32, shape, seed, np.float32)
    out["f32"] = f32
    if not os.path.exists(os.path.join(d, "llama2c", "model.bin")):
        log("writing %s/llama2c" % d)
        write_llama2c(os.path.join(d, "llama2c"), shape, seed)
    out["l2c"] = os.path.join(d, "llama2c")
    for t in types:
        p = os.path.join(d, t + ".gguf")
        if t == "f16" and not os.path.exists(p):
            log("writing %s" % p)
            write_gguf(p, shape, seed, np.float16)
        elif t in QUANTIZE_NAME and not os.path.exists(p):
            if not quantize:
                log("no llama-quantize: no %s file for %s" % (t, name))
                continue
            log("quantizing %s to %s" % (name, t))
            r = subprocess.run([quantize, f32, p + ".tmp", QUANTIZE_NAME[t], str(threads)], capture_output=True,
                               text=True)
            if r.returncode != 0:
                log("llama-quantize %s failed: %s" % (t, r.stderr[-2000:]))
                continue
            os.replace(p + ".tmp", p)
        if os.path.exists(p):
            out[t] = p
    return out


def weight_bytes_per_token(path):
    """Bytes of weights a decoded token reads: every tensor, less the
    embedding table when an untied classifier (output.weight) exists."""
    if os.path.isdir(path):  # llama2.c checkpoint: float32, the classifier read whether tied or not
        with open(os.path.join(path, "model.bin"), "rb") as f:
            dim, hidden, layers, heads, kv, vocab, _ = struct.unpack("<7i", f.read(28))
        kv_dim = dim * kv // heads
        return 4 * (layers * (2 * dim * dim + 2 * kv_dim * dim + 3 * hidden * dim + 2 * dim) + abs(vocab) * dim + dim)
    import gguf
    r = gguf.GGUFReader(path)
    sizes = {t.name: int(t.n_bytes) for t in r.tensors}
    total = sum(sizes.values())
    return total - sizes["token_embd.weight"] if "output.weight" in sizes else total


# ------------------------------------------------------------------ tools

GNU_TIME = "/usr/bin/time"


def run_measured(cmd, env=None, timeout=None):
    """(returncode, stdout, stderr, peak RSS bytes, seconds) of one process.

    A child's ru_maxrss starts at its parent's RSS at fork (exec keeps the
    high-water mark of the image it replaces), so a process started straight
    from this script never reads below the script's own ~250 MB (numpy,
    gguf). GNU time (Debian's `time`), small itself, starts the command and
    reports that process's peak; without it, wait4's figure is used and is
    a floor, not a measurement, for small models."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as peak:
        wrapped = ([GNU_TIME, "-q", "-f", "%M", "-o", peak.name] + list(cmd)) if os.path.exists(GNU_TIME) else cmd
        t0 = time.monotonic()
        try:
            p = subprocess.Popen(wrapped, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                 start_new_session=True)
        except OSError as e:
            return 127, "", str(e), 0, 0.0
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.monotonic() > deadline:
                os.killpg(p.pid, signal.SIGKILL)
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        secs = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        rss = ru.ru_maxrss * 1024
        if wrapped is not cmd:
            figures = re.findall(r"^(\d+)$", peak.read(), re.M)
            rss = int(figures[-1]) * 1024 if figures else 0
        return (p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), rss, secs)


def bandwidth(tool, threads):
    """{reader: GB/s} from `read-bandwidth THREADS all` (an older tool without
    readers prints one plain figure)."""
    r = subprocess.run([tool, str(threads), "all"], capture_output=True, text=True)
    found = {m.group(2) or "plain": float(m.group(1))
             for m in re.finditer(r"read_bandwidth_gbs=([\d.]+) threads=\d+(?: mode=(\w+))?", r.stdout)}
    if not found:
        raise SystemExit("%s failed: %s%s" % (tool, r.stdout, r.stderr))
    return found


def build_llamacpp(args):
    """Directory of the llama.cpp binaries, built once from the llama-cpp-python sdist."""
    sdists = sorted(glob.glob(os.path.join(CACHE, "sdist", "llama_cpp_python-*.tar.gz")))
    if not sdists:
        log("downloading llama-cpp-python's sdist (pip)")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                        "llama-cpp-python", "-d", os.path.join(CACHE, "sdist")], check=True)
        sdists = sorted(glob.glob(os.path.join(CACHE, "sdist", "llama_cpp_python-*.tar.gz")))
    sdist = sdists[-1]
    version = re.search(r"llama_cpp_python-(.+)\.tar\.gz", sdist).group(1)
    build = os.path.join(CACHE, "llama.cpp-%s-build" % version)
    bindir = os.path.join(build, "bin")
    if all(os.path.exists(os.path.join(bindir, t)) for t in LLAMACPP_TARGETS):
        secs = open(os.path.join(build, "mrt-build-seconds")).read().strip() \
            if os.path.exists(os.path.join(build, "mrt-build-seconds")) else "?"
        log("llama.cpp %s (llama-cpp-python's vendor/llama.cpp): cached build, built in %s s" % (version, secs))
        return bindir, version
    src = os.path.join(CACHE, "src", "llama_cpp_python-" + version, "vendor", "llama.cpp")
    if not os.path.exists(os.path.join(src, "CMakeLists.txt")):
        log("unpacking " + sdist)
        with tarfile.open(sdist) as tf:
            tf.extractall(os.path.join(CACHE, "src"), filter="data")
    log("building llama.cpp %s (CPU, GGML_NATIVE, Release) in %s; this takes a while on 2 cores" % (version, build))
    t0 = time.monotonic()
    subprocess.run(["cmake", "-S", src, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON",
                    "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                    "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
                    "-DLLAMA_BUILD_UI=OFF", "-DGGML_CUDA=OFF", "-DGGML_VULKAN=OFF", "-DGGML_METAL=OFF",
                    "-DGGML_BLAS=OFF"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["nice", "-n", "10", "ninja", "-C", build, "-j", str(args.build_jobs)] + list(LLAMACPP_TARGETS),
                   check=True)
    secs = time.monotonic() - t0
    with open(os.path.join(build, "mrt-build-seconds"), "w") as f:
        f.write("%.0f\n" % secs)
    log("llama.cpp built in %.0f s" % secs)
    return bindir, version


def build_runc(path):
    """The run.c binary in the cache (rebuilt when run.c changes), or None."""
    if not path or not os.path.exists(path):
        log("run.c: not found (%s); the run.c columns are skipped. Pass --runc PATH to llama2.c's run.c." % path)
        return None
    digest = "%08x" % zlib.crc32(open(path, "rb").read())
    exe = os.path.join(CACHE, "runc-" + digest)
    if not os.path.exists(exe):
        r = subprocess.run(["gcc", "-O3", "-march=native", "-fopenmp", "-o", exe, path, "-lm"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            log("run.c does not build, skipped: " + r.stderr[-1000:])
            return None
    return exe


# ------------------------------------------------------------------ runtimes

def first_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:160] if lines else ""


def mrt_generate(args, model, prompt, new_tokens, temperature="1", bench=True, options=()):
    cmd = [args.mrt] + ["--option=" + o for o in options] + ["generate", model, "--prompt", prompt, "--max-tokens", str(new_tokens),
           "--temperature", temperature, "--seed", "1", "--threads", str(args.threads)]
    return run_measured(cmd + (["--bench", "1"] if bench else []))


def mrt_round(args, model):
    """{'pp': tok/s, 'tg': tok/s, 'rss': bytes} or {'error': text}."""
    rc, out, err, rss1, _ = mrt_generate(args, model, PROMPT_512, 2)
    if rc != 0:
        return {"error": "cannot load: " + first_line(err or out)}
    m = re.search(r"prompt_tokens=(\d+).*prefill_tok_s=([\d.]+)", out)
    if not m:
        return {"error": "no bench line: " + first_line(out)}
    pp = float(m.group(2))
    rc, out, err, rss2, _ = mrt_generate(args, model, PROMPT_SHORT, DECODE_TOKENS + 1)
    m2 = re.search(r"decode_tok_s=([\d.]+)", out)
    if rc != 0 or not m2:
        return {"error": "decode failed: " + first_line(err or out)}
    return {"pp": pp, "tg": float(m2.group(1)), "rss": max(rss1, rss2)}


def llamacpp_round(args, bindir, model):
    cmd = [os.path.join(bindir, "llama-bench"), "-m", model, "-t", str(args.threads), "-p", "512",
           "-n", str(DECODE_TOKENS), "-r", "1", "-o", "json"]
    rc, out, err, rss, _ = run_measured(cmd)
    if rc != 0:
        return {"error": "llama-bench failed: " + first_line(err)}
    res = {"rss": rss}
    for e in json.loads(out):
        if e.get("n_prompt") and not e.get("n_gen"):
            res["pp"] = float(e["avg_ts"])
        elif e.get("n_gen") and not e.get("n_prompt"):
            res["tg"] = float(e["avg_ts"])
    return res


def runc_round(args, exe, l2c):
    """128 tokens sampled after BOS (temperature 1, no top-p), OpenMP on
    --threads. GOMP's threads spin between parallel loops by default, which on
    a busy machine can cost 10x; so run.c runs with the default wait policy
    and with OMP_WAIT_POLICY=passive, and the faster counts."""
    cmd = [exe, os.path.join(l2c, "model.bin"), "-z", os.path.join(l2c, "tokenizer.bin"), "-t", "1", "-p", "1.0",
           "-s", "1", "-n", str(DECODE_TOKENS + 1), "-i", ""]
    best = None
    for policy in (None, "passive"):
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        rc, out, err, rss, _ = run_measured(cmd, env=env)
        m = re.search(r"achieved tok/s: ([\d.]+)", err)
        if rc != 0 or not m:
            return {"error": "run.c failed: " + first_line(err)}
        if best is None or float(m.group(1)) > best["tg"]:
            best = {"tg": float(m.group(1)), "rss": rss}
    return best


def normalize(text, prompt):
    """Generated text compared across runtimes: printable, no whitespace
    (run.c drops unprintable bytes and the space after BOS), prompt removed."""
    kept = "".join(c for c in text if c.isprintable() and not c.isspace() and c != "\ufffd")
    p = prompt.replace(" ", "")
    return kept[len(p):] if kept.startswith(p) else kept


def greedy_check(args, size, bindir, runc, files):
    """16 greedy tokens from each runtime on the F32 model; {runtime: text}."""
    n_prompt = len(tokenize(GREEDY_PROMPT, SHAPES[size][5]))
    res = {}
    if bindir:
        rc, out, err, _, _ = run_measured([os.path.join(bindir, "llama-completion"), "-m", files["f32"], "-p",
                                           GREEDY_PROMPT, "-n", str(GREEDY_TOKENS), "--temp", "0", "-ctk", "f32",
                                           "-ctv", "f32", "-no-cnv", "-t", str(args.threads), "--no-warmup",
                                           "--simple-io"], timeout=600)
        res["llama.cpp"] = normalize(out, GREEDY_PROMPT) if rc == 0 else "(failed: %s)" % first_line(err)
    if runc and size in RUNC_SHAPES:
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        l2c = files["l2c"]
        rc, out, err, _, _ = run_measured([runc, os.path.join(l2c, "model.bin"), "-z", os.path.join(l2c, "tokenizer.bin"),
                                           "-t", "0", "-n", str(n_prompt + GREEDY_TOKENS - 1), "-i", GREEDY_PROMPT],
                                          env=env)
        res["run.c"] = normalize(out, GREEDY_PROMPT) if rc == 0 else "(failed: %s)" % first_line(err)
    for label, model in (("mrt llama2c", files["l2c"]), ("mrt gguf", files["f32"])):
        # Float32 KV entries, as llama.cpp's (-ctk/-ctv f32) and run.c's here.
        rc, out, err, _, _ = mrt_generate(args, model, GREEDY_PROMPT, GREEDY_TOKENS, temperature="0", bench=False,
                                          options=("kv_cache=f32",))
        res[label] = normalize(out, GREEDY_PROMPT) if rc == 0 else "(cannot load: %s)" % first_line(err)
    return res


# ------------------------------------------------------------------ perplexity

def llamacpp_perplexity(args, bindir, model, text):
    cmd = [os.path.join(bindir, "llama-perplexity"), "-m", model, "-f", text, "-c", str(args.ppl_ctx), "-b",
           str(args.ppl_ctx), "--chunks", str(args.ppl_chunks), "-t", str(args.threads)]
    rc, out, err, _, _ = run_measured(cmd)
    m = re.search(r"Final estimate: PPL = ([\d.]+)", out + err)
    return float(m.group(1)) if rc == 0 and m else None


def mrt_perplexity(args, model, text, vocab):
    """llama-perplexity's figure through mrt's logits request: chunks of
    ppl_ctx tokens, BOS first, tokens of the second half scored."""
    ids = tokenize(open(text, encoding="utf-8", errors="replace").read(), vocab)
    n_ctx = args.ppl_ctx
    chunks = min(args.ppl_chunks, len(ids) // n_ctx)
    first = n_ctx // 2
    nll, count = 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for c in range(chunks):
            seq = np.array(ids[c * n_ctx:(c + 1) * n_ctx], dtype=np.int64)
            seq[0] = 1
            np.save(os.path.join(tmp, "ids.npy"), seq)
            r = subprocess.run([args.mrt, "run", model, "-i", "input_ids=" + os.path.join(tmp, "ids.npy"), "-o", tmp,
                                "--threads", str(args.threads)], capture_output=True, text=True)
            if r.returncode != 0:
                return None, first_line(r.stderr)
            logits = np.load(os.path.join(tmp, "logits.npy")).astype(np.float64)
            for pos in range(first, n_ctx - 1):
                row = logits[pos]
                mx = row.max()
                nll += mx + np.log(np.exp(row - mx).sum()) - row[seq[pos + 1]]
                count += 1
    return float(np.exp(nll / count)), ""


# ------------------------------------------------------------------ report

def median(xs):
    return statistics.median(xs) if xs else None


def fmt(x, spec="%.1f"):
    return "-" if x is None else spec % x


def verdict(ok):
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="15M,gqa4L,110M", help="comma-separated: " + ",".join(SHAPES))
    ap.add_argument("--types", default=",".join(TYPES), help="comma-separated: " + ",".join(TYPES))
    ap.add_argument("--runs", type=int, default=3, help="paired rounds (medians)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mrt", default="build/vnode/mrt")
    ap.add_argument("--bandwidth-tool", default="build/tests/read-bandwidth")
    ap.add_argument("--runc", default=os.path.join(CACHE, "llama2.c", "run.c"), help="llama2.c's run.c ('' to skip)")
    ap.add_argument("--skip-llamacpp", action="store_true", help="no llama.cpp build or columns (no quantized files "
                    "unless cached)")
    ap.add_argument("--quick", action="store_true", help="1 round, types f32,f16,q8_0,q4_0, no bandwidth re-measure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--build-jobs", type=int, default=2)
    ap.add_argument("--perplexity", metavar="TEXTFILE", help="also compare llama-perplexity and mrt on this text")
    ap.add_argument("--ppl-ctx", type=int, default=256)
    ap.add_argument("--ppl-chunks", type=int, default=4)
    args = ap.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]
    types = [t for t in args.types.split(",") if t]
    if args.quick:
        args.runs = 1
        if args.types == ",".join(TYPES):
            types = ["f32", "f16", "q8_0", "q4_0"]
    for s in sizes:
        if s not in SHAPES:
            raise SystemExit("unknown size %s (%s)" % (s, ", ".join(SHAPES)))
    for t in types:
        if t not in TYPES:
            raise SystemExit("unknown type %s (%s)" % (t, ", ".join(TYPES)))

    load_before = os.getloadavg()
    # 1. bandwidth, before the rounds
    bw = []  # (threads, reader, GB/s)
    thread_counts = sorted({1, 2, args.threads})
    for t in thread_counts:
        for reader, g in bandwidth(args.bandwidth_tool, t).items():
            bw.append((t, reader, g))

    # 2.-4. tools and models
    bindir, version = (None, None) if args.skip_llamacpp else build_llamacpp(args)
    runc = build_runc(args.runc)
    quantize = os.path.join(bindir, "llama-quantize") if bindir else None
    files = {s: make_models(s, types, args.seed, quantize, args.threads) for s in sizes}

    # 5. greedy agreement on F32
    greedy = {}
    for s in sizes:
        greedy[s] = greedy_check(args, s, bindir, runc, files[s])

    # 6. paired rounds
    results = {}  # (size, runtime, type) -> list of round dicts
    for r in range(args.runs):
        log("round %d/%d" % (r + 1, args.runs))
        for s in sizes:
            for t in types:
                if t not in files[s]:
                    continue
                results.setdefault((s, "mrt", t), []).append(mrt_round(args, files[s][t]))
                if bindir:
                    results.setdefault((s, "llama.cpp", t), []).append(llamacpp_round(args, bindir, files[s][t]))
                if t == "f32":
                    results.setdefault((s, "mrt", "f32-l2c"), []).append(mrt_round(args, files[s]["l2c"]))
                    if runc and s in RUNC_SHAPES:
                        results.setdefault((s, "run.c", "f32-l2c"), []).append(runc_round(args, runc, files[s]["l2c"]))
    if not args.quick:
        for t in thread_counts:
            for reader, g in bandwidth(args.bandwidth_tool, t).items():
                bw.append((t, reader, g))
    best_bw = max(g for _, _, g in bw)

    # 7. report
    print("model-runtime bench-gguf: threads=%d rounds=%d (medians); llama.cpp %s; run.c %s" % (
        args.threads, args.runs, version or "skipped", args.runc if runc else "skipped"))
    print("load average before / after: %.1f / %.1f (a busy machine slows the 2-thread runs most: threads that wait "
          "on each other at every layer)" % (load_before[0], os.getloadavg()[0]))
    print("memory read bandwidth, GB/s (build/tests/read-bandwidth, 1 GiB, best of 5 passes; before%s the rounds):" %
          ("" if args.quick else " / after"))
    for t in thread_counts:
        for reader in ("plain", "streams", "nt"):
            vals = [g for tt, rr, g in bw if tt == t and rr == reader]
            if vals:
                print("  %d thread%s %-8s %s" % (t, "s" if t > 1 else " ", reader, " / ".join("%.1f" % v for v in vals)))
    print("  best: %.1f GB/s (the decode shares below are of this)" % best_bw)

    def agg(key):
        rows = results.get(key, [])
        errs = [x["error"] for x in rows if "error" in x]
        ok = [x for x in rows if "error" not in x]
        if not ok:
            return {"error": errs[0] if errs else None}
        out = {k: median([x[k] for x in ok if k in x]) for k in ("pp", "tg", "rss")}
        out["rounds"] = "%d/%d" % (len(ok), len(rows))  # a round that failed is left out of the medians
        return out

    targets = []  # (text, measured, ok)
    for s in sizes:
        dim, hidden, layers, heads, kv, vocab, ctx = SHAPES[s]
        print()
        print("%s: dim %d, hidden %d, %d layers, %d heads, %d kv heads, vocab %d" % (s, dim, hidden, layers, heads,
                                                                                     kv, vocab))
        g = greedy[s]
        texts = {v for v in g.values() if not v.startswith("(")}
        print("  greedy %d tokens on F32 (prompt %r): %s" % (
            GREEDY_TOKENS, GREEDY_PROMPT, "agree" if len(texts) == 1 and sum(not v.startswith("(") for v in g.values()) > 1
            else ("only one runtime ran" if len(texts) <= 1 else "DIFFER")))
        for k, v in g.items():
            print("    %-12s %s" % (k, v[:100]))
        print("  %-10s %-8s %9s %10s %11s %8s %9s %10s %10s %10s %7s" % (
            "runtime", "type", "MB/token", "pp512 t/s", "decode t/s", "of bw", "RSS MB", "x llama pp", "x llama tg",
            "x run.c tg", "rounds"))
        runc_tg = agg((s, "run.c", "f32-l2c")).get("tg")
        per_type = {}
        for t in [t for t in types if t in files[s]] + ["f32-l2c"]:
            if t == "f32-l2c" and "f32" not in types:
                continue
            path = files[s]["l2c"] if t == "f32-l2c" else files[s][t]
            mb = weight_bytes_per_token(path)
            lc = agg((s, "llama.cpp", t)) if t != "f32-l2c" else agg((s, "llama.cpp", "f32"))
            for rt in ("llama.cpp", "run.c", "mrt"):
                if rt == "llama.cpp" and (t == "f32-l2c" or not bindir):
                    continue
                if rt == "run.c" and (t != "f32-l2c" or (s, rt, t) not in results):
                    continue
                a = agg((s, rt, t))
                if a.get("error") is not None or not a.get("tg"):
                    print("  %-10s %-8s %9.1f   %s: %s" % (rt, t, mb / 1e6, rt, (a.get("error") or "no result")[:110]))
                    per_type[(rt, t)] = None
                    continue
                share = a["tg"] * mb / (best_bw * 1e9)
                xpp = a["pp"] / lc["pp"] if rt == "mrt" and a.get("pp") and lc.get("pp") else None
                xtg = a["tg"] / lc["tg"] if rt == "mrt" and lc.get("tg") else None
                xrc = a["tg"] / runc_tg if rt == "mrt" and t.startswith("f32") and runc_tg else None
                print("  %-10s %-8s %9.1f %10s %11.1f %7.0f%% %9.0f %10s %10s %10s %7s" % (
                    rt, t, mb / 1e6, fmt(a.get("pp")), a["tg"], 100 * share, a["rss"] / 2**20,
                    fmt(xpp, "%.2f"), fmt(xtg, "%.2f"), fmt(xrc, "%.2f"), a["rounds"]))
                per_type[(rt, t)] = dict(a, share=share, xpp=xpp, xtg=xtg, xrc=xrc, mb=mb, lc=lc)
        # the targets, per size
        for t in ("f16", "q8_0", "q4_0", "q4_k_m"):
            if t in files[s] and bindir:
                m = per_type.get(("mrt", t))
                targets.append(("%s %s decode >= 1.1x llama.cpp" % (s, t), fmt(m and m["xtg"], "%.2fx"),
                                None if not m or m["xtg"] is None else m["xtg"] >= 1.1))
        for t in [t for t in types if t in files[s]]:
            if bindir:
                m = per_type.get(("mrt", t))
                targets.append(("%s %s prefill 512 >= 1.0x llama.cpp" % (s, t), fmt(m and m["xpp"], "%.2fx"),
                                None if not m or m["xpp"] is None else m["xpp"] >= 1.0))
                lc_rss = (m or {}).get("lc", {}).get("rss")
                targets.append(("%s %s peak RSS <= llama.cpp's" % (s, t),
                                "-" if not m or not lc_rss else "%.0f / %.0f MB" % (m["rss"] / 2**20, lc_rss / 2**20),
                                None if not m or not lc_rss else m["rss"] <= lc_rss))
            if s in BANDWIDTH_SHAPES:
                m = per_type.get(("mrt", t))
                targets.append(("%s %s decode >= 85%% of best bandwidth" % (s, t), fmt(m and 100 * m["share"], "%.0f%%"),
                                None if not m else m["share"] >= 0.85))
        if s in RUNC_SHAPES and runc:
            m = per_type.get(("mrt", "f32")) or per_type.get(("mrt", "f32-l2c"))
            targets.append(("%s decode >= 1.5x run.c (F32)" % s, fmt(m and m["xrc"], "%.2fx"),
                            None if not m or m["xrc"] is None else m["xrc"] >= 1.5))
        f16, bf16 = per_type.get(("mrt", "f16")), per_type.get(("mrt", "bf16"))
        if "f16" in files[s] and "bf16" in files[s]:
            # per byte: tok/s x bytes/token, the same bytes for both
            targets.append(("%s F16 decode per byte >= BF16's" % s,
                            "-" if not (f16 and bf16) else "%.1f / %.1f GB/s" % (f16["tg"] * f16["mb"] / 1e9,
                                                                               bf16["tg"] * bf16["mb"] / 1e9),
                            None if not (f16 and bf16) else f16["tg"] * f16["mb"] >= bf16["tg"] * bf16["mb"]))
    print()
    print("targets (issue 25):")
    for text, measured, ok in targets:
        print("  %-4s  %-48s %s" % (verdict(ok), text, measured))
    print("MB/token: weight bytes a decoded token reads; of bw: decode tok/s x MB/token / best bandwidth; "
          "x llama, x run.c: mrt / the other runtime, same file and threads; RSS: peak of the process (GNU time, else wait4); "
          "rounds: those that ran (the medians are of these)")

    if args.perplexity:
        print()
        print("perplexity on %s (-c %d, %d chunks, second half of each chunk scored):" % (
            args.perplexity, args.ppl_ctx, args.ppl_chunks))
        print("  %-6s %-8s %14s %14s" % ("size", "type", "llama.cpp", "mrt"))
        for s in sizes:
            for t in [t for t in types if t in files[s]] + (["f32-l2c"] if "f32" in types else []):
                path = files[s]["l2c"] if t == "f32-l2c" else files[s][t]
                lp = llamacpp_perplexity(args, bindir, path, args.perplexity) if bindir and t != "f32-l2c" else None
                mp, why = mrt_perplexity(args, path, args.perplexity, SHAPES[s][5])
                print("  %-6s %-8s %14s %14s" % (s, t, fmt(lp, "%.2f"), fmt(mp, "%.2f") if mp else "cannot: " + why[:60]))
        print("  mrt scores text through the raw plugin's logits request (mrt run -i input_ids=...); "
              "f32-l2c is the llama2.c checkpoint of the F32 weights")


if __name__ == "__main__":
    main()
