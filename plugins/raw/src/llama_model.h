// A Llama-family decoder: its shape, its weights (pointers into mapped
// files, in their stored precision) and the forward pass with a KV cache.
//
//   x = embed[token]
//   per layer:  h = x + Wo · attn(RoPE(Wq·n(x)), RoPE(Wk·n(x)), Wv·n(x))   n = RMSNorm
//               x = h + W2 · (silu(W1·n(h)) ⊙ W3·n(h))
//   logits = Wcls · n(x)
// Grouped-query attention: n_kv_heads ≤ n_heads, each KV head serves
// n_heads / n_kv_heads query heads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels.h"
#include "kv_cache.h"
#include "quant.h"
#include "quant_tiles.h"
#include "thread_pool.h"

namespace mrt::raw {

struct LlamaConfig {
  int dim = 0;           // hidden size
  int hidden_dim = 0;    // feed-forward size
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int vocab_size = 0;
  int seq_len = 0;       // context length
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  // RoPE pairing: llama2.c checkpoints rotate adjacent pairs (2i, 2i+1);
  // Hugging Face checkpoints rotate halves (i, i + head_size/2).
  bool rope_interleaved = true;
  // config.json rope_scaling: "" (none), "linear" (positions / factor) or
  // "llama3" (Llama 3.1+: long wavelengths / factor, short ones kept,
  // smoothed in between).
  std::string rope_scaling;
  float rope_factor = 1.0f, rope_low_freq_factor = 1.0f, rope_high_freq_factor = 4.0f;
  int rope_original_context = 8192;
  int bos_id = 1;
  int eos_id = 2;

  int head_size() const { return dim / n_heads; }
  int kv_dim() const { return n_kv_heads * head_size(); }
  // Empty when consistent, else what is wrong.
  std::string validate() const;
};

struct LayerWeights {
  const float* rms_att = nullptr;  // (dim)
  const float* rms_ffn = nullptr;  // (dim)
  Matrix wq, wk, wv, wo;           // (dim, dim) (kv_dim, dim) (kv_dim, dim) (dim, dim)
  Matrix w1, w2, w3;               // (hidden, dim) (dim, hidden) (hidden, dim)
};

struct LlamaWeights {
  Matrix embedding;                // (vocab, dim)
  std::vector<LayerWeights> layers;
  const float* rms_final = nullptr;  // (dim)
  Matrix classifier;               // (vocab, dim); the embedding when tied
  // Norm weights converted to float32 when stored in 16 bits.
  std::vector<std::vector<float>> owned_norms;
  // The tiled copies of quantized matrices (quant_tiles.h).
  std::vector<std::shared_ptr<TilePages>> owned_tiles;
};

// Interleaves the layers' and the classifier's Q4_0 / Q8_0 / Q4_K / Q6_K matrices in
// tiles for decode's kernels (quant_tiles.h), giving back the mapped pages
// they came from (release_source); the embedding stays as stored (its rows are looked up
// one at a time). Returns the bytes tiled.
size_t tile_for_decode(LlamaWeights& w, bool release_source = true);

// RoPE inverse frequencies (head_size / 2 of them) with the configured
// scaling, computed as transformers does.
std::vector<double> rope_inverse_frequencies(const LlamaConfig& c);

class LlamaModel {
 public:
  LlamaModel(LlamaConfig config, LlamaWeights weights, int threads);

  const LlamaConfig& config() const { return config_; }
  // Runs `tokens` at positions [pos, pos + n) through the model, filling the
  // KV cache; returns the logits of the last token (vocab_size floats, valid
  // until the next call). Prefill works on all tokens at once, matrix by
  // matrix; decode (n = 1) runs as one step of the whole pool (decode_step).
  // With all_logits (n > 1), the logits of every token instead: n rows of
  // vocab_size (perplexity).
  // This overload uses the model's own cache (one sequence at a time).
  const float* forward(const int* tokens, int n, int pos, bool all_logits = false) {
    return forward(tokens, n, pos, own_cache_, all_logits);
  }
  // The same on a sequence's own cache (new_cache()).
  const float* forward(const int* tokens, int n, int pos, KvCache& cache, bool all_logits = false);
  // One decode step of n sequences at once: token i at positions[i] of
  // caches[i]. Every weight matrix is read once for all n rows (matrix by
  // matrix, as prefill); attention runs per row against its own cache.
  // Returns n rows of vocab_size logits, valid until the next call. n = 1
  // is decode's own single-token step.
  const float* decode_batch(const int* tokens, const int* positions, KvCache* const* caches, int n);
  // One forward pass over the rows of several sequences at once: prompt
  // chunks of some and decode tokens of others (a serving step). Row i is
  // tokens[i] at positions[i] of caches[i]; a sequence's rows come in order
  // at consecutive positions, after its cached ones. Returns the logits of
  // the `logit_count` rows listed in logit_rows, one vocab_size row each,
  // in that order, valid until the next call.
  const float* forward_rows(const int* tokens, const int* positions, KvCache* const* caches, int n,
                            const int* logit_rows, int logit_count);
  // An empty cache for one sequence of up to seq_len positions.
  KvCache new_cache() const { return KvCache(config_.n_layers, config_.seq_len, config_.kv_dim(), half_kv_); }
  // Float16 KV entries (the default) or float32 (kv_cache.h), for the
  // model's own cache and every new_cache(); set before either is used.
  void set_half_kv(bool half) {
    half_kv_ = half;
    own_cache_ = new_cache();
  }
  bool half_kv() const { return half_kv_; }
  // Bytes of weights read per decoded token (for the bandwidth bound).
  uint64_t weight_bytes() const;

 private:
  // Where each row of a forward pass goes: its cache and position.
  struct RowPlace {
    KvCache* cache;
    int pos;
  };
  // Rows' tokens through every layer; the rows' places are in places_.
  // `one_sequence`: they are consecutive positions of one cache (a prompt),
  // which lets attention run as GEMMs. Logits of every row (all_logits) or
  // of the last one.
  // With logit_rows (not all_logits): the logits of those rows only.
  const float* run_rows(const int* tokens, int n, bool one_sequence, bool all_logits,
                        const std::vector<int>* logit_rows = nullptr);
  void attention(int layer, int n, bool one_sequence);
  std::vector<RowPlace> places_;

  LlamaConfig config_;
  LlamaWeights w_;
  ThreadPool pool_;
  // Activations for up to `capacity_` tokens at once.
  int capacity_ = 0;
  std::vector<float> x_, xb_, xb2_, hb_, hb2_, q_, k_, v_, logits_;
  // Attention scores: (head, seq_len) for decode's single token; rows of a
  // batch and prompts below kGemmMinTokens use one seq_len row per thread,
  // longer prompts one block of kAttentionBlock rows per thread
  // (prefill_scores_), not n × heads × seq_len. all_logits_: the logits of
  // several rows.
  std::vector<float> att_, all_logits_;
  std::vector<std::vector<float>> prefill_scores_;
  // Per pool thread: one KV head's entries widened to float32 for the
  // prefill's attention GEMMs (the cache holds float16).
  std::vector<std::vector<float>> prefill_kv_;
  bool half_kv_ = true;
  KvCache own_cache_;  // the single-sequence overload of forward()'s cache
  std::vector<float> rope_cos_, rope_sin_;      // (seq_len, head_size/2)
  void ensure_capacity(int n);
  void project_rows(const Matrix& m, const float* in, float* out, int n, size_t begin, size_t end);
  // matmul_rows, or for a decode batch (rows_in_chunks_) matmul_rows_tiled.
  void matmul_for_rows(const Matrix& m, const float* in, size_t n, float* out, size_t out_stride, size_t begin,
                       size_t end);
  // One token's rows [begin, end) of m · in: for quantized weights from
  // q[activation_family(m)], the int8 copy of `in` made beforehand (once,
  // not per chunk of rows).
  void matvec_rows_for(const Matrix& m, const QuantizedActivations* q, const float* in, float* out, size_t begin,
                       size_t end);
  // Index of m's activation block size (32 → 0, 256 → 1) in DecodeInputs.
  static int activation_family(const Matrix& m) { return activation_block(m.type) == 32 ? 0 : 1; }

  // Decode (one token): every thread of the pool runs the whole step,
  // meeting at a spinning barrier between phases (llama_decode.cpp).
  const float* decode_step(int token, int pos, KvCache& cache);
  // The int8 copies of the vectors a token multiplies by quantized
  // matrices, per activation block size [0] = 32, [1] = 256, sized once
  // (final_in also serves the prompt's last token).
  struct DecodeInputs {
    QuantizedActivations att_in[2], att_out[2], ffn_in[2], ffn_hidden[2], final_in[2];
  };
  DecodeInputs dq_;
  SpinBarrier barrier_;
  // One work counter per phase of a step that hands out rows in chunks.
  std::unique_ptr<std::atomic<size_t>[]> chunk_counters_;
  size_t chunk_phases_ = 0;
  // fn(begin, end) over [0, rows) output rows across the pool, split for
  // n tokens: n > 1 one share per thread; n = 1 (the prompt's last token
  // through the classifier) chunks taken as threads come free.
  void over_rows(size_t rows, int n, const std::function<void(size_t, size_t)>& fn);
  // Set for a decode batch (rows of several sequences, fewer than
  // kChunkedRowsMax): over_rows hands out chunks for every n, and products
  // run in register tiles.
  bool rows_in_chunks_ = false;
  std::vector<int> logit_rows_;  // forward_rows' selection
};

}  // namespace mrt::raw
