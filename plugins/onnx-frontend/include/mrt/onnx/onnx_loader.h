// ONNX protobuf → Graph. The only file of the front end that sees protobuf
// types. Checks structure (every value defined once, no cycles, every
// operator supported at the model's opset) so later passes can trust it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mrt/onnx/ir.h"

namespace mrt::onnx {

// Reads a file beside the model (external-data tensors), given a path
// relative to the model's directory that the loader has already checked
// stays inside it. Returns the bytes or throws OnnxError.
using SideFileReader = std::function<std::vector<char>(const std::string& relative_path)>;

// The bytes of a serialized model, read at offsets: memory, or the model
// file read through the host (plugin_glue.h), so that the weights go from
// the file into the graph's buffer with no copy of the whole file beside.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Copies [offset, offset + n), which lies inside size(), into `dst`;
  // throws OnnxError when the bytes cannot be had.
  virtual void read(uint64_t offset, void* dst, size_t n) = 0;
};

// Bytes already in memory.
class MemoryBytes final : public ByteSource {
 public:
  MemoryBytes(const void* data, size_t size) : data_(static_cast<const char*>(data)), size_(size) {}
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, size_t n) override;

 private:
  const char* data_;
  size_t size_;
};

// Parses a serialized ModelProto. Throws OnnxError naming the problem:
// garbage or truncated bytes, a graph with a cycle, a value used but never
// defined ("missing initializer"), an operator/opset/dtype not supported,
// external data outside the model's directory or past the end of its file.
Graph load_onnx(ByteSource& bytes, const SideFileReader& read_side_file);
inline Graph load_onnx(const void* bytes, size_t size, const SideFileReader& read_side_file) {
  MemoryBytes m(bytes, size);
  return load_onnx(m, read_side_file);
}

// A TensorProto (serialized) → HostTensor: the node-test runner's input
// and output files. Throws OnnxError.
HostTensor load_tensor_proto(const void* bytes, size_t size, std::string* name = nullptr);

// True when `location` (an external-data path) is relative, has no ".."
// component, and so stays inside the model's directory.
bool external_location_is_confined(const std::string& location);

}  // namespace mrt::onnx
