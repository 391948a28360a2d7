// The image stage's decoders (mrt/core/image_decode.h): PNG (libpng) gives
// exactly stb_image's pixels, on the repository's PNGs and on each PNG
// layout; BMP and PPM/PGM (decoded by the core) give stb_image's pixels;
// JPEG (libjpeg-turbo) is within a few levels of stb_image's; a JPEG whose
// Huffman table counts sum past 256 (stb_image 2.27 wrote past its table)
// is refused as corrupt; headers beyond the limits are refused before
// anything is allocated.
#include "mrt/core/image_decode.h"

#include <gtest/gtest.h>
#include <png.h>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "png_chunks.h"

namespace mrt {
namespace {

void append(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size);
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Noise over gradients: every bit of every sample varies.
std::vector<uint8_t> noise(int w, int h, int c, uint32_t seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * c);
  uint32_t r = seed;
  for (size_t i = 0; i < px.size(); ++i) {
    r = r * 1664525u + 1013904223u;
    px[i] = static_cast<uint8_t>(((r >> 24) + i / c * 7) & 255);
  }
  return px;
}

// stb_image's decode with `channels` requested (the stage's old decoder).
std::vector<uint8_t> stb_decode(const std::string& img, int channels, int* w = nullptr, int* h = nullptr) {
  int x = 0, y = 0, n = 0;
  stbi_uc* p = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(img.data()), static_cast<int>(img.size()), &x, &y,
                                     &n, channels);
  if (!p) return {};
  std::vector<uint8_t> out(p, p + static_cast<size_t>(x) * y * channels);
  stbi_image_free(p);
  if (w) *w = x;
  if (h) *h = y;
  return out;
}

constexpr int64_t kPixels = int64_t{40} << 20;

void expect_as_stb(const std::string& img, const std::string& what) {
  for (int channels : {1, 3}) {
    auto got = decode_image(img, channels, kPixels);
    ASSERT_TRUE(got) << what << ": " << got.status().to_string();
    int w = 0, h = 0;
    auto want = stb_decode(img, channels, &w, &h);
    ASSERT_FALSE(want.empty()) << what;
    EXPECT_EQ(got->width, w) << what;
    EXPECT_EQ(got->height, h) << what;
    EXPECT_EQ(got->channels, channels);
    EXPECT_TRUE(got->pixels == want) << what << " as " << channels << " channels";
  }
}

// libpng's simplified writer: palette and 16-bit PNGs, which
// stb_image_write cannot make.
std::string png_write(png_uint_32 format, int w, int h, const void* px, const void* colormap = nullptr,
                      int entries = 0) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.format = format;
  img.width = w;
  img.height = h;
  img.colormap_entries = entries;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&img, nullptr, &size, 0, px, 0, colormap));
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&img, out.data(), &size, 0, px, 0, colormap));
  out.resize(size);
  return out;
}

// ============================================================================
// PNG: exactly stb_image's pixels
// ============================================================================

TEST(ImageDecode, RepositoryPngsDecodeExactlyAsStbDid) {
  int n = 0;
  for (const char* dir : {"/models/digits/samples", "/tests/fixtures/digits-heldout"})
    for (const auto& e : std::filesystem::directory_iterator(std::string(MRT_SOURCE_ROOT) + dir))
      if (e.path().extension() == ".png") {
        expect_as_stb(read_all(e.path()), e.path().string());
        ++n;
      }
  EXPECT_GE(n, 300);
  std::printf("%d repository PNGs: identical to stb_image as gray and RGB\n", n);
}

TEST(ImageDecode, EachPngLayoutDecodesExactlyAsStbDid) {
  const int w = 37, h = 23;
  for (int c = 1; c <= 4; ++c) {
    auto px = noise(w, h, c, static_cast<uint32_t>(c));
    std::string png;
    stbi_write_png_to_func(append, &png, w, h, c, px.data(), w * c);
    expect_as_stb(png, "8-bit, " + std::to_string(c) + " channels");
  }
  // 16-bit gray, RGB and RGBA (libpng writes linear data with gAMA 1.0,
  // which neither decoder applies).
  for (png_uint_32 format : {PNG_FORMAT_LINEAR_Y, PNG_FORMAT_LINEAR_RGB, PNG_FORMAT_LINEAR_RGB_ALPHA}) {
    int c = static_cast<int>(PNG_IMAGE_SAMPLE_CHANNELS(format));
    auto bytes = noise(w, h, c * 2, 9);
    expect_as_stb(png_write(format, w, h, bytes.data()), "16-bit, " + std::to_string(c) + " channels");
  }
  // Palettes: 256 RGB entries, and 200 RGBA entries (a tRNS chunk).
  auto indices = noise(w, h, 1, 11);
  auto rgb_map = noise(256, 1, 3, 12);
  expect_as_stb(png_write(PNG_FORMAT_RGB_COLORMAP, w, h, indices.data(), rgb_map.data(), 256), "palette");
  for (uint8_t& i : indices) i = static_cast<uint8_t>(i % 200);
  auto rgba_map = noise(200, 1, 4, 13);
  expect_as_stb(png_write(PNG_FORMAT_RGBA_COLORMAP, w, h, indices.data(), rgba_map.data(), 200), "palette with alpha");
}

// ============================================================================
// BMP and PPM/PGM: decoded by the core, stb_image's pixels
// ============================================================================

TEST(ImageDecode, BmpAndPnmDecodeAsStbDid) {
  const int w = 21, h = 13;  // odd: rows padded
  for (int c : {1, 3, 4}) {  // 24-bit, and 32-bit with a V4 header and bit fields
    auto px = noise(w, h, c, static_cast<uint32_t>(20 + c));
    std::string bmp;
    stbi_write_bmp_to_func(append, &bmp, w, h, c, px.data());
    expect_as_stb(bmp, "bmp from " + std::to_string(c) + " channels");
  }
  auto rgb = noise(w, h, 3, 30), gray = noise(w, h, 1, 31);
  std::string header = "P6\n# a comment\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
  expect_as_stb(header + std::string(rgb.begin(), rgb.end()), "ppm");
  expect_as_stb("P5 " + std::to_string(w) + "\t" + std::to_string(h) + " 255 " + std::string(gray.begin(), gray.end()),
                "pgm");
  // 16-bit PGM: the high byte of each big-endian sample (stb_image 2.27
  // took the low byte: it never swapped them).
  auto wide = noise(w, h, 2, 32);
  auto got = decode_image(
      "P5 " + std::to_string(w) + " " + std::to_string(h) + " 65535\n" + std::string(wide.begin(), wide.end()), 1,
      kPixels);
  ASSERT_TRUE(got) << got.status().to_string();
  for (size_t i = 0; i < got->pixels.size(); ++i) ASSERT_EQ(got->pixels[i], wide[2 * i]) << i;
}

// 8-bit palette and 16-bit 5-5-5 BMPs, written here (stb_image_write writes
// 24 and 32 bits only), bottom-up and top-down.
std::string bmp_header(int w, int h, int bpp, int palette_entries, size_t pixel_bytes) {
  std::string b = "BM";
  auto put = [&](uint32_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(static_cast<char>(v >> (8 * i)));
  };
  uint32_t offset = 14 + 40 + palette_entries * 4;
  put(offset + static_cast<uint32_t>(pixel_bytes), 4), put(0, 4), put(offset, 4);
  put(40, 4), put(static_cast<uint32_t>(w), 4), put(static_cast<uint32_t>(h), 4), put(1, 2), put(bpp, 2), put(0, 4);
  put(static_cast<uint32_t>(pixel_bytes), 4), put(0, 4), put(0, 4), put(palette_entries, 4), put(0, 4);
  return b;
}

TEST(ImageDecode, PaletteAnd16BitBmpsDecodeAsStbDid) {
  const int w = 19, h = 7;
  size_t stride8 = (w + 3) / 4 * 4, stride16 = (w * 2 + 3) / 4 * 4;
  auto pal = noise(256, 1, 4, 40), idx = noise(static_cast<int>(stride8), h, 1, 41),
       px16 = noise(static_cast<int>(stride16), h, 1, 42);
  for (int sign : {1, -1}) {
    expect_as_stb(bmp_header(w, sign * h, 8, 256, idx.size()) + std::string(pal.begin(), pal.end()) +
                      std::string(idx.begin(), idx.end()),
                  "8-bit palette");
    expect_as_stb(bmp_header(w, sign * h, 16, 0, px16.size()) + std::string(px16.begin(), px16.end()), "16-bit");
  }
}

// ============================================================================
// JPEG: libjpeg-turbo against stb_image
// ============================================================================

TEST(ImageDecode, JpegIsWithinAFewLevelsOfStb) {
  int worst = 0;
  for (auto [w, h, c, quality] : {std::tuple{64, 48, 3, 95},
                                  {64, 48, 3, 75},
                                  {300, 200, 3, 90},
                                  {131, 77, 3, 50},
                                  {64, 48, 1, 90},
                                  {99, 101, 1, 60}}) {
    // Smooth content, as photographs are, with some noise.
    std::vector<uint8_t> px(static_cast<size_t>(w) * h * c);
    auto n = noise(w, h, c, 50);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int ch = 0; ch < c; ++ch) {
          size_t i = (static_cast<size_t>(y) * w + x) * c + ch;
          px[i] = static_cast<uint8_t>((x * 255 / w + y * 128 / h * (ch + 1) + n[i] / 8) & 255);
        }
    std::string jpg;
    stbi_write_jpg_to_func(append, &jpg, w, h, c, px.data(), quality);
    for (int channels : {1, 3}) {
      auto got = decode_image(jpg, channels, kPixels);
      ASSERT_TRUE(got) << got.status().to_string();
      auto want = stb_decode(jpg, channels);
      ASSERT_EQ(got->pixels.size(), want.size());
      int max = 0;
      double sum = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        int d = std::abs(int{got->pixels[i]} - int{want[i]});
        max = std::max(max, d);
        sum += d;
      }
      double mean = sum / static_cast<double>(want.size());
      std::printf("jpeg %dx%d, %d channel(s), quality %d, decoded as %d: max %d, mean %.4f vs stb_image\n", w, h, c,
                  quality, channels, max, mean);
      EXPECT_LE(max, 8);
      EXPECT_LT(mean, 1.0);
      worst = std::max(worst, max);
    }
  }
}

// The DHT segment of a baseline JPEG whose 16 code counts sum to 16 * 17 =
// 272 > 256: stb_image 2.27 wrote past its 257-entry table (UBSan: index
// 257 out of bounds in stbi__build_huffman).
TEST(ImageDecode, JpegHuffmanCountsPast256AreCorrupt) {
  auto px = noise(16, 16, 3, 60);
  std::string jpg;
  stbi_write_jpg_to_func(append, &jpg, 16, 16, 3, px.data(), 90);
  size_t dht = jpg.find("\xff\xc4");
  ASSERT_NE(dht, std::string::npos);
  for (int i = 0; i < 16; ++i) jpg[dht + 5 + i] = 17;  // marker, length (2), class/id, then the counts
  auto got = decode_image(jpg, 3, kPixels);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(got.status().message().find("corrupt jpeg image"), std::string::npos) << got.status().to_string();
  std::printf("%s\n", got.status().message().c_str());
}

// ============================================================================
// Limits and refusals
// ============================================================================

void expect_refused(const std::string& img, const std::string& fragment, int64_t max_pixels = kPixels) {
  auto got = decode_image(img, 3, max_pixels);
  ASSERT_FALSE(got) << fragment;
  EXPECT_EQ(got.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(got.status().message().find(fragment), std::string::npos) << got.status().to_string();
}

// Headers claiming 60000 x 60000 (3.6 G pixels): refused by the limit,
// before any pixel buffer is sized by them (under ASan a 10 GB allocation
// would fail the test).
TEST(ImageDecode, OversizedHeadersAreRefusedBeforeAllocating) {
  auto px = noise(8, 8, 3, 70);
  std::string png, jpg, bmp;
  stbi_write_png_to_func(append, &png, 8, 8, 3, px.data(), 24);
  stbi_write_jpg_to_func(append, &jpg, 8, 8, 3, px.data(), 90);
  stbi_write_bmp_to_func(append, &bmp, 8, 8, 3, px.data());
  png.replace(16, 8, std::string("\x00\x00\xea\x60\x00\x00\xea\x60", 8));  // IHDR
  test::fix_png_chunk_crc(png, 8);
  expect_refused(png, "the png image is 60000x60000");
  size_t sof = jpg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  jpg.replace(sof + 5, 4, std::string("\xea\x60\xea\x60", 4));
  expect_refused(jpg, "the jpeg image is 60000x60000");
  bmp.replace(18, 8, std::string("\x60\xea\x00\x00\x60\xea\x00\x00", 8));
  expect_refused(bmp, "the bmp image is 60000x60000");
  expect_refused("P6 60000 60000 255\n", "the pnm image is 60000x60000");
  expect_refused("P6 65536 1 255\n", "corrupt pnm image");
  // Within the sides, beyond the model's pixel limit.
  std::string ok;
  stbi_write_png_to_func(append, &ok, 8, 8, 3, px.data(), 24);
  expect_refused(ok, "the png image is 8x8; the model accepts at most 63 pixels", 63);
}

TEST(ImageDecode, TruncatedAndUnsupportedImagesAreRefused) {
  auto px = noise(8, 8, 3, 80);
  std::string png, bmp;
  stbi_write_png_to_func(append, &png, 8, 8, 3, px.data(), 24);
  stbi_write_bmp_to_func(append, &bmp, 8, 8, 3, px.data());
  expect_refused(png.substr(0, png.size() - 20), "corrupt png image");
  expect_refused(bmp.substr(0, bmp.size() - 1), "corrupt bmp image: the pixel data ends early");
  expect_refused("P6 8 8 255\n" + std::string(191, 'x'), "corrupt pnm image: the pixel data ends early");
  std::string rle = bmp;
  rle[30] = 1;
  expect_refused(rle, "unsupported bmp image: RLE");
  expect_refused("GIF89a", "unsupported image format");
  EXPECT_FALSE(decode_image(png, 2, kPixels));
}

}  // namespace
}  // namespace mrt
