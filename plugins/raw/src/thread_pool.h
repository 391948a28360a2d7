// A fixed pool of threads for data-parallel loops: parallel_for splits
// [0, n) into one contiguous chunk per thread (the caller runs one of them).
//
// A forward pass hands work to the pool ~60 times per token, a few hundred
// microseconds apart, so a hand-off must cost far less than a futex
// round trip (several µs each way, more on a busy host). Idle workers and
// the waiting caller therefore spin briefly (kSpin) before sleeping on a
// condition variable, as llama.cpp's and OpenMP's pools do; a pool that
// goes quiet (between requests) sleeps and costs nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mrt::raw {

// All of a team's threads meet here between the phases of one decode step
// (ThreadPool::on_each_thread running the whole step): a generation
// counter that the last arrival moves, spun on by the others. A phase of a
// small model lasts microseconds, so a sleep/wake (several µs each way)
// would cost more than the phase; after kYieldAfter spins a waiter yields
// its core, so a host with more runnable threads than cores still runs the
// thread everyone waits for.
class SpinBarrier {
 public:
  explicit SpinBarrier(size_t threads) : threads_(threads) {}
  void wait();
  static constexpr unsigned kYieldAfter = 2048;

 private:
  const size_t threads_;
  alignas(64) std::atomic<size_t> arrived_{0};
  alignas(64) std::atomic<size_t> generation_{0};
};

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // fn(begin, end) over [0, n); returns when every chunk is done. Not
  // reentrant: one parallel_for at a time per pool.
  void parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn);
  // fn(index, size()) once on every thread (the caller is index 0): for
  // work that splits several arrays the same way in one hand-off.
  void on_each_thread(const std::function<void(size_t, size_t)>& fn);

  // How long a thread spins for the next job or for completion before it
  // sleeps.
  static constexpr std::chrono::microseconds kSpin{200};

 private:
  void work(size_t index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  // Written under mutex_ before generation_ moves; read after seeing it move.
  const std::function<void(size_t, size_t)>* job_ = nullptr;
  size_t n_ = 0;
  std::atomic<size_t> generation_{0};
  std::atomic<size_t> pending_{0};
  bool stop_ = false;
};

}  // namespace mrt::raw
