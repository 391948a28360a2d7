#include "mrt/core/generation_metrics.h"

#include <algorithm>

namespace mrt {

// Milliseconds. Time to first token includes the queue and the prefill, so
// it spans a millisecond (a tiny model) to tens of seconds (a long prompt on
// a big one); the gap between tokens is one decode step: tenths of a
// millisecond for the test models, tens for a 7B one on a CPU.
struct GenerationMetrics::PerModel {
  Counter generated, prompt;
  Histogram ttft_ms{{1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000}};
  Histogram itl_ms{{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 35, 50, 75, 100, 150, 250, 500, 1000}};
  std::atomic<int64_t> active{0};
};

GenerationMetrics::GenerationMetrics() = default;
GenerationMetrics::~GenerationMetrics() = default;

std::unique_ptr<GenerationMetrics::Sequence> GenerationMetrics::begin(const std::string& model, Clock::time_point arrived) {
  std::lock_guard lock(mutex_);
  auto& m = models_[model];
  if (!m) m = std::make_unique<PerModel>();
  return std::unique_ptr<Sequence>(new Sequence(*m, arrived));
}

GenerationMetrics::Sequence::~Sequence() {
  if (active_) m_.active.fetch_sub(1);  // dropped without an answer
}

void GenerationMetrics::Sequence::observe_chunk(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (last_chunk_ == Clock::time_point{})
    m_.ttft_ms.observe(std::chrono::duration<double, std::milli>(now - arrived_).count());
  else
    m_.itl_ms.observe(std::chrono::duration<double, std::milli>(now - last_chunk_).count());
  last_chunk_ = now;
}

TextSink GenerationMetrics::Sequence::wrap(TextSink next) {
  return [this, next = std::move(next)](std::string_view chunk) -> Status {
    observe_chunk(Clock::now());
    return next ? next(chunk) : Status::ok();
  };
}

void GenerationMetrics::Sequence::running() {
  if (!active_) m_.active.fetch_add(1);
  active_ = true;
}

void GenerationMetrics::Sequence::finish(bool ok, int prompt_tokens, int generated_tokens) {
  if (active_) m_.active.fetch_sub(1);
  active_ = false;
  if (!ok) return;
  bool streamed;
  {
    std::lock_guard lock(mutex_);
    streamed = last_chunk_ != Clock::time_point{};
  }
  if (!streamed && generated_tokens > 0) observe_chunk(Clock::now());
  m_.prompt.add(static_cast<uint64_t>(std::max(0, prompt_tokens)));
  m_.generated.add(static_cast<uint64_t>(std::max(0, generated_tokens)));
}

void GenerationMetrics::render(PrometheusText& out) const {
  std::map<std::string, double> generated, prompt, active;
  std::map<std::string, const Histogram*> ttft, itl;
  std::lock_guard lock(mutex_);
  for (const auto& [model, m] : models_) {
    generated[model] = static_cast<double>(m->generated.value());
    prompt[model] = static_cast<double>(m->prompt.value());
    active[model] = static_cast<double>(m->active.load());
    ttft[model] = &m->ttft_ms;
    itl[model] = &m->itl_ms;
  }
  out.labelled("generation_tokens_total", "counter", "Tokens generated, by model (answered requests).", "model", generated);
  out.labelled("generation_prompt_tokens_total", "counter", "Prompt tokens read, by model (answered requests).", "model",
               prompt);
  out.histograms("generation_time_to_first_token_ms", "From a generate request's arrival to its first text chunk (ms).",
                 "model", ttft);
  out.histograms("generation_inter_token_latency_ms", "Between consecutive text chunks of one sequence (ms).", "model", itl);
  out.labelled("generation_active_sequences", "gauge", "Generate requests running in the runtime now, by model.", "model",
               active);
}

}  // namespace mrt
