// Per-operator knowledge of the front end: which ONNX operators (and which
// of their attributes, dtypes and opset versions) are supported, the output
// types a node produces (shape inference on concrete shapes), and host
// reference kernels. The reference kernels fold constants at load time and
// run the cheap data-movement and integer ops at execute time for backends
// that have no primitive for them; backends run the heavy float ops
// (Conv, MatMul, ...) themselves.
#pragma once

#include <string>
#include <vector>

#include "mrt/onnx/ir.h"

namespace mrt::onnx {

struct OpContext {
  const Node& node;
  int64_t opset;  // the model's default-domain opset
  // One entry per node input; nullptr where the optional input is omitted.
  std::vector<const ValueType*> input_types;
  // The input's value when it is a constant (initializer or folded), else
  // nullptr: Reshape's shape, Slice's starts, Clip's min... must be constant.
  std::vector<const HostTensor*> input_values;
};

// Slice's start and step on every axis of its input and its output dims,
// from the node's attributes (opset < 10) or constant inputs, as the host
// kernel reads them; throws OnnxError when one it needs is not a constant.
// For backends that copy a slice as a strided view.
struct SliceSpec {
  Dims out;
  std::vector<int64_t> starts, steps;  // every axis; those not sliced: 0 and 1
};
SliceSpec slice_spec(const OpContext& ctx);

// Pad's pads before and after every axis (negative ones crop), the same way.
struct PadAmounts {
  std::vector<int64_t> begin, end;
};
PadAmounts pad_amounts(const OpContext& ctx);

// Conv, MaxPool, AveragePool (and ConvTranspose, whose `out` is its output):
// per spatial axis, with auto_pad resolved into explicit pads, checked
// against the input dims. For backends that build their own primitives.
struct WindowSpec {
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end, out, output_padding;
  int64_t group = 1;
};
WindowSpec conv_window(const OpContext& ctx);            // Conv
WindowSpec pool_window(const OpContext& ctx);            // MaxPool, AveragePool
WindowSpec conv_transpose_window(const OpContext& ctx);  // ConvTranspose

// Runs f(), turning any OnnxError whose message does not yet name the node
// into one that does (errors from HostTensor, Node helpers...), so a
// backend's planning errors read like the front end's.
template <typename F>
auto with_node_context(const Node& node, int64_t opset, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const OnnxError& e) {
    std::string prefix = node.describe(opset);
    std::string msg = e.what();
    if (msg.rfind(prefix, 0) == 0 || msg.rfind("unsupported operator", 0) == 0) throw;
    throw OnnxError(prefix + ": " + msg);
  }
}

// The ONNX operators the front end accepts, sorted.
const std::vector<std::string>& supported_ops();
bool is_supported_op(const std::string& op_type);

// Output types of ctx.node (one per node output, in order) from concrete
// input dims. Throws OnnxError naming op, node and opset for an unsupported
// operator, attribute value, dtype, or inputs whose shapes do not agree.
std::vector<ValueType> infer_types(const OpContext& ctx);

// True when evaluate() implements op_type (for every dtype infer_types
// accepts for it).
bool has_reference(const std::string& op_type);

// Computes the node's outputs on the host. `inputs` has one entry per node
// input (nullptr for an omitted optional input). Throws OnnxError.
std::vector<HostTensor> evaluate(const Node& node, int64_t opset, const std::vector<const HostTensor*>& inputs);

}  // namespace mrt::onnx
