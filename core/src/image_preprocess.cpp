#include "mrt/core/image_preprocess.h"

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <vector>

namespace mrt {
namespace {

// Both dimensions are bounded too: stb allocates width*height*channels.
constexpr int kMaxSide = 65535;

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};

struct Pixels {
  std::vector<unsigned char> data;
  int width = 0, height = 0, channels = 0;
};

Pixels resize_to(const unsigned char* src, int w, int h, int c, int to_w, int to_h) {
  Pixels out{std::vector<unsigned char>(static_cast<size_t>(to_w) * to_h * c), to_w, to_h, c};
  if (w == to_w && h == to_h) {
    std::memcpy(out.data.data(), src, out.data.size());
    return out;
  }
  stbir_resize_uint8_generic(src, w, h, 0, out.data.data(), to_w, to_h, 0, c, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                             STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, nullptr);
  return out;
}

// Shorter side to the target (the larger of the two scale factors), then
// the centre crop: the usual ImageNet-style evaluation transform.
Pixels shorter_side_crop(const unsigned char* src, int w, int h, int c, int to_w, int to_h) {
  double s = std::max(static_cast<double>(to_w) / w, static_cast<double>(to_h) / h);
  int rw = std::max(to_w, static_cast<int>(w * s + 0.5)), rh = std::max(to_h, static_cast<int>(h * s + 0.5));
  Pixels big = resize_to(src, w, h, c, rw, rh);
  Pixels out{std::vector<unsigned char>(static_cast<size_t>(to_w) * to_h * c), to_w, to_h, c};
  int x0 = (rw - to_w) / 2, y0 = (rh - to_h) / 2;
  for (int y = 0; y < to_h; ++y)
    std::memcpy(out.data.data() + static_cast<size_t>(y) * to_w * c, big.data.data() + (static_cast<size_t>(y + y0) * rw + x0) * c,
                static_cast<size_t>(to_w) * c);
  return out;
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
  if (!stbi_info_from_memory(bytes, len, &w, &h, &comp))
    return invalid_argument("corrupt " + format + " image: " + std::string(stbi_failure_reason()));
  if (w <= 0 || h <= 0 || w > kMaxSide || h > kMaxSide || static_cast<int64_t>(w) * h > spec.max_pixels)
    return invalid_argument("the " + format + " image is " + std::to_string(w) + "x" + std::to_string(h) + "; the model accepts at most " +
                            std::to_string(spec.max_pixels) + " pixels");
  int c = spec.channels;
  std::unique_ptr<unsigned char, StbFree> decoded(stbi_load_from_memory(bytes, len, &w, &h, &comp, c));
  if (!decoded) return invalid_argument("corrupt " + format + " image: " + std::string(stbi_failure_reason()));
  Pixels px = spec.resize == "shorter_side_crop" ? shorter_side_crop(decoded.get(), w, h, c, spec.width, spec.height)
                                                : resize_to(decoded.get(), w, h, c, spec.width, spec.height);

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
