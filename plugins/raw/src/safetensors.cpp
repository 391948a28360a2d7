#include "safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>

namespace mrt::raw {
namespace {

size_t dtype_bytes(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

}  // namespace

std::string Safetensors::parse(const void* data, size_t size) {
  entries_.clear();
  if (size < 8) return "safetensors file is " + std::to_string(size) + " bytes, shorter than its 8-byte header length";
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  if (n > size - 8) return "safetensors header length " + std::to_string(n) + " runs past the end of the " + std::to_string(size) + "-byte file";
  if (n > (100u << 20)) return "safetensors header of " + std::to_string(n) + " bytes is implausibly large";
  const char* base = static_cast<const char*>(data);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(base + 8, base + 8 + n);
  } catch (const std::exception& e) {
    return std::string("safetensors header is not valid JSON: ") + e.what();
  }
  if (!header.is_object()) return "safetensors header is not a JSON object";
  const uint64_t payload = size - 8 - n;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const auto& v = it.value();
    const std::string& name = it.key();
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      return "tensor '" + name + "' lacks dtype, shape or data_offsets";
    SafetensorsEntry e;
    if (!v["dtype"].is_string()) return "tensor '" + name + "' has a non-string dtype";
    e.dtype = v["dtype"].get<std::string>();
    size_t esize = dtype_bytes(e.dtype);
    if (esize == 0) return "tensor '" + name + "' has unknown dtype '" + e.dtype + "'";
    if (!v["shape"].is_array() || v["shape"].size() > 8) return "tensor '" + name + "' has a bad shape";
    uint64_t count = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) return "tensor '" + name + "' has a bad dimension";
      uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && count > UINT64_MAX / dim / 8) return "tensor '" + name + "' is implausibly large";
      count *= dim;
      e.shape.push_back(d.get<int64_t>());
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      return "tensor '" + name + "' has bad data_offsets";
    uint64_t b = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (b > end || end > payload)
      return "tensor '" + name + "' data [" + std::to_string(b) + ", " + std::to_string(end) + ") runs past the " +
             std::to_string(payload) + " bytes of data (truncated file?)";
    if (end - b != count * esize)
      return "tensor '" + name + "' has " + std::to_string(end - b) + " bytes but its shape and dtype need " +
             std::to_string(count * esize);
    e.data = base + 8 + n + b;
    e.bytes = end - b;
    ranges.emplace_back(b, end);
    entries_.emplace(name, std::move(e));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      return "safetensors tensors overlap at byte " + std::to_string(ranges[i].first);
  return "";
}

const SafetensorsEntry* Safetensors::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

std::string as_matrix(const SafetensorsEntry& e, const std::string& name, size_t rows, size_t cols, Matrix& out) {
  WeightType type;
  if (e.dtype == "F32") type = WeightType::kF32;
  else if (e.dtype == "F16") type = WeightType::kF16;
  else if (e.dtype == "BF16") type = WeightType::kBF16;
  else return "tensor '" + name + "' is " + e.dtype + "; weights must be F32, F16 or BF16";
  bool shape_ok = (e.shape.size() == 2 && static_cast<size_t>(e.shape[0]) == rows && static_cast<size_t>(e.shape[1]) == cols) ||
                  (e.shape.size() == 1 && rows == 1 && static_cast<size_t>(e.shape[0]) == cols);
  if (!shape_ok) {
    std::string got;
    for (auto d : e.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
    return "tensor '" + name + "' has shape [" + got + "], the config needs [" + std::to_string(rows) + ", " +
           std::to_string(cols) + "]";
  }
  if (reinterpret_cast<uintptr_t>(e.data) % (type == WeightType::kF32 ? 4 : 2) != 0)
    return "tensor '" + name + "' is not aligned to its element size";
  out = Matrix{e.data, type, rows, cols};
  return "";
}

}  // namespace mrt::raw
