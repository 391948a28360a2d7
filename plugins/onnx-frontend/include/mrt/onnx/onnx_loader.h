// ONNX protobuf → Graph. The only file of the front end that sees protobuf
// types. Checks structure (every value defined once, no cycles, every
// operator supported at the model's opset) so later passes can trust it.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "mrt/onnx/ir.h"

namespace mrt::onnx {

// Reads a file beside the model (external-data tensors), given a path
// relative to the model's directory that the loader has already checked
// stays inside it. Returns the bytes or throws OnnxError.
using SideFileReader = std::function<std::vector<char>(const std::string& relative_path)>;

// Parses a serialized ModelProto. Throws OnnxError naming the problem:
// garbage or truncated bytes, a graph with a cycle, a value used but never
// defined ("missing initializer"), an operator/opset/dtype not supported,
// external data outside the model's directory or past the end of its file.
Graph load_onnx(const void* bytes, size_t size, const SideFileReader& read_side_file);

// A TensorProto (serialized) → HostTensor: the node-test runner's input
// and output files. Throws OnnxError.
HostTensor load_tensor_proto(const void* bytes, size_t size, std::string* name = nullptr);

// True when `location` (an external-data path) is relative, has no ".."
// component, and so stays inside the model's directory.
bool external_location_is_confined(const std::string& location);

}  // namespace mrt::onnx
