// The standard image stage: decode (image_decode.h), resize
// (image_resize.h), then channel order, normalisation and layout.
#include "mrt/core/image_preprocess.h"

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "mrt/core/image_decode.h"
#include "mrt/core/image_resize.h"

namespace mrt {
namespace {

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

Result<Tensor> preprocess_image(const PreprocessSpec& spec, std::string_view encoded, const std::string& input_name) {
  if (encoded.empty()) return invalid_argument("the image is empty");
  if (static_cast<int64_t>(encoded.size()) > spec.max_bytes)
    return invalid_argument("the image is " + std::to_string(encoded.size()) + " bytes; the model accepts at most " +
                            std::to_string(spec.max_bytes));
  if (encoded.size() > static_cast<size_t>(INT_MAX)) return invalid_argument("the image is too large");
  int c = spec.channels;
  auto decoded = decode_image(encoded, c, spec.max_pixels);
  if (!decoded) return decoded.status();
  const uint8_t* pixels = decoded->pixels.data();
  int w = decoded->width, h = decoded->height;
  auto resized = spec.resize == "shorter_side_crop" ? shorter_side_crop(pixels, w, h, c, spec.width, spec.height)
                                                   : resize_to(pixels, w, h, c, ResizeTarget{spec.width, spec.height});
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
