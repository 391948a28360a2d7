// JPEG through libjpeg-turbo's TurboJPEG API, which returns errors instead
// of jumping. Its accurate integer IDCT and smooth ("fancy") chroma
// upsampling are the ones stb_image imitated, so pixels differ from stb's
// by a few levels at most; the channel rules are stb's: a gray model gets
// the luma plane of a YCbCr file as it is, an RGB file is converted with
// stb's weights, CMYK and YCCK (Adobe) files are mixed as stb mixed them.
#include <turbojpeg.h>

#include <climits>
#include <memory>

#include "image_formats.h"

namespace mrt::image_formats {
namespace {

struct TjDestroy {
  void operator()(void* handle) const { tjDestroy(handle); }
};

// stb_image's stbi__blinn_8x8: x * y / 255, rounded.
uint8_t blinn(unsigned x, unsigned y) {
  unsigned t = x * y + 128;
  return static_cast<uint8_t>((t + (t >> 8)) >> 8);
}

}  // namespace

Result<DecodedImage> decode_jpeg(std::string_view encoded, int channels, int64_t max_pixels) {
  if (encoded.size() > ULONG_MAX) return invalid_argument("the jpeg image is too large");
  std::unique_ptr<void, TjDestroy> tj(tjInitDecompress());
  if (!tj) return internal_error(std::string("libjpeg-turbo: ") + tjGetErrorStr2(nullptr));
  const auto* bytes = reinterpret_cast<const unsigned char*>(encoded.data());
  auto size = static_cast<unsigned long>(encoded.size());
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.get(), bytes, size, &width, &height, &subsampling, &colorspace) != 0)
    return invalid_argument(std::string("corrupt jpeg image: ") + tjGetErrorStr2(tj.get()));
  MRT_RETURN_IF_ERROR(check_size("jpeg", width, height, max_pixels));

  bool four = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  // A gray model takes libjpeg's gray output only from gray and YCbCr files
  // (the luma plane, as stb); others decode to RGB and convert with stb's
  // weights.
  bool direct_gray = channels == 1 && (colorspace == TJCS_GRAY || colorspace == TJCS_YCbCr);
  int format = four ? TJPF_CMYK : direct_gray ? TJPF_GRAY : TJPF_RGB;
  int decoded_channels = tjPixelSize[format];
  size_t pixels = static_cast<size_t>(width) * height;
  std::vector<uint8_t> decoded(pixels * decoded_channels);
  // Warnings (a truncated scan, junk between markers) leave a complete
  // image, as stb_image did with such files; errors refuse it.
  if (tjDecompress2(tj.get(), bytes, size, decoded.data(), width, 0, height, format, 0) != 0 &&
      tjGetErrorCode(tj.get()) != TJERR_WARNING)
    return invalid_argument(std::string("corrupt jpeg image: ") + tjGetErrorStr2(tj.get()));

  DecodedImage out{{}, width, height, channels};
  if (four) {
    // Adobe CMYK is stored inverted, and YCCK decodes to inverted RGB plus
    // K: either way stb's r = C * K / 255, and so on.
    for (size_t i = 0; i < pixels; ++i) {
      uint8_t* p = &decoded[i * 4];
      p[0] = blinn(p[0], p[3]), p[1] = blinn(p[1], p[3]), p[2] = blinn(p[2], p[3]);
    }
  }
  if (decoded_channels == channels) {
    out.pixels = std::move(decoded);
  } else {
    out.pixels.resize(pixels * channels);
    convert_channels(decoded.data(), four ? 4 : decoded_channels, out.pixels.data(), channels, pixels);
  }
  return out;
}

}  // namespace mrt::image_formats
