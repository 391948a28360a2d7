"""Writes float16 safetensors files (the format's 8-byte header length, a
JSON header padded to 8 bytes, then the tensors back to back), shared by the
fixture and model generators in scripts/ so every model we write has the
same layout. NumPy only: the generators run under different interpreters.
"""
import json
import struct

import numpy as np


def write_safetensors(path, tensors):
    """`tensors`: name → array (any float dtype; stored as little-endian F16)."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr, dtype="<f2").tobytes()
        header[name] = {"dtype": "F16", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
