#include "generation.h"

#include <algorithm>

#include "utf8.h"

namespace mrt::raw {
namespace {

// Length of the longest suffix of `text` that is a proper prefix of a stop
// string: that much must wait for the next token.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& s : stops)
    for (size_t n = std::min(s.size() - 1, text.size()); n > hold; --n)
      if (text.compare(text.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
  return hold;
}

}  // namespace

GenerationResult generate(LlamaModel& model, const GenerationRequest& req,
                          const std::function<std::string(int, bool&)>& decode,
                          const std::function<bool(const std::string&)>& emit,
                          const std::function<bool()>& cancelled, const std::vector<int>& end_tokens) {
  const LlamaConfig& c = model.config();
  GenerationResult out;
  int n_prompt = static_cast<int>(req.prompt.size());
  int budget = c.seq_len - n_prompt;
  int max_tokens = req.max_tokens > 0 ? std::min(req.max_tokens, budget) : budget;
  Sampler sampler(req.sampling);
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  const float* l = model.forward(req.prompt.data(), n_prompt, 0);
  int pos = n_prompt;
  bool at_start = req.prompt_is_empty;
  size_t emitted = 0;
  std::vector<std::string> stops;
  for (const auto& s : req.stop)
    if (!s.empty()) stops.push_back(s);
  for (;;) {
    if (cancelled()) {
      out.finish = Finish::kCancelled;
      return out;
    }
    if (out.generated >= max_tokens) {
      out.finish = Finish::kLength;
      break;
    }
    std::copy(l, l + c.vocab_size, logits.begin());
    int next = sampler.sample(logits.data(), c.vocab_size);
    if (std::find(end_tokens.begin(), end_tokens.end(), next) != end_tokens.end()) {
      out.finish = Finish::kEos;
      break;
    }
    ++out.generated;
    out.text += decode(next, at_start);
    bool stopped = false;
    for (const auto& s : stops) {
      size_t at = out.text.find(s, emitted > s.size() ? emitted - s.size() : 0);
      if (at != std::string::npos) {
        out.text.resize(at);
        stopped = true;
      }
    }
    size_t ready = stopped ? out.text.size() : out.text.size() - held_back(out.text, stops);
    ready = std::min(ready, utf8_complete_prefix(out.text));  // wait for a character's last byte
    if (ready > emitted) {
      if (!emit(utf8_sanitize(std::string_view(out.text).substr(emitted, ready - emitted)))) {
        out.finish = Finish::kCancelled;
        return out;
      }
      emitted = ready;
    }
    if (stopped) {
      out.finish = Finish::kStop;
      break;
    }
    l = model.forward(&next, 1, pos++);
  }
  if (out.text.size() > emitted) emit(utf8_sanitize(std::string_view(out.text).substr(emitted)));
  out.text = utf8_sanitize(out.text);
  return out;
}

}  // namespace mrt::raw
