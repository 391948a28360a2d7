#include "mrt/core/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

namespace mrt {

size_t dtype_size(int32_t dtype) {
  switch (dtype) {
    case MRT_DTYPE_FLOAT32: case MRT_DTYPE_INT32: case MRT_DTYPE_UINT32: return 4;
    case MRT_DTYPE_UINT8: case MRT_DTYPE_INT8: case MRT_DTYPE_BOOL: return 1;
    case MRT_DTYPE_UINT16: case MRT_DTYPE_INT16: case MRT_DTYPE_FLOAT16: case MRT_DTYPE_BFLOAT16: return 2;
    case MRT_DTYPE_INT64: case MRT_DTYPE_FLOAT64: case MRT_DTYPE_UINT64: return 8;
    default: return 0;
  }
}

namespace {
struct DTypeName { MRT_DType dtype; std::string_view name; };
constexpr DTypeName kDTypeNames[] = {
    {MRT_DTYPE_FLOAT32, "float32"}, {MRT_DTYPE_UINT8, "uint8"},     {MRT_DTYPE_INT8, "int8"},
    {MRT_DTYPE_UINT16, "uint16"},   {MRT_DTYPE_INT16, "int16"},     {MRT_DTYPE_INT32, "int32"},
    {MRT_DTYPE_INT64, "int64"},     {MRT_DTYPE_BOOL, "bool"},       {MRT_DTYPE_FLOAT16, "float16"},
    {MRT_DTYPE_FLOAT64, "float64"}, {MRT_DTYPE_UINT32, "uint32"},   {MRT_DTYPE_UINT64, "uint64"},
    {MRT_DTYPE_BFLOAT16, "bfloat16"},
};
}  // namespace

std::string_view dtype_name(int32_t dtype) {
  for (const auto& e : kDTypeNames) if (e.dtype == dtype) return e.name;
  return "undefined";
}

std::optional<MRT_DType> dtype_from_name(std::string_view name) {
  for (const auto& e : kDTypeNames) if (e.name == name) return e.dtype;
  return std::nullopt;
}

std::optional<uint64_t> element_count(const Dims& dims) {
  uint64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) return std::nullopt;
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

std::string dims_to_string(const Dims& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

void Tensor::FreeAligned::operator()(std::byte* p) const { std::free(p); }

Result<Tensor> Tensor::zeros(std::string name, MRT_DType dtype, Dims dims) {
  auto t = uninitialized(std::move(name), dtype, std::move(dims));
  if (t) std::memset(t->data_.get(), 0, (t->byte_size_ + 63) / 64 * 64);
  return t;
}

namespace {
// 64-byte aligned storage for `bytes` (at least one line); nullptr when the
// memory is not there.
std::byte* allocate_aligned(size_t bytes) {
  return static_cast<std::byte*>(std::aligned_alloc(64, std::max<size_t>((bytes + 63) / 64 * 64, 64)));
}
}  // namespace

// What every tensor is checked for before it holds bytes: a known dtype, a
// rank in range, dims whose element count fits. The result is its byte size.
Result<size_t> Tensor::checked_size(const std::string& name, MRT_DType dtype, const Dims& dims) {
  size_t esize = dtype_size(dtype);
  if (esize == 0) return invalid_argument("unknown dtype " + std::to_string(dtype));
  if (dims.size() > MRT_MAX_RANK) return invalid_argument("rank " + std::to_string(dims.size()) + " exceeds " + std::to_string(MRT_MAX_RANK));
  auto count = mrt::element_count(dims);
  // Cap single tensors at 16 GiB: anything larger is a corrupt header, not data.
  constexpr uint64_t kMaxBytes = uint64_t{16} << 30;
  if (!count || *count > kMaxBytes / esize)
    return invalid_argument("tensor '" + name + "' has invalid or too large dims " + dims_to_string(dims));
  return *count * esize;
}

Result<Tensor> Tensor::uninitialized(std::string name, MRT_DType dtype, Dims dims) {
  auto size = checked_size(name, dtype, dims);
  if (!size) return size.status();
  Tensor t;
  t.name_ = std::move(name);
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.byte_size_ = *size;
  t.data_.reset(allocate_aligned(t.byte_size_));
  if (!t.data_)
    return resource_exhausted("cannot allocate " + std::to_string(std::max<size_t>((t.byte_size_ + 63) / 64 * 64, 64)) +
                              " bytes");
  return t;
}

Result<Tensor> Tensor::shared(std::string name, MRT_DType dtype, Dims dims, SharedBytes bytes, uint64_t size) {
  auto want = checked_size(name, dtype, dims);
  if (!want) return want.status();
  if (*want != size)
    return invalid_argument("tensor '" + name + "': " + std::to_string(size) + " bytes for dims " +
                            dims_to_string(dims) + " of " + std::string(dtype_name(dtype)));
  if (size > 0 && (bytes.data == nullptr || reinterpret_cast<uintptr_t>(bytes.data) % 64 != 0))
    return invalid_argument("tensor '" + name + "': shared bytes not 64-byte aligned");
  Tensor t;
  t.name_ = std::move(name);
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.byte_size_ = size;
  t.shared_ = std::make_unique<SharedBytes>(std::move(bytes));
  return t;
}

std::optional<Tensor::FileRange> Tensor::sealed_file() const {
  if (!shared_ || shared_->file < 0) return std::nullopt;
  return FileRange{shared_->file, shared_->offset};
}

void Tensor::unshare() {
  // Copy on write: the shared bytes are read-only.
  std::byte* p = allocate_aligned(byte_size_);
  if (p == nullptr) throw std::bad_alloc();
  if (byte_size_) std::memcpy(p, shared_->data, byte_size_);
  data_.reset(p);
  shared_.reset();
}

MRT_Tensor Tensor::view() const {
  MRT_Tensor v{};
  v.struct_size = MRT_TENSOR_STRUCT_SIZE;
  v.name = name_.c_str();
  v.dtype = dtype_;
  v.rank = static_cast<int32_t>(dims_.size());
  v.dims = dims_.data();
  v.data = data();
  v.byte_size = byte_size_;
  v.device_kind = MRT_DEVICE_CPU;
  v.device_id = 0;
  return v;
}

Status validate_tensor_view(const MRT_Tensor& t) {
  std::string name = t.name ? t.name : "<unnamed>";
  if (t.struct_size < MRT_TENSOR_STRUCT_SIZE) return invalid_argument("tensor '" + name + "': struct_size too small");
  size_t esize = dtype_size(t.dtype);
  if (esize == 0) return invalid_argument("tensor '" + name + "': unknown dtype " + std::to_string(t.dtype));
  if (t.rank < 0 || t.rank > MRT_MAX_RANK) return invalid_argument("tensor '" + name + "': rank " + std::to_string(t.rank) + " out of range");
  if (t.rank > 0 && t.dims == nullptr) return invalid_argument("tensor '" + name + "': dims is NULL");
  Dims dims(t.dims, t.dims + t.rank);
  auto count = element_count(dims);
  if (!count) return invalid_argument("tensor '" + name + "': invalid dims " + dims_to_string(dims));
  if (*count > std::numeric_limits<uint64_t>::max() / esize || *count * esize != t.byte_size)
    return invalid_argument("tensor '" + name + "': byte_size " + std::to_string(t.byte_size) +
                            " does not match dims " + dims_to_string(dims) + " of " + std::string(dtype_name(t.dtype)));
  if (t.byte_size > 0 && t.data == nullptr) return invalid_argument("tensor '" + name + "': data is NULL");
  return Status::ok();
}

std::vector<MRT_Tensor> tensor_views(const std::vector<Tensor>& tensors) {
  std::vector<MRT_Tensor> v;
  v.reserve(tensors.size());
  for (const auto& t : tensors) v.push_back(t.view());
  return v;
}

Result<Tensor> zeros_for_dims(std::string name, MRT_DType dtype, const Dims& declared) {
  Dims dims;
  for (int64_t d : declared) dims.push_back(d < 0 ? 1 : d);
  return Tensor::zeros(std::move(name), dtype, std::move(dims));
}

}  // namespace mrt
