#include "sampler.h"

#include <algorithm>
#include <cmath>

#include "kernels.h"

namespace mrt::raw {

int Sampler::sample(float* logits, int vocab) {
  if (params_.temperature <= 0) return static_cast<int>(std::max_element(logits, logits + vocab) - logits);
  for (int i = 0; i < vocab; ++i) logits[i] /= params_.temperature;
  softmax(logits, static_cast<size_t>(vocab));
  bool top_p = params_.top_p > 0 && params_.top_p < 1;
  if (params_.top_k <= 0 && !top_p) {
    // Plain sampling: one pass over the distribution, no sorting.
    double r = std::uniform_real_distribution<double>(0.0, 1.0)(rng_), cumulative = 0;
    for (int i = 0; i < vocab; ++i) {
      cumulative += logits[i];
      if (r < cumulative) return i;
    }
    return vocab - 1;
  }
  candidates_.clear();
  // Tokens below (1 - top_p) / (vocab - 1) can never be in the nucleus
  // (llama2.c's observation): dropping them first keeps the sort small.
  float cutoff = top_p && params_.top_k <= 0 ? (1.0f - params_.top_p) / static_cast<float>(vocab - 1) : 0.0f;
  for (int i = 0; i < vocab; ++i)
    if (logits[i] >= cutoff) candidates_.emplace_back(logits[i], i);
  // Highest probability first; ties by token id so runs are reproducible.
  auto by_prob = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = candidates_.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) keep = static_cast<size_t>(params_.top_k);
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(), by_prob);
  candidates_.resize(keep);
  if (params_.top_p > 0 && params_.top_p < 1) {
    double cumulative = 0;
    size_t n = 0;
    while (n < candidates_.size()) {
      cumulative += candidates_[n++].first;
      if (cumulative >= params_.top_p) break;
    }
    candidates_.resize(n);
  }
  double total = 0;
  for (const auto& c : candidates_) total += c.first;
  double r = std::uniform_real_distribution<double>(0.0, total)(rng_);
  for (const auto& c : candidates_) {
    r -= c.first;
    if (r <= 0) return c.second;
  }
  return candidates_.back().second;
}

}  // namespace mrt::raw
