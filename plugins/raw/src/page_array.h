// An array in fresh anonymous pages: memory becomes resident only where it
// is written. The KV cache is sized for the whole context but a request
// fills only the positions it reaches; zero-filling it up front (as
// std::vector does) made all of it resident at load.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <utility>

namespace mrt::raw {

template <typename T>
class PageArray {
 public:
  PageArray() = default;
  explicit PageArray(size_t n) : n_(n) {
    if (n == 0) return;
    void* p = mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<T*>(p);
  }
  PageArray(PageArray&& o) noexcept : data_(std::exchange(o.data_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  PageArray& operator=(PageArray&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(n_, o.n_);
    return *this;
  }
  PageArray(const PageArray&) = delete;
  PageArray& operator=(const PageArray&) = delete;
  ~PageArray() {
    if (data_ != nullptr) munmap(data_, n_ * sizeof(T));
  }
  T* data() { return data_; }
  size_t size() const { return n_; }

 private:
  T* data_ = nullptr;
  size_t n_ = 0;
};

}  // namespace mrt::raw
