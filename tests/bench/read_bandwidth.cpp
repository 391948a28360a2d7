// Memory read bandwidth, for the bandwidth bound of token decoding: T threads
// each sum their slice of a 1 GiB buffer (vectorised, several accumulators),
// best of 5 passes. Prints GB/s.
//   read-bandwidth [threads]
#include <cstdio>
#include <vector>

#include "best_pass.h"

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
  const int threads = mrt::bench::threads_from_args(argc, argv);
  const size_t n = (size_t{1} << 30) / sizeof(float);
  std::vector<float> buf(n, 1.0f);  // touched: every page is resident
  double s = mrt::bench::best_pass_seconds(threads, [&](int t) {
    size_t b = n * static_cast<size_t>(t) / static_cast<size_t>(threads);
    size_t e = n * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
    return sum(buf.data() + b, e - b);
  });
  std::printf("read_bandwidth_gbs=%.1f threads=%d\n", static_cast<double>(n * sizeof(float)) / s / 1e9, threads);
  return 0;
}
