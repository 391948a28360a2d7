#!/usr/bin/env python3
"""Writes Pillow's BILINEAR resizes of generated images, the reference the
image stage's resampler (core/src/image_resize.cpp) is tested against:

    scripts/make-resize-fixtures.py [--out tests/fixtures/images-resize]

OUT/cases.txt   one case a line: name, source width height channels, seed,
                target width height, crop x y width height (the window of
                the target that was kept).
OUT/NAME.u8     the kept window, rows of width*channels bytes.

Sources are not stored: tests/unit/image_resize_test.cpp generates the same
pixels from (width, height, channels, seed) with source() below (integer
arithmetic only, so both sides agree bit for bit). Each channel is resized
on its own as an "L" image, as the image stage treats channels (Pillow would
premultiply RGBA). Needs Pillow and numpy (PyPI).
"""
import argparse
import os

import numpy as np
import PIL
from PIL import Image

M32 = 0xFFFFFFFF


def source(w, h, c, seed):
    """Seeded noise over 16x16 blocks in a checkerboard, gradients elsewhere."""
    x = np.arange(w, dtype=np.uint32)[None, :, None]
    y = np.arange(h, dtype=np.uint32)[:, None, None]
    ch = np.arange(c, dtype=np.uint32)[None, None, :]
    v = x * np.uint32(0x9E3779B1) + y * np.uint32(0x85EBCA77) + ch * np.uint32(0xC2B2AE3D) + np.uint32((seed * 0x27D4EB2F) & M32)
    v ^= v >> np.uint32(15)
    v *= np.uint32(0x2C1B3C6D)
    v ^= v >> np.uint32(12)
    v *= np.uint32(0x297A2D39)
    v ^= v >> np.uint32(15)
    noise = v >> np.uint32(24)
    grad = (x * np.uint32(256) // np.uint32(w) + (y * np.uint32(256) // np.uint32(h)) * (ch + np.uint32(1))) & np.uint32(255)
    noisy = (((x >> np.uint32(4)) + (y >> np.uint32(4)) + np.uint32(seed)) & np.uint32(1)) == 1
    return np.where(noisy, (grad + noise) >> np.uint32(1), grad).astype(np.uint8)


def shorter_side_crop(w, h, tw, th):
    """The image stage's rule (core/src/image_preprocess.cpp): resize so the
    shorter side fits, then the centre crop."""
    s = max(tw / w, th / h)
    rw, rh = max(tw, int(w * s + 0.5)), max(th, int(h * s + 0.5))
    return rw, rh, (rw - tw) // 2, (rh - th) // 2, tw, th


def exact(tw, th):
    return tw, th, 0, 0, tw, th


# name: (source width, height, channels, seed, (target w, h, crop x, y, w, h))
CASES = {
    # Issue 22: the sizes that abort Debian's stb_image_resize.
    "300x300-to-224": (300, 300, 3, 1, exact(224, 224)),
    "299x299-to-224": (299, 299, 3, 2, exact(224, 224)),
    "330x288-to-224": (330, 288, 3, 3, exact(224, 224)),
    "400x300-crop-224": (400, 300, 3, 4, shorter_side_crop(400, 300, 224, 224)),
    "400x300-to-224-gray": (400, 300, 1, 5, exact(224, 224)),
    "640x480-crop-224": (640, 480, 3, 6, shorter_side_crop(640, 480, 224, 224)),
    "4096x4096-to-224-gray": (4096, 4096, 1, 7, exact(224, 224)),
    # Extreme aspect ratios and sizes.
    "1x4096-to-7x64": (1, 4096, 3, 8, exact(7, 64)),
    "4096x1-to-64x3": (4096, 1, 4, 9, exact(64, 3)),
    "4096x3-to-224x2": (4096, 3, 1, 10, exact(224, 2)),
    "1x1-to-32x32": (1, 1, 3, 11, exact(32, 32)),
    "2x3-to-17x19": (2, 3, 4, 12, exact(17, 19)),
    # Upscale, downscale, one axis only, odd ratios.
    "17x13-to-64x48": (17, 13, 3, 13, exact(64, 48)),
    "1000x750-to-64x48": (1000, 750, 3, 14, exact(64, 48)),
    "1023x769-to-31x17": (1023, 769, 1, 15, exact(31, 17)),
    "127x509-to-41x97": (127, 509, 4, 16, exact(41, 97)),
    "64x64-to-64x17": (64, 64, 3, 17, exact(64, 17)),
    "64x64-to-17x64": (64, 64, 3, 18, exact(17, 64)),
    "97x61-to-100x100": (97, 61, 1, 19, exact(100, 100)),
    "5x5-to-1x1": (5, 5, 3, 20, exact(1, 1)),
    "300x20-crop-8": (300, 20, 3, 21, shorter_side_crop(300, 20, 8, 8)),
}


def resize(src, tw, th):
    bands = [np.asarray(Image.fromarray(np.ascontiguousarray(src[:, :, i]), "L").resize((tw, th), Image.BILINEAR))
             for i in range(src.shape[2])]
    return np.stack(bands, axis=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "images-resize"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lines = [f"# Pillow {PIL.__version__} Image.resize(BILINEAR) per channel; written by scripts/make-resize-fixtures.py",
             "# name src_w src_h channels seed dst_w dst_h crop_x crop_y crop_w crop_h"]
    for name, (w, h, c, seed, (tw, th, cx, cy, cw, ch)) in CASES.items():
        out = resize(source(w, h, c, seed), tw, th)[cy:cy + ch, cx:cx + cw]
        with open(os.path.join(args.out, name + ".u8"), "wb") as f:
            f.write(np.ascontiguousarray(out).tobytes())
        lines.append(f"{name} {w} {h} {c} {seed} {tw} {th} {cx} {cy} {cw} {ch}")
    with open(os.path.join(args.out, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
