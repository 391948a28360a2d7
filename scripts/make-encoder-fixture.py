#!/usr/bin/env python3
"""A tiny ONNX text encoder for the embeddings tests: token ids [1, tokens] →
a lookup table → MatMul → Tanh → last_hidden_state [1, tokens, 16]. Random
weights (seed 5); it embeds nothing meaningful, it has the shape of an
encoder. Writes <out>/model.onnx and <out>/model.yml.

    make-encoder-fixture.py OUT_DIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VOCAB, WIDTH = 64, 16


def main(out):
    rng = np.random.default_rng(5)
    table = rng.standard_normal((VOCAB, WIDTH)).astype(np.float32)
    weight = (rng.standard_normal((WIDTH, WIDTH)) / 4).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["embedded"], axis=0),
            helper.make_node("MatMul", ["embedded", "weight"], ["projected"]),
            helper.make_node("Tanh", ["projected"], ["last_hidden_state"]),
        ],
        "tiny-encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "tokens"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [1, "tokens", WIDTH])],
        initializer=[numpy_helper.from_array(table, "table"), numpy_helper.from_array(weight, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(out, exist_ok=True)
    onnx.save(model, os.path.join(out, "model.onnx"))
    with open(os.path.join(out, "model.yml"), "w") as f:
        f.write("# Made by scripts/make-encoder-fixture.py: a tiny text encoder for /v1/embeddings tests.\n"
                "format: onnx\ntask: tensor\nfiles: [model.onnx]\n"
                "inputs:\n  - {name: input_ids, dtype: int64, shape: [1, -1]}\n"
                f"outputs:\n  - {{name: last_hidden_state, dtype: float32, shape: [1, -1, {WIDTH}]}}\n"
                "device: cpu\n")


if __name__ == "__main__":
    main(sys.argv[1])
