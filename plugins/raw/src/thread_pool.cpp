#include "thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace mrt::raw {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins until done() or kSpin has passed; true when done() became true.
template <typename Done>
bool spin_until(Done done) {
  auto deadline = std::chrono::steady_clock::now() + ThreadPool::kSpin;
  for (unsigned i = 1;; ++i) {
    if (done()) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) return done();
  }
}

}  // namespace

void SpinBarrier::wait() {
  if (threads_ < 2) return;
  size_t gen = generation_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
    arrived_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);  // publishes every thread's writes before the barrier
    return;
  }
  for (unsigned i = 1; generation_.load(std::memory_order_acquire) == gen; ++i) {
    if (i < kYieldAfter)
      cpu_relax();
    else
      std::this_thread::yield();
  }
}

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(static_cast<size_t>(i)); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::work(size_t index) {
  size_t seen = 0;
  for (;;) {
    auto moved = [&] { return generation_.load(std::memory_order_acquire) != seen; };
    const std::function<void(size_t, size_t)>* job;
    size_t n;
    if (!spin_until(moved)) {
      std::unique_lock lock(mutex_);
      start_.wait(lock, moved);
    }
    {
      // The lock orders these reads after the publisher's writes even when
      // the move was seen while spinning; uncontended, it costs ~20 ns.
      std::lock_guard lock(mutex_);
      if (stop_) return;
      seen = generation_.load(std::memory_order_relaxed);
      job = job_;
      n = n_;
    }
    size_t parts = static_cast<size_t>(size());
    size_t begin = n * index / parts, end = n * (index + 1) / parts;
    if (begin < end) (*job)(begin, end);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(mutex_);  // pairs with the caller's predicate check
      done_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn) {
  if (workers_.empty() || n < 2) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    n_ = n;
    pending_.store(workers_.size(), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_.notify_all();  // no system call when every worker is spinning
  size_t parts = static_cast<size_t>(size());
  fn(0, n / parts);  // the caller takes the first chunk
  auto finished = [&] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(finished)) {
    std::unique_lock lock(mutex_);
    done_.wait(lock, finished);
  }
}

void ThreadPool::on_each_thread(const std::function<void(size_t, size_t)>& fn) {
  size_t parts = static_cast<size_t>(size());
  parallel_for(parts, [&](size_t begin, size_t) { fn(begin, parts); });
}

}  // namespace mrt::raw
