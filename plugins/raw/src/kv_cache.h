// One sequence's attention keys and values: (layer, seq_len, kv_dim) each,
// in fresh anonymous pages (PageArray), so only the positions a sequence
// reaches become resident. Every sequence of a batch owns one; finished
// ones may live on in the prompt cache (prompt_cache.h).
#pragma once

#include <cstddef>
#include <cstring>

#include "page_array.h"

namespace mrt::raw {

struct KvCache {
  KvCache() = default;
  KvCache(int n_layers, int seq_len, int kv_dim)
      : layers(n_layers), positions(seq_len), width(kv_dim),
        key(static_cast<size_t>(n_layers) * seq_len * kv_dim), value(key.size()) {}

  int layers = 0, positions = 0, width = 0;
  PageArray key, value;

  float* keys(int layer) { return key.data() + static_cast<size_t>(layer) * positions * width; }
  float* values(int layer) { return value.data() + static_cast<size_t>(layer) * positions * width; }
  bool empty() const { return key.size() == 0; }
  // Bytes that `tokens` positions make resident (keys and values, all layers).
  size_t bytes_for(size_t tokens) const { return tokens * static_cast<size_t>(layers) * width * 2 * sizeof(float); }

  // Positions [0, n) of every layer from `from` (same shape).
  void copy_prefix(KvCache& from, int n) {
    const size_t span = static_cast<size_t>(n) * width * sizeof(float);
    for (int l = 0; l < layers; ++l) {
      std::memcpy(keys(l), from.keys(l), span);
      std::memcpy(values(l), from.values(l), span);
    }
  }
};

}  // namespace mrt::raw
