#include "llama2c_checkpoint.h"

#include <cstdint>
#include <cstring>

namespace mrt::raw {

std::string load_llama2c(const void* data, size_t size, LlamaConfig& c, LlamaWeights& w) {
  if (size < kLlama2cHeaderBytes) return "checkpoint is " + std::to_string(size) + " bytes, shorter than its header";
  int32_t h[7];
  std::memcpy(h, data, sizeof h);
  c = LlamaConfig{};
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  bool shared = h[5] > 0;
  // INT32_MIN has no positive twin: leave it 0 so validate() refuses it.
  c.vocab_size = h[5] == INT32_MIN ? 0 : (h[5] < 0 ? -h[5] : h[5]);
  c.seq_len = h[6];
  c.rope_interleaved = true;
  if (std::string why = c.validate(); !why.empty()) return "checkpoint header: " + why;

  const uint64_t dim = static_cast<uint64_t>(c.dim), hidden = static_cast<uint64_t>(c.hidden_dim),
                 layers = static_cast<uint64_t>(c.n_layers), vocab = static_cast<uint64_t>(c.vocab_size),
                 kv = static_cast<uint64_t>(c.kv_dim()), half = static_cast<uint64_t>(c.head_size()) / 2;
  uint64_t floats = vocab * dim + layers * (2 * dim + 2 * dim * dim + 2 * kv * dim + 3 * hidden * dim) + dim +
                    2 * static_cast<uint64_t>(c.seq_len) * half + (shared ? 0 : vocab * dim);
  uint64_t expected = kLlama2cHeaderBytes + floats * 4;
  if (size != expected)
    return "checkpoint is " + std::to_string(size) + " bytes; its header describes " + std::to_string(expected) +
           " (truncated, or not a llama2.c checkpoint)";

  const float* p = reinterpret_cast<const float*>(static_cast<const char*>(data) + kLlama2cHeaderBytes);
  auto matrix = [](const float* at, uint64_t rows, uint64_t cols) {
    return Matrix{at, WeightType::kF32, static_cast<size_t>(rows), static_cast<size_t>(cols)};
  };
  w = LlamaWeights{};
  w.embedding = matrix(p, vocab, dim);
  p += vocab * dim;
  w.layers.resize(static_cast<size_t>(layers));
  // The file groups each tensor kind across layers.
  for (auto& l : w.layers) { l.rms_att = p; p += dim; }
  for (auto& l : w.layers) { l.wq = matrix(p, dim, dim); p += dim * dim; }
  for (auto& l : w.layers) { l.wk = matrix(p, kv, dim); p += kv * dim; }
  for (auto& l : w.layers) { l.wv = matrix(p, kv, dim); p += kv * dim; }
  for (auto& l : w.layers) { l.wo = matrix(p, dim, dim); p += dim * dim; }
  for (auto& l : w.layers) { l.rms_ffn = p; p += dim; }
  for (auto& l : w.layers) { l.w1 = matrix(p, hidden, dim); p += hidden * dim; }
  for (auto& l : w.layers) { l.w2 = matrix(p, dim, hidden); p += dim * hidden; }
  for (auto& l : w.layers) { l.w3 = matrix(p, hidden, dim); p += hidden * dim; }
  w.rms_final = p;
  p += dim;
  p += 2 * static_cast<uint64_t>(c.seq_len) * half;  // RoPE tables: recomputed
  w.classifier = shared ? w.embedding : matrix(p, vocab, dim);
  return "";
}

}  // namespace mrt::raw
