// Takes the initializers' raw_data out of a serialized ModelProto before
// protobuf parses it.
//
// Why: protobuf copies every raw_data field into a std::string of its own,
// and each such string's fresh pages are faulted in 4 KiB at a time
// (~30 of the ~40 ms it took to parse a 45 MB BERT in a process that had
// not loaded one before). The loader instead parses the small rest and
// copies the weights once, straight from the model's bytes into one buffer
// backed by transparent huge pages. The walk reads the model through a
// ByteSource: memory, or the file itself read at offsets (the host's
// file_open, ABI 1.2), so a large model's weights go from the file into
// that buffer with no copy of the whole file beside them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mrt/onnx/onnx_loader.h"  // ByteSource

namespace mrt::onnx {

struct SplitModel {
  std::string rest;  // the ModelProto without its graph's initializers' raw_data fields
  // Per initializer of the main graph, in order: where its raw_data lies in
  // the source's bytes, and whether it had one.
  struct Range {
    uint64_t offset = 0;
    size_t size = 0;
  };
  std::vector<Range> raw_data;
  std::vector<bool> has_raw_data;
};

// nullopt when the bytes are not a well-formed protobuf message the split
// understands (groups, a repeated graph or raw_data field, truncation, a tag
// or length encoded longer or wider than protobuf reads it, over 2 GiB):
// the caller then parses the original bytes, and protobuf names the problem.
// Throws OnnxError when the source cannot be read.
std::optional<SplitModel> split_initializer_raw_data(ByteSource& bytes);
inline std::optional<SplitModel> split_initializer_raw_data(const void* bytes, size_t size) {
  MemoryBytes m(bytes, size);
  return split_initializer_raw_data(m);
}

}  // namespace mrt::onnx
