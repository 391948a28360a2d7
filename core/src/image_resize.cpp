// Pillow's BILINEAR resize, separable: per-output-pixel filter weights are
// computed once per axis, then a horizontal and a vertical pass whose inner
// loops are fixed-length blocks of contiguous floats the compiler
// vectorises (no intrinsics; lanes are summed only after a window is done).
#include "mrt/core/image_resize.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

namespace mrt {
namespace {

// Sizes beyond this are refused (positions stay exact in double, indices fit
// an int); shorter_side_crop of a 1 x 65535 image asks for 224 x 14.7M.
constexpr int kMaxSide = 1 << 24;
// Floats per block of the vertical pass (the horizontal pass's are 8 or 12):
// a multiple of every vector width, so the fixed trip count vectorises fully
// even at -O2 (GCC's "very cheap" cost model).
constexpr int kBlock = 8;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// ============================================================================
// Filter weights along one axis
// ============================================================================

// Output pixel i of the window reads `count[i]` inputs from `first[i]` with
// weights `weights[i * taps ...]`.
struct AxisFilter {
  int taps = 0;
  std::vector<int> first, count;
  std::vector<float> weights;
  // The inputs any output of the window reads: [lo, hi).
  int lo = 0, hi = 0;
};

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Pillow's precompute_coeffs (Resample.c) for the BILINEAR filter, support
// 1, for outputs [win0, win0 + win) of an in_size -> out_size resize: same
// centres, same rounding of the bounds, weights normalised in double.
AxisFilter axis_filter(int in_size, int out_size, int win0, int win) {
  AxisFilter f;
  double scale = static_cast<double>(in_size) / out_size;
  double filterscale = std::max(scale, 1.0);
  double support = 1.0 * filterscale;
  f.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  f.first.resize(win);
  f.count.resize(win);
  f.weights.assign(static_cast<size_t>(win) * f.taps, 0.0f);
  std::vector<double> w(f.taps);
  f.lo = in_size;
  f.hi = 0;
  for (int i = 0; i < win; ++i) {
    double center = (win0 + i + 0.5) * scale;
    // Truncation as Pillow's (int) cast; both bounds are then clamped.
    int xmin = std::max(0, static_cast<int>(center - support + 0.5));
    int xmax = std::min(in_size, static_cast<int>(center + support + 0.5));
    int n = std::clamp(xmax - xmin, 0, f.taps);
    double total = 0.0;
    for (int x = 0; x < n; ++x) total += w[x] = triangle((x + xmin - center + 0.5) / filterscale);
    for (int x = 0; x < n; ++x) f.weights[static_cast<size_t>(i) * f.taps + x] = static_cast<float>(total != 0.0 ? w[x] / total : w[x]);
    f.first[i] = xmin;
    f.count[i] = n;
    if (n > 0) {
      f.lo = std::min(f.lo, xmin);
      f.hi = std::max(f.hi, xmin + n);
    }
  }
  if (f.lo >= f.hi) f.lo = f.hi = 0;
  return f;
}

// Pillow's rounding: floor(x + 0.5), clamped to 0..255.
inline uint8_t to_u8(float x) { return static_cast<uint8_t>(std::clamp(static_cast<int>(x + 0.5f), 0, 255)); }

// ============================================================================
// The two passes (the hot loops)
// ============================================================================

// Horizontal pass over rows [y_lo, y_hi) of `src`, into `tmp` (one row per
// source row, `tmp_stride` bytes apart), rounded to 8 bits as Pillow's
// intermediate image is. Each row is converted to floats once; an output
// pixel's window, count x C contiguous floats, is multiplied by its weights
// repeated per channel, in blocks of B lanes (B a multiple of C, so lane j
// always holds channel j % C), and the lanes are summed per channel at the end.
template <int C>
void horizontal_pass(const ImageView& src, int y_lo, int y_hi, const AxisFilter& fx, uint8_t* tmp, size_t tmp_stride) {
  constexpr int B = C == 3 ? 12 : 8;
  const int out_w = static_cast<int>(fx.first.size());
  // Weights repeated per channel, zero past each window: span floats each.
  const size_t span = round_up(static_cast<size_t>(fx.taps) * C, B);
  std::vector<float> wexp(span * out_w, 0.0f);
  std::vector<int> blocks(out_w);
  for (int xx = 0; xx < out_w; ++xx) {
    for (int k = 0; k < fx.count[xx]; ++k)
      for (int ch = 0; ch < C; ++ch) wexp[xx * span + k * C + ch] = fx.weights[static_cast<size_t>(xx) * fx.taps + k];
    blocks[xx] = static_cast<int>(round_up(static_cast<size_t>(fx.count[xx]) * C, B) / B);
  }
  // The columns any output reads, as floats; B zeros after them, which the
  // last block of a window may read (with weight 0).
  const size_t width = static_cast<size_t>(fx.hi - fx.lo) * C;
  std::vector<float> row(width + B, 0.0f);
  for (int y = y_lo; y < y_hi; ++y) {
    const uint8_t* __restrict in = src.data + static_cast<size_t>(y) * src.width * C + static_cast<size_t>(fx.lo) * C;
    float* __restrict rf = row.data();
    // Whole blocks of 16 (a fixed trip count vectorises at -O2), then the rest.
    size_t i = 0;
    for (; i + 16 <= width; i += 16)
#pragma GCC unroll 16
      for (size_t j = 0; j < 16; ++j) rf[i + j] = in[i + j];
    for (; i < width; ++i) rf[i] = in[i];
    uint8_t* dst = tmp + static_cast<size_t>(y - y_lo) * tmp_stride;
    for (int xx = 0; xx < out_w; ++xx) {
      const float* __restrict w = wexp.data() + xx * span;
      const float* __restrict x = rf + static_cast<size_t>(fx.first[xx] - fx.lo) * C;
      float acc[B] = {};
      for (int b = 0; b < blocks[xx]; ++b)
#pragma GCC unroll 16
        for (int j = 0; j < B; ++j) acc[j] += w[b * B + j] * x[b * B + j];
      for (int ch = 0; ch < C; ++ch) {
        float sum = 0.0f;
        for (int j = ch; j < B; j += C) sum += acc[j];
        dst[static_cast<size_t>(xx) * C + ch] = to_u8(sum);
      }
    }
  }
}

// Vertical pass: output row yy is the weighted sum of whole rows of `tmp`
// (row 0 of tmp is source row y_lo), `stride` bytes each, a multiple of
// kBlock and zero-padded; `row_bytes` of each are written to `out`.
void vertical_pass(const uint8_t* tmp, size_t stride, int y_lo, const AxisFilter& fy, size_t row_bytes, uint8_t* out) {
  const int out_h = static_cast<int>(fy.first.size());
  for (int yy = 0; yy < out_h; ++yy) {
    const float* w = fy.weights.data() + static_cast<size_t>(yy) * fy.taps;
    const uint8_t* row0 = tmp + static_cast<size_t>(fy.first[yy] - y_lo) * stride;
    const int n = fy.count[yy];
    uint8_t* dst = out + static_cast<size_t>(yy) * row_bytes;
    for (size_t i = 0; i < stride; i += kBlock) {
      float acc[kBlock] = {};
      for (int k = 0; k < n; ++k) {
        const float wk = w[k];
        const uint8_t* __restrict row = row0 + k * stride + i;
#pragma GCC unroll 16
        for (int j = 0; j < kBlock; ++j) acc[j] += wk * static_cast<float>(row[j]);
      }
      uint8_t block[kBlock];
      for (int j = 0; j < kBlock; ++j) block[j] = to_u8(acc[j]);
      std::memcpy(dst + i, block, std::min<size_t>(kBlock, row_bytes - std::min(row_bytes, i)));
    }
  }
}

}  // namespace

// ============================================================================
// Entry point
// ============================================================================

Status resize_bilinear(const ImageView& src, const ResizeTarget& target, uint8_t* out) {
  const int c = src.channels;
  if (!src.data || !out) return invalid_argument("resize: no pixels");
  if (c < 1 || c > 4) return invalid_argument("resize: " + std::to_string(c) + " channels (1 to 4 are supported)");
  auto bad_side = [](int s) { return s < 1 || s > kMaxSide; };
  if (bad_side(src.width) || bad_side(src.height) || bad_side(target.width) || bad_side(target.height))
    return invalid_argument("resize: " + std::to_string(src.width) + "x" + std::to_string(src.height) + " to " +
                            std::to_string(target.width) + "x" + std::to_string(target.height) + " is out of range");
  const int cw = target.crop_width ? target.crop_width : target.width;
  const int chh = target.crop_height ? target.crop_height : target.height;
  if (target.crop_x < 0 || target.crop_y < 0 || cw < 1 || chh < 1 || target.crop_x > target.width - cw ||
      target.crop_y > target.height - chh)
    return invalid_argument("resize: the crop window is outside the " + std::to_string(target.width) + "x" +
                            std::to_string(target.height) + " target");

  const size_t row_bytes = static_cast<size_t>(cw) * c;
  const size_t src_stride = static_cast<size_t>(src.width) * c;
  // As Pillow, a pass whose size does not change is skipped: its weights
  // would be the identity anyway (each output is its own input, weight 1).
  const bool need_h = src.width != target.width, need_v = src.height != target.height;
  AxisFilter fy = need_v ? axis_filter(src.height, target.height, target.crop_y, chh) : AxisFilter{};
  const int y_lo = need_v ? fy.lo : target.crop_y, y_hi = need_v ? fy.hi : target.crop_y + chh;

  // The intermediate: source rows [y_lo, y_hi), horizontally resampled (or
  // only cropped), in rows padded to whole blocks for the vertical pass.
  const size_t stride = round_up(row_bytes, kBlock);
  std::vector<uint8_t> tmp(static_cast<size_t>(y_hi - y_lo) * stride, 0);
  if (need_h) {
    AxisFilter fx = axis_filter(src.width, target.width, target.crop_x, cw);
    switch (c) {
      case 1: horizontal_pass<1>(src, y_lo, y_hi, fx, tmp.data(), stride); break;
      case 2: horizontal_pass<2>(src, y_lo, y_hi, fx, tmp.data(), stride); break;
      case 3: horizontal_pass<3>(src, y_lo, y_hi, fx, tmp.data(), stride); break;
      default: horizontal_pass<4>(src, y_lo, y_hi, fx, tmp.data(), stride); break;
    }
  } else {
    for (int y = y_lo; y < y_hi; ++y)
      std::memcpy(tmp.data() + static_cast<size_t>(y - y_lo) * stride,
                  src.data + static_cast<size_t>(y) * src_stride + static_cast<size_t>(target.crop_x) * c, row_bytes);
  }
  if (need_v) {
    vertical_pass(tmp.data(), stride, y_lo, fy, row_bytes, out);
  } else {
    for (int y = 0; y < chh; ++y) std::memcpy(out + static_cast<size_t>(y) * row_bytes, tmp.data() + static_cast<size_t>(y) * stride, row_bytes);
  }
  return Status::ok();
}

}  // namespace mrt
