#include "llama_tensors.h"

#include <tuple>

namespace mrt::raw {

std::string load_llama_tensors(const LlamaConfig& c, const LlamaTensorNames& n, const MatrixLookup& matrix,
                               LlamaWeights& w) {
  const size_t dim = static_cast<size_t>(c.dim), hidden = static_cast<size_t>(c.hidden_dim),
               kv = static_cast<size_t>(c.kv_dim()), vocab = static_cast<size_t>(c.vocab_size);
  w = LlamaWeights{};
  // Norm weights are small: kept as float32 whatever their stored type.
  auto norm = [&](const std::string& name, const float*& out) -> std::string {
    Matrix m;
    if (std::string why = matrix(name, 1, dim, m); !why.empty()) return why;
    w.owned_norms.emplace_back(dim);
    row_to_f32(m, 0, w.owned_norms.back().data());
    out = w.owned_norms.back().data();
    return "";
  };
  w.owned_norms.reserve(static_cast<size_t>(2 * c.n_layers + 1));  // pointers into it stay valid
  if (std::string why = matrix(n.embedding, vocab, dim, w.embedding); !why.empty()) return why;
  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    std::string p = n.layer_prefix + std::to_string(l) + ".";
    LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    for (const auto& [name, rows, cols, out] :
         {std::tuple<const char*, size_t, size_t, Matrix*>{n.q, dim, dim, &lw.wq},
          {n.k, kv, dim, &lw.wk},
          {n.v, kv, dim, &lw.wv},
          {n.o, dim, dim, &lw.wo},
          {n.gate, hidden, dim, &lw.w1},
          {n.down, dim, hidden, &lw.w2},
          {n.up, hidden, dim, &lw.w3}})
      if (std::string why = matrix(p + name, rows, cols, *out); !why.empty()) return why;
    if (std::string why = norm(p + n.att_norm, lw.rms_att); !why.empty()) return why;
    if (std::string why = norm(p + n.ffn_norm, lw.rms_ffn); !why.empty()) return why;
  }
  return norm(n.final_norm, w.rms_final);
}

size_t tile_for_decode(LlamaWeights& w, bool release_source) {
  std::vector<Matrix*> ms;
  for (LayerWeights& lw : w.layers)
    for (Matrix* m : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w1, &lw.w2, &lw.w3}) ms.push_back(m);
  ms.push_back(&w.classifier);
  // A classifier tied to the embedding is tiled once for both (lookups
  // gather a row back from its tile), not kept twice.
  const bool tied = w.classifier.data == w.embedding.data;
  std::vector<const Matrix*> keep;
  if (!tied) keep.push_back(&w.embedding);
  const size_t bytes = tile_matrices(ms, keep, release_source, w.owned_tiles);
  if (tied && w.classifier.tiled) w.embedding = w.classifier;
  return bytes;
}

}  // namespace mrt::raw
