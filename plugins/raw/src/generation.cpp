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

Generation::Generation(const GenerationRequest& req, int seq_len, TextSink sink, std::vector<int> end_tokens)
    : sink_(std::move(sink)), end_tokens_(std::move(end_tokens)), sampler_(req.sampling), at_start_(req.prompt_is_empty) {
  int budget = seq_len - static_cast<int>(req.prompt.size());
  max_tokens_ = req.max_tokens > 0 ? std::min(req.max_tokens, budget) : budget;
  for (const auto& s : req.stop)
    if (!s.empty()) stops_.push_back(s);
}

void Generation::finish_text() {
  if (result_.text.size() > emitted_) sink_.emit(utf8_sanitize(std::string_view(result_.text).substr(emitted_)));
  result_.text = utf8_sanitize(result_.text);
}

int Generation::advance(float* logits, int vocab) {
  if (finished()) return -1;
  if (sink_.cancelled()) {
    result_.finish = Finish::kCancelled;
    return -1;
  }
  if (result_.generated >= max_tokens_) {
    result_.finish = Finish::kLength;
    finish_text();
    return -1;
  }
  int next = sampler_.sample(logits, vocab);
  if (std::find(end_tokens_.begin(), end_tokens_.end(), next) != end_tokens_.end()) {
    result_.finish = Finish::kEos;
    finish_text();
    return -1;
  }
  ++result_.generated;
  std::string& text = result_.text;
  text += sink_.decode(next, at_start_);
  bool stopped = false;
  for (const auto& s : stops_) {
    size_t at = text.find(s, emitted_ > s.size() ? emitted_ - s.size() : 0);
    if (at != std::string::npos) {
      text.resize(at);
      stopped = true;
    }
  }
  size_t ready = stopped ? text.size() : text.size() - held_back(text, stops_);
  ready = std::min(ready, utf8_complete_prefix(text));  // wait for a character's last byte
  if (ready > emitted_) {
    if (!sink_.emit(utf8_sanitize(std::string_view(text).substr(emitted_, ready - emitted_)))) {
      result_.finish = Finish::kCancelled;
      return -1;
    }
    emitted_ = ready;
  }
  if (stopped) {
    result_.finish = Finish::kStop;
    finish_text();
    return -1;
  }
  return next;
}

GenerationResult generate(LlamaModel& model, const GenerationRequest& req,
                          const std::function<std::string(int, bool&)>& decode,
                          const std::function<bool(const std::string&)>& emit,
                          const std::function<bool()>& cancelled, const std::vector<int>& end_tokens) {
  const LlamaConfig& c = model.config();
  Generation gen(req, c.seq_len, TextSink{decode, emit, cancelled}, end_tokens);
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  const float* l = model.forward(req.prompt.data(), static_cast<int>(req.prompt.size()), 0);
  for (int pos = static_cast<int>(req.prompt.size());; ++pos) {
    std::copy(l, l + c.vocab_size, logits.begin());
    int next = gen.advance(logits.data(), c.vocab_size);
    if (next < 0) break;
    l = model.forward(&next, 1, pos);
  }
  return std::move(gen.result());
}

}  // namespace mrt::raw
