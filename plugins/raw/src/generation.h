// The generation loop: prefill the prompt, then decode token by token until
// EOS, max_tokens, a stop string or cancellation. Text is handed out as it
// becomes final: text that might still turn into a stop string is held back.
//
// Generation is one sequence's state between decode steps (its sampler,
// text, stop strings), so a batch can advance many sequences a step at a
// time (batch_engine.h); generate() runs one sequence alone.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "llama_model.h"
#include "sampler.h"

namespace mrt::raw {

enum class Finish { kNone, kEos, kLength, kStop, kCancelled, kError };

struct GenerationRequest {
  std::vector<int> prompt;  // token ids, BOS included
  bool prompt_is_empty = false;  // the generated text starts the document
  int max_tokens = 0;       // 0 = up to the context length
  SamplingParams sampling;
  std::vector<std::string> stop;
};

struct GenerationResult {
  std::string text;
  int generated = 0;
  Finish finish = Finish::kNone;
  int cached_prompt_tokens = 0;  // prompt tokens the prompt cache spared
};

// How a sequence's text leaves: `decode(tok, at_start)` gives a token's
// text; `emit` receives final text and returns false to stop (client gone);
// `cancelled` is polled between tokens.
struct TextSink {
  std::function<std::string(int, bool&)> decode;
  std::function<bool(const std::string&)> emit;
  std::function<bool()> cancelled;
};

class Generation {
 public:
  Generation(const GenerationRequest& req, int seq_len, TextSink sink, std::vector<int> end_tokens);

  // After the logits of the last token fed (the prompt's last, then each
  // generated one): checks cancellation and max_tokens, samples, appends
  // and emits text, checks stop strings. The next token to feed, or -1 once
  // finished (then result() is final). `logits` is modified.
  int advance(float* logits, int vocab);
  // Polls the sink's cancellation (between prompt chunks); true, and
  // finished, when cancelled.
  bool poll_cancel() {
    if (!finished() && sink_.cancelled()) result_.finish = Finish::kCancelled;
    return result_.finish == Finish::kCancelled;
  }
  // Ends it from outside (the batch's own error or shutdown).
  void end(Finish why) { result_.finish = why; }
  bool finished() const { return result_.finish != Finish::kNone; }
  // The result, with the held-back text flushed once finished normally.
  GenerationResult& result() { return result_; }

 private:
  void finish_text();

  TextSink sink_;
  std::vector<int> end_tokens_;
  std::vector<std::string> stops_;
  Sampler sampler_;
  int max_tokens_ = 0;
  bool at_start_ = false;
  size_t emitted_ = 0;
  GenerationResult result_;
};

// One sequence alone on the model's own cache.
GenerationResult generate(LlamaModel& model, const GenerationRequest& req,
                          const std::function<std::string(int, bool&)>& decode,
                          const std::function<bool(const std::string&)>& emit,
                          const std::function<bool()>& cancelled, const std::vector<int>& end_tokens);

}  // namespace mrt::raw
