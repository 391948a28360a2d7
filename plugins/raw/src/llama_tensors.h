// The tensors every Llama checkpoint holds (embedding, seven matrices and
// two norms per layer, the final norm), found by a layout's names through
// its own lookup: Hugging Face safetensors and GGUF differ only in names
// and in how the files are read.
#pragma once

#include <functional>
#include <string>

#include "llama_model.h"

namespace mrt::raw {

struct LlamaTensorNames {
  const char* embedding;
  const char* layer_prefix;  // the layer number and '.' follow: "model.layers.", "blk."
  const char *q, *k, *v, *o, *gate, *down, *up, *att_norm, *ffn_norm;
  const char* final_norm;
};

// The matrix `name` as rows × cols, or why it cannot be one.
using MatrixLookup = std::function<std::string(const std::string& name, size_t rows, size_t cols, Matrix& out)>;

// Fills w (reset first) with the embedding, every layer and the final norm
// of c's shape; norms are widened to float32 (w.owned_norms). The
// classifier is left to the caller: layouts tie it differently.
std::string load_llama_tensors(const LlamaConfig& c, const LlamaTensorNames& names, const MatrixLookup& matrix,
                               LlamaWeights& w);

}  // namespace mrt::raw
