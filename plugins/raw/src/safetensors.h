// safetensors files: an 8-byte little-endian header length N, N bytes of
// JSON {"name": {"dtype": "F16", "shape": [..], "data_offsets": [b, e]}, ...,
// "__metadata__": {...}}, then the tensor bytes. Offsets are relative to the
// end of the header. Parsing checks everything a hostile file could get
// wrong: the header length, JSON, dtypes, shapes against byte ranges, ranges
// past the end, and overlapping tensors.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernels.h"

namespace mrt::raw {

struct SafetensorsEntry {
  std::string dtype;            // "F32", "F16", "BF16", ...
  std::vector<int64_t> shape;
  const void* data = nullptr;   // into the mapped file
  uint64_t bytes = 0;
};

class Safetensors {
 public:
  // Empty string on success, else what is wrong. `data` must stay mapped.
  std::string parse(const void* data, size_t size);
  const SafetensorsEntry* find(const std::string& name) const;
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }

 private:
  std::map<std::string, SafetensorsEntry> entries_;
};

// The entry as a weight matrix of `rows` × `cols` (F32, F16 or BF16), or the
// reason it cannot be one.
std::string as_matrix(const SafetensorsEntry& e, const std::string& name, size_t rows, size_t cols, Matrix& out);

}  // namespace mrt::raw
