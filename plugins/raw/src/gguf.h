// GGUF files (llama.cpp's single-file model format, versions 2 and 3), read
// in place from a mapped file. Little-endian throughout:
//
//   "GGUF"  u32 version  u64 tensor_count  u64 kv_count
//   kv_count × { string key; u32 value_type; value }
//   tensor_count × { string name; u32 n_dims; u64 ne[n_dims]; u32 ggml_type; u64 offset }
//   padding to general.alignment (32 unless set), then the data section;
//   each tensor's offset is relative to the data section's start.
//   string = { u64 length; bytes }   array = { u32 type; u64 count; values }
//
// ne[0] is the fastest-varying dimension: a 2-D weight [ne1 rows][ne0 cols].
// Parsing checks everything a hostile file could get wrong before anything
// is used: counts against the bytes left, every length inside the file,
// value and tensor types, the alignment, tensor ranges inside the data
// section and not overlapping. Strings and arrays point into the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels.h"

namespace mrt::raw {

enum class GgufValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6, kBool = 7,
  kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};
const char* gguf_value_type_name(GgufValueType t);

// One metadata value. Scalars are widened into `u`/`i`/`f` (whichever
// apply); strings are views into the file; arrays keep their element type,
// count and (for numbers and bools) the raw little-endian bytes, read with
// the accessors below. Arrays of arrays are checked and kept opaque.
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  uint64_t u = 0;     // unsigned integers and bools
  int64_t i = 0;      // signed integers (and unsigned ones that fit)
  double f = 0;       // floats (and every number)
  bool is_integer = false;
  bool fits_int64 = false;  // `i` holds the value exactly
  std::string_view str;
  // Arrays.
  GgufValueType elem_type = GgufValueType::kUint8;
  uint64_t count = 0;
  const unsigned char* elems = nullptr;  // numeric/bool arrays: count × element size bytes
  std::vector<std::string_view> strings;  // string arrays
};

struct GgufTensor {
  std::string name;
  uint32_t ggml_type = 0;
  std::vector<uint64_t> ne;  // ne[0] fastest (columns)
  uint64_t offset = 0;       // into the data section
  uint64_t bytes = 0;
  const void* data = nullptr;  // into the mapped file
};

// ggml's tensor types as GGUF stores them: the name, the block, and whether
// the raw plugin computes with it (and as which WeightType).
struct GgmlTypeInfo {
  const char* name;
  uint32_t block_elements;
  uint32_t block_bytes;
  std::optional<WeightType> weight_type;  // nullopt: known, not supported
};
// nullptr for an id no ggml version has used (or one it has retired).
const GgmlTypeInfo* ggml_type_info(uint32_t id);
// "F32, F16, BF16, Q8_0, ..." — the types weights may have.
std::string supported_ggml_types();

class Gguf {
 public:
  // Empty string on success, else what is wrong and where. `data` must stay
  // mapped while the tensors and strings are used.
  std::string parse(const void* data, size_t size);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* tensor(const std::string& name) const;

 private:
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> by_name_;
};

// Typed metadata reads: each returns an empty string and sets `out`, or
// says what is wrong with the key (missing where required, wrong type, out
// of range). A missing optional key leaves `out` unchanged.
std::string gguf_get_string(const Gguf& g, const std::string& key, bool required, std::string& out);
std::string gguf_get_int(const Gguf& g, const std::string& key, bool required, int64_t lo, int64_t hi, int64_t& out);
std::string gguf_get_float(const Gguf& g, const std::string& key, bool required, double& out);
std::string gguf_get_bool(const Gguf& g, const std::string& key, bool required, bool& out);
// Arrays: strings; numbers as float (float32/float64/integers); integers as
// int64 (integer element types only).
std::string gguf_get_strings(const Gguf& g, const std::string& key, bool required, std::vector<std::string_view>& out);
std::string gguf_get_floats(const Gguf& g, const std::string& key, bool required, std::vector<float>& out);
std::string gguf_get_ints(const Gguf& g, const std::string& key, bool required, std::vector<int64_t>& out);

// The tensor as a `rows` × `cols` weight matrix (GGUF ne = [cols, rows], or
// [cols] for rows == 1) of a supported type, or the reason it cannot be one.
std::string gguf_as_matrix(const GgufTensor& t, size_t rows, size_t cols, Matrix& out);

}  // namespace mrt::raw
