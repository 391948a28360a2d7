// The generation loop: prefill the prompt, then decode token by token until
// EOS, max_tokens, a stop string or cancellation. Text is handed out as it
// becomes final: text that might still turn into a stop string is held back.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "llama2c_tokenizer.h"
#include "llama_model.h"
#include "sampler.h"

namespace mrt::raw {

enum class Finish { kNone, kEos, kLength, kStop, kCancelled };

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
};

// `decode(tok, at_start)` gives a token's text; `emit` receives final text and
// returns false to stop (client gone); `cancelled` is polled between tokens.
GenerationResult generate(LlamaModel& model, const GenerationRequest& req,
                          const std::function<std::string(int, bool&)>& decode,
                          const std::function<bool(const std::string&)>& emit,
                          const std::function<bool()>& cancelled, const std::vector<int>& end_tokens);

}  // namespace mrt::raw
