#!/usr/bin/env python3
"""The Python client (vnode/client/python/mrt_client.py) against the real daemon:
health, list models, classify an image, generate with streaming and without,
tensors (with numpy), errors as MrtError, and the service's generation metrics.

    python_client_test.py <model-runtime.vnode> <fixture plugin .so> <source root>

The message classes are compiled from vnode/proto by protoc, as a user's
would be from the installed .proto. Needs the `protobuf` package: when this
interpreter lacks it, Debian's python3 (python3-protobuf) is tried; without
either the test is skipped (77).
"""
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

try:
    import google.protobuf  # noqa: F401
except ImportError:
    debian = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(debian) and os.path.exists(debian) \
            and subprocess.run([debian, "-c", "import google.protobuf"], capture_output=True).returncode == 0:
        os.execv(debian, [debian] + sys.argv)
    print("no protobuf package for Python (pip install protobuf, or Debian's python3-protobuf): skipped")
    sys.exit(77)

daemon_exe, fixture_plugin, source_root = sys.argv[1:4]
sys.path.insert(0, os.path.join(source_root, "vnode", "client", "python"))
import mrt_client  # noqa: E402


def png_rgb(w, h, rgb):
    """An 8-bit RGB PNG filled with one colour."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


results = {"passed": 0, "failed": 0}


def check(name, cond, detail=""):
    results["passed" if cond else "failed"] += 1
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"), flush=True)


tmp = tempfile.mkdtemp(prefix="mrt-pyclient-")
daemon = None
try:
    models = os.path.join(tmp, "models")
    # An image classifier the fixture plugin serves: the mean of each channel.
    colours = os.path.join(models, "colours")
    os.makedirs(colours)
    with open(os.path.join(colours, "model.fixture"), "w") as f:
        f.write("image=8\n")
    with open(os.path.join(colours, "labels.txt"), "w") as f:
        f.write("red\ngreen\nblue\nnone\n")
    with open(os.path.join(colours, "model.yml"), "w") as f:
        f.write("format: fixture\nfiles: [model.fixture]\ntask: classification\n"
                "preprocess: {kind: image, width: 8, height: 8, resize: exact, channels: 3, layout: nchw, "
                "scale: 0.00392156862745098, mean: [0.0, 0.0, 0.0], std: [1.0, 1.0, 1.0]}\n"
                "postprocess: {kind: classification, top_k: 2, labels: labels.txt}\n")
    shutil.copytree(os.path.join(source_root, "tests/fixtures/models/tiny-llama-hf"), os.path.join(models, "tiny-llama"))
    shutil.copytree(os.path.join(source_root, "models/iris-dense"), os.path.join(models, "iris-dense"))
    sock = os.path.join(tmp, "svc.sock")
    log = open(os.path.join(tmp, "daemon.log"), "w")
    daemon = subprocess.Popen([daemon_exe, "--socket", sock, "--state-dir", os.path.join(tmp, "state"),
                               "--system-models", models, "--plugin-file", fixture_plugin],
                              stdout=log, stderr=subprocess.STDOUT)
    pb = mrt_client.load_protocol(os.path.join(source_root, "vnode", "proto"))
    client = None
    for _ in range(200):
        try:
            client = mrt_client.Client(sock, protocol=pb, timeout=60)
            break
        except mrt_client.MrtError:
            time.sleep(0.05)
    if client is None:
        print(open(os.path.join(tmp, "daemon.log")).read())
        sys.exit(1)

    with client as c:
        h = c.health()
        check("health", h.serving and h.version != "" and h.aid == str(os.getuid()), h)
        ids = {m.model_id: m for m in c.list_models()}
        check("list models", {"colours", "tiny-llama", "iris-dense"} <= set(ids), sorted(ids))
        classes = c.classify("colours", png_rgb(8, 8, (250, 10, 10)))
        check("classify a red image", classes and classes[0][0] == "red" and len(classes) == 2, classes)

        prompt = "the cat sat on the mat"
        parts = list(c.generate_stream("tiny-llama", prompt, max_tokens=12, seed=3, temperature=0.8))
        chunks, final = parts[:-1], parts[-1]
        streamed = "".join(p.text for p in chunks)
        check("generate streams chunks, then a final part", len(chunks) > 0 and all(not p.final for p in chunks)
              and final.final, [p.final for p in parts])
        check("the final part holds the whole text", final.text == streamed, (final.text, streamed))
        check("the final part counts tokens", final.prompt_tokens == 7 and 0 < final.generated_tokens <= 12
              and final.finish_reason in ("eos", "length", "stop"), final)
        whole = c.generate("tiny-llama", prompt, max_tokens=12, seed=3, temperature=0.8)
        check("generate without a stream gives the same text (same seed)", whole.text == streamed, whole.text)

        try:
            c.classify("no-such-model", png_rgb(8, 8, (0, 0, 0)))
            check("an unknown model is NOT_FOUND", False, "no error")
        except mrt_client.MrtError as e:
            check("an unknown model is NOT_FOUND", e.code_name == "NOT_FOUND", e)
        check("the connection serves on after an error", c.health().serving)

        try:
            import numpy as np
        except ImportError:
            np = None
        if np is not None:
            x = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
            out = c.run("iris-dense", {"x": x})
            probs = next(iter(out.values()))
            check("tensors in, tensors out (iris)", probs.shape[0] == 1 and abs(float(probs.sum()) - 1) < 1e-3, out)
        else:
            print("skip tensors: no numpy for this interpreter")

        m = c.metrics()
        check("generation metrics moved", 'generation_tokens_total{model="tiny-llama"}' in m
              and 'generation_time_to_first_token_ms_count{model="tiny-llama"} 2' in m, m[-600:])
    daemon.send_signal(signal.SIGTERM)
    check("the daemon drains and exits 0", daemon.wait(timeout=30) == 0)
    daemon = None
finally:
    if daemon is not None:
        daemon.kill()
        daemon.wait()
        print(open(os.path.join(tmp, "daemon.log")).read()[-3000:])
    shutil.rmtree(tmp, ignore_errors=True)

print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
