// Measured FP32 peak, for the "% of peak" of the prefill and ONNX
// benchmarks: T threads each run independent fused multiply-add chains that
// never touch memory, best of 5 passes. Prints GFLOP/s.
//   fma-peak [threads]
// The nominal peak (cores × FLOP/cycle × base clock) understates a CPU that
// turbos, and a VM's vCPUs may share physical cores; this is what the
// threads really get at the moment, measured beside the workload.
#include <cstdio>
#include <cstring>

#include "best_pass.h"

namespace {

typedef float v16 __attribute__((vector_size(64)));

constexpr int kChains = 12;  // ≥ FMA latency (4) × pipes (2), with room

// Each clone uses its widest vectors: 16 lanes on AVX-512, 2 × 8 on AVX2.
#if defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
float chains(long iterations, float seed) {
  v16 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = v16{} + seed * static_cast<float>(i);
  const v16 m = v16{} + 0.999999f, c = v16{} + 1e-7f;
  for (long it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = a[i] * m + c;
  }
  v16 total{};
  for (const v16& v : a) total += v;
  float out[16];
  std::memcpy(out, &total, sizeof out);
  return out[0];
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = mrt::bench::threads_from_args(argc, argv);
  const long iterations = 20'000'000;  // ~0.1 s per pass on a 3 GHz AVX-512 core
  double s = mrt::bench::best_pass_seconds(threads, [&](int t) { return chains(iterations, static_cast<float>(t)); });
  std::printf("fma_peak_gflops=%.1f threads=%d\n", threads * static_cast<double>(iterations) * kChains * 16 * 2 / s / 1e9, threads);
  return 0;
}
