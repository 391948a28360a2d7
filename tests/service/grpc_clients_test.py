#!/usr/bin/env python3
"""The KServe v2 gRPC front end against the real client from PyPI
(`tritonclient.grpc`), on a running daemon (started by grpc_clients_test.sh),
over the gRPC Unix socket (the caller's AID from peer credentials). Every
inference is compared with what the native protocol (`mrt --socket`) gives
for the same request. Prints one line per check; exits 1 on the first
failure."""
import argparse
import os
from pathlib import Path

import numpy as np
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

import clients_common
from clients_common import check, run_mrt

args = None


def mrt(*argv):
    return run_mrt(args.mrt, args.native_socket, argv)


def expect_error(call, code, what):
    try:
        call()
    except InferenceServerException as e:
        check(e.status() == f"StatusCode.{code}", f"{what} ({e.status()}: {e.message()[:160]})")
        return e
    check(False, f"{what}: no error raised")


def native_run(model, name, x):
    return clients_common.native_run(args.mrt, args.native_socket, model, name, x)


def other_uid_check():
    """As root: a client of another uid (nobody) is that AID, under that AID's
    rights: readiness of a system model nobody has loaded reads false for it (a
    describe loads a system model only for an admin), while root's loads it.
    Forked before this process opens any gRPC channel (gRPC and fork do not mix)."""
    if os.getuid() != 0:
        print("skip: another uid's call (needs root to switch uid)", flush=True)
        return
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            # Made as root (its lazy imports read the venv under /root); it
            # connects on its first call, after the switch.
            c = triton.InferenceServerClient(url="unix:" + args.grpc_socket)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            out = f"{c.is_server_ready()} {c.is_model_ready('tiny-fortunes')} {os.getpid()}"
            c.close()
        except Exception as e:  # reported by the parent
            out = f"error {e!r} {getattr(e, 'status', lambda: '')()} {getattr(e, 'message', lambda: '')()}"
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    answer = os.read(r, 4096).decode()
    os.waitpid(pid, 0)
    check(not answer.startswith("error"), f"a call as uid 65534: {answer}")
    ready, model_ready, child = answer.split()
    check(ready == "True" and model_ready == "False",
          "uid 65534 is served, but reads the unloaded system model tiny-fortunes as not ready (no right to load it)")
    log = Path(args.daemon_log).read_text()
    check(f"call from AID 65534 (pid {child}, fd:" in log, f"the daemon identified that caller as AID 65534 (pid {child})")


def connection_limits(client, inp):
    """One AID cannot hold more gRPC connections than grpc.connections_per_aid
    (6 in the test manifest): idle sockets fill its share, a new client's call is
    refused (UNAVAILABLE), the connection already open still serves, and once the
    idle sockets close a new client is served again. The daemon logs why."""
    import socket
    import time
    own_connection = [("grpc.use_local_subchannel_pool", 1)]
    idle = []
    try:
        for _ in range(8):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(args.grpc_socket)
            idle.append(s)
        # The daemon closes what is over the share; those read end of stream.
        time.sleep(0.5)
        closed = 0
        for s in idle:
            s.setblocking(False)
            try:
                closed += s.recv(1) == b""
            except BlockingIOError:
                pass
        # The client holds one: five idle sockets fit, three are closed.
        check(closed == 3, f"connections past the AID's share of 6 are closed at once ({closed} of 8 idle sockets)")
        # Its own connection: gRPC would otherwise share the open one.
        extra = triton.InferenceServerClient(url="unix:" + args.grpc_socket, channel_args=own_connection)
        expect_error(lambda: extra.is_server_live(), "UNAVAILABLE", "a new client past the AID's share")
        extra.close()
        check(client.infer("iris-dense", [inp]).as_numpy("probabilities") is not None,
              "the connection already open still serves")
        log = Path(args.daemon_log).read_text()
        check("refused a connection from AID" in log and "grpc.connections_per_aid" in log,
              "the daemon logs the refusal and the limit")
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 10
    while True:
        again = triton.InferenceServerClient(url="unix:" + args.grpc_socket, channel_args=own_connection)
        try:
            ok = again.is_server_live()
        except InferenceServerException:
            ok = False
        again.close()
        if ok or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(ok, "once the idle sockets close, a new client is served")


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--mrt", required=True)
    p.add_argument("--native-socket", required=True)
    p.add_argument("--grpc-socket", required=True)
    p.add_argument("--daemon-log", required=True)
    p.add_argument("--daemon-pid", type=int, required=True)
    args = p.parse_args()
    print("tritonclient.grpc over " + args.grpc_socket, flush=True)

    other_uid_check()
    client = triton.InferenceServerClient(url="unix:" + args.grpc_socket)
    check(client.is_server_live(), "is_server_live")
    check(client.is_server_ready(), "is_server_ready")
    meta = client.get_server_metadata(as_json=True)
    check(meta["name"] == "model-runtime" and meta.get("version"), f"server metadata {meta}")
    check(client.is_model_ready("iris-dense"), "is_model_ready(iris-dense)")
    md = client.get_model_metadata("iris-dense", as_json=True)
    check(md["name"] == "iris-dense" and md["inputs"][0]["name"] == "x" and md["inputs"][0]["datatype"] == "FP32"
          and md["outputs"] and md["platform"].startswith("model-runtime"), f"model metadata {md}")
    md = client.get_model_metadata("digits", as_json=True)
    check(md["inputs"][0]["name"] == "image" and md["inputs"][0]["shape"] == ["-1", "1", "8", "8"],
          f"digits metadata {md['inputs']}")

    # The caller is identified by its uid (SO_PEERCRED), as on the native socket.
    log = Path(args.daemon_log).read_text()
    check(f"call from AID {os.getuid()} (pid {os.getpid()}, fd:" in log,
          f"the daemon identified the caller by SO_PEERCRED: AID {os.getuid()}, pid {os.getpid()}")

    x = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)
    native = native_run("iris-dense", "x", x)
    inp = triton.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    r = client.infer("iris-dense", [inp], outputs=[triton.InferRequestedOutput("probabilities")], request_id="q1")
    check(np.array_equal(r.as_numpy("probabilities"), native["probabilities"]),
          "infer iris-dense equals the native path")
    check(r.get_response().id == "q1" and r.get_response().model_name == "iris-dense", "the answer names id and model")
    r = client.infer("iris-dense", [inp])  # no outputs named: all of them
    check(all(np.array_equal(r.as_numpy(k), v) for k, v in native.items()),
          f"infer with no outputs named returns all ({sorted(native)})")

    img = (np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8) / 64.0)
    native = native_run("digits", "image", img)
    inp_img = triton.InferInput("image", list(img.shape), "FP32")
    inp_img.set_data_from_numpy(img)
    r = client.infer("digits", [inp_img], client_timeout=60)
    check(native and all(np.array_equal(r.as_numpy(k), v) for k, v in native.items()),
          f"infer digits equals the native path ({sorted(native)})")

    # Errors: clear, with the right status.
    expect_error(lambda: client.infer("no-such-model", [inp]), "NOT_FOUND", "an unknown model (infer)")
    expect_error(lambda: client.get_model_metadata("no-such-model"), "NOT_FOUND", "an unknown model (metadata)")
    expect_error(lambda: client.is_model_ready("no-such-model"), "NOT_FOUND", "an unknown model (ready)")
    bad = triton.InferInput("x", [2, 3], "FP32")
    bad.set_data_from_numpy(np.zeros((2, 3), np.float32))
    e = expect_error(lambda: client.infer("iris-dense", [bad]), "INVALID_ARGUMENT", "a bad tensor shape")
    check("x" in e.message() or "shape" in e.message(), f"... naming the input or shape: {e.message()}")
    lying = triton.InferInput("x", [2, 4], "FP32")
    lying._raw_content = np.zeros(3, np.float32).tobytes()  # 12 bytes where the shape says 32
    e = expect_error(lambda: client.infer("iris-dense", [lying]), "INVALID_ARGUMENT", "raw bytes that do not fit the shape")
    check("32 bytes" in e.message(), f"... saying how many bytes: {e.message()}")
    untyped = triton.InferInput("x", [2, 4], "BYTES")
    untyped.set_data_from_numpy(np.array([[b"a"] * 4] * 2, dtype=np.object_))
    expect_error(lambda: client.infer("iris-dense", [untyped]), "INVALID_ARGUMENT", "BYTES tensors are refused")
    big = triton.InferInput("x", [65536, 4], "FP32")
    big.set_data_from_numpy(np.zeros((65536, 4), np.float32))  # 1 MiB of data: over max_message_bytes
    expect_error(lambda: client.infer("iris-dense", [big]), "RESOURCE_EXHAUSTED", "a message over max_message_bytes")
    e = expect_error(lambda: client.get_model_config("iris-dense"), "UNIMPLEMENTED", "ModelConfig is not implemented")
    check("ModelConfig" in e.message() and "ModelInfer" in e.message(), "... saying so and what is served")
    expect_error(lambda: client.get_model_repository_index(), "UNIMPLEMENTED", "the repository API is not implemented")
    expect_error(lambda: client.get_inference_statistics(), "UNIMPLEMENTED", "statistics are not implemented")

    check(client.is_model_ready("tiny-fortunes"), "root (an admin) reads tiny-fortunes ready: its describe loads it")

    # Deadlines: the client's (the gRPC deadline) and the service's (parameter
    # timeout_ms) both end a 5 s inference early, and the call's thread is free.
    import time
    slow = triton.InferInput("input", [1, 4], "FP32")
    slow.set_data_from_numpy(np.zeros((1, 4), np.float32))
    client.infer("iris-dense", [inp])
    t0 = time.monotonic()
    expect_error(lambda: client.infer("slow", [slow], client_timeout=1), "DEADLINE_EXCEEDED",
                 "a 5 s inference past the client's 1 s deadline")
    check(time.monotonic() - t0 < 3, f"... answered after {time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()
    expect_error(lambda: client.infer("slow", [slow], parameters={"timeout_ms": 500}), "DEADLINE_EXCEEDED",
                 "a 5 s inference past the service's timeout_ms 500")
    check(time.monotonic() - t0 < 3, f"... answered after {time.monotonic() - t0:.1f} s")

    # The service still answers after all that.
    r = client.infer("iris-dense", [inp])
    check(r.as_numpy("probabilities") is not None, "still serving")

    connection_limits(client, inp)

    # SIGTERM drains: the 5 s inference in flight is still answered, then the
    # daemon exits.
    import signal
    import threading
    x_slow = np.array([[1, 2, 3, 4]], np.float32)
    slow.set_data_from_numpy(x_slow)
    result = {}

    def in_flight():
        try:
            result["out"] = client.infer("slow", [slow], client_timeout=30).as_numpy("output")
        except InferenceServerException as e:
            result["error"] = f"{e.status()}: {e.message()}"
    t = threading.Thread(target=in_flight)
    t.start()
    time.sleep(1)
    os.kill(args.daemon_pid, signal.SIGTERM)
    t.join(30)
    check("out" in result and np.array_equal(result["out"], x_slow),
          f"SIGTERM: the inference in flight is answered ({result.get('error', 'ok')})")
    for _ in range(100):
        if "stopped after" in Path(args.daemon_log).read_text():
            break
        time.sleep(0.1)
    check("stopped after" in Path(args.daemon_log).read_text(), "... and the daemon stops")
    client.close()
    print("PASS: all gRPC front end checks")


if __name__ == "__main__":
    main()
