#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from
the repository's fixtures and models, plus a few small inputs made here
(safetensors files, IPC frames, images of each layout the decoders take).

Run from anywhere; needs Pillow for the JPEG and PNG variants (the pyenv
python3 has it). The output is committed: rerun only to change the seeds.
Files named regression-* are crash inputs the fuzzers found; this script
never writes or removes them.
"""
import hashlib
import io
import json
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fuzz" / "corpus"
FIX = ROOT / "tests" / "fixtures" / "models"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob(name):
        old.unlink()
    (d / name).write_bytes(data)


def model_manifests():
    seen = set()
    for p in sorted(list(ROOT.glob("models/*/model.yml")) + list(FIX.glob("*/model.yml"))):
        b = p.read_bytes()
        h = hashlib.sha1(b).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        put("model_manifest", p.parent.name + ".yml", b)
    # The fields no fixture sets (as in fuzz_parsers_test's seed).
    dense = (ROOT / "models/iris-dense/model.yml").read_bytes()
    put("model_manifest", "iris-dense-extra.yml", dense + b"device: [gpu, cpu]\noptions: {a: b}\nwarmup: {iterations: 2}\n")


def vnode_manifests():
    put("vnode_manifest", "vnode.yml", (ROOT / "vnode/model-runtime/vnode.yml").read_bytes())


def st_file(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors():
    b = (FIX / "tiny-llama-hf/model.safetensors").read_bytes()
    n = struct.unpack("<Q", b[:8])[0]
    put("safetensors", "tiny-llama-hf-head.safetensors", b[: 8 + n + 256])  # header + a little data, as fuzz_parsers_test
    put("safetensors", "f32.safetensors", st_file([("w", "F32", [2, 3], struct.pack("<6f", *range(6)))]))
    put("safetensors", "mixed.safetensors", st_file([
        ("a", "F16", [2, 2], struct.pack("<4H", 0x3C00, 0x4000, 0xBC00, 0)),
        ("b", "BF16", [3], struct.pack("<3H", 0x3F80, 0x4000, 0)),
        ("c", "I64", [1], struct.pack("<q", 7)),
        ("d", "F32", [], struct.pack("<f", 1.5)),
        ("e", "U8", [0, 4], b""),
    ], metadata={"format": "pt"}))


def gguf():
    # The fixtures: a whole quantized model (75 KB) and the two vocabulary-only
    # byte-level tokenizers; plus the model's metadata and tensor infos alone
    # (the data cut off), which the mutations reach faster.
    model = (FIX / "tiny-llama-gguf/tiny-llama-q4_0.gguf").read_bytes()
    put("gguf", "tiny-llama-q4_0.gguf", model)
    put("gguf", "tiny-llama-q4_0-head.gguf", model[:9312])
    for name in ["gpt2-style.gguf", "llama3-style.gguf"]:
        put("gguf", name, (ROOT / "tests/fixtures/tokenizers" / name).read_bytes())


def tokenizers():
    put("hf_tokenizer", "tiny-llama-hf.json", (FIX / "tiny-llama-hf/tokenizer.json").read_bytes())
    for name in ["gpt2-style.json", "llama3-style.json"]:
        put("hf_tokenizer", name, (ROOT / "tests/fixtures/tokenizers" / name).read_bytes())
    # fuzz_llama2c_tokenizer: 2 bytes of vocab size - 1, then tokenizer.bin.
    put("llama2c_tokenizer", "tiny-llama2c.bin", struct.pack("<H", 332 - 1) + (FIX / "tiny-llama2c/tokenizer.bin").read_bytes())


def checkpoints():
    # fuzz_llama2c_checkpoint: the 28-byte header, then the body's length.
    for name, path in [("tiny-llama2c", FIX / "tiny-llama2c/model.bin"),
                       ("tiny-llama-hf", FIX / "tiny-llama-hf/llama2c/model.bin")]:
        b = path.read_bytes()
        put("llama2c_checkpoint", name + ".hdr", b[:28] + struct.pack("<I", len(b) - 28))
    # A header alone (the loader must refuse the missing body).
    put("llama2c_checkpoint", "header-only.bin", (FIX / "tiny-llama2c/model.bin").read_bytes()[:28])


def onnx_models():
    for p in sorted((ROOT / "tests/fixtures/onnx-bad").glob("*.onnx")):
        put("onnx_loader", "bad-" + p.name, p.read_bytes())
    for name in ["onnx-residual-view", "onnx-exporter-ops", "onnx-fusions"]:
        put("onnx_loader", name + ".onnx", (FIX / name / "model.onnx").read_bytes())
    node = ROOT / "tests/fixtures/onnx-node"
    for name in ["test_add_bcast", "test_conv_with_strides_padding", "test_gemm_default_no_bias", "test_reshape_negative_dim",
                 "test_softmax_axis_1", "test_batchnorm_example", "test_maxpool_2d_pads", "test_gather_0", "test_slice",
                 "test_matmul_4d", "test_constant", "test_concat_3d_axis_1"]:
        p = node / name / "model.onnx"
        if p.exists():
            put("onnx_loader", "node-" + name + ".onnx", p.read_bytes())
        else:
            print("no", p, file=sys.stderr)


# Protocol buffers, by hand (the proto is small; no generated Python needed).
def varint(n):
    out = b""
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, value):
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, float):
        return varint((num << 3) | 5) + struct.pack("<f", value)
    if isinstance(value, str):
        value = value.encode()
    return varint((num << 3) | 2) + varint(len(value)) + value


def frame(request_id, infer):
    msg = field(1, request_id) + field(2, infer)
    return struct.pack("<I", len(msg)) + msg


def tensor(name, dtype, dims, inline=None, memfd=None):
    t = field(1, name) + field(2, dtype) + field(3, b"".join(varint(d) for d in dims))
    if inline is not None:
        t += field(4, inline)
    if memfd is not None:
        t += field(5, b"".join(field(i + 1, v) for i, v in enumerate(memfd)))
    return t


def ipc_frames():
    tensors = field(1, tensor("x", 1, [1, 4], inline=struct.pack("<4f", 1, 2, 3, 4))) + \
              field(1, tensor("m", 7, [2], inline=struct.pack("<2q", 5, -6)))
    put("ipc_frame", "infer-tensors.bin", frame(1, field(1, "iris-dense") + field(2, tensors) + field(5, field(2, 3))))
    memfd = field(1, tensor("big", 1, [16, 16], memfd=(0, 1024, 1024)))
    put("ipc_frame", "infer-memfd.bin", frame(2, field(1, "digits") + field(2, memfd)))
    png = (ROOT / "models/digits/samples/digit-0.png").read_bytes()
    put("ipc_frame", "infer-image.bin", frame(3, field(1, "digits") + field(3, png)))
    params = field(1, 16) + field(2, 0.7) + field(3, 0.9) + field(4, 40) + field(5, 1234) + field(6, "\n\n") + field(6, "END")
    text = frame(4, field(1, "tiny-fortunes") + field(4, field(1, "Once upon a time") + field(2, params)) + field(5, field(3, 1)))
    # Two frames in one stream, the second also an infer.
    put("ipc_frame", "infer-text-twice.bin", text + frame(5, field(1, "tiny-fortunes") + field(4, field(1, "hi"))))
    put("ipc_frame", "health.bin", struct.pack("<I", 4) + field(1, 9) + field(8, b""))


def grpc_requests():
    """KServe v2 ModelInferRequest messages (vnode/proto/kserve_v2.proto), as
    tritonclient sends them: typed contents, raw_input_contents, parameters."""
    def shape(dims):
        return field(3, b"".join(varint(d) for d in dims))

    def param(key, value):  # map<string, InferParameter> entry
        return field(1, key) + field(2, value)

    fp32 = field(6, struct.pack("<4f", 1, 2, 3, 4))  # packed fp32_contents
    typed = field(1, "iris-dense") + field(5, field(1, "input") + field(2, "FP32") + shape([1, 4]) + field(5, fp32))
    put("grpc_infer", "typed-fp32.bin", typed + field(4, param("timeout_ms", field(2, 500))))
    raw_in = field(1, "x") + field(2, "INT64") + shape([2, 2])
    raw = field(1, "m") + field(3, "req-1") + field(5, raw_in) + field(7, struct.pack("<4q", 1, -2, 3, -4))
    put("grpc_infer", "raw-int64.bin", raw + field(6, field(1, "output")))
    ints = field(2, b"".join(varint(v) for v in (1, 2, 250, 7)))  # packed int_contents
    two = field(5, field(1, "a") + field(2, "INT8") + shape([4]) + field(5, ints)) + \
        field(5, field(1, "b") + field(2, "BOOL") + shape([2]) + field(5, field(1, b"\x01\x00")))
    put("grpc_infer", "two-inputs.bin", field(1, "m") + two)
    fp64 = field(7, struct.pack("<2d", 0.5, -1.5))
    put("grpc_infer", "fp64.bin", field(1, "m") + field(5, field(1, "d") + field(2, "FP64") + shape([2]) + field(5, fp64)))
    # Dims whose product wraps around 2^64 (found by review: [2^32, 2^32] made 0).
    put("grpc_infer", "shape-wraps.bin", field(1, "m") + field(5, field(1, "w") + field(2, "FP32") + shape([1 << 32, 1 << 32])) + field(7, b""))


def images():
    for p in sorted((ROOT / "models/digits/samples").glob("digit-[03].png")):
        put("image_decode", p.name, p.read_bytes())
    try:
        from PIL import Image
    except ImportError:
        print("no Pillow: only the repository's PNGs", file=sys.stderr)
        return
    w, h = 7, 5
    rgb = Image.new("RGB", (w, h))
    rgb.putdata([((x * 37) % 256, (y * 51) % 256, (x * y * 13) % 256) for y in range(h) for x in range(w)])

    def save(name, img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        put("image_decode", name, b.getvalue())

    save("rgb.png", rgb, "PNG")
    save("rgba-interlaced.png", rgb.convert("RGBA"), "PNG", interlace=1)
    save("palette.png", rgb.convert("P", palette=Image.ADAPTIVE, colors=8), "PNG")
    save("gray16.png", rgb.convert("L").convert("I;16"), "PNG")
    save("gray-alpha.png", rgb.convert("LA"), "PNG")
    save("rgb.jpg", rgb, "JPEG", quality=80)
    save("gray.jpg", rgb.convert("L"), "JPEG", quality=80)
    save("progressive-420.jpg", rgb.resize((17, 11)), "JPEG", progressive=True, subsampling=2)
    save("cmyk.jpg", rgb.convert("CMYK"), "JPEG")
    save("rgb24.bmp", rgb, "BMP")
    save("palette8.bmp", rgb.convert("P", palette=Image.ADAPTIVE, colors=16), "BMP")
    save("gray8.bmp", rgb.convert("L"), "BMP")
    save("rgba32.bmp", rgb.convert("RGBA"), "BMP")
    save("rgb.ppm", rgb, "PPM")
    save("gray.pgm", rgb.convert("L"), "PPM")
    put("image_decode", "gray16.pgm", b"P5\n# a comment\n3 2\n65535\n" + bytes(range(12)))


if __name__ == "__main__":
    model_manifests()
    vnode_manifests()
    safetensors()
    gguf()
    tokenizers()
    checkpoints()
    onnx_models()
    ipc_frames()
    grpc_requests()
    images()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{OUT}: {sum(1 for p in OUT.rglob('*') if p.is_file())} files, {total} bytes")
