// Resize (opset 10 onwards): nearest, linear and cubic on any axis, every
// coordinate transformation, antialiasing; coordinates in float, like
// onnxruntime.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "host_kernels.h"

namespace mrt::onnx::detail {
namespace {

// ---- shape inference -------------------------------------------------------------------

Types infer_resize(const OpView& v) {
  ResizeSpec s = resolve_resize(v);
  v.check_dtype(0, s.mode == ResizeSpec::kNearest ? kDataTypes : kFloatTypes);
  return one(v.dtype(0), s.out);
}

// ---- host kernels ----------------------------------------------------------------------

int64_t nearest_index(ResizeSpec::Nearest mode, float x, float scale) {
  switch (mode) {
    case ResizeSpec::kRoundPreferFloor:
      return static_cast<int64_t>(x == std::floor(x) + 0.5f ? std::floor(x) : std::round(x));
    case ResizeSpec::kRoundPreferCeil:
      return static_cast<int64_t>(std::round(x));
    case ResizeSpec::kFloor:
      return static_cast<int64_t>(std::floor(x));
    case ResizeSpec::kCeil:
      return static_cast<int64_t>(std::ceil(x));
    case ResizeSpec::kLegacy:
      return static_cast<int64_t>(scale < 1 ? std::ceil(x) : x);
  }
  return 0;
}

// The interpolation kernels of the ONNX reference (onnx/reference/ops/
// op_resize.py) at distance d from the sampling point, in input pixels times
// the filter scale.
double linear_kernel(double d) { return std::max(0.0, 1.0 - std::abs(d)); }
double cubic_kernel(double d, double a) {
  d = std::abs(d);
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0;
}

// Where one output point of one axis reads from: `k` input indices (clamped
// to the axis, which is the reference's edge padding) and their weights.
struct AxisTaps {
  int64_t k = 0;
  std::vector<int64_t> index;  // olen * k
  std::vector<double> weight;  // olen * k
  std::vector<bool> outside;   // tf_crop_and_resize: the point lies outside the input
  bool identity = false;       // every output point is its own input point
};

AxisTaps interpolation_taps(const ResizeSpec& s, size_t a, int64_t len, int64_t olen) {
  AxisTaps t;
  const bool crop = s.coord == ResizeSpec::kTfCropAndResize;
  const bool cubic = s.mode == ResizeSpec::kCubic;
  // Antialiasing stretches the filter by 1/scale when downscaling, so every
  // input pixel under an output pixel contributes.
  const double fs = s.antialias ? std::min(1.0, static_cast<double>(s.scales[a])) : 1.0;
  const auto first = static_cast<int64_t>(std::floor((cubic ? -2.0 : -1.0) / fs) + 1);  // first tap, relative
  t.k = 2 - 2 * first;
  t.index.resize(static_cast<size_t>(olen * t.k));
  t.weight.resize(t.index.size());
  t.outside.assign(static_cast<size_t>(olen), false);
  t.identity = olen == len;
  for (int64_t o = 0; o < olen; ++o) {
    const auto u = static_cast<size_t>(o);
    const float x = resize_source_coord(s, a, len, static_cast<float>(o));
    if (crop && (x < 0 || x > static_cast<float>(len - 1))) t.outside[u] = true;
    int64_t* idx = &t.index[u * static_cast<size_t>(t.k)];
    double* w = &t.weight[u * static_cast<size_t>(t.k)];
    if (!cubic && !s.antialias) {
      // Plain linear: the two pixels around the clamped point (what the
      // reference's edge padding amounts to, exclude_outside or not).
      const float src = std::clamp(x, 0.0f, static_cast<float>(len - 1));
      idx[0] = std::min<int64_t>(static_cast<int64_t>(src), len - 1);
      idx[1] = std::min<int64_t>(idx[0] + 1, len - 1);
      w[1] = src - static_cast<float>(idx[0]);
      w[0] = 1 - w[1];
      t.identity = t.identity && idx[0] == o && w[1] == 0 && !t.outside[u];
      continue;
    }
    t.identity = false;
    // The reference takes the pixel left of x as the base, with the fraction
    // in (0, 1]: an integer x counts as 1 past the pixel before it.
    double ratio = static_cast<double>(x) - std::floor(static_cast<double>(x));
    if (ratio == 0) ratio = 1;
    const auto base = static_cast<int64_t>(std::llround(static_cast<double>(x) - ratio));
    double sum = 0;
    for (int64_t i = 0; i < t.k; ++i) {
      const double d = fs * (static_cast<double>(first + i) - ratio);
      double c = cubic ? cubic_kernel(d, s.cubic_a) : linear_kernel(d);
      const int64_t at = base + first + i;
      if (s.exclude_outside && (at < 0 || at >= len)) c = 0;
      idx[i] = std::clamp<int64_t>(at, 0, len - 1);
      w[i] = c;
      sum += c;
    }
    if ((s.antialias || s.exclude_outside) && sum != 0)
      for (int64_t i = 0; i < t.k; ++i) w[i] /= sum;
  }
  return t;
}

Outputs eval_resize(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const ResizeSpec s = resolve_resize(c.v);
  const Dims& in = x.dims();
  const size_t r = in.size();
  const bool crop = s.coord == ResizeSpec::kTfCropAndResize;
  HostTensor out = c.out();
  if (out.numel() == 0) return single(std::move(out));

  if (s.mode == ResizeSpec::kNearest) {
    std::vector<std::vector<int64_t>> maps(r);
    for (size_t a = 0; a < r; ++a) {
      const float hi = static_cast<float>(in[a] - 1);
      for (int64_t o = 0; o < s.out[a]; ++o) {
        const float src = resize_source_coord(s, a, in[a], static_cast<float>(o));
        if (crop && (src < 0 || src > hi)) {
          maps[a].push_back(-1);
          continue;
        }
        maps[a].push_back(std::clamp<int64_t>(nearest_index(s.nearest, src, s.scales[a]), 0, in[a] - 1));
      }
    }
    gather_by_maps(c.v, x, out, maps, scalar_of(x.dtype(), s.extrapolation));
    return single(std::move(out));
  }

  // Linear and cubic interpolation are separable: resize one axis at a time,
  // each output point a weighted sum of its axis taps.
  HostTensor cur = x;
  std::vector<std::vector<bool>> outside(r);
  dispatch_float(c.v, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (size_t a = 0; a < r; ++a) {
      const int64_t len = in[a], olen = s.out[a];
      const AxisTaps taps = interpolation_taps(s, a, len, olen);
      outside[a] = taps.outside;
      if (taps.identity) continue;
      std::vector<T> w(taps.weight.begin(), taps.weight.end());
      Dims nd = cur.dims();
      nd[a] = olen;
      HostTensor next(cur.dtype(), nd);
      int64_t outer = 1, inner = 1;
      for (size_t i = 0; i < r; ++i) {
        if (i < a) outer *= nd[i];
        if (i > a) inner *= nd[i];
      }
      const T* src = cur.data<T>();
      T* dst = next.data<T>();
      const auto k = static_cast<size_t>(taps.k);
      for (int64_t ob = 0; ob < outer; ++ob) {
        for (int64_t o = 0; o < olen; ++o) {
          const size_t at = static_cast<size_t>(o) * k;
          T* d = dst + (ob * olen + o) * inner;
          if (inner == 1) {  // the innermost axis: one element per point
            T acc = T(0);
            for (size_t i = 0; i < k; ++i) acc += w[at + i] * src[ob * len + taps.index[at + i]];
            *d = acc;
            continue;
          }
          std::fill(d, d + inner, T(0));
          for (size_t i = 0; i < k; ++i) {
            const T wi = w[at + i];
            const T* si = src + (ob * len + taps.index[at + i]) * inner;
            for (int64_t j = 0; j < inner; ++j) d[j] += wi * si[j];
          }
        }
      }
      cur = std::move(next);
    }
    if (crop) {  // tf_crop_and_resize: points outside the input take extrapolation_value
      const T e = static_cast<T>(s.extrapolation);
      const Dims& od = cur.dims();
      for (size_t a = 0; a < r; ++a) {
        int64_t outer = 1, inner = 1;
        for (size_t i = 0; i < r; ++i) {
          if (i < a) outer *= od[i];
          if (i > a) inner *= od[i];
        }
        for (int64_t ob = 0; ob < outer; ++ob) {
          for (int64_t o = 0; o < od[a]; ++o) {
            if (!outside[a][static_cast<size_t>(o)]) continue;
            T* d = cur.data<T>() + (ob * od[a] + o) * inner;
            std::fill(d, d + inner, e);
          }
        }
      }
    }
  });
  return single(std::move(cur));
}

}  // namespace

std::vector<OpDef> resize_ops() {
  return {
      {"Resize", {{10, {"X", "scales"}, 2}, {11, {"X", "roi", "scales", "sizes"}, 1}}, infer_resize, eval_resize},
  };
}

}  // namespace mrt::onnx::detail
