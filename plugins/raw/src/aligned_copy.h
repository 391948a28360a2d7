// A checkpoint's bytes copied into anonymous memory so that its tensors are
// 64-byte aligned, for formats that store them misaligned: a llama2.c file's
// weights start after a 28-byte header, a safetensors file's after an
// 8-byte length and a JSON header of any length. Mapped in place, every
// other 32-byte load of a weight row crosses a cache line (a decode step of
// 8 sequences of the 110M shape: 28 ms misaligned against 21-25 aligned
// here), so the plugin reads such files once into aligned pages (with
// transparent huge pages where the kernel has them) and lets the mapping go.
// GGUF aligns its tensor data itself and stays mapped.
#pragma once

#include <cstddef>

namespace mrt::raw {

class AlignedCopy {
 public:
  AlignedCopy() = default;
  ~AlignedCopy();
  AlignedCopy(AlignedCopy&& o) noexcept;
  AlignedCopy& operator=(AlignedCopy&& o) noexcept;
  AlignedCopy(const AlignedCopy&) = delete;
  AlignedCopy& operator=(const AlignedCopy&) = delete;

  // `size` bytes from `bytes`, placed so that byte `data_offset` lands on a
  // 64-byte boundary. Empty (not an exception) when the memory is not there
  // (a process memory limit): the caller keeps its mapping then.
  static AlignedCopy of(const void* bytes, size_t size, size_t data_offset);

  bool empty() const { return data_ == nullptr; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* pages_ = nullptr;
  size_t page_bytes_ = 0;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// Whether tensors at `data_offset` in a mapping (page-aligned) would be
// misaligned for 32-byte vector loads.
inline bool misaligned(size_t data_offset) { return data_offset % 32 != 0; }

}  // namespace mrt::raw
