#!/usr/bin/env python3
"""The HTTP front ends against the real clients from PyPI, on a running daemon
(started by http_clients_test.sh): the `openai` package over the HTTP Unix
socket (peer credentials), `tritonclient.http` over loopback TCP with a bearer
token. Every answer is compared with what the native protocol (`mrt --socket`)
gives for the same request. Prints one line per check; exits 1 on the first
failure."""
import argparse
import base64
from pathlib import Path

import httpx2 as httpx  # openai 3.x speaks httpx2 (the same API as httpx)
import numpy as np
import onnx
import openai
import tritonclient.http as triton
from onnx import numpy_helper
from tritonclient.utils import InferenceServerException

from clients_common import check, native_run, run_mrt

args = None


def mrt(*argv, stdin=None):
    return run_mrt(args.mrt, args.native_socket, argv, stdin)


def expect_error(call, error_type, what):
    try:
        call()
    except error_type as e:
        check(True, f"{what} ({type(e).__name__}: {str(e)[:120]})")
        return e
    check(False, f"{what}: no {error_type.__name__} raised")


# --- OpenAI-compatible, over the Unix socket ---------------------------------------
def openai_tests():
    http = httpx.Client(transport=httpx.HTTPTransport(uds=args.http_socket), timeout=60)
    client = openai.OpenAI(base_url="http://localhost/v1", api_key="unused-on-the-unix-socket", http_client=http)

    ids = {m.id for m in client.models.list()}
    check({"tiny-fortunes", "iris-dense", "digits", "tiny-encoder"} <= ids, f"models.list: {sorted(ids)}")
    check(client.models.retrieve("iris-dense").id == "iris-dense", "models.retrieve")

    prompt = "The meaning of life is"
    native = mrt("generate", "tiny-fortunes", "--prompt", prompt, "--max-tokens", "12", "--temperature", "0")
    c = client.completions.create(model="tiny-fortunes", prompt=prompt, max_tokens=12, temperature=0)
    text = c.choices[0].text
    check(text != "" and native.startswith(text), f"completion equals the native path's greedy text: {text!r}")
    check(c.usage.completion_tokens <= 12 and c.usage.prompt_tokens > 0 and
          c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens, f"usage {c.usage}")
    check(c.choices[0].finish_reason in ("stop", "length"), f"finish_reason {c.choices[0].finish_reason}")

    short = client.completions.create(model="tiny-fortunes", prompt=prompt, max_tokens=3, temperature=0)
    check(short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 3,
          f"max_tokens 3: finish_reason length, 3 tokens ({short.choices[0].text!r})")

    pieces, finish, usage = [], None, None
    for chunk in client.completions.create(model="tiny-fortunes", prompt=prompt, max_tokens=12, temperature=0,
                                           stream=True, stream_options={"include_usage": True}):
        if chunk.choices:
            pieces.append(chunk.choices[0].text)
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    check("".join(pieces) == text, f"streamed completion ({len(pieces)} events) joins to the whole text")
    check(finish == c.choices[0].finish_reason and usage and usage.completion_tokens == c.usage.completion_tokens,
          f"stream ends with finish_reason {finish} and usage {usage}")

    words = text.split()
    if len(words) >= 2:
        stop = words[1]
        s = client.completions.create(model="tiny-fortunes", prompt=prompt, max_tokens=12, temperature=0, stop=[stop])
        check(stop not in s.choices[0].text and s.choices[0].finish_reason == "stop",
              f"stop {stop!r}: {s.choices[0].text!r}, finish_reason stop")

    a = client.completions.create(model="tiny-fortunes", prompt=prompt, max_tokens=12, temperature=1.0, top_p=0.9, seed=7)
    b = client.completions.create(model="tiny-fortunes", prompt=prompt, max_tokens=12, temperature=1.0, top_p=0.9, seed=7)
    check(a.choices[0].text == b.choices[0].text, f"seed 7 twice gives the same sample: {a.choices[0].text!r}")

    messages = [{"role": "system", "content": "You tell fortunes."}, {"role": "user", "content": "What will happen?"}]
    chat = client.chat.completions.create(model="tiny-fortunes", messages=messages, max_tokens=10, temperature=0)
    reply = chat.choices[0].message
    check(reply.role == "assistant" and reply.content and chat.usage.completion_tokens <= 10 and
          chat.usage.prompt_tokens > 0, f"chat completion: {reply.content!r} ({chat.usage.prompt_tokens} prompt tokens)")
    check(reply.content == reply.content.lstrip(), f"the reply opens without its first token's space: {reply.content!r}")
    native = mrt("chat", "tiny-fortunes", "--max-tokens", "10", "--temperature", "0", "--system", messages[0]["content"],
                 stdin=messages[1]["content"] + "\n")
    check(native.strip() == reply.content.strip(), f"chat equals the native path's (mrt chat) reply: {native.strip()!r}")
    deltas = [ch.choices[0].delta.content or "" for ch in client.chat.completions.create(
        model="tiny-fortunes", messages=messages, max_tokens=10, temperature=0, stream=True) if ch.choices]
    check("".join(deltas) == reply.content, f"streamed chat ({len(deltas)} events) joins to the whole reply")

    # Embeddings: the mean over tokens of the encoder's output, against numpy.
    model = onnx.load(str(Path(args.models) / "tiny-encoder" / "model.onnx"))
    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    inputs = [[1, 2, 3, 4], [5, 6]]
    want = [np.tanh(w["table"][ids] @ w["weight"]).mean(axis=0) for ids in inputs]
    for fmt in ("float", "base64"):
        e = client.embeddings.create(model="tiny-encoder", input=inputs, encoding_format=fmt)
        got = [np.frombuffer(base64.b64decode(d.embedding), np.float32) if fmt == "base64" and isinstance(d.embedding, str)
               else np.array(d.embedding, np.float32) for d in e.data]
        check(len(got) == 2 and all(np.allclose(g, x, atol=1e-5) for g, x in zip(got, want)) and
              e.usage.prompt_tokens == 6, f"embeddings ({fmt}) equal numpy's mean pooling")
    e = client.embeddings.create(model="tiny-encoder", input=[1, 2, 3, 4])  # the client's default: base64
    check(np.allclose(np.array(e.data[0].embedding, np.float32), want[0], atol=1e-5), "embeddings of one token list")

    expect_error(lambda: client.completions.create(model="no-such-model", prompt="x", max_tokens=2),
                 openai.NotFoundError, "an unknown model is 404")
    expect_error(lambda: client.completions.create(model="tiny-fortunes", prompt="x", temperature=5),
                 openai.BadRequestError, "temperature 5 is 400")
    expect_error(lambda: client.embeddings.create(model="tiny-encoder", input="text"),
                 openai.APIStatusError, "text input to an encoder without a tokenizer is refused")


# --- KServe v2, over loopback TCP with a bearer token -------------------------------
def triton_tests():
    # A fresh dict per call: tritonclient adds Inference-Header-Content-Length
    # to the caller's headers dict, which would then ride on the next request.
    def auth():
        return {"Authorization": f"Bearer {args.token}"}

    client = triton.InferenceServerClient(url=args.tcp)
    check(client.is_server_live(headers=auth()), "is_server_live")
    check(client.is_server_ready(headers=auth()), "is_server_ready")
    meta = client.get_server_metadata(headers=auth())
    check("binary_tensor_data" in meta["extensions"], f"server metadata {meta}")
    check(client.is_model_ready("iris-dense", headers=auth()), "is_model_ready(iris-dense)")
    md = client.get_model_metadata("iris-dense", headers=auth())
    check(md["inputs"][0]["name"] == "x" and md["inputs"][0]["datatype"] == "FP32", f"model metadata {md}")

    x = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)
    native = native_run(args.mrt, args.native_socket, "iris-dense", "x", x)["probabilities"]
    for binary in (True, False):
        inp = triton.InferInput("x", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = triton.InferRequestedOutput("probabilities", binary_data=binary)
        r = client.infer("iris-dense", [inp], outputs=[out], headers=auth())
        got = r.as_numpy("probabilities")
        check(got is not None and np.array_equal(got, native),
              f"infer iris-dense ({'binary' if binary else 'JSON'} tensors) equals the native path")
    inp = triton.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    r = client.infer("iris-dense", [inp], headers=auth())  # no outputs named: all, as JSON
    check(np.array_equal(r.as_numpy("probabilities"), native), "infer with no outputs named")

    img = (np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8) / 64.0)
    native = native_run(args.mrt, args.native_socket, "digits", "image", img)
    inp = triton.InferInput("image", list(img.shape), "FP32")
    inp.set_data_from_numpy(img)
    r = client.infer("digits", [inp], headers=auth())
    check(all(np.array_equal(r.as_numpy(k), v) for k, v in native.items()) and native,
          f"infer digits equals the native path ({sorted(native)})")

    e = expect_error(lambda: client.infer("no-such-model", [inp], headers=auth()), InferenceServerException,
                     "an unknown model is an error")
    check(e.status() in ("404", 404, None) or "not found" in str(e).lower(), f"... naming it: {e}")
    wrong = {"Authorization": "Bearer wrong-token-0123456789"}
    check(not client.is_server_live(headers=wrong), "a wrong bearer token is refused (not live)")
    expect_error(lambda: client.get_model_metadata("iris-dense", headers=wrong), InferenceServerException,
                 "a wrong bearer token is refused (metadata)")
    expect_error(lambda: client.get_model_metadata("iris-dense"), InferenceServerException,
                 "no bearer token is refused")


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--mrt", required=True)
    p.add_argument("--native-socket", required=True)
    p.add_argument("--http-socket", required=True)
    p.add_argument("--tcp", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--models", required=True)
    args = p.parse_args()
    print(f"openai {openai.__version__}, tritonclient.http", flush=True)
    openai_tests()
    triton_tests()
    print("PASS: all HTTP front end checks")


if __name__ == "__main__":
    main()
