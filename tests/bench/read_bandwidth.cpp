// Memory read bandwidth, for the bandwidth bound of token decoding: T threads
// each sum their slice of a 1 GiB buffer (vectorised, several accumulators),
// best of 5 passes. Prints GB/s.
//   read-bandwidth [threads]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

#if defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
float sum(const float* p, size_t n) {
  float acc[32] = {};
  for (size_t i = 0; i + 32 <= n; i += 32)
    for (size_t j = 0; j < 32; ++j) acc[j] += p[i + j];
  float s = 0;
  for (float a : acc) s += a;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, threads);
  const size_t n = (size_t{1} << 30) / sizeof(float);
  std::vector<float> buf(n, 1.0f);  // touched: every page is resident
  double best = 0;
  volatile float sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    std::vector<std::thread> pool;
    std::vector<float> partial(static_cast<size_t>(threads));
    auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        size_t b = n * static_cast<size_t>(t) / static_cast<size_t>(threads);
        size_t e = n * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
        partial[static_cast<size_t>(t)] = sum(buf.data() + b, e - b);
      });
    for (auto& th : pool) th.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (float p : partial) sink = sink + p;
    best = std::max(best, static_cast<double>(n * sizeof(float)) / s / 1e9);
  }
  std::printf("read_bandwidth_gbs=%.1f threads=%d\n", best, threads);
  return 0;
}
