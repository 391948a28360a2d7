// Continuous batching and the prompt cache of the raw plugin, on the tiny
// random llama2.c model (tests/fixtures/models/tiny-llama2c): concurrent
// sequences give what each gives alone, one that is cancelled or whose
// client is gone leaves the others undisturbed, a prompt-cache hit gives
// what a cold run gives, and the cache stays within its budget. Then the
// same through the plugin and the Runtime (concurrent infer calls).
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "batch_engine.h"
#include "generation.h"
#include "llama2c_checkpoint.h"
#include "llama_model.h"
#include "mrt/core/npy.h"
#include "mrt/core/runtime.h"
#include "prompt_cache.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

fs::path fixture() { return fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/models/tiny-llama2c"; }

std::unique_ptr<raw::LlamaModel> tiny_model() {
  std::ifstream in(fixture() / "model.bin", std::ios::binary);
  static const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  raw::LlamaConfig config;
  raw::LlamaWeights weights;
  EXPECT_EQ(raw::load_llama2c(bytes.data(), bytes.size(), config, weights), "");
  return std::make_unique<raw::LlamaModel>(config, std::move(weights), 2);
}

// A request whose text spells out its token ids ("<12><7>..."): the random
// model's tokens compared one by one. No end tokens: every run goes to its
// max_tokens or stop string.
raw::GenerationRequest request(int prompt_len, int max_tokens, int salt, float temperature = 0, uint64_t seed = 0) {
  raw::GenerationRequest r;
  r.prompt.push_back(1);
  for (int i = 1; i < prompt_len; ++i) r.prompt.push_back(3 + (i * 37 + salt * 11) % 320);
  r.max_tokens = max_tokens;
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  return r;
}

std::string token_text(int tok) { return "<" + std::to_string(tok) + ">"; }

struct Outcome {
  raw::GenerationResult result;
  std::string streamed;
};

// Alone, on the model's own cache (the sequential path).
Outcome alone(raw::LlamaModel& model, const raw::GenerationRequest& req) {
  Outcome o;
  o.result = raw::generate(
      model, req, [](int t, bool&) { return token_text(t); },
      [&](const std::string& s) {
        o.streamed += s;
        return true;
      },
      [] { return false; }, {});
  return o;
}

// Through the engine; `cancel_after` > 0 cancels once that many chunks were
// emitted, `gone_after` > 0 makes emit fail (the client left) then.
Outcome batched(raw::BatchEngine& engine, const raw::GenerationRequest& req, int cancel_after = 0, int gone_after = 0) {
  Outcome o;
  auto chunks = std::make_shared<std::atomic<int>>(0);
  raw::TextSink sink;
  sink.decode = [](int t, bool&) { return token_text(t); };
  sink.emit = [&o, chunks, gone_after](const std::string& s) {
    if (gone_after > 0 && *chunks >= gone_after) return false;
    o.streamed += s;
    ++*chunks;
    return true;
  };
  sink.cancelled = [chunks, cancel_after] { return cancel_after > 0 && *chunks >= cancel_after; };
  std::string error;
  o.result = engine.generate(req, std::move(sink), {}, error);
  EXPECT_EQ(error, "");
  return o;
}

std::vector<raw::GenerationRequest> mixed_requests() {
  std::vector<raw::GenerationRequest> reqs = {
      request(3, 20, 0), request(17, 9, 1), request(9, 30, 2), request(30, 12, 3),
      request(5, 25, 4, 0.8f, 42), request(12, 16, 5, 1.0f, 7), request(2, 40, 6), request(22, 5, 7),
  };
  reqs[2].stop = {"<1"};  // a stop string: text ends before it
  return reqs;
}

// Eight concurrent sequences of different prompt lengths, limits, sampling
// parameters and seeds, batched, give what each gives alone.
TEST(BatchEngine, ConcurrentSequencesMatchSequentialRuns) {
  auto reference_model = tiny_model();
  auto reqs = mixed_requests();
  std::vector<Outcome> want;
  for (const auto& r : reqs) want.push_back(alone(*reference_model, r));

  auto model = tiny_model();
  raw::BatchEngine engine(*model, raw::BatchOptions{8, 0, 256});
  std::vector<std::future<Outcome>> got;
  for (const auto& r : reqs) got.push_back(std::async(std::launch::async, [&, r] { return batched(engine, r); }));
  for (size_t i = 0; i < reqs.size(); ++i) {
    Outcome o = got[i].get();
    EXPECT_EQ(o.result.text, want[i].result.text) << "request " << i;
    EXPECT_EQ(o.streamed, want[i].streamed) << "request " << i;
    EXPECT_EQ(o.result.generated, want[i].result.generated) << "request " << i;
    EXPECT_EQ(o.result.finish, want[i].result.finish) << "request " << i;
  }
  EXPECT_GT(engine.largest_batch(), 1u);  // they did share steps
}

// One pass over the prompt rows of two sequences and a decode row of a third
// (a serving step): each sequence's logits and KV entries are what it gets
// alone, through the prompt path and decode's own step.
// Thirteen rows run in register tiles, thirty-six through the GEMM.
TEST(BatchEngine, OnePassOverPromptsAndDecodeRowsMatchesSeparateRuns) {
  for (int b_length : {7, 30}) {
    SCOPED_TRACE("b's prompt: " + std::to_string(b_length) + " tokens");
    auto alone_model = tiny_model(), mixed_model = tiny_model();
    const int vocab = alone_model->config().vocab_size;
    const std::vector<int> a = {1, 40, 41, 42, 43}, c = {1, 90, 91};
    std::vector<int> b = {1};
    for (int i = 1; i < b_length; ++i) b.push_back(6 + i);
    // Alone: a and b prefilled; c prefilled, then one decode step at position 3.
    auto cache_a = alone_model->new_cache(), cache_b = alone_model->new_cache(), cache_c = alone_model->new_cache();
    std::vector<float> want_a, want_b, want_c;
    const float* l = alone_model->forward(a.data(), int(a.size()), 0, cache_a);
    want_a.assign(l, l + vocab);
    l = alone_model->forward(b.data(), int(b.size()), 0, cache_b);
    want_b.assign(l, l + vocab);
    alone_model->forward(c.data(), int(c.size()), 0, cache_c);
    const int next_c = 77;
    l = alone_model->forward(&next_c, 1, int(c.size()), cache_c);
    want_c.assign(l, l + vocab);
    // Together: c's prompt first (alone), then a's and b's prompts with c's decode row in one pass.
    auto mixed_a = mixed_model->new_cache(), mixed_b = mixed_model->new_cache(), mixed_c = mixed_model->new_cache();
    mixed_model->forward(c.data(), int(c.size()), 0, mixed_c);
    std::vector<int> tokens, positions;
    std::vector<raw::KvCache*> caches;
    for (auto [prompt, cache] : {std::pair{&a, &mixed_a}, {&b, &mixed_b}})
      for (size_t i = 0; i < prompt->size(); ++i) {
        tokens.push_back((*prompt)[i]);
        positions.push_back(int(i));
        caches.push_back(cache);
      }
    tokens.push_back(next_c);
    positions.push_back(int(c.size()));
    caches.push_back(&mixed_c);
    const std::vector<int> logit_rows = {int(a.size()) - 1, int(a.size() + b.size()) - 1, int(tokens.size()) - 1};
    l = mixed_model->forward_rows(tokens.data(), positions.data(), caches.data(), int(tokens.size()), logit_rows.data(),
                                  3);
    for (int i = 0; i < vocab; ++i) {
      ASSERT_NEAR(l[i], want_a[i], 1e-4 * (1 + std::fabs(want_a[i]))) << "a, logit " << i;
      ASSERT_NEAR(l[vocab + i], want_b[i], 1e-4 * (1 + std::fabs(want_b[i]))) << "b, logit " << i;
      ASSERT_NEAR(l[2 * vocab + i], want_c[i], 1e-4 * (1 + std::fabs(want_c[i]))) << "c, logit " << i;
    }
    // The caches hold the same entries: the next token of b decodes the same.
    const int next_b = 5;
    l = alone_model->forward(&next_b, 1, int(b.size()), cache_b);
    std::vector<float> after_alone(l, l + vocab);
    l = mixed_model->forward(&next_b, 1, int(b.size()), mixed_b);
    for (int i = 0; i < vocab; ++i) ASSERT_NEAR(l[i], after_alone[i], 1e-4 * (1 + std::fabs(after_alone[i]))) << i;
  }
}

// More sequences than max_sequences: the rest wait and join as others leave.
// Prompts are prefilled 7 tokens a round, between the others' steps.
TEST(BatchEngine, SequencesBeyondTheLimitJoinLater) {
  auto reference_model = tiny_model();
  auto model = tiny_model();
  raw::BatchEngine engine(*model, raw::BatchOptions{2, 0, 7});
  auto reqs = mixed_requests();
  std::vector<std::future<Outcome>> got;
  for (const auto& r : reqs) got.push_back(std::async(std::launch::async, [&, r] { return batched(engine, r); }));
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(got[i].get().result.text, alone(*reference_model, reqs[i]).result.text);
  EXPECT_LE(engine.largest_batch(), 2u);
}

// A sequence cancelled mid-way, and one whose client is gone, leave at once;
// the others finish exactly as they would alone.
TEST(BatchEngine, CancelledSequencesLeaveWithoutDisturbingOthers) {
  auto reference_model = tiny_model();
  auto model = tiny_model();
  raw::BatchEngine engine(*model, raw::BatchOptions{8, 0, 256});
  auto keep1 = request(7, 30, 11), keep2 = request(13, 25, 12), cancel = request(4, 40, 13), gone = request(6, 40, 14);
  auto f1 = std::async(std::launch::async, [&] { return batched(engine, keep1); });
  auto fc = std::async(std::launch::async, [&] { return batched(engine, cancel, 5); });
  auto fg = std::async(std::launch::async, [&] { return batched(engine, gone, 0, 3); });
  auto f2 = std::async(std::launch::async, [&] { return batched(engine, keep2); });
  Outcome c = fc.get(), g = fg.get();
  EXPECT_EQ(c.result.finish, raw::Finish::kCancelled);
  EXPECT_LE(c.result.generated, 6);
  EXPECT_EQ(g.result.finish, raw::Finish::kCancelled);
  EXPECT_LE(g.result.generated, 4);
  EXPECT_EQ(f1.get().result.text, alone(*reference_model, keep1).result.text);
  EXPECT_EQ(f2.get().result.text, alone(*reference_model, keep2).result.text);
}

// A prompt that starts with an earlier sequence's tokens reuses their KV
// entries and generates exactly what a cold run generates.
TEST(BatchEngine, PromptCacheHitMatchesColdRun) {
  auto reference_model = tiny_model();
  auto model = tiny_model();
  raw::BatchEngine engine(*model, raw::BatchOptions{4, 16 << 20, 256});
  auto first = request(30, 8, 21);
  Outcome turn1 = batched(engine, first);
  EXPECT_EQ(engine.reused_tokens(), 0u);
  // The second turn: the first prompt, what was generated, and more.
  auto second = first;
  second.max_tokens = 10;
  for (int i = 0; i < 6; ++i) second.prompt.push_back(40 + i);
  Outcome turn2 = batched(engine, second);
  EXPECT_GE(engine.reused_tokens(), 30u);
  EXPECT_EQ(turn2.result.text, alone(*reference_model, second).result.text);
  // The same prompt again reuses all of it but its last token.
  size_t before = engine.reused_tokens();
  Outcome again = batched(engine, second);
  EXPECT_EQ(engine.reused_tokens() - before, second.prompt.size() - 1);
  EXPECT_EQ(again.result.text, turn2.result.text);
  EXPECT_GT(engine.prompt_cache_bytes(), 0u);
  EXPECT_LE(engine.prompt_cache_bytes(), size_t{16} << 20);
  (void)turn1;
}

// The KV budget (here one whole context, the least it can be) covers the
// active sequences' reservations (prompt + max_tokens positions) and the
// prompt cache together: sequences that would overrun it wait their turn,
// one that can reach the end of the context runs alone, the prompt cache
// gives up entries to make room, and every result is what a run alone gives.
TEST(BatchEngine, KvBudgetCoversActiveSequencesAndThePromptCache) {
  auto reference_model = tiny_model();
  auto model = tiny_model();
  raw::BatchOptions options{8, 16 << 20, 256};
  options.kv_budget_bytes = 1;  // raised to one context
  raw::BatchEngine engine(*model, options);
  const size_t budget = engine.kv_context_bytes();
  ASSERT_EQ(engine.options().kv_budget_bytes, budget);
  const int context = model->config().seq_len;  // 64 positions
  // Each reaches 25 positions: two fit one context, three do not.
  std::vector<raw::GenerationRequest> reqs;
  for (int i = 0; i < 6; ++i) reqs.push_back(request(10, 15, 30 + i, i % 2 ? 0.7f : 0, i));
  reqs.push_back(request(5, 0, 40));  // up to the context: alone
  std::vector<std::future<Outcome>> got;
  for (const auto& r : reqs) got.push_back(std::async(std::launch::async, [&, r] { return batched(engine, r); }));
  for (size_t i = 0; i < reqs.size(); ++i) {
    Outcome o = got[i].get();
    Outcome want = alone(*reference_model, reqs[i]);
    EXPECT_EQ(o.result.text, want.result.text) << "request " << i;
    EXPECT_EQ(o.result.generated, want.result.generated) << "request " << i;
  }
  EXPECT_EQ(alone(*reference_model, reqs.back()).result.generated, context - 5);
  EXPECT_EQ(engine.largest_batch(), 2u) << "two 25-position sequences fit a 64-position budget, three do not";
  EXPECT_LE(engine.kv_peak_bytes(), budget);
  EXPECT_GE(engine.kv_peak_bytes(), 2 * engine.kv_bytes(25));
  // Nothing active now: what is left is the prompt cache, within the budget.
  EXPECT_EQ(engine.kv_bytes_in_use(), engine.prompt_cache_bytes());
  EXPECT_GT(engine.prompt_cache_bytes(), 0u);
  // One at a time: a short sequence is kept (the least recently used
  // entries, whichever finished last above, make room for it) and its
  // follow-up hits the cache; then a sequence reaching the whole context.
  auto first = request(10, 6, 60);
  EXPECT_EQ(batched(engine, first).result.text, alone(*reference_model, first).result.text);
  auto follow = first;
  follow.max_tokens = 3;
  size_t before = engine.reused_tokens();
  EXPECT_EQ(batched(engine, follow).result.text, alone(*reference_model, follow).result.text);
  EXPECT_GT(engine.reused_tokens(), before);
  auto whole = request(3, 0, 41);
  EXPECT_EQ(batched(engine, whole).result.text, alone(*reference_model, whole).result.text);
  EXPECT_LE(engine.kv_peak_bytes(), budget);
}

// A request waiting for room in the KV budget whose caller gives up leaves
// the queue at once, not when it would have fitted.
TEST(BatchEngine, AWaitingSequenceThatIsCancelledLeavesAtOnce) {
  auto model = tiny_model();
  raw::BatchOptions options{8, 0, 256};
  options.kv_budget_bytes = 1;  // one context: a whole-context sequence fills it
  raw::BatchEngine engine(*model, options);
  std::atomic<int> long_chunks{0};
  std::atomic<bool> long_done{false};
  auto long_run = std::async(std::launch::async, [&] {
    raw::TextSink sink;
    sink.decode = [](int t, bool&) { return token_text(t); };
    sink.emit = [&](const std::string&) {
      ++long_chunks;
      std::this_thread::sleep_for(std::chrono::milliseconds(3));  // about 0.2 s in all
      return true;
    };
    sink.cancelled = [] { return false; };
    std::string error;
    auto r = engine.generate(request(5, 0, 50), std::move(sink), {}, error);
    long_done = true;
    return r;
  });
  while (long_chunks == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  raw::TextSink sink;
  sink.decode = [](int t, bool&) { return token_text(t); };
  sink.emit = [](const std::string&) { return true; };
  sink.cancelled = [] { return true; };  // gone before it could start
  std::string error;
  auto waiting = engine.generate(request(5, 10, 51), std::move(sink), {}, error);
  EXPECT_EQ(waiting.finish, raw::Finish::kCancelled);
  EXPECT_EQ(waiting.generated, 0);
  EXPECT_FALSE(long_done) << "the cancelled request waited for the running one to finish";
  EXPECT_EQ(long_run.get().generated, model->config().seq_len - 5);
  EXPECT_EQ(engine.kv_bytes_in_use(), 0u);
}

// Least recently used entries leave first; the budget holds; an entry that
// a newer one extends is replaced by it.
TEST(PromptCache, EvictsLeastRecentlyUsedWithinItsBudget) {
  const int layers = 2, positions = 64, width = 8;
  raw::KvCache probe(layers, positions, width);
  const size_t per_token = probe.bytes_for(1);
  raw::PromptCache cache(per_token * 25);  // room for two 10-token entries
  auto filled = [&](float v) {
    raw::KvCache c(layers, positions, width);
    for (int l = 0; l < layers; ++l)
      for (int i = 0; i < positions * width; ++i) {
        const float minus = -v;
        raw::kv_store(&v, c.keys(l).at(i), 1);
        raw::kv_store(&minus, c.values(l).at(i), 1);
      }
    return c;
  };
  auto tokens = [](int first) {
    std::vector<int> t;
    for (int i = 0; i < 10; ++i) t.push_back(first + i);
    return t;
  };
  cache.keep(tokens(100), filled(1));
  cache.keep(tokens(200), filled(2));
  EXPECT_EQ(cache.entries(), 2u);
  raw::KvCache into(layers, positions, width);
  EXPECT_EQ(cache.reuse(tokens(100), 100, into), 10);  // 100… is now the most recent
  auto entry = [](raw::KvEntries e) {
    float f;
    raw::kv_load(e, &f, 1);
    return f;
  };
  EXPECT_EQ(entry(into.keys(1).at(5)), 1.0f);
  EXPECT_EQ(entry(into.values(0).at(9 * width)), -1.0f);
  cache.keep(tokens(300), filled(3));  // evicts 200…, the least recent
  EXPECT_EQ(cache.entries(), 2u);
  EXPECT_LE(cache.bytes(), cache.budget());
  EXPECT_EQ(cache.reuse(tokens(200), 100, into), 0);
  EXPECT_EQ(cache.reuse(tokens(300), 4, into), 4);  // at most max_reuse
  // 100…109 extended to 100…111: the shorter entry goes.
  auto longer = tokens(100);
  longer.push_back(110);
  longer.push_back(111);
  cache.keep(longer, filled(4));
  EXPECT_EQ(cache.entries(), 2u);
  EXPECT_EQ(cache.reuse(tokens(100), 100, into), 10);
  EXPECT_EQ(entry(into.keys(0).at(0)), 4.0f);
  // Larger than the whole budget: not kept.
  std::vector<int> huge;
  for (int i = 0; i < 30; ++i) huge.push_back(500 + i);
  cache.keep(huge, filled(5));
  EXPECT_EQ(cache.reuse(huge, 100, into), 0);
}

// Through the plugin: concurrent text requests on one model run together
// (the plugin batches them; the model reports max_sequences) and each gets
// what it gets alone; a logits request between them is unaffected.
TEST(RawPluginBatching, ConcurrentInferCallsMatchSequentialOnes) {
  test::TempDir dir;
  fs::copy(fixture(), dir.path() / "tiny", fs::copy_options::recursive);
  std::ofstream(dir.path() / "tiny/model.yml") << "format: llama2c\ntask: text-generation\nfiles: [model.bin, tokenizer.bin]\n"
                                                   "options: {tokenizer: tokenizer.bin, max_sequences: '4', prompt_cache_mb: '8'}\n";
  RuntimeConfig c;
  c.plugin_files = {MRT_RAW_PLUGIN};
  c.num_threads = 2;
  int reported = 0;
  c.on_model_loaded = [&](const std::string&, const LoadedModel& m) { reported = m.max_sequences(); };
  auto rt = Runtime::create(std::move(c));
  ASSERT_TRUE(rt);
  ASSERT_TRUE((*rt)->add_model_path("tiny", dir.path() / "tiny").is_ok());
  auto text = [&](const std::string& prompt, int max_tokens, float temperature, uint64_t seed) {
    InferRequest r;
    r.model_id = "tiny";
    r.kind = MRT_PAYLOAD_TEXT;
    r.text = prompt;
    r.generation.max_tokens = max_tokens;
    r.generation.temperature = temperature;
    r.generation.seed = seed;
    auto out = (*rt)->infer(r);
    EXPECT_TRUE(out) << out.status().message();
    return out ? out->text->text : std::string();
  };
  const std::vector<std::string> prompts = {"Once upon a time", "the cat", "a", "The little dog ran to the park and"};
  std::vector<std::string> want;
  for (size_t i = 0; i < prompts.size(); ++i) want.push_back(text(prompts[i], 12 + 3 * static_cast<int>(i), i % 2 ? 0.9f : 0, i));
  EXPECT_EQ(reported, 4);
  std::vector<std::future<std::string>> got;
  for (size_t i = 0; i < prompts.size(); ++i)
    got.push_back(std::async(std::launch::async, [&, i] { return text(prompts[i], 12 + 3 * static_cast<int>(i), i % 2 ? 0.9f : 0, i); }));
  InferRequest logits;
  logits.model_id = "tiny";
  logits.tensors.push_back(std::move(read_npy(fixture() / "reference/inputs/input_ids.npy", "input_ids").value()));
  auto l1 = (*rt)->infer(logits);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got[i].get(), want[i]) << prompts[i];
  auto l2 = (*rt)->infer(logits);
  ASSERT_TRUE(l1 && l2);
  ASSERT_EQ(l1->tensors.size(), 1u);
  EXPECT_EQ(std::memcmp(l1->tensors[0].data(), l2->tensors[0].data(), l1->tensors[0].byte_size()), 0);
}

// Options given with a model path (the CLI's one-shot generate turns the
// prompt cache off this way) fill only what the manifest leaves unset: the
// cache's budget, counted in the model's resident bytes, shows which won.
TEST(RawPluginBatching, PathOptionDefaultsFillOnlyWhatTheManifestLeaves) {
  test::TempDir dir;
  for (const char* name : {"sets", "leaves"}) {
    fs::copy(fixture(), dir.path() / name, fs::copy_options::recursive);
    std::ofstream(dir.path() / name / "model.yml")
        << "format: llama2c\ntask: text-generation\nfiles: [model.bin, tokenizer.bin]\noptions: {tokenizer: "
           "tokenizer.bin"
        << (std::string(name) == "sets" ? ", prompt_cache_mb: '8'}\n" : "}\n");
  }
  RuntimeConfig c;
  c.plugin_files = {MRT_RAW_PLUGIN};
  auto rt = Runtime::create(std::move(c));
  ASSERT_TRUE(rt);
  const std::map<std::string, std::string> off = {{"prompt_cache_mb", "0"}};
  auto bytes = [&](const std::string& id, const std::string& dir_name, std::map<std::string, std::string> defaults) {
    EXPECT_TRUE((*rt)->add_model_path(id, dir.path() / dir_name, std::move(defaults)).is_ok());
    auto s = (*rt)->load(id);
    EXPECT_TRUE(s) << s.status().message();
    return s ? s->host_bytes : 0;
  };
  const uint64_t sets_off = bytes("a", "sets", off), sets = bytes("b", "sets", {});
  const uint64_t leaves_off = bytes("c", "leaves", off), leaves = bytes("d", "leaves", {});
  EXPECT_EQ(sets_off, sets) << "the manifest's own prompt_cache_mb must win over a default";
  EXPECT_EQ(sets - leaves_off, uint64_t{8} << 20) << "the default must turn the cache off where the manifest is silent";
  EXPECT_GT(leaves, leaves_off) << "without the default the plugin's own budget applies";
}

// The model's resident bytes count its KV budget (option kv_budget_mb,
// by default one whole context plus the prompt cache's budget); a budget
// below one context is a load error that says so.
TEST(RawPluginBatching, KvBudgetIsCountedAndCheckedAtLoad) {
  test::TempDir dir;
  for (const char* budget : {"1", "3", "0", "x", ""}) {
    fs::copy(fixture(), dir.path() / (std::string("b") + budget), fs::copy_options::recursive);
    std::ofstream(dir.path() / (std::string("b") + budget) / "model.yml")
        << "format: llama2c\ntask: text-generation\nfiles: [model.bin, tokenizer.bin]\noptions: {tokenizer: "
           "tokenizer.bin, prompt_cache_mb: '1', context: '64'"
        << (*budget ? std::string(", kv_budget_mb: '") + budget + "'" : std::string()) << "}\n";
  }
  RuntimeConfig c;
  c.plugin_files = {MRT_RAW_PLUGIN};
  auto rt = Runtime::create(std::move(c));
  ASSERT_TRUE(rt);
  auto load = [&](const std::string& budget) {
    EXPECT_TRUE((*rt)->add_model_path("m" + budget, dir.path() / ("b" + budget)).is_ok());
    return (*rt)->load("m" + budget);
  };
  auto one = load("1"), three = load("3"), fallback = load("");
  ASSERT_TRUE(one && three && fallback) << (one ? three ? fallback.status() : three.status() : one.status()).message();
  EXPECT_EQ(three->host_bytes - one->host_bytes, uint64_t{2} << 20);
  // The default: the 1 MiB prompt cache and max_sequences (8) whole
  // contexts of 16 KiB each (2 layers · 64 positions · 32 values · keys and
  // values · float16), against the 1 MiB budget.
  EXPECT_EQ(fallback->host_bytes - one->host_bytes, 8u * 16384);
  for (const char* bad : {"0", "x"}) {
    auto refused = load(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.status().code(), MRT_CODE_INVALID_ARGUMENT);
    EXPECT_NE(refused.status().message().find("kv_budget_mb"), std::string::npos) << refused.status().message();
  }
}

}  // namespace
}  // namespace mrt
