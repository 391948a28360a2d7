// The host's standard image stage: decoding each supported format, the
// resize modes, channel order, normalisation and layout, the manifest keys,
// and refusals of corrupt, unsupported and oversized images.
#include "mrt/core/image_preprocess.h"

#include <gtest/gtest.h>
#include <stb/stb_image_write.h>

#include <string>
#include <vector>

namespace mrt {
namespace {

void append(void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size); }

// A w x h RGB test card: red rises left to right, green top to bottom, blue constant.
std::vector<unsigned char> card(int w, int h) {
  std::vector<unsigned char> px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      unsigned char* p = &px[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<unsigned char>(x * 255 / std::max(1, w - 1));
      p[1] = static_cast<unsigned char>(y * 255 / std::max(1, h - 1));
      p[2] = 77;
    }
  return px;
}

std::string png(int w, int h) {
  std::string out;
  auto px = card(w, h);
  stbi_write_png_to_func(append, &out, w, h, 3, px.data(), w * 3);
  return out;
}

PreprocessSpec spec(int w, int h) {
  PreprocessSpec s;
  s.kind = "image";
  s.width = w;
  s.height = h;
  return s;
}

TEST(ImagePreprocess, DecodesEachFormatToTheSamePixels) {
  auto px = card(4, 3);
  std::string p = png(4, 3), b;
  stbi_write_bmp_to_func(append, &b, 4, 3, 3, px.data());
  std::string ppm = "P6\n4 3\n255\n" + std::string(px.begin(), px.end());
  PreprocessSpec s = spec(4, 3);
  s.dtype = "uint8";
  for (const std::string* img : {&p, &b, &ppm}) {
    auto t = preprocess_image(s, *img, "x");
    ASSERT_TRUE(t) << t.status().to_string();
    EXPECT_EQ(t->dims(), (Dims{1, 3, 3, 4}));
    // NCHW: plane 0 is red; pixel (x=3, y=0) is full red, plane 2 all 77.
    EXPECT_EQ(t->data_as<uint8_t>()[3], 255);
    EXPECT_EQ(t->data_as<uint8_t>()[2 * 12 + 5], 77);
  }
  std::string jpg;
  stbi_write_jpg_to_func(append, &jpg, 4, 3, 3, px.data(), 95);
  EXPECT_EQ(sniff_image_format(jpg), "jpeg");
  EXPECT_TRUE(preprocess_image(s, jpg, "x"));
}

TEST(ImagePreprocess, NormalisesAndLaysOut) {
  PreprocessSpec s = spec(4, 3);
  s.mean = {0.5, 0.5, 0.5};
  s.std = {0.5, 0.25, 0.5};
  s.layout = "nhwc";
  s.channel_order = "bgr";
  auto t = preprocess_image(s, png(4, 3), "x");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->dims(), (Dims{1, 3, 4, 3}));
  const float* f = t->data_as<float>();
  // Pixel (x=3,y=0): B=77, G=0, R=255 in BGR order, each (p/255 - 0.5)/std.
  EXPECT_NEAR(f[3 * 3 + 0], (77 / 255.0 - 0.5) / 0.5, 1e-6);
  EXPECT_NEAR(f[3 * 3 + 1], (0 - 0.5) / 0.25, 1e-6);
  EXPECT_NEAR(f[3 * 3 + 2], (1.0 - 0.5) / 0.5, 1e-6);
}

TEST(ImagePreprocess, ResizesExactOrShorterSideThenCrop) {
  PreprocessSpec s = spec(8, 8);
  s.channels = 1;
  auto exact = preprocess_image(s, png(32, 16), "x");
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->dims(), (Dims{1, 1, 8, 8}));
  s.resize = "shorter_side_crop";
  auto crop = preprocess_image(s, png(32, 16), "x");
  ASSERT_TRUE(crop);
  EXPECT_EQ(crop->dims(), (Dims{1, 1, 8, 8}));
  // The crop keeps the middle half of the width: its left edge is darker
  // red than the exact resize's right edge, brighter than its left.
  EXPECT_GT(crop->data_as<float>()[0], exact->data_as<float>()[0]);
}

TEST(ImagePreprocess, RefusesCorruptUnsupportedAndOversizedImages) {
  PreprocessSpec s = spec(4, 4);
  std::string good = png(64, 64);
  auto corrupt = preprocess_image(s, good.substr(0, 60), "x");
  ASSERT_FALSE(corrupt);
  EXPECT_NE(corrupt.status().message().find("corrupt png image"), std::string::npos) << corrupt.status().to_string();
  auto gif = preprocess_image(s, "GIF89a....", "x");
  ASSERT_FALSE(gif);
  EXPECT_NE(gif.status().message().find("unsupported image format"), std::string::npos);
  EXPECT_FALSE(preprocess_image(s, "", "x"));
  s.max_pixels = 1000;
  auto big = preprocess_image(s, good, "x");
  ASSERT_FALSE(big);
  EXPECT_NE(big.status().message().find("64x64"), std::string::npos) << big.status().to_string();
  s.max_pixels = 1 << 20;
  s.max_bytes = 10;
  EXPECT_FALSE(preprocess_image(s, good, "x"));
  // A PNG header claiming 60000 x 60000 is refused before decoding.
  std::string huge = good;
  huge[16] = huge[20] = 0;
  huge[17] = huge[21] = 0;
  huge[18] = huge[22] = static_cast<char>(0xEA);
  huge[19] = huge[23] = 0x60;
  s.max_bytes = 1 << 20;
  EXPECT_FALSE(preprocess_image(s, huge, "x"));
}

TEST(ImagePreprocess, ManifestKeys) {
  auto m = parse_model_manifest(
      "format: onnx\nfiles: [m.onnx]\npreprocess: {kind: image, width: 224, height: 224, resize: shorter_side_crop, "
      "mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: nhwc}\n",
      "t");
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_EQ(m->preprocess.kind, "image");
  EXPECT_EQ(m->preprocess.width, 224);
  EXPECT_EQ(m->preprocess.mean.size(), 3u);
  EXPECT_EQ(m->preprocess.layout, "nhwc");
  EXPECT_FALSE(parse_model_manifest("format: onnx\npreprocess: {kind: image}\n", "t"));  // no size
  EXPECT_FALSE(parse_model_manifest("format: onnx\npreprocess: {kind: image, width: 8, height: 8, channels: 2}\n", "t"));
  EXPECT_FALSE(parse_model_manifest("format: onnx\npreprocess: {kind: image, width: 8, height: 8, mean: [1, 2]}\n", "t"));
  EXPECT_FALSE(parse_model_manifest("format: onnx\npreprocess: {kind: image, width: 8, height: 8, std: 0}\n", "t"));
  EXPECT_FALSE(parse_model_manifest("format: onnx\npreprocess: {kind: image, width: 8, height: 8, colour: 1}\n", "t"));
}

}  // namespace
}  // namespace mrt
