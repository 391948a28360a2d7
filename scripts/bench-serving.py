#!/usr/bin/env python3
"""Serving many clients (issue 26): continuous batching and the prompt cache
of the raw plugin, measured through the real service.

    scripts/bench-serving.py [--model DIR] [--streams 1,4,8] [--tokens 128]
                             [--runs 3] [--threads 2] [--build build]
                             [--isolated] [--prefix-tokens 512]

What one run does:

1. Starts the daemon (build/vnode/model-runtime.vnode) on a temporary socket
   with a vnode.yml whose max_cpu_share gives --threads workers and
   intra-op threads, and one system model: the llama2.c checkpoint in
   --model (default the 110M shape, dim 768, 12 layers, vocab 32000, from
   scripts/bench-gguf.py's cache ~/.cache/mrt-bench/models/110M-v2-seed0),
   with options max_sequences 8 and prompt_cache_mb 512. Plugins run in
   the service process unless --isolated (then in mrt-plugin-worker).
2. Loads the model and warms it with one short generation.
3. Decode throughput: for each N in --streams, N clients at once (each an
   `mrt generate --socket` process: the native client, streaming), each a
   different short prompt and --tokens greedy tokens. Per stream, its rate
   is (tokens - 1) / (last chunk - first chunk); aggregate throughput is
   all tokens / (last chunk of any stream - first chunk of any stream).
   Reported: aggregate tok/s, its ratio to one stream within the same run
   (then the median of those), and the slowest stream's rate / the mean
   rate (no stream starved).
4. Prompt cache: a fresh random --prefix-tokens prefix (letters and spaces,
   one token each in this vocabulary, so the prefix is that many tokens,
   BOS included), a first request (prefix + a question, 16 tokens) and a
   second (the same prefix + another question), as two chat sessions
   sharing a system prompt. Time to first token of each (from starting the
   client to its first chunk); the ratio cold / warm. The daemon's debug
   log (--log-level debug --keep) shows the tokens each prompt took from
   the prompt cache.
5. Medians over --runs rounds, then the table and the targets (4/1 ≥ 3,
   8/1 ≥ 5, slowest/mean ≥ 0.7, prompt-cache TTFT ratio ≥ 5) with PASS/FAIL.

Timings on a shared host are noisy: say what else was running.
"""
import argparse
import os
import random
import select
import shutil
import socket as socketlib
import statistics
import string
import subprocess
import sys
import tempfile
import time

DEFAULT_MODEL = os.path.expanduser("~/.cache/mrt-bench/models/110M-v2-seed0/llama2c")

PROMPTS = [
    "Once upon a time", "The little dog", "In a small town", "She opened the door",
    "The sun was", "A long time ago", "He looked at the", "They went to the",
]


def manifest(threads, cpus):
    share = min(1.0, threads / cpus)
    return (
        "name: model-runtime\nversion: 0.1.0-bench\nmode: strict\nruntime:\n"
        "  entrypoint: model-runtime.vnode\n  required_mem_mb: 8192\n"
        f"  max_cpu_share: {share}\n"
        "capabilities:\n  - CAP_IPC_ACCEPT\n  - 'CAP_IPC_CONNECT': 'svc://vfs'\n  - CAP_LOG_WRITE\n  - CAP_TIME_READ\n"
        "ipc: {address: 'svc://model-runtime'}\nstorage:\n  mounts:\n"
        "    - {path: /models, source: 'aetherfs://system-models', mode: ro}\n"
        "observability:\n  metrics: [inference_requests_total]\n"
    )


class Daemon:
    def __init__(self, args, work):
        self.build = args.build
        self.socket = os.path.join(work, "svc.sock")
        models = os.path.join(work, "state", "models")
        os.makedirs(os.path.join(models, "bench"))
        for f in ("model.bin", "tokenizer.bin"):
            # The service refuses symlinks that leave a model's directory: a
            # hard link where the file system allows, else a copy.
            try:
                os.link(os.path.join(args.model, f), os.path.join(models, "bench", f))
            except OSError:
                shutil.copyfile(os.path.join(args.model, f), os.path.join(models, "bench", f))
        with open(os.path.join(models, "bench", "model.yml"), "w") as out:
            out.write("format: llama2c\ntask: text-generation\nfiles: [model.bin, tokenizer.bin]\n"
                      f"options: {{tokenizer: tokenizer.bin, max_sequences: '{args.max_sequences}', "
                      f"prompt_cache_mb: '{args.prompt_cache_mb}'}}\n")
        with open(os.path.join(work, "vnode.yml"), "w") as out:
            out.write(manifest(args.threads, os.cpu_count() or 1))
        cmd = [os.path.join(self.build, "vnode/model-runtime.vnode"), "--manifest", os.path.join(work, "vnode.yml"),
               "--socket", self.socket, "--state-dir", os.path.join(work, "state"), "--system-models", models,
               "--plugin-file", os.path.join(self.build, "plugins/raw/mrt-plugin-raw.so"), "--log-level", args.log_level,
               "--queue-capacity", "256",
               "--plugin-worker", os.path.join(self.build, "vnode/mrt-plugin-worker") if args.isolated else ""]
        self.log = open(os.path.join(work, "daemon.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(500):
            if os.path.exists(self.socket):
                try:
                    s = socketlib.socket(socketlib.AF_UNIX)
                    s.connect(self.socket)
                    s.close()
                    return
                except OSError:
                    pass
            time.sleep(0.02)
        raise SystemExit("the daemon did not start; see " + self.log.name)

    def mrt(self, *argv):
        return [os.path.join(self.build, "vnode/mrt"), "--socket", self.socket, *argv]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def run_streams(daemon, prompts, tokens):
    """Starts one client per prompt at once; returns (start, [chunk times], text) per stream."""
    procs = []
    for p in prompts:
        t0 = time.perf_counter()
        proc = subprocess.Popen(daemon.mrt("generate", "bench", "--prompt", p, "--max-tokens", str(tokens),
                                           "--temperature", "0"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append((proc, t0, [], bytearray()))
    open_fds = {proc.stdout.fileno(): (proc, t0, times, text) for proc, t0, times, text in procs}
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 60)
        if not ready:
            raise SystemExit("no output from a client for 60 s")
        now = time.perf_counter()
        for fd in ready:
            data = os.read(fd, 65536)
            proc, t0, times, text = open_fds[fd]
            if not data:
                del open_fds[fd]
                continue
            times.append(now)
            text.extend(data)
    out = []
    for proc, t0, times, text in procs:
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            raise SystemExit("mrt generate failed: " + err)
        out.append((t0, times, text.decode(errors="replace")))
    return out


def decode_round(daemon, n, tokens):
    streams = run_streams(daemon, [PROMPTS[i % len(PROMPTS)] for i in range(n)], tokens)
    rates = [(tokens - 1) / (times[-1] - times[0]) for _, times, _ in streams if len(times) > 1]
    first = min(times[0] for _, times, _ in streams)
    last = max(times[-1] for _, times, _ in streams)
    aggregate = n * tokens / (last - first)
    return aggregate, min(rates) / statistics.mean(rates)


def random_prefix(tokens, rng):
    # Letters and spaces: one token each here (the vocabulary has single
    # characters and "▁", no merges of them); SentencePiece's dummy prefix
    # and BOS are two more.
    chars = []
    for i in range(tokens - 2):
        chars.append(" " if i % 6 == 5 else rng.choice(string.ascii_lowercase))
    return "".join(chars)


def ttft(daemon, prompt, tokens):
    (t0, times, text), = run_streams(daemon, [prompt], tokens)
    return times[0] - t0, text


def cache_round(daemon, prefix_tokens, rng):
    prefix = random_prefix(prefix_tokens, rng)
    first_prompt = prefix + " What happened next?"
    cold, _ = ttft(daemon, first_prompt, 16)
    # The same prefix, another question. (Not the first turn's answer too:
    # this random model's answers are filler tokens whose text re-encodes
    # into ~6 tokens each, which a real model's would not.)
    warm, _ = ttft(daemon, prefix + " And what did they say?", 16)
    return cold, warm


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL, help="llama2.c checkpoint directory (model.bin, tokenizer.bin)")
    ap.add_argument("--streams", default="1,4,8")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--build", default="build")
    ap.add_argument("--isolated", action="store_true", help="plugins in mrt-plugin-worker")
    ap.add_argument("--prefix-tokens", type=int, default=512)
    ap.add_argument("--max-sequences", type=int, default=8)
    ap.add_argument("--prompt-cache-mb", type=int, default=512)
    ap.add_argument("--log-level", default="warning", help="the daemon's (its log stays in the work directory with --keep)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (daemon.log)")
    args = ap.parse_args()
    counts = [int(n) for n in args.streams.split(",")]
    # Beside the model, so that its files can be hard-linked.
    work = tempfile.mkdtemp(prefix="mrt-bench-serving-", dir=os.path.dirname(os.path.abspath(args.model)))
    daemon = Daemon(args, work)
    rng = random.Random(1)
    try:
        subprocess.run(daemon.mrt("load", "bench"), check=True, stdout=subprocess.DEVNULL)
        run_streams(daemon, ["warm up"], 8)
        results = {n: [] for n in counts}
        cache = []
        for r in range(args.runs):
            for n in counts:
                results[n].append(decode_round(daemon, n, args.tokens))
                agg, fair = results[n][-1]
                print(f"run {r + 1}: {n} streams: {agg:.1f} tok/s, slowest/mean {fair:.2f}", file=sys.stderr)
            cache.append(cache_round(daemon, args.prefix_tokens, rng))
            print(f"run {r + 1}: TTFT cold {cache[-1][0] * 1000:.0f} ms, warm {cache[-1][1] * 1000:.0f} ms", file=sys.stderr)
    finally:
        daemon.stop()
        if args.keep:
            print("kept " + work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    med = {n: (statistics.median(a for a, _ in results[n]), statistics.median(f for _, f in results[n])) for n in counts}
    # Ratios within each run (its rounds back to back, under the same load),
    # then the median: a shared host's load drifts between runs.
    ratio = {n: statistics.median(results[n][r][0] / results[counts[0]][r][0] for r in range(args.runs)) for n in counts}
    print(f"\nmodel {args.model}, {args.threads} threads, {args.tokens} greedy tokens per stream, "
          f"medians of {args.runs} runs, plugins {'in mrt-plugin-worker' if args.isolated else 'in the service'}\n")
    print(f"| streams | aggregate tok/s | × {counts[0]} stream (same run) | slowest / mean |")
    print("| ---: | ---: | ---: | ---: |")
    for n in counts:
        print(f"| {n} | {med[n][0]:.1f} | {ratio[n]:.2f} | {med[n][1]:.2f} |")
    cold = statistics.median(c for c, _ in cache)
    warm = statistics.median(w for _, w in cache)
    print(f"\nprompt cache, {args.prefix_tokens}-token shared prefix: TTFT cold {cold * 1000:.0f} ms, "
          f"warm (second turn) {warm * 1000:.0f} ms, ratio {cold / warm:.1f}\n")
    checks = []
    if counts[0] == 1 and 4 in med:
        checks.append(("aggregate 4 streams / 1 ≥ 3", ratio[4], 3))
    if counts[0] == 1 and 8 in med:
        checks.append(("aggregate 8 streams / 1 ≥ 5", ratio[8], 5))
    for n in counts:
        if n > 1:
            checks.append((f"slowest / mean at {n} streams ≥ 0.7", med[n][1], 0.7))
    checks.append(("prompt-cache TTFT cold / warm ≥ 5", cold / warm, 5))
    for name, value, target in checks:
        print(f"{'PASS' if value >= target else 'FAIL'}  {name}: {value:.2f}")


if __name__ == "__main__":
    main()
