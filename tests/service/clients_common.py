"""What the client tests (http_clients_test.py, grpc_clients_test.py) share:
the one-line-per-check report, and the native protocol's answers (`mrt
--socket`) every front end's answer is compared with."""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def run_mrt(mrt, native_socket, argv, stdin=None):
    """`mrt --socket SOCKET argv...`'s stdout; a failure ends the test."""
    r = subprocess.run([mrt, "--socket", native_socket, *argv], capture_output=True, text=True, timeout=120, input=stdin)
    if r.returncode != 0:
        print(f"FAIL: mrt {' '.join(argv)} exited {r.returncode}: {r.stderr}")
        sys.exit(1)
    return r.stdout


def native_run(mrt, native_socket, model, name, x):
    """The outputs of `mrt run` on input `name` = x, by output name."""
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/{name}.npy", x)
        run_mrt(mrt, native_socket, ["run", model, "--input", f"{name}={tmp}/{name}.npy", "--output", tmp])
        return {p.stem: np.load(p) for p in Path(tmp).glob("*.npy") if p.stem != name}
