// llama2.c checkpoints (the legacy, version-0 format of karpathy/llama2.c's
// export): a 7 × int32 header, then float32 weights in a fixed order.
//
//   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//   (vocab_size < 0: the classifier is stored after the rest, untied)
//   token_embedding (vocab, dim)   rms_att (L, dim)   wq (L, dim, dim)
//   wk (L, kv_dim, dim)   wv (L, kv_dim, dim)   wo (L, dim, dim)
//   rms_ffn (L, dim)   w1 (L, hidden, dim)   w2 (L, dim, hidden)
//   w3 (L, hidden, dim)   rms_final (dim)   freq_cis (seq_len, head/2) × 2
//   [wcls (vocab, dim)]
#pragma once

#include <cstddef>
#include <string>

#include "llama_model.h"

namespace mrt::raw {

constexpr size_t kLlama2cHeaderBytes = 28;

// Reads the header and carves the weights out of `data` (which must stay
// mapped while the weights are used). Empty string on success, else the
// problem (a size that does not match the header, nonsense dimensions).
std::string load_llama2c(const void* data, size_t size, LlamaConfig& config, LlamaWeights& weights);

}  // namespace mrt::raw
