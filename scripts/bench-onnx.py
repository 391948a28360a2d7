#!/usr/bin/env python3
"""Speed of the oneDNN plugin on ONNX models, side by side with onnxruntime.

    scripts/bench-onnx.py [--threads T] [--rounds 5] [--iters 20]
                          [--models resnet18,resnet50,mobilenetv2,squeezenet,bert]
                          [--batches 1,8] [--bench-dir /tmp/onnx-bench]
                          [--mrt build/vnode/mrt] [--markdown] [--ort-only]
                          [--precision fp32|bf16] [--winograd on|off]
                          [--batch-split auto|on|off] [--conv-layout blocked|onednn]
                          [--block-ms 500] [--gap-ms 250]

Models come from `scripts/make-onnx-fixtures.py --bench-dir DIR` (called when
DIR lacks one of them): DIR/<name>/model.onnx and input_b<B>/<input>.npy.

For each model and batch the script warms both sides up, then runs --rounds
rounds. A round creates a fresh onnxruntime InferenceSession (its creation
timed; same threads, ORT_ENABLE_ALL) and starts a fresh
`mrt run <dir> -i NAME=x.npy ... --bench N --plugin onednn --bench-paced`
(it loads the model, warms up, then times runs as the script asks), and
alternates blocks of ~--block-ms of runs between the two, --gap-ms idle
before each block so that the other side's spinning pool threads have gone
to sleep (ORT's keep spinning ~100 ms after a run and would halve mrt's
speed), the first run of each block not counted. A block pair is seconds
apart at most, so its ratio cancels the machine's slow swings (±20% within
seconds on this shared machine); the ORT/mrt (paired) column is the median of
those ratios over all rounds, the ms columns each side's median over rounds
of its per-round medians. The ORT/mrt of fastest runs column (each side's
single fastest counted run) shows the two without the neighbours' noise:
a diagnostic of how much of the margin the noise eats, not the target.

Prints latency, throughput, ORT/mrt ratio (> 1: mrt faster), GFLOP/s and the
fraction of the machine's FP32 peak, then load times, like for like: mrt's
`load_ms` (a fresh process's first load) against ORT's session creation as
a fresh process's first session, and mrt's `reload_ms` (the same model
loaded again in the warm process) against ORT's later sessions in this
script's warm process. FLOPs count 2 x MACs of Conv,
ConvTranspose, Gemm and MatMul from the shape-inferred graph; elementwise ops
are ignored. --ort-only skips mrt (to try the script before the plugin exists).
--precision bf16 runs mrt with the plugin's `precision: bf16` option (ORT stays
float32); --winograd off with `winograd: off` (direct convolution kernels
only, for comparison with the default); --batch-split off|on with
`batch_split: off` (every layer at the full batch) or `on` (split wherever
it applies); --conv-layout onednn with `conv_layout: onednn` (oneDNN's own
NHWC layouts, no depthwise fusion: the plans of before 2026-11-29). The
error column is
‖mrt − ORT‖ / ‖ORT‖ on the benchmark input.
Needs numpy, onnx and onnxruntime (PyPI).
"""
import argparse
import glob
import os
import statistics
import subprocess
import shutil
import sys
import tempfile
import time

import numpy as np

import cpu_peak

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODELS = ["resnet18", "resnet50", "mobilenetv2", "squeezenet", "bert"]


def log(msg):
    # Progress goes to stderr so stdout holds only the tables (--markdown > file).
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- inputs

def ensure_bench_dir(bench_dir, models):
    """Generate the bench models when one is missing; they are too big to commit."""
    missing = [m for m in models if not os.path.exists(os.path.join(bench_dir, m, "model.onnx"))]
    if not missing:
        return
    maker = os.path.join(REPO_ROOT, "scripts", "make-onnx-fixtures.py")
    if not os.path.exists(maker):
        sys.exit("error: %s lacks %s and %s does not exist" % (bench_dir, ", ".join(missing), maker))
    log("generating bench models in %s (missing: %s)" % (bench_dir, ", ".join(missing)))
    cmd = [sys.executable, maker, "--bench-dir", bench_dir]
    for m in missing:  # only what is missing: each model takes a while to build
        cmd += ["--only", m]
    if subprocess.run(cmd).returncode != 0:
        sys.exit("error: %s failed" % " ".join(cmd))
    still = [m for m in models if not os.path.exists(os.path.join(bench_dir, m, "model.onnx"))]
    if still:
        sys.exit("error: make-onnx-fixtures.py did not write %s" % ", ".join(still))


def input_files(model_dir, batch):
    """{input name: .npy path} for one batch size; the file stem is the input name."""
    files = sorted(glob.glob(os.path.join(model_dir, "input_b%d" % batch, "*.npy")))
    return {os.path.splitext(os.path.basename(f))[0]: f for f in files}


# ---------------------------------------------------------------- FLOPs

def count_flops(model_path, feeds):
    """2 x MACs of the matrix ops, with every input's shape fixed to its feed.

    Fixing the whole input shape (not just the batch) also pins sequence
    lengths, so MatMuls of a transformer get concrete shapes. Weights are
    initializers or Constant nodes. Returns None when
    some matrix op's shapes stay unknown.
    """
    import onnx
    model = onnx.load(model_path)
    for inp in model.graph.input:
        if inp.name in feeds and inp.type.HasField("tensor_type"):
            shape = inp.type.tensor_type.shape
            shape.ClearField("dim")
            for d in feeds[inp.name].shape:
                shape.dim.add().dim_value = int(d)
    # Declared output shapes keep their symbolic batch through inference;
    # dropping them lets inference write concrete ones.
    for out in model.graph.output:
        if out.type.HasField("tensor_type"):
            out.type.tensor_type.ClearField("shape")
    # data_prop evaluates Shape -> Gather -> Concat -> Reshape chains (torch's
    # x.view(x.size(0), -1), attention head splits); without it shapes after
    # such a Reshape stay unknown.
    model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    g = model.graph
    shapes = {i.name: list(i.dims) for i in g.initializer}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            dims = vi.type.tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                shapes[vi.name] = [d.dim_value for d in dims]
    for node in g.node:  # Constant weights (some exporters fold weights into Constant nodes)
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    shapes[node.output[0]] = list(a.t.dims)

    # Shape inference gives up on some Reshape chains (data_prop does not see
    # through a scalar Gather); ask onnxruntime for what is still missing.
    missing = [name for node in g.node if node_macs(node, shapes) is None
               for name in list(node.input[:2]) + [node.output[0]] if name and name not in shapes]
    if missing:
        shapes.update(shapes_from_ort(model, feeds, sorted(set(missing))))

    total = 0
    for node in g.node:
        macs = node_macs(node, shapes)
        if macs is None:
            log("  flops: shapes unknown for %s %s; GFLOP/s left out" % (node.op_type, node.name))
            return None
        total += macs
    return 2 * total


def shapes_from_ort(model, feeds, names):
    """Actual shapes of some intermediate values, from one unoptimized ORT run.

    The values become extra graph outputs; optimizations are off so that
    every name still exists in the executed graph.
    """
    import onnx
    import onnxruntime as ort
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for name in names:
        m.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(m.SerializeToString(), sess_options=so,
                                    providers=["CPUExecutionProvider"])
        values = sess.run(names, feeds)
    except Exception as e:  # noqa: BLE001 - FLOPs are optional, the timings are not
        log("  flops: onnxruntime could not report shapes (%s)" % str(e).splitlines()[0])
        return {}
    return {name: list(v.shape) for name, v in zip(names, values)}


def node_macs(node, shapes):
    """Multiply-accumulates of one node (0 for ops we do not count, None if unknown)."""
    op = node.op_type
    if op not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
        return 0
    get = lambda i: shapes.get(node.input[i]) if len(node.input) > i else None
    out = shapes.get(node.output[0])
    attrs = {a.name: a for a in node.attribute}
    if op == "Conv":
        w = get(1)
        if w is None or out is None:
            return None
        # out [N, M, *spatial]; w [M, C/group, *k]: each output element sums C/group * prod(k).
        return prod(out) * prod(w[1:])
    if op == "ConvTranspose":
        x, w = get(0), get(1)
        if x is None or w is None:
            return None
        # x [N, C, *spatial_in]; w [C, M/group, *k]: each input element scatters M/group * prod(k).
        return prod(x) * prod(w[1:])
    a, b = get(0), get(1)
    if a is None or b is None:
        return None
    if op == "Gemm":
        # From the operands, not the output: A [M, K] and B [K, N] before transposition.
        trans_a = attrs["transA"].i if "transA" in attrs else 0
        trans_b = attrs["transB"].i if "transB" in attrs else 0
        m, k = (a[1], a[0]) if trans_a else (a[0], a[1])
        n = b[0] if trans_b else b[1]
        return m * n * k
    # MatMul, numpy semantics: 1-D operands gain a unit dim, batch dims broadcast.
    a2 = [1] + a if len(a) == 1 else a
    b2 = b + [1] if len(b) == 1 else b
    batch_a, batch_b = a2[:-2], b2[:-2]
    width = max(len(batch_a), len(batch_b))
    batch_a = [1] * (width - len(batch_a)) + batch_a
    batch_b = [1] * (width - len(batch_b)) + batch_b
    batch = [max(x, y) for x, y in zip(batch_a, batch_b)]
    return prod(batch) * a2[-2] * a2[-1] * b2[-1]


def prod(xs):
    p = 1
    for x in xs:
        p *= int(x)
    return p


# ---------------------------------------------------------------- the two sides

def parse_bench_line(text):
    """Fields of the CLI's `bench: k=v k=v ...` line; None when there is none.

    Fields are split on whitespace, so `via=in-process plugin=onednn` yields
    via and plugin; fields added later (load_ms) simply appear, absent ones
    are absent.
    """
    for line in text.splitlines():
        if line.startswith("bench:"):
            fields = {}
            for tok in line[len("bench:"):].split():
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    fields[k] = v
            return fields
    return None


def mrt_command(args, model_dir, files, iters, paced=False):
    cmd = [args.mrt, "run", model_dir]
    for name, path in files.items():
        cmd += ["-i", "%s=%s" % (name, path)]
    cmd += ["--threads", str(args.threads), "--bench", str(iters), "--plugin", args.plugin]
    return cmd + (["--bench-paced"] if paced else [])


def mrt_fields(args, cmd, returncode, stdout, stderr):
    """The `bench:` line's fields of a finished mrt process, or RuntimeError."""
    fields = parse_bench_line(stdout)
    if returncode != 0 or fields is None:
        # First line: the reason (mrt's last stderr line), for the summary;
        # then the command and the whole output, for the log.
        out = (stderr.strip() or stdout.strip() or "no output")
        raise RuntimeError("rc=%d: %s\n%s\n%s" % (returncode, out.splitlines()[-1], " ".join(cmd), out[-2000:]))
    if "plugin" in fields and fields["plugin"] != args.plugin:
        raise RuntimeError("mrt ran plugin %s, not %s" % (fields["plugin"], args.plugin))
    return fields


def run_mrt(args, model_dir, files, iters):
    """One mrt process timing `iters` runs alone (the warm-up): returns its median ms."""
    cmd = mrt_command(args, model_dir, files, iters)
    p = subprocess.run(cmd, capture_output=True, text=True)
    return float(mrt_fields(args, cmd, p.returncode, p.stdout, p.stderr)["median_ms"])


def run_paired_round(args, model_dir, files, model_path, feeds, iters, run_ms):
    """One round: a fresh ORT session and a fresh mrt process (`--bench-paced`),
    timed in alternating blocks of runs, each block ~--block-ms long (from
    `run_ms`, a warm-up estimate of one run; at most a quarter of `iters`) and each pair of blocks seconds
    apart at most, so both see the same machine state: the neighbours' slow
    swings that make separately timed rounds differ by ±20% cancel in the
    per-block ratio. Before each block both sides sit idle --gap-ms, long
    enough for the other side's pool threads to stop spinning (ORT's spin
    for ~100 ms after a run and halve mrt's speed meanwhile); the first run
    of each block (threads waking up) is not counted.

    Returns a dict: mrt_ms and ort_ms (lists of counted runs), pairs (ORT
    block median / mrt block median, one per block), mrt_load, mrt_reload,
    ort_load (ms; the mrt loads are None when not reported).
    """
    import onnxruntime as ort
    # Counted runs per block: ~--block-ms, at least 2, and at most a quarter
    # of the round's runs so that a round has 4 pairs or more.
    k = max(2, min(-(-iters // 4), int(round(args.block_ms / max(run_ms, 1e-3)))))
    blocks = max(1, -(-iters // k))
    so = ort_options(args.threads)
    t0 = time.perf_counter()
    sess = ort.InferenceSession(model_path, sess_options=so, providers=["CPUExecutionProvider"])
    ort_load = (time.perf_counter() - t0) * 1000
    for _ in range(max(3, iters // 10)):  # the warm-up count mrt --bench uses
        sess.run(None, feeds)
    cmd = mrt_command(args, model_dir, files, blocks * (k + 1), paced=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            bufsize=1)
    out = {"mrt_ms": [], "ort_ms": [], "pairs": [], "ort_load": ort_load}
    seen = []
    gap = args.gap_ms / 1000.0
    try:
        line = proc.stdout.readline()  # mrt loads and warms up while ORT is idle
        seen.append(line)
        while line and not line.startswith("bench-ready"):
            line = proc.stdout.readline()
            seen.append(line)
        for _ in range(blocks if line else 0):
            time.sleep(gap)
            proc.stdin.write("%d\n" % (k + 1))
            proc.stdin.flush()
            mrt_block = []
            for _ in range(k + 1):
                reply = proc.stdout.readline()
                seen.append(reply)
                if not reply.startswith("run_ms="):
                    break
                mrt_block.append(float(reply.split("=", 1)[1]))
            if len(mrt_block) != k + 1:
                break
            time.sleep(gap)
            ort_block = []
            for _ in range(k + 1):
                t0 = time.perf_counter()
                sess.run(None, feeds)
                ort_block.append((time.perf_counter() - t0) * 1000)
            out["mrt_ms"] += mrt_block[1:]
            out["ort_ms"] += ort_block[1:]
            out["pairs"].append(statistics.median(ort_block[1:]) / statistics.median(mrt_block[1:]))
        rest, err = proc.communicate(timeout=600)  # closes stdin: mrt ends its timing
    finally:
        if proc.poll() is None:
            proc.kill()
        del sess  # stops its pool threads
    fields = mrt_fields(args, cmd, proc.returncode, "".join(seen) + rest, err)
    if len(out["pairs"]) != blocks:
        raise RuntimeError("mrt stopped after %d of %d blocks\n%s" % (len(out["pairs"]), blocks, err[-2000:]))
    out["mrt_load"] = float(fields["load_ms"]) if "load_ms" in fields else None
    out["mrt_reload"] = float(fields["reload_ms"]) if "reload_ms" in fields else None
    return out


def ort_options(threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return so


def warm_ort(args, model_path, feeds):
    """A throw-away ORT session and 3 runs: page cache, clocks, lazy loading."""
    import onnxruntime as ort
    sess = ort.InferenceSession(model_path, sess_options=ort_options(args.threads), providers=["CPUExecutionProvider"])
    for _ in range(3):
        sess.run(None, feeds)


def run_ort_round(args, model_path, feeds, iters):
    """--ort-only: one fresh ORT session timing `iters` runs alone (same dict
    as run_paired_round, without the mrt fields)."""
    import onnxruntime as ort
    so = ort_options(args.threads)
    t0 = time.perf_counter()
    sess = ort.InferenceSession(model_path, sess_options=so, providers=["CPUExecutionProvider"])
    ort_load = (time.perf_counter() - t0) * 1000
    for _ in range(max(3, iters // 10)):
        sess.run(None, feeds)
    ort_ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        ort_ms.append((time.perf_counter() - t0) * 1000)
    return {"mrt_ms": [], "ort_ms": ort_ms, "pairs": [], "mrt_load": None, "mrt_reload": None, "ort_load": ort_load}


def ort_cold_session_ms(args, model_path):
    """ORT session creation as the first session of a fresh process: the
    like-for-like peer of mrt's load_ms, which is a fresh process's first
    load (one-time library set-up included on both sides; the import of
    onnxruntime, like mrt's plugin loading, is not counted)."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--time-session", model_path,
                          "--threads", str(args.threads)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def time_session(args):
    """This process's first ORT session on args.time_session: prints its creation ms."""
    import onnxruntime as ort
    so = ort_options(args.threads)  # options built before the clock starts, as in run_paired_round
    t0 = time.perf_counter()
    ort.InferenceSession(args.time_session, sess_options=so, providers=["CPUExecutionProvider"])
    print((time.perf_counter() - t0) * 1000)


def try_mrt(res, what, *call):
    """what(*call), but a failure is recorded in `res` (the ORT side still runs)."""
    try:
        return what(*call)
    except RuntimeError as e:
        res["mrt_error"] = str(e).splitlines()[0]
        log("%s b%d: mrt %s" % (res["model"], res["batch"], e))
        return None


def plugin_options(args):
    """The plugin options this run asks for (none: the bench model as it is)."""
    opts = {}
    if args.precision != "fp32":
        opts["precision"] = args.precision
    if args.winograd != "on":
        opts["winograd"] = args.winograd
    if args.batch_split != "auto":
        opts["batch_split"] = args.batch_split
    if args.conv_layout != "blocked":
        opts["conv_layout"] = args.conv_layout
    return opts


def staged_model_dir(args, name):
    """The directory mrt loads: the bench model itself, or when plugin
    options are asked for (--precision, --winograd, --batch-split, --conv-layout) a sibling whose
    model.yml sets them (the model file hard-linked; inputs are read from
    the original)."""
    src = os.path.join(args.bench_dir, name)
    opts = plugin_options(args)
    if not opts:
        return src
    dst = os.path.join(args.bench_dir, name + "".join("-%s-%s" % kv for kv in sorted(opts.items())))
    os.makedirs(dst, exist_ok=True)
    # Hard links: the runtime refuses model files that resolve outside the
    # model's directory, which a symlink would.
    for entry in ("model.onnx",):
        link = os.path.join(dst, entry)
        if not os.path.lexists(link):
            try:
                os.link(os.path.join(src, entry), link)
            except OSError:
                shutil.copy(os.path.join(src, entry), link)
    with open(os.path.join(src, "model.yml")) as f:
        manifest = f.read()
    with open(os.path.join(dst, "model.yml"), "w") as f:
        f.write(manifest.rstrip("\n") + "\noptions: {%s}\n" % ", ".join("%s: %s" % kv for kv in sorted(opts.items())))
    return dst


def output_error(args, model_dir, files, model_path, feeds):
    """‖mrt − ORT‖ / ‖ORT‖ over the first output, both on the same input."""
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as out:
        cmd = [args.mrt, "run", model_dir, "-o", out, "--threads", str(args.threads), "--plugin", args.plugin]
        for k, v in files.items():
            cmd += ["-i", "%s=%s" % (k, v)]
        subprocess.run(cmd, capture_output=True, check=True)
        sess = ort.InferenceSession(model_path, sess_options=ort_options(args.threads), providers=["CPUExecutionProvider"])
        want = sess.run(None, feeds)[0]
        got = np.load(os.path.join(out, sess.get_outputs()[0].name + ".npy"))
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def bench_case(args, name, batch):
    """All rounds of one (model, batch); returns a result dict."""
    model_dir = staged_model_dir(args, name)
    model_path = os.path.join(args.bench_dir, name, "model.onnx")
    files = input_files(os.path.join(args.bench_dir, name), batch)
    if not files:
        log("%s b%d: no %s/input_b%d/*.npy, skipped" % (name, batch, os.path.join(args.bench_dir, name), batch))
        return None
    feeds = {k: np.load(v) for k, v in files.items()}
    res = {"model": name, "batch": batch, "flops": count_flops(model_path, feeds),
           "mrt": [], "mrt_load": [], "mrt_reload": [], "ort": [], "mrt_fastest": [], "ort_fastest": [], "pairs": [], "ort_load": [], "ort_cold_load": [],
           "mrt_error": None}

    # Warm-up: page cache, CPU clocks, lazy library loading on both sides.
    warm_ort(args, model_path, feeds)
    use_mrt = not args.ort_only
    run_ms = None
    if use_mrt:
        run_ms = try_mrt(res, run_mrt, args, model_dir, files, 3)
        use_mrt = run_ms is not None
    res["rel_err"] = output_error(args, model_dir, files, model_path, feeds) if use_mrt else None

    for r in range(args.rounds):
        line = "%s b%d round %d/%d:" % (name, batch, r + 1, args.rounds)
        got = None
        if use_mrt:
            got = try_mrt(res, run_paired_round, args, model_dir, files, model_path, feeds, args.iters, run_ms)
            use_mrt = got is not None
        if got is None:
            got = run_ort_round(args, model_path, feeds, args.iters)
        if got["mrt_ms"]:
            res["mrt"].append(statistics.median(got["mrt_ms"]))
            res["mrt_fastest"].append(min(got["mrt_ms"]))
            res["pairs"].extend(got["pairs"])
            for key in ("mrt_load", "mrt_reload"):
                if got[key] is not None:
                    res[key].append(got[key])
            line += " mrt %.3f ms" % res["mrt"][-1]
        res["ort"].append(statistics.median(got["ort_ms"]))
        res["ort_fastest"].append(min(got["ort_ms"]))
        res["ort_load"].append(got["ort_load"])
        cold = ort_cold_session_ms(args, model_path)
        res["ort_cold_load"].append(cold)
        line += " ort %.3f ms (session %.1f ms, fresh process %.1f ms)" % (res["ort"][-1], got["ort_load"], cold)
        if got["mrt_ms"]:
            line += ", ORT/mrt per block %s" % " ".join("%.2f" % p for p in got["pairs"])
        log(line)
    return res


# ---------------------------------------------------------------- report

def med(xs):
    return statistics.median(xs) if xs else None


def quartiles(xs):
    """'p25-p75' of the paired ratios: how far single pairs scatter."""
    if len(xs) < 4:
        return "-"
    q = statistics.quantiles(xs, n=4)
    return "%.2f-%.2f" % (q[0], q[2])


def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def tables(results, peak):
    """(latency rows, load rows) as lists of string tuples."""
    lat = [("model", "batch", "mrt ms", "ORT ms", "ORT/mrt (paired)", "pairs p25-p75", "ORT/mrt of medians",
            "ORT/mrt of fastest runs", "mrt items/s", "ORT items/s",
            "GFLOP", "mrt GFLOP/s", "mrt % peak", "ORT GFLOP/s", "ORT % peak", "rel. error")]
    loads, seen = {}, []
    for r in results:
        m, o = med(r["mrt"]), med(r["ort"])
        gflop = r["flops"] / 1e9 if r["flops"] else None
        rate = lambda ms: gflop / (ms / 1000) if gflop and ms else None
        pct = lambda g: 100 * g / peak if g and peak else None
        lat.append((r["model"], str(r["batch"]), fmt(m, "%.3f") if not r["mrt_error"] else "fail",
                    fmt(o, "%.3f"), fmt(med(r["pairs"])), quartiles(r["pairs"]), fmt(o / m if m and o else None),
                    fmt(min(r["ort_fastest"]) / min(r["mrt_fastest"]) if r["mrt_fastest"] and r["ort_fastest"] else None),
                    fmt(r["batch"] * 1000 / m if m else None, "%.1f"),
                    fmt(r["batch"] * 1000 / o if o else None, "%.1f"),
                    fmt(gflop, "%.3f"), fmt(rate(m), "%.1f"), fmt(pct(rate(m)), "%.1f"),
                    fmt(rate(o), "%.1f"), fmt(pct(rate(o)), "%.1f"), fmt(r.get("rel_err"), "%.1e")))
        # Load time does not depend on the batch: pool the rounds of all batches.
        if r["model"] not in loads:
            loads[r["model"]] = ([], [], [], [])
            seen.append(r["model"])
        for i, key in enumerate(("mrt_load", "ort_cold_load", "mrt_reload", "ort_load")):
            loads[r["model"]][i].extend(r[key])
    load = [("model", "mrt load ms (fresh process)", "ORT session ms (fresh process)", "mrt load ms (warm process)",
             "ORT session ms (warm process)")]
    for name in seen:
        load.append((name,) + tuple(fmt(med(loads[name][i]), "%.1f") for i in range(4)))
    return lat, load


def print_table(rows, markdown):
    if markdown:
        print("| " + " | ".join(rows[0]) + " |")
        print("| " + " | ".join("---" for _ in rows[0]) + " |")
        for r in rows[1:]:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads, both sides")
    ap.add_argument("--rounds", type=int, default=5, help="alternating mrt/ORT rounds per case")
    ap.add_argument("--iters", type=int, default=20, help="timed runs per round (mrt --bench N)")
    ap.add_argument("--block-ms", type=float, default=500, help="length of each side's block of runs in a round")
    ap.add_argument("--gap-ms", type=float, default=250,
                    help="pause before each block, for the other side's spinning threads to sleep")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--bench-dir", default="/tmp/onnx-bench")
    ap.add_argument("--mrt", default=os.path.join(REPO_ROOT, "build", "vnode", "mrt"))
    ap.add_argument("--plugin", default="onednn", help="mrt --plugin")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="the plugin's precision option (ORT stays float32; the error column compares them)")
    ap.add_argument("--winograd", default="on", choices=["on", "off"],
                    help="the plugin's winograd option (off: direct convolution kernels only)")
    ap.add_argument("--batch-split", default="auto", choices=["auto", "on", "off"],
                    help="the plugin's batch_split option (off: every layer at the full batch; on: split wherever it applies)")
    ap.add_argument("--conv-layout", default="blocked", choices=["blocked", "onednn"],
                    help="the plugin's conv_layout option (onednn: oneDNN's own layouts, no depthwise fusion)")
    ap.add_argument("--ort-only", action="store_true", help="skip mrt (before the plugin exists)")
    ap.add_argument("--markdown", action="store_true", help="markdown tables for docs/performance.md")
    ap.add_argument("--clock-ghz", type=float, help="override the clock used for the peak")
    ap.add_argument("--flops-per-cycle", type=int, help="override FP32 FLOP/cycle/core for the peak")
    ap.add_argument("--time-session", metavar="MODEL", help=argparse.SUPPRESS)  # ort_cold_session_ms's child
    args = ap.parse_args()
    if args.time_session:
        return time_session(args)

    import onnxruntime as ort
    models = [m for m in args.models.split(",") if m]
    batches = [int(b) for b in args.batches.split(",") if b]
    if not args.ort_only and not os.access(args.mrt, os.X_OK):
        sys.exit("error: no mrt at %s (build first, pass --mrt, or use --ort-only)" % args.mrt)
    ensure_bench_dir(args.bench_dir, models)
    peak, peak_line = cpu_peak.nominal_peak(args.threads, args.clock_ghz, args.flops_per_cycle)
    measured = cpu_peak.measured_peak(os.path.join(REPO_ROOT, "build", "tests", "fma-peak"), args.threads)
    if measured:
        peak_line += "; measured now (build/tests/fma-peak): %.1f GFLOP/s" % measured

    results = []
    for name in models:
        for batch in batches:
            r = bench_case(args, name, batch)
            if r:
                results.append(r)

    lat, load = tables(results, peak)
    header = ("threads=%d rounds=%d iters=%d onnxruntime=%s plugin=%s precision=%s winograd=%s batch_split=%s conv_layout=%s%s"
              % (args.threads, args.rounds, args.iters, ort.__version__, args.plugin, args.precision, args.winograd,
                 args.batch_split, args.conv_layout,
                 " (ORT only)" if args.ort_only else ""))
    print(header + ("\n" if args.markdown else ""))
    print(peak_line + ("\n" if args.markdown else ""))
    print("ms are medians over rounds of per-round medians; ORT/mrt > 1 means mrt is faster. ORT/mrt (paired) is "
          "the median over all rounds of each mrt block's ratio to the ORT block right after it. ORT/mrt of fastest "
          "runs compares each side's single fastest run: what the two do when the neighbours leave the cores alone "
          "(a diagnostic; the targets are judged on the paired column)." +
          ("\n" if args.markdown else ""))
    print_table(lat, args.markdown)
    print_table(load, args.markdown)
    for r in results:
        if r["mrt_error"]:
            print("mrt failed on %s b%d: %s" % (r["model"], r["batch"], r["mrt_error"]))


if __name__ == "__main__":
    main()
