// Decode: one token through the model with every pool thread running the
// whole step and meeting at a spinning barrier between phases.
//
// The prompt path (llama_model.cpp) hands each matrix product to the pool
// and waits for it: about 60 hand-offs a token for a 12-layer model, each a
// publish, a wake and a join. For small or quantized models a phase lasts
// a few microseconds and the hand-offs were the cost (a 15M model decoded
// at 0.6× llama2.c's run.c). Here the step is one hand-off; phases are
// separated by a barrier (a counter the last thread moves) and work that
// would be a phase of its own rides along with its neighbour: the RMSNorm
// and the int8 quantization of a product's input are done by each thread
// on its own share of the vector, and the SwiGLU and the quantization of
// its output on the chunk of rows that produced them.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "llama_model.h"

namespace mrt::raw {

namespace {

// Rows a thread takes at a time: small enough that the threads finish a
// product together, large enough that the counter is not contended.
constexpr size_t kChunkRows = 32;

// The largest activation block any of `ms` needs (1 when none is quantized).
size_t block_needed(std::initializer_list<const Matrix*> ms) {
  size_t b = 1;
  for (const Matrix* m : ms)
    if (is_quantized(m->type)) b = std::max(b, activation_block(m->type));
  return b;
}

}  // namespace

const float* LlamaModel::decode_step(int token, int pos, KvCache& cache) {
  const auto& c = config_;
  const size_t dim = static_cast<size_t>(c.dim), hidden = static_cast<size_t>(c.hidden_dim),
               kv_dim = static_cast<size_t>(c.kv_dim()), hs = static_cast<size_t>(c.head_size()),
               seq = static_cast<size_t>(c.seq_len), group = static_cast<size_t>(c.n_heads / c.n_kv_heads),
               half = hs / 2, p = static_cast<size_t>(pos);
  row_to_f32(w_.embedding, static_cast<size_t>(token), x_.data());
  for (size_t i = 0; i < chunk_phases_; ++i) chunk_counters_[i].store(0, std::memory_order_relaxed);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));

  pool_.on_each_thread([&](size_t me, size_t team) {
    size_t phase = 0;
    // [begin, end) of [0, total) for this thread, cut at multiples of `align`.
    auto share = [&](size_t total, size_t align) {
      size_t units = total / align;
      size_t b = units * me / team * align, e = me + 1 == team ? total : units * (me + 1) / team * align;
      return std::pair{b, e};
    };
    // Rows [0, total) in chunks of `chunk` taken as threads come free
    // (equal shares do not finish together: the threads stream at
    // different rates on a shared host).
    auto chunks = [&](size_t total, size_t chunk, auto&& fn) {
      std::atomic<size_t>& next = chunk_counters_[phase++];
      for (size_t b; (b = next.fetch_add(chunk, std::memory_order_relaxed)) < total;) fn(b, std::min(total, b + chunk));
    };
    // This thread's share of `out` = RMSNorm(x_), then its blocks of the
    // int8 copies the consumers need.
    auto normalize = [&](const float* weight, float* out, QuantizedActivations* q,
                         std::initializer_list<const Matrix*> consumers) {
      auto [b, e] = share(dim, std::max<size_t>(16, block_needed(consumers)));
      rmsnorm_part(out, x_.data(), weight, dim, c.rms_eps, b, e);
      bool done[2] = {false, false};
      for (const Matrix* m : consumers) {
        if (!is_quantized(m->type) || done[activation_family(*m)]) continue;
        done[activation_family(*m)] = true;
        QuantizedActivations& qa = q[activation_family(*m)];
        quantize_activation_blocks(out, b / qa.block, e / qa.block, qa);
      }
    };

    for (int l = 0; l < c.n_layers; ++l) {
      const LayerWeights& lw = w_.layers[static_cast<size_t>(l)];
      const KvEntries kc = cache.keys(l), vc = cache.values(l);

      normalize(lw.rms_att, xb2_.data(), dq_.att_in, {&lw.wq, &lw.wk, &lw.wv});
      barrier_.wait();
      // q, k and v as one run of dim + 2·kv_dim rows.
      chunks(dim + 2 * kv_dim, kChunkRows, [&](size_t b, size_t e) {
        size_t base = 0;
        for (auto [m, out] : {std::pair{&lw.wq, q_.data()}, {&lw.wk, k_.data()}, {&lw.wv, v_.data()}}) {
          size_t lo = std::max(b, base), hi = std::min(e, base + m->rows);
          if (lo < hi) matvec_rows_for(*m, dq_.att_in, xb2_.data(), out, lo - base, hi - base);
          base += m->rows;
        }
      });
      barrier_.wait();
      // RoPE and the cache append, split by KV head; each thread then
      // attends for its share of query heads (cut so that its output
      // covers whole quantization blocks of wo's input, which it then
      // quantizes). A query head reads its KV head's cache: one more
      // barrier between the two.
      const float* cos = &rope_cos_[p * half];
      const float* sin = &rope_sin_[p * half];
      {
        auto [b, e] = share(static_cast<size_t>(c.n_kv_heads), 1);
        for (size_t g = b; g < e; ++g) {
          rope(&k_[g * hs], 1, static_cast<int>(hs), cos, sin, c.rope_interleaved);
          kv_store(&k_[g * hs], kc.at(p * kv_dim + g * hs), hs);
          kv_store(&v_[g * hs], vc.at(p * kv_dim + g * hs), hs);
        }
      }
      barrier_.wait();
      {
        // Each thread quantizes the blocks of wo's input its heads wrote
        // when its heads can cover whole blocks (heads in units of
        // lcm(block, head size) / head size); otherwise (a head size like
        // 48 against 32-value blocks, with too few heads) after a barrier.
        const size_t heads = static_cast<size_t>(c.n_heads);
        const size_t unit = std::lcm(block_needed({&lw.wo}), hs) / hs;
        const bool fused = heads % unit == 0 && heads / unit >= team;
        auto [b, e] = share(heads, fused ? unit : 1);
        for (size_t h = b; h < e; ++h) {
          float* q = &q_[h * hs];
          rope(q, 1, static_cast<int>(hs), cos, sin, c.rope_interleaved);
          float* att = &att_[h * seq];
          size_t kv_off = h / group * hs;
          attention_scores(q, kc.at(kv_off), kv_dim, p + 1, hs, scale, att);
          softmax(att, p + 1);
          attention_values(att, vc.at(kv_off), kv_dim, p + 1, hs, &xb_[h * hs]);
        }
        if (is_quantized(lw.wo.type)) {
          QuantizedActivations& qa = dq_.att_out[activation_family(lw.wo)];
          if (fused) {
            quantize_activation_blocks(xb_.data(), b * hs / qa.block, e * hs / qa.block, qa);
          } else {
            barrier_.wait();
            auto [qb, qe] = share(dim, qa.block);
            quantize_activation_blocks(xb_.data(), qb / qa.block, qe / qa.block, qa);
          }
        }
      }
      barrier_.wait();
      chunks(dim, kChunkRows, [&](size_t b, size_t e) {  // x += Wo · attention
        matvec_rows_for(lw.wo, dq_.att_out, xb_.data(), xb2_.data(), b, e);
        for (size_t r = b; r < e; ++r) x_[r] += xb2_[r];
      });
      barrier_.wait();

      normalize(lw.rms_ffn, xb2_.data(), dq_.ffn_in, {&lw.w1, &lw.w3});
      barrier_.wait();
      // Chunks cover whole quantization blocks of w2's input, so the thread
      // that computes a chunk of SwiGLU quantizes it too.
      chunks(hidden, std::max(kChunkRows, block_needed({&lw.w2})), [&](size_t b, size_t e) {
        matvec_rows_for(lw.w1, dq_.ffn_in, xb2_.data(), hb_.data(), b, e);
        matvec_rows_for(lw.w3, dq_.ffn_in, xb2_.data(), hb2_.data(), b, e);
        swiglu(hb_.data(), hb2_.data(), b, e);
        if (is_quantized(lw.w2.type)) {
          QuantizedActivations& qa = dq_.ffn_hidden[activation_family(lw.w2)];
          quantize_activation_blocks(hb_.data(), b / qa.block, e / qa.block, qa);
        }
      });
      barrier_.wait();
      chunks(dim, kChunkRows, [&](size_t b, size_t e) {  // x += W2 · SwiGLU
        matvec_rows_for(lw.w2, dq_.ffn_hidden, hb_.data(), xb2_.data(), b, e);
        for (size_t r = b; r < e; ++r) x_[r] += xb2_[r];
      });
      barrier_.wait();
    }
    normalize(w_.rms_final, xb_.data(), dq_.final_in, {&w_.classifier});
    barrier_.wait();
    chunks(static_cast<size_t>(c.vocab_size), kChunkRows * 4,
           [&](size_t b, size_t e) { matvec_rows_for(w_.classifier, dq_.final_in, xb_.data(), logits_.data(), b, e); });
  });
  return logits_.data();
}

}  // namespace mrt::raw
