#include "gguf.h"

#include <algorithm>
#include <cstring>

namespace mrt::raw {
namespace {

// The smallest a KV pair and a tensor info can be: they bound the counts a
// file of a given size can hold (so a count is never trusted to size a
// vector). KV: key length, one key byte, value type, a 1-byte value.
// Tensor: name length, one name byte, n_dims, one dimension, type, offset.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS

// ggml's type ids (ggml.h's enum ggml_type) with their blocks. Ids 4 and 5
// (Q4_2, Q4_3) and 31–33, 36–38 (the repacked Q4_0_4_4 family) were
// retired; files never carry them.
const GgmlTypeInfo kGgmlTypes[] = {
    /* 0 */ {"F32", 1, 4, WeightType::kF32},
    /* 1 */ {"F16", 1, 2, WeightType::kF16},
    /* 2 */ {"Q4_0", 32, 18, WeightType::kQ4_0},
    /* 3 */ {"Q4_1", 32, 20, WeightType::kQ4_1},
    /* 4 */ {nullptr, 0, 0, std::nullopt},
    /* 5 */ {nullptr, 0, 0, std::nullopt},
    /* 6 */ {"Q5_0", 32, 22, WeightType::kQ5_0},
    /* 7 */ {"Q5_1", 32, 24, WeightType::kQ5_1},
    /* 8 */ {"Q8_0", 32, 34, WeightType::kQ8_0},
    /* 9 */ {"Q8_1", 32, 36, std::nullopt},  // f16 d, f16 s, 32 × int8 (an activation type)
    /* 10 */ {"Q2_K", 256, 84, std::nullopt},
    /* 11 */ {"Q3_K", 256, 110, std::nullopt},
    /* 12 */ {"Q4_K", 256, 144, WeightType::kQ4_K},
    /* 13 */ {"Q5_K", 256, 176, WeightType::kQ5_K},
    /* 14 */ {"Q6_K", 256, 210, WeightType::kQ6_K},
    /* 15 */ {"Q8_K", 256, 292, std::nullopt},
    /* 16 */ {"IQ2_XXS", 256, 66, std::nullopt},
    /* 17 */ {"IQ2_XS", 256, 74, std::nullopt},
    /* 18 */ {"IQ3_XXS", 256, 98, std::nullopt},
    /* 19 */ {"IQ1_S", 256, 50, std::nullopt},
    /* 20 */ {"IQ4_NL", 32, 18, std::nullopt},
    /* 21 */ {"IQ3_S", 256, 110, std::nullopt},
    /* 22 */ {"IQ2_S", 256, 82, std::nullopt},
    /* 23 */ {"IQ4_XS", 256, 136, std::nullopt},
    /* 24 */ {"I8", 1, 1, std::nullopt},
    /* 25 */ {"I16", 1, 2, std::nullopt},
    /* 26 */ {"I32", 1, 4, std::nullopt},
    /* 27 */ {"I64", 1, 8, std::nullopt},
    /* 28 */ {"F64", 1, 8, std::nullopt},
    /* 29 */ {"IQ1_M", 256, 56, std::nullopt},
    /* 30 */ {"BF16", 1, 2, WeightType::kBF16},
    /* 31 */ {nullptr, 0, 0, std::nullopt},
    /* 32 */ {nullptr, 0, 0, std::nullopt},
    /* 33 */ {nullptr, 0, 0, std::nullopt},
    /* 34 */ {"TQ1_0", 256, 54, std::nullopt},
    /* 35 */ {"TQ2_0", 256, 66, std::nullopt},
    /* 36 */ {nullptr, 0, 0, std::nullopt},
    /* 37 */ {nullptr, 0, 0, std::nullopt},
    /* 38 */ {nullptr, 0, 0, std::nullopt},
    /* 39 */ {"MXFP4", 32, 17, std::nullopt},
};

size_t scalar_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8: case GgufValueType::kInt8: case GgufValueType::kBool: return 1;
    case GgufValueType::kUint16: case GgufValueType::kInt16: return 2;
    case GgufValueType::kUint32: case GgufValueType::kInt32: case GgufValueType::kFloat32: return 4;
    case GgufValueType::kUint64: case GgufValueType::kInt64: case GgufValueType::kFloat64: return 8;
    default: return 0;  // string, array: variable
  }
}

bool known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::kFloat64); }

// Bounds-checked little-endian reads from the mapped file. Every read says
// whether the bytes were there; `off` only moves past bytes that were.
class Cursor {
 public:
  Cursor(const unsigned char* base, size_t size) : base_(base), size_(size) {}
  size_t offset() const { return off_; }
  uint64_t left() const { return size_ - off_; }
  template <typename T>
  bool read(T& out) {
    if (left() < sizeof(T)) return false;
    std::memcpy(&out, base_ + off_, sizeof(T));
    off_ += sizeof(T);
    return true;
  }
  bool bytes(uint64_t n, const unsigned char*& out) {
    if (left() < n) return false;
    out = base_ + off_;
    off_ += static_cast<size_t>(n);
    return true;
  }
  bool string(std::string_view& out) {
    uint64_t n = 0;
    size_t start = off_;
    const unsigned char* p = nullptr;
    if (!read(n) || !bytes(n, p)) {
      off_ = start;
      return false;
    }
    out = std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    return true;
  }

 private:
  const unsigned char* base_;
  size_t size_;
  size_t off_ = 0;
};

std::string at(const Cursor& c) { return " (at byte " + std::to_string(c.offset()) + ")"; }

// A scalar of type `t` (not string/array) into `v`.
std::string read_scalar(Cursor& c, GgufValueType t, GgufValue& v, const std::string& where) {
  v.type = t;
  auto need = [&](auto& x) { return c.read(x); };
  auto truncated = [&] { return where + ": the file ends inside its " + gguf_value_type_name(t) + " value" + at(c); };
  switch (t) {
    case GgufValueType::kUint8: { uint8_t x; if (!need(x)) return truncated(); v.u = x; break; }
    case GgufValueType::kUint16: { uint16_t x; if (!need(x)) return truncated(); v.u = x; break; }
    case GgufValueType::kUint32: { uint32_t x; if (!need(x)) return truncated(); v.u = x; break; }
    case GgufValueType::kUint64: { uint64_t x; if (!need(x)) return truncated(); v.u = x; break; }
    case GgufValueType::kInt8: { int8_t x; if (!need(x)) return truncated(); v.i = x; break; }
    case GgufValueType::kInt16: { int16_t x; if (!need(x)) return truncated(); v.i = x; break; }
    case GgufValueType::kInt32: { int32_t x; if (!need(x)) return truncated(); v.i = x; break; }
    case GgufValueType::kInt64: { int64_t x; if (!need(x)) return truncated(); v.i = x; break; }
    case GgufValueType::kFloat32: { float x; if (!need(x)) return truncated(); v.f = x; return ""; }
    case GgufValueType::kFloat64: { double x; if (!need(x)) return truncated(); v.f = x; return ""; }
    case GgufValueType::kBool: {
      uint8_t x;
      if (!need(x)) return truncated();
      if (x > 1) return where + ": bool value " + std::to_string(x) + " is neither 0 nor 1" + at(c);
      v.u = x;
      v.i = x;
      v.f = x;
      return "";
    }
    default: return where + ": not a scalar type";
  }
  v.is_integer = true;
  bool is_unsigned = t == GgufValueType::kUint8 || t == GgufValueType::kUint16 || t == GgufValueType::kUint32 ||
                     t == GgufValueType::kUint64;
  if (is_unsigned) {
    v.fits_int64 = v.u <= static_cast<uint64_t>(INT64_MAX);
    v.i = v.fits_int64 ? static_cast<int64_t>(v.u) : 0;
    v.f = static_cast<double>(v.u);
  } else {
    v.fits_int64 = true;
    v.u = v.i >= 0 ? static_cast<uint64_t>(v.i) : 0;
    v.f = static_cast<double>(v.i);
  }
  return "";
}

// An array's header and elements; `depth` 0 for a value's own array.
std::string read_array(Cursor& c, GgufValue& v, const std::string& where, int depth) {
  uint32_t et = 0;
  uint64_t count = 0;
  if (!c.read(et) || !c.read(count)) return where + ": the file ends inside its array header" + at(c);
  if (!known_value_type(et)) return where + ": array of unknown value type " + std::to_string(et) + at(c);
  v.type = GgufValueType::kArray;
  v.elem_type = static_cast<GgufValueType>(et);
  v.count = count;
  // The fewest bytes one element takes: a count past left() / that cannot fit.
  uint64_t min_elem = v.elem_type == GgufValueType::kString ? 8 : v.elem_type == GgufValueType::kArray ? 12 : scalar_bytes(v.elem_type);
  if (count > c.left() / min_elem)
    return where + ": array of " + std::to_string(count) + " " + gguf_value_type_name(v.elem_type) + " elements runs past the end of the file" + at(c);
  if (v.elem_type == GgufValueType::kString) {
    v.strings.reserve(static_cast<size_t>(count));
    for (uint64_t k = 0; k < count; ++k) {
      std::string_view s;
      if (!c.string(s)) return where + ": string " + std::to_string(k) + " of the array runs past the end of the file" + at(c);
      v.strings.push_back(s);
    }
    return "";
  }
  if (v.elem_type == GgufValueType::kArray) {
    if (depth > 0) return where + ": arrays nested more than one level deep are not supported" + at(c);
    for (uint64_t k = 0; k < count; ++k) {
      GgufValue inner;
      if (std::string why = read_array(c, inner, where + " element " + std::to_string(k), depth + 1); !why.empty()) return why;
    }
    return "";  // kept opaque: no key the plugin reads is an array of arrays
  }
  if (!c.bytes(count * min_elem, v.elems)) return where + ": array data runs past the end of the file" + at(c);
  if (v.elem_type == GgufValueType::kBool)
    for (uint64_t k = 0; k < count; ++k)
      if (v.elems[k] > 1) return where + ": bool element " + std::to_string(k) + " is neither 0 nor 1";
  return "";
}

std::string read_value(Cursor& c, GgufValueType t, GgufValue& v, const std::string& where) {
  if (t == GgufValueType::kString) {
    v.type = t;
    if (!c.string(v.str)) return where + ": its string runs past the end of the file" + at(c);
    return "";
  }
  if (t == GgufValueType::kArray) return read_array(c, v, where, 0);
  return read_scalar(c, t, v, where);
}

bool multiply(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_mul_overflow(a, b, &out); }

std::string shape_text(const std::vector<uint64_t>& ne) {
  std::string s = "[";
  for (size_t k = 0; k < ne.size(); ++k) s += (k ? ", " : "") + std::to_string(ne[k]);
  return s + "]";
}

}  // namespace

const char* gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8: return "uint8";
    case GgufValueType::kInt8: return "int8";
    case GgufValueType::kUint16: return "uint16";
    case GgufValueType::kInt16: return "int16";
    case GgufValueType::kUint32: return "uint32";
    case GgufValueType::kInt32: return "int32";
    case GgufValueType::kFloat32: return "float32";
    case GgufValueType::kBool: return "bool";
    case GgufValueType::kString: return "string";
    case GgufValueType::kArray: return "array";
    case GgufValueType::kUint64: return "uint64";
    case GgufValueType::kInt64: return "int64";
    case GgufValueType::kFloat64: return "float64";
  }
  return "unknown";
}

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  if (id >= std::size(kGgmlTypes) || kGgmlTypes[id].name == nullptr) return nullptr;
  return &kGgmlTypes[id];
}

std::string supported_ggml_types() {
  std::string s;
  for (const auto& t : kGgmlTypes)
    if (t.weight_type) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

std::string Gguf::parse(const void* data, size_t size) {
  *this = Gguf();
  const auto* base = static_cast<const unsigned char*>(data);
  Cursor c(base, size);
  const unsigned char* magic = nullptr;
  if (!c.bytes(4, magic)) return "file is " + std::to_string(size) + " bytes, too short for the GGUF magic";
  if (std::memcmp(magic, "GGUF", 4) != 0) return "not a GGUF file (it does not start with the magic 'GGUF')";
  uint64_t n_tensors = 0, n_kv = 0;
  if (!c.read(version_)) return "GGUF header is truncated: the file ends before its version";
  if (version_ == 1)
    return "GGUF version 1 is not supported (versions 2 and 3 are; version 1 had 32-bit counts: reconvert the model)";
  if (version_ == 0x02000000u || version_ == 0x03000000u)
    return "GGUF file is big-endian (version " + std::to_string(__builtin_bswap32(version_)) + "); only little-endian files are supported";
  if (version_ != 2 && version_ != 3) return "GGUF version " + std::to_string(version_) + " is not supported (versions 2 and 3 are)";
  if (!c.read(n_tensors) || !c.read(n_kv)) return "GGUF header is truncated: the file ends before its tensor and key counts";
  if (n_kv > c.left() / kMinKvBytes)
    return "GGUF key count " + std::to_string(n_kv) + " is implausible for a " + std::to_string(size) + "-byte file";
  if (n_tensors > c.left() / kMinTensorInfoBytes)
    return "GGUF tensor count " + std::to_string(n_tensors) + " is implausible for a " + std::to_string(size) + "-byte file";

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string_view key;
    if (!c.string(key)) return "GGUF key " + std::to_string(k) + ": its name runs past the end of the file" + at(c);
    std::string where = "GGUF key '" + std::string(key) + "'";
    uint32_t type = 0;
    if (!c.read(type)) return where + ": the file ends before its value type" + at(c);
    if (!known_value_type(type)) return where + " has unknown value type " + std::to_string(type) + at(c);
    GgufValue v;
    if (std::string why = read_value(c, static_cast<GgufValueType>(type), v, where); !why.empty()) return why;
    if (!kv_.emplace(std::string(key), std::move(v)).second) return where + " appears twice";
  }
  if (const GgufValue* a = find("general.alignment")) {
    if (!a->is_integer || a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > (1u << 30))
      return "GGUF key 'general.alignment' must be a power of two (up to 2^30), not " +
             (a->is_integer ? std::to_string(a->i) : std::string(gguf_value_type_name(a->type)));
    alignment_ = a->u;
  }

  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensor t;
    std::string_view name;
    if (!c.string(name)) return "GGUF tensor " + std::to_string(k) + ": its name runs past the end of the file" + at(c);
    t.name = std::string(name);
    std::string where = "GGUF tensor '" + t.name + "'";
    if (t.name.empty()) return "GGUF tensor " + std::to_string(k) + " has an empty name";
    if (by_name_.count(t.name)) return where + " appears twice";
    uint32_t n_dims = 0;
    if (!c.read(n_dims)) return where + ": the file ends before its dimension count" + at(c);
    if (n_dims < 1 || n_dims > kMaxDims)
      return where + " has " + std::to_string(n_dims) + " dimensions (1 to " + std::to_string(kMaxDims) + " are allowed)";
    t.ne.resize(n_dims);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      if (!c.read(t.ne[d])) return where + ": the file ends inside its dimensions" + at(c);
      if (t.ne[d] == 0) return where + " has a zero dimension " + std::to_string(d);
      if (!multiply(elements, t.ne[d], elements) || elements > static_cast<uint64_t>(INT64_MAX))
        return where + ": its element count overflows (dimensions " + shape_text(t.ne) + ")";
    }
    if (!c.read(t.ggml_type) || !c.read(t.offset)) return where + ": the file ends inside its type and offset" + at(c);
    const GgmlTypeInfo* ti = ggml_type_info(t.ggml_type);
    if (ti == nullptr) return where + " has unknown ggml type " + std::to_string(t.ggml_type);
    if (t.ne[0] % ti->block_elements != 0)
      return where + " has " + std::to_string(t.ne[0]) + " columns, not a multiple of " + ti->name + "'s " +
             std::to_string(ti->block_elements) + "-element block";
    uint64_t row_bytes = t.ne[0] / ti->block_elements * ti->block_bytes;
    if (!multiply(row_bytes, elements / t.ne[0], t.bytes)) return where + ": its byte size overflows";
    if (t.offset % alignment_ != 0)
      return where + " offset " + std::to_string(t.offset) + " is not a multiple of the alignment " + std::to_string(alignment_);
    by_name_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  uint64_t data_start = (c.offset() + alignment_ - 1) / alignment_ * alignment_;
  uint64_t data_bytes = data_start <= size ? size - data_start : 0;
  std::vector<std::pair<uint64_t, size_t>> order;
  for (size_t k = 0; k < tensors_.size(); ++k) {
    GgufTensor& t = tensors_[k];
    if (t.offset > data_bytes || t.bytes > data_bytes - t.offset)
      return "GGUF tensor '" + t.name + "' data [" + std::to_string(t.offset) + ", " + std::to_string(t.offset + t.bytes) +
             ") runs past the " + std::to_string(data_bytes) + " bytes of the data section (truncated file?)";
    t.data = base + data_start + t.offset;
    order.emplace_back(t.offset, k);
  }
  std::sort(order.begin(), order.end());
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensor& prev = tensors_[order[k - 1].second];
    const GgufTensor& t = tensors_[order[k].second];
    if (t.offset < prev.offset + prev.bytes)
      return "GGUF tensors '" + prev.name + "' and '" + t.name + "' overlap (at data offset " + std::to_string(t.offset) + ")";
  }
  return "";
}

const GgufValue* Gguf::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

const GgufTensor* Gguf::tensor(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

// --- typed reads ----------------------------------------------------------------

namespace {

// The key's value, or nullptr with `why` set when it is required and missing.
const GgufValue* lookup(const Gguf& g, const std::string& key, bool required, std::string& why) {
  const GgufValue* v = g.find(key);
  if (v == nullptr && required) why = "GGUF metadata lacks '" + key + "'";
  return v;
}

std::string wrong_type(const std::string& key, const GgufValue& v, const char* wanted) {
  std::string got = gguf_value_type_name(v.type);
  if (v.type == GgufValueType::kArray) got += std::string(" of ") + gguf_value_type_name(v.elem_type);
  return "GGUF key '" + key + "' is " + got + ", not " + wanted;
}

}  // namespace

std::string gguf_get_string(const Gguf& g, const std::string& key, bool required, std::string& out) {
  std::string why;
  const GgufValue* v = lookup(g, key, required, why);
  if (v == nullptr) return why;
  if (v->type != GgufValueType::kString) return wrong_type(key, *v, "a string");
  out = std::string(v->str);
  return "";
}

std::string gguf_get_int(const Gguf& g, const std::string& key, bool required, int64_t lo, int64_t hi, int64_t& out) {
  std::string why;
  const GgufValue* v = lookup(g, key, required, why);
  if (v == nullptr) return why;
  if (!v->is_integer) return wrong_type(key, *v, "an integer");
  if (!v->fits_int64 || v->i < lo || v->i > hi)
    return "GGUF key '" + key + "' is " + (v->fits_int64 ? std::to_string(v->i) : std::to_string(v->u)) + ", outside " +
           std::to_string(lo) + ".." + std::to_string(hi);
  out = v->i;
  return "";
}

std::string gguf_get_float(const Gguf& g, const std::string& key, bool required, double& out) {
  std::string why;
  const GgufValue* v = lookup(g, key, required, why);
  if (v == nullptr) return why;
  if (v->type != GgufValueType::kFloat32 && v->type != GgufValueType::kFloat64 && !v->is_integer)
    return wrong_type(key, *v, "a number");
  out = v->f;
  return "";
}

std::string gguf_get_bool(const Gguf& g, const std::string& key, bool required, bool& out) {
  std::string why;
  const GgufValue* v = lookup(g, key, required, why);
  if (v == nullptr) return why;
  if (v->type != GgufValueType::kBool) return wrong_type(key, *v, "a bool");
  out = v->u != 0;
  return "";
}

std::string gguf_get_strings(const Gguf& g, const std::string& key, bool required, std::vector<std::string_view>& out) {
  std::string why;
  const GgufValue* v = lookup(g, key, required, why);
  if (v == nullptr) return why;
  if (v->type != GgufValueType::kArray || v->elem_type != GgufValueType::kString) return wrong_type(key, *v, "an array of strings");
  out = v->strings;
  return "";
}

namespace {

// Element k of a numeric array as double / int64 (the bytes are unaligned).
template <typename T>
T load(const unsigned char* p) {
  T x;
  std::memcpy(&x, p, sizeof x);
  return x;
}

bool element(const GgufValue& v, uint64_t k, double& f, int64_t& i, bool& integer) {
  const unsigned char* p = v.elems + k * scalar_bytes(v.elem_type);
  integer = true;
  switch (v.elem_type) {
    case GgufValueType::kUint8: i = load<uint8_t>(p); break;
    case GgufValueType::kInt8: i = load<int8_t>(p); break;
    case GgufValueType::kUint16: i = load<uint16_t>(p); break;
    case GgufValueType::kInt16: i = load<int16_t>(p); break;
    case GgufValueType::kUint32: i = load<uint32_t>(p); break;
    case GgufValueType::kInt32: i = load<int32_t>(p); break;
    case GgufValueType::kInt64: i = load<int64_t>(p); break;
    case GgufValueType::kUint64: {
      uint64_t u = load<uint64_t>(p);
      if (u > static_cast<uint64_t>(INT64_MAX)) return false;
      i = static_cast<int64_t>(u);
      break;
    }
    case GgufValueType::kFloat32: integer = false; f = load<float>(p); return true;
    case GgufValueType::kFloat64: integer = false; f = load<double>(p); return true;
    default: return false;
  }
  f = static_cast<double>(i);
  return true;
}

}  // namespace

std::string gguf_get_floats(const Gguf& g, const std::string& key, bool required, std::vector<float>& out) {
  std::string why;
  const GgufValue* v = lookup(g, key, required, why);
  if (v == nullptr) return why;
  if (v->type != GgufValueType::kArray || v->elems == nullptr || v->elem_type == GgufValueType::kBool)
    return wrong_type(key, *v, "an array of numbers");
  out.resize(static_cast<size_t>(v->count));
  for (uint64_t k = 0; k < v->count; ++k) {
    double f = 0;
    int64_t i = 0;
    bool integer = false;
    if (!element(*v, k, f, i, integer)) return "GGUF key '" + key + "' element " + std::to_string(k) + " is out of range";
    out[k] = static_cast<float>(f);
  }
  return "";
}

std::string gguf_get_ints(const Gguf& g, const std::string& key, bool required, std::vector<int64_t>& out) {
  std::string why;
  const GgufValue* v = lookup(g, key, required, why);
  if (v == nullptr) return why;
  if (v->type != GgufValueType::kArray || v->elems == nullptr || v->elem_type == GgufValueType::kBool ||
      v->elem_type == GgufValueType::kFloat32 || v->elem_type == GgufValueType::kFloat64)
    return wrong_type(key, *v, "an array of integers");
  out.resize(static_cast<size_t>(v->count));
  for (uint64_t k = 0; k < v->count; ++k) {
    double f = 0;
    bool integer = false;
    if (!element(*v, k, f, out[k], integer)) return "GGUF key '" + key + "' element " + std::to_string(k) + " is out of range";
  }
  return "";
}

std::string gguf_as_matrix(const GgufTensor& t, size_t rows, size_t cols, Matrix& out) {
  const GgmlTypeInfo* ti = ggml_type_info(t.ggml_type);  // known: parse() checked
  if (!ti->weight_type)
    return "GGUF tensor '" + t.name + "' is " + ti->name + ", which the raw plugin does not compute with (supported: " +
           supported_ggml_types() + ")";
  bool shape_ok = (t.ne.size() == 2 && t.ne[0] == cols && t.ne[1] == rows) || (t.ne.size() == 1 && rows == 1 && t.ne[0] == cols);
  if (!shape_ok)
    return "GGUF tensor '" + t.name + "' has dimensions " + shape_text(t.ne) + " (ne[0] first), the config needs [" +
           std::to_string(cols) + ", " + std::to_string(rows) + "]";
  // Blocks hold f16 scales read as uint16: 2-byte alignment is all the
  // kernels need; float32 needs 4. The file's alignment gives both when the
  // mapping is page-aligned.
  size_t need = *ti->weight_type == WeightType::kF32 ? 4 : 2;
  if (reinterpret_cast<uintptr_t>(t.data) % need != 0)
    return "GGUF tensor '" + t.name + "' is not aligned to " + std::to_string(need) + " bytes";
  out = Matrix{t.data, *ti->weight_type, rows, cols};
  return "";
}

}  // namespace mrt::raw
