// What a node means: the operator table (which operators exist from which
// opset, with which inputs), the checked node view, the resolution of
// opset-dependent operator parameters (shared with the reference kernels),
// and shape/dtype inference for every supported operator on concrete input
// dims, following each operator's semantics at the model's opset.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "ops_util.h"

namespace mrt::onnx {
namespace detail {
namespace {

constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 28;
constexpr size_t kManyOutputs = std::numeric_limits<size_t>::max();

// One signature of an operator, valid from opset `from` until the next
// entry of the same operator.
struct Signature {
  const char* op;
  int64_t from;
  std::vector<const char*> inputs;
  size_t required;
  bool variadic = false;  // the last input repeats
  size_t max_outputs = 1;
};

const std::vector<Signature>& table() {
  static const std::vector<Signature> t = {
      {"Abs", 1, {"X"}, 1},
      {"Add", 1, {"A", "B"}, 2},
      {"And", 1, {"A", "B"}, 2},
      {"ArgMax", 1, {"data"}, 1},
      {"ArgMin", 1, {"data"}, 1},
      {"AveragePool", 1, {"X"}, 1},
      {"BatchNormalization", 1, {"X", "scale", "B", "input_mean", "input_var"}, 5, false, 5},
      {"Cast", 1, {"input"}, 1},
      {"Ceil", 1, {"X"}, 1},
      {"Celu", 12, {"X"}, 1},
      {"Clip", 1, {"input"}, 1},
      {"Clip", 11, {"input", "min", "max"}, 1},
      {"Concat", 1, {"inputs"}, 1, true},
      {"Constant", 1, {}, 0},
      {"ConstantOfShape", 9, {"input"}, 1},
      {"Conv", 1, {"X", "W", "B"}, 2},
      {"ConvTranspose", 1, {"X", "W", "B"}, 2},
      {"Cos", 7, {"input"}, 1},
      {"Div", 1, {"A", "B"}, 2},
      {"Dropout", 7, {"data"}, 1, false, 2},
      {"Dropout", 12, {"data", "ratio", "training_mode"}, 1, false, 2},
      {"Elu", 6, {"X"}, 1},
      {"Equal", 1, {"A", "B"}, 2},
      {"Erf", 9, {"input"}, 1},
      {"Exp", 1, {"input"}, 1},
      {"Expand", 8, {"input", "shape"}, 2},
      {"Flatten", 1, {"input"}, 1},
      {"Floor", 1, {"X"}, 1},
      {"Gather", 1, {"data", "indices"}, 2},
      {"GatherElements", 11, {"data", "indices"}, 2},
      {"Gelu", 20, {"X"}, 1},
      {"Gemm", 1, {"A", "B", "C"}, 2},
      {"GlobalAveragePool", 1, {"X"}, 1},
      {"GlobalMaxPool", 1, {"X"}, 1},
      {"Greater", 1, {"A", "B"}, 2},
      {"GreaterOrEqual", 12, {"A", "B"}, 2},
      {"HardSigmoid", 1, {"X"}, 1},
      {"HardSwish", 14, {"X"}, 1},
      {"Identity", 1, {"input"}, 1},
      {"InstanceNormalization", 6, {"input", "scale", "B"}, 3},
      {"IsInf", 10, {"X"}, 1},
      {"IsNaN", 9, {"X"}, 1},
      {"LayerNormalization", 17, {"X", "Scale", "B"}, 2, false, 3},
      {"LeakyRelu", 1, {"X"}, 1},
      {"Less", 1, {"A", "B"}, 2},
      {"LessOrEqual", 12, {"A", "B"}, 2},
      {"Log", 1, {"input"}, 1},
      {"LogSoftmax", 1, {"input"}, 1},
      {"MatMul", 1, {"A", "B"}, 2},
      {"Max", 1, {"data"}, 1, true},
      {"MaxPool", 1, {"X"}, 1, false, 2},
      {"Min", 1, {"data"}, 1, true},
      {"Mish", 18, {"X"}, 1},
      {"Mod", 10, {"A", "B"}, 2},
      {"Mul", 1, {"A", "B"}, 2},
      {"Neg", 1, {"X"}, 1},
      {"Not", 1, {"X"}, 1},
      {"Or", 1, {"A", "B"}, 2},
      {"Pad", 1, {"data"}, 1},
      {"Pad", 11, {"data", "pads", "constant_value"}, 2},
      {"Pad", 18, {"data", "pads", "constant_value", "axes"}, 2},
      {"PRelu", 7, {"X", "slope"}, 2},
      {"Pow", 1, {"X", "Y"}, 2},
      {"Range", 11, {"start", "limit", "delta"}, 3},
      {"Reciprocal", 1, {"X"}, 1},
      {"ReduceL1", 1, {"data"}, 1},
      {"ReduceL1", 18, {"data", "axes"}, 1},
      {"ReduceL2", 1, {"data"}, 1},
      {"ReduceL2", 18, {"data", "axes"}, 1},
      {"ReduceLogSum", 1, {"data"}, 1},
      {"ReduceLogSum", 18, {"data", "axes"}, 1},
      {"ReduceLogSumExp", 1, {"data"}, 1},
      {"ReduceLogSumExp", 18, {"data", "axes"}, 1},
      {"ReduceMax", 1, {"data"}, 1},
      {"ReduceMax", 18, {"data", "axes"}, 1},
      {"ReduceMean", 1, {"data"}, 1},
      {"ReduceMean", 18, {"data", "axes"}, 1},
      {"ReduceMin", 1, {"data"}, 1},
      {"ReduceMin", 18, {"data", "axes"}, 1},
      {"ReduceProd", 1, {"data"}, 1},
      {"ReduceProd", 18, {"data", "axes"}, 1},
      {"ReduceSum", 1, {"data"}, 1},
      {"ReduceSum", 13, {"data", "axes"}, 1},
      {"ReduceSumSquare", 1, {"data"}, 1},
      {"ReduceSumSquare", 18, {"data", "axes"}, 1},
      {"Relu", 1, {"X"}, 1},
      {"Reshape", 5, {"data", "shape"}, 2},
      {"Resize", 10, {"X", "scales"}, 2},
      {"Resize", 11, {"X", "roi", "scales", "sizes"}, 1},
      {"Round", 11, {"X"}, 1},
      {"ScatterND", 11, {"data", "indices", "updates"}, 3},
      {"Selu", 6, {"X"}, 1},
      {"Shape", 1, {"data"}, 1},
      {"Sigmoid", 1, {"X"}, 1},
      {"Sign", 9, {"input"}, 1},
      {"Sin", 7, {"input"}, 1},
      {"Slice", 1, {"data"}, 1},
      {"Slice", 10, {"data", "starts", "ends", "axes", "steps"}, 3},
      {"Softmax", 1, {"input"}, 1},
      {"Softplus", 1, {"X"}, 1},
      {"Softsign", 1, {"input"}, 1},
      {"Split", 1, {"input"}, 1, false, kManyOutputs},
      {"Split", 13, {"input", "split"}, 1, false, kManyOutputs},
      {"Sqrt", 1, {"X"}, 1},
      {"Squeeze", 1, {"data"}, 1},
      {"Squeeze", 13, {"data", "axes"}, 1},
      {"Sub", 1, {"A", "B"}, 2},
      {"Sum", 1, {"data"}, 1, true},
      {"Tanh", 1, {"input"}, 1},
      {"ThresholdedRelu", 10, {"X"}, 1},
      {"Tile", 6, {"input", "repeats"}, 2},
      {"Transpose", 1, {"data"}, 1},
      {"Unsqueeze", 1, {"data"}, 1},
      {"Unsqueeze", 13, {"data", "axes"}, 2},
      {"Where", 9, {"condition", "X", "Y"}, 3},
  };
  return t;
}

// The signature of `op` at `opset`; nullptr with *exists set when the op is
// known but only from a later opset.
const Signature* find_signature(const std::string& op, int64_t opset, bool* exists, int64_t* since) {
  const Signature* best = nullptr;
  *exists = false;
  *since = std::numeric_limits<int64_t>::max();
  for (const Signature& s : table()) {
    if (op != s.op) continue;
    *exists = true;
    *since = std::min(*since, s.from);
    if (s.from <= opset && (!best || s.from > best->from)) best = &s;
  }
  return best;
}

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

// ---- the public table ------------------------------------------------------------------

const std::vector<std::string>& supported_ops() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v;
    for (const auto& s : detail::table()) {
      if (v.empty() || v.back() != s.op) v.emplace_back(s.op);
    }
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  }();
  return ops;
}

bool is_supported_op(const std::string& op_type) {
  const auto& ops = supported_ops();
  return std::binary_search(ops.begin(), ops.end(), op_type);
}

// ==== shape inference ====================================================================

namespace detail {
namespace {

using Types = std::vector<ValueType>;
using InferFn = Types (*)(const OpView&);

Types one(DType t, Dims d) { return {ValueType{t, std::move(d)}}; }

std::string str(int64_t x) { return std::to_string(x); }

// ---- elementwise ---------------------------------------------------------------------

template <DTypeMask kAllowed>
Types same_as_input(const OpView& v) {
  v.check_dtype(0, kAllowed);
  return one(v.dtype(0), v.dims(0));
}

Types infer_leaky_relu(const OpView& v) {
  v.attr_float("alpha", 0.01f);
  return same_as_input<kFloatTypes>(v);
}

Types infer_hard_sigmoid(const OpView& v) {
  v.attr_float("alpha", 0.2f);
  v.attr_float("beta", 0.5f);
  return same_as_input<kFloatTypes>(v);
}

// The activations whose parameters are attributes: read (and so type-checked) here.
Types infer_float_activation(const OpView& v) {
  const std::string& op = v.op();
  if (op == "Elu" || op == "Celu" || op == "ThresholdedRelu") v.attr_float("alpha", 1.0f);
  if (op == "Celu" && v.attr_float("alpha", 1.0f) == 0) v.fail("alpha must not be 0");
  if (op == "Selu") v.attr_float("alpha", 1.67326f), v.attr_float("gamma", 1.0507f);
  return same_as_input<kFloatTypes>(v);
}

// PRelu: the slope broadcasts to X (unidirectionally: X's shape is kept).
Types infer_prelu(const OpView& v) {
  v.check_dtype(0, kNumericTypes);
  v.check_same_dtype(0, 1);
  Dims out = broadcast_shapes(v, {&v.dims(0), &v.dims(1)});
  if (out != v.dims(0))
    v.fail("slope " + dims_string(v.dims(1)) + " does not broadcast to X " + dims_string(v.dims(0)));
  return one(v.dtype(0), out);
}

// Dropout at inference: the data passes through; the optional mask is all
// true (bool from opset 10, the data's type before). Training is refused.
Types infer_dropout(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  if (v.opset >= 12 && v.has(2)) {
    v.check_dtype(2, dt(DType::kBool));
    const HostTensor* t = v.value(2);
    if (!t) v.fail("input 'training_mode' must be a constant (inference only)");
    if (t->numel() != 1) v.fail("input 'training_mode' must be a scalar");
    if (t->data<uint8_t>()[0] != 0) v.fail("training_mode=true is not supported (inference only)");
  }
  Types out = one(v.dtype(0), v.dims(0));
  if (v.num_outputs() > 1) out.push_back({v.opset >= 10 ? DType::kBool : v.dtype(0), v.dims(0)});
  return out;
}

Types infer_instance_norm(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  v.check_same_dtype(0, 1);
  v.check_same_dtype(0, 2);
  const Dims& x = v.dims(0);
  if (x.size() < 3) v.fail("input 'input' must have rank 3 or more, not " + dims_string(x));
  for (size_t i = 1; i <= 2; ++i)
    if (v.dims(i) != Dims{x[1]})
      v.fail("input " + v.input_name(i) + " must have shape [" + std::to_string(x[1]) + "], not " +
             dims_string(v.dims(i)));
  v.attr_float("epsilon", 1e-5f);
  return one(v.dtype(0), x);
}

Types infer_arg_reduce(const OpView& v) {
  v.check_dtype(0, kNumericTypes);
  Dims out = v.dims(0);
  if (out.empty()) v.fail("input 'data' must have rank 1 or more");
  const auto axis = static_cast<size_t>(v.normalize_axis(v.attr_int("axis", 0), ssize(out)));
  if (v.dims(0)[axis] == 0) v.fail("cannot take the arg max/min of an empty axis");
  if (v.attr_int("keepdims", 1) != 0)
    out[axis] = 1;
  else
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(axis));
  if (v.opset >= 12) v.attr_int("select_last_index", 0);
  return one(DType::kInt64, out);
}

Types infer_gelu(const OpView& v) {
  const std::string a = v.attr_string("approximate", "none");
  if (a != "none" && a != "tanh") v.fail("approximate '" + a + "' is not supported (none, tanh)");
  return same_as_input<kFloatTypes>(v);
}

Types infer_clip(const OpView& v) {
  if (v.opset < 11) {
    v.attr_float("min", 0.0f);
    v.attr_float("max", 0.0f);
    return same_as_input<kFloatTypes>(v);
  }
  v.check_dtype(0, kNumericTypes);
  for (size_t i = 1; i < 3; ++i) {
    if (!v.has(i)) continue;
    v.check_same_dtype(0, i);
    if (element_count(v.dims(i)) != 1)
      v.fail("input " + v.input_name(i) + " must be a scalar, not " + dims_string(v.dims(i)));
  }
  return one(v.dtype(0), v.dims(0));
}

Types infer_softmax(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  v.normalize_axis(v.attr_int("axis", v.opset < 13 ? 1 : -1), v.rank(0));
  return one(v.dtype(0), v.dims(0));
}

Types infer_cast(const OpView& v) {
  if (!v.has_attr("to")) v.fail("attribute 'to' is required");
  const auto to = static_cast<DType>(v.attr_int("to", 0));
  v.check_dtype(0, kCastTypes);
  if (!in_mask(to, kCastTypes)) {
    v.fail("dtype " + dtype_name(to) + " is not supported as the target ('to'; supported: " + mask_names(kCastTypes) +
           ")");
  }
  return one(to, v.dims(0));
}

// Binary and variadic broadcasting operators: every input of `kAllowed`
// and of one dtype; the output is `out` (or the inputs' dtype).
template <DTypeMask kAllowed>
Types broadcast_op(const OpView& v, DType out) {
  std::vector<const Dims*> shapes;
  for (size_t i = 0; i < v.num_inputs(); ++i) {
    v.check_dtype(i, kAllowed);
    v.check_same_dtype(0, i);
    shapes.push_back(&v.dims(i));
  }
  return one(out == DType::kUndefined ? v.dtype(0) : out, broadcast_shapes(v, shapes));
}

Types infer_arith(const OpView& v) { return broadcast_op<kNumericTypes>(v, DType::kUndefined); }
Types infer_logic(const OpView& v) { return broadcast_op<dt(DType::kBool)>(v, DType::kBool); }
Types infer_less(const OpView& v) { return broadcast_op<kNumericTypes>(v, DType::kBool); }
Types infer_equal(const OpView& v) { return broadcast_op<kNumericTypes | dt(DType::kBool)>(v, DType::kBool); }

// Mod: fmod 0 is the floored remainder (the sign of B, Python's %), fmod 1
// the truncated one (the sign of A, C's fmod). Floats take fmod 0 only from
// opset 28; before, the spec requires fmod 1 for them.
Types infer_mod(const OpView& v) {
  const int64_t fmod = v.attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) v.fail("attribute 'fmod' must be 0 or 1, not " + str(fmod));
  Types t = broadcast_op<kNumericTypes>(v, DType::kUndefined);
  if (fmod == 0 && v.opset < 28 && in_mask(v.dtype(0), kFloatTypes)) {
    v.fail("attribute 'fmod' must be 1 for " + dtype_name(v.dtype(0)) + " inputs before opset 28");
  }
  return t;
}

Types infer_is_nan(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  return one(DType::kBool, v.dims(0));
}

Types infer_is_inf(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  v.attr_int("detect_negative", 1);  // kind checks
  v.attr_int("detect_positive", 1);
  return one(DType::kBool, v.dims(0));
}

Types infer_pow(const OpView& v) {
  v.check_dtype(0, kNumericTypes);
  v.check_dtype(1, kNumericTypes);
  return one(v.dtype(0), broadcast_shapes(v, {&v.dims(0), &v.dims(1)}));
}

Types infer_where(const OpView& v) {
  v.check_dtype(0, dt(DType::kBool));
  v.check_dtype(1, kDataTypes);
  v.check_same_dtype(1, 2);
  return one(v.dtype(1), broadcast_shapes(v, {&v.dims(0), &v.dims(1), &v.dims(2)}));
}

Types infer_expand(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  Dims shape = v.const_ints(1);
  if (v.constant(1).rank() != 1) v.fail("input 'shape' must be 1-D, not " + dims_string(v.constant(1).dims()));
  for (int64_t d : shape) {
    if (d < 0) v.fail("input 'shape' " + dims_string(shape) + " has a negative dimension");
  }
  return one(v.dtype(0), broadcast_shapes(v, {&v.dims(0), &shape}));
}

// ---- linear algebra and normalisation ------------------------------------------------

Types infer_matmul(const OpView& v) {
  v.check_dtype(0, kMatMulTypes);
  v.check_same_dtype(0, 1);
  Dims a = v.dims(0), b = v.dims(1);
  if (a.empty() || b.empty())
    v.fail("MatMul needs inputs of rank 1 or more, not " + dims_string(a) + " and " + dims_string(b));
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), k2 = b[b.size() - 2], n = b.back();
  if (k != k2) {
    v.fail("inner dimensions do not match: " + dims_string(v.dims(0)) + " x " + dims_string(v.dims(1)));
  }
  Dims ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  Dims out = broadcast_shapes(v, {&ba, &bb});
  if (!a_vec) out.push_back(m);
  if (!b_vec) out.push_back(n);
  return one(v.dtype(0), out);
}

Types infer_gemm(const OpView& v) {
  v.check_dtype(0, kMatMulTypes);
  v.check_same_dtype(0, 1);
  const Dims& a = v.dims(0);
  const Dims& b = v.dims(1);
  if (a.size() != 2 || b.size() != 2)
    v.fail("inputs 'A' and 'B' must be 2-D, not " + dims_string(a) + " and " + dims_string(b));
  v.attr_float("alpha", 1.0f);
  v.attr_float("beta", 1.0f);
  const bool ta = v.attr_int("transA", 0) != 0, tb = v.attr_int("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  const int64_t k2 = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != k2) {
    v.fail("inner dimensions do not match: A " + dims_string(a) + (ta ? " (transposed)" : "") + ", B " +
           dims_string(b) + (tb ? " (transposed)" : ""));
  }
  if (v.has(2)) {
    v.check_same_dtype(0, 2);
    const Dims& c = v.dims(2);
    const Dims mn = {m, n};
    bool ok = c.size() <= 2;
    for (size_t i = 0; ok && i < c.size(); ++i) {
      const int64_t want = mn[2 - c.size() + i];
      ok = c[i] == want || c[i] == 1;
    }
    if (!ok) v.fail("input 'C' " + dims_string(c) + " cannot be broadcast to " + dims_string(mn));
  }
  return one(v.dtype(0), {m, n});
}

Types infer_batch_norm(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  const Dims& x = v.dims(0);
  if (x.size() < 2) v.fail("input 'X' must have rank 2 or more, not " + dims_string(x));
  if (v.opset < 9 && v.attr_int("spatial", 1) == 0) v.fail("spatial=0 is not supported");
  if (v.opset >= 14 && v.attr_int("training_mode", 0) != 0) v.fail("training_mode=1 is not supported (inference only)");
  for (size_t i = 1; i < v.num_outputs(); ++i) {
    if (v.output_used(i)) v.fail("the training outputs (running mean, variance...) are not supported (inference only)");
  }
  v.attr_float("epsilon", 1e-5f);
  for (size_t i = 1; i < 5; ++i) {
    v.check_dtype(i, kFloatTypes);
    if (v.dims(i) != Dims{x[1]}) {
      v.fail("input " + v.input_name(i) + " must be [" + str(x[1]) + "] (the channels), not " + dims_string(v.dims(i)));
    }
  }
  Types out(v.num_outputs());
  out[0] = {v.dtype(0), x};
  return out;
}

Types infer_layer_norm(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  const Dims& x = v.dims(0);
  const int64_t axis = v.normalize_axis(v.attr_int("axis", -1), v.rank(0));
  v.attr_float("epsilon", 1e-5f);
  const int64_t stash = v.attr_int("stash_type", 1);
  if (stash != 1 && stash != 11) v.fail("stash_type " + str(stash) + " is not supported (1, 11)");
  const Dims normalized(x.begin() + axis, x.end());
  for (size_t i = 1; i < 3; ++i) {
    if (!v.has(i)) continue;
    v.check_same_dtype(0, i);
    const Dims& s = v.dims(i);
    bool ok = s.size() <= normalized.size();
    for (size_t j = 0; ok && j < s.size(); ++j) {
      const int64_t want = normalized[normalized.size() - s.size() + j];
      ok = s[j] == want || s[j] == 1;
    }
    if (!ok)
      v.fail("input " + v.input_name(i) + " " + dims_string(s) + " cannot be broadcast to the normalized shape " +
             dims_string(normalized));
  }
  Types out(v.num_outputs());
  out[0] = {v.dtype(0), x};
  Dims stat(x.begin(), x.begin() + axis);
  stat.resize(x.size(), 1);
  for (size_t i = 1; i < out.size(); ++i) out[i] = {static_cast<DType>(stash), stat};
  return out;
}

// ---- convolution and pooling --------------------------------------------------------

Types infer_conv(const OpView& v) {
  for (size_t i = 0; i < v.num_inputs(); ++i) {
    if (v.has(i)) v.check_dtype(i, dt(DType::kFloat));
  }
  WindowSpec w = resolve_conv(v);
  const Dims& x = v.dims(0);
  const int64_t m = v.dims(1)[0];
  if (v.has(2) && v.dims(2) != Dims{m}) v.fail("input 'B' must be [" + str(m) + "], not " + dims_string(v.dims(2)));
  Dims out = {x[0], m};
  out.insert(out.end(), w.out.begin(), w.out.end());
  return one(DType::kFloat, out);
}

Types infer_conv_transpose(const OpView& v) {
  for (size_t i = 0; i < v.num_inputs(); ++i) {
    if (v.has(i)) v.check_dtype(i, dt(DType::kFloat));
  }
  WindowSpec w = resolve_conv_transpose(v);
  const Dims& x = v.dims(0);
  const int64_t m = v.dims(1)[1] * w.group;
  if (v.has(2) && v.dims(2) != Dims{m}) v.fail("input 'B' must be [" + str(m) + "], not " + dims_string(v.dims(2)));
  Dims out = {x[0], m};
  out.insert(out.end(), w.out.begin(), w.out.end());
  return one(DType::kFloat, out);
}

Types infer_pool(const OpView& v) {
  v.check_dtype(0, dt(DType::kFloat));
  if (v.op() == "MaxPool") {
    if (v.output_used(1)) v.fail("the 'Indices' output is not supported");
    v.attr_int("storage_order", 0);
  } else {
    v.attr_int("count_include_pad", 0);
  }
  WindowSpec w = resolve_pool(v);
  const Dims& x = v.dims(0);
  Dims out = {x[0], x[1]};
  out.insert(out.end(), w.out.begin(), w.out.end());
  Types t(v.num_outputs());
  t[0] = {DType::kFloat, out};
  return t;
}

Types infer_global_pool(const OpView& v) {
  v.check_dtype(0, dt(DType::kFloat));
  const Dims& x = v.dims(0);
  if (x.size() < 3) v.fail("input 'X' must have rank 3 or more, not " + dims_string(x));
  Dims out(x.size(), 1);
  out[0] = x[0];
  out[1] = x[1];
  return one(DType::kFloat, out);
}

// ---- reductions ----------------------------------------------------------------------

Types infer_reduce(const OpView& v) {
  const std::string& op = v.op();
  const bool min_max = op == "ReduceMax" || op == "ReduceMin";
  v.check_dtype(0, op == "ReduceL2" || op == "ReduceLogSum" || op == "ReduceLogSumExp" ? kFloatTypes
                   : min_max && v.opset >= 20 ? kNumericTypes | dt(DType::kBool)
                                              : kNumericTypes);
  return one(v.dtype(0), resolve_reduce(v).out);
}

// ---- data movement -------------------------------------------------------------------

Types infer_concat(const OpView& v) {
  if (!v.has_attr("axis")) v.fail("attribute 'axis' is required");
  const Dims& first = v.dims(0);
  if (first.empty()) v.fail("cannot concatenate scalars");
  const int64_t axis = v.normalize_axis(v.attr_int("axis", 0), ssize(first));
  Dims out = first;
  out[static_cast<size_t>(axis)] = 0;
  for (size_t i = 0; i < v.num_inputs(); ++i) {
    v.check_dtype(i, kDataTypes);
    v.check_same_dtype(0, i);
    const Dims& d = v.dims(i);
    bool ok = d.size() == first.size();
    for (size_t j = 0; ok && j < d.size(); ++j) ok = static_cast<int64_t>(j) == axis || d[j] == first[j];
    if (!ok) {
      v.fail("input " + v.input_name(i) + " " + dims_string(d) + " does not match " + dims_string(first) +
             " outside axis " + str(axis));
    }
    if (d[static_cast<size_t>(axis)] > std::numeric_limits<int64_t>::max() - out[static_cast<size_t>(axis)])
      v.fail("the concatenated axis " + str(axis) + " is too long");
    out[static_cast<size_t>(axis)] += d[static_cast<size_t>(axis)];
  }
  return one(v.dtype(0), out);
}

Types infer_flatten(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  const int64_t r = ssize(x);
  int64_t axis = v.attr_int("axis", 1);
  if (axis < -r || axis > r) v.fail("axis " + str(axis) + " is out of range for rank " + str(r));
  if (axis < 0) axis += r;
  const Dims outer(x.begin(), x.begin() + axis), inner(x.begin() + axis, x.end());
  return one(v.dtype(0), {element_count(outer), element_count(inner)});
}

Types infer_reshape(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  Dims shape = v.const_ints(1);
  if (v.constant(1).rank() != 1) v.fail("input 'shape' must be 1-D, not " + dims_string(v.constant(1).dims()));
  const bool allowzero = v.opset >= 14 && v.attr_int("allowzero", 0) != 0;
  int64_t infer_at = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t& d = shape[i];
    if (d == 0 && !allowzero) {
      if (i >= x.size())
        v.fail("shape " + dims_string(v.const_ints(1)) + " copies dim " + str(static_cast<int64_t>(i)) +
               " that the input " + dims_string(x) + " lacks");
      d = x[i];
    }
    if (d == -1) {
      if (infer_at >= 0) v.fail("shape " + dims_string(v.const_ints(1)) + " has more than one -1");
      infer_at = static_cast<int64_t>(i);
    } else if (d < 0) {
      v.fail("shape " + dims_string(v.const_ints(1)) + " has an invalid dimension " + str(d));
    } else {
      known = d == 0 ? 0 : (known > std::numeric_limits<int64_t>::max() / d ? -1 : known * d);
      if (known < 0) v.fail("shape " + dims_string(v.const_ints(1)) + " is too large");
    }
  }
  const int64_t total = element_count(x);
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0) {
      v.fail("cannot reshape " + dims_string(x) + " to " + dims_string(v.const_ints(1)) +
             ": the -1 cannot be inferred");
    }
    shape[static_cast<size_t>(infer_at)] = total / known;
  } else if (known != total) {
    v.fail("cannot reshape " + dims_string(x) + " (" + str(total) + " elements) to " + dims_string(shape) + " (" +
           str(known) + " elements)");
  }
  return one(v.dtype(0), shape);
}

Types infer_transpose(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  std::vector<int64_t> perm(x.size());
  std::iota(perm.rbegin(), perm.rend(), int64_t{0});
  perm = v.attr_ints("perm", perm);
  if (perm.size() != x.size()) v.fail("perm " + dims_string(perm) + " does not match the rank of " + dims_string(x));
  std::vector<bool> seen(x.size(), false);
  Dims out;
  for (int64_t p : perm) {
    if (p < 0 || p >= ssize(x) || seen[static_cast<size_t>(p)])
      v.fail("perm " + dims_string(perm) + " is not a permutation");
    seen[static_cast<size_t>(p)] = true;
    out.push_back(x[static_cast<size_t>(p)]);
  }
  return one(v.dtype(0), out);
}

std::vector<int64_t> axes_operand(const OpView& v, bool required) {
  if (v.opset < 13) {
    if (required && !v.has_attr("axes")) v.fail("attribute 'axes' is required");
    return v.attr_ints("axes");
  }
  if (!v.has(1)) return {};
  return v.const_ints(1);
}

Types infer_squeeze(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  std::vector<int64_t> axes = axes_operand(v, false);
  std::vector<bool> drop(x.size(), false);
  if (axes.empty()) {
    for (size_t i = 0; i < x.size(); ++i) drop[i] = x[i] == 1;
  }
  for (int64_t a : axes) {
    const auto ua = static_cast<size_t>(v.normalize_axis(a, ssize(x)));
    if (x[ua] != 1)
      v.fail("cannot squeeze axis " + str(a) + " of size " + str(x[ua]) + " (input " + dims_string(x) + ")");
    drop[ua] = true;
  }
  Dims out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!drop[i]) out.push_back(x[i]);
  }
  return one(v.dtype(0), out);
}

Types infer_unsqueeze(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  std::vector<int64_t> axes = axes_operand(v, true);
  const int64_t r = ssize(x) + ssize(axes);
  std::vector<bool> inserted(static_cast<size_t>(r), false);
  for (int64_t a : axes) {
    const auto ua = static_cast<size_t>(v.normalize_axis(a, r));
    if (inserted[ua]) v.fail("axes " + dims_string(axes) + " list axis " + str(static_cast<int64_t>(ua)) + " twice");
    inserted[ua] = true;
  }
  Dims out;
  size_t j = 0;
  for (size_t i = 0; i < static_cast<size_t>(r); ++i) out.push_back(inserted[i] ? 1 : x[j++]);
  return one(v.dtype(0), out);
}

Types infer_slice(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  return one(v.dtype(0), resolve_slice(v).out);
}

Types infer_gather(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  v.check_dtype(1, kIndexTypes);
  const Dims& x = v.dims(0);
  if (x.empty()) v.fail("cannot gather from a scalar");
  const auto axis = static_cast<size_t>(v.normalize_axis(v.attr_int("axis", 0), ssize(x)));
  Dims out(x.begin(), x.begin() + static_cast<int64_t>(axis));
  out.insert(out.end(), v.dims(1).begin(), v.dims(1).end());
  out.insert(out.end(), x.begin() + static_cast<int64_t>(axis) + 1, x.end());
  return one(v.dtype(0), out);
}

// GatherElements: out[i][j][k] = data[i][indices[i][j][k]][k] (axis 1); the
// output has the indices' dims, which may be shorter than the data's on the
// other axes (never longer: every index names an element of data).
Types infer_gather_elements(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  v.check_dtype(1, kIndexTypes);
  const Dims& x = v.dims(0);
  const Dims& idx = v.dims(1);
  if (x.empty()) v.fail("cannot gather from a scalar");
  if (idx.size() != x.size()) {
    v.fail("input 'indices' " + dims_string(idx) + " must have the rank of 'data' " + dims_string(x));
  }
  const auto axis = static_cast<size_t>(v.normalize_axis(v.attr_int("axis", 0), ssize(x)));
  for (size_t i = 0; i < x.size(); ++i) {
    if (i != axis && idx[i] > x[i]) {
      v.fail("input 'indices' " + dims_string(idx) + " is longer than 'data' " + dims_string(x) + " on axis " +
             str(static_cast<int64_t>(i)));
    }
  }
  if (x[axis] == 0 && element_count(idx) != 0)
    v.fail("cannot gather from an empty axis " + str(static_cast<int64_t>(axis)));
  return one(v.dtype(0), idx);
}

// ScatterND: a copy of data with the slices that indices' last axis names
// replaced by (or, opset 16+, reduced with) updates. updates' dims must be
// indices.dims[:-1] + data.dims[k:], k = indices.dims[-1].
Types infer_scatter_nd(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  v.check_dtype(1, dt(DType::kInt64));
  v.check_same_dtype(0, 2);
  const Dims& x = v.dims(0);
  const Dims& idx = v.dims(1);
  if (idx.empty()) v.fail("input 'indices' must have rank 1 or more");
  const int64_t k = idx.back();
  if (k > ssize(x)) {
    v.fail("input 'indices' " + dims_string(idx) + " indexes " + str(k) + " axes of 'data' " + dims_string(x) +
           ", which has " + str(ssize(x)));
  }
  Dims want(idx.begin(), idx.end() - 1);
  want.insert(want.end(), x.begin() + k, x.end());
  if (v.dims(2) != want) {
    v.fail("input 'updates' " + dims_string(v.dims(2)) + " must be " + dims_string(want) + " (indices " +
           dims_string(idx) + ", data " + dims_string(x) + ")");
  }
  const std::string reduction = v.opset >= 16 ? v.attr_string("reduction", "none") : "none";
  const bool known = reduction == "none" || reduction == "add" || reduction == "mul" ||
                     (v.opset >= 18 && (reduction == "max" || reduction == "min"));
  if (!known) v.fail("attribute 'reduction' '" + reduction + "' is not supported at this opset");
  if (reduction != "none") v.check_dtype(0, kNumericTypes);
  return one(v.dtype(0), x);
}

Types infer_shape(const OpView& v) {
  const int64_t r = v.rank(0);
  int64_t start = 0, end = r;
  if (v.opset >= 15) {
    start = v.attr_int("start", 0);
    end = v.attr_int("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
  }
  return one(DType::kInt64, {std::max<int64_t>(0, end - start)});
}

Types infer_constant(const OpView& v) {
  static const char* kNames[] = {"value",      "value_float",  "value_floats",  "value_int",
                                 "value_ints", "value_string", "value_strings", "sparse_value"};
  int count = 0;
  for (const char* n : kNames) count += v.has_attr(n) ? 1 : 0;
  if (count != 1) v.fail("exactly one value attribute must be given, found " + str(count));
  if (v.has_attr("sparse_value")) v.fail("attribute 'sparse_value' (a sparse constant) is not supported");
  if (v.has_attr("value_string") || v.has_attr("value_strings")) v.fail("string constants are not supported");
  if (v.has_attr("value_float")) {
    v.attr_float("value_float", 0);
    return one(DType::kFloat, {});
  }
  if (v.has_attr("value_int")) {
    v.attr_int("value_int", 0);
    return one(DType::kInt64, {});
  }
  if (v.has_attr("value_floats")) {
    return one(DType::kFloat, {static_cast<int64_t>(v.attr_floats("value_floats").size())});
  }
  if (v.has_attr("value_ints")) return one(DType::kInt64, {ssize(v.attr_ints("value_ints"))});
  const Attribute* a = v.attr("value");
  if (a->kind != Attribute::kTensor) v.fail("attribute 'value' must be a tensor");
  if (!in_mask(a->t.dtype(), kCastTypes)) {
    v.fail("dtype " + dtype_name(a->t.dtype()) +
           " is not supported (attribute 'value'; supported: " + mask_names(kCastTypes) + ")");
  }
  return one(a->t.dtype(), a->t.dims());
}

Types infer_constant_of_shape(const OpView& v) {
  v.check_dtype(0, dt(DType::kInt64));
  Dims shape = v.const_ints(0);
  if (v.constant(0).rank() != 1) v.fail("input 'input' must be 1-D, not " + dims_string(v.constant(0).dims()));
  for (int64_t d : shape) {
    if (d < 0) v.fail("shape " + dims_string(shape) + " has a negative dimension");
  }
  element_count(shape);
  DType t = DType::kFloat;
  if (const Attribute* a = v.attr("value")) {
    if (a->kind != Attribute::kTensor) v.fail("attribute 'value' must be a tensor");
    if (a->t.numel() != 1) v.fail("attribute 'value' must hold one element, not " + dims_string(a->t.dims()));
    t = a->t.dtype();
    if (!in_mask(t, kDataTypes)) {
      v.fail("dtype " + dtype_name(t) + " is not supported (attribute 'value'; supported: " + mask_names(kDataTypes) +
             ")");
    }
  }
  return one(t, shape);
}

Types infer_pad(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  return one(v.dtype(0), resolve_pad(v).out);
}

Types infer_resize(const OpView& v) {
  ResizeSpec s = resolve_resize(v);
  v.check_dtype(0, s.mode == ResizeSpec::kNearest ? kDataTypes : kFloatTypes);
  return one(v.dtype(0), s.out);
}

Types infer_split(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  SplitSpec s = resolve_split(v);
  Types out;
  for (int64_t size : s.sizes) {
    Dims d = v.dims(0);
    d[static_cast<size_t>(s.axis)] = size;
    out.push_back({v.dtype(0), d});
  }
  return out;
}

Types infer_tile(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  std::vector<int64_t> reps = v.const_ints(1);
  if (reps.size() != x.size()) v.fail("'repeats' has " + str(ssize(reps)) + " values for rank " + str(ssize(x)));
  Dims out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (reps[i] < 0) v.fail("'repeats' must not be negative: " + dims_string(reps));
    out.push_back(x[i] * reps[i]);
  }
  element_count(out);
  return one(v.dtype(0), out);
}

Types infer_range(const OpView& v) {
  for (size_t i = 0; i < 3; ++i) {
    v.check_dtype(i, kNumericTypes);
    v.check_same_dtype(0, i);
    if (element_count(v.dims(i)) != 1)
      v.fail("input " + v.input_name(i) + " must be a scalar, not " + dims_string(v.dims(i)));
  }
  int64_t n = 0;
  if (in_mask(v.dtype(0), kFloatTypes)) {
    const double start = v.constant(0).to_double()[0], limit = v.constant(1).to_double()[0];
    const double delta = v.constant(2).to_double()[0];
    if (delta == 0) v.fail("'delta' must not be 0");
    // onnxruntime: the difference in the input type, the division in double.
    const double diff = v.dtype(0) == DType::kFloat
                            ? static_cast<double>(static_cast<float>(limit) - static_cast<float>(start))
                            : limit - start;
    const double count = std::ceil(diff / delta);
    if (!(count < 9.0e15)) v.fail("the range is too long or not finite");
    n = count > 0 ? static_cast<int64_t>(count) : 0;
  } else {
    const int64_t start = v.constant(0).to_int64()[0], limit = v.constant(1).to_int64()[0];
    const int64_t delta = v.constant(2).to_int64()[0];
    if (delta == 0) v.fail("'delta' must not be 0");
    int64_t diff = 0;
    if (__builtin_sub_overflow(limit, start, &diff)) v.fail("the range is too long");
    if (delta > 0) {
      n = diff <= 0 ? 0 : (diff - 1) / delta + 1;
    } else if (delta == std::numeric_limits<int64_t>::min()) {
      n = diff < 0 ? 1 : 0;
    } else {
      n = diff >= 0 ? 0 : (-(diff + 1)) / -delta + 1;
    }
  }
  return one(v.dtype(0), {n});
}

const std::map<std::string, InferFn>& infer_table() {
  static const std::map<std::string, InferFn> t = {
      {"Abs", same_as_input<kNumericTypes>},
      {"Add", infer_arith},
      {"And", infer_logic},
      {"ArgMax", infer_arg_reduce},
      {"ArgMin", infer_arg_reduce},
      {"AveragePool", infer_pool},
      {"BatchNormalization", infer_batch_norm},
      {"Cast", infer_cast},
      {"Ceil", same_as_input<kFloatTypes>},
      {"Celu", infer_float_activation},
      {"Clip", infer_clip},
      {"Concat", infer_concat},
      {"Constant", infer_constant},
      {"ConstantOfShape", infer_constant_of_shape},
      {"Conv", infer_conv},
      {"ConvTranspose", infer_conv_transpose},
      {"Cos", same_as_input<kFloatTypes>},
      {"Div", infer_arith},
      {"Dropout", infer_dropout},
      {"Elu", infer_float_activation},
      {"Equal", infer_equal},
      {"Erf", same_as_input<kFloatTypes>},
      {"Exp", same_as_input<kFloatTypes>},
      {"Expand", infer_expand},
      {"Flatten", infer_flatten},
      {"Floor", same_as_input<kFloatTypes>},
      {"Gather", infer_gather},
      {"GatherElements", infer_gather_elements},
      {"Gelu", infer_gelu},
      {"Gemm", infer_gemm},
      {"GlobalAveragePool", infer_global_pool},
      {"GlobalMaxPool", infer_global_pool},
      {"Greater", infer_less},
      {"GreaterOrEqual", infer_less},
      {"HardSigmoid", infer_hard_sigmoid},
      {"HardSwish", same_as_input<kFloatTypes>},
      {"Identity", same_as_input<kDataTypes>},
      {"InstanceNormalization", infer_instance_norm},
      {"IsInf", infer_is_inf},
      {"IsNaN", infer_is_nan},
      {"LayerNormalization", infer_layer_norm},
      {"LeakyRelu", infer_leaky_relu},
      {"Less", infer_less},
      {"LessOrEqual", infer_less},
      {"Log", same_as_input<kFloatTypes>},
      {"LogSoftmax", infer_softmax},
      {"MatMul", infer_matmul},
      {"Max", infer_arith},
      {"MaxPool", infer_pool},
      {"Min", infer_arith},
      {"Mish", same_as_input<kFloatTypes>},
      {"Mod", infer_mod},
      {"Mul", infer_arith},
      {"Neg", same_as_input<kNumericTypes>},
      {"Not", same_as_input<dt(DType::kBool)>},
      {"Or", infer_logic},
      {"PRelu", infer_prelu},
      {"Pad", infer_pad},
      {"Pow", infer_pow},
      {"Range", infer_range},
      {"Reciprocal", same_as_input<kFloatTypes>},
      {"ReduceL1", infer_reduce},
      {"ReduceL2", infer_reduce},
      {"ReduceLogSum", infer_reduce},
      {"ReduceLogSumExp", infer_reduce},
      {"ReduceMax", infer_reduce},
      {"ReduceMean", infer_reduce},
      {"ReduceMin", infer_reduce},
      {"ReduceProd", infer_reduce},
      {"ReduceSum", infer_reduce},
      {"ReduceSumSquare", infer_reduce},
      {"Relu", same_as_input<kNumericTypes>},
      {"Reshape", infer_reshape},
      {"Resize", infer_resize},
      {"Round", same_as_input<kFloatTypes>},
      {"ScatterND", infer_scatter_nd},
      {"Selu", infer_float_activation},
      {"Shape", infer_shape},
      {"Sigmoid", same_as_input<kFloatTypes>},
      {"Sign", same_as_input<kNumericTypes>},
      {"Sin", same_as_input<kFloatTypes>},
      {"Slice", infer_slice},
      {"Softmax", infer_softmax},
      {"Softplus", same_as_input<kFloatTypes>},
      {"Softsign", same_as_input<kFloatTypes>},
      {"Split", infer_split},
      {"Sqrt", same_as_input<kFloatTypes>},
      {"Squeeze", infer_squeeze},
      {"Sub", infer_arith},
      {"Sum", infer_arith},
      {"Tanh", same_as_input<kFloatTypes>},
      {"ThresholdedRelu", infer_float_activation},
      {"Tile", infer_tile},
      {"Transpose", infer_transpose},
      {"Unsqueeze", infer_unsqueeze},
      {"Where", infer_where},
  };
  return t;
}

}  // namespace

std::vector<ValueType> infer_view(const OpView& v) {
  const auto& t = infer_table();
  auto it = t.find(v.op());
  if (it == t.end()) v.fail("no shape inference for this operator");  // the table and this map disagree
  return it->second(v);
}

}  // namespace detail

std::vector<ValueType> infer_types(const OpContext& ctx) {
  return detail::with_node_context(ctx.node, ctx.opset, [&] {
    detail::OpView v(ctx);
    return detail::infer_view(v);
  });
}

SliceSpec slice_spec(const OpContext& ctx) { return detail::resolve_slice(detail::OpView(ctx)); }
WindowSpec conv_window(const OpContext& ctx) { return detail::resolve_conv(detail::OpView(ctx)); }
WindowSpec pool_window(const OpContext& ctx) { return detail::resolve_pool(detail::OpView(ctx)); }
WindowSpec conv_transpose_window(const OpContext& ctx) { return detail::resolve_conv_transpose(detail::OpView(ctx)); }

PadAmounts pad_amounts(const OpContext& ctx) {
  detail::PadSpec p = detail::resolve_pad(detail::OpView(ctx));
  return PadAmounts{std::move(p.begin), std::move(p.end)};
}

}  // namespace mrt::onnx
