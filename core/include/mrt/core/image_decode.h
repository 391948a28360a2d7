// Decoding the standard image stage's formats (PNG, JPEG, BMP, binary
// PPM/PGM) from untrusted bytes into 8-bit grayscale or RGB pixels. PNG is
// libpng's, JPEG libjpeg-turbo's (TurboJPEG); BMP and PPM/PGM are decoded
// here. Each decoder reads the header's dimensions and checks them against
// the limits before it allocates anything for pixels.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mrt/core/status.h"

namespace mrt {

struct DecodedImage {
  std::vector<uint8_t> pixels;  // (height, width, channels), rows top to bottom
  int width = 0, height = 0, channels = 0;
};

// `channels` is 1 (gray) or 3 (RGB). Other layouts are converted as
// stb_image converted them, which the stage used before: alpha is dropped
// (never composited), RGB → gray is (77 r + 150 g + 29 b) >> 8, gray → RGB
// repeats the value, 16-bit samples keep their high byte.
// INVALID_ARGUMENT: "unsupported image format ...", "corrupt <format>
// image: <why>", "unsupported <format> image: <what>", or "the <format>
// image is WxH; the model accepts at most N pixels".
Result<DecodedImage> decode_image(std::string_view encoded, int channels, int64_t max_pixels);

// "png", "jpeg", "bmp", "pnm", or "" when the bytes start like none of them.
std::string sniff_image_format(std::string_view encoded);

}  // namespace mrt
