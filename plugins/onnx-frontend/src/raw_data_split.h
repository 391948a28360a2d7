// Takes the initializers' raw_data out of a serialized ModelProto before
// protobuf parses it.
//
// Why: protobuf copies every raw_data field into a std::string of its own,
// and each such string's fresh pages are faulted in 4 KiB at a time
// (~30 of the ~40 ms it took to parse a 45 MB BERT in a process that had
// not loaded one before). The loader instead parses the small rest and
// copies the weights once, straight from the mapped file into one buffer
// backed by transparent huge pages.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mrt::onnx {

struct SplitModel {
  std::string rest;  // the ModelProto without its graph's initializers' raw_data fields
  // Per initializer of the main graph, in order: its raw_data (a view into
  // the input bytes) and whether it had one.
  std::vector<std::string_view> raw_data;
  std::vector<bool> has_raw_data;
};

// nullopt when the bytes are not a well-formed protobuf message the split
// understands (groups, a repeated graph or raw_data field, truncation, a tag
// or length encoded longer or wider than protobuf reads it, over 2 GiB):
// the caller then parses the original bytes, and protobuf names the problem.
std::optional<SplitModel> split_initializer_raw_data(const void* bytes, size_t size);

}  // namespace mrt::onnx
