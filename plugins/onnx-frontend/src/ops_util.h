// Private to the operator files: dtype sets, the checked node view
// (OpView), and each operator's opset-dependent parameters resolved into
// plain per-axis values (Slice, Pad, Resize, Split, Reduce*, the convolution
// and pooling windows), all defined in op_view.cpp. The definition rows
// (op_def.h) and the host kernels build on them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mrt/onnx/ops.h"

namespace mrt::onnx::detail {

// ---- dtype sets ------------------------------------------------------------------

using DTypeMask = uint32_t;
constexpr DTypeMask dt(DType t) { return DTypeMask{1} << static_cast<int32_t>(t); }
inline constexpr DTypeMask kFloatTypes = dt(DType::kFloat) | dt(DType::kDouble);
inline constexpr DTypeMask kIntegerTypes = dt(DType::kInt8) | dt(DType::kUint8) | dt(DType::kInt16) |
                                           dt(DType::kUint16) | dt(DType::kInt32) | dt(DType::kUint32) |
                                           dt(DType::kInt64) | dt(DType::kUint64);
// ONNX's "all numeric types" less float16/bfloat16, which only Cast reads.
inline constexpr DTypeMask kNumericTypes = kFloatTypes | kIntegerTypes;
// MatMul and Gemm: ONNX has no 8- or 16-bit integers there (MatMulInteger and
// QLinearMatMul, which widen the accumulator, are separate operators).
inline constexpr DTypeMask kMatMulTypes =
    kFloatTypes | dt(DType::kInt32) | dt(DType::kUint32) | dt(DType::kInt64) | dt(DType::kUint64);
// What the data-movement operators (Reshape, Gather, Concat, Pad...) carry.
inline constexpr DTypeMask kDataTypes = kNumericTypes | dt(DType::kBool);
// Cast (and Constant, so that Cast can read a float16 constant).
inline constexpr DTypeMask kCastTypes = kDataTypes | dt(DType::kFloat16) | dt(DType::kBFloat16);
inline constexpr DTypeMask kIndexTypes = dt(DType::kInt32) | dt(DType::kInt64);
inline constexpr DTypeMask kAnyType = ~DTypeMask{0};

bool in_mask(DType t, DTypeMask mask);
std::string mask_names(DTypeMask mask);  // "float32, float64"

// ---- the checked view of one node ----------------------------------------------------

// Built from an OpContext: checks the domain, that the operator exists at
// ctx.opset (7..23), the input count, required inputs, that every input
// has a concrete type, and the output count. Every failure message starts
// with node.describe(opset).
class OpView {
 public:
  explicit OpView(const OpContext& ctx);

  const Node& node;
  const int64_t opset;
  const std::string& op() const { return node.op_type; }

  [[noreturn]] void fail(const std::string& what) const;

  size_t num_inputs() const { return node.inputs.size(); }
  // Present: listed with a non-empty name.
  bool has(size_t i) const;
  const ValueType& type(size_t i) const;  // fails when absent
  const Dims& dims(size_t i) const { return type(i).dims; }
  DType dtype(size_t i) const { return type(i).dtype; }
  int64_t rank(size_t i) const { return static_cast<int64_t>(dims(i).size()); }
  // The input's value: nullptr when absent or not a constant.
  const HostTensor* value(size_t i) const;
  // The input's value; fails with "input 'shape' must be a constant".
  const HostTensor& constant(size_t i) const;
  // A constant int32/int64 input as int64 values.
  std::vector<int64_t> const_ints(size_t i) const;
  // A constant float/double input as float values.
  std::vector<float> const_floats(size_t i) const;
  // "'shape'" (the spec's name, or 'inputs[2]' for variadic inputs).
  std::string input_name(size_t i) const;

  // Fails with "dtype float16 is not supported (input 'A'; ...)".
  void check_dtype(size_t i, DTypeMask allowed) const;
  void check_same_dtype(size_t i, size_t j) const;
  // An axis in [-rank, rank) to [0, rank); `what` names it in messages.
  int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& what = "axis") const;

  // Attributes, kind-checked with node-described failures.
  bool has_attr(const char* a) const { return node.has_attr(a); }
  int64_t attr_int(const char* a, int64_t fallback) const;
  float attr_float(const char* a, float fallback) const;
  std::string attr_string(const char* a, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const char* a, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const char* a, std::vector<float> fallback = {}) const;
  const Attribute* attr(const char* a) const;  // any kind; nullptr when absent

  size_t num_outputs() const { return node.outputs.size(); }
  bool output_used(size_t i) const { return i < node.outputs.size() && !node.outputs[i].empty(); }

 private:
  void check_kind(const char* a, Attribute::Kind kind) const;

  const OpContext& ctx_;
  std::vector<std::string> names_;
  bool variadic_ = false;
};

using ::mrt::onnx::with_node_context;  // defined in ops.h, for backends too

// Shape inference on a checked view; evaluate() runs it
// first so that its kernels only see validated nodes.
std::vector<ValueType> infer_view(const OpView& v);

// ---- shared helpers ------------------------------------------------------------------

int64_t ssize(const Dims& d);
// numpy multidirectional broadcasting; fails "inputs [2,3] and [4] cannot be broadcast".
Dims broadcast_shapes(const OpView& v, const std::vector<const Dims*>& shapes);
// A one-element tensor of `dtype` holding `value` (ints truncate toward zero).
HostTensor scalar_of(DType dtype, double value);

// ---- per-operator parameters -------------------------------------------------------

// Slice, for every axis of the input (untouched axes: start 0, step 1).
using ::mrt::onnx::SliceSpec;  // defined in ops.h, for backends too
SliceSpec resolve_slice(const OpView& v);

// Pad, for every axis; negative pads crop.
struct PadSpec {
  enum Mode { kConstant, kReflect, kEdge, kWrap };
  Mode mode = kConstant;
  std::vector<int64_t> begin, end;
  Dims out;
  HostTensor value;  // one element of the input's dtype (constant mode)
};
PadSpec resolve_pad(const OpView& v);

// Resize, for every axis (axes not resized: scale 1, out = in).
struct ResizeSpec {
  enum Coord {
    kHalfPixel,
    kAsymmetric,
    kAlignCorners,
    kPytorchHalfPixel,
    kTfCropAndResize,
    kTfHalfPixelForNN,
    kHalfPixelSymmetric
  };
  // kLegacy: Resize-10 (and onnxruntime): floor when upsampling an axis, ceil when downsampling.
  enum Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kLegacy };
  enum Mode { kNearest, kLinear, kCubic };
  Mode mode = kNearest;
  Coord coord = kHalfPixel;
  Nearest nearest = kRoundPreferFloor;
  float extrapolation = 0;
  Dims out;
  std::vector<float> scales;
  // The resized length the coordinate transforms use: the output size when
  // 'sizes' is given, else scale * input (fractional, like the ONNX reference).
  std::vector<float> lengths;
  std::vector<float> roi_start, roi_end;  // tf_crop_and_resize only
  float cubic_a = -0.75f;                 // cubic_coeff_a (-0.75: PyTorch's bicubic, -0.5: TensorFlow's)
  bool exclude_outside = false;           // taps outside the input weigh 0, the rest renormalised
  bool antialias = false;                 // opset 18+: linear/cubic widen the filter by 1/scale when downscaling
};
ResizeSpec resolve_resize(const OpView& v);
// The input coordinate of output coordinate x on one axis (in float, like onnxruntime).
float resize_source_coord(const ResizeSpec& s, size_t axis, int64_t in_len, float x);

// Split: the axis and one size per output.
struct SplitSpec {
  int64_t axis = 0;
  std::vector<int64_t> sizes;
};
SplitSpec resolve_split(const OpView& v);

// ReduceSum/Mean/Max/Min: which axes are reduced; `out` honours keepdims,
// `kept` is the keepdims=1 shape (1 on reduced axes).
struct ReduceSpec {
  std::vector<bool> reduced;
  bool keepdims = true;
  Dims out, kept;
};
ReduceSpec resolve_reduce(const OpView& v);

// Conv, MaxPool, AveragePool, ConvTranspose (ops.h: conv_window...).
using ::mrt::onnx::WindowSpec;                       // defined in ops.h, for backends too
WindowSpec resolve_conv(const OpView& v);            // Conv
WindowSpec resolve_pool(const OpView& v);            // MaxPool, AveragePool
WindowSpec resolve_conv_transpose(const OpView& v);  // ConvTranspose

}  // namespace mrt::onnx::detail
