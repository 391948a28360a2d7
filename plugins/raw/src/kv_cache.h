// One sequence's attention keys and values: (layer, seq_len, kv_dim) each,
// in fresh anonymous pages (PageArray), so only the positions a sequence
// reaches become resident. Every sequence of a batch owns one; finished
// ones may live on in the prompt cache (prompt_cache.h).
//
// Entries are IEEE float16 by default, as llama.cpp's default cache: half
// the memory of float32 (a 512-token prompt on the 110M shape: 19 MB
// instead of 38) and half the bytes attention reads each step, which grows
// with the position (at position 130 a batch of 8 read 80 MB of float32
// entries a step). Keys and values are rounded to nearest once, when
// written; the kernels widen them as they read (kv_store, attention_* in
// kernels.h). The model option `kv_cache: f32` keeps float32 entries (the
// reference tests compare logits with float64 NumPy that way).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels.h"
#include "page_array.h"

namespace mrt::raw {

struct KvCache {
  KvCache() = default;
  KvCache(int n_layers, int seq_len, int kv_dim, bool half = true)
      : layers(n_layers),
        positions(seq_len),
        width(kv_dim),
        half(half),
        key(static_cast<size_t>(n_layers) * seq_len * kv_dim * entry_bytes(half)),
        value(key.size()) {}

  int layers = 0, positions = 0, width = 0;
  bool half = true;
  PageArray<char> key, value;

  static size_t entry_bytes(bool half) { return half ? 2 : 4; }
  KvEntries keys(int layer) { return KvEntries{key.data(), half}.at(static_cast<size_t>(layer) * positions * width); }
  KvEntries values(int layer) {
    return KvEntries{value.data(), half}.at(static_cast<size_t>(layer) * positions * width);
  }
  bool empty() const { return key.size() == 0; }
  // Bytes that `tokens` positions make resident (keys and values, all layers).
  size_t bytes_for(size_t tokens) const { return tokens * static_cast<size_t>(layers) * width * 2 * entry_bytes(half); }
  // Bytes of a whole context of entries for this shape.
  static size_t context_bytes(int n_layers, int seq_len, int kv_dim, bool half) {
    return static_cast<size_t>(n_layers) * seq_len * kv_dim * 2 * entry_bytes(half);
  }

  // Positions [0, n) of every layer from `from` (same shape and type).
  void copy_prefix(KvCache& from, int n) {
    const size_t span = static_cast<size_t>(n) * width * entry_bytes(half);
    for (int l = 0; l < layers; ++l) {
      std::memcpy(keys(l).data, from.keys(l).data, span);
      std::memcpy(values(l).data, from.values(l).data, span);
    }
  }
};

}  // namespace mrt::raw
