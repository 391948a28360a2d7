// The typed graph IR: dtypes, dims, the aligned host tensor and the node
// attribute accessors.
#include "mrt/onnx/ir.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <utility>

namespace mrt::onnx {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kUint8:
    case DType::kInt8:
    case DType::kBool:
      return 1;
    case DType::kUint16:
    case DType::kInt16:
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
    case DType::kFloat:
    case DType::kInt32:
    case DType::kUint32:
      return 4;
    case DType::kInt64:
    case DType::kDouble:
    case DType::kUint64:
      return 8;
    case DType::kUndefined:
    case DType::kString:
      return 0;
  }
  return 0;  // float8, int4, complex... (values outside the enum)
}

std::string dtype_name(DType t) {
  switch (static_cast<int32_t>(t)) {
    case 0:
      return "undefined";
    case 1:
      return "float32";
    case 2:
      return "uint8";
    case 3:
      return "int8";
    case 4:
      return "uint16";
    case 5:
      return "int16";
    case 6:
      return "int32";
    case 7:
      return "int64";
    case 8:
      return "string";
    case 9:
      return "bool";
    case 10:
      return "float16";
    case 11:
      return "float64";
    case 12:
      return "uint32";
    case 13:
      return "uint64";
    case 14:
      return "complex64";
    case 15:
      return "complex128";
    case 16:
      return "bfloat16";
    case 17:
      return "float8e4m3fn";
    case 18:
      return "float8e4m3fnuz";
    case 19:
      return "float8e5m2";
    case 20:
      return "float8e5m2fnuz";
    case 21:
      return "uint4";
    case 22:
      return "int4";
    case 23:
      return "float4e2m1";
    default:
      return "dtype(" + std::to_string(static_cast<int32_t>(t)) + ")";
  }
}

int64_t element_count(const Dims& dims) {
  bool empty = false;
  for (int64_t d : dims) {
    if (d < 0) throw OnnxError("dims " + dims_string(dims) + " are not concrete (negative dimension)");
    empty = empty || d == 0;
  }
  if (empty) return 0;  // [0, huge, huge] is empty, not an overflow
  int64_t n = 1;
  for (int64_t d : dims) {
    if (n > std::numeric_limits<int64_t>::max() / d) {
      throw OnnxError("dims " + dims_string(dims) + " have too many elements");
    }
    n *= d;
  }
  return n;
}

std::string dims_string(const Dims& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

// ---- HostTensor ----------------------------------------------------------------

namespace {

constexpr size_t kAlign = 64;
// Big buffers (weights, packed weights) ask for transparent huge pages:
// faulting in a 100 MB model 4 KiB at a time dominates load time otherwise.
constexpr size_t kHugePage = size_t{2} << 20;

std::shared_ptr<void> allocate(size_t bytes, bool populate = true) {
  // Never a null pointer, even for an empty tensor, so kernels may memcpy 0 bytes.
  size_t align = bytes >= 2 * kHugePage ? kHugePage : kAlign;
  size_t n = (std::max<size_t>(bytes, 1) + align - 1) / align * align;
  void* p = std::aligned_alloc(align, n);
  if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (align == kHugePage) madvise(p, n, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
  // Fault the whole buffer in with one call (Linux 5.14+; older kernels
  // refuse it and the pages fault in as they are written): on the project's
  // VMs first writes fault 16 MiB in 5-36 ms, one call populates it in ~2 ms,
  // and every byte of a tensor is written anyway.
  if (align == kHugePage && populate) madvise(p, n, MADV_POPULATE_WRITE);
#endif
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

}  // namespace

std::shared_ptr<void> allocate_host_buffer(size_t bytes, bool populate) { return allocate(bytes, populate); }

void HostTensor::allocate_storage() {
  size_t es = dtype_size(dtype_);
  if (es == 0) throw OnnxError("cannot hold a tensor of dtype " + dtype_name(dtype_));
  numel_ = element_count(dims_);
  if (static_cast<uint64_t>(numel_) > std::numeric_limits<size_t>::max() / es / 2) {
    throw OnnxError("tensor " + dims_string(dims_) + " of " + dtype_name(dtype_) + " is too large");
  }
  try {
    storage_ = allocate(bytes());
  } catch (const std::bad_alloc&) {
    throw OnnxError("cannot allocate " + std::to_string(bytes()) + " bytes for a tensor " + dims_string(dims_) +
                    " of " + dtype_name(dtype_));
  }
  data_ = storage_.get();
}

HostTensor::HostTensor(DType dtype, Dims dims) : dtype_(dtype), dims_(std::move(dims)) {
  allocate_storage();
  std::memset(data_, 0, bytes());
}

HostTensor::HostTensor(DType dtype, Dims dims, Uninitialized) : dtype_(dtype), dims_(std::move(dims)) {
  allocate_storage();
}

HostTensor HostTensor::adopt(DType dtype, Dims dims, std::shared_ptr<void> owner, const void* data) {
  HostTensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.numel_ = element_count(t.dims_);
  if (dtype_size(dtype) == 0) throw OnnxError("cannot hold a tensor of dtype " + dtype_name(dtype));
  t.storage_ = std::move(owner);
  t.data_ = const_cast<void*>(data);
  return t;
}

void HostTensor::copy_storage() {
  make_resident();
  const void* from = data_;
  std::shared_ptr<void> keep = storage_;  // the shared bytes, alive until copied
  allocate_storage();
  std::memcpy(data_, from, bytes());
  residency_.reset();  // bytes of its own now, which nobody lets go
}

HostTensor::HostTensor(HostTensor&& other) noexcept
    : dtype_(other.dtype_),
      dims_(std::move(other.dims_)),
      numel_(other.numel_),
      storage_(std::move(other.storage_)),
      data_(other.data_),
      residency_(std::move(other.residency_)) {
  other.dtype_ = DType::kUndefined;
  other.dims_.clear();
  other.numel_ = 0;
  other.data_ = nullptr;
}

HostTensor& HostTensor::operator=(HostTensor&& other) noexcept {
  if (this != &other) {
    dtype_ = other.dtype_;
    dims_ = std::move(other.dims_);
    numel_ = other.numel_;
    storage_ = std::move(other.storage_);
    data_ = other.data_;
    residency_ = std::move(other.residency_);
    other.dtype_ = DType::kUndefined;
    other.dims_.clear();
    other.numel_ = 0;
    other.data_ = nullptr;
  }
  return *this;
}

void HostTensor::reshape(Dims dims) {
  int64_t n = element_count(dims);
  if (n != numel_) {
    throw OnnxError("cannot reshape a tensor " + dims_string(dims_) + " (" + std::to_string(numel_) + " elements) to " +
                    dims_string(dims) + " (" + std::to_string(n) + " elements)");
  }
  dims_ = std::move(dims);
}

namespace {

template <typename T, typename Out, typename F>
void convert_all(const void* data, int64_t n, std::vector<Out>& out, F f) {
  const T* p = static_cast<const T*>(data);
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = f(p[i]);
}

int64_t float_to_int64(double v) {
  // 2^63 is exactly representable; anything at or beyond it does not fit.
  if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) {
    throw OnnxError("value " + std::to_string(v) + " does not fit an int64");
  }
  return static_cast<int64_t>(v);
}

}  // namespace

std::vector<int64_t> HostTensor::to_int64() const {
  make_resident();
  std::vector<int64_t> out(static_cast<size_t>(numel_));
  auto same = [](auto v) { return static_cast<int64_t>(v); };
  switch (dtype_) {
    case DType::kInt64:
      convert_all<int64_t>(data_, numel_, out, same);
      break;
    case DType::kInt32:
      convert_all<int32_t>(data_, numel_, out, same);
      break;
    case DType::kInt16:
      convert_all<int16_t>(data_, numel_, out, same);
      break;
    case DType::kInt8:
      convert_all<int8_t>(data_, numel_, out, same);
      break;
    case DType::kUint8:
      convert_all<uint8_t>(data_, numel_, out, same);
      break;
    case DType::kUint16:
      convert_all<uint16_t>(data_, numel_, out, same);
      break;
    case DType::kUint32:
      convert_all<uint32_t>(data_, numel_, out, same);
      break;
    case DType::kBool:
      convert_all<uint8_t>(data_, numel_, out, [](uint8_t v) { return int64_t{v != 0}; });
      break;
    case DType::kUint64:
      convert_all<uint64_t>(data_, numel_, out, [](uint64_t v) {
        if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          throw OnnxError("value " + std::to_string(v) + " does not fit an int64");
        }
        return static_cast<int64_t>(v);
      });
      break;
    case DType::kFloat:
      convert_all<float>(data_, numel_, out, [](float v) { return float_to_int64(v); });
      break;
    case DType::kDouble:
      convert_all<double>(data_, numel_, out, float_to_int64);
      break;
    default:
      throw OnnxError("cannot read a tensor of dtype " + dtype_name(dtype_) + " as integers");
  }
  return out;
}

std::vector<double> HostTensor::to_double() const {
  make_resident();
  std::vector<double> out(static_cast<size_t>(numel_));
  auto same = [](auto v) { return static_cast<double>(v); };
  switch (dtype_) {
    case DType::kFloat:
      convert_all<float>(data_, numel_, out, same);
      break;
    case DType::kDouble:
      convert_all<double>(data_, numel_, out, same);
      break;
    case DType::kInt64:
      convert_all<int64_t>(data_, numel_, out, same);
      break;
    case DType::kInt32:
      convert_all<int32_t>(data_, numel_, out, same);
      break;
    case DType::kInt16:
      convert_all<int16_t>(data_, numel_, out, same);
      break;
    case DType::kInt8:
      convert_all<int8_t>(data_, numel_, out, same);
      break;
    case DType::kUint8:
      convert_all<uint8_t>(data_, numel_, out, same);
      break;
    case DType::kUint16:
      convert_all<uint16_t>(data_, numel_, out, same);
      break;
    case DType::kUint32:
      convert_all<uint32_t>(data_, numel_, out, same);
      break;
    case DType::kUint64:
      convert_all<uint64_t>(data_, numel_, out, same);
      break;
    case DType::kBool:
      convert_all<uint8_t>(data_, numel_, out, [](uint8_t v) { return v ? 1.0 : 0.0; });
      break;
    default:
      throw OnnxError("cannot read a tensor of dtype " + dtype_name(dtype_) + " as numbers");
  }
  return out;
}

HostTensor HostTensor::from_int64(const std::vector<int64_t>& values, Dims dims) {
  HostTensor t(DType::kInt64, std::move(dims));
  if (static_cast<size_t>(t.numel()) != values.size()) {
    throw OnnxError(std::to_string(values.size()) + " values do not fill a tensor " + dims_string(t.dims()));
  }
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

HostTensor HostTensor::scalar_float(float v) {
  HostTensor t(DType::kFloat, {});
  *t.data<float>() = v;
  return t;
}

// ---- Node ----------------------------------------------------------------------

std::string attribute_kind_name(Attribute::Kind k) {
  switch (k) {
    case Attribute::kFloat:
      return "a float";
    case Attribute::kInt:
      return "an int";
    case Attribute::kString:
      return "a string";
    case Attribute::kTensor:
      return "a tensor";
    case Attribute::kGraph:
      return "a graph";
    case Attribute::kFloats:
      return "a list of floats";
    case Attribute::kInts:
      return "a list of ints";
    case Attribute::kStrings:
      return "a list of strings";
  }
  return "attribute type " + std::to_string(static_cast<int32_t>(k));
}

namespace {

const Attribute* find_attr(const Node& n, const std::string& a, Attribute::Kind want) {
  auto it = n.attrs.find(a);
  if (it == n.attrs.end()) return nullptr;
  if (it->second.kind != want) {
    throw OnnxError("attribute '" + a + "' of node '" + n.name + "' (op '" + n.op_type + "') must be " +
                    attribute_kind_name(want) + ", not " + attribute_kind_name(it->second.kind));
  }
  return &it->second;
}

}  // namespace

int64_t Node::attr_int(const std::string& a, int64_t fallback) const {
  const Attribute* at = find_attr(*this, a, Attribute::kInt);
  return at ? at->i : fallback;
}

float Node::attr_float(const std::string& a, float fallback) const {
  const Attribute* at = find_attr(*this, a, Attribute::kFloat);
  return at ? at->f : fallback;
}

std::string Node::attr_string(const std::string& a, const std::string& fallback) const {
  const Attribute* at = find_attr(*this, a, Attribute::kString);
  return at ? at->s : fallback;
}

std::vector<int64_t> Node::attr_ints(const std::string& a, std::vector<int64_t> fallback) const {
  const Attribute* at = find_attr(*this, a, Attribute::kInts);
  return at ? at->ints : std::move(fallback);
}

std::vector<float> Node::attr_floats(const std::string& a, std::vector<float> fallback) const {
  const Attribute* at = find_attr(*this, a, Attribute::kFloats);
  return at ? at->floats : std::move(fallback);
}

const std::string& Node::input(size_t i) const {
  static const std::string kNone;
  return i < inputs.size() ? inputs[i] : kNone;
}

std::string Node::describe(int64_t opset) const {
  std::string op = (domain.empty() || domain == "ai.onnx") ? op_type : domain + "." + op_type;
  return "op '" + op + "' (node '" + name + "', opset " + std::to_string(opset) + ")";
}

}  // namespace mrt::onnx
