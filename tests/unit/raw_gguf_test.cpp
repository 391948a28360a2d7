// The raw plugin on GGUF files: the tiny Hugging Face fixture converted to
// GGUF F32/F16/Q8_0/Q4_0 (scripts/make-tiny-llama-gguf.py) against the
// safetensors original and its reference; the tokenizers GGUF carries
// against the tokenizers package's ids; and hostile files built in memory
// (gguf_builder.h), each a load error that names the problem.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "gguf.h"
#include "gguf_builder.h"
#include "gguf_checkpoint.h"
#include "gguf_tokenizer.h"
#include "hf_tokenizer.h"
#include "mrt/core/chat_template.h"
#include "mrt/core/npy.h"
#include "mrt/core/runtime.h"
#include "test_support.h"
#include "utf8.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

using test::GgufBuilder;

fs::path models() { return fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/models"; }
fs::path gguf_dir() { return models() / "tiny-llama-gguf"; }
fs::path hf_dir() { return models() / "tiny-llama-hf"; }

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

// --- the file's tokenizer ---------------------------------------------------------

struct ParsedFile {
  std::string bytes;
  raw::Gguf gguf;
};

std::unique_ptr<ParsedFile> parse_file(const fs::path& p) {
  auto f = std::make_unique<ParsedFile>();
  f->bytes = slurp(p);
  EXPECT_EQ(f->gguf.parse(f->bytes.data(), f->bytes.size()), "") << p;
  return f;
}

// SentencePiece-style: the converted vocabulary (scores from the merge
// order) gives the tokenizers package's ids on the fixture's corpus, special
// tokens in the text included.
TEST(GgufTokenizer, SentencePieceMatchesTheTokenizersPackage) {
  auto f = parse_file(gguf_dir() / "tiny-llama-f16.gguf");
  raw::GgufTokenizer tok;
  ASSERT_EQ(raw::load_gguf_tokenizer(f->gguf, tok), "");
  EXPECT_EQ(tok.bos_id, 1);
  EXPECT_EQ(tok.end_tokens, std::vector<int>{2});
  EXPECT_NE(tok.chat_template.find("<|user|>"), std::string::npos);  // kept for chat requests
  std::ifstream corpus(hf_dir() / "reference/tokenizer.jsonl");
  int cases = 0;
  for (std::string line; std::getline(corpus, line); ++cases) {
    auto j = nlohmann::json::parse(line);
    std::string text = j["text"];
    auto got = tok.tokenizer->encode(text, true);
    EXPECT_EQ(got, j["ids"].get<std::vector<int>>()) << "'" << text << "'";
    std::string decoded;
    bool at_start = true;
    for (int id : got) decoded += tok.tokenizer->decode(id, at_start);
    EXPECT_EQ(decoded, j["decoded"].get<std::string>()) << "'" << text << "'";
  }
  EXPECT_EQ(cases, 16);
}

// Byte-level: the GPT-2 and Llama-3 style fixtures as GGUF vocabularies
// (scripts/make-tokenizer-gguf.py) give expected.json's ids.
TEST(GgufTokenizer, ByteLevelMatchesTheTokenizersPackage) {
  fs::path dir = fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/tokenizers";
  auto expected = nlohmann::json::parse(slurp(dir / "expected.json"));
  int cases = 0;
  for (const char* name : {"gpt2-style", "llama3-style"}) {
    auto f = parse_file(dir / (std::string(name) + ".gguf"));
    raw::GgufTokenizer tok;
    ASSERT_EQ(raw::load_gguf_tokenizer(f->gguf, tok), "") << name;
    for (const auto& c : expected.at(name)) {
      std::string text = c.at("text");
      EXPECT_EQ(tok.tokenizer->encode(text, false), c.at("ids").get<std::vector<int>>()) << name << " '" << text << "'";
      auto with_special = tok.tokenizer->encode(text, true);
      EXPECT_EQ(with_special, c.at("ids_special").get<std::vector<int>>()) << name << " '" << text << "'";
      std::string decoded;
      bool at_start = true;
      for (int id : with_special) decoded += tok.tokenizer->decode(id, at_start);
      EXPECT_EQ(decoded, c.at("decoded_skip").get<std::string>()) << name << " '" << text << "'";
      ++cases;
    }
  }
  EXPECT_GE(cases, 40);
}

// SmolLM's and Qwen2's names select their splits; an unknown name is refused
// with the supported list.
TEST(GgufTokenizer, PreTokenizerNames) {
  ASSERT_NE(raw::gguf_pre_tokenizer_patterns("smollm"), nullptr);
  EXPECT_EQ(raw::gguf_pre_tokenizer_patterns("smollm")->front(), "\\p{N}");
  ASSERT_NE(raw::gguf_pre_tokenizer_patterns("qwen2"), nullptr);
  EXPECT_EQ(raw::gguf_pre_tokenizer_patterns("tekken"), nullptr);
  auto f = parse_file(fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/tokenizers/gpt2-style.gguf");
  // Same vocabulary, Qwen2's split: digits one by one.
  raw::ByteLevelVocab v;
  std::vector<std::string_view> tokens, merges;
  ASSERT_EQ(raw::gguf_get_strings(f->gguf, "tokenizer.ggml.tokens", true, tokens), "");
  ASSERT_EQ(raw::gguf_get_strings(f->gguf, "tokenizer.ggml.merges", true, merges), "");
  v.tokens.assign(tokens.begin(), tokens.end());
  v.merges.assign(merges.begin(), merges.end());
  v.patterns = *raw::gguf_pre_tokenizer_patterns("qwen2");
  raw::HfTokenizer qwen;
  ASSERT_EQ(qwen.load_vocabulary(v), "");
  std::vector<int> digits;
  for (char c : std::string("2024")) digits.push_back(qwen.encode(std::string(1, c), false).at(0));
  EXPECT_EQ(qwen.encode("2024", false), digits);
}

// --- generation through the runtime ------------------------------------------------

class RawGgufTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RuntimeConfig c;
    c.plugin_files = {MRT_RAW_PLUGIN};
    auto r = Runtime::create(std::move(c));
    ASSERT_TRUE(r);
    rt = std::move(*r);
  }
  // Logits for the reference input ids (TENSORS payload).
  // Logits with float32 KV entries, for the comparisons with float64
  // references to 2e-4 (the default float16 cache: raw_plugin_test).
  Result<InferResult> logits(const std::string& id, const fs::path& path) {
    EXPECT_TRUE(rt->add_model_path(id, path, {{"kv_cache", "f32"}}).is_ok());
    InferRequest r;
    r.model_id = id;
    r.tensors.push_back(std::move(read_npy(hf_dir() / "reference/inputs/input_ids.npy", "input_ids").value()));
    return rt->infer(r);
  }
  Result<InferResult> generate(const std::string& id, const std::string& prompt, int tokens) {
    InferRequest r;
    r.model_id = id;
    r.kind = MRT_PAYLOAD_TEXT;
    r.text = prompt;
    r.generation.max_tokens = tokens;
    return rt->infer(r);
  }
  std::unique_ptr<Runtime> rt;
};

float max_abs_diff(const Tensor& a, const Tensor& b) {
  float worst = 0;
  for (uint64_t i = 0; i < a.element_count(); ++i) worst = std::max(worst, std::fabs(a.data_as<float>()[i] - b.data_as<float>()[i]));
  return worst;
}

// ‖a − b‖ / ‖b‖ over all elements.
double relative_error(const Tensor& a, const Tensor& b) {
  double err = 0, norm = 0;
  for (uint64_t i = 0; i < a.element_count(); ++i) {
    double d = static_cast<double>(a.data_as<float>()[i]) - b.data_as<float>()[i];
    err += d * d;
    norm += static_cast<double>(b.data_as<float>()[i]) * b.data_as<float>()[i];
  }
  return std::sqrt(err / norm);
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

// The reference continuation (tiny-llama-hf/reference/greedy.txt) decoded
// with the original tokenizer.json.
struct Reference {
  std::string prompt, text;
  int tokens = 0;
};
Reference greedy_reference() {
  std::ifstream in(hf_dir() / "reference/greedy.txt");
  std::string prompt_line, prompt_ids, greedy;
  std::getline(in, prompt_line);
  std::getline(in, prompt_ids);
  std::getline(in, greedy);
  raw::HfTokenizer tok;
  EXPECT_EQ(tok.load(slurp(hf_dir() / "tokenizer.json")), "");
  Reference r;
  r.prompt = prompt_line.substr(7);
  bool at_start = false;  // the continuation of a non-empty prompt
  for (int t : ids_of(greedy)) r.text += tok.decode(t, at_start);
  r.text = raw::utf8_sanitize(r.text);
  r.tokens = static_cast<int>(ids_of(greedy).size());
  return r;
}

// F32 and F16 GGUF: the same greedy text as the safetensors original's
// reference, each file run bare (no model.yml: `mrt generate x.gguf`).
TEST_F(RawGgufTest, F32AndF16GreedyTextMatchesTheReference) {
  Reference want = greedy_reference();
  for (const char* type : {"f32", "f16"}) {
    std::string id = std::string("tiny-") + type;
    ASSERT_TRUE(rt->add_model_path(id, gguf_dir() / ("tiny-llama-" + std::string(type) + ".gguf")).is_ok());
    auto out = generate(id, want.prompt, want.tokens);
    ASSERT_TRUE(out) << type << ": " << out.status().to_string();
    EXPECT_EQ(out->text->text, want.text) << type;
    EXPECT_EQ(out->text->generated_tokens, want.tokens) << type;
    EXPECT_EQ(out->text->prompt_tokens, 7) << type;  // BOS + 6, as greedy.txt's prompt_ids
  }
}

// The converter's Q/K permutation read as adjacent-pair RoPE: the F16 GGUF's
// logits are the safetensors model's (same F16 weights) to float rounding,
// and both match the NumPy reference within its tolerance.
TEST_F(RawGgufTest, F16LogitsMatchTheSafetensorsModel) {
  auto gguf = logits("gguf", gguf_dir() / "tiny-llama-f16.gguf");
  ASSERT_TRUE(gguf) << gguf.status().to_string();
  auto hf = logits("hf", hf_dir());
  ASSERT_TRUE(hf) << hf.status().to_string();
  ASSERT_EQ(gguf->tensors[0].dims(), hf->tensors[0].dims());
  EXPECT_LT(max_abs_diff(gguf->tensors[0], hf->tensors[0]), 1e-4);
  auto want = read_npy(hf_dir() / "reference/outputs/logits.npy", "");
  EXPECT_LT(max_abs_diff(gguf->tensors[0], *want), 2e-4);
}

// Quantized files compute what their dequantized weights give, against a
// float64 NumPy pass on the weights as the gguf package dequantizes them
// (scripts/make-tiny-llama-gguf.py; logits span ±13.5). Decode's integer
// kernels also quantize each product's input to int8 on the fly, as
// llama.cpp does (quant.h): that moves these logits by up to ~0.3 (2% of
// their norm), so the check is the relative error (< 4%; a wrong kernel is
// off by ~100%) and every position's most likely token.
// The quantization itself, against F16: Q8_0 keeps every position's most
// likely token and greedy generation's first 4 tokens (its logits move by up
// to 0.4); Q4_0 moves them by up to 5 on these random weights, so only its
// reference is asserted.
TEST_F(RawGgufTest, QuantizedFilesComputeTheirDequantizedWeights) {
  auto f16 = logits("f16", gguf_dir() / "tiny-llama-f16.gguf");
  ASSERT_TRUE(f16) << f16.status().to_string();
  for (const char* type : {"q8_0", "q4_0"}) {
    auto got = logits(type, gguf_dir() / ("tiny-llama-" + std::string(type) + ".gguf"));
    ASSERT_TRUE(got) << type << ": " << got.status().to_string();
    auto want = read_npy(gguf_dir() / "reference" / ("logits-" + std::string(type) + ".npy"), "");
    ASSERT_TRUE(want);
    ASSERT_EQ(got->tensors[0].dims(), want->dims());
    double err = relative_error(got->tensors[0], *want);
    std::printf("%s: logits vs the dequantized reference: relative error %.4f, max abs %.3f\n", type, err,
                max_abs_diff(got->tensors[0], *want));
    EXPECT_LT(err, 0.04) << type;
    EXPECT_EQ(argmax_rows(got->tensors[0]), argmax_rows(*want)) << type;
  }
  auto q8 = logits("q8", gguf_dir() / "tiny-llama-q8_0.gguf");
  ASSERT_TRUE(q8);
  EXPECT_LT(max_abs_diff(q8->tensors[0], f16->tensors[0]), 0.5f);
  EXPECT_EQ(argmax_rows(q8->tensors[0]), argmax_rows(f16->tensors[0]));
  Reference want = greedy_reference();
  auto out = generate("q8", want.prompt, 4);
  ASSERT_TRUE(out) << out.status().to_string();
  auto ref = generate("f16", want.prompt, 4);
  ASSERT_TRUE(ref) << ref.status().to_string();
  EXPECT_EQ(out->text->text, ref->text->text);
}

// A GGUF file in a model directory with a manifest (format: gguf) works as
// the bare file does.
TEST_F(RawGgufTest, ManifestFormatGguf) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "m");
  fs::copy_file(gguf_dir() / "tiny-llama-q8_0.gguf", dir.path() / "m/weights.bin");
  std::ofstream(dir.path() / "m/model.yml") << "format: gguf\ntask: text-generation\nfiles: [weights.bin]\n";
  ASSERT_TRUE(rt->add_model_path("m", dir.path() / "m").is_ok());
  auto out = generate("m", "the cat", 3);
  ASSERT_TRUE(out) << out.status().to_string();
  EXPECT_EQ(out->text->generated_tokens, 3);
}

// --- hostile files ---------------------------------------------------------------

// What loading `bytes` as a Llama says: the parse error, else the model's,
// else the tokenizer's ("" when all load).
std::string load_error(const std::string& bytes) {
  raw::Gguf g;
  if (std::string why = g.parse(bytes.data(), bytes.size()); !why.empty()) return why;
  raw::LlamaConfig c;
  raw::LlamaWeights w;
  if (std::string why = raw::load_gguf_llama(g, c, w); !why.empty()) return why;
  raw::GgufTokenizer tok;
  return raw::load_gguf_tokenizer(g, tok);
}

#define EXPECT_LOAD_ERROR(builder, needle)                                          \
  do {                                                                              \
    std::string why_ = load_error((builder).bytes());                               \
    EXPECT_NE(why_.find(needle), std::string::npos) << "got: '" << why_ << "'";     \
  } while (0)

TEST(GgufHostile, TheTinyBuilderModelLoadsAndRuns) {
  std::string bytes = GgufBuilder::tiny_llama().bytes();
  raw::Gguf g;
  ASSERT_EQ(g.parse(bytes.data(), bytes.size()), "");
  raw::LlamaConfig c;
  raw::LlamaWeights w;
  ASSERT_EQ(raw::load_gguf_llama(g, c, w), "");
  EXPECT_EQ(c.dim, 32);
  EXPECT_EQ(c.n_kv_heads, 1);
  EXPECT_EQ(c.vocab_size, 8);
  EXPECT_TRUE(c.rope_interleaved);
  EXPECT_EQ(w.classifier.data, w.embedding.data);  // no output.weight: tied
  raw::GgufTokenizer tok;
  ASSERT_EQ(raw::load_gguf_tokenizer(g, tok), "");
  // SentencePiece merges the best score first: ▁a (-1) before ab (-2).
  EXPECT_EQ(tok.tokenizer->encode("ab a", true), (std::vector<int>{1, 6, 5, 6}));  // <s> ▁a b ▁a
  // No byte tokens: a character outside the vocabulary is the token typed unknown.
  EXPECT_EQ(tok.tokenizer->encode("ac", false), (std::vector<int>{6, 0}));
  raw::LlamaModel model(c, std::move(w), 1);
  int token = 1;
  const float* l = model.forward(&token, 1, 0);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(l[i], 0.0f);  // zero weights
}

TEST(GgufHostile, TruncatedAnywhereIsAnError) {
  std::string good = GgufBuilder::tiny_llama().bytes();
  raw::Gguf g;
  for (size_t cut = 0; cut < good.size(); cut += cut < 1024 ? 1 : 97) {
    std::string why = g.parse(good.data(), cut);
    ASSERT_FALSE(why.empty()) << "cut at " << cut;
    bool named = why.find("runs past") != std::string::npos || why.find("ends") != std::string::npos ||
                 why.find("too short") != std::string::npos || why.find("truncated") != std::string::npos ||
                 why.find("implausible") != std::string::npos;
    EXPECT_TRUE(named) << "cut at " << cut << ": " << why;
  }
}

TEST(GgufHostile, HeaderProblems) {
  GgufBuilder b = GgufBuilder::tiny_llama();
  b.magic = "GGML";
  EXPECT_LOAD_ERROR(b, "not a GGUF file");
  b.magic = "GGUF";
  b.version = 1;
  EXPECT_LOAD_ERROR(b, "GGUF version 1 is not supported");
  b.version = 4;
  EXPECT_LOAD_ERROR(b, "GGUF version 4 is not supported (versions 2 and 3 are)");
  b.version = 0x03000000;
  EXPECT_LOAD_ERROR(b, "big-endian");
  b.version = 2;
  EXPECT_EQ(load_error(b.bytes()), "");  // version 2 reads as 3
  b.version = 3;
  b.kv_count = uint64_t{1} << 60;
  EXPECT_LOAD_ERROR(b, "key count 1152921504606846976 is implausible");
  b.kv_count.reset();
  b.tensor_count = 1000000;
  EXPECT_LOAD_ERROR(b, "tensor count 1000000 is implausible");
}

TEST(GgufHostile, MetadataProblems) {
  GgufBuilder b = GgufBuilder::tiny_llama();
  b.set("general.name", 8, GgufBuilder::pod<uint64_t>(uint64_t{1} << 40) + "abc");
  EXPECT_LOAD_ERROR(b, "GGUF key 'general.name': its string runs past the end");
  b = GgufBuilder::tiny_llama();
  b.set("general.tags", 9, GgufBuilder::array(4, uint64_t{1} << 61, ""));
  EXPECT_LOAD_ERROR(b, "array of 2305843009213693952 uint32 elements runs past the end");
  b = GgufBuilder::tiny_llama();
  b.set("general.tags", 9, GgufBuilder::array(8, uint64_t{1} << 40, ""));
  EXPECT_LOAD_ERROR(b, "runs past the end");
  b = GgufBuilder::tiny_llama();
  b.set("general.odd", 13, GgufBuilder::pod<uint32_t>(0));
  EXPECT_LOAD_ERROR(b, "GGUF key 'general.odd' has unknown value type 13");
  b = GgufBuilder::tiny_llama();
  b.set("general.odd", 9, GgufBuilder::array(77, 1, ""));
  EXPECT_LOAD_ERROR(b, "array of unknown value type 77");
  // One level of nesting is read (and skipped); two are refused.
  b = GgufBuilder::tiny_llama();
  std::string inner = GgufBuilder::array(4, 2, GgufBuilder::pod<uint32_t>(1) + GgufBuilder::pod<uint32_t>(2));
  b.set("general.nested", 9, GgufBuilder::array(9, 2, inner + inner));
  EXPECT_EQ(load_error(b.bytes()), "");
  b.set("general.nested", 9, GgufBuilder::array(9, 1, GgufBuilder::array(9, 1, inner)));
  EXPECT_LOAD_ERROR(b, "arrays nested more than one level deep are not supported");
  b = GgufBuilder::tiny_llama();
  b.set("general.flag", 7, GgufBuilder::pod<uint8_t>(2));
  EXPECT_LOAD_ERROR(b, "GGUF key 'general.flag': bool value 2 is neither 0 nor 1");
  b = GgufBuilder::tiny_llama();
  b.kvs.push_back(b.kvs.front());
  EXPECT_LOAD_ERROR(b, "GGUF key 'general.architecture' appears twice");
  b = GgufBuilder::tiny_llama();
  b.set_u32("general.alignment", 24);
  EXPECT_LOAD_ERROR(b, "'general.alignment' must be a power of two");
}

TEST(GgufHostile, TensorInfoProblems) {
  GgufBuilder b = GgufBuilder::tiny_llama();
  b.tensor("blk.0.attn_q.weight")->type = 99;
  EXPECT_LOAD_ERROR(b, "GGUF tensor 'blk.0.attn_q.weight' has unknown ggml type 99");
  b.tensor("blk.0.attn_q.weight")->type = 4;  // Q4_2, retired
  EXPECT_LOAD_ERROR(b, "has unknown ggml type 4");
  b.tensor("blk.0.attn_q.weight")->type = 20;  // IQ4_NL: known, 32-value blocks, not computed with
  EXPECT_LOAD_ERROR(b, "GGUF tensor 'blk.0.attn_q.weight' is IQ4_NL, which the raw plugin does not compute with "
                       "(supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16)");
  b = GgufBuilder::tiny_llama();
  b.tensor("blk.0.ffn_up.weight")->ne = {40, 64};
  b.tensor("blk.0.ffn_up.weight")->type = 8;
  EXPECT_LOAD_ERROR(b, "'blk.0.ffn_up.weight' has 40 columns, not a multiple of Q8_0's 32-element block");
  b = GgufBuilder::tiny_llama();
  b.tensor("output_norm.weight")->offset = uint64_t{1} << 40;
  EXPECT_LOAD_ERROR(b, "GGUF tensor 'output_norm.weight' data [1099511627776, 1099511627904) runs past the");
  b = GgufBuilder::tiny_llama();
  b.tensor("output_norm.weight")->offset = 8;
  EXPECT_LOAD_ERROR(b, "GGUF tensor 'output_norm.weight' offset 8 is not a multiple of the alignment 32");
  b = GgufBuilder::tiny_llama();
  b.tensor("output_norm.weight")->offset = 0;  // on token_embd
  EXPECT_LOAD_ERROR(b, "GGUF tensors 'token_embd.weight' and 'output_norm.weight' overlap");
  b = GgufBuilder::tiny_llama();
  b.tensors.push_back(b.tensors.front());
  EXPECT_LOAD_ERROR(b, "GGUF tensor 'token_embd.weight' appears twice");
  b = GgufBuilder::tiny_llama();
  b.tensor("output_norm.weight")->ne = {uint64_t{1} << 32, uint64_t{1} << 32};
  EXPECT_LOAD_ERROR(b, "GGUF tensor 'output_norm.weight': its element count overflows");
  b.tensor("output_norm.weight")->ne = {uint64_t{1} << 31, uint64_t{1} << 31, 4};  // 2^64 elements
  EXPECT_LOAD_ERROR(b, "its element count overflows");
  b = GgufBuilder::tiny_llama();
  b.tensor("output_norm.weight")->n_dims = 0;
  b.tensor("output_norm.weight")->ne = {};
  EXPECT_LOAD_ERROR(b, "GGUF tensor 'output_norm.weight' has 0 dimensions (1 to 4 are allowed)");
  b.tensor("output_norm.weight")->n_dims = 5;
  b.tensor("output_norm.weight")->ne = {32, 1, 1, 1, 1};
  EXPECT_LOAD_ERROR(b, "has 5 dimensions (1 to 4 are allowed)");
  b.tensor("output_norm.weight")->n_dims.reset();
  b.tensor("output_norm.weight")->ne = {32, 0};
  EXPECT_LOAD_ERROR(b, "GGUF tensor 'output_norm.weight' has a zero dimension 1");
  b = GgufBuilder::tiny_llama();
  b.tensors.front().name = "";
  EXPECT_LOAD_ERROR(b, "has an empty name");
}

TEST(GgufHostile, ModelProblems) {
  GgufBuilder b = GgufBuilder::tiny_llama();
  b.erase_tensor("blk.0.ffn_up.weight");
  EXPECT_LOAD_ERROR(b, "GGUF file lacks tensor 'blk.0.ffn_up.weight'");
  b = GgufBuilder::tiny_llama();
  b.tensor("blk.0.attn_k.weight")->ne = {32, 32};
  EXPECT_LOAD_ERROR(b, "GGUF tensor 'blk.0.attn_k.weight' has dimensions [32, 32] (ne[0] first), the config needs [32, 16]");
  b = GgufBuilder::tiny_llama();
  b.tensor("blk.0.attn_norm.weight")->ne = {16};
  EXPECT_LOAD_ERROR(b, "'blk.0.attn_norm.weight' has dimensions [16]");
  b = GgufBuilder::tiny_llama();
  b.set_string("general.architecture", "qwen2");
  EXPECT_LOAD_ERROR(b, "GGUF general.architecture is 'qwen2'; the raw plugin runs 'llama' models only");
  b = GgufBuilder::tiny_llama();
  b.erase("general.architecture");
  EXPECT_LOAD_ERROR(b, "GGUF metadata lacks 'general.architecture'");
  b = GgufBuilder::tiny_llama();
  b.erase("llama.block_count");
  EXPECT_LOAD_ERROR(b, "GGUF metadata lacks 'llama.block_count'");
  b = GgufBuilder::tiny_llama();
  b.set_string("llama.context_length", "16");
  EXPECT_LOAD_ERROR(b, "GGUF key 'llama.context_length' is string, not an integer");
  b = GgufBuilder::tiny_llama();
  b.set_u32("llama.attention.head_count", 3);
  EXPECT_LOAD_ERROR(b, "dim 32 is not a multiple of n_heads 3");
  b = GgufBuilder::tiny_llama();
  b.set_u32("llama.rope.dimension_count", 8);
  EXPECT_LOAD_ERROR(b, "'llama.rope.dimension_count' is 8; the raw plugin needs the head size 16");
  b = GgufBuilder::tiny_llama();
  b.set_string("llama.rope.scaling.type", "yarn");
  EXPECT_LOAD_ERROR(b, "llama.rope.scaling.type 'yarn' is not supported");
  b = GgufBuilder::tiny_llama();
  b.add("rope_freqs.weight", {8}, 1);
  EXPECT_LOAD_ERROR(b, "GGUF tensor 'rope_freqs.weight' must be F32 [8] (head size / 2)");
  b.tensor("rope_freqs.weight")->type = 0;
  b.data["rope_freqs.weight"] = std::string(32, '\0');  // divisors of 0
  EXPECT_LOAD_ERROR(b, "GGUF tensor 'rope_freqs.weight' (element 0: 0.000000) is not Llama 3's RoPE scaling");
}

// Llama 3.1's RoPE scaling arrives as rope_freqs.weight (per-frequency
// divisors, no metadata): read back as the llama3 rule. Head size 16, base
// 10000: frequency 7 (wavelength 19869 > 8192) is divided by the factor 8,
// frequency 6 (6283, between 2048 and 8192) smoothed: divisor
// 1 / (0.898734 / 8 + 0.101266) = 4.68148; 0..5 kept.
TEST(GgufModel, Llama3RopeScalingFromRopeFreqs) {
  GgufBuilder b = GgufBuilder::tiny_llama();
  b.add("rope_freqs.weight", {8});
  std::vector<float> divisors = {1, 1, 1, 1, 1, 1, 4.6814828f, 8};
  b.data["rope_freqs.weight"] = std::string(reinterpret_cast<const char*>(divisors.data()), 32);
  std::string bytes = b.bytes();
  raw::Gguf g;
  ASSERT_EQ(g.parse(bytes.data(), bytes.size()), "");
  raw::LlamaConfig c;
  raw::LlamaWeights w;
  ASSERT_EQ(raw::load_gguf_llama(g, c, w), "");
  EXPECT_EQ(c.rope_scaling, "llama3");
  EXPECT_EQ(c.rope_factor, 8.0f);
  auto f = raw::rope_inverse_frequencies(c);
  EXPECT_NEAR(f[7], std::pow(10000.0, -14.0 / 16) / 8, 1e-12);
  EXPECT_NEAR(f[6], std::pow(10000.0, -12.0 / 16) / 4.6814828, 1e-9);
  // All ones: no scaling. Linear scaling from the metadata.
  b.data.erase("rope_freqs.weight");
  bytes = b.bytes();
  ASSERT_EQ(g.parse(bytes.data(), bytes.size()), "");
  ASSERT_EQ(raw::load_gguf_llama(g, c, w), "");
  EXPECT_EQ(c.rope_scaling, "");
  b.erase_tensor("rope_freqs.weight");
  b.set_string("llama.rope.scaling.type", "linear");
  b.set_f32("llama.rope.scaling.factor", 4.0f);
  bytes = b.bytes();
  ASSERT_EQ(g.parse(bytes.data(), bytes.size()), "");
  ASSERT_EQ(raw::load_gguf_llama(g, c, w), "");
  EXPECT_EQ(c.rope_scaling, "linear");
  EXPECT_EQ(c.rope_factor, 4.0f);
}

TEST(GgufHostile, TokenizerProblems) {
  GgufBuilder b = GgufBuilder::tiny_llama();
  b.set_string("tokenizer.ggml.model", "bert");
  EXPECT_LOAD_ERROR(b, "GGUF tokenizer.ggml.model 'bert' is not supported (llama and gpt2 are)");
  b = GgufBuilder::tiny_llama();
  b.erase("tokenizer.ggml.tokens");
  EXPECT_LOAD_ERROR(b, "GGUF metadata lacks 'tokenizer.ggml.tokens'");
  b = GgufBuilder::tiny_llama();
  b.set("tokenizer.ggml.scores", 9, GgufBuilder::floats({0, 0}));
  EXPECT_LOAD_ERROR(b, "'tokenizer.ggml.scores' has 2 entries for 8 tokens");
  b = GgufBuilder::tiny_llama();
  b.set("tokenizer.ggml.token_type", 9, GgufBuilder::int32s({1, 1, 1, 1, 1, 1, 1, 9}));
  EXPECT_LOAD_ERROR(b, "'tokenizer.ggml.token_type' entry 7 is 9 (types are 0..6)");
  b = GgufBuilder::tiny_llama();
  b.set_u32("tokenizer.ggml.eos_token_id", 8);
  EXPECT_LOAD_ERROR(b, "GGUF key 'tokenizer.ggml.eos_token_id' is 8, outside 0..7");
  b = GgufBuilder::tiny_llama();
  b.set_string("tokenizer.ggml.model", "gpt2");
  b.set_string("tokenizer.ggml.pre", "deepseek-llm");
  b.set("tokenizer.ggml.merges", 9, GgufBuilder::strings({"a b"}));
  EXPECT_LOAD_ERROR(b, "GGUF tokenizer.ggml.pre 'deepseek-llm' is not supported (");
  b.set_string("tokenizer.ggml.pre", "gpt2");
  b.erase("tokenizer.ggml.merges");
  EXPECT_LOAD_ERROR(b, "GGUF metadata lacks 'tokenizer.ggml.merges'");
}

// Through the plugin: a bad file is a load error with the file's name.
TEST_F(RawGgufTest, BadFileIsALoadErrorNamingTheProblem) {
  test::TempDir dir;
  GgufBuilder b = GgufBuilder::tiny_llama();
  b.set_string("general.architecture", "gemma");
  std::ofstream(dir.path() / "bad.gguf", std::ios::binary) << b.bytes();
  std::string good = slurp(gguf_dir() / "tiny-llama-q8_0.gguf");
  std::ofstream(dir.path() / "cut.gguf", std::ios::binary) << good.substr(0, good.size() - 100);
  for (const auto& [name, needle] : {std::pair<const char*, const char*>{"bad.gguf", "general.architecture is 'gemma'"},
                                     {"cut.gguf", "runs past the"}}) {
    ASSERT_TRUE(rt->add_model_path(name, dir.path() / name).is_ok());
    auto r = rt->load(name);
    ASSERT_FALSE(r) << name;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
    EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().to_string();
  }
}

// A GGUF file's tokenizer.chat_template, BOS and EOS reach the host through
// model_info (ABI 1.1): a chat request answers as its rendered prompt does.
TEST_F(RawGgufTest, ChatRequestsUseTheFilesChatTemplate) {
  auto f = parse_file(gguf_dir() / "tiny-llama-f16.gguf");
  raw::GgufTokenizer tok;
  ASSERT_EQ(raw::load_gguf_tokenizer(f->gguf, tok), "");
  auto tmpl = ChatTemplate::compile(tok.chat_template, tok.tokenizer->token_text(tok.bos_id),
                                    tok.tokenizer->token_text(tok.end_tokens.at(0)));
  ASSERT_TRUE(tmpl) << tmpl.status().to_string();
  std::vector<ChatMessage> chat = {{"system", "Be brief."}, {"user", "Hello there"}};
  auto prompt = (*tmpl)->render(chat);
  ASSERT_TRUE(prompt) << prompt.status().to_string();
  EXPECT_NE(prompt->find("<|user|>"), std::string::npos) << *prompt;

  ASSERT_TRUE(rt->add_model_path("chat", gguf_dir() / "tiny-llama-f16.gguf").is_ok());
  InferRequest r;
  r.model_id = "chat";
  r.kind = MRT_PAYLOAD_TEXT;
  r.chat = chat;
  r.generation.max_tokens = 8;
  auto out = rt->infer(r);
  ASSERT_TRUE(out) << out.status().to_string();
  auto plain = generate("chat", *prompt, 8);
  ASSERT_TRUE(plain) << plain.status().to_string();
  EXPECT_EQ(out->text->text, plain->text->text);
  EXPECT_EQ(out->text->prompt_tokens, plain->text->prompt_tokens);
}

}  // namespace
}  // namespace mrt
