#include "llama_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

namespace mrt::raw {

std::string LlamaConfig::validate() const {
  if (dim <= 0 || hidden_dim <= 0 || n_layers <= 0 || n_heads <= 0 || n_kv_heads <= 0 || vocab_size <= 0 || seq_len <= 0)
    return "every dimension must be positive";
  if (dim % n_heads != 0) return "dim " + std::to_string(dim) + " is not a multiple of n_heads " + std::to_string(n_heads);
  if (n_heads % n_kv_heads != 0)
    return "n_heads " + std::to_string(n_heads) + " is not a multiple of n_kv_heads " + std::to_string(n_kv_heads);
  if (head_size() % 2 != 0) return "head size " + std::to_string(head_size()) + " is odd (RoPE needs pairs)";
  if (dim > 65536 || hidden_dim > 262144 || n_layers > 1024 || vocab_size > 1 << 22 || seq_len > 1 << 20)
    return "dimensions are implausibly large";
  return "";
}

std::vector<double> rope_inverse_frequencies(const LlamaConfig& c) {
  const double pi = 3.14159265358979323846;
  int half = c.head_size() / 2;
  std::vector<double> out(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) {
    double f = 1.0 / std::pow(static_cast<double>(c.rope_theta), 2.0 * i / c.head_size());
    if (c.rope_scaling == "linear") {
      f /= c.rope_factor;
    } else if (c.rope_scaling == "llama3") {
      double old_ctx = c.rope_original_context;
      double low_wavelen = old_ctx / c.rope_low_freq_factor, high_wavelen = old_ctx / c.rope_high_freq_factor;
      double wavelen = 2 * pi / f;
      if (wavelen > low_wavelen) {
        f /= c.rope_factor;
      } else if (wavelen >= high_wavelen) {
        double smooth = (old_ctx / wavelen - c.rope_low_freq_factor) / (c.rope_high_freq_factor - c.rope_low_freq_factor);
        f = (1 - smooth) * f / c.rope_factor + smooth * f;
      }
    }
    out[static_cast<size_t>(i)] = f;
  }
  return out;
}

LlamaModel::LlamaModel(LlamaConfig config, LlamaWeights weights, int threads)
    : config_(config), w_(std::move(weights)), pool_(std::max(1, threads)), barrier_(static_cast<size_t>(pool_.size())) {
  const auto& c = config_;
  own_cache_ = new_cache();
  int half = c.head_size() / 2;
  rope_cos_.resize(static_cast<size_t>(c.seq_len) * half);
  rope_sin_.resize(rope_cos_.size());
  std::vector<double> inv_freq = rope_inverse_frequencies(c);
  for (int p = 0; p < c.seq_len; ++p)
    for (int i = 0; i < half; ++i) {
      double angle = p * inv_freq[static_cast<size_t>(i)];
      rope_cos_[static_cast<size_t>(p) * half + i] = static_cast<float>(std::cos(angle));
      rope_sin_[static_cast<size_t>(p) * half + i] = static_cast<float>(std::sin(angle));
    }
  logits_.resize(static_cast<size_t>(c.vocab_size));
  ensure_capacity(1);
  const size_t dim = static_cast<size_t>(c.dim), hidden = static_cast<size_t>(c.hidden_dim);
  for (int i = 0; i < 2; ++i) {
    size_t block = i == 0 ? 32 : 256;
    for (auto [q, n] : {std::pair{&dq_.att_in[i], dim}, {&dq_.att_out[i], dim}, {&dq_.ffn_in[i], dim},
                        {&dq_.ffn_hidden[i], hidden}, {&dq_.final_in[i], dim}})
      if (n % block == 0) size_activations(n, block, *q);
  }
  chunk_phases_ = static_cast<size_t>(c.n_layers) * 4 + 1;
  chunk_counters_ = std::make_unique<std::atomic<size_t>[]>(chunk_phases_);
}

void LlamaModel::ensure_capacity(int n) {
  if (n <= capacity_) return;
  const auto& c = config_;
  size_t t = static_cast<size_t>(n);
  x_.resize(t * c.dim);
  xb_.resize(t * c.dim);
  xb2_.resize(t * c.dim);
  hb_.resize(t * c.hidden_dim);
  hb2_.resize(t * c.hidden_dim);
  q_.resize(t * c.dim);
  k_.resize(t * c.kv_dim());
  v_.resize(t * c.kv_dim());
  // Scores per head of decode's single token (rows of a batch or a short
  // prompt use per-thread scratch).
  att_.resize(static_cast<size_t>(c.n_heads) * c.seq_len);
  places_.resize(t);
  capacity_ = n;
}

uint64_t LlamaModel::weight_bytes() const {
  uint64_t total = 0;
  auto bytes = [](const Matrix& m) { return static_cast<uint64_t>(m.rows) * m.row_bytes(); };
  for (const auto& l : w_.layers)
    total += bytes(l.wq) + bytes(l.wk) + bytes(l.wv) + bytes(l.wo) + bytes(l.w1) + bytes(l.w2) + bytes(l.w3);
  return total + bytes(w_.classifier) + w_.embedding.row_bytes();
}

// Rows [begin, end) of out = in · mᵀ for the n > 1 tokens of a prompt.
void LlamaModel::project_rows(const Matrix& m, const float* in, float* out, int n, size_t begin, size_t end) {
  matmul_for_rows(m, in, static_cast<size_t>(n), out, m.rows, begin, end);
}

void LlamaModel::matmul_for_rows(const Matrix& m, const float* in, size_t n, float* out, size_t out_stride,
                                 size_t begin, size_t end) {
  if (rows_in_chunks_)  // a decode batch: a chunk of rows for a few tokens
    matmul_rows_tiled(m, in, n, out, out_stride, begin, end);
  else
    matmul_rows(m, in, n, out, out_stride, begin, end);
}

void LlamaModel::matvec_rows_for(const Matrix& m, const QuantizedActivations* q, const float* in, float* out,
                                 size_t begin, size_t end) {
  if (is_quantized(m.type))
    matvec_rows_quantized(m, q[activation_family(m)], out, begin, end);
  else
    matvec_rows(m, in, out, begin, end);
}

void LlamaModel::over_rows(size_t rows, int n, const std::function<void(size_t, size_t)>& fn) {
  if (n > 1 && !rows_in_chunks_) {
    // One share per thread, cut at multiples of 16 so every share but the
    // last keeps whole vector and GEMM blocks.
    pool_.on_each_thread([&](size_t i, size_t parts) {
      auto cut = [&](size_t k) { return k == parts ? rows : rows * k / parts / 16 * 16; };
      if (cut(i) < cut(i + 1)) fn(cut(i), cut(i + 1));
    });
    return;
  }
  // Decode (one token or a batch of sequences) is bound by memory reads,
  // and equal shares do not finish together (one thread also samples, the
  // two stream at different rates; a batch step spent a quarter of its time
  // waiting at the end of equal shares on a busy host): threads take chunks
  // as they come free.
  constexpr size_t kChunk = 32;
  std::atomic<size_t> next{0};
  pool_.on_each_thread([&](size_t, size_t) {
    for (size_t b; (b = next.fetch_add(kChunk, std::memory_order_relaxed)) < rows;) fn(b, std::min(rows, b + kChunk));
  });
}


void LlamaModel::attention(int layer, int n, bool one_sequence) {
  const auto& c = config_;
  const int hs = c.head_size(), kv_dim = c.kv_dim(), group = c.n_heads / c.n_kv_heads, half = hs / 2;
  // Per row (spread over the pool): rotate q and k, append k and v to the
  // row's cache at its position.
  pool_.parallel_for(static_cast<size_t>(n), [&](size_t b, size_t e) {
    for (size_t t = b; t < e; ++t) {
      size_t p = static_cast<size_t>(places_[t].pos);
      const float* cos = &rope_cos_[p * half];
      const float* sin = &rope_sin_[p * half];
      rope(&q_[t * c.dim], c.n_heads, hs, cos, sin, c.rope_interleaved);
      rope(&k_[t * kv_dim], c.n_kv_heads, hs, cos, sin, c.rope_interleaved);
      kv_store(&k_[t * kv_dim], places_[t].cache->keys(layer).at(p * kv_dim), static_cast<size_t>(kv_dim));
      kv_store(&v_[t * kv_dim], places_[t].cache->values(layer).at(p * kv_dim), static_cast<size_t>(kv_dim));
    }
  });
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const size_t seq = static_cast<size_t>(c.seq_len), dim = static_cast<size_t>(c.dim);
  // One (token, head) pair: causal attention over [0, pos+t] with vector
  // dot products and weighted sums (decode, short prompts, no oneDNN).
  auto attend = [&](size_t t, size_t h, float* att) {
    size_t p = static_cast<size_t>(places_[t].pos);
    const KvEntries kc = places_[t].cache->keys(layer), vc = places_[t].cache->values(layer);
    const float* q = &q_[t * dim + h * hs];
    size_t kv_off = h / group * hs;
    attention_scores(q, kc.at(kv_off), kv_dim, p + 1, hs, scale, att);
    softmax(att, p + 1);
    attention_values(att, vc.at(kv_off), kv_dim, p + 1, hs, &xb_[t * dim + h * hs]);
  };
  if (!one_sequence || n < static_cast<int>(kGemmMinTokens)) {
    pool_.parallel_for(static_cast<size_t>(n) * c.n_heads, [&](size_t b, size_t e) {
      thread_local std::vector<float> scores;  // one row's, per thread: rows × heads × seq_len would not scale
      scores.resize(seq);
      for (size_t job = b; job < e; ++job) attend(job / c.n_heads, job % c.n_heads, scores.data());
    });
    return;
  }
  // Prefill: per head and block of kAttentionBlock tokens, scores = Q·Kᵀ
  // and out = P·V as two GEMMs over every position up to the block's last.
  // Scores past each token's own position are computed, then zeroed by the
  // causal mask: blocks keep that waste to a block-sized triangle per block
  // instead of half of the n×n square. The GEMMs read float32: each thread
  // widens its KV head's float16 entries into its own buffers as the
  // blocks reach them (each position once per KV head and thread).
  constexpr size_t kAttentionBlock = 32;
  const size_t pos = static_cast<size_t>(places_[0].pos);
  const KvEntries kc = places_[0].cache->keys(layer), vc = places_[0].cache->values(layer);
  prefill_scores_.resize(static_cast<size_t>(pool_.size()));
  prefill_kv_.resize(static_cast<size_t>(pool_.size()));
  // Buffers span the positions this call reaches, not the whole context.
  const size_t total = pos + static_cast<size_t>(n);
  pool_.on_each_thread([&](size_t me, size_t team) {
    std::vector<float>& scratch = prefill_scores_[me];
    scratch.resize(kAttentionBlock * total);
    std::vector<float>& kv = prefill_kv_[me];  // keys, then values: total × head size each (float16 entries)
    if (kc.half) kv.resize(2 * total * hs);
    float* keys = kv.data();
    float* values = kc.half ? keys + total * hs : nullptr;
    const size_t heads = static_cast<size_t>(c.n_heads);
    size_t widened_head = SIZE_MAX, widened = 0;  // positions of that KV head in the buffers
    for (size_t h = heads * me / team; h < heads * (me + 1) / team; ++h) {
      size_t kv_off = h / group * hs;
      // float32 entries are read in place (stride kv_dim); float16 ones from
      // the widened buffers (stride hs).
      const bool in_place = !kc.half;
      const float* k_rows = in_place ? static_cast<const float*>(kc.at(kv_off).data) : keys;
      const float* v_rows = in_place ? static_cast<const float*>(vc.at(kv_off).data) : values;
      const size_t ld = in_place ? static_cast<size_t>(kv_dim) : static_cast<size_t>(hs);
      if (h / group != widened_head) widened_head = h / group, widened = 0;
      for (size_t t0 = 0; t0 < static_cast<size_t>(n); t0 += kAttentionBlock) {
        size_t rows = std::min(kAttentionBlock, static_cast<size_t>(n) - t0), span = pos + t0 + rows;
        for (; !in_place && widened < span; ++widened) {
          kv_load(kc.at(widened * kv_dim + kv_off), keys + widened * hs, hs);
          kv_load(vc.at(widened * kv_dim + kv_off), values + widened * hs, hs);
        }
        float* block = scratch.data();
        if (!sgemm(true, rows, span, hs, scale, &q_[t0 * dim + h * hs], dim, k_rows, ld, 0.f, block, total)) {
          for (size_t t = t0; t < t0 + rows; ++t) attend(t, h, block + (t - t0) * total);
          continue;
        }
        for (size_t t = 0; t < rows; ++t) {
          float* row = block + t * total;
          size_t valid = pos + t0 + t + 1;
          softmax(row, valid);
          std::fill(row + valid, row + span, 0.f);
        }
        sgemm(false, rows, hs, span, 1.f, block, total, v_rows, ld, 0.f, &xb_[t0 * dim + h * hs], dim);
      }
    }
  });
}

const float* LlamaModel::forward(const int* tokens, int n, int pos, KvCache& cache, bool all_logits) {
  if (n == 1) return decode_step(tokens[0], pos, cache);
  ensure_capacity(n);
  for (int t = 0; t < n; ++t) places_[static_cast<size_t>(t)] = RowPlace{&cache, pos + t};
  return run_rows(tokens, n, true, all_logits);
}

const float* LlamaModel::decode_batch(const int* tokens, const int* positions, KvCache* const* caches, int n) {
  if (n == 1) return decode_step(tokens[0], positions[0], *caches[0]);
  ensure_capacity(n);
  for (int t = 0; t < n; ++t) places_[static_cast<size_t>(t)] = RowPlace{caches[t], positions[t]};
  return run_rows(tokens, n, false, true);
}

const float* LlamaModel::forward_rows(const int* tokens, const int* positions, KvCache* const* caches, int n,
                                      const int* logit_rows, int logit_count) {
  if (n == 1 && logit_count == 1) return decode_step(tokens[0], positions[0], *caches[0]);
  ensure_capacity(n);
  for (int t = 0; t < n; ++t) places_[static_cast<size_t>(t)] = RowPlace{caches[t], positions[t]};
  logit_rows_.assign(logit_rows, logit_rows + logit_count);
  return run_rows(tokens, n, false, false, &logit_rows_);
}

const float* LlamaModel::run_rows(const int* tokens, int n, bool one_sequence, bool all_logits,
                                  const std::vector<int>* logit_rows) {
  const auto& c = config_;
  // Many rows (prompt chunks among them) are compute-bound: equal shares
  // and the GEMM suit them as they suit one prompt.
  constexpr int kChunkedRowsMax = 32;
  rows_in_chunks_ = !one_sequence && n < kChunkedRowsMax;
  const size_t dim = static_cast<size_t>(c.dim), hidden = static_cast<size_t>(c.hidden_dim);
  for (int t = 0; t < n; ++t) row_to_f32(w_.embedding, static_cast<size_t>(tokens[t]), &x_[t * dim]);

  const size_t count = static_cast<size_t>(n), kv_dim = static_cast<size_t>(c.kv_dim());
  // Each hand-off to the pool computes all the matrices that read the same
  // input, plus the element-wise work on the rows it produced (residual
  // add, SwiGLU): five hand-offs per layer.
  auto project_add = [&](const Matrix& m, const float* in) {  // x_ += in · mᵀ
    over_rows(dim, n, [&](size_t b, size_t e) {
      project_rows(m, in, xb2_.data(), n, b, e);
      for (size_t t = 0; t < count; ++t)
        for (size_t r = b; r < e; ++r) x_[t * dim + r] += xb2_[t * dim + r];
    });
  };
  auto normalize = [&](const float* weight) {  // xb2_ = RMSNorm(x_), token by token
    pool_.parallel_for(count, [&](size_t b, size_t e) {
      for (size_t t = b; t < e; ++t) rmsnorm(&xb2_[t * dim], &x_[t * dim], weight, dim, c.rms_eps);
    });
  };
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = w_.layers[static_cast<size_t>(l)];
    normalize(lw.rms_att);
    // q, k and v as one run of dim + 2·kv_dim rows.
    over_rows(dim + 2 * kv_dim, n, [&](size_t b, size_t e) {
      size_t base = 0;
      for (auto [m, out] : {std::pair{&lw.wq, q_.data()}, {&lw.wk, k_.data()}, {&lw.wv, v_.data()}}) {
        size_t lo = std::max(b, base), hi = std::min(e, base + m->rows);
        if (lo < hi) project_rows(*m, xb2_.data(), out, n, lo - base, hi - base);
        base += m->rows;
      }
    });
    attention(l, n, one_sequence);
    project_add(lw.wo, xb_.data());

    normalize(lw.rms_ffn);
    over_rows(hidden, n, [&](size_t b, size_t e) {
      project_rows(lw.w1, xb2_.data(), hb_.data(), n, b, e);
      project_rows(lw.w3, xb2_.data(), hb2_.data(), n, b, e);
      for (size_t t = 0; t < count; ++t) swiglu(hb_.data(), hb2_.data(), t * hidden + b, t * hidden + e);
    });
    project_add(lw.w2, hb_.data());
  }
  // Several rows' logits as one product: every row's (all_logits: scoring a
  // text) or the listed rows' (a serving step).
  if (all_logits || (logit_rows != nullptr && logit_rows->size() != 1)) {
    const size_t picked = all_logits ? count : logit_rows->size(), vocab = static_cast<size_t>(c.vocab_size);
    auto source = [&](size_t i) { return all_logits ? i : static_cast<size_t>((*logit_rows)[i]); };
    pool_.parallel_for(picked, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) rmsnorm(&xb2_[i * dim], &x_[source(i) * dim], w_.rms_final, dim, c.rms_eps);
    });
    all_logits_.resize(picked * vocab);
    rows_in_chunks_ = !one_sequence && picked < static_cast<size_t>(kChunkedRowsMax);
    over_rows(vocab, static_cast<int>(picked), [&](size_t b, size_t e) {
      matmul_for_rows(w_.classifier, xb2_.data(), picked, all_logits_.data(), vocab, b, e);
    });
    return all_logits_.data();
  }
  // Only one row's logits (the last, or the one listed) are needed to continue.
  const size_t last_row = logit_rows != nullptr ? static_cast<size_t>(logit_rows->front()) : static_cast<size_t>(n - 1);
  const float* last = &x_[last_row * dim];
  rmsnorm(xb_.data(), last, w_.rms_final, dim, c.rms_eps);
  // As decode computes them: quantized weights read an int8 copy of the input.
  if (is_quantized(w_.classifier.type)) {
    QuantizedActivations& qa = dq_.final_in[activation_family(w_.classifier)];
    quantize_activation_blocks(xb_.data(), 0, dim / qa.block, qa);
  }
  over_rows(static_cast<size_t>(c.vocab_size), 1, [&](size_t b, size_t e) {
    matvec_rows_for(w_.classifier, dq_.final_in, xb_.data(), logits_.data(), b, e);
  });
  return logits_.data();
}

}  // namespace mrt::raw
