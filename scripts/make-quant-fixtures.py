#!/usr/bin/env python3
"""Fixtures for the raw plugin's dequantization test (tests/unit/raw_quant_test.cpp):
random blocks of each ggml quantization type the plugin reads, and their
values as the `gguf` package's NumPy dequantizers compute them (the
reference the issue names; ggml's C reference agrees with it bit for bit).

    pip install gguf numpy && scripts/make-quant-fixtures.py

Writes tests/fixtures/quant/<TYPE>.blocks (raw block bytes) and
<TYPE>.f32 (little-endian float32 values). The block bytes are random
except the f16 scale fields, which are drawn as finite halves of a
plausible magnitude (random bits would give infinities and NaNs, which
real files do not hold and which compare unequal to themselves).
"""
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "quant")
BLOCKS = 24
# type: (block bytes, offsets of f16 fields within a block)
LAYOUTS = {
    T.Q8_0: (34, [0]),
    T.Q4_0: (18, [0]),
    T.Q4_1: (20, [0, 2]),
    T.Q5_0: (22, [0]),
    T.Q5_1: (24, [0, 2]),
    T.Q4_K: (144, [0, 2]),
    T.Q5_K: (176, [0, 2]),
    T.Q6_K: (210, [208]),
}


def main():
    rng = np.random.default_rng(20261206)
    os.makedirs(OUT, exist_ok=True)
    for qtype, (size, halves) in LAYOUTS.items():
        raw = rng.integers(0, 256, size=(BLOCKS, size), dtype=np.uint8)
        for off in halves:
            # Signed scales across several binades, subnormals included once.
            scale = (rng.standard_normal(BLOCKS) * 10.0 ** rng.integers(-6, 0, BLOCKS)).astype(np.float16)
            scale[0] = np.float16(3e-6)  # a subnormal half
            raw[:, off:off + 2] = scale.view(np.uint8).reshape(BLOCKS, 2)
        values = quants.dequantize(raw.reshape(1, -1), qtype).astype("<f4")
        name = qtype.name
        raw.tofile(os.path.join(OUT, name + ".blocks"))
        values.tofile(os.path.join(OUT, name + ".f32"))
        print(f"{name}: {BLOCKS} blocks, {values.size} values")


if __name__ == "__main__":
    main()
