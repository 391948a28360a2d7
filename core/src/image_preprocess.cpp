#include "mrt/core/image_preprocess.h"

#include <algorithm>
#include <climits>
#include <memory>
#include <string>
#include <vector>

#include "mrt/core/image_resize.h"

// stb_image is compiled here rather than taken from Debian's libstb, whose
// STBI_ASSERT is assert(): an internal check that a malformed image can
// reach would abort the whole daemon. Here a failed check marks the decode
// as failed (the image is then refused as corrupt), and only the formats
// sniff_image_format() admits are compiled in. STB_IMAGE_STATIC keeps these
// symbols apart from libstb's.
namespace {
thread_local bool stbi_check_failed = false;
}  // namespace
#define STBI_ASSERT(x) ((x) ? static_cast<void>(0) : static_cast<void>(stbi_check_failed = true))
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#include <stb/stb_image.h>

namespace mrt {
namespace {

// Both dimensions are bounded too: stb allocates width*height*channels.
constexpr int kMaxSide = 65535;

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};

// Why stb refused the image; a failed internal check sets no reason.
std::string decode_failure(const std::string& format) {
  const char* why = stbi_check_failed ? nullptr : stbi_failure_reason();
  return "corrupt " + format + " image: " + (why ? why : "it fails the decoder's consistency checks");
}

struct Pixels {
  std::vector<unsigned char> data;
  int width = 0, height = 0, channels = 0;
};

Result<Pixels> resize_to(const unsigned char* src, int w, int h, int c, const ResizeTarget& target) {
  int ow = target.crop_width ? target.crop_width : target.width, oh = target.crop_height ? target.crop_height : target.height;
  Pixels out{std::vector<unsigned char>(static_cast<size_t>(ow) * oh * c), ow, oh, c};
  MRT_RETURN_IF_ERROR(resize_bilinear(ImageView{src, w, h, c}, target, out.data.data()));
  return out;
}

// Shorter side to the target (the larger of the two scale factors), then
// the centre crop: the usual ImageNet-style evaluation transform. Only the
// cropped window is resampled.
Result<Pixels> shorter_side_crop(const unsigned char* src, int w, int h, int c, int to_w, int to_h) {
  double s = std::max(static_cast<double>(to_w) / w, static_cast<double>(to_h) / h);
  int rw = std::max(to_w, static_cast<int>(w * s + 0.5)), rh = std::max(to_h, static_cast<int>(h * s + 0.5));
  return resize_to(src, w, h, c, ResizeTarget{rw, rh, (rw - to_w) / 2, (rh - to_h) / 2, to_w, to_h});
}

}  // namespace

std::string sniff_image_format(std::string_view b) {
  auto starts = [&](std::string_view magic) { return b.size() >= magic.size() && b.substr(0, magic.size()) == magic; };
  if (starts("\x89PNG\r\n\x1a\n")) return "png";
  if (starts("\xff\xd8\xff")) return "jpeg";
  if (starts("BM")) return "bmp";
  if (starts("P5") || starts("P6")) return "pnm";
  return "";
}

Result<Tensor> preprocess_image(const PreprocessSpec& spec, std::string_view encoded, const std::string& input_name) {
  if (encoded.empty()) return invalid_argument("the image is empty");
  if (static_cast<int64_t>(encoded.size()) > spec.max_bytes)
    return invalid_argument("the image is " + std::to_string(encoded.size()) + " bytes; the model accepts at most " +
                            std::to_string(spec.max_bytes));
  if (encoded.size() > static_cast<size_t>(INT_MAX)) return invalid_argument("the image is too large");
  std::string format = sniff_image_format(encoded);
  if (format.empty()) return invalid_argument("unsupported image format (PNG, JPEG, BMP and binary PPM/PGM are)");
  const auto* bytes = reinterpret_cast<const stbi_uc*>(encoded.data());
  int len = static_cast<int>(encoded.size());
  int w = 0, h = 0, comp = 0;
  // Dimensions from the header first: a hostile header cannot make the
  // decoder allocate beyond the limits.
  stbi_check_failed = false;
  if (!stbi_info_from_memory(bytes, len, &w, &h, &comp) || stbi_check_failed) return invalid_argument(decode_failure(format));
  if (w <= 0 || h <= 0 || w > kMaxSide || h > kMaxSide || static_cast<int64_t>(w) * h > spec.max_pixels)
    return invalid_argument("the " + format + " image is " + std::to_string(w) + "x" + std::to_string(h) + "; the model accepts at most " +
                            std::to_string(spec.max_pixels) + " pixels");
  int c = spec.channels;
  stbi_check_failed = false;
  std::unique_ptr<unsigned char, StbFree> decoded(stbi_load_from_memory(bytes, len, &w, &h, &comp, c));
  if (!decoded || stbi_check_failed) return invalid_argument(decode_failure(format));
  auto resized = spec.resize == "shorter_side_crop" ? shorter_side_crop(decoded.get(), w, h, c, spec.width, spec.height)
                                                   : resize_to(decoded.get(), w, h, c, ResizeTarget{spec.width, spec.height});
  if (!resized) return resized.status();
  const Pixels& px = *resized;

  bool nchw = spec.layout == "nchw";
  Dims dims = nchw ? Dims{1, c, spec.height, spec.width} : Dims{1, spec.height, spec.width, c};
  bool raw = spec.dtype == "uint8";
  auto t = Tensor::zeros(input_name, raw ? MRT_DTYPE_UINT8 : MRT_DTYPE_FLOAT32, dims);
  if (!t) return t.status();
  size_t plane = static_cast<size_t>(spec.width) * spec.height;
  for (int ch = 0; ch < c; ++ch) {
    int from = spec.channel_order == "bgr" && c == 3 ? 2 - ch : ch;  // decoded pixels are RGB
    double mean = spec.mean.size() == 1 ? spec.mean[0] : spec.mean[ch];
    double stdv = spec.std.size() == 1 ? spec.std[0] : spec.std[ch];
    for (size_t i = 0; i < plane; ++i) {
      unsigned char p = px.data[i * c + from];
      size_t at = nchw ? ch * plane + i : i * c + ch;
      if (raw) t->data_as<uint8_t>()[at] = p;
      else t->data_as<float>()[at] = static_cast<float>((p * spec.scale - mean) / stdv);
    }
  }
  return t;
}

}  // namespace mrt
