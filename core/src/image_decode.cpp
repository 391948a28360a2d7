// decode_image(): sniffs the format and hands the bytes to its decoder
// (image_decode_<format>.cpp); the size check and channel conversions they
// share.
#include "mrt/core/image_decode.h"

#include "image_formats.h"

namespace mrt {
namespace image_formats {

Status check_size(const char* format, int64_t width, int64_t height, int64_t max_pixels) {
  if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide || width * height > max_pixels)
    return invalid_argument(std::string("the ") + format + " image is " + std::to_string(width) + "x" +
                            std::to_string(height) + "; the model accepts at most " + std::to_string(max_pixels) +
                            " pixels");
  return {};
}

void convert_channels(const uint8_t* src, int from, uint8_t* dst, int to, size_t pixels) {
  for (size_t i = 0; i < pixels; ++i, src += from, dst += to) {
    if (from <= 2) {  // gray, gray + alpha
      for (int c = 0; c < to; ++c) dst[c] = src[0];
    } else if (to == 1) {  // RGB(A) → gray, stb_image's stbi__compute_y
      dst[0] = static_cast<uint8_t>((src[0] * 77 + src[1] * 150 + src[2] * 29) >> 8);
    } else {
      dst[0] = src[0], dst[1] = src[1], dst[2] = src[2];
    }
  }
}

}  // namespace image_formats

std::string sniff_image_format(std::string_view b) {
  auto starts = [&](std::string_view magic) { return b.size() >= magic.size() && b.substr(0, magic.size()) == magic; };
  if (starts("\x89PNG\r\n\x1a\n")) return "png";
  if (starts("\xff\xd8\xff")) return "jpeg";
  if (starts("BM")) return "bmp";
  if (starts("P5") || starts("P6")) return "pnm";
  return "";
}

Result<DecodedImage> decode_image(std::string_view encoded, int channels, int64_t max_pixels) {
  if (channels != 1 && channels != 3)
    return invalid_argument("images decode to 1 or 3 channels, not " + std::to_string(channels));
  std::string format = sniff_image_format(encoded);
  if (format == "png") return image_formats::decode_png(encoded, channels, max_pixels);
  if (format == "jpeg") return image_formats::decode_jpeg(encoded, channels, max_pixels);
  if (format == "bmp") return image_formats::decode_bmp(encoded, channels, max_pixels);
  if (format == "pnm") return image_formats::decode_pnm(encoded, channels, max_pixels);
  return invalid_argument("unsupported image format (PNG, JPEG, BMP and binary PPM/PGM are)");
}

}  // namespace mrt
