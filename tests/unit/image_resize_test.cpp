// The image stage's resampler (mrt/core/image_resize.h): issue 22's sizes,
// which aborted the daemon inside stb_image_resize, through the whole stage;
// a sweep of sizes 1 to 4096 against a direct double-precision evaluation of
// the same filter; Pillow's own output (tests/fixtures/images-resize, from
// scripts/make-resize-fixtures.py); crop windows; refusals; and malformed
// images, which must be refused, never abort (decoders: image_decode.h).
#include "mrt/core/image_resize.h"

#include <gtest/gtest.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "mrt/core/image_decode.h"
#include "mrt/core/image_preprocess.h"
#include "png_chunks.h"

namespace mrt {
namespace {

// ============================================================================
// Sources, the reference and comparison
// ============================================================================

// The fixture script's source(): seeded noise over 16x16 blocks in a
// checkerboard, gradients elsewhere; uint32 arithmetic as numpy's.
std::vector<uint8_t> source(int w, int h, int c, uint32_t seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * c);
  for (uint32_t y = 0; y < static_cast<uint32_t>(h); ++y)
    for (uint32_t x = 0; x < static_cast<uint32_t>(w); ++x)
      for (uint32_t ch = 0; ch < static_cast<uint32_t>(c); ++ch) {
        uint32_t v = x * 0x9E3779B1u + y * 0x85EBCA77u + ch * 0xC2B2AE3Du + seed * 0x27D4EB2Fu;
        v ^= v >> 15;
        v *= 0x2C1B3C6Du;
        v ^= v >> 12;
        v *= 0x297A2D39u;
        v ^= v >> 15;
        uint32_t noise = v >> 24;
        uint32_t grad = (x * 256 / static_cast<uint32_t>(w) + (y * 256 / static_cast<uint32_t>(h)) * (ch + 1)) & 255;
        bool noisy = (((x >> 4) + (y >> 4) + seed) & 1) == 1;
        px[(static_cast<size_t>(y) * w + x) * c + ch] = static_cast<uint8_t>(noisy ? (grad + noise) >> 1 : grad);
      }
  return px;
}

// One axis of the filter, written from its definition: output i of an
// in -> out resize is centred at (i + 0.5) * in / out; the triangle's
// support is max(1, in / out); inputs whose centres round into the support
// (as Pillow bounds it) are weighted and the weights normalised.
struct RefAxis {
  std::vector<int> first;
  std::vector<std::vector<double>> w;
};

RefAxis ref_axis(int in, int out, int win0, int win) {
  RefAxis a;
  double scale = static_cast<double>(in) / out, fs = std::max(scale, 1.0);
  for (int i = win0; i < win0 + win; ++i) {
    double center = (i + 0.5) * scale;
    int lo = std::max(0, static_cast<int>(center - fs + 0.5)), hi = std::min(in, static_cast<int>(center + fs + 0.5));
    std::vector<double> w;
    double sum = 0;
    for (int x = lo; x < hi; ++x) {
      double d = std::fabs((x + 0.5 - center) / fs);
      w.push_back(d < 1 ? 1 - d : 0);
      sum += w.back();
    }
    for (double& v : w) v /= sum;
    a.first.push_back(lo);
    a.w.push_back(std::move(w));
  }
  return a;
}

// The window of the to_w x to_h resize, each output pixel summed over its
// 2-D support in double, rounded once.
std::vector<uint8_t> reference(const std::vector<uint8_t>& src, int w, int h, int c, const ResizeTarget& t) {
  int cw = t.crop_width ? t.crop_width : t.width, chh = t.crop_height ? t.crop_height : t.height;
  RefAxis ax = ref_axis(w, t.width, t.crop_x, cw), ay = ref_axis(h, t.height, t.crop_y, chh);
  std::vector<uint8_t> out(static_cast<size_t>(cw) * chh * c);
  for (int yy = 0; yy < chh; ++yy)
    for (int xx = 0; xx < cw; ++xx)
      for (int ch = 0; ch < c; ++ch) {
        double s = 0;
        for (size_t j = 0; j < ay.w[yy].size(); ++j)
          for (size_t i = 0; i < ax.w[xx].size(); ++i)
            s += ay.w[yy][j] * ax.w[xx][i] * src[(static_cast<size_t>(ay.first[yy] + j) * w + ax.first[xx] + i) * c + ch];
        out[(static_cast<size_t>(yy) * cw + xx) * c + ch] = static_cast<uint8_t>(std::clamp(std::floor(s + 0.5), 0.0, 255.0));
      }
  return out;
}

struct Diff {
  int max = 0;
  double sum = 0;
  size_t n = 0;
  void add(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
      int d = std::abs(int{a[i]} - int{b[i]});
      max = std::max(max, d);
      sum += d;
    }
    n += std::min(a.size(), b.size());
  }
  double mean() const { return n ? sum / static_cast<double>(n) : 0.0; }
};

// Max abs diff between two buffers of equal size.
int max_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  Diff d;
  d.add(a, b);
  return d.max;
}

std::vector<uint8_t> resize(const std::vector<uint8_t>& src, int w, int h, int c, const ResizeTarget& t) {
  int cw = t.crop_width ? t.crop_width : t.width, chh = t.crop_height ? t.crop_height : t.height;
  std::vector<uint8_t> out(static_cast<size_t>(cw) * chh * c);
  Status s = resize_bilinear(ImageView{src.data(), w, h, c}, t, out.data());
  EXPECT_TRUE(s) << s.to_string();
  return out;
}

// The image stage's shorter_side_crop rule (image_preprocess.cpp).
ResizeTarget shorter_side_crop(int w, int h, int tw, int th) {
  double s = std::max(static_cast<double>(tw) / w, static_cast<double>(th) / h);
  int rw = std::max(tw, static_cast<int>(w * s + 0.5)), rh = std::max(th, static_cast<int>(h * s + 0.5));
  return {rw, rh, (rw - tw) / 2, (rh - th) / 2, tw, th};
}

void append(void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size); }

// ============================================================================
// Issue 22
// ============================================================================

// 300x300, 299x299, 400x300 and 330x288 (PNG and JPEG) to 224x224, exact
// and shorter_side_crop, through the whole stage: stb_image_resize v1
// aborted the process on these (`total < 1.1f`).
TEST(ImageResize, Issue22SizesResizeThroughTheStage) {
  const int sizes[][2] = {{300, 300}, {299, 299}, {400, 300}, {330, 288}};
  Diff diff;
  for (auto [w, h] : sizes)
    for (bool jpeg : {false, true}) {
      auto px = source(w, h, 3, static_cast<uint32_t>(w + h));
      std::string encoded;
      if (jpeg) stbi_write_jpg_to_func(append, &encoded, w, h, 3, px.data(), 90);
      else stbi_write_png_to_func(append, &encoded, w, h, 3, px.data(), w * 3);
      // The decoded pixels (JPEG is lossy) are what the stage resizes.
      auto dec = decode_image(encoded, 3, int64_t{1} << 30);
      ASSERT_TRUE(dec) << dec.status().to_string();
      const std::vector<uint8_t>& decoded = dec->pixels;
      for (const char* mode : {"exact", "shorter_side_crop"}) {
        PreprocessSpec s;
        s.kind = "image";
        s.width = s.height = 224;
        s.dtype = "uint8";
        s.layout = "nhwc";
        s.resize = mode;
        auto t = preprocess_image(s, encoded, "x");
        ASSERT_TRUE(t) << t.status().to_string();
        ASSERT_EQ(t->dims(), (Dims{1, 224, 224, 3}));
        std::vector<uint8_t> got(t->data_as<uint8_t>(), t->data_as<uint8_t>() + 224 * 224 * 3);
        ResizeTarget target = std::string(mode) == "exact" ? ResizeTarget{224, 224} : shorter_side_crop(w, h, 224, 224);
        auto want = reference(decoded, w, h, 3, target);
        EXPECT_LE(max_diff(got, want), 1) << w << "x" << h << (jpeg ? " jpeg " : " png ") << mode;
        diff.add(got, want);
      }
    }
  std::printf("issue 22 sizes vs the reference: max %d, mean %.4f over %zu values\n", diff.max, diff.mean(), diff.n);
}

// ============================================================================
// Against the direct reference
// ============================================================================

struct SweepCase {
  int w, h, c, tw, th;
};

// Sizes from 1 to 4096 (primes, powers of two and their neighbours, the
// issue's), targets 1 to 512, 1/3/4 channels: a fixed pseudo-random sample
// plus the extremes, kept to a few seconds.
std::vector<SweepCase> sweep_cases() {
  const int sides[] = {1, 2, 3, 5, 7, 16, 31, 63, 64, 65, 127, 128, 129, 224, 255, 256, 257, 288, 299, 300, 331, 509, 1021, 1024, 1025, 2047, 4095, 4096};
  const int targets[] = {1, 2, 3, 7, 17, 64, 100, 223, 224, 299, 512};
  const int channels[] = {1, 3, 4};
  std::vector<SweepCase> cases = {
      {1, 4096, 3, 224, 224}, {4096, 1, 3, 224, 224}, {4096, 4096, 1, 224, 224}, {1, 1, 4, 512, 512}, {4096, 4096, 1, 1, 1},
      {1, 4096, 1, 1, 1},     {4096, 1, 4, 512, 3},   {3, 4096, 1, 7, 512},      {300, 300, 3, 224, 224}, {299, 299, 4, 224, 224},
      {400, 300, 3, 224, 224}, {330, 288, 1, 224, 224}, {224, 224, 3, 224, 224},
  };
  uint32_t r = 12345;
  auto next = [&](uint32_t n) {
    r = r * 1664525u + 1013904223u;
    return (r >> 8) % n;
  };
  while (cases.size() < 220) {
    SweepCase k{sides[next(std::size(sides))], sides[next(std::size(sides))], channels[next(3)], targets[next(std::size(targets))],
                targets[next(std::size(targets))]};
    // The reference costs outputs x 2-D support; large sources use one channel.
    double cost = static_cast<double>(k.tw) * k.th * k.c * (2.0 * k.w / k.tw + 3) * (2.0 * k.h / k.th + 3);
    if (static_cast<double>(k.w) * k.h > 1 << 20) k.c = 1;
    if (cost > 2e7) continue;
    cases.push_back(k);
  }
  return cases;
}

TEST(ImageResize, MatchesTheDirectReferenceAcrossSizes) {
  Diff all;
  int n = 0;
  for (const SweepCase& k : sweep_cases()) {
    auto src = source(k.w, k.h, k.c, static_cast<uint32_t>(n++));
    ResizeTarget t{k.tw, k.th};
    auto got = resize(src, k.w, k.h, k.c, t);
    auto want = reference(src, k.w, k.h, k.c, t);
    int d = max_diff(got, want);
    EXPECT_LE(d, 1) << k.w << "x" << k.h << "x" << k.c << " -> " << k.tw << "x" << k.th;
    all.add(got, want);
  }
  std::printf("%d sweep cases vs the reference: max %d, mean %.4f over %zu values\n", n, all.max, all.mean(), all.n);
}

// shorter_side_crop of extreme aspect ratios: the virtual resize is huge
// (1 x 4096 -> 224 x 917504), the computed window 224 x 224.
TEST(ImageResize, CropsOfExtremeAspectRatiosMatchTheReference) {
  const int sizes[][2] = {{1, 4096}, {4096, 1}, {3, 4095}, {4096, 4096}, {1, 1}, {300, 300}};
  for (auto [w, h] : sizes) {
    auto src = source(w, h, 3, 99);
    ResizeTarget t = shorter_side_crop(w, h, 224, 224);
    EXPECT_LE(max_diff(resize(src, w, h, 3, t), reference(src, w, h, 3, t)), 1) << w << "x" << h;
  }
}

// A window of a resize is exactly that window of the full resize.
TEST(ImageResize, CropWindowIsTheWindowOfTheFullResize) {
  for (auto [w, h, c] : {std::tuple{400, 300, 3}, {37, 1021, 4}, {1, 64, 1}, {64, 64, 1}}) {
    auto src = source(w, h, c, 5);
    const int tw = 299, th = 224;
    auto full = resize(src, w, h, c, {tw, th});
    for (ResizeTarget t : {ResizeTarget{tw, th, 37, 0, 224, 224}, {tw, th, 0, 100, 299, 1}, {tw, th, 298, 223, 1, 1}, {tw, th, 5, 7, 13, 11}}) {
      auto part = resize(src, w, h, c, t);
      for (int y = 0; y < t.crop_height; ++y)
        for (int x = 0; x < t.crop_width * c; ++x)
          ASSERT_EQ(part[static_cast<size_t>(y) * t.crop_width * c + x], full[static_cast<size_t>(y + t.crop_y) * tw * c + t.crop_x * c + x])
              << w << "x" << h << " window at " << t.crop_x << "," << t.crop_y;
    }
  }
}

TEST(ImageResize, SameSizeIsACopy) {
  auto src = source(31, 17, 3, 1);
  EXPECT_EQ(resize(src, 31, 17, 3, {31, 17}), src);
}

TEST(ImageResize, RefusesBadArguments) {
  std::vector<uint8_t> px(64 * 64 * 4), out(64 * 64 * 4);
  ImageView v{px.data(), 8, 8, 3};
  EXPECT_FALSE(resize_bilinear(v, {0, 8}, out.data()));
  EXPECT_FALSE(resize_bilinear(v, {8, -1}, out.data()));
  EXPECT_FALSE(resize_bilinear(ImageView{px.data(), 8, 8, 5}, {4, 4}, out.data()));
  EXPECT_FALSE(resize_bilinear(ImageView{px.data(), 8, 8, 0}, {4, 4}, out.data()));
  EXPECT_FALSE(resize_bilinear(ImageView{px.data(), 0, 8, 3}, {4, 4}, out.data()));
  EXPECT_FALSE(resize_bilinear(ImageView{nullptr, 8, 8, 3}, {4, 4}, out.data()));
  EXPECT_FALSE(resize_bilinear(v, {8, 8, 4, 0, 5, 8}, out.data()));   // past the right edge
  EXPECT_FALSE(resize_bilinear(v, {8, 8, -1, 0, 4, 4}, out.data()));
  EXPECT_FALSE(resize_bilinear(v, {1 << 30, 8}, out.data()));
  EXPECT_TRUE(resize_bilinear(v, {4, 4}, out.data()));
}

// ============================================================================
// Against Pillow
// ============================================================================

std::string fixture_dir() { return std::string(MRT_SOURCE_ROOT) + "/tests/fixtures/images-resize/"; }

TEST(ImageResize, MatchesPillowFixtures) {
  std::ifstream cases(fixture_dir() + "cases.txt");
  ASSERT_TRUE(cases) << fixture_dir();
  Diff all;
  int n = 0, exact_cases = 0;
  std::string line;
  while (std::getline(cases, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name;
    int w, h, c;
    uint32_t seed;
    ResizeTarget t;
    ASSERT_TRUE(fields >> name >> w >> h >> c >> seed >> t.width >> t.height >> t.crop_x >> t.crop_y >> t.crop_width >> t.crop_height) << line;
    std::ifstream f(fixture_dir() + name + ".u8", std::ios::binary);
    std::vector<uint8_t> pillow((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_EQ(pillow.size(), static_cast<size_t>(t.crop_width) * t.crop_height * c) << name;
    auto got = resize(source(w, h, c, seed), w, h, c, t);
    Diff d;
    d.add(got, pillow);
    EXPECT_LE(d.max, 1) << name << ": mean diff " << d.mean();
    exact_cases += d.max == 0;
    all.add(got, pillow);
    ++n;
  }
  EXPECT_GE(n, 20);
  std::printf("%d Pillow fixtures: max %d, mean %.6f over %zu values; %d cases identical\n", n, all.max, all.mean(), all.n, exact_cases);
}

// The issue's sizes through the whole stage (PNG, so lossless) against Pillow.
TEST(ImageResize, StageMatchesPillowOnIssue22Sizes) {
  std::ifstream cases(fixture_dir() + "cases.txt");
  ASSERT_TRUE(cases);
  std::string line;
  int n = 0;
  while (std::getline(cases, line)) {
    std::istringstream fields(line);
    std::string name;
    int w, h, c;
    uint32_t seed;
    ResizeTarget t;
    if (!(fields >> name >> w >> h >> c >> seed >> t.width >> t.height >> t.crop_x >> t.crop_y >> t.crop_width >> t.crop_height)) continue;
    if (t.crop_width != 224 || t.crop_height != 224 || w > 1000) continue;
    bool crop = t.width != 224 || t.height != 224;
    auto px = source(w, h, c, seed);
    std::string png;
    stbi_write_png_to_func(append, &png, w, h, c, px.data(), w * c);
    PreprocessSpec s;
    s.kind = "image";
    s.width = s.height = 224;
    s.channels = c;
    s.dtype = "uint8";
    s.layout = "nhwc";
    s.resize = crop ? "shorter_side_crop" : "exact";
    auto got = preprocess_image(s, png, "x");
    ASSERT_TRUE(got) << name << ": " << got.status().to_string();
    std::ifstream f(fixture_dir() + name + ".u8", std::ios::binary);
    std::vector<uint8_t> pillow((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::vector<uint8_t> mine(got->data_as<uint8_t>(), got->data_as<uint8_t>() + pillow.size());
    EXPECT_LE(max_diff(mine, pillow), 1) << name;
    ++n;
  }
  EXPECT_GE(n, 6);
}

// ============================================================================
// Malformed images
// ============================================================================

// Byte mutations of valid PNG, JPEG, BMP and PPM files: each is decoded or
// refused, and the process survives. Under ASan and UBSan this found
// stb_image 2.27 writing past its JPEG Huffman table (now libjpeg-turbo's).
TEST(ImageResize, MutatedImagesAreRefusedOrDecodedNeverAbort) {
  auto px = source(24, 16, 3, 3);
  std::string png, jpg, bmp;
  stbi_write_png_to_func(append, &png, 24, 16, 3, px.data(), 24 * 3);
  stbi_write_jpg_to_func(append, &jpg, 24, 16, 3, px.data(), 80);
  stbi_write_bmp_to_func(append, &bmp, 24, 16, 3, px.data());
  std::string ppm = "P6\n24 16\n255\n" + std::string(px.begin(), px.end());
  PreprocessSpec s;
  s.kind = "image";
  s.width = 7;
  s.height = 5;
  uint32_t r = 7;
  auto next = [&](uint32_t n) {
    r = r * 1664525u + 1013904223u;
    return (r >> 8) % n;
  };
  int refused = 0, total = 0;
  for (const std::string* good : {&png, &jpg, &bmp, &ppm})
    for (int i = 0; i < 1250; ++i) {
      std::string bad = *good;
      for (uint32_t m = 0, count = 1 + next(4); m < count; ++m) bad[3 + next(static_cast<uint32_t>(bad.size() - 3))] = static_cast<char>(next(256));
      if (next(4) == 0) bad.resize(3 + next(static_cast<uint32_t>(bad.size() - 3)));
      s.channels = next(2) ? 3 : 1;
      auto t = preprocess_image(s, bad, "x");
      refused += !t;
      ++total;
    }
  std::printf("%d of %d mutated images refused, the rest decoded\n", refused, total);
}

// Every chunk's CRC made right again.
void fix_png_crcs(std::string& png) {
  for (size_t at = 8; at != 0;) at = test::fix_png_chunk_crc(png, at);
}

// Mutants aimed at the parsers' tables and headers: JPEG DHT counts and
// symbols, SOF dimensions, components, sampling factors and table ids, DQT;
// PNG IHDR fields and IDAT bytes with valid CRCs; BMP header fields; PPM
// header numbers. Decoded or refused, never a crash or sanitizer report.
TEST(ImageResize, TargetedMutantsOfHeadersAndTablesAreRefusedOrDecoded) {
  uint32_t r = 11;
  auto next = [&](uint32_t n) {
    r = r * 1664525u + 1013904223u;
    return (r >> 8) % n;
  };
  auto px = source(40, 24, 3, 8);
  std::string jpg420, jpg444, gray_jpg, png, gray_png, bmp, bmp32;
  stbi_write_jpg_to_func(append, &jpg420, 40, 24, 3, px.data(), 70);  // 4:2:0
  stbi_write_jpg_to_func(append, &jpg444, 40, 24, 3, px.data(), 95);  // 4:4:4
  auto gray = source(40, 24, 1, 9), rgba = source(40, 24, 4, 10);
  stbi_write_jpg_to_func(append, &gray_jpg, 40, 24, 1, gray.data(), 80);
  stbi_write_png_to_func(append, &png, 40, 24, 3, px.data(), 40 * 3);
  stbi_write_png_to_func(append, &gray_png, 40, 24, 1, gray.data(), 40);
  stbi_write_bmp_to_func(append, &bmp, 40, 24, 3, px.data());
  stbi_write_bmp_to_func(append, &bmp32, 40, 24, 4, rgba.data());
  PreprocessSpec s;
  s.kind = "image";
  s.width = 9;
  s.height = 6;
  int refused = 0, total = 0;
  auto run = [&](const std::string& img) {
    s.channels = next(2) ? 3 : 1;
    refused += !preprocess_image(s, img, "x");
    ++total;
  };
  // JPEG: the segments after SOI, found by walking their lengths.
  for (const std::string* good : {&jpg420, &jpg444, &gray_jpg}) {
    std::vector<std::pair<uint8_t, size_t>> segments;  // marker, offset of its length
    for (size_t at = 2; at + 4 <= good->size() && static_cast<uint8_t>((*good)[at]) == 0xff;) {
      auto marker = static_cast<uint8_t>((*good)[at + 1]);
      segments.emplace_back(marker, at + 2);
      if (marker == 0xda) break;
      at += 2 + (static_cast<uint8_t>((*good)[at + 2]) << 8 | static_cast<uint8_t>((*good)[at + 3]));
    }
    for (int i = 0; i < 700; ++i) {
      std::string bad = *good;
      auto [marker, at] = segments[next(static_cast<uint32_t>(segments.size()))];
      size_t len = static_cast<uint8_t>(bad[at]) << 8 | static_cast<uint8_t>(bad[at + 1]);
      for (uint32_t m = 0, count = 1 + next(3); m < count; ++m) {
        size_t field;
        if (marker == 0xc4) field = at + 3 + next(16 + 12);       // the counts, then the first symbols
        else if (marker == 0xc0) field = at + 2 + next(static_cast<uint32_t>(len - 2));  // precision, size, components
        else field = at + next(static_cast<uint32_t>(len));  // any byte, the length too
        uint32_t kind = next(4);
        bad[field] = static_cast<char>(kind == 0 ? 0 : kind == 1 ? 0xff : kind == 2 ? bad[field] + 1 : next(256));
      }
      run(bad);
    }
  }
  // PNG: IHDR fields and IDAT bytes, CRCs fixed.
  const uint8_t depths[] = {0, 1, 2, 4, 8, 16, 3, 255}, colour_types[] = {0, 2, 3, 4, 6, 1, 7};
  for (const std::string* good : {&png, &gray_png})
    for (int i = 0; i < 600; ++i) {
      std::string bad = *good;
      switch (next(3)) {
        case 0:  // IHDR: width, height, depth, colour type, interlace
          bad[16 + 2 + next(2)] = static_cast<char>(next(256));
          bad[20 + 2 + next(2)] = static_cast<char>(next(256));
          if (next(2)) bad[20 + 2] = bad[16 + 2] = 0;
          bad[24] = static_cast<char>(depths[next(std::size(depths))]);
          bad[25] = static_cast<char>(colour_types[next(std::size(colour_types))]);
          bad[28] = static_cast<char>(next(3));
          break;
        case 1: {  // IDAT's zlib stream
          size_t idat = bad.find("IDAT");
          uint32_t len = test::read_be32(bad, idat - 4);
          for (uint32_t m = 0, count = 1 + next(3); m < count; ++m) bad[idat + 4 + next(len)] = static_cast<char>(next(256));
          break;
        }
        default:  // any bytes past the signature
          for (uint32_t m = 0, count = 1 + next(4); m < count; ++m) bad[8 + next(static_cast<uint32_t>(bad.size() - 8))] = static_cast<char>(next(256));
      }
      fix_png_crcs(bad);
      if (next(5) == 0) bad.resize(8 + next(static_cast<uint32_t>(bad.size() - 8)));
      run(bad);
    }
  // BMP: the file and info headers (and the V4 masks of the 32-bit file).
  for (const std::string* good : {&bmp, &bmp32})
    for (int i = 0; i < 600; ++i) {
      std::string bad = *good;
      size_t header = good == &bmp ? 54 : 14 + 56;
      for (uint32_t m = 0, count = 1 + next(3); m < count; ++m) {
        size_t field = 2 + next(static_cast<uint32_t>(header - 2));
        uint32_t kind = next(4);
        bad[field] = static_cast<char>(kind == 0 ? 0 : kind == 1 ? 0xff : kind == 2 ? bad[field] ^ (1 << next(8)) : next(256));
      }
      run(bad);
    }
  // PPM/PGM: header numbers and separators.
  const char* numbers[] = {"0", "1", "24", "65535", "65536", "99999999999999999999", "-1", "", "255", "256", "#c\n7"};
  for (int i = 0; i < 600; ++i) {
    std::string header = std::string(next(2) ? "P6" : "P5") + (next(4) ? "\n" : "") + numbers[next(std::size(numbers))] + " " +
                         numbers[next(std::size(numbers))] + (next(6) ? "\n" : "#x") + numbers[next(std::size(numbers))] + (next(6) ? "\n" : "");
    run(header + std::string(px.begin(), px.begin() + next(static_cast<uint32_t>(px.size()))));
  }
  EXPECT_GE(total, 5000);
  std::printf("%d targeted mutants: %d refused, the rest decoded\n", total, refused);
}

}  // namespace
}  // namespace mrt
