// libFuzzer target: the standard image stage's decoders
// (mrt/core/image_decode.h): PNG (libpng), JPEG (TurboJPEG), BMP and binary
// PPM/PGM (ours). Each input is decoded to RGB and to gray, with a pixel
// limit that keeps one decode's memory modest.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mrt/core/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)mrt::sniff_image_format(bytes);
  auto rgb = mrt::decode_image(bytes, 3, 1 << 20);
  if (rgb) (void)mrt::decode_image(bytes, 1, 1 << 20);
  return 0;
}
