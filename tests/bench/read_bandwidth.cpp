// Memory read bandwidth, for the bandwidth bound of token decoding: T threads
// each read their slice of a 1 GiB buffer, best of 5 passes. Prints GB/s.
//   read-bandwidth [threads] [plain|streams|nt|all]
// plain (the default): one sequential sum per thread (vectorised, several
// accumulators). A decode kernel reads several weight rows at once and
// prefetches, which a simple loop can under-measure, so two more readers:
// streams: each thread reads its slice as 8 interleaved streams, 64 bytes
// from each in turn, with software prefetch 4 KiB ahead in every stream
// (the hardware prefetcher stops at page boundaries);
// nt: the same with non-temporal hints (prefetchnta, and AVX2's streaming
// load where the CPU has it).
// `all` runs the three and prints one line each, then the best as
// `read_bandwidth_best_gbs=`.
#include <cstdio>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

constexpr size_t kStreams = 8;
constexpr size_t kLine = 16;                      // floats in a 64-byte line
constexpr size_t kAhead = 4096 / sizeof(float);  // prefetch distance per stream

// 8 streams, a cache line from each in turn, each prefetched 4 KiB ahead.
#if defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
float sum_streams(const float* p, size_t n) {
  const size_t per = n / kStreams / kLine * kLine;
  float acc[kLine] = {};
  for (size_t i = 0; i < per; i += kLine)
    for (size_t s = 0; s < kStreams; ++s) {
      const float* q = p + s * per + i;
      if (i + kAhead < per) __builtin_prefetch(q + kAhead, 0, 0);
      for (size_t j = 0; j < kLine; ++j) acc[j] += q[j];
    }
  float r = 0;
  for (float a : acc) r += a;
  return r;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) float sum_streams_nt_avx2(const float* p, size_t n) {
  const size_t per = n / kStreams / kLine * kLine;
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (size_t i = 0; i < per; i += kLine)
    for (size_t s = 0; s < kStreams; ++s) {
      const float* q = p + s * per + i;
      if (i + kAhead < per) _mm_prefetch(reinterpret_cast<const char*>(q + kAhead), _MM_HINT_NTA);
      a0 = _mm256_add_ps(a0, _mm256_castsi256_ps(_mm256_stream_load_si256(reinterpret_cast<const __m256i*>(q))));
      a1 = _mm256_add_ps(a1, _mm256_castsi256_ps(_mm256_stream_load_si256(reinterpret_cast<const __m256i*>(q + 8))));
    }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(a0, a1));
  float r = 0;
  for (float o : out) r += o;
  return r;
}
#endif

float sum_streams_nt(const float* p, size_t n) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) return sum_streams_nt_avx2(p, n);
#endif
  return sum_streams(p, n);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = mrt::bench::threads_from_args(argc, argv);
  const char* mode = argc > 2 ? argv[2] : "plain";
  const bool all = std::strcmp(mode, "all") == 0;
  using Reader = float (*)(const float*, size_t);
  struct {
    const char* name;
    Reader read;
  } readers[] = {{"plain", sum}, {"streams", sum_streams}, {"nt", sum_streams_nt}};
  bool known = all;
  for (const auto& r : readers) known = known || std::strcmp(mode, r.name) == 0;
  if (!known) {
    std::fprintf(stderr, "usage: read-bandwidth [threads] [plain|streams|nt|all]\n");
    return 2;
  }
  const size_t n = (size_t{1} << 30) / sizeof(float);
  // 64-byte aligned (the streaming load needs 32), touched: every page is resident.
  std::vector<float> storage(n + kLine, 1.0f);
  const float* buf = storage.data() + (kLine - reinterpret_cast<uintptr_t>(storage.data()) / sizeof(float) % kLine) % kLine;
  double best = 0;
  for (const auto& r : readers) {
    if (!all && std::strcmp(mode, r.name) != 0) continue;
    double s = mrt::bench::best_pass_seconds(threads, [&](int t) {
      // Slices of whole lines, so every stream starts 64-byte aligned.
      size_t b = n / kLine * static_cast<size_t>(t) / static_cast<size_t>(threads) * kLine;
      size_t e = n / kLine * static_cast<size_t>(t + 1) / static_cast<size_t>(threads) * kLine;
      return r.read(buf + b, e - b);
    });
    double gbs = static_cast<double>(n * sizeof(float)) / s / 1e9;
    if (gbs > best) best = gbs;
    std::printf("read_bandwidth_gbs=%.1f threads=%d mode=%s\n", gbs, threads, r.name);
  }
  if (all) std::printf("read_bandwidth_best_gbs=%.1f threads=%d\n", best, threads);
  return 0;
}
