#!/usr/bin/env python3
"""Paired A/B of two mrt configurations on one model: is a plugin change faster?

    scripts/bench-mrt-ab.py A_DIR B_DIR --inputs DIR [--blocks 12] [--runs 3]
                            [--threads 2] [--threads-b T] [--env-b K=V ...]
                            [--plugin onednn] [--mrt build/vnode/mrt]

A_DIR and B_DIR are model directories (the same model with different
`options:` in model.yml, or the same directory twice for an A/A control);
--inputs holds one NAME.npy per model input. Both run as fresh
`mrt run ... --bench-paced` processes, loaded and warm, and take turns:
blocks of --runs counted runs (plus one uncounted, the threads waking up),
250 ms idle before each block, the order of A and B swapped every block so
neither always runs first. Prints each side's median and fastest run, and
the median over blocks of B's block median / A's (< 1: B is faster) with
its quartiles.

Why pairs: on the shared build machine identical runs of one plan differ by
up to 2x from one second to the next, and an A/A control's ratio lands
anywhere in 0.9-1.17; only a B/A outside the A/A range, in several runs,
says something. docs/performance-history.md records what was tried this way.
"""
import argparse
import glob
import os
import statistics
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(args, model_dir, threads, env_extra):
    """A paced mrt process, loaded and warmed up (past its `bench-ready` line)."""
    files = sorted(glob.glob(os.path.join(args.inputs, "*.npy")))
    if not files:
        sys.exit("error: no .npy inputs in %s" % args.inputs)
    cmd = [args.mrt, "run", model_dir, "--threads", str(threads), "--plugin", args.plugin,
           "--bench", str(args.blocks * (args.runs + 1)), "--bench-paced"]
    for f in files:
        cmd += ["-i", "%s=%s" % (os.path.basename(f)[:-len(".npy")], f)]
    env = dict(os.environ)
    env.update(env_extra)
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, bufsize=1)
    for line in proc.stdout:
        if line.startswith("bench-ready"):
            return proc
    sys.exit("error: %s did not start: %s" % (" ".join(cmd), proc.stderr.read().strip()[-2000:]))


def block(args, proc):
    """One block: idle --gap-ms, then runs+1 runs; returns the counted ms."""
    time.sleep(args.gap_ms / 1000.0)
    proc.stdin.write("%d\n" % (args.runs + 1))
    proc.stdin.flush()
    ms = []
    for _ in range(args.runs + 1):
        reply = proc.stdout.readline()
        if not reply.startswith("run_ms="):
            sys.exit("error: mrt stopped mid-block: %r %s" % (reply, proc.stderr.read().strip()[-2000:]))
        ms.append(float(reply.split("=", 1)[1]))
    return ms[1:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a_dir")
    ap.add_argument("b_dir")
    ap.add_argument("--inputs", required=True, help="directory of NAME.npy inputs")
    ap.add_argument("--blocks", type=int, default=12, help="blocks per side")
    ap.add_argument("--runs", type=int, default=3, help="counted runs per block")
    ap.add_argument("--gap-ms", type=float, default=250, help="idle before each block (OpenMP threads go to sleep)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="mrt --threads for A (and B)")
    ap.add_argument("--threads-b", type=int, help="mrt --threads for B when it differs")
    ap.add_argument("--env-b", nargs="*", default=[], metavar="K=V", help="environment for B only")
    ap.add_argument("--plugin", default="onednn")
    ap.add_argument("--mrt", default=os.path.join(REPO_ROOT, "build", "vnode", "mrt"))
    args = ap.parse_args()
    env_b = dict(kv.split("=", 1) for kv in args.env_b)
    a = start(args, args.a_dir, args.threads, {})
    b = start(args, args.b_dir, args.threads_b or args.threads, env_b)
    a_ms, b_ms, ratios = [], [], []
    for i in range(args.blocks):
        if i % 2 == 0:
            x = block(args, a)
            y = block(args, b)
        else:
            y = block(args, b)
            x = block(args, a)
        a_ms += x
        b_ms += y
        ratios.append(statistics.median(y) / statistics.median(x))
    for p in (a, b):
        p.communicate(timeout=600)
    q = statistics.quantiles(ratios, n=4)
    print("A: median %.2f ms, fastest %.2f ms" % (statistics.median(a_ms), min(a_ms)))
    print("B: median %.2f ms, fastest %.2f ms" % (statistics.median(b_ms), min(b_ms)))
    print("B/A paired median %.3f (quartiles %.3f-%.3f over %d blocks); B/A of fastest runs %.3f (< 1: B faster)"
          % (statistics.median(ratios), q[0], q[2], len(ratios), min(b_ms) / min(a_ms)))


if __name__ == "__main__":
    main()
