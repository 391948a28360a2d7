"""A small Python client for model-runtime's native protocol (svc://model-runtime).

The protocol (vnode/proto/model_runtime.proto, docs/service.md "Protocol"): a
Unix stream socket; each message is a 4-byte little-endian length and a
serialized ClientFrame (to the service) or ServerFrame (back). Large answers
carry their tensors in a memfd sent with the frame (SCM_RIGHTS).

The message classes are the .proto compiled by `protoc --python_out`. Pass
the generated module, or let `load_protocol()` find `model_runtime_pb2` on
sys.path, or compile the installed .proto (`pkg-config --variable=protodir
mrt-client`, or $MRT_PROTO_DIR) into a private folder with protoc. It needs
the `protobuf` package (PyPI or Debian's python3-protobuf); numpy only for
tensors.

    from mrt_client import Client
    with Client() as c:                   # the service's default socket
        print(c.health().version)
        for m in c.list_models():
            print(m.model_id, m.loaded)
        print(c.classify("digits", open("digit-7.png", "rb").read()))
        for part in c.generate_stream("tiny-fortunes", "Once upon a time", max_tokens=32):
            if not part.final: print(part.text, end="", flush=True)  # the final part: whole text, counts
"""

import array
import importlib
import importlib.util
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

_MAX_FDS = 16
_pb = None


class MrtError(Exception):
    """An Error frame from the service: `code_name` is the canonical code (NOT_FOUND, ...)."""

    def __init__(self, code, code_name, message):
        super().__init__(f"{code_name}: {message}")
        self.code = code
        self.code_name = code_name
        self.message = message


def default_socket_path():
    """The service's default socket, as the service itself derives it (service_address.cpp)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    base = os.path.join(xdg, "aetheros") if xdg.startswith("/") else f"/tmp/aetheros-{os.getuid()}"
    return os.path.join(base, "svc", "model-runtime.sock")


def _installed_proto_dir():
    if os.environ.get("MRT_PROTO_DIR"):
        return os.environ["MRT_PROTO_DIR"]
    try:
        out = subprocess.run(["pkg-config", "--variable=protodir", "mrt-client"], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return out.stdout.strip() or None


def load_protocol(proto_dir=None):
    """The model_runtime_pb2 module: imported, or compiled from `proto_dir` (else the installed .proto)."""
    global _pb
    if _pb is not None and proto_dir is None:
        return _pb
    if proto_dir is None:
        try:
            _pb = importlib.import_module("model_runtime_pb2")
            return _pb
        except ImportError:
            proto_dir = _installed_proto_dir()
    if not proto_dir or not os.path.exists(os.path.join(proto_dir, "model_runtime.proto")):
        raise ImportError("model_runtime_pb2 is not importable and no model_runtime.proto was found "
                          "(install mrt-client, or set MRT_PROTO_DIR)")
    if shutil.which("protoc") is None:
        raise ImportError("protoc is needed to compile model_runtime.proto (Debian: protobuf-compiler)")
    out = tempfile.mkdtemp(prefix="mrt-proto-")
    subprocess.run(["protoc", f"--proto_path={proto_dir}", f"--python_out={out}",
                    os.path.join(proto_dir, "model_runtime.proto")], check=True)
    spec = importlib.util.spec_from_file_location("model_runtime_pb2", os.path.join(out, "model_runtime_pb2.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.setdefault("model_runtime_pb2", module)
    _pb = module
    return module


# MRT_DType (the ONNX TensorProto.DataType values) → numpy dtype names.
_NUMPY_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
                 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


class Client:
    """One connection; one request at a time (open one Client per thread)."""

    def __init__(self, socket_path=None, protocol=None, timeout=None):
        self.pb = protocol or load_protocol()
        self.path = socket_path or default_socket_path()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(self.path)
        except OSError as e:
            self.sock.close()
            raise MrtError(14, "UNAVAILABLE", f"cannot reach the service at {self.path}: {e.strerror}") from e
        self._buffer = b""
        self._fds = []
        self._last_id = 0

    def close(self):
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ frames

    def send(self, frame):
        """Sends a ClientFrame, giving it the next request id; returns that id."""
        self._last_id += 1
        frame.request_id = self._last_id
        payload = frame.SerializeToString()
        self.sock.sendall(struct.pack("<I", len(payload)) + payload)
        return self._last_id

    def _fill(self):
        fds = array.array("i")
        data, ancdata, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(_MAX_FDS * fds.itemsize))
        for level, kind, cdata in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(cdata) - len(cdata) % fds.itemsize
                fds.frombytes(cdata[:usable])
        self._fds.extend(fds)
        if not data:
            raise MrtError(14, "UNAVAILABLE", "the service closed the connection")
        self._buffer += data

    def receive(self):
        """The next ServerFrame; tensors that came in a memfd are read back inline."""
        while len(self._buffer) < 4:
            self._fill()
        (length,) = struct.unpack("<I", self._buffer[:4])
        while len(self._buffer) < 4 + length:
            self._fill()
        payload, self._buffer = self._buffer[4:4 + length], self._buffer[4 + length:]
        frame = self.pb.ServerFrame()
        frame.ParseFromString(payload)
        if frame.HasField("infer"):
            self._inline_memfd_tensors(frame.infer)
        return frame

    def _inline_memfd_tensors(self, response):
        tensors = [t for lst in (response.tensors, response.outputs) for t in lst.tensors if t.HasField("memfd")]
        if not tensors:
            return
        wanted = max(t.memfd.fd_index for t in tensors) + 1
        fds, self._fds = self._fds[:wanted], self._fds[wanted:]
        try:
            for t in tensors:
                ref = t.memfd
                if ref.fd_index >= len(fds):
                    raise MrtError(15, "DATA_LOSS", "an answer names a descriptor that did not arrive")
                data = os.pread(fds[ref.fd_index], ref.length, ref.offset)
                if len(data) != ref.length:
                    raise MrtError(15, "DATA_LOSS", "an answer's memfd is shorter than its tensor")
                t.inline_data = data
        finally:
            for fd in fds:
                os.close(fd)

    def _call(self, frame):
        """Sends `frame`; yields each frame answering it (stream chunks, then the final one)."""
        rid = self.send(frame)
        while True:
            reply = self.receive()
            # Request 0 is the service speaking about the connection itself.
            if reply.request_id not in (rid, 0):
                continue
            if reply.HasField("error"):
                raise MrtError(reply.error.code, reply.error.code_name, reply.error.message)
            yield reply
            if not (reply.HasField("infer") and reply.infer.HasField("text") and not reply.infer.text.final):
                return

    def _one(self, frame):
        last = None
        for last in self._call(frame):
            pass
        return last

    # ------------------------------------------------------------ requests

    def health(self):
        f = self.pb.ClientFrame()
        f.health.SetInParent()
        return self._one(f).health

    def list_models(self):
        f = self.pb.ClientFrame()
        f.list_models.SetInParent()
        return list(self._one(f).models.models)

    def model_status(self, model_id):
        f = self.pb.ClientFrame()
        f.model_status.model_id = model_id
        return self._one(f).model_status

    def load(self, model_id):
        f = self.pb.ClientFrame()
        f.load_model.model_id = model_id
        return self._one(f).model_status

    def unload(self, model_id):
        f = self.pb.ClientFrame()
        f.unload_model.model_id = model_id
        self._one(f)

    def metrics(self):
        f = self.pb.ClientFrame()
        f.metrics.SetInParent()
        return self._one(f).metrics.prometheus

    def infer(self, request):
        """Sends an InferRequest; returns the InferResponse (a text stream is gathered whole)."""
        f = self.pb.ClientFrame()
        f.infer.CopyFrom(request)
        return self._one(f).infer

    def classify(self, model_id, image_bytes, top_k=0, timeout_ms=0):
        """An encoded image (PNG, JPEG, BMP, PPM) → [(label, score, class_index)], best first."""
        r = self.pb.InferRequest(model_id=model_id, image=image_bytes)
        r.options.top_k = top_k
        r.options.timeout_ms = timeout_ms
        return [(c.label, c.score, c.class_index) for c in self.infer(r).classification.classes]

    def run(self, model_id, inputs, timeout_ms=0):
        """{name: numpy array} → {name: numpy array}, inline tensors (a request frame holds 64 MiB at most)."""
        import numpy as np
        codes = {v: k for k, v in _NUMPY_DTYPES.items()}
        r = self.pb.InferRequest(model_id=model_id)
        r.options.timeout_ms = timeout_ms
        for name, value in inputs.items():
            a = np.ascontiguousarray(value)
            t = r.tensors.tensors.add(name=name, dtype=codes[a.dtype.name], dims=list(a.shape))
            t.inline_data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        answer = self.infer(r)
        outputs = answer.tensors if answer.HasField("tensors") else answer.outputs
        return {t.name: np.frombuffer(t.inline_data, dtype=np.dtype(_NUMPY_DTYPES[t.dtype]).newbyteorder("<"))
                .reshape(tuple(t.dims)) for t in outputs.tensors}

    def _text_request(self, model_id, prompt, stream, max_tokens, temperature, top_p, top_k, seed, stop, timeout_ms):
        r = self.pb.InferRequest(model_id=model_id)
        r.text.prompt = prompt
        p = r.text.params
        p.max_tokens, p.temperature, p.top_p, p.top_k = max_tokens, temperature, top_p, top_k
        if seed is not None:
            p.seed = seed
        p.stop.extend(stop)
        r.options.stream = stream
        r.options.timeout_ms = timeout_ms
        return r

    def generate_stream(self, model_id, prompt, max_tokens=64, temperature=0.0, top_p=0.0, top_k=0, seed=None,
                        stop=(), timeout_ms=0):
        """Yields TextGenerationResult parts as they come: chunks (final False), then the final one,
        whose text is the whole text, with prompt_tokens, generated_tokens and finish_reason."""
        f = self.pb.ClientFrame()
        f.infer.CopyFrom(self._text_request(model_id, prompt, True, max_tokens, temperature, top_p, top_k, seed,
                                            stop, timeout_ms))
        for reply in self._call(f):
            yield reply.infer.text

    def generate(self, model_id, prompt, **kwargs):
        """The whole TextGenerationResult at once (no stream)."""
        args = dict(max_tokens=64, temperature=0.0, top_p=0.0, top_k=0, seed=None, stop=(), timeout_ms=0)
        args.update(kwargs)
        return self.infer(self._text_request(model_id, prompt, False, **args)).text
