// Continuous batching: the concurrent generations of one model share each
// decode step, so the weights are read once per step for all of them.
//
// Each caller of generate() registers its sequence and waits; one driver
// thread per model (started with the first sequence) runs the steps:
//   1. admit waiting sequences, oldest first, up to max_sequences active
//      and within the KV budget, each with a fresh KV cache, seeded from
//      the prompt cache when its prompt starts with tokens a recent
//      sequence held;
//   2. one forward pass (LlamaModel::forward_rows) over chunks of waiting
//      prompts, up to prefill_chunk tokens in all (a long prompt takes
//      several steps, so sequences already decoding wait one chunk at most
//      between their tokens), and one token of every decoding sequence: the
//      weights are read once for all of them (a prompt alone runs through
//      the prompt path, LlamaModel::forward, whose products are GEMMs);
// then sample, emit and retire finished or cancelled sequences, whose
// caches go to the prompt cache. A sequence keeps its own sampling
// parameters, seed, stop strings, max_tokens and stream: its TextSink runs
// on the driver thread (MRT_HostApi functions may be called from any
// thread, for any call).
//
// The KV budget covers the active sequences and the prompt cache together,
// as text-generation-inference's max_batch_total_tokens does: a sequence is
// admitted with a reservation for every position it can reach (prompt plus
// max_tokens, at most the context), the prompt cache giving up its least
// recently used entries to make room; one that does not fit waits for
// others to finish, and those after it wait behind it (no overtaking, so a
// long request is not starved by short ones). A sequence never runs out of
// room mid-way, and the model's resident bytes can count the budget.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "generation.h"
#include "kv_cache.h"
#include "llama_model.h"
#include "prompt_cache.h"

namespace mrt::raw {

struct BatchOptions {
  int max_sequences = 8;          // decoded together in one step
  size_t prompt_cache_bytes = 0;  // 0 = no prompt cache
  int prefill_chunk = 128;        // prompt tokens per round
  // Active sequences' reservations plus the prompt cache; 0 = no limit.
  // At least one whole context (kv_context_bytes()) when set.
  size_t kv_budget_bytes = 0;
};

class BatchEngine {
 public:
  BatchEngine(LlamaModel& model, BatchOptions options);
  ~BatchEngine();  // no generate() may be running
  BatchEngine(const BatchEngine&) = delete;
  BatchEngine& operator=(const BatchEngine&) = delete;

  // Runs one sequence among the others; returns when it ends. `error` is set
  // (and the result's finish is kError) when a step failed (out of memory).
  GenerationResult generate(const GenerationRequest& req, TextSink sink, const std::vector<int>& end_tokens,
                            std::string& error);
  // Runs fn with the model to itself, between steps (the logits payload).
  template <typename F>
  auto exclusive(F&& fn) {
    ++exclusive_waiting_;  // the driver lets it in before its next step
    std::lock_guard lock(step_mutex_);
    --exclusive_waiting_;
    return fn();
  }
  const BatchOptions& options() const { return options_; }
  // The prompt cache's bytes and hits so far.
  size_t prompt_cache_bytes() const;
  size_t prompt_cache_hits() const;
  // Prompt tokens the prompt cache spared (for tests and benchmarks).
  size_t reused_tokens() const;
  // The most sequences one decode step has run together.
  size_t largest_batch() const;
  // Bytes of KV entries that `positions` positions of one sequence hold,
  // and a whole context's.
  size_t kv_bytes(size_t positions) const;
  size_t kv_context_bytes() const { return kv_bytes(static_cast<size_t>(model_.config().seq_len)); }
  // Now and at most so far: active sequences' reservations plus the prompt
  // cache's bytes (never above kv_budget_bytes when that is set).
  size_t kv_bytes_in_use() const;
  size_t kv_peak_bytes() const;

 private:
  struct Sequence {
    Sequence(const GenerationRequest& r, int seq_len, TextSink sink, const std::vector<int>& end_tokens)
        : req(r), gen(r, seq_len, std::move(sink), end_tokens) {}
    const GenerationRequest& req;
    Generation gen;
    KvCache cache;
    std::vector<int> fed;  // tokens whose keys and values `cache` holds
    int next = -1;         // the token to feed in the next decode step
    std::string error;
    size_t reserved = 0;   // KV bytes held for it in the budget
    bool done = false;     // under mutex_: the driver is done with it
  };

  void drive();
  // Under mutex_: whether s fits the KV budget now (evicting prompt-cache
  // entries to make room), or `alone` (nothing else active); if so, its
  // reservation is counted.
  bool reserve(Sequence& s, bool alone);
  void note_kv_peak();  // under mutex_
  void admit(Sequence& s);
  void step();
  void retire(Sequence& s);
  void fail_all(const std::string& why);

  LlamaModel& model_;
  const BatchOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the driver: a sequence arrived, or stop
  std::condition_variable done_;  // callers: a sequence is done
  std::vector<Sequence*> arrived_;
  bool stop_ = false;
  std::thread driver_;

  std::mutex step_mutex_;  // held through each forward pass
  std::atomic<int> exclusive_waiting_{0};
  // The driver's own (and, for the counters, under mutex_).
  PromptCache prompt_cache_;
  size_t reused_tokens_ = 0, largest_batch_ = 0;
  size_t kv_reserved_ = 0, kv_peak_ = 0;
  std::vector<Sequence*> prefilling_, decoding_;
  std::vector<float> logits_;  // one row, sampled (and so modified) in place
};

}  // namespace mrt::raw
