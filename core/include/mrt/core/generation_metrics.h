// Per-model text-generation metrics: prompt and generated tokens, time to
// the first token, the gaps between streamed chunks, and the sequences
// running now. Every generated chunk passes the request's text sink, so a
// Sequence wraps that sink and times what a client sees.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "mrt/core/host_api.h"
#include "mrt/core/metrics.h"

namespace mrt {

class GenerationMetrics {
  struct PerModel;

 public:
  using Clock = std::chrono::steady_clock;

  // One generate request, from its arrival to its answer.
  class Sequence {
   public:
    ~Sequence();
    Sequence(const Sequence&) = delete;
    Sequence& operator=(const Sequence&) = delete;
    // A sink that notes each chunk's time and then passes it to `next`
    // (which may be empty: the client did not ask for a stream).
    TextSink wrap(TextSink next);
    // The runtime starts on it: counted in the active sequences until finish().
    void running();
    // The answer: `ok` counts its tokens. When no chunk was streamed (a
    // plugin without streaming), the first token is taken to be now.
    void finish(bool ok, int prompt_tokens, int generated_tokens);

   private:
    friend class GenerationMetrics;
    Sequence(PerModel& m, Clock::time_point arrived) : m_(m), arrived_(arrived) {}
    void observe_chunk(Clock::time_point now);
    PerModel& m_;
    Clock::time_point arrived_;
    std::mutex mutex_;  // chunks come from the plugin's thread
    Clock::time_point last_chunk_{};
    bool active_ = false;
  };

  GenerationMetrics();
  ~GenerationMetrics();
  // `model` is the metrics label (a system model's id, or "<user>").
  std::unique_ptr<Sequence> begin(const std::string& model, Clock::time_point arrived);
  // generation_tokens_total, generation_prompt_tokens_total,
  // generation_time_to_first_token_ms, generation_inter_token_latency_ms,
  // generation_active_sequences; each by `model`.
  void render(PrometheusText& out) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<PerModel>> models_;  // never removed: Sequences point into them
};

}  // namespace mrt
