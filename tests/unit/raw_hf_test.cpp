// The raw plugin on the Hugging Face layout: tokenizer.json against the
// `tokenizers` package, logits against NumPy, the same weights as a llama2.c
// checkpoint, and every way a safetensors/config/tokenizer can be wrong.
// Fixtures: scripts/make-tiny-llama-hf.py.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "hf_checkpoint.h"
#include "hf_tokenizer.h"
#include "llama_model.h"
#include "utf8.h"
#include "mrt/core/npy.h"
#include "mrt/core/runtime.h"
#include "safetensors.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

fs::path fixture() { return fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/models/tiny-llama-hf"; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<int> ids_of(const std::string& line) {
  std::vector<int> ids;
  std::istringstream in(line.substr(line.find('=') + 1));
  for (int v; in >> v;) ids.push_back(v);
  return ids;
}

TEST(HfTokenizer, MatchesTheTokenizersPackage) {
  raw::HfTokenizer tok;
  ASSERT_EQ(tok.load(slurp(fixture() / "tokenizer.json")), "");
  std::ifstream corpus(fixture() / "reference/tokenizer.jsonl");
  int cases = 0;
  for (std::string line; std::getline(corpus, line); ++cases) {
    auto j = nlohmann::json::parse(line);
    std::string text = j["text"];
    auto want = j["ids"].get<std::vector<int>>();
    auto got = tok.encode(text, true);
    EXPECT_EQ(got, want) << "'" << text << "'";
    std::string decoded;
    bool at_start = true;
    for (int id : got) decoded += tok.decode(id, at_start);
    EXPECT_EQ(decoded, j["decoded"].get<std::string>()) << "'" << text << "'";
  }
  EXPECT_EQ(cases, 16);
}

// Byte-level BPE (GPT-2's ByteLevel regex; Llama-3's Split regex + BOS
// template) against the tokenizers package on a corpus of unicode,
// whitespace runs, digits, contractions and embedded special tokens
// (scripts/make-tokenizer-fixtures.py).
TEST(HfTokenizer, ByteLevelMatchesTheTokenizersPackage) {
  fs::path dir = fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/tokenizers";
  auto expected = nlohmann::json::parse(slurp(dir / "expected.json"));
  int cases = 0;
  for (const char* name : {"gpt2-style", "llama3-style"}) {
    raw::HfTokenizer tok;
    ASSERT_EQ(tok.load(slurp(dir / (std::string(name) + ".json"))), "") << name;
    for (const auto& c : expected.at(name)) {
      std::string text = c.at("text");
      EXPECT_EQ(tok.encode(text, false), c.at("ids").get<std::vector<int>>()) << name << " '" << text << "'";
      auto with_special = tok.encode(text, true);
      EXPECT_EQ(with_special, c.at("ids_special").get<std::vector<int>>()) << name << " '" << text << "'";
      std::string decoded;
      bool at_start = true;
      for (int id : with_special) decoded += tok.decode(id, at_start);
      EXPECT_EQ(decoded, c.at("decoded_skip").get<std::string>()) << name << " '" << text << "'";
      ++cases;
    }
  }
  EXPECT_GE(cases, 40);
}

// SmolLM's Sequence[Digits(individual_digits), ByteLevel]: a number is
// encoded digit by digit.
TEST(HfTokenizer, DigitsPreTokenizerSplitsEveryDigit) {
  fs::path dir = fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/tokenizers";
  auto j = nlohmann::json::parse(slurp(dir / "gpt2-style.json"));
  raw::HfTokenizer plain, digits;
  ASSERT_EQ(plain.load(j.dump()), "");
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, j["pre_tokenizer"]}}};
  ASSERT_EQ(digits.load(j.dump()), "");
  std::vector<int> one_by_one;
  for (char c : std::string("2024")) {
    auto ids = plain.encode(std::string(1, c), false);
    one_by_one.insert(one_by_one.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(digits.encode("2024", false), one_by_one);
  EXPECT_NE(plain.encode("2024", false), one_by_one);  // merges join digits without the Digits split
}

// Llama 3.1's rope_scaling against transformers' _compute_llama3_parameters
// (values computed with NumPy from that function for head_size 64, theta
// 500000, factor 32, low/high 1/4, original context 8192).
TEST(HfConfig, Llama3RopeScaling) {
  auto config = nlohmann::json::parse(slurp(fixture() / "config.json"));
  config["hidden_size"] = 512;
  config["num_attention_heads"] = 8;
  config["num_key_value_heads"] = 8;
  config["rope_theta"] = 500000.0;
  config["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 32.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                            {"original_max_position_embeddings", 8192}};
  raw::LlamaConfig c;
  ASSERT_EQ(raw::parse_hf_config(config.dump(), c), "");
  auto f = raw::rope_inverse_frequencies(c);
  ASSERT_EQ(f.size(), 32u);
  EXPECT_DOUBLE_EQ(f[0], 1.0);                                 // short wavelength: kept
  EXPECT_NEAR(f[10], 0.016560440080994446, 1e-15);
  EXPECT_NEAR(f[16], 0.00042955679655936815, 1e-17);           // smoothed
  EXPECT_NEAR(f[20], 8.570255489881478e-06, 1e-19);            // long: / factor
  EXPECT_NEAR(f[31], 9.418306725434911e-08, 1e-21);
  config["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  ASSERT_EQ(raw::parse_hf_config(config.dump(), c), "");
  EXPECT_NEAR(raw::rope_inverse_frequencies(c)[1], 0.5 / std::pow(500000.0, 2.0 / 64), 1e-15);
  config["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(raw::parse_hf_config(config.dump(), c).find("'yarn' is not supported"), std::string::npos);
}

TEST(HfTokenizer, RefusesWhatItDoesNotImplement) {
  auto j = nlohmann::json::parse(slurp(fixture() / "tokenizer.json"));
  raw::HfTokenizer tok;
  auto other = j;
  other["model"]["type"] = "WordPiece";
  EXPECT_NE(tok.load(other.dump()).find("'WordPiece' is not supported"), std::string::npos);
  other = j;
  other["pre_tokenizer"] = {{"type", "ByteLevel"}};
  EXPECT_NE(tok.load(other.dump()).find("normalizer with a byte-level"), std::string::npos);
  other.erase("normalizer");
  other["pre_tokenizer"] = {{"type", "Split"}, {"behavior", "Removed"}, {"pattern", {{"Regex", "\\s+"}}}};
  EXPECT_NE(tok.load(other.dump()).find("Split behaviour 'Removed'"), std::string::npos);
  other["pre_tokenizer"] = {{"type", "Sequence"},
                            {"pretokenizers", {{{"type", "Split"}, {"behavior", "Isolated"}, {"pattern", {{"Regex", "(\\p{L"}}}},
                                               {{"type", "ByteLevel"}, {"use_regex", false}}}}};
  EXPECT_NE(tok.load(other.dump()).find("does not compile"), std::string::npos);
  other["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_NE(tok.load(other.dump()).find("'Whitespace' is not supported"), std::string::npos);
  EXPECT_NE(tok.load("{not json").find("not valid JSON"), std::string::npos);
}

class RawHfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RuntimeConfig c;
    c.plugin_files = {MRT_RAW_PLUGIN};
    auto r = Runtime::create(std::move(c));
    ASSERT_TRUE(r);
    rt = std::move(*r);
    fs::copy(fixture(), dir.path() / "hf", fs::copy_options::recursive);
    fs::copy_file(fixture() / "../tiny-llama2c/tokenizer.bin", dir.path() / "hf/llama2c/tokenizer.bin");
  }
  // Logits with float32 KV entries, for the comparisons with float64
  // references to 2e-4 (the default float16 cache: raw_plugin_test).
  Result<InferResult> logits(const std::string& id, const fs::path& path) {
    EXPECT_TRUE(rt->add_model_path(id, path, {{"kv_cache", "f32"}}).is_ok());
    InferRequest r;
    r.model_id = id;
    r.tensors.push_back(std::move(read_npy(fixture() / "reference/inputs/input_ids.npy", "input_ids").value()));
    return rt->infer(r);
  }
  Status load_error(const std::string& id) {
    EXPECT_TRUE(rt->add_model_path(id, dir.path() / "hf").is_ok());
    auto r = rt->load(id);
    return r ? Status::ok() : r.status();
  }
  test::TempDir dir;
  std::unique_ptr<Runtime> rt;
};

float max_abs_diff(const Tensor& a, const Tensor& b) {
  float worst = 0;
  for (uint64_t i = 0; i < a.element_count(); ++i)
    worst = std::max(worst, std::fabs(a.data_as<float>()[i] - b.data_as<float>()[i]));
  return worst;
}

std::vector<int> argmax_rows(const Tensor& t) {
  std::vector<int> out;
  int64_t v = t.dims()[1];
  for (int64_t r = 0; r < t.dims()[0]; ++r) {
    const float* row = t.data_as<float>() + r * v;
    out.push_back(static_cast<int>(std::max_element(row, row + v) - row));
  }
  return out;
}

TEST_F(RawHfTest, SafetensorsLogitsMatchNumpyAndTheLlama2cCopy) {
  auto hf = logits("hf", dir.path() / "hf");
  ASSERT_TRUE(hf) << hf.status().to_string();
  auto want = read_npy(fixture() / "reference/outputs/logits.npy", "");
  ASSERT_EQ(hf->tensors[0].dims(), want->dims());
  EXPECT_LT(max_abs_diff(hf->tensors[0], *want), 2e-4);
  // The same weights as a llama2.c checkpoint (adjacent-pair RoPE, permuted
  // q/k rows, float32): the same logits and so the same tokens.
  auto l2c = logits("l2c", dir.path() / "hf/llama2c/model.bin");
  ASSERT_TRUE(l2c) << l2c.status().to_string();
  EXPECT_LT(max_abs_diff(l2c->tensors[0], hf->tensors[0]), 2e-4);
  EXPECT_EQ(argmax_rows(l2c->tensors[0]), argmax_rows(hf->tensors[0]));
}

// Greedy generation of model `id` (fixture `dir`) equals the reference's
// token ids in dir/reference/<greedy_file>, decoded.
void expect_greedy(Runtime& rt, const std::string& id, const fs::path& dir, const std::string& greedy_file = "greedy.txt") {
  std::ifstream in(dir / "reference" / greedy_file);
  std::string prompt_line, prompt_ids, greedy;
  std::getline(in, prompt_line);
  if (prompt_line.rfind("prompt=", 0) != 0) {  // files without the prompt line: the base fixture's prompt
    prompt_ids = prompt_line;
    std::ifstream base(fixture() / "reference/greedy.txt");
    std::getline(base, prompt_line);
  } else {
    std::getline(in, prompt_ids);
  }
  std::getline(in, greedy);
  raw::HfTokenizer tok;
  ASSERT_EQ(tok.load(slurp(dir / "tokenizer.json")), "");
  std::string prompt = prompt_line.substr(7);
  ASSERT_EQ(tok.encode(prompt, true), ids_of(prompt_ids));
  std::string expected;
  bool at_start = false;  // the continuation of a non-empty prompt
  for (int t : ids_of(greedy)) expected += tok.decode(t, at_start);
  InferRequest r;
  r.model_id = id;
  r.kind = MRT_PAYLOAD_TEXT;
  r.text = prompt;
  r.generation.max_tokens = static_cast<int32_t>(ids_of(greedy).size());
  auto out = rt.infer(r);
  ASSERT_TRUE(out) << out.status().to_string();
  EXPECT_EQ(out->text->text, raw::utf8_sanitize(expected));  // clients get valid UTF-8
  EXPECT_EQ(out->text->generated_tokens, static_cast<int>(ids_of(greedy).size()));
}

TEST_F(RawHfTest, GreedyGenerationMatchesTheReference) {
  ASSERT_TRUE(rt->add_model_path("hf", dir.path() / "hf").is_ok());
  expect_greedy(*rt, "hf", fixture());
}

// Second oracle: Hugging Face transformers on the same files
// (scripts/make-llama-transformers-fixture.py) agrees with NumPy and us.
TEST_F(RawHfTest, LogitsAndGreedyTokensMatchTransformers) {
  auto hf = logits("hf", dir.path() / "hf");
  ASSERT_TRUE(hf) << hf.status().to_string();
  auto want = read_npy(fixture() / "reference/transformers-logits.npy", "");
  ASSERT_EQ(hf->tensors[0].dims(), want->dims());
  EXPECT_LT(max_abs_diff(hf->tensors[0], *want), 2e-4);
  expect_greedy(*rt, "hf", fixture(), "transformers-greedy.txt");
}

// A model built and saved by transformers 5 itself: BF16 weights, tied
// embeddings, a single KV head, rope_parameters (theta 50000) in config.json.
TEST_F(RawHfTest, TransformersBuiltBf16ModelMatchesTransformers) {
  fs::path tf = fixture().parent_path() / "tiny-llama-tf";
  auto got = logits("tf", tf);
  ASSERT_TRUE(got) << got.status().to_string();
  auto want = read_npy(tf / "reference/outputs/logits.npy", "");
  ASSERT_EQ(got->tensors[0].dims(), want->dims());
  EXPECT_LT(max_abs_diff(got->tensors[0], *want), 2e-4);
  expect_greedy(*rt, "tf", tf);
}

// The manifest's `context` option caps the KV cache; a longer prompt is then
// the usual context-length error, naming the cap.
TEST_F(RawHfTest, ContextOptionCapsTheContext) {
  std::ofstream(dir.path() / "hf" / "model.yml") << "format: safetensors\ntask: text-generation\n"
                                                    "files: [model.safetensors, config.json, tokenizer.json]\n"
                                                    "options: {context: '8'}\n";
  ASSERT_TRUE(rt->add_model_path("hf", dir.path() / "hf").is_ok());
  InferRequest r;
  r.model_id = "hf";
  r.kind = MRT_PAYLOAD_TEXT;
  r.text = "the cat sat on the mat and the dog sat on the rug";
  auto out = rt->infer(r);
  ASSERT_FALSE(out);
  EXPECT_NE(out.status().message().find("context holds 8"), std::string::npos) << out.status().to_string();
  r.text = "the cat";
  r.generation.max_tokens = 20;
  auto ok = rt->infer(r);
  ASSERT_TRUE(ok) << ok.status().to_string();
  EXPECT_LE(ok->text->prompt_tokens + ok->text->generated_tokens, 8);
}

// --- bad files ---------------------------------------------------------------

std::string with_header(const std::string& file, const std::function<void(nlohmann::json&)>& edit) {
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  auto header = nlohmann::json::parse(file.substr(8, n));
  edit(header);
  std::string h = header.dump();
  std::string out(8, '\0');
  uint64_t len = h.size();
  std::memcpy(out.data(), &len, 8);
  return out + h + file.substr(8 + n);
}

TEST_F(RawHfTest, BadFilesAreClearErrors) {
  fs::path st = dir.path() / "hf/model.safetensors";
  const std::string good = slurp(st);
  auto write = [&](const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; };
  auto expect = [&](const std::string& id, const std::string& needle) {
    Status s = load_error(id);
    EXPECT_FALSE(s.is_ok()) << id;
    EXPECT_NE(s.message().find(needle), std::string::npos) << id << ": " << s.message();
  };
  write(st, good.substr(0, good.size() - 100));
  expect("truncated", "runs past the");
  write(st, with_header(good, [](nlohmann::json& h) { h["model.norm.weight"]["data_offsets"][1] = 1u << 30; }));
  expect("past-end", "runs past the");
  write(st, with_header(good, [](nlohmann::json& h) {
          h["model.norm.weight"]["data_offsets"] = h["lm_head.weight"]["data_offsets"];
          h["model.norm.weight"]["shape"] = h["lm_head.weight"]["shape"];
        }));
  expect("overlap", "overlap");
  write(st, with_header(good, [](nlohmann::json& h) { h["model.norm.weight"]["dtype"] = "Q4_K"; }));
  expect("dtype", "unknown dtype 'Q4_K'");
  write(st, std::string("\xff\xff\xff\xff\xff\xff\xff\x0f", 8) + "junk");
  expect("header-length", "header length");
  write(st, good);
  auto config = nlohmann::json::parse(slurp(dir.path() / "hf/config.json"));
  config["intermediate_size"] = 96;
  write(dir.path() / "hf/config.json", config.dump());
  expect("mismatch", "has shape [128, 64], the config needs [96, 64]");
  config["intermediate_size"] = 128;
  config["model_type"] = "gpt2";
  config["architectures"] = {"GPT2LMHeadModel"};
  write(dir.path() / "hf/config.json", config.dump());
  expect("not-llama", "describes model_type 'gpt2', not a Llama");
  config["model_type"] = "llama";
  config["architectures"] = {"LlamaForCausalLM"};
  write(dir.path() / "hf/config.json", config.dump());
  auto tj = nlohmann::json::parse(slurp(fixture() / "tokenizer.json"));
  tj["model"]["type"] = "Unigram";
  write(dir.path() / "hf/tokenizer.json", tj.dump());
  expect("tokenizer-type", "'Unigram' is not supported");
  write(dir.path() / "hf/tokenizer.json", slurp(fixture() / "tokenizer.json"));
  EXPECT_TRUE(load_error("restored").is_ok());
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// Chat requests: the shipped tiny-fortunes model's tokenizer_config.json
// template reaches the host through model_info (ABI 1.1), which renders the
// conversation; the answer is the one for the rendered prompt sent as text,
// less the SentencePiece word-start space its first token brings (a reply
// is a message of its own), both whole and streamed.
TEST_F(RawHfTest, ChatRequestsRenderTheTokenizerConfigTemplate) {
  ASSERT_TRUE(rt->add_model_path("fortunes", fs::path(MRT_SOURCE_ROOT) / "models/tiny-fortunes").is_ok());
  InferRequest chat;
  chat.model_id = "fortunes";
  chat.kind = MRT_PAYLOAD_TEXT;
  chat.chat = {{"user", "A fortune about cats"}, {"assistant", "Cats sleep."}, {"user", "Another one"}};
  chat.generation.max_tokens = 12;
  std::string streamed;
  chat.on_text = [&](std::string_view chunk) {
    streamed += chunk;
    return Status::ok();
  };
  auto answer = rt->infer(chat);
  ASSERT_TRUE(answer) << answer.status().to_string();
  // Every message is one fortune, <s> text </s>; the reply opens the next.
  InferRequest text;
  text.model_id = chat.model_id;
  text.kind = MRT_PAYLOAD_TEXT;
  text.generation = chat.generation;
  text.text = "A fortune about cats</s><s>Cats sleep.</s><s>Another one</s><s>";
  auto plain = rt->infer(text);
  ASSERT_TRUE(plain) << plain.status().to_string();
  ASSERT_FALSE(plain->text->text.empty());
  EXPECT_EQ(plain->text->text[0], ' ') << "the plain continuation should open with its first token's space";
  EXPECT_EQ(answer->text->text, plain->text->text.substr(1));
  EXPECT_EQ(streamed, answer->text->text);
  EXPECT_EQ(answer->text->prompt_tokens, plain->text->prompt_tokens);
  EXPECT_GT(answer->text->generated_tokens, 0);
}

TEST_F(RawHfTest, ChatWithoutATemplateOrWithABrokenOneIsAClearError) {
  // The fixture has no tokenizer_config.json: plain prompts only.
  ASSERT_TRUE(rt->add_model_path("plain", dir.path() / "hf").is_ok());
  InferRequest chat;
  chat.model_id = "plain";
  chat.kind = MRT_PAYLOAD_TEXT;
  chat.chat = {{"user", "hi"}};
  chat.generation.max_tokens = 4;
  auto none = rt->infer(chat);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.status().code(), MRT_CODE_FAILED_PRECONDITION);
  EXPECT_NE(none.status().message().find("has no chat template"), std::string::npos) << none.status().message();

  // A template that does not parse: the model still loads and serves text.
  write_text(dir.path() / "hf/tokenizer_config.json", R"({"chat_template": "{% for m in messages %}{{ m.content }"})");
  ASSERT_TRUE(rt->add_model_path("broken", dir.path() / "hf").is_ok());
  chat.model_id = "broken";
  auto broken = rt->infer(chat);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.status().code(), MRT_CODE_FAILED_PRECONDITION);
  EXPECT_NE(broken.status().message().find("does not parse"), std::string::npos) << broken.status().message();
  InferRequest text;
  text.model_id = chat.model_id;
  text.kind = MRT_PAYLOAD_TEXT;
  text.generation = chat.generation;
  text.text = "hi";
  EXPECT_TRUE(rt->infer(text));

  // Not JSON: a load error naming the file's problem.
  write_text(dir.path() / "hf/tokenizer_config.json", "{not json");
  Status s = load_error("bad-json");
  EXPECT_EQ(s.code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(s.message().find("tokenizer_config.json"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace mrt
