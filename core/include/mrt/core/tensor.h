// Host-side tensors: an owning, 64-byte aligned buffer with dtype and dims,
// convertible to the ABI's MRT_Tensor view.
#pragma once

#include <mrt/plugin.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrt/core/status.h"

namespace mrt {

using Dims = std::vector<int64_t>;

// Bytes per element; 0 for MRT_DTYPE_UNDEFINED or an unknown value.
size_t dtype_size(int32_t dtype);
// "float32", "int64", ... ("undefined" for unknown values).
std::string_view dtype_name(int32_t dtype);
// Inverse of dtype_name; nullopt for unknown names.
std::optional<MRT_DType> dtype_from_name(std::string_view name);
// Number of elements; nullopt when a dim is negative or the product overflows.
std::optional<uint64_t> element_count(const Dims& dims);
// "[1, 3, 224, 224]"
std::string dims_to_string(const Dims& dims);

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor. Fails on negative dims, unknown dtype or overflow.
  static Result<Tensor> zeros(std::string name, MRT_DType dtype, Dims dims);
  // Same checks, contents left unset: for a buffer about to be overwritten
  // whole (a request's tensor read off the wire), where zero-filling would
  // only touch every page twice.
  static Result<Tensor> uninitialized(std::string name, MRT_DType dtype, Dims dims);

  // Bytes another object owns, read-only: a frame's mapping of a sealed
  // memfd from a plugin worker. `owner` keeps them alive; `file` and
  // `offset` say where the same bytes lie in that sealed file (-1: nowhere),
  // so an answer can hand the file on instead of copying them.
  struct SharedBytes {
    std::shared_ptr<const void> owner;
    const std::byte* data = nullptr;
    int file = -1;  // valid while `owner` lives
    uint64_t offset = 0;
  };
  // A tensor over `bytes` without a copy; dims × dtype must be `size`, and
  // the data 64-byte aligned. Writing through data() first copies the bytes
  // into memory of the tensor's own (copy on write).
  static Result<Tensor> shared(std::string name, MRT_DType dtype, Dims dims, SharedBytes bytes, uint64_t size);
  // The sealed file and offset this tensor's bytes are in, untouched, if any.
  struct FileRange {
    int file;
    uint64_t offset;
  };
  std::optional<FileRange> sealed_file() const;

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  MRT_DType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  size_t byte_size() const { return byte_size_; }
  uint64_t element_count() const { return byte_size_ / dtype_size(dtype_); }
  std::byte* data() {
    if (shared_) unshare();  // inline: loops call data_as<T>() per element
    return data_.get();
  }
  const std::byte* data() const { return shared_ ? shared_->data : data_.get(); }
  template <typename T>
  T* data_as() {
    return reinterpret_cast<T*>(data());
  }
  template <typename T>
  const T* data_as() const {
    return reinterpret_cast<const T*>(data());
  }

  // A view for the ABI; valid while this tensor lives and is not moved.
  MRT_Tensor view() const;

 private:
  struct FreeAligned { void operator()(std::byte* p) const; };
  // Copies shared bytes into memory of the tensor's own (before a write).
  void unshare();
  static Result<size_t> checked_size(const std::string& name, MRT_DType dtype, const Dims& dims);
  std::string name_;
  MRT_DType dtype_ = MRT_DTYPE_UNDEFINED;
  Dims dims_;
  size_t byte_size_ = 0;
  std::unique_ptr<std::byte[], FreeAligned> data_;
  std::unique_ptr<SharedBytes> shared_;  // instead of data_, until written
};

// Checks an ABI tensor view for internal consistency (known dtype, rank in
// range, non-negative dims, byte_size matching) and names what is wrong.
Status validate_tensor_view(const MRT_Tensor& t);
// Views of `tensors` for the ABI, valid while they live unmoved.
std::vector<MRT_Tensor> tensor_views(const std::vector<Tensor>& tensors);
// Zeros shaped by a model's declared dims, dynamic (-1) dims taken as 1.
Result<Tensor> zeros_for_dims(std::string name, MRT_DType dtype, const Dims& declared);

}  // namespace mrt
