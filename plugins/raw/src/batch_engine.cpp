#include "batch_engine.h"

#include <algorithm>
#include <exception>
#include <new>

namespace mrt::raw {

namespace {

// A budget below one whole context could leave a sequence that reaches the
// context unable to start even alone: such a budget is raised to one.
BatchOptions with_room_for_one(BatchOptions options, const LlamaModel& model) {
  const LlamaConfig& c = model.config();
  const size_t context = KvCache::context_bytes(c.n_layers, c.seq_len, c.kv_dim(), model.half_kv());
  if (options.kv_budget_bytes != 0) options.kv_budget_bytes = std::max(options.kv_budget_bytes, context);
  return options;
}

}  // namespace

BatchEngine::BatchEngine(LlamaModel& model, BatchOptions options)
    : model_(model), options_(with_room_for_one(options, model)), prompt_cache_(options.prompt_cache_bytes) {
  logits_.resize(static_cast<size_t>(model.config().vocab_size));
  // Never more than max_sequences between them: inserting into them cannot
  // allocate, so no admitted sequence can be lost to a failed insert (and
  // its reservation with it).
  const size_t most = static_cast<size_t>(std::max(1, options_.max_sequences));
  prefilling_.reserve(most);
  decoding_.reserve(most);
}

BatchEngine::~BatchEngine() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (driver_.joinable()) driver_.join();
}

GenerationResult BatchEngine::generate(const GenerationRequest& req, TextSink sink, const std::vector<int>& end_tokens,
                                       std::string& error) {
  Sequence s(req, model_.config().seq_len, std::move(sink), end_tokens);
  {
    std::unique_lock lock(mutex_);
    if (!driver_.joinable()) driver_ = std::thread([this] { drive(); });
    arrived_.push_back(&s);
    wake_.notify_one();
    done_.wait(lock, [&] { return s.done; });
  }
  error = std::move(s.error);
  return std::move(s.gen.result());
}

size_t BatchEngine::prompt_cache_bytes() const {
  std::lock_guard lock(mutex_);
  return prompt_cache_.bytes();
}

size_t BatchEngine::prompt_cache_hits() const {
  std::lock_guard lock(mutex_);
  return prompt_cache_.hits();
}

size_t BatchEngine::reused_tokens() const {
  std::lock_guard lock(mutex_);
  return reused_tokens_;
}

size_t BatchEngine::largest_batch() const {
  std::lock_guard lock(mutex_);
  return largest_batch_;
}

size_t BatchEngine::kv_bytes(size_t positions) const {
  const LlamaConfig& c = model_.config();
  return KvCache::context_bytes(c.n_layers, static_cast<int>(positions), c.kv_dim(), model_.half_kv());
}

size_t BatchEngine::kv_bytes_in_use() const {
  std::lock_guard lock(mutex_);
  return kv_reserved_ + prompt_cache_.bytes();
}

size_t BatchEngine::kv_peak_bytes() const {
  std::lock_guard lock(mutex_);
  return kv_peak_;
}

void BatchEngine::note_kv_peak() { kv_peak_ = std::max(kv_peak_, kv_reserved_ + prompt_cache_.bytes()); }

bool BatchEngine::reserve(Sequence& s, bool alone) {
  const size_t context = static_cast<size_t>(model_.config().seq_len);
  const size_t reach = s.req.max_tokens > 0 ? s.req.prompt.size() + static_cast<size_t>(s.req.max_tokens) : context;
  const size_t need = kv_bytes(std::min(reach, context));
  const size_t budget = options_.kv_budget_bytes;
  if (budget != 0) {
    if (kv_reserved_ + need > budget && !alone) return false;
    prompt_cache_.shrink_to(budget - std::min(budget, kv_reserved_ + need));
  }
  s.reserved = need;
  kv_reserved_ += need;
  note_kv_peak();
  return true;
}

void BatchEngine::drive() {
  for (;;) {
    std::vector<Sequence*> arrived;
    {
      std::unique_lock lock(mutex_);
      const size_t active = prefilling_.size() + decoding_.size();
      wake_.wait(lock, [&] { return stop_ || active > 0 || !arrived_.empty(); });
      if (stop_ && active == 0 && arrived_.empty()) return;
      // Join between steps, oldest first, up to max_sequences active and
      // while the KV budget has room (the first that does not fit stops
      // the others).
      const size_t most = static_cast<size_t>(std::max(1, options_.max_sequences));
      size_t room = most - std::min(active, most);
      // Waiting sequences whose caller left or gave up leave the queue now
      // (one at its head would otherwise hold up the rest until it fit).
      for (auto it = arrived_.begin(); it != arrived_.end();) {
        if (!(*it)->gen.poll_cancel()) {
          ++it;
          continue;
        }
        (*it)->done = true;
        it = arrived_.erase(it);
        done_.notify_all();
      }
      // With none active the head always goes in: it fits by construction
      // (the budget is at least one context), and forcing it guards against
      // a driver that would otherwise spin.
      size_t take = 0;
      while (take < std::min(room, arrived_.size()) && reserve(*arrived_[take], active == 0 && take == 0)) ++take;
      arrived.assign(arrived_.begin(), arrived_.begin() + static_cast<std::ptrdiff_t>(take));
      arrived_.erase(arrived_.begin(), arrived_.begin() + static_cast<std::ptrdiff_t>(take));
    }
    // A mutex is not fair: without this, steps back to back could keep an
    // exclusive() caller out indefinitely.
    while (exclusive_waiting_.load() > 0) std::this_thread::yield();
    try {
      // Listed before anything can fail, so fail_all answers them too.
      prefilling_.insert(prefilling_.end(), arrived.begin(), arrived.end());
      for (Sequence* s : arrived) admit(*s);
      step();
    } catch (const std::bad_alloc&) {
      fail_all("out of memory for the KV cache");
    } catch (const std::exception& e) {
      fail_all(e.what());
    }
  }
}

void BatchEngine::admit(Sequence& s) {
  s.cache = model_.new_cache();
  if (options_.prompt_cache_bytes > 0) {
    // At least the prompt's last token is run again: its logits start the
    // generation.
    std::lock_guard lock(mutex_);
    int reused = prompt_cache_.reuse(s.req.prompt, static_cast<int>(s.req.prompt.size()) - 1, s.cache);
    s.fed.assign(s.req.prompt.begin(), s.req.prompt.begin() + reused);
    s.gen.result().cached_prompt_tokens = reused;
    reused_tokens_ += static_cast<size_t>(reused);
  }
}

void BatchEngine::step() {
  for (auto it = prefilling_.begin(); it != prefilling_.end();) {
    if (!(*it)->gen.poll_cancel()) {
      ++it;
      continue;
    }
    Sequence& s = **it;
    it = prefilling_.erase(it);
    retire(s);
  }
  if (prefilling_.empty() && decoding_.empty()) return;
  const size_t vocab = static_cast<size_t>(model_.config().vocab_size);
  // The rows of this step: chunks of prompts, oldest first, up to
  // prefill_chunk tokens in all (a long prompt takes several steps, so
  // decoding sequences wait one chunk at most between tokens), then one
  // token of every decoding sequence. One pass reads the weights once for
  // all of them: eight new short prompts cost one pass, not eight.
  struct Chunk {
    Sequence* s;
    int from, count;
    bool last;  // the prompt's last token is in it: its logits start the generation
  };
  std::vector<Chunk> chunks;
  std::vector<int> tokens, positions, logit_rows;
  std::vector<KvCache*> caches;
  int budget = std::max(1, options_.prefill_chunk);
  for (Sequence* s : prefilling_) {
    if (budget <= 0) break;
    const int have = static_cast<int>(s->fed.size()), want = static_cast<int>(s->req.prompt.size());
    const int n = std::min(budget, want - have);
    for (int i = 0; i < n; ++i) {
      tokens.push_back(s->req.prompt[static_cast<size_t>(have + i)]);
      positions.push_back(have + i);
      caches.push_back(&s->cache);
    }
    chunks.push_back(Chunk{s, have, n, have + n == want});
    if (have + n == want) logit_rows.push_back(static_cast<int>(tokens.size()) - 1);
    budget -= n;
  }
  for (Sequence* s : decoding_) {
    logit_rows.push_back(static_cast<int>(tokens.size()));
    tokens.push_back(s->next);
    positions.push_back(static_cast<int>(s->fed.size()));
    caches.push_back(&s->cache);
  }
  {
    std::lock_guard lock(mutex_);
    largest_batch_ = std::max(largest_batch_, chunks.size() + decoding_.size());
  }
  std::vector<Sequence*> started;  // prompts done this step, to decode from the next
  {
    std::lock_guard step(step_mutex_);
    const float* l;
    if (decoding_.empty() && chunks.size() == 1) {
      // One prompt alone: the prompt path, whose products and attention
      // run as GEMMs.
      const Chunk& c = chunks.front();
      l = model_.forward(c.s->req.prompt.data() + c.from, c.count, c.from, c.s->cache);
    } else {
      l = model_.forward_rows(tokens.data(), positions.data(), caches.data(), static_cast<int>(tokens.size()),
                              logit_rows.data(), static_cast<int>(logit_rows.size()));
    }
    // Sampling is a small part of a step: done here, row by row, in the
    // order of logit_rows (finished prompts, then decoding sequences).
    auto sample = [&](Sequence& s) {
      std::copy(l, l + vocab, logits_.begin());
      l += vocab;
      s.next = s.gen.advance(logits_.data(), static_cast<int>(vocab));
    };
    for (const Chunk& c : chunks) {
      c.s->fed.insert(c.s->fed.end(), c.s->req.prompt.begin() + c.from, c.s->req.prompt.begin() + c.from + c.count);
      if (!c.last) continue;
      sample(*c.s);
      started.push_back(c.s);
    }
    for (Sequence* s : decoding_) {
      s->fed.push_back(s->next);
      sample(*s);
    }
  }
  for (Sequence* s : started) prefilling_.erase(std::find(prefilling_.begin(), prefilling_.end(), s));
  decoding_.insert(decoding_.end(), started.begin(), started.end());
  std::vector<Sequence*> still;
  still.reserve(decoding_.size());
  for (Sequence* s : decoding_) {
    if (s->next < 0) retire(*s);
    else still.push_back(s);
  }
  decoding_.swap(still);
}

void BatchEngine::retire(Sequence& s) {
  {
    std::lock_guard lock(mutex_);
    kv_reserved_ -= s.reserved;
    s.reserved = 0;
    if (options_.prompt_cache_bytes > 0 && s.error.empty() && !s.fed.empty()) {
      prompt_cache_.keep(std::move(s.fed), std::move(s.cache));
      if (options_.kv_budget_bytes != 0) prompt_cache_.shrink_to(options_.kv_budget_bytes - kv_reserved_);
      note_kv_peak();
    }
  }
  s.cache = KvCache();
  std::lock_guard lock(mutex_);
  s.done = true;
  done_.notify_all();
}

void BatchEngine::fail_all(const std::string& why) {
  std::vector<Sequence*> all;
  all.insert(all.end(), prefilling_.begin(), prefilling_.end());
  all.insert(all.end(), decoding_.begin(), decoding_.end());
  prefilling_.clear();
  decoding_.clear();
  for (Sequence* s : all) {
    s->error = why;
    s->gen.end(Finish::kError);
    retire(*s);
  }
}

}  // namespace mrt::raw
