// The ONNX front end's operator layer: the IR helpers (dtypes, HostTensor,
// node attributes), shape inference per operator and opset, the host
// reference kernels (hand-checked values), and the error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mrt/onnx/ops.h"

namespace mrt::onnx {
namespace {

// ---- helpers -------------------------------------------------------------------------------

Attribute AInt(int64_t v) {
  Attribute a;
  a.kind = Attribute::kInt;
  a.i = v;
  return a;
}
Attribute AFloat(float v) {
  Attribute a;
  a.kind = Attribute::kFloat;
  a.f = v;
  return a;
}
Attribute AStr(std::string v) {
  Attribute a;
  a.kind = Attribute::kString;
  a.s = std::move(v);
  return a;
}
Attribute AInts(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute AFloats(std::vector<float> v) {
  Attribute a;
  a.kind = Attribute::kFloats;
  a.floats = std::move(v);
  return a;
}
Attribute ATensor(HostTensor t) {
  Attribute a;
  a.kind = Attribute::kTensor;
  a.t = std::move(t);
  return a;
}

Node N(std::string op, std::vector<std::string> inputs, std::map<std::string, Attribute> attrs = {},
       std::vector<std::string> outputs = {"y"}, std::string name = "n") {
  Node n;
  n.op_type = std::move(op);
  n.name = std::move(name);
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attrs = std::move(attrs);
  return n;
}

template <typename T>
HostTensor Make(DType dt, Dims dims, const std::vector<T>& v) {
  HostTensor t(dt, std::move(dims));
  EXPECT_EQ(static_cast<size_t>(t.numel()), v.size());
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(T));
  return t;
}
HostTensor F(Dims d, const std::vector<float>& v) { return Make(DType::kFloat, std::move(d), v); }
HostTensor D(Dims d, const std::vector<double>& v) { return Make(DType::kDouble, std::move(d), v); }
HostTensor I64(Dims d, const std::vector<int64_t>& v) { return Make(DType::kInt64, std::move(d), v); }
HostTensor I32(Dims d, const std::vector<int32_t>& v) { return Make(DType::kInt32, std::move(d), v); }
HostTensor B(Dims d, const std::vector<uint8_t>& v) { return Make(DType::kBool, std::move(d), v); }

template <typename T>
std::vector<T> V(const HostTensor& t) {
  std::vector<T> v(static_cast<size_t>(t.numel()));
  if (!v.empty()) std::memcpy(v.data(), t.raw(), v.size() * sizeof(T));
  return v;
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

std::vector<HostTensor> Eval(const Node& n, int64_t opset, std::vector<const HostTensor*> in) {
  return evaluate(n, opset, in);
}
HostTensor Eval1(const Node& n, int64_t opset, std::vector<const HostTensor*> in) {
  auto out = evaluate(n, opset, in);
  EXPECT_GE(out.size(), 1u);
  return out.empty() ? HostTensor() : std::move(out[0]);
}

// Shape inference with every given tensor as a constant input (nullptr = omitted).
std::vector<ValueType> InferConst(const Node& n, int64_t opset, std::vector<const HostTensor*> in) {
  std::vector<ValueType> types(in.size());
  OpContext ctx{n, opset, {}, {}};
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i]) types[i] = {in[i]->dtype(), in[i]->dims()};
  }
  for (size_t i = 0; i < in.size(); ++i) {
    ctx.input_types.push_back(in[i] ? &types[i] : nullptr);
    ctx.input_values.push_back(in[i]);
  }
  return infer_types(ctx);
}

// Shape inference from types only; `values` (padded with nullptr) marks constants.
std::vector<ValueType> InferTypes(const Node& n, int64_t opset, const std::vector<ValueType>& types,
                                  std::vector<const HostTensor*> values = {}) {
  values.resize(types.size(), nullptr);
  OpContext ctx{n, opset, {}, values};
  for (size_t i = 0; i < types.size(); ++i) {
    ctx.input_types.push_back(n.inputs[i].empty() ? nullptr : &types[i]);
  }
  return infer_types(ctx);
}

Dims OutDims(const Node& n, int64_t opset, const std::vector<ValueType>& types,
             std::vector<const HostTensor*> values = {}) {
  auto t = InferTypes(n, opset, types, std::move(values));
  return t.empty() ? Dims{-99} : t[0].dims;
}

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const OnnxError& e) {
    return e.what();
  }
  return "<no error>";
}

bool Has(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

ValueType T(DType d, Dims dims) { return {d, std::move(dims)}; }
ValueType TF(Dims dims) { return {DType::kFloat, std::move(dims)}; }

// ---- IR ---------------------------------------------------------------------------------

TEST(OnnxIr, DtypeSizesAndNames) {
  EXPECT_EQ(dtype_size(DType::kFloat), 4u);
  EXPECT_EQ(dtype_size(DType::kInt64), 8u);
  EXPECT_EQ(dtype_size(DType::kBool), 1u);
  EXPECT_EQ(dtype_size(DType::kFloat16), 2u);
  EXPECT_EQ(dtype_size(DType::kDouble), 8u);
  EXPECT_EQ(dtype_size(DType::kString), 0u);
  EXPECT_EQ(dtype_size(static_cast<DType>(17)), 0u);  // float8e4m3fn
  EXPECT_EQ(dtype_name(DType::kFloat), "float32");
  EXPECT_EQ(dtype_name(DType::kDouble), "float64");
  EXPECT_EQ(dtype_name(DType::kBFloat16), "bfloat16");
  EXPECT_EQ(dtype_name(static_cast<DType>(19)), "float8e5m2");
  EXPECT_EQ(dtype_name(static_cast<DType>(99)), "dtype(99)");
}

TEST(OnnxIr, ElementCountAndDimsString) {
  EXPECT_EQ(element_count({}), 1);
  EXPECT_EQ(element_count({2, 3, 4}), 24);
  EXPECT_EQ(element_count({0, std::numeric_limits<int64_t>::max(), 7}), 0);
  EXPECT_THROW(element_count({2, -1}), OnnxError);
  EXPECT_THROW(element_count({1LL << 40, 1LL << 40}), OnnxError);
  EXPECT_EQ(dims_string({1, 3, 224, 224}), "[1,3,224,224]");
  EXPECT_EQ(dims_string({}), "[]");
}

TEST(OnnxIr, HostTensorStorage) {
  HostTensor t(DType::kFloat, {3, 5});
  EXPECT_EQ(t.numel(), 15);
  EXPECT_EQ(t.bytes(), 60u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
  for (float x : V<float>(t)) EXPECT_EQ(x, 0.0f);
  HostTensor empty(DType::kInt64, {0, 4});
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_NE(empty.raw(), nullptr);
  EXPECT_THROW(HostTensor(DType::kString, {2}), OnnxError);
  EXPECT_THROW(HostTensor(DType::kFloat, {-1}), OnnxError);

  t.data<float>()[7] = 2.5f;
  HostTensor copy = t;
  copy.data<float>()[7] = 9.0f;
  EXPECT_EQ(t.data<float>()[7], 2.5f);
  EXPECT_NE(copy.raw(), t.raw());
  HostTensor assigned(DType::kInt32, {1});
  assigned = t;
  EXPECT_EQ(assigned.dtype(), DType::kFloat);
  EXPECT_EQ(assigned.data<float>()[7], 2.5f);

  void* p = t.raw();
  HostTensor moved = std::move(t);
  EXPECT_EQ(moved.raw(), p);
  EXPECT_EQ(t.raw(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(t.numel(), 0);
  HostTensor target(DType::kInt8, {4});
  target = std::move(moved);
  EXPECT_EQ(target.raw(), p);
  EXPECT_EQ(target.dims(), (Dims{3, 5}));

  target.reshape({15});
  EXPECT_EQ(target.dims(), Dims{15});
  EXPECT_EQ(target.data<float>()[7], 2.5f);
  EXPECT_THROW(target.reshape({4, 4}), OnnxError);
}

TEST(OnnxIr, HostTensorConversions) {
  EXPECT_EQ(I32({3}, {-1, 0, 7}).to_int64(), (std::vector<int64_t>{-1, 0, 7}));
  EXPECT_EQ(B({3}, {1, 0, 2}).to_int64(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(F({2}, {2.9f, -2.9f}).to_int64(), (std::vector<int64_t>{2, -2}));
  EXPECT_EQ(Make<uint8_t>(DType::kUint8, {2}, {255, 1}).to_int64(), (std::vector<int64_t>{255, 1}));
  EXPECT_THROW(F({1}, {NAN}).to_int64(), OnnxError);
  EXPECT_THROW(HostTensor(DType::kFloat16, {1}).to_int64(), OnnxError);
  EXPECT_EQ(I64({2}, {-3, 1LL << 40}).to_double(), (std::vector<double>{-3.0, 1099511627776.0}));
  EXPECT_EQ(D({1}, {0.25}).to_double(), std::vector<double>{0.25});
  HostTensor s = HostTensor::from_int64({4, 5, 6}, {3});
  EXPECT_EQ(s.dtype(), DType::kInt64);
  EXPECT_EQ(V<int64_t>(s), (std::vector<int64_t>{4, 5, 6}));
  EXPECT_THROW(HostTensor::from_int64({1, 2}, {3}), OnnxError);
  HostTensor f = HostTensor::scalar_float(1.5f);
  EXPECT_EQ(f.dims(), Dims{});
  EXPECT_EQ(*f.data<float>(), 1.5f);
}

TEST(OnnxIr, NodeAttributes) {
  Node n = N("Conv", {"x", "w"},
             {{"group", AInt(2)},
              {"pads", AInts({1, 1, 1, 1})},
              {"alpha", AFloat(0.5f)},
              {"auto_pad", AStr("VALID")},
              {"scales", AFloats({2.0f})}},
             {"y"}, "/layer1/conv1/Conv");
  EXPECT_EQ(n.attr_int("group", 1), 2);
  EXPECT_EQ(n.attr_int("missing", 7), 7);
  EXPECT_EQ(n.attr_float("alpha", 0), 0.5f);
  EXPECT_EQ(n.attr_string("auto_pad", "NOTSET"), "VALID");
  EXPECT_EQ(n.attr_string("mode", "constant"), "constant");
  EXPECT_EQ(n.attr_ints("pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(n.attr_ints("strides", {1, 1}), (std::vector<int64_t>{1, 1}));
  EXPECT_TRUE(n.attr_ints("dilations").empty());
  EXPECT_EQ(n.attr_floats("scales"), std::vector<float>{2.0f});
  std::string e = ErrorOf([&] { n.attr_int("pads", 0); });
  EXPECT_TRUE(Has(e, "'pads'")) << e;
  EXPECT_TRUE(Has(e, "'/layer1/conv1/Conv'")) << e;
  EXPECT_TRUE(Has(e, "must be an int, not a list of ints")) << e;
  EXPECT_THROW(n.attr_ints("group"), OnnxError);
  EXPECT_THROW(n.attr_float("group", 0), OnnxError);
  EXPECT_EQ(n.input(1), "w");
  EXPECT_EQ(n.input(2), "");
  EXPECT_EQ(n.describe(13), "op 'Conv' (node '/layer1/conv1/Conv', opset 13)");
}

// ---- the op table ------------------------------------------------------------------------

TEST(OnnxOps, SupportedOpsAreSortedAndComplete) {
  const auto& ops = supported_ops();
  EXPECT_TRUE(std::is_sorted(ops.begin(), ops.end()));
  EXPECT_EQ(std::adjacent_find(ops.begin(), ops.end()), ops.end());
  const std::vector<std::string> required = {
      "Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh",
      "HardSigmoid", "HardSwish", "Erf", "Gelu", "Softmax", "LogSoftmax", "LayerNormalization", "MaxPool",
      "AveragePool", "GlobalAveragePool", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Neg", "Reciprocal",
      "ReduceMean", "ReduceSum", "Concat", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Gather",
      "Shape", "Cast", "Where", "Expand", "Equal", "ConstantOfShape", "Constant", "Identity", "Pad", "Resize",
      // additions
      "Split", "Range", "Less", "Greater", "Not", "Min", "Max", "Sum", "Floor", "Ceil", "Abs", "ReduceMax", "ReduceMin",
      "Tile", "Log", "And", "Or", "LessOrEqual", "GreaterOrEqual",
      // activations, normalisations and reductions PyTorch and TensorFlow exporters emit
      "Elu", "Selu", "Celu", "Softplus", "Softsign", "Mish", "ThresholdedRelu", "PRelu", "Sin", "Cos", "Sign", "Round",
      "Dropout", "GlobalMaxPool", "InstanceNormalization", "ArgMax", "ArgMin", "ReduceL1", "ReduceL2", "ReduceLogSum",
      "ReduceLogSumExp", "ReduceProd", "ReduceSumSquare",
      // the zoo's transformer exports (issue 24)
      "Mod", "IsNaN", "IsInf", "GatherElements", "ScatterND"};
  EXPECT_EQ(ops.size(), required.size());
  for (const auto& op : required) EXPECT_TRUE(is_supported_op(op)) << op;
  EXPECT_FALSE(is_supported_op("Det"));
  EXPECT_FALSE(is_supported_op("relu"));
  for (const auto& op : ops) {
    const bool no_ref =
        op == "Conv" || op == "ConvTranspose" || op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool";
    EXPECT_EQ(has_reference(op), !no_ref) << op;
  }
  EXPECT_FALSE(has_reference("Det"));
}

// ---- error messages ------------------------------------------------------------------------

TEST(OnnxErrors, UnsupportedOperator) {
  Node n = N("Det", {"x"}, {}, {"y"}, "det_node");
  EXPECT_EQ(ErrorOf([&] {
              InferTypes(n, 13, {TF({2, 2})});
            }),
            "unsupported operator 'Det' (node 'det_node', opset 13)");
  HostTensor x = F({1}, {1});
  EXPECT_EQ(ErrorOf([&] { Eval(n, 13, {&x}); }), "unsupported operator 'Det' (node 'det_node', opset 13)");
  Node ms = N("Gelu", {"x"}, {}, {"y"}, "g");
  ms.domain = "com.microsoft";
  EXPECT_EQ(ErrorOf([&] { InferTypes(ms, 13, {TF({2})}); }),
            "unsupported operator 'com.microsoft.Gelu' (node 'g', opset 13)");
}

// The exporters' extra operators refuse what they cannot mean, naming it.
TEST(OnnxErrors, ExporterOperatorsRefuseBadInputs) {
  // A slope that does not broadcast to X, or that would widen it.
  std::string e = ErrorOf([&] { InferTypes(N("PRelu", {"x", "s"}), 13, {TF({2, 3, 4}), TF({5})}); });
  EXPECT_TRUE(Has(e, "op 'PRelu' (node 'n', opset 13)")) << e;
  e = ErrorOf([&] { InferTypes(N("PRelu", {"x", "s"}), 13, {TF({3, 1}), TF({3, 4})}); });
  EXPECT_TRUE(Has(e, "slope [3,4] does not broadcast to X [3,1]")) << e;
  // Dropout is inference only: training_mode must be a constant false.
  HostTensor x = F({2}, {1, -2}), on = B({}, {1}), off = B({}, {0});
  e = ErrorOf([&] { InferConst(N("Dropout", {"x", "", "t"}), 13, {&x, nullptr, &on}); });
  EXPECT_TRUE(Has(e, "training_mode=true is not supported (inference only)")) << e;
  e = ErrorOf([&] { InferTypes(N("Dropout", {"x", "", "t"}), 13, {TF({2}), ValueType{}, {DType::kBool, {}}}); });
  EXPECT_TRUE(Has(e, "input 'training_mode' must be a constant")) << e;
  auto outs = Eval(N("Dropout", {"x", "", "t"}, {}, {"y", "mask"}), 13, {&x, nullptr, &off});
  ASSERT_EQ(outs.size(), 2u);
  ExpectNear(V<float>(outs[0]), {1, -2});
  EXPECT_EQ(V<uint8_t>(outs[1]), (std::vector<uint8_t>{1, 1}));
  // InstanceNormalization's scale and bias are per channel.
  e = ErrorOf([&] { InferTypes(N("InstanceNormalization", {"x", "s", "b"}), 13, {TF({1, 3, 4, 4}), TF({4}), TF({3})}); });
  EXPECT_TRUE(Has(e, "input 'scale' must have shape [3], not [4]")) << e;
  // ArgMax of an empty axis has no answer; Celu's alpha divides.
  e = ErrorOf([&] { InferTypes(N("ArgMax", {"x"}, {{"axis", AInt(1)}}), 13, {TF({2, 0})}); });
  EXPECT_TRUE(Has(e, "empty axis")) << e;
  e = ErrorOf([&] { InferTypes(N("Celu", {"x"}, {{"alpha", AFloat(0)}}), 13, {TF({2})}); });
  EXPECT_TRUE(Has(e, "alpha must not be 0")) << e;
  // The float functions refuse integers.
  e = ErrorOf([&] { InferTypes(N("Sin", {"x"}), 13, {T(DType::kInt64, {2})}); });
  EXPECT_TRUE(Has(e, "dtype int64 is not supported")) << e;
}

TEST(OnnxErrors, UnsupportedDtypeNamesTheDtype) {
  Node n = N("Add", {"a", "b"}, {}, {"y"}, "x");
  std::string e = ErrorOf([&] { InferTypes(n, 13, {T(DType::kFloat16, {2}), T(DType::kFloat16, {2})}); });
  EXPECT_EQ(e.rfind("op 'Add' (node 'x', opset 13): ", 0), 0u) << e;
  EXPECT_TRUE(Has(e, "dtype float16 is not supported")) << e;
  e = ErrorOf([&] { InferTypes(N("Relu", {"a"}), 13, {T(DType::kBFloat16, {2})}); });
  EXPECT_TRUE(Has(e, "dtype bfloat16 is not supported")) << e;
  e = ErrorOf([&] { InferTypes(N("Reshape", {"a", "s"}), 13, {T(DType::kString, {2}), T(DType::kInt64, {1})}); });
  EXPECT_TRUE(Has(e, "dtype string is not supported")) << e;
  e = ErrorOf([&] { InferTypes(N("Identity", {"a"}), 13, {T(static_cast<DType>(17), {2})}); });
  EXPECT_TRUE(Has(e, "dtype float8e4m3fn is not supported")) << e;
  e = ErrorOf([&] { InferTypes(N("Add", {"a", "b"}), 13, {TF({2}), T(DType::kInt64, {2})}); });
  EXPECT_TRUE(Has(e, "must have the same dtype, not float32 and int64")) << e;
  e = ErrorOf([&] { InferTypes(N("Sqrt", {"a"}), 13, {T(DType::kInt64, {2})}); });
  EXPECT_TRUE(Has(e, "dtype int64 is not supported")) << e;
}

TEST(OnnxErrors, ShapeInputsMustBeConstant) {
  Node r = N("Reshape", {"x", "shape"}, {}, {"y"}, "r");
  EXPECT_EQ(ErrorOf([&] {
              InferTypes(r, 13, {TF({2, 3}), T(DType::kInt64, {2})});
            }),
            "op 'Reshape' (node 'r', opset 13): input 'shape' must be a constant");
  std::string e = ErrorOf([&] {
    InferTypes(N("Slice", {"x", "s", "e"}), 13, {TF({4}), T(DType::kInt64, {1}), T(DType::kInt64, {1})});
  });
  EXPECT_TRUE(Has(e, "input 'starts' must be a constant")) << e;
  e = ErrorOf([&] { InferTypes(N("Unsqueeze", {"x", "axes"}), 13, {TF({4}), T(DType::kInt64, {1})}); });
  EXPECT_TRUE(Has(e, "input 'axes' must be a constant")) << e;
  e = ErrorOf([&] { InferTypes(N("Expand", {"x", "s"}), 13, {TF({4}), T(DType::kInt64, {1})}); });
  EXPECT_TRUE(Has(e, "input 'shape' must be a constant")) << e;
  e = ErrorOf([&] { InferTypes(N("ConstantOfShape", {"s"}), 13, {T(DType::kInt64, {2})}); });
  EXPECT_TRUE(Has(e, "input 'input' must be a constant")) << e;
  e = ErrorOf([&] { InferTypes(N("Pad", {"x", "p"}), 13, {TF({4}), T(DType::kInt64, {2})}); });
  EXPECT_TRUE(Has(e, "input 'pads' must be a constant")) << e;
  e = ErrorOf([&] { InferTypes(N("Resize", {"x", "", "s"}), 13, {TF({1, 1, 2, 2}), {}, T(DType::kFloat, {4})}); });
  EXPECT_TRUE(Has(e, "input 'scales' must be a constant")) << e;
  e = ErrorOf([&] { InferTypes(N("Split", {"x", "s"}, {}, {"a", "b"}), 13, {TF({4}), T(DType::kInt64, {2})}); });
  EXPECT_TRUE(Has(e, "input 'split' must be a constant")) << e;
  e = ErrorOf([&] { InferTypes(N("Tile", {"x", "r"}), 13, {TF({4}), T(DType::kInt64, {1})}); });
  EXPECT_TRUE(Has(e, "input 'repeats' must be a constant")) << e;
  e = ErrorOf([&] {
    InferTypes(N("Range", {"a", "b", "c"}), 13, {T(DType::kInt64, {}), T(DType::kInt64, {}), T(DType::kInt64, {})});
  });
  EXPECT_TRUE(Has(e, "input 'start' must be a constant")) << e;
}

TEST(OnnxErrors, BadBroadcast) {
  Node a = N("Add", {"p", "q"}, {}, {"y"}, "a");
  EXPECT_EQ(ErrorOf([&] {
              InferTypes(a, 13, {TF({2, 3}), TF({4})});
            }),
            "op 'Add' (node 'a', opset 13): inputs [2,3] and [4] cannot be broadcast");
  std::string e = ErrorOf([&] {
    InferTypes(N("Where", {"c", "x", "y"}), 13, {T(DType::kBool, {2, 1}), TF({3}), TF({4})});
  });
  EXPECT_TRUE(Has(e, "inputs [2,1], [3] and [4] cannot be broadcast")) << e;
  e = ErrorOf([&] { InferTypes(N("MatMul", {"a", "b"}), 13, {TF({2, 3}), TF({4, 5})}); });
  EXPECT_TRUE(Has(e, "inner dimensions do not match: [2,3] x [4,5]")) << e;
}

TEST(OnnxErrors, NodeAndContextChecks) {
  // Unknown dims are a programming error for infer_types.
  std::string e = ErrorOf([&] { InferTypes(N("Relu", {"x"}), 13, {TF({-1, 3})}); });
  EXPECT_TRUE(Has(e, "concrete")) << e;
  EXPECT_TRUE(Has(e, "[-1,3]")) << e;
  e = ErrorOf([&] { InferTypes(N("Relu", {"x"}), 6, {TF({2})}); });
  EXPECT_TRUE(Has(e, "opset 6 is not supported")) << e;
  e = ErrorOf([&] { InferTypes(N("Relu", {"x"}), 29, {TF({2})}); });
  EXPECT_TRUE(Has(e, "opset 29 is not supported")) << e;
  e = ErrorOf([&] { InferTypes(N("Gelu", {"x"}), 13, {TF({2})}); });
  EXPECT_TRUE(Has(e, "'Gelu' does not exist before opset 20")) << e;
  e = ErrorOf([&] { InferTypes(N("LayerNormalization", {"x", "s"}), 16, {TF({2}), TF({2})}); });
  EXPECT_TRUE(Has(e, "does not exist before opset 17")) << e;
  e = ErrorOf([&] { InferTypes(N("Add", {"a", ""}), 13, {TF({2}), {}}); });
  EXPECT_TRUE(Has(e, "input 'B' is required")) << e;
  e = ErrorOf([&] { InferTypes(N("Relu", {"a", "b"}), 13, {TF({2}), TF({2})}); });
  EXPECT_TRUE(Has(e, "has 2 inputs, at most 1 expected")) << e;
  e = ErrorOf([&] { InferTypes(N("Relu", {"a"}, {}, {"y", "z"}), 13, {TF({2})}); });
  EXPECT_TRUE(Has(e, "has 2 outputs, at most 1 expected")) << e;
  e = ErrorOf([&] { InferTypes(N("Concat", {"a"}, {{"axis", AFloat(1)}}), 13, {TF({2})}); });
  EXPECT_EQ(e, "op 'Concat' (node 'n', opset 13): attribute 'axis' must be an int, not a float");
  // Every failure starts with the node description.
  std::vector<std::function<void()>> failing = {
      [] {
        InferTypes(N("Concat", {"a", "b"}, {{"axis", AInt(2)}}), 13, {TF({2, 2}), TF({2, 2})});
      },
      [] {
        InferTypes(N("Concat", {"a", "b"}, {{"axis", AInt(0)}}), 13, {TF({2, 2}), TF({2, 3})});
      },
      [] {
        InferTypes(N("Transpose", {"a"}, {{"perm", AInts({0, 0})}}), 13, {TF({2, 2})});
      },
      [] {
        InferTypes(N("Gemm", {"a", "b"}), 13, {TF({2, 3}), TF({2, 3})});
      },
      [] {
        InferTypes(N("Softmax", {"a"}, {{"axis", AInt(3)}}), 13, {TF({2, 2})});
      },
      [] {
        InferTypes(N("Cast", {"a"}, {{"to", AInt(8)}}), 13, {TF({2})});
      },
      [] {
        InferTypes(N("Gelu", {"a"}, {{"approximate", AStr("fast")}}), 20, {TF({2})});
      },
      [] { InferTypes(N("Cast", {"a"}), 13, {TF({2})}); },
  };
  for (size_t i = 0; i < failing.size(); ++i) {
    e = ErrorOf(failing[i]);
    EXPECT_EQ(e.rfind("op '", 0), 0u) << i << ": " << e;
    EXPECT_TRUE(Has(e, "(node 'n', opset 13): ") || Has(e, "(node 'n', opset 20): ")) << i << ": " << e;
  }
}

TEST(OnnxErrors, EvaluateChecks) {
  Node conv = N("Conv", {"x", "w"});
  HostTensor x = F({1, 1, 3, 3}, std::vector<float>(9, 1.0f)), w = F({1, 1, 1, 1}, {2.0f});
  std::string e = ErrorOf([&] { Eval(conv, 13, {&x, &w}); });
  EXPECT_TRUE(Has(e, "has no host reference kernel")) << e;
  HostTensor a = F({2}, {1, 2});
  e = ErrorOf([&] { Eval(N("Add", {"a", "b"}), 13, {&a, nullptr}); });
  EXPECT_TRUE(Has(e, "has no value")) << e;
  HostTensor i = I64({2}, {1, 0});
  e = ErrorOf([&] { Eval(N("Div", {"a", "b"}), 13, {&i, &i}); });
  EXPECT_TRUE(Has(e, "integer division by zero")) << e;
  HostTensor data = F({3}, {1, 2, 3}), idx = I64({1}, {3});
  e = ErrorOf([&] { Eval(N("Gather", {"d", "i"}), 13, {&data, &idx}); });
  EXPECT_TRUE(Has(e, "index 3 is out of range for axis 0 of size 3")) << e;
  EXPECT_EQ(e.rfind("op 'Gather' (node 'n', opset 13): ", 0), 0u) << e;
}

// ---- elementwise and broadcasting ---------------------------------------------------------------

TEST(OnnxElementwise, ArithmeticBroadcasts) {
  HostTensor a = F({2, 3}, {1, 2, 3, 4, 5, 6}), row = F({3}, {10, 20, 30}), col = F({2, 1}, {100, 200});
  HostTensor s = F({}, {0.5f});
  EXPECT_EQ(InferConst(N("Add", {"a", "b"}), 13, {&a, &row})[0].dims, (Dims{2, 3}));
  ExpectNear(V<float>(Eval1(N("Add", {"a", "b"}), 13, {&a, &row})), {11, 22, 33, 14, 25, 36});
  ExpectNear(V<float>(Eval1(N("Sub", {"a", "b"}), 13, {&col, &row})), {90, 80, 70, 190, 180, 170});
  ExpectNear(V<float>(Eval1(N("Mul", {"a", "b"}), 13, {&a, &s})), {0.5f, 1, 1.5f, 2, 2.5f, 3});
  ExpectNear(V<float>(Eval1(N("Div", {"a", "b"}), 13, {&s, &a})), {0.5f, 0.25f, 1 / 6.f, 0.125f, 0.1f, 1 / 12.f});
  HostTensor x = F({2, 1, 3}, {1, 2, 3, 4, 5, 6}), y = F({1, 2, 1}, {10, 20});
  HostTensor z = Eval1(N("Add", {"a", "b"}), 13, {&x, &y});
  EXPECT_EQ(z.dims(), (Dims{2, 2, 3}));
  ExpectNear(V<float>(z), {11, 12, 13, 21, 22, 23, 14, 15, 16, 24, 25, 26});
  // Integer division truncates toward zero (like onnxruntime).
  HostTensor n = I32({4}, {-7, 7, -7, 7}), d = I32({4}, {2, -2, -2, 2});
  EXPECT_EQ(V<int32_t>(Eval1(N("Div", {"a", "b"}), 13, {&n, &d})), (std::vector<int32_t>{-3, -3, 3, 3}));
  HostTensor big = I64({1}, {std::numeric_limits<int64_t>::max()}), one = I64({1}, {1});
  EXPECT_EQ(V<int64_t>(Eval1(N("Add", {"a", "b"}), 13, {&big, &one}))[0], std::numeric_limits<int64_t>::min());
}

// The 8- and 16-bit and unsigned integers: arithmetic wraps at the type's
// width, unsigned division has no sign trick, a mean sees the true (not the
// wrapped) sum, and MatMul refuses what ONNX leaves to MatMulInteger.
TEST(OnnxElementwise, NarrowAndUnsignedIntegers) {
  HostTensor a8 = Make<int8_t>(DType::kInt8, {3}, {127, -128, -7}), b8 = Make<int8_t>(DType::kInt8, {3}, {1, -1, 2});
  EXPECT_EQ(V<int8_t>(Eval1(N("Add", {"a", "b"}), 14, {&a8, &b8})), (std::vector<int8_t>{-128, 127, -5}));
  EXPECT_EQ(V<int8_t>(Eval1(N("Div", {"a", "b"}), 14, {&a8, &b8})), (std::vector<int8_t>{127, -128, -3}));
  EXPECT_EQ(V<int8_t>(Eval1(N("Abs", {"a"}), 13, {&a8})), (std::vector<int8_t>{127, -128, 7}));  // |-128| wraps
  HostTensor u16 = Make<uint16_t>(DType::kUint16, {2}, {65535, 300});
  // 65535 * 65535 overflows a promoted int; it must wrap as uint16: 1.
  EXPECT_EQ(V<uint16_t>(Eval1(N("Mul", {"a", "b"}), 14, {&u16, &u16})), (std::vector<uint16_t>{1, 24464}));
  HostTensor u32 = Make<uint32_t>(DType::kUint32, {2}, {4000000000u, 7}), big = Make<uint32_t>(DType::kUint32, {2}, {4294967295u, 2});
  // Not the signed "/ -1" path: 4e9 / (2^32 - 1) is 0.
  EXPECT_EQ(V<uint32_t>(Eval1(N("Div", {"a", "b"}), 14, {&u32, &big})), (std::vector<uint32_t>{0, 3}));
  EXPECT_EQ(V<uint32_t>(Eval1(N("Sub", {"a", "b"}), 14, {&big, &u32})), (std::vector<uint32_t>{294967295u, 4294967291u}));
  HostTensor lt = Eval1(N("Less", {"a", "b"}), 13, {&u32, &big});
  EXPECT_EQ(V<uint8_t>(lt), (std::vector<uint8_t>{1, 0}));  // compared unsigned, not as negative ints
  HostTensor zero = Make<uint8_t>(DType::kUint8, {1}, {0}), one = Make<uint8_t>(DType::kUint8, {1}, {5});
  EXPECT_TRUE(Has(ErrorOf([&] { Eval1(N("Div", {"a", "b"}), 14, {&one, &zero}); }), "integer division by zero"));
  // ReduceMean of int8: (100 + 100 + 100) / 3, not the wrapped sum 44 / 3.
  HostTensor r8 = Make<int8_t>(DType::kInt8, {3}, {100, 100, 100});
  EXPECT_EQ(V<int8_t>(Eval1(N("ReduceMean", {"a"}, {{"keepdims", AInt(0)}}), 13, {&r8})), (std::vector<int8_t>{100}));
  EXPECT_EQ(V<int8_t>(Eval1(N("ReduceSum", {"a"}, {{"keepdims", AInt(0)}}), 11, {&r8})), (std::vector<int8_t>{44}));
  // Compared unsigned: 1.8e19 is not a negative int64.
  HostTensor u64 = Make<uint64_t>(DType::kUint64, {2}, {18000000000000000000ull, 3}),
             other = Make<uint64_t>(DType::kUint64, {2}, {1, 9223372036854775809ull});
  EXPECT_EQ(V<uint64_t>(Eval1(N("Max", {"a", "b"}), 13, {&u64, &other})),
            (std::vector<uint64_t>{18000000000000000000ull, 9223372036854775809ull}));
  // Mixed integer Pow: an unsigned exponent is never negative (3^(2^63) mod
  // 256 is 1: 3 has order 64 modulo 256), and an unsigned base is never -1
  // (1 / (2^64 - 1) truncates to 0).
  HostTensor three = Make<uint8_t>(DType::kUint8, {1}, {3}), e63 = Make<uint64_t>(DType::kUint64, {1}, {9223372036854775808ull});
  EXPECT_EQ(V<uint8_t>(Eval1(N("Pow", {"a", "b"}), 15, {&three, &e63})), (std::vector<uint8_t>{1}));
  HostTensor umax = Make<uint64_t>(DType::kUint64, {1}, {18446744073709551615ull}), minus1 = I64({1}, {-1});
  EXPECT_EQ(V<uint64_t>(Eval1(N("Pow", {"a", "b"}), 15, {&umax, &minus1})), (std::vector<uint64_t>{0}));
  // Gemm's float alpha in uint32: -1 is 2^32 - 1, so 2 * 3 * alpha wraps to -6.
  HostTensor ga = Make<uint32_t>(DType::kUint32, {1, 1}, {2}), gb = Make<uint32_t>(DType::kUint32, {1, 1}, {3});
  EXPECT_EQ(V<uint32_t>(Eval1(N("Gemm", {"a", "b"}, {{"alpha", AFloat(-1.0f)}}), 13, {&ga, &gb})), (std::vector<uint32_t>{4294967290u}));
  // Cast into uint64 keeps values past 2^63 instead of saturating at int64's
  // maximum, and saturates at its own maximum past 2^64.
  HostTensor d = D({2}, {1.5e19, 1e20});
  EXPECT_EQ(V<uint64_t>(Eval1(N("Cast", {"a"}, {{"to", AInt(13)}}), 13, {&d})),
            (std::vector<uint64_t>{15000000000000000000ull, 18446744073709551615ull}));
  // ReduceMax/Min read bool from opset 20; an empty set is false for max, true for min.
  HostTensor bools = B({2, 2}, {0, 1, 0, 0}), empty = B({0}, {});
  HostTensor axis1 = I64({1}, {1});
  EXPECT_EQ(V<uint8_t>(Eval1(N("ReduceMax", {"a", "axes"}, {{"keepdims", AInt(0)}}), 20, {&bools, &axis1})),
            (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(V<uint8_t>(Eval1(N("ReduceMin", {"a"}, {{"keepdims", AInt(0)}}), 20, {&empty})), (std::vector<uint8_t>{1}));
  EXPECT_TRUE(Has(ErrorOf([&] { InferTypes(N("ReduceMax", {"a"}), 18, {T(DType::kBool, {2})}); }), "dtype bool is not supported"));
  std::string e = ErrorOf([&] { InferTypes(N("MatMul", {"a", "b"}), 13, {T(DType::kInt8, {2, 2}), T(DType::kInt8, {2, 2})}); });
  EXPECT_TRUE(Has(e, "dtype int8 is not supported")) << e;
}

TEST(OnnxElementwise, RandomBroadcastsMatchNaiveIndexing) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 60; ++iter) {
    const size_t ra = rng() % 5, rb = rng() % 5, r = std::max(ra, rb);
    Dims out(r), da(ra), db(rb);
    for (auto& o : out) o = 1 + static_cast<int64_t>(rng() % 4);
    for (size_t i = 0; i < ra; ++i) da[i] = rng() % 3 == 0 ? 1 : out[r - ra + i];
    for (size_t i = 0; i < rb; ++i) db[i] = rng() % 3 == 0 ? 1 : out[r - rb + i];
    HostTensor a(DType::kFloat, da), b(DType::kFloat, db);
    for (int64_t i = 0; i < a.numel(); ++i) a.data<float>()[i] = static_cast<float>(i);
    for (int64_t i = 0; i < b.numel(); ++i) b.data<float>()[i] = static_cast<float>(1000 * i);
    HostTensor got = Eval1(N("Add", {"a", "b"}), 13, {&a, &b});
    Dims want_dims(r, 1);
    for (size_t i = 0; i < r; ++i) {
      const int64_t xa = i >= r - ra ? da[i - (r - ra)] : 1, xb = i >= r - rb ? db[i - (r - rb)] : 1;
      want_dims[i] = std::max(xa, xb);
    }
    ASSERT_EQ(got.dims(), want_dims);
    std::vector<int64_t> idx(r, 0);
    for (int64_t k = 0; k < got.numel(); ++k) {
      int64_t oa = 0, ob = 0;
      for (size_t i = 0; i < r; ++i) {
        if (i >= r - ra) oa = oa * da[i - (r - ra)] + (da[i - (r - ra)] == 1 ? 0 : idx[i]);
        if (i >= r - rb) ob = ob * db[i - (r - rb)] + (db[i - (r - rb)] == 1 ? 0 : idx[i]);
      }
      ASSERT_EQ(got.data<float>()[k], static_cast<float>(oa + 1000 * ob)) << "iter " << iter << " at " << k;
      for (size_t i = r; i-- > 0;) {
        if (++idx[i] < want_dims[i]) break;
        idx[i] = 0;
      }
    }
  }
}

TEST(OnnxElementwise, Pow) {
  HostTensor b = F({3}, {2, 3, 4}), e = F({1}, {2}), ei = I64({3}, {3, 0, -1}), bi = I32({3}, {2, -3, 5});
  ExpectNear(V<float>(Eval1(N("Pow", {"a", "b"}), 15, {&b, &e})), {4, 9, 16});
  HostTensor pf = Eval1(N("Pow", {"a", "b"}), 15, {&b, &ei});
  EXPECT_EQ(pf.dtype(), DType::kFloat);  // the base's type
  ExpectNear(V<float>(pf), {8, 1, 0.25f});
  HostTensor e32 = I32({3}, {3, 3, 0});
  EXPECT_EQ(V<int32_t>(Eval1(N("Pow", {"a", "b"}), 15, {&bi, &e32})), (std::vector<int32_t>{8, -27, 1}));
  HostTensor half = F({1}, {0.5f}), sq = I64({2}, {16, 10});
  EXPECT_EQ(V<int64_t>(Eval1(N("Pow", {"a", "b"}), 15, {&sq, &half})), (std::vector<int64_t>{4, 3}));
}

TEST(OnnxElementwise, CompareAndLogic) {
  HostTensor a = F({3}, {1, 2, 3}), b = F({1}, {2});
  for (auto [op, want] : std::vector<std::pair<std::string, std::vector<uint8_t>>>{{"Equal", {0, 1, 0}},
                                                                                   {"Less", {1, 0, 0}},
                                                                                   {"Greater", {0, 0, 1}},
                                                                                   {"LessOrEqual", {1, 1, 0}},
                                                                                   {"GreaterOrEqual", {0, 1, 1}}}) {
    HostTensor r = Eval1(N(op, {"a", "b"}), 16, {&a, &b});
    EXPECT_EQ(r.dtype(), DType::kBool) << op;
    EXPECT_EQ(V<uint8_t>(r), want) << op;
  }
  HostTensor i = I64({2, 1}, {5, 6}), j = I64({2}, {5, 6});
  HostTensor eq = Eval1(N("Equal", {"a", "b"}), 13, {&i, &j});
  EXPECT_EQ(eq.dims(), (Dims{2, 2}));
  EXPECT_EQ(V<uint8_t>(eq), (std::vector<uint8_t>{1, 0, 0, 1}));
  HostTensor p = B({4}, {0, 0, 1, 1}), q = B({4}, {0, 1, 0, 1});
  EXPECT_EQ(V<uint8_t>(Eval1(N("Equal", {"a", "b"}), 13, {&p, &q})), (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_EQ(V<uint8_t>(Eval1(N("And", {"a", "b"}), 13, {&p, &q})), (std::vector<uint8_t>{0, 0, 0, 1}));
  EXPECT_EQ(V<uint8_t>(Eval1(N("Or", {"a", "b"}), 13, {&p, &q})), (std::vector<uint8_t>{0, 1, 1, 1}));
  EXPECT_EQ(V<uint8_t>(Eval1(N("Not", {"a"}), 13, {&p})), (std::vector<uint8_t>{1, 1, 0, 0}));
  EXPECT_THROW(InferTypes(N("Not", {"a"}), 13, {TF({2})}), OnnxError);
}

TEST(OnnxElementwise, VariadicSumMinMax) {
  HostTensor a = F({2}, {1, 2}), b = F({1}, {10}), c = F({2, 1}, {100, 200});
  HostTensor s = Eval1(N("Sum", {"a", "b", "c"}), 13, {&a, &b, &c});
  EXPECT_EQ(s.dims(), (Dims{2, 2}));
  ExpectNear(V<float>(s), {111, 112, 211, 212});
  HostTensor m = F({3}, {1, NAN, 5}), n = F({3}, {3, 0, 4});
  std::vector<float> mn = V<float>(Eval1(N("Min", {"a", "b"}), 13, {&m, &n}));
  EXPECT_EQ(mn[0], 1.0f);
  EXPECT_TRUE(std::isnan(mn[1]));
  EXPECT_EQ(mn[2], 4.0f);
  HostTensor i = I32({3}, {1, 9, -2}), j = I32({1}, {3});
  EXPECT_EQ(V<int32_t>(Eval1(N("Max", {"a", "b"}), 13, {&i, &j})), (std::vector<int32_t>{3, 9, 3}));
  EXPECT_EQ(V<int32_t>(Eval1(N("Max", {"a"}), 13, {&i})), (std::vector<int32_t>{1, 9, -2}));
}

TEST(OnnxElementwise, Activations) {
  HostTensor x = F({5}, {-4, -1, 0, 1, 4});
  ExpectNear(V<float>(Eval1(N("Relu", {"x"}), 14, {&x})), {0, 0, 0, 1, 4});
  ExpectNear(V<float>(Eval1(N("LeakyRelu", {"x"}, {{"alpha", AFloat(0.1f)}}), 13, {&x})), {-0.4f, -0.1f, 0, 1, 4});
  ExpectNear(V<float>(Eval1(N("LeakyRelu", {"x"}), 13, {&x})), {-0.04f, -0.01f, 0, 1, 4});
  ExpectNear(V<float>(Eval1(N("Sigmoid", {"x"}), 13, {&x})), {0.0179862f, 0.2689414f, 0.5f, 0.7310586f, 0.9820138f});
  ExpectNear(V<float>(Eval1(N("Tanh", {"x"}), 13, {&x})), {-0.9993293f, -0.7615942f, 0, 0.7615942f, 0.9993293f});
  ExpectNear(V<float>(Eval1(N("HardSigmoid", {"x"}), 13, {&x})), {0, 0.3f, 0.5f, 0.7f, 1});
  ExpectNear(V<float>(Eval1(N("HardSwish", {"x"}), 14, {&x})), {0, -1.0f / 3, 0, 2.0f / 3, 4});
  ExpectNear(V<float>(Eval1(N("Erf", {"x"}), 13, {&x})), {-1, -0.8427008f, 0, 0.8427008f, 1});
  ExpectNear(V<float>(Eval1(N("Gelu", {"x"}), 20, {&x})), {-0.0001267f, -0.1586553f, 0, 0.8413447f, 3.9998733f});
  ExpectNear(V<float>(Eval1(N("Gelu", {"x"}, {{"approximate", AStr("tanh")}}), 20, {&x})),
             {-0.0000711f, -0.1588080f, 0, 0.8411920f, 3.9999289f});
  ExpectNear(V<float>(Eval1(N("Neg", {"x"}), 13, {&x})), {4, 1, 0, -1, -4});
  ExpectNear(V<float>(Eval1(N("Abs", {"x"}), 13, {&x})), {4, 1, 0, 1, 4});
  HostTensor p = F({3}, {0.25f, 4, 2.5f});
  ExpectNear(V<float>(Eval1(N("Sqrt", {"x"}), 13, {&p})), {0.5f, 2, 1.5811388f});
  ExpectNear(V<float>(Eval1(N("Reciprocal", {"x"}), 13, {&p})), {4, 0.25f, 0.4f});
  ExpectNear(V<float>(Eval1(N("Exp", {"x"}), 13, {&p})), {1.2840254f, 54.59815f, 12.182494f}, 1e-4f);
  ExpectNear(V<float>(Eval1(N("Log", {"x"}), 13, {&p})), {-1.3862944f, 1.3862944f, 0.9162907f});
  HostTensor q = F({4}, {-1.5f, -0.5f, 0.5f, 1.5f});
  ExpectNear(V<float>(Eval1(N("Floor", {"x"}), 13, {&q})), {-2, -1, 0, 1});
  ExpectNear(V<float>(Eval1(N("Ceil", {"x"}), 13, {&q})), {-1, -0, 1, 2});
  HostTensor i = I64({3}, {-3, 0, 5});
  EXPECT_EQ(V<int64_t>(Eval1(N("Neg", {"x"}), 13, {&i})), (std::vector<int64_t>{3, 0, -5}));
  EXPECT_EQ(V<int64_t>(Eval1(N("Relu", {"x"}), 14, {&i})), (std::vector<int64_t>{0, 0, 5}));
  HostTensor dd = D({2}, {-1, 2});
  EXPECT_EQ(V<double>(Eval1(N("Sigmoid", {"x"}), 13, {&dd}))[1], 1.0 / (1.0 + std::exp(-2.0)));
}

TEST(OnnxElementwise, ClipAttributesBeforeOpset11InputsAfter) {
  HostTensor x = F({4}, {-1, 3, 7, NAN});
  std::vector<float> r6 = V<float>(Eval1(N("Clip", {"x"}, {{"min", AFloat(0)}, {"max", AFloat(6)}}), 7, {&x}));
  EXPECT_EQ(r6[0], 0);
  EXPECT_EQ(r6[1], 3);
  EXPECT_EQ(r6[2], 6);
  EXPECT_TRUE(std::isnan(r6[3]));
  std::vector<float> only_max = V<float>(Eval1(N("Clip", {"x"}, {{"max", AFloat(2)}}), 10, {&x}));
  EXPECT_EQ(only_max[0], -1);
  EXPECT_EQ(only_max[2], 2);
  // Opset 11: the attributes are gone; the optional inputs bound ('' = omitted min).
  HostTensor hi = F({}, {6});
  std::vector<float> r11 = V<float>(Eval1(N("Clip", {"x", "", "hi"}), 11, {&x, nullptr, &hi}));
  EXPECT_EQ(r11[0], -1);
  EXPECT_EQ(r11[1], 3);
  EXPECT_EQ(r11[2], 6);
  EXPECT_TRUE(std::isnan(r11[3]));
  // ... and the attributes are ignored at opset 11.
  std::vector<float> ign = V<float>(Eval1(N("Clip", {"x"}, {{"min", AFloat(0)}}), 11, {&x}));
  EXPECT_EQ(ign[0], -1);
  HostTensor xi = I64({3}, {-5, 5, 50}), lo = I64({}, {0}), top = I64({}, {10});
  EXPECT_EQ(V<int64_t>(Eval1(N("Clip", {"x", "l", "h"}), 12, {&xi, &lo, &top})), (std::vector<int64_t>{0, 5, 10}));
  std::string e = ErrorOf([&] { InferTypes(N("Clip", {"x", "l"}), 12, {TF({2}), TF({2})}); });
  EXPECT_TRUE(Has(e, "input 'min' must be a scalar")) << e;
}

TEST(OnnxElementwise, WhereAndExpand) {
  HostTensor c = B({2, 1}, {1, 0}), x = F({3}, {1, 2, 3}), y = F({}, {0});
  HostTensor w = Eval1(N("Where", {"c", "x", "y"}), 16, {&c, &x, &y});
  EXPECT_EQ(w.dims(), (Dims{2, 3}));
  ExpectNear(V<float>(w), {1, 2, 3, 0, 0, 0});
  HostTensor xi = I64({3}, {1, 2, 3}), yi = I64({1}, {-1});
  EXPECT_EQ(V<int64_t>(Eval1(N("Where", {"c", "x", "y"}), 16, {&c, &xi, &yi})),
            (std::vector<int64_t>{1, 2, 3, -1, -1, -1}));
  EXPECT_THROW(InferTypes(N("Where", {"c", "x", "y"}), 16, {T(DType::kFloat, {1}), TF({1}), TF({1})}), OnnxError);

  HostTensor v = F({3, 1}, {1, 2, 3}), shape = I64({3}, {2, 1, 2});
  HostTensor e = Eval1(N("Expand", {"x", "s"}), 13, {&v, &shape});
  EXPECT_EQ(e.dims(), (Dims{2, 3, 2}));  // bidirectional: [3,1] with [2,1,2]
  ExpectNear(V<float>(e), {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  HostTensor small = I64({1}, {1});
  EXPECT_EQ(Eval1(N("Expand", {"x", "s"}), 13, {&v, &small}).dims(), (Dims{3, 1}));
  HostTensor bad = I64({1}, {2});
  std::string err = ErrorOf([&] { InferConst(N("Expand", {"x", "s"}), 13, {&x, &bad}); });
  EXPECT_TRUE(Has(err, "inputs [3] and [2] cannot be broadcast")) << err;
}

TEST(OnnxElementwise, CastConversions) {
  auto cast = [](const HostTensor& x, DType to) {
    return Eval1(N("Cast", {"x"}, {{"to", AInt(static_cast<int64_t>(to))}}), 13, {&x});
  };
  HostTensor f = F({5}, {1.7f, -1.7f, 300.5f, 0.0f, NAN});
  EXPECT_EQ(V<int32_t>(cast(f, DType::kInt32)), (std::vector<int32_t>{1, -1, 300, 0, 0}));
  EXPECT_EQ(V<uint8_t>(cast(f, DType::kBool)), (std::vector<uint8_t>{1, 1, 1, 0, 1}));
  EXPECT_EQ(V<int64_t>(cast(f, DType::kInt64))[2], 300);
  HostTensor u = F({2}, {1.7f, 255.9f});
  EXPECT_EQ(V<uint8_t>(cast(u, DType::kUint8)), (std::vector<uint8_t>{1, 255}));
  HostTensor b = B({2}, {1, 0});
  ExpectNear(V<float>(cast(b, DType::kFloat)), {1, 0});
  HostTensor i = I64({2}, {300, -1});
  EXPECT_EQ(V<int8_t>(cast(i, DType::kInt8)), (std::vector<int8_t>{44, -1}));  // wraps
  EXPECT_EQ(V<double>(cast(i, DType::kDouble)), (std::vector<double>{300, -1}));
  EXPECT_EQ(cast(i, DType::kDouble).dtype(), DType::kDouble);
  // float16, round to nearest even.
  HostTensor h = F({7}, {1.0f, 65504.0f, 65520.0f, 1e-8f, 5.9604645e-8f, 0.1f, -2.0f});
  EXPECT_EQ(V<uint16_t>(cast(h, DType::kFloat16)),
            (std::vector<uint16_t>{0x3c00, 0x7bff, 0x7c00, 0x0000, 0x0001, 0x2e66, 0xc000}));
  HostTensor hb = Make<uint16_t>(DType::kFloat16, {4}, {0x3555, 0x0001, 0xfc00, 0x7bff});
  std::vector<float> hf = V<float>(cast(hb, DType::kFloat));
  EXPECT_EQ(hf[0], 0.333251953125f);
  EXPECT_EQ(hf[1], 5.9604644775390625e-8f);
  EXPECT_EQ(hf[2], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(hf[3], 65504.0f);
  // bfloat16: ties go to even.
  HostTensor bf = F({3}, {1.00390625f, 1.01171875f, 1.0f});
  EXPECT_EQ(V<uint16_t>(cast(bf, DType::kBFloat16)), (std::vector<uint16_t>{0x3f80, 0x3f82, 0x3f80}));
  std::string e = ErrorOf([&] { cast(f, DType::kString); });
  EXPECT_TRUE(Has(e, "dtype string is not supported as the target")) << e;
}

// ---- linear algebra and normalisation -------------------------------------------------------------

TEST(OnnxLinear, MatMulNumpySemantics) {
  HostTensor a = F({2, 3}, {1, 2, 3, 4, 5, 6}), v3 = F({3}, {1, 1, 1}), v2 = F({2}, {1, 2});
  HostTensor b = F({3, 2}, {1, 2, 3, 4, 5, 6});
  HostTensor ab = Eval1(N("MatMul", {"a", "b"}), 13, {&a, &b});
  EXPECT_EQ(ab.dims(), (Dims{2, 2}));
  ExpectNear(V<float>(ab), {22, 28, 49, 64});
  HostTensor mv = Eval1(N("MatMul", {"a", "b"}), 13, {&a, &v3});
  EXPECT_EQ(mv.dims(), Dims{2});
  ExpectNear(V<float>(mv), {6, 15});
  HostTensor vm = Eval1(N("MatMul", {"a", "b"}), 13, {&v2, &a});
  EXPECT_EQ(vm.dims(), Dims{3});
  ExpectNear(V<float>(vm), {9, 12, 15});
  HostTensor w = F({3}, {4, 5, 6}), dot = Eval1(N("MatMul", {"a", "b"}), 13, {&v3, &w});
  EXPECT_EQ(dot.dims(), Dims{});
  ExpectNear(V<float>(dot), {15});
  // Batch broadcasting: [2,1,1,2] x [3,2,1] -> [2,3,1,1].
  HostTensor ba = F({2, 1, 1, 2}, {1, 2, 3, 4}), bb = F({3, 2, 1}, {0, 1, 1, 1, 2, 1});
  HostTensor bc = Eval1(N("MatMul", {"a", "b"}), 13, {&ba, &bb});
  EXPECT_EQ(bc.dims(), (Dims{2, 3, 1, 1}));
  ExpectNear(V<float>(bc), {2, 3, 4, 4, 7, 10});
  EXPECT_EQ(OutDims(N("MatMul", {"a", "b"}), 13, {TF({5, 1, 4, 8}), TF({3, 8, 2})}), (Dims{5, 3, 4, 2}));
  EXPECT_EQ(OutDims(N("MatMul", {"a", "b"}), 13, {TF({8}), TF({7, 8, 2})}), (Dims{7, 2}));
  HostTensor ia = I32({1, 2}, {2, 3}), ib = I32({2, 1}, {4, 5});
  EXPECT_EQ(V<int32_t>(Eval1(N("MatMul", {"a", "b"}), 13, {&ia, &ib})), std::vector<int32_t>{23});
}

TEST(OnnxLinear, Gemm) {
  HostTensor a = F({2, 2}, {1, 2, 3, 4}), b = F({2, 2}, {5, 6, 7, 8}), c = F({2}, {1, 2}), cs = F({}, {10});
  ExpectNear(V<float>(Eval1(N("Gemm", {"a", "b"}), 13, {&a, &b})), {19, 22, 43, 50});
  ExpectNear(V<float>(Eval1(N("Gemm", {"a", "b"}, {{"transA", AInt(1)}}), 13, {&a, &b})), {26, 30, 38, 44});
  ExpectNear(V<float>(Eval1(N("Gemm", {"a", "b"}, {{"transB", AInt(1)}}), 13, {&a, &b})), {17, 23, 39, 53});
  ExpectNear(V<float>(Eval1(N("Gemm", {"a", "b", "c"}, {{"alpha", AFloat(2)}}), 13, {&a, &b, &c})), {39, 46, 87, 102});
  ExpectNear(V<float>(Eval1(N("Gemm", {"a", "b", "c"}, {{"beta", AFloat(0.5f)}}), 13, {&a, &b, &cs})),
             {24, 27, 48, 55});
  EXPECT_EQ(OutDims(N("Gemm", {"a", "b", "c"}, {{"transA", AInt(1)}, {"transB", AInt(1)}}), 13,
                    {TF({3, 5}), TF({7, 3}), TF({5, 1})}),
            (Dims{5, 7}));
  std::string e = ErrorOf([&] { InferTypes(N("Gemm", {"a", "b", "c"}), 13, {TF({2, 3}), TF({3, 4}), TF({3})}); });
  EXPECT_TRUE(Has(e, "input 'C' [3] cannot be broadcast to [2,4]")) << e;
}

TEST(OnnxNorm, BatchNormalizationInferenceOnly) {
  HostTensor x = F({1, 2, 1, 2}, {1, 2, 3, 4}), scale = F({2}, {1, 2}), bias = F({2}, {0, 1});
  HostTensor mean = F({2}, {1, 3}), var = F({2}, {4, 1});
  Node bn = N("BatchNormalization", {"x", "s", "b", "m", "v"}, {{"epsilon", AFloat(0)}});
  ExpectNear(V<float>(Eval1(bn, 15, {&x, &scale, &bias, &mean, &var})), {0, 0.5f, 1, 3});
  Node opt_outs = N("BatchNormalization", {"x", "s", "b", "m", "v"}, {{"epsilon", AFloat(0)}}, {"y", "", ""});
  auto outs = Eval(opt_outs, 9, {&x, &scale, &bias, &mean, &var});
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_EQ(outs[1].raw(), nullptr);
  std::string e = ErrorOf([&] {
    InferConst(N("BatchNormalization", {"x", "s", "b", "m", "v"}, {{"training_mode", AInt(1)}}), 15,
               {&x, &scale, &bias, &mean, &var});
  });
  EXPECT_TRUE(Has(e, "training_mode=1 is not supported")) << e;
  e = ErrorOf([&] {
    InferConst(N("BatchNormalization", {"x", "s", "b", "m", "v"}, {}, {"y", "running_mean"}), 9,
               {&x, &scale, &bias, &mean, &var});
  });
  EXPECT_TRUE(Has(e, "training outputs")) << e;
  HostTensor bad = F({3}, {1, 1, 1});
  e = ErrorOf([&] { InferConst(bn, 15, {&x, &bad, &bias, &mean, &var}); });
  EXPECT_TRUE(Has(e, "input 'scale' must be [2]")) << e;
}

TEST(OnnxNorm, SoftmaxCoercesTo2DBeforeOpset13) {
  HostTensor x = F({1, 2, 2}, {1, 2, 3, 4});
  // Opset 11, default axis 1: one softmax over the 4 elements of [1, 2*2].
  const float z = std::exp(1.f) + std::exp(2.f) + std::exp(3.f) + std::exp(4.f);
  ExpectNear(V<float>(Eval1(N("Softmax", {"x"}), 11, {&x})),
             {std::exp(1.f) / z, std::exp(2.f) / z, std::exp(3.f) / z, std::exp(4.f) / z});
  // Opset 13, default axis -1: softmax over each pair.
  ExpectNear(V<float>(Eval1(N("Softmax", {"x"}), 13, {&x})), {0.2689414f, 0.7310586f, 0.2689414f, 0.7310586f});
  // Opset 13 with axis 1: over the middle axis (stride 2).
  ExpectNear(V<float>(Eval1(N("Softmax", {"x"}, {{"axis", AInt(1)}}), 13, {&x})),
             {0.1192029f, 0.1192029f, 0.8807971f, 0.8807971f});
  ExpectNear(V<float>(Eval1(N("LogSoftmax", {"x"}), 13, {&x})), {-1.3132616f, -0.3132616f, -1.3132616f, -0.3132616f});
  ExpectNear(V<float>(Eval1(N("LogSoftmax", {"x"}, {{"axis", AInt(0)}}), 11, {&x})),
             {1 - std::log(z), 2 - std::log(z), 3 - std::log(z), 4 - std::log(z)});
  HostTensor big = F({2}, {1000, 1000});
  ExpectNear(V<float>(Eval1(N("Softmax", {"x"}), 13, {&big})), {0.5f, 0.5f});
}

TEST(OnnxNorm, LayerNormalization) {
  HostTensor x = F({2, 4}, {1, 2, 3, 4, 2, 4, 2, 4}), g = F({4}, {1, 1, 2, 2}), b = F({4}, {0, 0, 0, 1});
  Node ln = N("LayerNormalization", {"x", "g", "b"}, {{"epsilon", AFloat(0)}}, {"y", "mean", "inv"});
  auto outs = Eval(ln, 17, {&x, &g, &b});
  ASSERT_EQ(outs.size(), 3u);
  const float k = 1.0f / std::sqrt(1.25f);
  ExpectNear(V<float>(outs[0]), {-1.5f * k, -0.5f * k, 2 * 0.5f * k, 2 * 1.5f * k + 1, -1, 1, -2, 3});
  EXPECT_EQ(outs[1].dims(), (Dims{2, 1}));
  ExpectNear(V<float>(outs[1]), {2.5f, 3.0f});
  EXPECT_NEAR(V<float>(outs[2])[1], 1.0f, 1e-6f);
  EXPECT_EQ(outs[2].dtype(), DType::kFloat);
  EXPECT_NEAR(V<float>(outs[2])[0], k, 1e-5f);
  // axis 0 normalises the whole tensor; no bias; the optional outputs omitted.
  HostTensor g8 = F({2, 4}, std::vector<float>(8, 1.0f));
  Node all = N("LayerNormalization", {"x", "g"}, {{"axis", AInt(0)}, {"epsilon", AFloat(0)}}, {"y", "", ""});
  outs = Eval(all, 17, {&x, &g8});
  EXPECT_EQ(outs[1].raw(), nullptr);
  std::vector<float> y = V<float>(outs[0]);
  float sum = 0;
  for (float v : y) sum += v;
  EXPECT_NEAR(sum, 0.0f, 1e-5f);
  auto types = InferTypes(ln, 17, {TF({3, 5, 8}), TF({8}), TF({8})});
  EXPECT_EQ(types[0].dims, (Dims{3, 5, 8}));
  EXPECT_EQ(types[1].dims, (Dims{3, 5, 1}));
  std::string e = ErrorOf([&] { InferTypes(ln, 17, {TF({3, 5, 8}), TF({5}), TF({8})}); });
  EXPECT_TRUE(Has(e, "cannot be broadcast to the normalized shape [8]")) << e;
}

// ---- reductions --------------------------------------------------------------------------

TEST(OnnxReduce, AxesAttributeVersusInput) {
  HostTensor x = F({2, 2}, {1, 2, 3, 4}), ax0 = I64({1}, {0}), axm1 = I64({1}, {-1});
  // ReduceSum: attribute before 13, input from 13.
  HostTensor s11 = Eval1(N("ReduceSum", {"x"}, {{"axes", AInts({0})}, {"keepdims", AInt(0)}}), 11, {&x});
  EXPECT_EQ(s11.dims(), Dims{2});
  ExpectNear(V<float>(s11), {4, 6});
  HostTensor s13 = Eval1(N("ReduceSum", {"x", "a"}, {{"keepdims", AInt(0)}}), 13, {&x, &ax0});
  ExpectNear(V<float>(s13), {4, 6});
  std::string e = ErrorOf([&] { InferConst(N("ReduceSum", {"x", "a"}), 11, {&x, &ax0}); });
  EXPECT_TRUE(Has(e, "has 2 inputs, at most 1 expected")) << e;
  HostTensor all = Eval1(N("ReduceSum", {"x"}), 13, {&x});
  EXPECT_EQ(all.dims(), (Dims{1, 1}));
  ExpectNear(V<float>(all), {10});
  HostTensor noop = Eval1(N("ReduceSum", {"x"}, {{"noop_with_empty_axes", AInt(1)}}), 13, {&x});
  EXPECT_EQ(noop.dims(), (Dims{2, 2}));
  ExpectNear(V<float>(noop), {1, 2, 3, 4});
  // ReduceMean: attribute until 17, input from 18.
  HostTensor m13 = Eval1(N("ReduceMean", {"x"}, {{"axes", AInts({1})}}), 13, {&x});
  EXPECT_EQ(m13.dims(), (Dims{2, 1}));
  ExpectNear(V<float>(m13), {1.5f, 3.5f});
  e = ErrorOf([&] { InferConst(N("ReduceMean", {"x", "a"}), 13, {&x, &axm1}); });
  EXPECT_TRUE(Has(e, "has 2 inputs")) << e;
  HostTensor m18 = Eval1(N("ReduceMean", {"x", "a"}, {{"keepdims", AInt(0)}}), 18, {&x, &axm1});
  EXPECT_EQ(m18.dims(), Dims{2});
  ExpectNear(V<float>(m18), {1.5f, 3.5f});
  HostTensor mx = F({2, 2}, {1, 5, 3, 4});
  ExpectNear(V<float>(Eval1(N("ReduceMax", {"x"}, {{"axes", AInts({0})}}), 13, {&mx})), {3, 5});
  ExpectNear(V<float>(Eval1(N("ReduceMin", {"x", "a"}), 18, {&mx, &axm1})), {1, 3});
  HostTensor ix = I64({2, 3}, {1, 2, 3, 4, 5, 7});
  EXPECT_EQ(V<int64_t>(Eval1(N("ReduceMean", {"x"}, {{"axes", AInts({1})}}), 13, {&ix})), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(OutDims(N("ReduceMean", {"x"}, {{"axes", AInts({-1, 1})}, {"keepdims", AInt(0)}}), 13, {TF({2, 3, 4, 5})}),
            (Dims{2, 4}));
  e = ErrorOf([&] { InferTypes(N("ReduceMean", {"x"}, {{"axes", AInts({1, -2})}}), 13, {TF({2, 3, 4})}); });
  EXPECT_TRUE(Has(e, "axis 1 is listed twice")) << e;
}

// ---- data movement -------------------------------------------------------------------------

TEST(OnnxData, ConcatFlattenIdentity) {
  HostTensor a = F({2, 1}, {1, 2}), b = F({2, 2}, {3, 4, 5, 6});
  HostTensor c = Eval1(N("Concat", {"a", "b"}, {{"axis", AInt(-1)}}), 13, {&a, &b});
  EXPECT_EQ(c.dims(), (Dims{2, 3}));
  ExpectNear(V<float>(c), {1, 3, 4, 2, 5, 6});
  HostTensor r = F({1, 2}, {7, 8});
  ExpectNear(V<float>(Eval1(N("Concat", {"a", "b", "c"}, {{"axis", AInt(0)}}), 13, {&b, &r, &r})),
             {3, 4, 5, 6, 7, 8, 7, 8});
  EXPECT_THROW(InferTypes(N("Concat", {"a", "b"}), 13, {TF({2}), TF({2})}), OnnxError);  // axis required
  EXPECT_EQ(OutDims(N("Flatten", {"x"}), 13, {TF({2, 3, 4})}), (Dims{2, 12}));
  EXPECT_EQ(OutDims(N("Flatten", {"x"}, {{"axis", AInt(0)}}), 13, {TF({2, 3, 4})}), (Dims{1, 24}));
  EXPECT_EQ(OutDims(N("Flatten", {"x"}, {{"axis", AInt(-1)}}), 13, {TF({2, 3, 4})}), (Dims{6, 4}));
  EXPECT_EQ(OutDims(N("Flatten", {"x"}, {{"axis", AInt(3)}}), 13, {TF({2, 3, 4})}), (Dims{24, 1}));
  EXPECT_THROW(OutDims(N("Flatten", {"x"}, {{"axis", AInt(4)}}), 13, {TF({2, 3, 4})}), OnnxError);
  HostTensor f = Eval1(N("Flatten", {"x"}), 13, {&b});
  EXPECT_EQ(f.dims(), (Dims{2, 2}));
  HostTensor id = Eval1(N("Identity", {"x"}), 13, {&b});
  EXPECT_NE(id.raw(), b.raw());
  ExpectNear(V<float>(id), {3, 4, 5, 6});
}

TEST(OnnxData, ReshapeZeroAndMinusOne) {
  Node r = N("Reshape", {"x", "s"});
  auto dims = [&](Dims in, std::vector<int64_t> shape, int64_t opset = 13, Node node = Node()) {
    HostTensor s = I64({static_cast<int64_t>(shape.size())}, shape);
    return OutDims(node.op_type.empty() ? r : node, opset, {TF(in), T(DType::kInt64, s.dims())}, {nullptr, &s});
  };
  EXPECT_EQ(dims({2, 3, 4}, {0, -1}), (Dims{2, 12}));
  EXPECT_EQ(dims({2, 3, 4}, {0, 0, -1}), (Dims{2, 3, 4}));
  EXPECT_EQ(dims({2, 3, 4}, {-1}), Dims{24});
  EXPECT_EQ(dims({2, 3, 4}, {4, 0, 2}), (Dims{4, 3, 2}));  // 0 copies the input's dim 1
  EXPECT_EQ(dims({2, 3, 4}, {-1, 2}), (Dims{12, 2}));
  Node az = N("Reshape", {"x", "s"}, {{"allowzero", AInt(1)}});
  EXPECT_EQ(dims({0, 3}, {3, 0}, 14, az), (Dims{3, 0}));  // allowzero: 0 is a real zero
  // Without allowzero the 0 copies dim 1 (3): [3,3] has 9 elements, not 0.
  std::string e = ErrorOf([&] { dims({0, 3}, {3, 0}, 13); });
  EXPECT_TRUE(Has(e, "cannot reshape [0,3] (0 elements) to [3,3] (9 elements)")) << e;
  EXPECT_THROW(dims({2, 3, 4}, {-1, -1}), OnnxError);
  EXPECT_THROW(dims({2, 3, 4}, {5, 5}), OnnxError);
  EXPECT_THROW(dims({2, 3, 4}, {-1, 5}), OnnxError);
  EXPECT_THROW(dims({2, 3, 4}, {-2, 12}), OnnxError);
  HostTensor x = F({2, 3}, {1, 2, 3, 4, 5, 6}), s = I64({2}, {3, -1});
  HostTensor y = Eval1(r, 13, {&x, &s});
  EXPECT_EQ(y.dims(), (Dims{3, 2}));
  ExpectNear(V<float>(y), {1, 2, 3, 4, 5, 6});
}

TEST(OnnxData, TransposeDefaultReverses) {
  EXPECT_EQ(OutDims(N("Transpose", {"x"}), 13, {TF({2, 3, 4})}), (Dims{4, 3, 2}));
  HostTensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  ExpectNear(V<float>(Eval1(N("Transpose", {"x"}), 13, {&x})), {1, 4, 2, 5, 3, 6});
  HostTensor x3 = F({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  HostTensor t = Eval1(N("Transpose", {"x"}, {{"perm", AInts({1, 2, 0})}}), 13, {&x3});
  EXPECT_EQ(t.dims(), (Dims{2, 2, 2}));
  ExpectNear(V<float>(t), {0, 4, 1, 5, 2, 6, 3, 7});
  HostTensor b = B({1, 3}, {1, 0, 1});
  EXPECT_EQ(V<uint8_t>(Eval1(N("Transpose", {"x"}), 13, {&b})), (std::vector<uint8_t>{1, 0, 1}));
}

TEST(OnnxData, SqueezeUnsqueezeAttributeVersusInput) {
  // Before 13 the axes are an attribute; from 13 an input.
  EXPECT_EQ(OutDims(N("Squeeze", {"x"}), 11, {TF({1, 3, 1})}), Dims{3});
  EXPECT_EQ(OutDims(N("Squeeze", {"x"}, {{"axes", AInts({-1})}}), 11, {TF({1, 3, 1})}), (Dims{1, 3}));
  HostTensor a0 = I64({1}, {0});
  EXPECT_EQ(OutDims(N("Squeeze", {"x", "a"}), 13, {TF({1, 3, 1}), T(DType::kInt64, {1})}, {nullptr, &a0}),
            (Dims{3, 1}));
  EXPECT_EQ(OutDims(N("Squeeze", {"x"}), 13, {TF({1, 3, 1})}), Dims{3});
  std::string e = ErrorOf([&] { OutDims(N("Squeeze", {"x"}, {{"axes", AInts({1})}}), 11, {TF({1, 3, 1})}); });
  EXPECT_TRUE(Has(e, "cannot squeeze axis 1 of size 3")) << e;

  EXPECT_EQ(OutDims(N("Unsqueeze", {"x"}, {{"axes", AInts({0, -1})}}), 11, {TF({3})}), (Dims{1, 3, 1}));
  HostTensor a1 = I64({1}, {1});
  EXPECT_EQ(OutDims(N("Unsqueeze", {"x", "a"}), 13, {TF({2, 3}), T(DType::kInt64, {1})}, {nullptr, &a1}),
            (Dims{2, 1, 3}));
  e = ErrorOf([&] { OutDims(N("Unsqueeze", {"x"}, {{"axes", AInts({0})}}), 13, {TF({3})}); });
  EXPECT_TRUE(Has(e, "input 'axes' is required")) << e;
  e = ErrorOf([&] { OutDims(N("Unsqueeze", {"x"}, {{"axes", AInts({0, 0})}}), 11, {TF({3})}); });
  EXPECT_TRUE(Has(e, "twice")) << e;
  HostTensor x = F({2}, {1, 2}), ax = I64({2}, {0, 2});
  HostTensor u = Eval1(N("Unsqueeze", {"x", "a"}), 13, {&x, &ax});
  EXPECT_EQ(u.dims(), (Dims{1, 2, 1}));
  ExpectNear(V<float>(u), {1, 2});
}

TEST(OnnxData, SliceNegativeStepsAndClamping) {
  HostTensor x = F({10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  auto slice = [&](std::vector<int64_t> s, std::vector<int64_t> e, std::vector<int64_t> st) {
    HostTensor ts = I64({static_cast<int64_t>(s.size())}, s), te = I64({static_cast<int64_t>(e.size())}, e);
    HostTensor tst = I64({static_cast<int64_t>(st.size())}, st);
    return V<float>(Eval1(N("Slice", {"x", "s", "e", "", "st"}), 13, {&x, &ts, &te, nullptr, &tst}));
  };
  ExpectNear(slice({8}, {2}, {-2}), {8, 6, 4});
  ExpectNear(slice({-1}, {std::numeric_limits<int64_t>::min()}, {-1}), {9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  ExpectNear(slice({20}, {-100}, {-3}), {9, 6, 3, 0});
  ExpectNear(slice({-3}, {std::numeric_limits<int64_t>::max()}, {1}), {7, 8, 9});
  ExpectNear(slice({2}, {8}, {4}), {2, 6});
  EXPECT_TRUE(slice({5}, {5}, {1}).empty());
  EXPECT_TRUE(slice({2}, {5}, {-1}).empty());
  std::string err = ErrorOf([&] { slice({0}, {5}, {0}); });
  EXPECT_TRUE(Has(err, "'steps' must not be 0")) << err;
  // 2-D with negative axes.
  HostTensor m = F({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  HostTensor s = I64({1}, {1}), e = I64({1}, {-1}), ax = I64({1}, {-1});
  HostTensor r = Eval1(N("Slice", {"x", "s", "e", "a"}), 13, {&m, &s, &e, &ax});
  EXPECT_EQ(r.dims(), (Dims{3, 2}));
  ExpectNear(V<float>(r), {1, 2, 5, 6, 9, 10});
  // Before opset 10: starts/ends/axes are attributes and there are no steps.
  HostTensor r9 = Eval1(
      N("Slice", {"x"}, {{"starts", AInts({1, 0})}, {"ends", AInts({100, -2})}, {"axes", AInts({0, 1})}}), 9, {&m});
  EXPECT_EQ(r9.dims(), (Dims{2, 2}));
  ExpectNear(V<float>(r9), {4, 5, 8, 9});
  EXPECT_THROW(InferConst(N("Slice", {"x"}), 9, {&m}), OnnxError);
  EXPECT_EQ(OutDims(N("Slice", {"x", "s", "e"}), 13, {TF({3, 4}), T(DType::kInt64, {1}), T(DType::kInt64, {1})},
                    {nullptr, &s, &e}),
            (Dims{1, 4}));
}

TEST(OnnxData, GatherNegativeIndices) {
  HostTensor d = F({3, 2}, {1, 2, 3, 4, 5, 6}), idx = I64({2}, {-1, 0});
  HostTensor g = Eval1(N("Gather", {"d", "i"}), 13, {&d, &idx});
  EXPECT_EQ(g.dims(), (Dims{2, 2}));
  ExpectNear(V<float>(g), {5, 6, 1, 2});
  HostTensor i1 = I32({1}, {-2});
  HostTensor g1 = Eval1(N("Gather", {"d", "i"}, {{"axis", AInt(-1)}}), 13, {&d, &i1});
  EXPECT_EQ(g1.dims(), (Dims{3, 1}));
  ExpectNear(V<float>(g1), {1, 3, 5});
  HostTensor i2 = I64({2, 2}, {0, 1, 2, -3});
  HostTensor g2 = Eval1(N("Gather", {"d", "i"}), 13, {&d, &i2});
  EXPECT_EQ(g2.dims(), (Dims{2, 2, 2}));
  ExpectNear(V<float>(g2), {1, 2, 3, 4, 5, 6, 1, 2});
  HostTensor scalar = I64({}, {1});
  HostTensor g0 = Eval1(N("Gather", {"d", "i"}), 13, {&d, &scalar});
  EXPECT_EQ(g0.dims(), Dims{2});
  ExpectNear(V<float>(g0), {3, 4});
  HostTensor bad = I64({1}, {-4});
  EXPECT_THROW(Eval(N("Gather", {"d", "i"}), 13, {&d, &bad}), OnnxError);
}

TEST(OnnxElementwise, ModSignRules) {
  // fmod 0: the sign of the divisor (Python's %); fmod 1: the sign of the dividend (C's fmod).
  HostTensor a = I64({4}, {7, -7, 7, -7}), b = I64({4}, {3, 3, -3, -3});
  EXPECT_EQ(V<int64_t>(Eval1(N("Mod", {"a", "b"}), 13, {&a, &b})), (std::vector<int64_t>{1, 2, -2, -1}));
  EXPECT_EQ(V<int64_t>(Eval1(N("Mod", {"a", "b"}, {{"fmod", AInt(1)}}), 13, {&a, &b})), (std::vector<int64_t>{1, -1, 1, -1}));
  // INT8_MIN mod -1 is 0, not a trap; a zero divisor is an error.
  HostTensor a8 = Make<int8_t>(DType::kInt8, {2}, {-128, -128}), b8 = Make<int8_t>(DType::kInt8, {2}, {-1, 127});
  EXPECT_EQ(V<int8_t>(Eval1(N("Mod", {"a", "b"}), 13, {&a8, &b8})), (std::vector<int8_t>{0, 126}));
  HostTensor z = I64({1}, {0});
  EXPECT_TRUE(Has(ErrorOf([&] { Eval1(N("Mod", {"a", "b"}), 13, {&a, &z}); }), "integer modulo by zero"));
  HostTensor u = Make<uint32_t>(DType::kUint32, {2}, {4000000000u, 5}), v = Make<uint32_t>(DType::kUint32, {2}, {7, 4000000000u});
  EXPECT_EQ(V<uint32_t>(Eval1(N("Mod", {"a", "b"}), 13, {&u, &v})), (std::vector<uint32_t>{4000000000u % 7, 5}));
  // Floats: fmod 1 at every opset; fmod 0 from opset 28 only.
  const float inf = std::numeric_limits<float>::infinity();
  HostTensor fa = F({5}, {-4.5f, 4.5f, 3, -3, 0}), fb = F({5}, {2, -2, -inf, inf, -2});
  std::vector<float> fm = V<float>(Eval1(N("Mod", {"a", "b"}, {{"fmod", AInt(1)}}), 13, {&fa, &fb}));
  ExpectNear(fm, {-0.5f, 0.5f, 3, -3, 0});
  std::vector<float> py = V<float>(Eval1(N("Mod", {"a", "b"}), 28, {&fa, &fb}));
  EXPECT_EQ(py, (std::vector<float>{1.5f, -1.5f, -inf, inf, 0}));  // exact: b itself where b = ±inf
  EXPECT_TRUE(std::signbit(py[4]));  // 0 mod -2 is -0 (the divisor's sign)
  EXPECT_TRUE(Has(ErrorOf([&] { InferTypes(N("Mod", {"a", "b"}), 17, {TF({2}), TF({2})}); }),
                  "attribute 'fmod' must be 1 for float32 inputs before opset 28"));
}

TEST(OnnxElementwise, IsNaNAndIsInf) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  // Longer than one 32-element block, so both the vector blocks and the tail run.
  std::vector<float> x(37, 1.0f);
  x[0] = nan, x[5] = inf, x[31] = -inf, x[32] = -nan, x[36] = nan;
  HostTensor t = F({37}, x);
  std::vector<uint8_t> isnan = V<uint8_t>(Eval1(N("IsNaN", {"x"}), 13, {&t}));
  std::vector<uint8_t> isinf = V<uint8_t>(Eval1(N("IsInf", {"x"}), 10, {&t}));
  std::vector<uint8_t> neg = V<uint8_t>(Eval1(N("IsInf", {"x"}, {{"detect_positive", AInt(0)}}), 10, {&t}));
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(isnan[i], std::isnan(x[i]) ? 1 : 0) << i;
    EXPECT_EQ(isinf[i], std::isinf(x[i]) ? 1 : 0) << i;
    EXPECT_EQ(neg[i], x[i] == -inf ? 1 : 0) << i;
  }
  HostTensor d = D({2}, {std::nan(""), 2.0});
  EXPECT_EQ(V<uint8_t>(Eval1(N("IsNaN", {"x"}), 9, {&d})), (std::vector<uint8_t>{1, 0}));
  EXPECT_TRUE(Has(ErrorOf([&] { InferTypes(N("IsNaN", {"x"}), 13, {{DType::kInt32, {2}}}); }), "dtype int32 is not supported"));
}

TEST(OnnxData, GatherElementsAxesAndNegativeIndices) {
  HostTensor d = F({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  HostTensor i0 = I64({2, 3}, {1, 2, 0, 2, 0, -3});
  HostTensor g0 = Eval1(N("GatherElements", {"d", "i"}), 13, {&d, &i0});
  EXPECT_EQ(g0.dims(), (Dims{2, 3}));
  ExpectNear(V<float>(g0), {4, 8, 3, 7, 2, 3});
  // Indices shorter than data on the other axis (2 of 3 rows), axis -1.
  HostTensor i1 = I32({2, 2}, {0, -1, 2, 1});
  HostTensor g1 = Eval1(N("GatherElements", {"d", "i"}, {{"axis", AInt(-1)}}), 11, {&d, &i1});
  ExpectNear(V<float>(g1), {1, 3, 6, 5});
  HostTensor bad = I64({1, 1}, {3});
  EXPECT_TRUE(Has(ErrorOf([&] { Eval1(N("GatherElements", {"d", "i"}), 13, {&d, &bad}); }), "index 3 is out of range for axis 0"));
  HostTensor wide = I64({1, 4}, {0, 0, 0, 0});
  EXPECT_TRUE(Has(ErrorOf([&] { Eval1(N("GatherElements", {"d", "i"}), 13, {&d, &wide}); }), "is longer than 'data'"));
}

TEST(OnnxData, ScatterNDSlicesAndReductions) {
  HostTensor d = F({2, 3}, {1, 2, 3, 4, 5, 6});
  // Whole rows (k = 1) and single elements (k = 2), negative indices too.
  HostTensor rows = I64({1, 1}, {-1}), row = F({1, 3}, {7, 8, 9});
  ExpectNear(V<float>(Eval1(N("ScatterND", {"d", "i", "u"}), 13, {&d, &rows, &row})), {1, 2, 3, 7, 8, 9});
  HostTensor elems = I64({2, 2}, {0, 1, 0, 1}), two = F({2}, {10, 20});
  ExpectNear(V<float>(Eval1(N("ScatterND", {"d", "i", "u"}, {{"reduction", AStr("add")}}), 16, {&d, &elems, &two})),
             {1, 32, 3, 4, 5, 6});
  ExpectNear(V<float>(Eval1(N("ScatterND", {"d", "i", "u"}, {{"reduction", AStr("max")}}), 18, {&d, &elems, &two})),
             {1, 20, 3, 4, 5, 6});
  EXPECT_EQ(V<float>(d), (std::vector<float>{1, 2, 3, 4, 5, 6}));  // the input is untouched
  EXPECT_TRUE(Has(ErrorOf([&] { Eval1(N("ScatterND", {"d", "i", "u"}, {{"reduction", AStr("max")}}), 16, {&d, &elems, &two}); }),
                  "attribute 'reduction' 'max' is not supported at this opset"));
  HostTensor wrong = F({3}, {1, 2, 3});
  EXPECT_TRUE(Has(ErrorOf([&] { Eval1(N("ScatterND", {"d", "i", "u"}), 13, {&d, &elems, &wrong}); }), "must be [2]"));
  HostTensor out_of_range = I64({1, 2}, {2, 0});
  HostTensor one = F({1}, {0});
  EXPECT_TRUE(Has(ErrorOf([&] { Eval1(N("ScatterND", {"d", "i", "u"}), 13, {&d, &out_of_range, &one}); }),
                  "index 2 is out of range for axis 0 of size 2"));
}

TEST(OnnxData, ShapeStartEndFromOpset15) {
  HostTensor x(DType::kFloat, {2, 3, 4, 5});
  Node n = N("Shape", {"x"}, {{"start", AInt(1)}, {"end", AInt(-1)}});
  HostTensor s15 = Eval1(n, 15, {&x});
  EXPECT_EQ(s15.dtype(), DType::kInt64);
  EXPECT_EQ(V<int64_t>(s15), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(V<int64_t>(Eval1(n, 13, {&x})), (std::vector<int64_t>{2, 3, 4, 5}));  // no start/end before 15
  EXPECT_EQ(V<int64_t>(Eval1(N("Shape", {"x"}, {{"start", AInt(-10)}}), 15, {&x})), (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(OutDims(N("Shape", {"x"}, {{"start", AInt(3)}, {"end", AInt(1)}}), 15, {TF({2, 3, 4, 5})}), Dims{0});
  EXPECT_EQ(OutDims(N("Shape", {"x"}), 13, {T(DType::kFloat16, {7, 1})}), Dims{2});
}

TEST(OnnxData, ConstantAndConstantOfShape) {
  HostTensor v = I32({2}, {4, 5});
  HostTensor c = Eval1(N("Constant", {}, {{"value", ATensor(v)}}), 13, {});
  EXPECT_EQ(c.dtype(), DType::kInt32);
  EXPECT_EQ(V<int32_t>(c), (std::vector<int32_t>{4, 5}));
  HostTensor cf = Eval1(N("Constant", {}, {{"value_floats", AFloats({1.5f, 2.5f})}}), 13, {});
  EXPECT_EQ(cf.dims(), Dims{2});
  ExpectNear(V<float>(cf), {1.5f, 2.5f});
  HostTensor ci = Eval1(N("Constant", {}, {{"value_int", AInt(7)}}), 13, {});
  EXPECT_EQ(ci.dtype(), DType::kInt64);
  EXPECT_EQ(ci.dims(), Dims{});
  EXPECT_EQ(V<int64_t>(Eval1(N("Constant", {}, {{"value_ints", AInts({1, 2, 3})}}), 13, {})),
            (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(V<float>(Eval1(N("Constant", {}, {{"value_float", AFloat(0.25f)}}), 13, {})), std::vector<float>{0.25f});
  std::string e = ErrorOf([&] { InferTypes(N("Constant", {}, {{"sparse_value", ATensor(v)}}), 13, {}); });
  EXPECT_TRUE(Has(e, "sparse")) << e;
  e = ErrorOf([&] { InferTypes(N("Constant", {}, {{"value_string", AStr("hi")}}), 13, {}); });
  EXPECT_TRUE(Has(e, "string constants are not supported")) << e;
  e = ErrorOf([&] { InferTypes(N("Constant", {}, {{"value_int", AInt(1)}, {"value_float", AFloat(1)}}), 13, {}); });
  EXPECT_TRUE(Has(e, "exactly one value attribute")) << e;

  HostTensor shape = I64({2}, {2, 3});
  HostTensor z = Eval1(N("ConstantOfShape", {"s"}), 13, {&shape});
  EXPECT_EQ(z.dtype(), DType::kFloat);
  EXPECT_EQ(z.dims(), (Dims{2, 3}));
  ExpectNear(V<float>(z), std::vector<float>(6, 0.0f));
  HostTensor seven = I64({1}, {7});
  HostTensor o = Eval1(N("ConstantOfShape", {"s"}, {{"value", ATensor(seven)}}), 13, {&shape});
  EXPECT_EQ(o.dtype(), DType::kInt64);
  EXPECT_EQ(V<int64_t>(o), std::vector<int64_t>(6, 7));
  HostTensor empty = I64({0}, {});
  EXPECT_EQ(Eval1(N("ConstantOfShape", {"s"}), 13, {&empty}).dims(), Dims{});
}

TEST(OnnxData, PadModesAndOpsets) {
  HostTensor x = F({3}, {1, 2, 3}), pads = I64({2}, {2, 2}), cv = F({}, {9});
  auto pad = [&](const std::string& mode, int64_t opset = 13) {
    return V<float>(Eval1(N("Pad", {"x", "p"}, {{"mode", AStr(mode)}}), opset, {&x, &pads}));
  };
  ExpectNear(pad("constant"), {0, 0, 1, 2, 3, 0, 0});
  ExpectNear(pad("reflect"), {3, 2, 1, 2, 3, 2, 1});
  ExpectNear(pad("edge"), {1, 1, 1, 2, 3, 3, 3});
  ExpectNear(pad("wrap", 19), {2, 3, 1, 2, 3, 1, 2});
  std::string e = ErrorOf([&] { pad("wrap", 18); });
  EXPECT_TRUE(Has(e, "mode 'wrap' is not supported")) << e;
  ExpectNear(V<float>(Eval1(N("Pad", {"x", "p", "v"}), 13, {&x, &pads, &cv})), {9, 9, 1, 2, 3, 9, 9});
  // Before opset 11: pads and value are attributes.
  ExpectNear(V<float>(Eval1(N("Pad", {"x"}, {{"pads", AInts({1, 0})}, {"value", AFloat(5)}}), 7, {&x})), {5, 1, 2, 3});
  // Negative pads crop.
  HostTensor crop = I64({2}, {-1, 1});
  ExpectNear(V<float>(Eval1(N("Pad", {"x", "p"}), 13, {&x, &crop})), {2, 3, 0});
  // 2-D reflect and edge.
  HostTensor m = F({2, 2}, {1, 2, 3, 4}), p4 = I64({4}, {1, 1, 1, 1});
  HostTensor r = Eval1(N("Pad", {"x", "p"}, {{"mode", AStr("reflect")}}), 13, {&m, &p4});
  EXPECT_EQ(r.dims(), (Dims{4, 4}));
  ExpectNear(V<float>(r), {4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3, 2, 1, 2, 1});
  ExpectNear(V<float>(Eval1(N("Pad", {"x", "p"}, {{"mode", AStr("edge")}}), 13, {&m, &p4})),
             {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // Opset 18: axes input.
  HostTensor p2 = I64({2}, {0, 1}), axes = I64({1}, {-2});
  HostTensor ra = Eval1(N("Pad", {"x", "p", "", "a"}), 18, {&m, &p2, nullptr, &axes});
  EXPECT_EQ(ra.dims(), (Dims{3, 2}));
  ExpectNear(V<float>(ra), {1, 2, 3, 4, 0, 0});
  HostTensor ip = I64({3}, {7, 8, 9}), one = I64({2}, {1, 0});
  EXPECT_EQ(V<int64_t>(Eval1(N("Pad", {"x", "p"}, {{"mode", AStr("edge")}}), 13, {&ip, &one})),
            (std::vector<int64_t>{7, 7, 8, 9}));
  e = ErrorOf([&] { InferConst(N("Pad", {"x", "p"}), 13, {&x, &p4}); });
  EXPECT_TRUE(Has(e, "'pads' has 4 values; 2 expected")) << e;
}

TEST(OnnxData, SplitOpsetVariants) {
  HostTensor x = F({6}, {1, 2, 3, 4, 5, 6});
  auto outs = Eval(N("Split", {"x"}, {{"split", AInts({2, 4})}}, {"a", "b"}), 11, {&x});
  ASSERT_EQ(outs.size(), 2u);
  ExpectNear(V<float>(outs[0]), {1, 2});
  ExpectNear(V<float>(outs[1]), {3, 4, 5, 6});
  HostTensor sp = I64({2}, {4, 2});
  outs = Eval(N("Split", {"x", "s"}, {}, {"a", "b"}), 13, {&x, &sp});
  ExpectNear(V<float>(outs[0]), {1, 2, 3, 4});
  ExpectNear(V<float>(outs[1]), {5, 6});
  outs = Eval(N("Split", {"x"}, {}, {"a", "b", "c"}), 13, {&x});
  ExpectNear(V<float>(outs[2]), {5, 6});
  HostTensor seven = F({7}, {1, 2, 3, 4, 5, 6, 7});
  outs = Eval(N("Split", {"x"}, {{"num_outputs", AInt(4)}}, {"a", "b", "c", "d"}), 18, {&seven});
  ASSERT_EQ(outs.size(), 4u);
  EXPECT_EQ(outs[0].dims(), Dims{2});
  ExpectNear(V<float>(outs[3]), {7});
  std::string e = ErrorOf([&] { Eval(N("Split", {"x"}, {}, {"a", "b"}), 13, {&seven}); });
  EXPECT_TRUE(Has(e, "cannot be split evenly into 2 outputs")) << e;
  // split attribute is ignored (it is an input) from opset 13.
  e = ErrorOf([&] { Eval(N("Split", {"x"}, {{"split", AInts({3, 4})}}, {"a", "b"}), 13, {&seven}); });
  EXPECT_TRUE(Has(e, "evenly")) << e;
  HostTensor m = F({2, 3}, {1, 2, 3, 4, 5, 6});
  outs = Eval(N("Split", {"x"}, {{"axis", AInt(-1)}, {"split", AInts({1, 2})}}, {"a", "b"}), 11, {&m});
  EXPECT_EQ(outs[1].dims(), (Dims{2, 2}));
  ExpectNear(V<float>(outs[1]), {2, 3, 5, 6});
}

TEST(OnnxData, RangeAndTile) {
  HostTensor s = I64({}, {0}), l = I64({}, {10}), d = I64({}, {3});
  HostTensor r = Eval1(N("Range", {"s", "l", "d"}), 11, {&s, &l, &d});
  EXPECT_EQ(V<int64_t>(r), (std::vector<int64_t>{0, 3, 6, 9}));
  HostTensor s2 = I32({}, {10}), l2 = I32({}, {4}), d2 = I32({}, {-3});
  EXPECT_EQ(V<int32_t>(Eval1(N("Range", {"s", "l", "d"}), 11, {&s2, &l2, &d2})), (std::vector<int32_t>{10, 7}));
  HostTensor fs = F({}, {1}), fl = F({}, {2}), fd = F({}, {0.25f});
  ExpectNear(V<float>(Eval1(N("Range", {"s", "l", "d"}), 11, {&fs, &fl, &fd})), {1, 1.25f, 1.5f, 1.75f});
  EXPECT_EQ(Eval1(N("Range", {"s", "l", "d"}), 11, {&l, &s, &d}).dims(), Dims{0});
  EXPECT_THROW(InferConst(N("Range", {"s", "l", "d"}), 10, {&s, &l, &d}), OnnxError);

  HostTensor x = F({1, 2}, {1, 2}), reps = I64({2}, {2, 2});
  HostTensor t = Eval1(N("Tile", {"x", "r"}), 13, {&x, &reps});
  EXPECT_EQ(t.dims(), (Dims{2, 4}));
  ExpectNear(V<float>(t), {1, 2, 1, 2, 1, 2, 1, 2});
}

// ---- Resize -------------------------------------------------------------------------------

HostTensor Resize(int64_t opset, const HostTensor& x, const HostTensor* scales, const HostTensor* sizes,
                  std::map<std::string, Attribute> attrs) {
  if (opset < 11) return Eval1(N("Resize", {"x", "s"}, attrs), opset, {&x, scales});
  return Eval1(N("Resize", {"x", "", scales ? "s" : "", sizes ? "z" : ""}, attrs), opset, {&x, nullptr, scales, sizes});
}

TEST(OnnxResize, NearestAsymmetricFloorIsThePyTorchExport) {
  HostTensor x = F({1, 1, 2, 2}, {1, 2, 3, 4}), sc = F({4}, {1, 1, 2, 2});
  std::map<std::string, Attribute> pt = {{"mode", AStr("nearest")},
                                         {"coordinate_transformation_mode", AStr("asymmetric")},
                                         {"nearest_mode", AStr("floor")}};
  HostTensor y = Resize(13, x, &sc, nullptr, pt);
  EXPECT_EQ(y.dims(), (Dims{1, 1, 4, 4}));
  ExpectNear(V<float>(y), {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // Scale 1.5 on width 2: sources 0, 0.667, 1.333 -> floor picks 0, 0, 1 ...
  HostTensor row = F({1, 2}, {1, 2}), s15 = F({2}, {1, 1.5f});
  ExpectNear(V<float>(Resize(13, row, &s15, nullptr, pt)), {1, 1, 2});
  // ... where round_prefer_floor picks 0, 1, 1.
  pt["nearest_mode"] = AStr("round_prefer_floor");
  ExpectNear(V<float>(Resize(13, row, &s15, nullptr, pt)), {1, 2, 2});
  HostTensor ix = I64({1, 2}, {7, 8});
  pt["nearest_mode"] = AStr("ceil");
  EXPECT_EQ(V<int64_t>(Resize(13, ix, &s15, nullptr, pt)), (std::vector<int64_t>{7, 8, 8}));
}

TEST(OnnxResize, NearestOpset10DiffersFromOpset11) {
  // Downsampling width 5 by 0.6: sources 0, 1.667, 3.333.
  HostTensor x = F({1, 5}, {1, 2, 3, 4, 5}), sc = F({2}, {1, 0.6f});
  // Resize-10 (onnxruntime): asymmetric, ceil when downsampling.
  ExpectNear(V<float>(Resize(10, x, &sc, nullptr, {})), {1, 3, 5});
  // Opset 11 asymmetric with the default round_prefer_floor.
  ExpectNear(V<float>(Resize(11, x, &sc, nullptr, {{"coordinate_transformation_mode", AStr("asymmetric")}})),
             {1, 3, 4});
  // Opset 11 defaults (half_pixel): sources 0.333, 2, 3.667.
  ExpectNear(V<float>(Resize(11, x, &sc, nullptr, {})), {1, 3, 5});
  // Opset 10 upsampling truncates: width 2 by 3 -> 0,0,0,1,1,1.
  HostTensor two = F({1, 2}, {1, 2}), s3 = F({2}, {1, 3});
  ExpectNear(V<float>(Resize(10, two, &s3, nullptr, {})), {1, 1, 1, 2, 2, 2});
}

TEST(OnnxResize, LinearHalfPixelAndAlignCorners) {
  HostTensor x = F({1, 1, 2, 2}, {1, 2, 3, 4}), sc = F({4}, {1, 1, 2, 2});
  HostTensor hp = Resize(13, x, &sc, nullptr, {{"mode", AStr("linear")}});
  EXPECT_EQ(hp.dims(), (Dims{1, 1, 4, 4}));
  ExpectNear(V<float>(hp),
             {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4});
  HostTensor sizes = I64({4}, {1, 1, 3, 3});
  HostTensor ac = Resize(13, x, nullptr, &sizes,
                         {{"mode", AStr("linear")}, {"coordinate_transformation_mode", AStr("align_corners")}});
  EXPECT_EQ(ac.dims(), (Dims{1, 1, 3, 3}));
  ExpectNear(V<float>(ac), {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4});
  // pytorch_half_pixel with a single output element maps it to source 0.
  HostTensor one = I64({4}, {1, 1, 1, 2});
  ExpectNear(
      V<float>(Resize(13, x, nullptr, &one,
                      {{"mode", AStr("linear")}, {"coordinate_transformation_mode", AStr("pytorch_half_pixel")}})),
      {1, 2});
  // Opset 11 requires 'scales' even with 'sizes': an empty tensor stands for "none".
  HostTensor empty_scales(DType::kFloat, {0}), roi(DType::kFloat, {0});
  HostTensor y11 =
      Eval1(N("Resize", {"x", "r", "s", "z"}, {{"mode", AStr("linear")}}), 11, {&x, &roi, &empty_scales, &sizes});
  EXPECT_EQ(y11.dims(), (Dims{1, 1, 3, 3}));
  HostTensor dx = D({1, 1, 1, 2}, {0, 1}), s4 = F({4}, {1, 1, 1, 2});
  std::vector<double> dv = V<double>(Resize(13, dx, &s4, nullptr, {{"mode", AStr("linear")}}));
  EXPECT_NEAR(dv[1], 0.25, 1e-9);
}

TEST(OnnxResize, CubicReproducesPolynomialsInTheInterior) {
  // Cubic convolution reproduces straight lines for any coefficient a, and
  // quadratics for a = -0.5 (Keys): away from the edges, where no tap is
  // clamped, upsampling samples the polynomial itself.
  std::vector<float> ramp, square;
  for (int i = 0; i < 10; ++i) ramp.push_back(static_cast<float>(i)), square.push_back(static_cast<float>(i * i));
  HostTensor r = F({1, 10}, ramp), q = F({1, 10}, square), s2 = F({2}, {1, 2});
  std::map<std::string, Attribute> cubic = {{"mode", AStr("cubic")}, {"coordinate_transformation_mode", AStr("asymmetric")}};
  std::vector<float> torch = V<float>(Resize(13, r, &s2, nullptr, cubic));  // a = -0.75, PyTorch's bicubic
  cubic["cubic_coeff_a"] = AFloat(-0.5f);
  std::vector<float> keys = V<float>(Resize(13, q, &s2, nullptr, cubic));
  ASSERT_EQ(torch.size(), 20u);
  for (int o = 2; o <= 14; ++o) {  // sources 1 .. 7: taps from source-1 to source+2 stay inside 0 .. 9
    const float x = static_cast<float>(o) / 2;
    EXPECT_NEAR(torch[static_cast<size_t>(o)], x, 1e-5) << o;
    EXPECT_NEAR(keys[static_cast<size_t>(o)], x * x, 1e-4) << o;
  }
  // Integer dtypes interpolate nowhere.
  HostTensor ix = I64({1, 2}, {1, 2});
  EXPECT_THROW(Resize(13, ix, &s2, nullptr, cubic), OnnxError);
}

TEST(OnnxResize, AntialiasWidensTheFilterWhenDownscaling) {
  // An impulse at 3 on 8 points, halved. Plain linear reads the two pixels
  // nearest each source point (2.5 -> 2 and 3; 4.5 -> 4 and 5); with
  // antialias (opset 18) the triangle spans two input pixels on each side,
  // weights 1, 3, 3, 1 over 8, so the impulse reaches both neighbours and
  // its mass (1 pixel at scale 0.5) is kept: 0.375 + 0.125.
  HostTensor x = F({1, 8}, {0, 0, 0, 1, 0, 0, 0, 0}), half = F({2}, {1, 0.5f});
  std::map<std::string, Attribute> lin = {{"mode", AStr("linear")}};
  ExpectNear(V<float>(Resize(18, x, &half, nullptr, lin)), {0, 0.5f, 0, 0});
  lin["antialias"] = AInt(1);
  ExpectNear(V<float>(Resize(18, x, &half, nullptr, lin)), {0, 0.375f, 0.125f, 0});
  // Upscaling is unchanged by it.
  HostTensor twice = F({2}, {1, 2});
  std::map<std::string, Attribute> plain = {{"mode", AStr("linear")}};
  ExpectNear(V<float>(Resize(18, x, &twice, nullptr, lin)), V<float>(Resize(18, x, &twice, nullptr, plain)));
}

TEST(OnnxResize, ShapesAndRefusals) {
  auto dims = [](int64_t opset, Dims in, std::vector<float> scales, std::vector<int64_t> sizes,
                 std::map<std::string, Attribute> attrs = {}) {
    HostTensor s = F({static_cast<int64_t>(scales.size())}, scales);
    HostTensor z = I64({static_cast<int64_t>(sizes.size())}, sizes);
    HostTensor x(DType::kFloat, in);
    return InferConst(N("Resize", {"x", "", scales.empty() ? "" : "s", sizes.empty() ? "" : "z"}, attrs), opset,
                      {&x, nullptr, scales.empty() ? nullptr : &s, sizes.empty() ? nullptr : &z})[0]
        .dims;
  };
  EXPECT_EQ(dims(13, {1, 3, 5, 7}, {1, 1, 0.5f, 2.5f}, {}), (Dims{1, 3, 2, 17}));
  EXPECT_EQ(dims(13, {1, 3, 5, 7}, {}, {1, 3, 4, 4}), (Dims{1, 3, 4, 4}));
  // Opset 18: axes and keep_aspect_ratio_policy.
  EXPECT_EQ(
      dims(18, {1, 3, 20, 10}, {}, {5, 5}, {{"axes", AInts({2, 3})}, {"keep_aspect_ratio_policy", AStr("not_larger")}}),
      (Dims{1, 3, 5, 3}));
  EXPECT_EQ(dims(18, {1, 3, 20, 10}, {}, {5, 5},
                 {{"axes", AInts({2, 3})}, {"keep_aspect_ratio_policy", AStr("not_smaller")}}),
            (Dims{1, 3, 10, 5}));
  EXPECT_EQ(dims(18, {1, 3, 4, 4}, {3}, {}, {{"axes", AInts({-1})}}), (Dims{1, 3, 4, 12}));
  // Cubic arrived with Resize-11.
  HostTensor x4 = F({1, 1, 2, 2}, {1, 2, 3, 4}), s4 = F({4}, {1, 1, 2, 2});
  std::string e = ErrorOf([&] { Resize(10, x4, &s4, nullptr, {{"mode", AStr("cubic")}}); });
  EXPECT_TRUE(Has(e, "mode 'cubic' is not supported at this opset (nearest and linear are)")) << e;
  EXPECT_EQ(e.rfind("op 'Resize' (node 'n', opset 10): ", 0), 0u) << e;
  e = ErrorOf([&] { dims(13, {1, 1, 2, 2}, {1, 1, 2, 2}, {}, {{"mode", AStr("bicubic")}}); });
  EXPECT_TRUE(Has(e, "mode 'bicubic' is not supported at this opset (nearest and linear, cubic are)")) << e;
  e = ErrorOf([&] { dims(13, {1, 1, 2, 2}, {1, 1, 2, 2}, {1, 1, 4, 4}); });
  EXPECT_TRUE(Has(e, "exactly one of 'scales' and 'sizes'")) << e;
  e = ErrorOf([&] { dims(13, {1, 1, 2, 2}, {1, 1, 2}, {}); });
  EXPECT_TRUE(Has(e, "'scales' has 3 values for 4 axes")) << e;
  e = ErrorOf([&] { dims(13, {1, 1, 2, 2}, {1, 1, 2, 2}, {}, {{"coordinate_transformation_mode", AStr("bogus")}}); });
  EXPECT_TRUE(Has(e, "coordinate_transformation_mode 'bogus'")) << e;
  e = ErrorOf([&] { dims(13, {1, 1, 2, 2}, {1, 1, 2, 2}, {}, {{"nearest_mode", AStr("nearest")}}); });
  EXPECT_TRUE(Has(e, "nearest_mode 'nearest'")) << e;
  // Linear needs a float tensor; nearest moves any data.
  HostTensor ix = I64({1, 2}, {1, 2}), s = F({2}, {1, 2});
  EXPECT_THROW(Resize(13, ix, &s, nullptr, {{"mode", AStr("linear")}}), OnnxError);
  EXPECT_EQ(V<int64_t>(Resize(13, ix, &s, nullptr, {})), (std::vector<int64_t>{1, 1, 2, 2}));
}

// ---- convolution and pooling (shape inference only) ---------------------------------------------

TEST(OnnxConv, ConvShapes) {
  auto conv = [](Dims x, Dims w, std::map<std::string, Attribute> attrs) {
    return OutDims(N("Conv", {"x", "w"}, attrs), 13, {TF(x), TF(w)});
  };
  EXPECT_EQ(conv({1, 3, 224, 224}, {64, 3, 7, 7}, {{"strides", AInts({2, 2})}, {"pads", AInts({3, 3, 3, 3})}}),
            (Dims{1, 64, 112, 112}));
  EXPECT_EQ(conv({1, 1, 5, 5}, {1, 1, 3, 3}, {{"strides", AInts({2, 2})}, {"auto_pad", AStr("SAME_UPPER")}}),
            (Dims{1, 1, 3, 3}));
  EXPECT_EQ(conv({1, 1, 5, 5}, {1, 1, 3, 3}, {{"strides", AInts({2, 2})}, {"auto_pad", AStr("SAME_LOWER")}}),
            (Dims{1, 1, 3, 3}));
  EXPECT_EQ(conv({1, 1, 5, 6}, {1, 1, 3, 3}, {{"strides", AInts({2, 2})}, {"auto_pad", AStr("VALID")}}),
            (Dims{1, 1, 2, 2}));
  EXPECT_EQ(conv({1, 1, 7, 7}, {1, 1, 3, 3}, {{"dilations", AInts({2, 2})}}), (Dims{1, 1, 3, 3}));
  EXPECT_EQ(conv({2, 4, 5, 5}, {8, 2, 3, 3}, {{"group", AInt(2)}, {"pads", AInts({1, 1, 1, 1})}}), (Dims{2, 8, 5, 5}));
  EXPECT_EQ(conv({1, 2, 10}, {4, 2, 3}, {}), (Dims{1, 4, 8}));  // 1-D
  std::string e = ErrorOf([&] { conv({1, 4, 5, 5}, {8, 3, 3, 3}, {{"group", AInt(2)}}); });
  EXPECT_TRUE(Has(e, "input channels 4 do not match the weights [8,3,3,3] with group 2")) << e;
  e = ErrorOf([&] { conv({1, 1, 5, 5}, {1, 1, 3, 3}, {{"kernel_shape", AInts({2, 2})}}); });
  EXPECT_TRUE(Has(e, "kernel_shape [2,2] does not match the weights")) << e;
  e = ErrorOf([&] { conv({1, 1, 2, 2}, {1, 1, 3, 3}, {}); });
  EXPECT_TRUE(Has(e, "larger than the padded input")) << e;
  e = ErrorOf([&] { conv({1, 1, 5, 5}, {1, 1, 3, 3}, {{"auto_pad", AStr("SAME")}}); });
  EXPECT_TRUE(Has(e, "auto_pad 'SAME' is not supported")) << e;
  e = ErrorOf([&] { OutDims(N("Conv", {"x", "w", "b"}), 13, {TF({1, 1, 5, 5}), TF({2, 1, 3, 3}), TF({3})}); });
  EXPECT_TRUE(Has(e, "input 'B' must be [2]")) << e;
  e = ErrorOf([&] {
    OutDims(N("Conv", {"x", "w"}), 13, {T(DType::kDouble, {1, 1, 5, 5}), T(DType::kDouble, {1, 1, 3, 3})});
  });
  EXPECT_TRUE(Has(e, "dtype float64 is not supported")) << e;
}

TEST(OnnxConv, ConvTransposeShapes) {
  auto ct = [](Dims x, Dims w, std::map<std::string, Attribute> attrs) {
    return OutDims(N("ConvTranspose", {"x", "w"}, attrs), 13, {TF(x), TF(w)});
  };
  EXPECT_EQ(ct({1, 1, 3, 3}, {1, 2, 3, 3}, {{"strides", AInts({3, 2})}}), (Dims{1, 2, 9, 7}));
  EXPECT_EQ(ct({1, 1, 3, 3}, {1, 2, 3, 3}, {{"strides", AInts({3, 2})}, {"output_padding", AInts({1, 1})}}),
            (Dims{1, 2, 10, 8}));
  EXPECT_EQ(ct({1, 1, 3, 3}, {1, 2, 3, 3}, {{"strides", AInts({3, 2})}, {"output_shape", AInts({10, 8})}}),
            (Dims{1, 2, 10, 8}));
  EXPECT_EQ(ct({1, 1, 3, 3}, {1, 2, 3, 3}, {{"strides", AInts({3, 2})}, {"pads", AInts({1, 2, 1, 2})}}),
            (Dims{1, 2, 7, 3}));
  EXPECT_EQ(ct({1, 1, 3, 3}, {1, 2, 3, 3}, {{"strides", AInts({2, 2})}, {"auto_pad", AStr("SAME_UPPER")}}),
            (Dims{1, 2, 6, 6}));
  EXPECT_EQ(ct({1, 2, 3, 3}, {2, 2, 3, 3}, {{"group", AInt(2)}}), (Dims{1, 4, 5, 5}));
  EXPECT_EQ(ct({1, 1, 3}, {1, 2, 3}, {{"dilations", AInts({2})}}), (Dims{1, 2, 7}));
  std::string e = ErrorOf([&] { ct({1, 3, 3, 3}, {1, 2, 3, 3}, {}); });
  EXPECT_TRUE(Has(e, "input channels 3 do not match the weights")) << e;
}

TEST(OnnxConv, PoolShapes) {
  auto pool = [](const std::string& op, Dims x, std::map<std::string, Attribute> attrs, int64_t opset = 13) {
    return OutDims(N(op, {"x"}, attrs), opset, {TF(x)});
  };
  EXPECT_EQ(pool("MaxPool", {1, 1, 5, 5}, {{"kernel_shape", AInts({2, 2})}, {"strides", AInts({2, 2})}}),
            (Dims{1, 1, 2, 2}));
  EXPECT_EQ(pool("MaxPool", {1, 1, 5, 5},
                 {{"kernel_shape", AInts({2, 2})}, {"strides", AInts({2, 2})}, {"ceil_mode", AInt(1)}}),
            (Dims{1, 1, 3, 3}));
  // ceil_mode drops a last window that would start in the end padding: without that rule there
  // would be 4 windows, the 4th starting at 6 >= 5.
  EXPECT_EQ(pool("MaxPool", {1, 1, 5, 5},
                 {{"kernel_shape", AInts({1, 1})},
                  {"strides", AInts({2, 2})},
                  {"pads", AInts({0, 0, 1, 1})},
                  {"ceil_mode", AInt(1)}}),
            (Dims{1, 1, 3, 3}));
  EXPECT_EQ(pool("MaxPool", {1, 1, 7, 7}, {{"kernel_shape", AInts({3, 3})}, {"dilations", AInts({2, 2})}}),
            (Dims{1, 1, 3, 3}));
  EXPECT_EQ(pool("AveragePool", {1, 2, 7, 7},
                 {{"kernel_shape", AInts({3, 3})},
                  {"strides", AInts({2, 2})},
                  {"auto_pad", AStr("SAME_LOWER")},
                  {"count_include_pad", AInt(1)}}),
            (Dims{1, 2, 4, 4}));
  EXPECT_EQ(pool("AveragePool", {1, 2, 8}, {{"kernel_shape", AInts({3})}, {"pads", AInts({1, 1})}}), (Dims{1, 2, 8}));
  // Huge windows are refused by value, before (k - 1) * dilation or
  // (out - 1) * stride can overflow int64 (UBSan found both in a fuzzed model).
  const int64_t huge = std::numeric_limits<int64_t>::max();
  auto pool_error = [](std::map<std::string, Attribute> attrs) {
    return ErrorOf([&] { OutDims(N("MaxPool", {"x"}, attrs), 13, {TF({1, 1, 5, 5})}); });
  };
  EXPECT_TRUE(Has(pool_error({{"kernel_shape", AInts({huge, 1})}}), "kernel_shape [9223372036854775807,1] is out of range"));
  EXPECT_TRUE(Has(pool_error({{"kernel_shape", AInts({2, 2})}, {"pads", AInts({0, 0, huge, 0})}}), "attribute 'pads'"));
  EXPECT_TRUE(Has(pool_error({{"kernel_shape", AInts({2, 2})}, {"dilations", AInts({int64_t{1} << 40, 1})}}), "attribute 'dilations'"));
  // A kernel the file need not pay for with weights: 2^31 wide with SAME
  // padding, every output would scan 2^31 steps of padding (a hang found by
  // the fuzzer); refused by the work it would take.
  std::string wide = pool_error({{"kernel_shape", AInts({int64_t{1} << 31, 1})}, {"auto_pad", AStr("SAME_LOWER")}});
  EXPECT_TRUE(Has(wide, "window steps, more than the 2^34 allowed")) << wide;
  // An input axis of 2^63 - 1 (declared in a model) met ceil(x / s) as
  // x + s - 1, which overflowed: axes past 2^31 are refused first.
  std::string axis = ErrorOf([&] {
    OutDims(N("MaxPool", {"x"}, {{"kernel_shape", AInts({3})}, {"auto_pad", AStr("SAME_UPPER")}, {"strides", AInts({4})}}), 13,
            {TF({1, 1, huge})});
  });
  EXPECT_TRUE(Has(axis, "spatial axis 0 of [1,1,9223372036854775807] is longer than 2^31")) << axis;
  std::string group = ErrorOf([&] {
    OutDims(N("Conv", {"x", "w"}, {{"group", AInt(huge)}}), 13, {TF({1, 4, 5, 5}), TF({4, 2, 3, 3})});
  });
  EXPECT_TRUE(Has(group, "input channels 4 do not match the weights [4,2,3,3] with group 9223372036854775807")) << group;
  EXPECT_EQ(OutDims(N("GlobalAveragePool", {"x"}), 13, {TF({2, 3, 7, 5})}), (Dims{2, 3, 1, 1}));
  std::string e = ErrorOf([&] {
    InferTypes(N("MaxPool", {"x"}, {{"kernel_shape", AInts({2, 2})}}, {"y", "idx"}), 12, {TF({1, 1, 4, 4})});
  });
  EXPECT_TRUE(Has(e, "the 'Indices' output is not supported")) << e;
  auto ok = InferTypes(N("MaxPool", {"x"}, {{"kernel_shape", AInts({2, 2})}}, {"y", ""}), 12, {TF({1, 1, 4, 4})});
  EXPECT_EQ(ok[0].dims, (Dims{1, 1, 3, 3}));
  e = ErrorOf([&] { pool("MaxPool", {1, 1, 4, 4}, {}); });
  EXPECT_TRUE(Has(e, "attribute 'kernel_shape' is required")) << e;
  e = ErrorOf([&] { pool("AveragePool", {1, 1, 4, 4}, {{"kernel_shape", AInts({2})}}); });
  EXPECT_TRUE(Has(e, "does not match the input")) << e;
}

}  // namespace
}  // namespace mrt::onnx
