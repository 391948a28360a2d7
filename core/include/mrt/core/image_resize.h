// The image stage's resampler: Pillow's BILINEAR resize of 8-bit images
// (an antialiased triangle filter whose support widens with the downscale
// factor), so that a model trained on torchvision/Pillow input sees the same
// pixels here, within 1 of Pillow's output.
#pragma once

#include <cstdint>

#include "mrt/core/status.h"

namespace mrt {

// Pixels in memory: `height` packed rows of `width * channels` bytes,
// channels interleaved (1 to 4, each resampled on its own).
struct ImageView {
  const uint8_t* data = nullptr;
  int width = 0, height = 0, channels = 0;
};

// The output: the image resized to width x height, of which the window
// [crop_x, crop_x + crop_width) x [crop_y, crop_y + crop_height) is written
// (0 for crop_width/crop_height means the whole width/height). Only the
// window is computed; it equals the same window of the full resize.
struct ResizeTarget {
  int width = 0, height = 0;
  int crop_x = 0, crop_y = 0, crop_width = 0, crop_height = 0;
};

// Writes the window, crop_height rows of crop_width * channels bytes, to
// `out`. As Pillow's Image.resize(size, BILINEAR): the horizontal pass runs
// first and its result is rounded to 8 bits, then the vertical pass.
// INVALID_ARGUMENT for empty or oversized sizes, 0 or >4 channels, or a
// window outside the target; nothing on this path asserts or aborts.
Status resize_bilinear(const ImageView& src, const ResizeTarget& target, uint8_t* out);

}  // namespace mrt
