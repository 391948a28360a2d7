// What the machine-limit probes (read-bandwidth, fma-peak) share: the thread
// count from the command line, and the shortest of 5 passes of work run on
// every thread at once (the best pass is the least disturbed by neighbours).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

namespace mrt::bench {

inline int threads_from_args(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, threads);
}

// Seconds of the fastest of 5 passes of work(thread) on `threads` threads;
// work returns a float that is kept, so the compiler cannot drop it.
template <typename Work>
double best_pass_seconds(int threads, Work work) {
  double best = 1e300;
  volatile float sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    std::vector<std::thread> pool;
    std::vector<float> partial(static_cast<size_t>(threads));
    auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { partial[static_cast<size_t>(t)] = work(t); });
    for (auto& th : pool) th.join();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    for (float p : partial) sink = sink + p;
  }
  return best;
}

}  // namespace mrt::bench
