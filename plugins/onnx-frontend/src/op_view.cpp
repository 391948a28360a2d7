// The checked node view (OpView: the operator exists at the model's opset,
// its inputs and outputs fit the operator's signature, attributes are read
// kind-checked) and the resolution of opset-dependent parameters (Slice,
// Pad, Resize, Split, Reduce*, the convolution and pooling windows) into
// plain per-axis values, which shape inference, the host kernels and the
// backends share.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "op_def.h"

namespace mrt::onnx {
namespace detail {
namespace {

constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 28;
std::string ints_string(const std::vector<int64_t>& v) { return dims_string(v); }

// ceil(a / b) for b > 0, without the a + b - 1 that overflows near 2^63.
int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? a / b + (a % b != 0 ? 1 : 0) : -((-a) / b); }

}  // namespace

// ---- dtype sets ------------------------------------------------------------------

bool in_mask(DType t, DTypeMask mask) {
  int32_t v = static_cast<int32_t>(t);
  return v >= 0 && v < 32 && (mask & dt(t)) != 0;
}

std::string mask_names(DTypeMask mask) {
  std::string s;
  for (int32_t v = 1; v < 32; ++v) {
    if (!(mask & (DTypeMask{1} << v)) || dtype_size(static_cast<DType>(v)) == 0) continue;
    if (!s.empty()) s += ", ";
    s += dtype_name(static_cast<DType>(v));
  }
  return s;
}

int64_t ssize(const Dims& d) { return static_cast<int64_t>(d.size()); }

// ---- OpView --------------------------------------------------------------------------

OpView::OpView(const OpContext& ctx) : node(ctx.node), opset(ctx.opset), ctx_(ctx) {
  const bool default_domain = node.domain.empty() || node.domain == "ai.onnx";
  bool exists = false;
  int64_t since = 0;
  const Signature* sig = default_domain ? find_signature(node.op_type, opset, &exists, &since) : nullptr;
  if (!exists) throw OnnxError("unsupported " + node.describe(opset).replace(0, 3, "operator "));
  if (opset < kMinOpset || opset > kMaxOpset) {
    fail("opset " + std::to_string(opset) + " is not supported (opsets " + std::to_string(kMinOpset) + " to " +
         std::to_string(kMaxOpset) + " are)");
  }
  if (!sig) fail("'" + node.op_type + "' does not exist before opset " + std::to_string(since));
  for (const char* n : sig->inputs) names_.emplace_back(n);
  variadic_ = sig->variadic;

  const size_t n = node.inputs.size();
  if (ctx.input_types.size() != n || ctx.input_values.size() != n) {
    fail("the context has " + std::to_string(ctx.input_types.size()) + " input types and " +
         std::to_string(ctx.input_values.size()) + " input values for " + std::to_string(n) + " node inputs");
  }
  if (!variadic_ && n > names_.size()) {
    fail("has " + std::to_string(n) + " inputs, at most " + std::to_string(names_.size()) + " expected");
  }
  for (size_t i = 0; i < sig->required; ++i) {
    if (i >= n || node.inputs[i].empty()) fail("input " + input_name(i) + " is required");
  }
  for (size_t i = 0; i < n; ++i) {
    if (node.inputs[i].empty()) continue;
    const ValueType* t = ctx.input_types[i];
    if (!t) fail("input " + input_name(i) + " ('" + node.inputs[i] + "') has no type");
    for (int64_t d : t->dims) {
      if (d < 0) {
        fail("input " + input_name(i) + " ('" + node.inputs[i] + "') has dims " + dims_string(t->dims) +
             ": shape inference needs concrete dims");
      }
    }
  }
  if (node.outputs.empty()) fail("has no outputs");
  if (node.outputs.size() > sig->max_outputs) {
    fail("has " + std::to_string(node.outputs.size()) + " outputs, at most " + std::to_string(sig->max_outputs) +
         " expected");
  }
}

void OpView::fail(const std::string& what) const { throw OnnxError(node.describe(opset) + ": " + what); }

bool OpView::has(size_t i) const { return i < node.inputs.size() && !node.inputs[i].empty(); }

const ValueType& OpView::type(size_t i) const {
  if (!has(i)) fail("input " + input_name(i) + " is required");
  return *ctx_.input_types[i];
}

const HostTensor* OpView::value(size_t i) const { return has(i) ? ctx_.input_values[i] : nullptr; }

const HostTensor& OpView::constant(size_t i) const {
  if (!has(i)) fail("input " + input_name(i) + " is required");
  const HostTensor* t = ctx_.input_values[i];
  if (!t) fail("input " + input_name(i) + " must be a constant");
  return *t;
}

std::vector<int64_t> OpView::const_ints(size_t i) const {
  const HostTensor& t = constant(i);
  if (!in_mask(t.dtype(), kIndexTypes)) {
    fail("input " + input_name(i) + " must be int64 or int32, not " + dtype_name(t.dtype()));
  }
  return t.to_int64();
}

std::vector<float> OpView::const_floats(size_t i) const {
  const HostTensor& t = constant(i);
  if (!in_mask(t.dtype(), kFloatTypes)) {
    fail("input " + input_name(i) + " must be float32 or float64, not " + dtype_name(t.dtype()));
  }
  std::vector<double> d = t.to_double();
  return std::vector<float>(d.begin(), d.end());
}

std::string OpView::input_name(size_t i) const {
  if (variadic_ && !names_.empty() && i + 1 >= names_.size()) {
    return "'" + names_.back() + "[" + std::to_string(i + 1 - names_.size()) + "]'";
  }
  if (i < names_.size()) return "'" + names_[i] + "'";
  return "#" + std::to_string(i);
}

void OpView::check_dtype(size_t i, DTypeMask allowed) const {
  DType t = dtype(i);
  if (!in_mask(t, allowed)) {
    fail("dtype " + dtype_name(t) + " is not supported (input " + input_name(i) +
         "; supported: " + mask_names(allowed) + ")");
  }
}

void OpView::check_same_dtype(size_t i, size_t j) const {
  if (dtype(i) != dtype(j)) {
    fail("inputs " + input_name(i) + " and " + input_name(j) + " must have the same dtype, not " +
         dtype_name(dtype(i)) + " and " + dtype_name(dtype(j)));
  }
}

int64_t OpView::normalize_axis(int64_t axis, int64_t rank, const std::string& what) const {
  if (axis < -rank || axis >= rank) {
    fail(what + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  return axis < 0 ? axis + rank : axis;
}

void OpView::check_kind(const char* a, Attribute::Kind kind) const {
  auto it = node.attrs.find(a);
  if (it != node.attrs.end() && it->second.kind != kind) {
    fail("attribute '" + std::string(a) + "' must be " + attribute_kind_name(kind) + ", not " +
         attribute_kind_name(it->second.kind));
  }
}

int64_t OpView::attr_int(const char* a, int64_t fallback) const {
  check_kind(a, Attribute::kInt);
  return node.attr_int(a, fallback);
}

float OpView::attr_float(const char* a, float fallback) const {
  check_kind(a, Attribute::kFloat);
  return node.attr_float(a, fallback);
}

std::string OpView::attr_string(const char* a, const std::string& fallback) const {
  check_kind(a, Attribute::kString);
  return node.attr_string(a, fallback);
}

std::vector<int64_t> OpView::attr_ints(const char* a, std::vector<int64_t> fallback) const {
  check_kind(a, Attribute::kInts);
  return node.attr_ints(a, std::move(fallback));
}

std::vector<float> OpView::attr_floats(const char* a, std::vector<float> fallback) const {
  check_kind(a, Attribute::kFloats);
  return node.attr_floats(a, std::move(fallback));
}

const Attribute* OpView::attr(const char* a) const {
  auto it = node.attrs.find(a);
  return it == node.attrs.end() ? nullptr : &it->second;
}

// ---- shared helpers ------------------------------------------------------------------

Dims broadcast_shapes(const OpView& v, const std::vector<const Dims*>& shapes) {
  size_t rank = 0;
  for (const Dims* s : shapes) rank = std::max(rank, s->size());
  Dims out(rank, 1);
  bool ok = true;
  for (const Dims* s : shapes) {
    size_t off = rank - s->size();
    for (size_t i = 0; i < s->size(); ++i) {
      int64_t d = (*s)[i];
      int64_t& o = out[off + i];
      if (d == o || d == 1) continue;
      if (o == 1) {
        o = d;
      } else {
        ok = false;
      }
    }
  }
  if (!ok) {
    std::string list;
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (i) list += (i + 1 == shapes.size()) ? " and " : ", ";
      list += dims_string(*shapes[i]);
    }
    v.fail("inputs " + list + " cannot be broadcast");
  }
  return out;
}

HostTensor scalar_of(DType dtype, double value) {
  HostTensor t(dtype, {});
  auto to_int = [&]() -> int64_t {
    if (std::isnan(value)) return 0;
    if (value >= 9223372036854775807.0) return std::numeric_limits<int64_t>::max();
    if (value <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
    return static_cast<int64_t>(value);
  };
  switch (dtype) {
    case DType::kFloat:
      *t.data<float>() = static_cast<float>(value);
      break;
    case DType::kDouble:
      *t.data<double>() = value;
      break;
    case DType::kInt64:
      *t.data<int64_t>() = to_int();
      break;
    case DType::kInt32:
      *t.data<int32_t>() = static_cast<int32_t>(to_int());
      break;
    case DType::kInt16:
      *t.data<int16_t>() = static_cast<int16_t>(to_int());
      break;
    case DType::kInt8:
      *t.data<int8_t>() = static_cast<int8_t>(to_int());
      break;
    case DType::kUint64:  // through int64, like the rest: the value came from a float attribute
      *t.data<uint64_t>() = static_cast<uint64_t>(to_int());
      break;
    case DType::kUint32:
      *t.data<uint32_t>() = static_cast<uint32_t>(to_int());
      break;
    case DType::kUint16:
      *t.data<uint16_t>() = static_cast<uint16_t>(to_int());
      break;
    case DType::kUint8:
      *t.data<uint8_t>() = static_cast<uint8_t>(to_int());
      break;
    case DType::kBool:
      *t.data<uint8_t>() = value != 0 ? 1 : 0;
      break;
    default:
      throw OnnxError("cannot make a " + dtype_name(dtype) + " scalar");
  }
  return t;
}

// ---- Slice ---------------------------------------------------------------------------

SliceSpec resolve_slice(const OpView& v) {
  const Dims& in = v.dims(0);
  const int64_t r = ssize(in);
  std::vector<int64_t> starts, ends, axes, steps;
  bool has_axes = false;
  if (v.opset < 10) {
    if (!v.has_attr("starts") || !v.has_attr("ends")) v.fail("attributes 'starts' and 'ends' are required");
    starts = v.attr_ints("starts");
    ends = v.attr_ints("ends");
    has_axes = v.has_attr("axes");
    axes = v.attr_ints("axes");
  } else {
    starts = v.const_ints(1);
    ends = v.const_ints(2);
    has_axes = v.has(3);
    if (has_axes) axes = v.const_ints(3);
    if (v.has(4)) {
      steps = v.const_ints(4);
      if (steps.size() != starts.size()) {
        v.fail("'steps' has " + std::to_string(steps.size()) + " values for " + std::to_string(starts.size()) +
               " starts");
      }
    }
  }
  if (starts.size() != ends.size()) {
    v.fail("'starts' has " + std::to_string(starts.size()) + " values and 'ends' " + std::to_string(ends.size()));
  }
  if (!has_axes) {
    axes.resize(starts.size());
    std::iota(axes.begin(), axes.end(), int64_t{0});
  } else if (axes.size() != starts.size()) {
    v.fail("'axes' has " + std::to_string(axes.size()) + " values for " + std::to_string(starts.size()) + " starts");
  }
  if (steps.empty()) steps.assign(starts.size(), 1);

  SliceSpec s;
  s.out = in;
  s.starts.assign(static_cast<size_t>(r), 0);
  s.steps.assign(static_cast<size_t>(r), 1);
  std::vector<bool> seen(static_cast<size_t>(r), false);
  for (size_t k = 0; k < starts.size(); ++k) {
    const int64_t a = v.normalize_axis(axes[k], r, "slice axis");
    const auto ua = static_cast<size_t>(a);
    if (seen[ua]) v.fail("axis " + std::to_string(a) + " is sliced twice");
    seen[ua] = true;
    const int64_t dim = in[ua];
    int64_t step = steps[k];
    if (step == 0) v.fail("'steps' must not be 0");
    if (step == std::numeric_limits<int64_t>::min()) step = -std::numeric_limits<int64_t>::max();
    int64_t b = starts[k], e = ends[k];
    if (b < 0) b += dim;  // cannot overflow: b < 0 <= dim
    if (e < 0) e += dim;
    int64_t count = 0;
    if (step > 0) {
      b = std::clamp<int64_t>(b, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      count = e > b ? (e - b - 1) / step + 1 : 0;
    } else if (dim > 0) {
      b = std::clamp<int64_t>(b, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      count = b > e ? (b - e - 1) / -step + 1 : 0;
    } else {
      b = 0;
    }
    s.starts[ua] = count > 0 ? b : 0;
    s.steps[ua] = step;
    s.out[ua] = count;
  }
  return s;
}

// ---- Pad -----------------------------------------------------------------------------

PadSpec resolve_pad(const OpView& v) {
  const Dims& in = v.dims(0);
  const int64_t r = ssize(in);
  PadSpec p;
  const std::string mode = v.attr_string("mode", "constant");
  if (mode == "constant") {
    p.mode = PadSpec::kConstant;
  } else if (mode == "reflect") {
    p.mode = PadSpec::kReflect;
  } else if (mode == "edge") {
    p.mode = PadSpec::kEdge;
  } else if (mode == "wrap" && v.opset >= 19) {
    p.mode = PadSpec::kWrap;
  } else {
    v.fail("mode '" + mode + "' is not supported (constant, reflect, edge" + (v.opset >= 19 ? ", wrap)" : ")"));
  }

  std::vector<int64_t> pads, axes;
  if (v.opset < 11) {
    if (!v.has_attr("pads")) v.fail("attribute 'pads' is required");
    pads = v.attr_ints("pads");
    p.value = scalar_of(v.dtype(0), v.attr_float("value", 0.0f));
  } else {
    pads = v.const_ints(1);
    if (v.has(2)) {
      v.check_same_dtype(0, 2);
      const HostTensor& cv = v.constant(2);
      if (cv.numel() > 1) v.fail("input 'constant_value' must be a scalar, not " + dims_string(cv.dims()));
      p.value = HostTensor(v.dtype(0), {});
      if (cv.numel() == 1) std::memcpy(p.value.raw(), cv.raw(), cv.bytes());
    } else {
      p.value = HostTensor(v.dtype(0), {});
    }
    if (v.has(3)) axes = v.const_ints(3);
  }
  if (axes.empty()) {
    axes.resize(static_cast<size_t>(r));
    std::iota(axes.begin(), axes.end(), int64_t{0});
  }
  if (pads.size() != 2 * axes.size()) {
    v.fail("'pads' has " + std::to_string(pads.size()) + " values; " + std::to_string(2 * axes.size()) +
           " expected for " + std::to_string(axes.size()) + " axes");
  }
  p.begin.assign(static_cast<size_t>(r), 0);
  p.end.assign(static_cast<size_t>(r), 0);
  std::vector<bool> seen(static_cast<size_t>(r), false);
  for (size_t k = 0; k < axes.size(); ++k) {
    const auto a = static_cast<size_t>(v.normalize_axis(axes[k], r, "pad axis"));
    if (seen[a]) v.fail("axis " + std::to_string(a) + " is padded twice");
    seen[a] = true;
    p.begin[a] = pads[k];
    p.end[a] = pads[k + axes.size()];
  }
  p.out = in;
  for (size_t a = 0; a < in.size(); ++a) {
    const int64_t b = p.begin[a], e = p.end[a];
    const int64_t lim = std::numeric_limits<int64_t>::max() / 4;
    if (b > lim || e > lim || b < -lim || e < -lim) v.fail("pads " + ints_string(pads) + " are out of range");
    p.out[a] = in[a] + b + e;
    if (p.out[a] < 0) {
      v.fail("pads " + ints_string(pads) + " crop axis " + std::to_string(a) + " of size " + std::to_string(in[a]) +
             " below zero");
    }
    if (p.mode != PadSpec::kConstant && in[a] == 0 && p.out[a] > 0) {
      v.fail("cannot pad the empty axis " + std::to_string(a) + " in mode '" + mode + "'");
    }
  }
  return p;
}

// ---- Resize --------------------------------------------------------------------------

ResizeSpec resolve_resize(const OpView& v) {
  const Dims& in = v.dims(0);
  const int64_t r = ssize(in);
  ResizeSpec s;
  const std::string mode = v.attr_string("mode", "nearest");
  if (mode == "linear") {
    s.mode = ResizeSpec::kLinear;
  } else if (mode == "cubic" && v.opset >= 11) {
    s.mode = ResizeSpec::kCubic;
  } else if (mode != "nearest") {
    v.fail("mode '" + mode + "' is not supported at this opset (nearest and linear" + (v.opset >= 11 ? ", cubic" : "") +
           " are)");
  }
  s.scales.assign(static_cast<size_t>(r), 1.0f);
  s.out = in;
  for (int64_t d : in) s.lengths.push_back(static_cast<float>(d));

  if (v.opset < 11) {  // Resize-10: scales only, asymmetric, floor/ceil nearest
    s.coord = ResizeSpec::kAsymmetric;
    s.nearest = ResizeSpec::kLegacy;
    std::vector<float> sc = v.const_floats(1);
    if (static_cast<int64_t>(sc.size()) != r) {
      v.fail("'scales' has " + std::to_string(sc.size()) + " values for rank " + std::to_string(r));
    }
    for (size_t a = 0; a < sc.size(); ++a) {
      if (!(sc[a] > 0)) v.fail("scales must be positive, got " + std::to_string(sc[a]));
      s.scales[a] = sc[a];
      s.lengths[a] = sc[a] * static_cast<float>(in[a]);
      s.out[a] = static_cast<int64_t>(s.lengths[a]);
    }
    return s;
  }

  const std::string coord = v.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord == "half_pixel") {
    s.coord = ResizeSpec::kHalfPixel;
  } else if (coord == "asymmetric") {
    s.coord = ResizeSpec::kAsymmetric;
  } else if (coord == "align_corners") {
    s.coord = ResizeSpec::kAlignCorners;
  } else if (coord == "pytorch_half_pixel") {
    s.coord = ResizeSpec::kPytorchHalfPixel;
  } else if (coord == "tf_crop_and_resize") {
    s.coord = ResizeSpec::kTfCropAndResize;
  } else if (coord == "tf_half_pixel_for_nn" && v.opset < 13) {
    s.coord = ResizeSpec::kTfHalfPixelForNN;
  } else if (coord == "half_pixel_symmetric" && v.opset >= 19) {
    s.coord = ResizeSpec::kHalfPixelSymmetric;
  } else {
    v.fail("coordinate_transformation_mode '" + coord + "' is not supported at this opset");
  }
  if (s.mode == ResizeSpec::kNearest) {
    const std::string nm = v.attr_string("nearest_mode", "round_prefer_floor");
    if (nm == "round_prefer_floor") {
      s.nearest = ResizeSpec::kRoundPreferFloor;
    } else if (nm == "round_prefer_ceil") {
      s.nearest = ResizeSpec::kRoundPreferCeil;
    } else if (nm == "floor") {
      s.nearest = ResizeSpec::kFloor;
    } else if (nm == "ceil") {
      s.nearest = ResizeSpec::kCeil;
    } else {
      v.fail("nearest_mode '" + nm + "' is not supported");
    }
  }
  s.extrapolation = v.attr_float("extrapolation_value", 0.0f);
  s.cubic_a = v.attr_float("cubic_coeff_a", -0.75f);
  s.exclude_outside = v.attr_int("exclude_outside", 0) != 0;
  // antialias only changes linear and cubic (the spec leaves nearest as is).
  s.antialias = v.opset >= 18 && v.attr_int("antialias", 0) != 0 && s.mode != ResizeSpec::kNearest;

  std::vector<int64_t> axes;
  if (v.opset >= 18 && v.has_attr("axes")) {
    std::vector<bool> seen(static_cast<size_t>(r), false);
    for (int64_t a : v.attr_ints("axes")) {
      a = v.normalize_axis(a, r, "resize axis");
      if (seen[static_cast<size_t>(a)]) v.fail("axis " + std::to_string(a) + " is listed twice in 'axes'");
      seen[static_cast<size_t>(a)] = true;
      axes.push_back(a);
    }
  } else {
    axes.resize(static_cast<size_t>(r));
    std::iota(axes.begin(), axes.end(), int64_t{0});
  }
  std::string policy = v.opset >= 18 ? v.attr_string("keep_aspect_ratio_policy", "stretch") : "stretch";
  if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller") {
    v.fail("keep_aspect_ratio_policy '" + policy + "' is not supported");
  }

  // The empty-input conventions: an omitted input, or one whose value is an
  // empty tensor, is absent (opset 11 requires 'scales' even with 'sizes').
  auto given = [&](size_t i) { return v.has(i) && element_count(v.dims(i)) > 0; };
  const bool has_scales = given(2), has_sizes = given(3);
  if (has_scales == has_sizes) v.fail("exactly one of 'scales' and 'sizes' must be given");
  const size_t n = axes.size();
  if (has_scales) {
    std::vector<float> sc = v.const_floats(2);
    if (sc.size() != n) {
      v.fail("'scales' has " + std::to_string(sc.size()) + " values for " + std::to_string(n) + " axes");
    }
    for (size_t k = 0; k < n; ++k) {
      if (!(sc[k] > 0)) v.fail("scales must be positive, got " + std::to_string(sc[k]));
      const auto a = static_cast<size_t>(axes[k]);
      s.scales[a] = sc[k];
      s.lengths[a] = sc[k] * static_cast<float>(in[a]);
      s.out[a] = static_cast<int64_t>(s.lengths[a]);
    }
  } else {
    v.check_dtype(3, dt(DType::kInt64));
    std::vector<int64_t> sz = v.const_ints(3);
    if (sz.size() != n)
      v.fail("'sizes' has " + std::to_string(sz.size()) + " values for " + std::to_string(n) + " axes");
    for (size_t k = 0; k < n; ++k) {
      const auto a = static_cast<size_t>(axes[k]);
      if (sz[k] < 0) v.fail("'sizes' must not be negative: " + ints_string(sz));
      if (in[a] == 0 && sz[k] != 0) v.fail("cannot resize the empty axis " + std::to_string(a) + " to a non-zero size");
      s.out[a] = sz[k];
      s.lengths[a] = static_cast<float>(sz[k]);
      s.scales[a] = in[a] == 0 ? 1.0f : static_cast<float>(sz[k]) / static_cast<float>(in[a]);
    }
    if (policy != "stretch") {
      float scale = policy == "not_larger" ? std::numeric_limits<float>::max() : 0.0f;
      for (int64_t a : axes) {
        float sa = s.scales[static_cast<size_t>(a)];
        scale = policy == "not_larger" ? std::min(scale, sa) : std::max(scale, sa);
      }
      for (int64_t a : axes) {
        const auto ua = static_cast<size_t>(a);
        s.scales[ua] = scale;
        s.out[ua] = static_cast<int64_t>(std::round(scale * static_cast<float>(in[ua])));
        s.lengths[ua] = scale * static_cast<float>(in[ua]);
      }
    }
  }

  if (s.coord == ResizeSpec::kTfCropAndResize) {
    if (!given(1)) v.fail("coordinate_transformation_mode 'tf_crop_and_resize' needs input 'roi'");
    std::vector<float> roi = v.const_floats(1);
    if (roi.size() != 2 * n) {
      v.fail("'roi' has " + std::to_string(roi.size()) + " values; " + std::to_string(2 * n) + " expected");
    }
    s.roi_start.assign(static_cast<size_t>(r), 0.0f);
    s.roi_end.assign(static_cast<size_t>(r), 1.0f);
    for (size_t k = 0; k < n; ++k) {
      s.roi_start[static_cast<size_t>(axes[k])] = roi[k];
      s.roi_end[static_cast<size_t>(axes[k])] = roi[n + k];
    }
  }
  return s;
}

float resize_source_coord(const ResizeSpec& s, size_t axis, int64_t in_len, float x) {
  const float scale = s.scales[axis];
  const float out_len = s.lengths[axis];
  const auto len = static_cast<float>(in_len);
  switch (s.coord) {
    case ResizeSpec::kAsymmetric:
      return x / scale;
    case ResizeSpec::kHalfPixel:
      return (x + 0.5f) / scale - 0.5f;
    case ResizeSpec::kPytorchHalfPixel:
      return out_len > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case ResizeSpec::kTfHalfPixelForNN:
      return (x + 0.5f) / scale;
    case ResizeSpec::kAlignCorners:
      return out_len == 1 ? 0.0f : x * (len - 1) / (out_len - 1);
    case ResizeSpec::kTfCropAndResize: {
      const float b = s.roi_start[axis], e = s.roi_end[axis];
      return out_len > 1 ? b * (len - 1) + x * (e - b) * (len - 1) / (out_len - 1) : 0.5f * (b + e) * (len - 1);
    }
    case ResizeSpec::kHalfPixelSymmetric: {
      const float adjustment = static_cast<float>(s.out[axis]) / out_len;
      const float offset = len / 2 * (1 - adjustment);
      return offset + (x + 0.5f) / scale - 0.5f;
    }
  }
  return x / scale;
}

// ---- Split ---------------------------------------------------------------------------

SplitSpec resolve_split(const OpView& v) {
  const Dims& in = v.dims(0);
  SplitSpec s;
  s.axis = v.normalize_axis(v.attr_int("axis", 0), ssize(in));
  const int64_t dim = in[static_cast<size_t>(s.axis)];
  const auto outputs = static_cast<int64_t>(v.num_outputs());
  std::vector<int64_t> split;
  bool has_split = false;
  if (v.opset < 13) {
    has_split = v.has_attr("split");
    split = v.attr_ints("split");
  } else if (v.has(1)) {
    split = v.const_ints(1);
    has_split = !split.empty();
  }
  if (has_split) {
    if (ssize(split) != outputs) {
      v.fail("'split' has " + std::to_string(split.size()) + " sizes for " + std::to_string(outputs) + " outputs");
    }
    int64_t total = 0;
    for (int64_t x : split) {
      if (x < 0) v.fail("'split' sizes must not be negative: " + ints_string(split));
      total += x;
    }
    if (total != dim) {
      v.fail("'split' sizes " + ints_string(split) + " do not add up to " + std::to_string(dim) + " (axis " +
             std::to_string(s.axis) + ")");
    }
    s.sizes = split;
  } else if (v.opset >= 18 && v.has_attr("num_outputs")) {
    const int64_t n = v.attr_int("num_outputs", 0);
    if (n != outputs) {
      v.fail("num_outputs is " + std::to_string(n) + " but the node has " + std::to_string(outputs) + " outputs");
    }
    const int64_t chunk = ceil_div(dim, n);
    for (int64_t i = 0; i < n; ++i) s.sizes.push_back(std::clamp<int64_t>(dim - i * chunk, 0, chunk));
  } else {
    if (dim % outputs != 0) {
      v.fail("axis " + std::to_string(s.axis) + " of size " + std::to_string(dim) + " cannot be split evenly into " +
             std::to_string(outputs) + " outputs");
    }
    s.sizes.assign(static_cast<size_t>(outputs), dim / outputs);
  }
  return s;
}

// ---- Reduce* -------------------------------------------------------------------------

ReduceSpec resolve_reduce(const OpView& v) {
  const Dims& in = v.dims(0);
  const int64_t r = ssize(in);
  ReduceSpec s;
  s.keepdims = v.attr_int("keepdims", 1) != 0;
  const bool noop = v.attr_int("noop_with_empty_axes", 0) != 0;
  const int64_t input_from = v.op() == "ReduceSum" ? 13 : 18;
  std::vector<int64_t> axes;
  if (v.opset >= input_from && v.has(1)) {
    axes = v.const_ints(1);
  } else {
    axes = v.attr_ints("axes");
  }
  s.reduced.assign(static_cast<size_t>(r), axes.empty() && !noop);
  for (int64_t a : axes) {
    a = v.normalize_axis(a, r, "reduce axis");
    if (s.reduced[static_cast<size_t>(a)]) v.fail("axis " + std::to_string(a) + " is listed twice in 'axes'");
    s.reduced[static_cast<size_t>(a)] = true;
  }
  for (size_t a = 0; a < in.size(); ++a) {
    s.kept.push_back(s.reduced[a] ? 1 : in[a]);
    if (!s.reduced[a] || s.keepdims) s.out.push_back(s.reduced[a] ? 1 : in[a]);
  }
  return s;
}

// ---- windows -------------------------------------------------------------------------

namespace {

// Window sizes, strides, dilations, pads and ConvTranspose output shapes
// above this are refused: no tensor axis is that long, and below it the
// window arithmetic cannot overflow int64 ((k - 1) * dilation,
// (out - 1) * stride, stride * (in - 1)).
constexpr int64_t kMaxWindowValue = int64_t{1} << 31;

std::vector<int64_t> window_attr(const OpView& v, const char* name, size_t n, int64_t fallback, int64_t min) {
  std::vector<int64_t> x = v.attr_ints(name, std::vector<int64_t>(n, fallback));
  if (x.size() != n) {
    v.fail("attribute '" + std::string(name) + "' has " + std::to_string(x.size()) + " values; " + std::to_string(n) +
           " expected");
  }
  for (int64_t e : x) {
    if (e < min || e > kMaxWindowValue)
      v.fail("attribute '" + std::string(name) + "' " + ints_string(x) + " is out of range");
  }
  return x;
}

// Output size and pads of a sliding window on each spatial axis.
void resolve_window(const OpView& v, const Dims& in, WindowSpec& w, bool ceil_mode) {
  const size_t n = w.kernel.size();
  w.strides = window_attr(v, "strides", n, 1, 1);
  w.dilations = window_attr(v, "dilations", n, 1, 1);
  std::vector<int64_t> pads = window_attr(v, "pads", 2 * n, 0, 0);
  const std::string auto_pad = v.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER") {
    v.fail("auto_pad '" + auto_pad + "' is not supported");
  }
  w.pads_begin.assign(n, 0);
  w.pads_end.assign(n, 0);
  w.out.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = in[i + 2], s = w.strides[i];
    if (x > kMaxWindowValue)
      v.fail("spatial axis " + std::to_string(i) + " of " + dims_string(in) + " is longer than 2^31");
    const int64_t ek = (w.kernel[i] - 1) * w.dilations[i] + 1;
    if (ek > kMaxWindowValue)
      v.fail("the dilated window on spatial axis " + std::to_string(i) + " is longer than 2^31");
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      w.out[i] = ceil_div(x, s);
      const int64_t total = std::max<int64_t>(0, (w.out[i] - 1) * s + ek - x);
      const int64_t small = total / 2;
      w.pads_begin[i] = auto_pad == "SAME_UPPER" ? small : total - small;
      w.pads_end[i] = total - w.pads_begin[i];
      continue;
    }
    if (auto_pad == "NOTSET") {
      w.pads_begin[i] = pads[i];
      w.pads_end[i] = pads[i + n];
    }
    const int64_t span = x + w.pads_begin[i] + w.pads_end[i] - ek;
    if (span < 0) {
      v.fail("the window " + std::to_string(ek) + " (kernel " + std::to_string(w.kernel[i]) + ", dilation " +
             std::to_string(w.dilations[i]) + ") is larger than the padded input " +
             std::to_string(x + w.pads_begin[i] + w.pads_end[i]) + " on spatial axis " + std::to_string(i));
    }
    w.out[i] = span / s + 1;
    if (ceil_mode && auto_pad == "NOTSET") {
      w.out[i] = ceil_div(span, s) + 1;
      // A last window that would start in the end padding is dropped (PyTorch, onnxruntime).
      if ((w.out[i] - 1) * s >= x + w.pads_begin[i]) --w.out[i];
    }
  }
}

}  // namespace

WindowSpec resolve_conv(const OpView& v) {
  const Dims& x = v.dims(0);
  const Dims& wd = v.dims(1);
  if (x.size() < 3) v.fail("input 'X' must have rank 3 or more, not " + dims_string(x));
  if (wd.size() != x.size())
    v.fail("input 'W' " + dims_string(wd) + " does not match the rank of 'X' " + dims_string(x));
  WindowSpec w;
  w.kernel.assign(wd.begin() + 2, wd.end());
  if (v.has_attr("kernel_shape") && v.attr_ints("kernel_shape") != w.kernel) {
    v.fail("kernel_shape " + ints_string(v.attr_ints("kernel_shape")) + " does not match the weights " +
           dims_string(wd));
  }
  for (int64_t k : w.kernel) {
    if (k < 1) v.fail("the weights " + dims_string(wd) + " have an empty kernel");
  }
  w.group = v.attr_int("group", 1);
  if (w.group < 1) v.fail("group must be positive, not " + std::to_string(w.group));
  if (w.group > x[1] || x[1] != wd[1] * w.group) {
    v.fail("input channels " + std::to_string(x[1]) + " do not match the weights " + dims_string(wd) + " with group " +
           std::to_string(w.group));
  }
  if (wd[0] % w.group != 0) {
    v.fail("output channels " + std::to_string(wd[0]) + " are not divisible by group " + std::to_string(w.group));
  }
  resolve_window(v, x, w, false);
  return w;
}

WindowSpec resolve_pool(const OpView& v) {
  const Dims& x = v.dims(0);
  if (x.size() < 3) v.fail("input 'X' must have rank 3 or more, not " + dims_string(x));
  if (!v.has_attr("kernel_shape")) v.fail("attribute 'kernel_shape' is required");
  WindowSpec w;
  w.kernel = v.attr_ints("kernel_shape");
  if (w.kernel.size() != x.size() - 2) {
    v.fail("kernel_shape " + ints_string(w.kernel) + " does not match the input " + dims_string(x));
  }
  for (int64_t k : w.kernel) {
    if (k < 1 || k > kMaxWindowValue) v.fail("kernel_shape " + ints_string(w.kernel) + " is out of range");
  }
  resolve_window(v, x, w, v.attr_int("ceil_mode", 0) != 0);
  // The kernel is an attribute, free of any weights the file must carry: a
  // huge one with SAME padding (found by fuzz_onnx_models: 2^31 wide)
  // makes every output scan a vast window of padding, and a request run
  // for hours. Refuse pools over 2^34 window steps; the largest real ones
  // are far below (8 x 256 x 512 x 512 outputs x 3 x 3 is 2^32.2).
  double steps = static_cast<double>(x[0]) * static_cast<double>(x[1]);
  for (size_t i = 0; i < w.kernel.size(); ++i)
    steps *= static_cast<double>(w.out[i]) * static_cast<double>(w.kernel[i]);
  if (steps > 17179869184.0) {
    v.fail("kernel_shape " + ints_string(w.kernel) + " over the input " + dims_string(x) + " needs about 2^" +
           std::to_string(static_cast<long long>(std::log2(steps))) + " window steps, more than the 2^34 allowed");
  }
  return w;
}

WindowSpec resolve_conv_transpose(const OpView& v) {
  const Dims& x = v.dims(0);
  const Dims& wd = v.dims(1);
  if (x.size() < 3) v.fail("input 'X' must have rank 3 or more, not " + dims_string(x));
  if (wd.size() != x.size())
    v.fail("input 'W' " + dims_string(wd) + " does not match the rank of 'X' " + dims_string(x));
  WindowSpec w;
  const size_t n = x.size() - 2;
  w.kernel.assign(wd.begin() + 2, wd.end());
  if (v.has_attr("kernel_shape") && v.attr_ints("kernel_shape") != w.kernel) {
    v.fail("kernel_shape " + ints_string(v.attr_ints("kernel_shape")) + " does not match the weights " +
           dims_string(wd));
  }
  for (int64_t k : w.kernel) {
    if (k < 1) v.fail("the weights " + dims_string(wd) + " have an empty kernel");
  }
  w.group = v.attr_int("group", 1);
  if (w.group < 1) v.fail("group must be positive, not " + std::to_string(w.group));
  if (x[1] != wd[0]) {
    v.fail("input channels " + std::to_string(x[1]) + " do not match the weights " + dims_string(wd));
  }
  if (w.group > std::max<int64_t>(wd[0], 1) || wd[0] % w.group != 0) {
    v.fail("input channels " + std::to_string(wd[0]) + " are not divisible by group " + std::to_string(w.group));
  }
  w.strides = window_attr(v, "strides", n, 1, 1);
  w.dilations = window_attr(v, "dilations", n, 1, 1);
  w.output_padding = window_attr(v, "output_padding", n, 0, 0);
  std::vector<int64_t> pads = window_attr(v, "pads", 2 * n, 0, 0);
  const std::string auto_pad = v.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER") {
    v.fail("auto_pad '" + auto_pad + "' is not supported");
  }
  std::vector<int64_t> output_shape = v.attr_ints("output_shape");
  if (!output_shape.empty()) {
    if (output_shape.size() == n + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
    if (output_shape.size() != n) {
      v.fail("output_shape " + ints_string(v.attr_ints("output_shape")) + " does not match the input " +
             dims_string(x));
    }
    for (int64_t o : output_shape)
      if (o < 1 || o > kMaxWindowValue)
        v.fail("output_shape " + ints_string(v.attr_ints("output_shape")) + " is out of range");
  }
  w.pads_begin.assign(n, 0);
  w.pads_end.assign(n, 0);
  w.out.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = x[i + 2], s = w.strides[i];
    if (in > kMaxWindowValue)
      v.fail("spatial axis " + std::to_string(i) + " of " + dims_string(x) + " is longer than 2^31");
    const int64_t ek = (w.kernel[i] - 1) * w.dilations[i] + 1;
    if (ek > kMaxWindowValue)
      v.fail("the dilated window on spatial axis " + std::to_string(i) + " is longer than 2^31");
    const int64_t full = s * (in - 1) + w.output_padding[i] + ek;  // output with no padding
    if (!output_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t target = !output_shape.empty() ? output_shape[i] : in * s;
      // May be negative when output_shape exceeds the full output: the
      // ONNX reference then splits it with floor division, leaving a
      // negative end pad (extra output rows that only receive the bias).
      const int64_t total = full - target;
      const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);  // floor(total / 2)
      if (auto_pad == "SAME_UPPER") {
        w.pads_begin[i] = half;
        w.pads_end[i] = total - half;
      } else {
        w.pads_begin[i] = total - half;
        w.pads_end[i] = half;
      }
      w.out[i] = target;
    } else {
      if (auto_pad == "NOTSET") {
        w.pads_begin[i] = pads[i];
        w.pads_end[i] = pads[i + n];
      }
      w.out[i] = full - w.pads_begin[i] - w.pads_end[i];
    }
    if (w.out[i] < 1) v.fail("the output would be empty on spatial axis " + std::to_string(i));
  }
  return w;
}

}  // namespace detail

}  // namespace mrt::onnx
