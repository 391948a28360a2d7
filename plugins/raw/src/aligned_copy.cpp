#include "aligned_copy.h"

#include <sys/mman.h>

#include <cstring>
#include <utility>

namespace mrt::raw {

AlignedCopy::~AlignedCopy() {
  if (pages_ != nullptr) ::munmap(pages_, page_bytes_);
}

AlignedCopy::AlignedCopy(AlignedCopy&& o) noexcept
    : pages_(std::exchange(o.pages_, nullptr)),
      page_bytes_(std::exchange(o.page_bytes_, 0)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)) {}

AlignedCopy& AlignedCopy::operator=(AlignedCopy&& o) noexcept {
  if (this != &o) {
    if (pages_ != nullptr) ::munmap(pages_, page_bytes_);
    pages_ = std::exchange(o.pages_, nullptr);
    page_bytes_ = std::exchange(o.page_bytes_, 0);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

AlignedCopy AlignedCopy::of(const void* bytes, size_t size, size_t data_offset) {
  AlignedCopy c;
  const size_t shift = (64 - data_offset % 64) % 64;
  c.page_bytes_ = size + shift;
  void* p = ::mmap(nullptr, c.page_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return AlignedCopy();
#ifdef MADV_HUGEPAGE
  ::madvise(p, c.page_bytes_, MADV_HUGEPAGE);  // fewer TLB misses streaming the weights; advice only
#endif
  c.pages_ = p;
  c.size_ = size;
  char* at = static_cast<char*>(p) + shift;
  std::memcpy(at, bytes, size);
  ::mprotect(p, c.page_bytes_, PROT_READ);  // the weights are read-only from here on
  c.data_ = at;
  return c;
}

}  // namespace mrt::raw
