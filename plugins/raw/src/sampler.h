// Picks the next token from logits: greedy (temperature 0), or sampling with
// temperature, top-k and top-p (nucleus), from a seeded generator so a seed
// reproduces a generation exactly.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace mrt::raw {

struct SamplingParams {
  float temperature = 0;  // 0 = greedy
  int top_k = 0;          // 0 = off
  float top_p = 0;        // 0 or ≥ 1 = off
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplingParams p) : params_(p), rng_(p.seed) {}
  // `logits` is modified (scaled, normalised).
  int sample(float* logits, int vocab);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int>> candidates_;
};

}  // namespace mrt::raw
