// The image decoders behind decode_image() (image_decode.cpp), one file per
// format, and what they share: the size check every decoder runs on the
// header's dimensions before allocating, and the channel conversions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mrt/core/image_decode.h"

namespace mrt::image_formats {

// Both sides are bounded as well as their product: a decoder allocates
// width * height * channels, and libraries index rows with int.
constexpr int kMaxSide = 65535;

// "the <format> image is WxH; the model accepts at most N pixels" beyond the
// limits (the message tests and clients match), OK otherwise.
Status check_size(const char* format, int64_t width, int64_t height, int64_t max_pixels);

// Converts `src` (width * height pixels of `from` interleaved 8-bit
// channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) to `to` (1 or 3) channels
// the way stb_image did: alpha dropped, gray repeated, and
// gray = (77 r + 150 g + 29 b) >> 8.
void convert_channels(const uint8_t* src, int from, uint8_t* dst, int to, size_t pixels);

// Each returns `channels` (1 or 3) channels, or INVALID_ARGUMENT.
Result<DecodedImage> decode_png(std::string_view encoded, int channels, int64_t max_pixels);
Result<DecodedImage> decode_jpeg(std::string_view encoded, int channels, int64_t max_pixels);
Result<DecodedImage> decode_bmp(std::string_view encoded, int channels, int64_t max_pixels);
Result<DecodedImage> decode_pnm(std::string_view encoded, int channels, int64_t max_pixels);

}  // namespace mrt::image_formats
