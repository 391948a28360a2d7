// The raw-weights plugin on a tiny random Llama (llama2.c checkpoint) whose
// reference data come from an independent NumPy forward pass
// (scripts/make-tiny-llama2c.py): tokenizer, logits, greedy generation,
// sampling with a seed, stop strings, streaming, limits and bad files.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "aligned_copy.h"
#include "kernels.h"
#include "llama2c_checkpoint.h"
#include "llama2c_tokenizer.h"
#include "llama_model.h"
#include "mrt/core/npy.h"
#include "mrt/core/runtime.h"
#include "row_tiles.h"
#include "test_support.h"
#include "utf8.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

fs::path fixture() { return fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/models/tiny-llama2c"; }

std::map<std::string, std::string> reference() {
  std::map<std::string, std::string> out;
  std::ifstream in(fixture() / "reference/generation.txt");
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "encode") key += ":" + value.substr(0, value.find('|')), value = value.substr(value.find('|') + 1);
    out[key] = value;
  }
  return out;
}

std::vector<int> ids_of(const std::string& text) {
  std::vector<int> ids;
  std::istringstream in(text);
  for (int v; in >> v;) ids.push_back(v);
  return ids;
}

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

class RawPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RuntimeConfig c;
    c.plugin_files = {MRT_RAW_PLUGIN};
    c.num_threads = 2;
    auto r = Runtime::create(std::move(c));
    ASSERT_TRUE(r);
    rt = std::move(*r);
    fs::copy(fixture(), dir.path() / "tiny", fs::copy_options::recursive);
    // The fixture's manifest keeps float32 KV entries (its logits are
    // compared with float64 NumPy to 2e-4); the default float16 cache has
    // its own test below.
    ASSERT_TRUE(rt->add_model_path("tiny", dir.path() / "tiny").is_ok());
  }
  InferRequest text(const std::string& prompt, int max_tokens, float temperature = 0, uint64_t seed = 0) {
    InferRequest r;
    r.model_id = "tiny";
    r.kind = MRT_PAYLOAD_TEXT;
    r.text = prompt;
    r.generation.max_tokens = max_tokens;
    r.generation.temperature = temperature;
    r.generation.seed = seed;
    return r;
  }
  test::TempDir dir;
  std::unique_ptr<Runtime> rt;
};

TEST(Llama2cTokenizer, MatchesTheReferenceEncoder) {
  std::ifstream in(fixture() / "tokenizer.bin", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ifstream model(fixture() / "model.bin", std::ios::binary);
  int32_t header[7];
  model.read(reinterpret_cast<char*>(header), sizeof header);
  const int vocab = header[5];
  raw::Llama2cTokenizer tok;
  ASSERT_EQ(tok.load(bytes.data(), bytes.size(), vocab), "");
  auto ref = reference();
  int cases = 0;
  for (const auto& [key, ids] : ref) {
    if (key.rfind("encode:", 0) != 0) continue;
    std::string text = key.substr(7);
    EXPECT_EQ(tok.encode(text, true), ids_of(ids)) << "'" << text << "'";
    // Decoding gives the text back (the leading space of SentencePiece removed).
    std::string back;
    auto t = tok.encode(text, true);
    bool at_start = true;
    for (size_t i = 1; i < t.size(); ++i) back += tok.decode(t[i], at_start);
    EXPECT_EQ(back, text);
    ++cases;
  }
  EXPECT_EQ(cases, 5);
  EXPECT_NE(tok.load(bytes.data(), 10, vocab), "");  // truncated
}

// Prefill's matrix product (oneDNN's sgemm from 8 tokens on, our tiles
// below) and a decode batch's (tiles only: groups of up to 3 tokens with
// AVX2, 6 with AVX-512, as even as can be; every tile size is used) against
// a direct double-precision sum, for every stored weight type, token counts
// on both sides of the switch and of every tile grouping, a column count
// that is not a whole number of vectors, and a row range that is neither
// aligned nor the whole matrix.
TEST(RawKernels, PrefillMatmulMatchesADirectSum) {
  const size_t rows = 37, cols = 100, begin = 5, end = 37;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> wf(rows * cols);
  for (auto& v : wf) v = normal(rng);
  // The same values as F16 and BF16 bit patterns (rounded), read back for the reference.
  std::vector<uint16_t> wh(rows * cols), wb(rows * cols);
  for (size_t i = 0; i < wf.size(); ++i) {
    _Float16 h = static_cast<_Float16>(wf[i]);
    std::memcpy(&wh[i], &h, 2);
    uint32_t bits;
    std::memcpy(&bits, &wf[i], 4);
    wb[i] = static_cast<uint16_t>(bits >> 16);
  }
  for (raw::WeightType type : {raw::WeightType::kF32, raw::WeightType::kF16, raw::WeightType::kBF16}) {
    raw::Matrix m;
    m.type = type;
    m.rows = rows;
    m.cols = cols;
    m.data = type == raw::WeightType::kF32 ? static_cast<const void*>(wf.data())
             : type == raw::WeightType::kF16 ? static_cast<const void*>(wh.data())
                                              : static_cast<const void*>(wb.data());
    std::vector<float> w_row(cols);
    for (bool tiled : {false, true})
      for (size_t t_count : {1u, 2u, 3u, 4u, 5u, 7u, 8u, 13u, 16u, 40u}) {
        std::vector<float> x(t_count * cols), out(t_count * rows, -1.0f);
        for (auto& v : x) v = normal(rng);
        (tiled ? raw::matmul_rows_tiled : raw::matmul_rows)(m, x.data(), t_count, out.data(), rows, begin, end);
        for (size_t r = 0; r < rows; ++r) {
          raw::row_to_f32(m, r, w_row.data());
          for (size_t t = 0; t < t_count; ++t) {
            float got = out[t * rows + r];
            if (r < begin) {
              EXPECT_EQ(got, -1.0f) << "row " << r << " is outside the range and must stay untouched";
              continue;
            }
            double want = 0;
            for (size_t k = 0; k < cols; ++k) want += double(w_row[k]) * x[t * cols + k];
            EXPECT_NEAR(got, want, 1e-4 * (1 + std::fabs(want)))
                << "type " << int(type) << " tokens " << t_count << " row " << r << (tiled ? " (tiles)" : "");
          }
        }
      }
  }
}

// Each instruction set's register tiles (not only the one this CPU would
// pick), every tile size, with and without fetching the next rows (whose
// values must not leak into the sums), on columns that are not a whole
// number of vectors.
TEST(RawKernels, EveryRowTileMatchesADirectSum) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  size_t sets_run = 0;
  for (const auto& [name, tiles] :
       {std::pair{"AVX2", raw::avx2_row_tiles()}, std::pair{"AVX-512", raw::avx512_row_tiles()}}) {
    if (tiles.max_tokens == 0) continue;
    ++sets_run;
    for (size_t cols : {16u, 100u, 768u})
      for (size_t t_count = 1; t_count <= tiles.max_tokens; ++t_count)
        for (bool fetch : {false, true}) {
          std::vector<float> w(8 * cols), x(t_count * cols), out(t_count * 5, -1.0f);
          for (auto& v : w) v = normal(rng);
          for (auto& v : x) v = normal(rng);
          const float* rows[4] = {&w[0], &w[cols], &w[2 * cols], &w[3 * cols]};
          const float* next[4] = {&w[4 * cols], &w[5 * cols], &w[6 * cols], &w[7 * cols]};
          tiles.tile[t_count](rows, x.data(), cols, cols, out.data(), 5, fetch ? next : nullptr, 0, cols);
          for (size_t t = 0; t < t_count; ++t) {
            for (size_t i = 0; i < 4; ++i) {
              double want = 0;
              for (size_t k = 0; k < cols; ++k) want += double(rows[i][k]) * x[t * cols + k];
              EXPECT_NEAR(out[t * 5 + i], want, 1e-4 * (1 + std::fabs(want)))
                  << name << " tile of " << t_count << " tokens, " << cols << " columns, row " << i << ", token " << t
                  << (fetch ? ", fetching" : "");
            }
            EXPECT_EQ(out[t * 5 + 4], -1.0f) << name << ": a tile wrote past its four rows";
          }
        }
  }
  if (sets_run == 0) GTEST_SKIP() << "this CPU has neither AVX2+FMA nor AVX-512: only the portable tiles run";
}

// A checkpoint whose tensors start at an odd offset (llama2.c: 28 bytes,
// safetensors: 8 + its header) is copied so that they start on a 64-byte
// boundary, byte for byte; an aligned offset needs no copy.
TEST(RawKernels, AlignedCopyPutsTheTensorsOnA64ByteBoundary) {
  std::vector<char> file(100000);
  for (size_t i = 0; i < file.size(); ++i) file[i] = static_cast<char>(i * 131 + 7);
  for (size_t offset : {28u, 8u + 1234u, 1u, 63u, 64u}) {
    auto copy = raw::AlignedCopy::of(file.data(), file.size(), offset);
    ASSERT_FALSE(copy.empty());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(copy.data() + offset) % 64, 0u) << offset;
    ASSERT_EQ(copy.size(), file.size());
    EXPECT_EQ(std::memcmp(copy.data(), file.data(), file.size()), 0) << offset;
  }
  EXPECT_TRUE(raw::misaligned(28));
  EXPECT_FALSE(raw::misaligned(64));
  EXPECT_FALSE(raw::misaligned(0));
}

// The vectorised e^x behind softmax and SwiGLU against libm: relative
// error below 1e-6 over the float range, 0 below it, and both users agree
// with their textbook definitions at lengths with and without a tail.
TEST(RawKernels, VectorExpSoftmaxAndSwigluMatchLibm) {
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f)
    ASSERT_NEAR(raw::exp_f32(x), std::exp(x), 1e-6f * std::exp(x)) << "x = " << x;
  EXPECT_EQ(raw::exp_f32(-100.0f), 0.0f);
  EXPECT_EQ(raw::exp_f32(0.0f), 1.0f);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (size_t n : {1u, 15u, 16u, 37u, 300u}) {
    std::vector<float> x(n), g(n), u(n);
    for (size_t i = 0; i < n; ++i) x[i] = normal(rng), g[i] = normal(rng), u[i] = normal(rng);
    std::vector<float> sm = x, sw = g;
    raw::softmax(sm.data(), n);
    raw::swiglu(sw.data(), u.data(), 0, n);
    double mx = *std::max_element(x.begin(), x.end()), total = 0;
    for (float v : x) total += std::exp(double(v) - mx);
    for (size_t i = 0; i < n; ++i) {
      EXPECT_NEAR(sm[i], std::exp(double(x[i]) - mx) / total, 1e-6) << "softmax n " << n << " i " << i;
      double silu = double(g[i]) / (1 + std::exp(-double(g[i])));
      EXPECT_NEAR(sw[i], silu * u[i], 1e-5 * (1 + std::fabs(silu * u[i]))) << "swiglu n " << n << " i " << i;
    }
  }
}

// Decode's per-head attention kernels against direct sums, for head sizes
// on and off their 64-lane blocks and a cache row stride wider than a head.
TEST(RawKernels, AttentionKernelsMatchDirectSums) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // Head sizes for every vector path (64 lanes, then 32, 16, 8) and one
  // that is not a multiple of 8 (the portable loop).
  for (size_t hs : {16u, 48u, 64u, 80u, 120u, 12u}) {
    const size_t stride = 3 * hs, count = 37;
    std::vector<float> q(hs), p(count), scores(count), out(hs), entries(count * stride);
    std::vector<uint16_t> keys(count * stride);
    for (auto& v : q) v = normal(rng);
    for (auto& v : entries) v = normal(rng);
    for (auto& v : p) v = normal(rng);
    // Both entry types: float16 (compared with the rounded values) and float32.
    raw::kv_store(entries.data(), raw::KvEntries{keys.data(), true}, entries.size());
    for (bool half : {true, false}) {
      const raw::KvEntries e{half ? static_cast<void*>(keys.data()) : static_cast<void*>(entries.data()), half};
      raw::attention_scores(q.data(), e.at(hs), stride, count, hs, 0.5f, scores.data());
      raw::attention_values(p.data(), e.at(hs), stride, count, hs, out.data());
      auto entry = [&](size_t s, size_t k) {
        size_t i = s * stride + hs + k;
        return half ? double(raw::f16_to_f32(keys[i])) : double(entries[i]);
      };
      for (size_t s = 0; s < count; ++s) {
        double want = 0;
        for (size_t k = 0; k < hs; ++k) want += double(q[k]) * entry(s, k);
        EXPECT_NEAR(scores[s], 0.5 * want, 1e-4) << "head size " << hs << " position " << s << " half " << half;
      }
      for (size_t k = 0; k < hs; ++k) {
        double want = 0;
        for (size_t s = 0; s < count; ++s) want += double(p[s]) * entry(s, k);
        EXPECT_NEAR(out[k], want, 1e-4) << "head size " << hs << " lane " << k << " half " << half;
      }
    }
  }
}

// The KV cache's float16 rounding: kv_store (F16C where the CPU has it)
// and the portable f32_to_f16 agree bit for bit with each other and with
// round-to-nearest-even, on normal values, float16 subnormals, values
// that round up into the next binade or overflow to infinity, ties, zeros,
// infinities and NaN; f16_to_f32 gives every finite float16 back exactly.
TEST(RawKernels, Float16KvRoundingIsNearestEven) {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1.0f,
                          -2.5f,
                          65504.0f,
                          65519.0f,
                          65520.0f,
                          1e9f,
                          -1e9f,
                          5.9604645e-8f /* 2^-24 */,
                          2.9802322e-8f /* 2^-25: a tie, to 0 */,
                          8.940697e-8f /* 1.5·2^-24: a tie, to 2^-23 */,
                          6.097555e-5f /* just below 2^-14 */,
                          1.0f + 1.0f / 2048 /* a tie: to 1 */,
                          1.0f + 3.0f / 2048 /* a tie: up */,
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::denorm_min()};
  std::mt19937 rng(3);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 20000; ++i) {
    uint32_t b = bits(rng);
    float f;
    std::memcpy(&f, &b, 4);
    if (!std::isnan(f)) v.push_back(f);
  }
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int i = 0; i < 2000; ++i) v.push_back(normal(rng));
  std::vector<uint16_t> stored(v.size());
  raw::kv_store(v.data(), raw::KvEntries{stored.data(), true}, v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const uint16_t h = raw::f32_to_f16(v[i]);
    ASSERT_EQ(stored[i], h) << "kv_store and f32_to_f16 differ on " << v[i];
    // Nearest: no float16 neighbour is closer (ties go to the even one).
    const double x = v[i], got = raw::f16_to_f32(h);
    if (std::isinf(got)) {
      ASSERT_GE(std::fabs(x), 65520.0) << v[i];
      continue;
    }
    for (int d : {-1, 1}) {
      const uint16_t nb = static_cast<uint16_t>(h + d);
      if ((nb & 0x7c00) == 0x7c00 || ((h & 0x7fff) == 0 && d < 0)) continue;
      const double other = raw::f16_to_f32(nb);
      ASSERT_LE(std::fabs(got - x), std::fabs(other - x)) << v[i] << " -> " << got << ", " << other << " is nearer";
      if (std::fabs(got - x) == std::fabs(other - x)) {
        ASSERT_EQ(h & 1, 0) << "a tie must go to the even value: " << v[i];
      }
    }
  }
  // NaN stays NaN (quiet, the top of its payload kept), in both paths.
  std::vector<float> nans;
  for (uint32_t b : {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fa5a5a5u, 0xff812345u}) {
    float f;
    std::memcpy(&f, &b, 4);
    nans.push_back(f);
  }
  std::vector<uint16_t> stored_nans(nans.size());
  raw::kv_store(nans.data(), raw::KvEntries{stored_nans.data(), true}, nans.size());
  for (size_t i = 0; i < nans.size(); ++i) {
    const uint16_t h = raw::f32_to_f16(nans[i]);
    EXPECT_EQ(stored_nans[i], h) << "NaN " << i;
    EXPECT_EQ(h & 0x7e00, 0x7e00) << "NaN " << i;
  }
  for (uint32_t h = 0; h < 0x7c00; ++h) ASSERT_EQ(raw::f32_to_f16(raw::f16_to_f32(static_cast<uint16_t>(h))), h);
}

// A prompt run through the model in one batch (matrix products and
// attention as GEMMs from kGemmMinTokens tokens on) and in chunks that
// start mid-context gives the logits of feeding it one token at a time
// (matrix-vector kernels, per-head attention loops).
TEST(RawModel, BatchedPrefillMatchesTokenByToken) {
  std::ifstream in(fixture() / "model.bin", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<int> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back(1 + (i * 37) % 300);
  auto last_logits = [&](const std::vector<int>& chunks) {
    raw::LlamaConfig config;
    raw::LlamaWeights weights;
    EXPECT_EQ(raw::load_llama2c(bytes.data(), bytes.size(), config, weights), "");
    raw::LlamaModel model(config, std::move(weights), 2);
    const float* l = nullptr;
    int pos = 0;
    for (int n : chunks) {
      l = model.forward(&tokens[static_cast<size_t>(pos)], n, pos);
      pos += n;
    }
    EXPECT_EQ(pos, 40);
    return std::vector<float>(l, l + config.vocab_size);
  };
  std::vector<int> one_by_one(40, 1);
  auto want = last_logits(one_by_one);
  for (const auto& chunks : {std::vector<int>{40}, {13, 27}, {5, 9, 26}}) {
    auto got = last_logits(chunks);
    ASSERT_EQ(got.size(), want.size());
    double worst = 0, scale = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
      scale = std::max(scale, std::fabs(double(want[i])));
    }
    // Float32 sums in another order: agreement to ~1e-5 of the logits' size.
    EXPECT_LT(worst, 1e-4 * (1 + scale)) << "chunks of " << chunks.size();
  }
}

TEST(Utf8, CompletePrefixAndReplacement) {
  using raw::utf8_complete_prefix;
  using raw::utf8_sanitize;
  EXPECT_EQ(utf8_complete_prefix("ab\xE2\x82"), 2u);        // € still arriving
  EXPECT_EQ(utf8_complete_prefix("ab\xE2\x82\xAC"), 5u);
  EXPECT_EQ(utf8_complete_prefix("a\x9E"), 2u);              // a lone continuation byte will never complete
  EXPECT_EQ(utf8_sanitize("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(utf8_sanitize("a\x9E b"), "a\xEF\xBF\xBD b");
  EXPECT_EQ(utf8_sanitize("\xE2\x82x"), "\xEF\xBF\xBDx");    // one U+FFFD for the maximal subpart
  EXPECT_EQ(utf8_sanitize("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogates are invalid
  EXPECT_EQ(utf8_sanitize("\xF0\x9F\x98"), "\xEF\xBF\xBD");   // truncated at the end
}

TEST_F(RawPluginTest, LogitsMatchTheNumpyForwardPass) {
  InferRequest r;
  r.model_id = "tiny";
  r.tensors.push_back(std::move(read_npy(fixture() / "reference/inputs/input_ids.npy", "input_ids").value()));
  auto out = rt->infer(r);
  ASSERT_TRUE(out) << out.status().to_string();
  auto want = read_npy(fixture() / "reference/outputs/logits.npy", "");
  ASSERT_EQ(out->tensors[0].dims(), want->dims());
  double worst = 0;
  for (uint64_t i = 0; i < want->element_count(); ++i)
    worst = std::max(worst, static_cast<double>(std::fabs(out->tensors[0].data_as<float>()[i] - want->data_as<float>()[i])));
  EXPECT_LT(worst, 2e-4);  // float32 engine vs float64 NumPy
}

TEST_F(RawPluginTest, GreedyGenerationMatchesTheReference) {
  auto ref = reference();
  auto out = rt->infer(text(ref["prompt"], 16));
  ASSERT_TRUE(out) << out.status().to_string();
  ASSERT_TRUE(out->text);
  EXPECT_EQ(out->text->text, unhex(ref["greedy_text_hex"]));
  EXPECT_EQ(out->text->generated_tokens, static_cast<int>(ids_of(ref["greedy_ids"]).size()));
  EXPECT_EQ(out->text->prompt_tokens, static_cast<int>(ids_of(ref["prompt_ids"]).size()));
}

// The default float16 KV cache: each key and value rounded once (a
// relative error of at most 2^-11) moves the logits by far less than the
// gaps a greedy choice depends on; the greedy text is the reference's.
// A bug in the float16 path (wrong rounding, a wrong offset) moves them by
// whole units.
TEST_F(RawPluginTest, Float16KvCacheStaysWithinItsRoundingOfTheReference) {
  fs::copy(fixture(), dir.path() / "tiny16", fs::copy_options::recursive);
  std::ofstream(dir.path() / "tiny16/model.yml") << "format: llama2c\ntask: text-generation\nfiles: [model.bin, tokenizer.bin]\n"
                                                     "options: {tokenizer: tokenizer.bin}\n";
  ASSERT_TRUE(rt->add_model_path("tiny16", dir.path() / "tiny16").is_ok());
  InferRequest r;
  r.model_id = "tiny16";
  r.tensors.push_back(std::move(read_npy(fixture() / "reference/inputs/input_ids.npy", "input_ids").value()));
  auto out = rt->infer(r);
  ASSERT_TRUE(out) << out.status().to_string();
  auto want = read_npy(fixture() / "reference/outputs/logits.npy", "");
  double worst = 0, scale = 0;
  for (uint64_t i = 0; i < want->element_count(); ++i) {
    worst = std::max(worst,
                     static_cast<double>(std::fabs(out->tensors[0].data_as<float>()[i] - want->data_as<float>()[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(want->data_as<float>()[i])));
  }
  EXPECT_LT(worst, 0.005 * scale) << "largest logit " << scale;
  EXPECT_GT(worst, 1e-3) << "the float16 cache must be in use (float32 entries match NumPy to 2e-4)";
  auto ref = reference();
  InferRequest g = text(ref["prompt"], 16);
  g.model_id = "tiny16";
  auto gen = rt->infer(g);
  ASSERT_TRUE(gen) << gen.status().to_string();
  EXPECT_EQ(gen->text->text, unhex(ref["greedy_text_hex"]));
}

TEST_F(RawPluginTest, SeededSamplingIsReproducible) {
  auto a = rt->infer(text("hello", 24, 0.9f, 42));
  auto b = rt->infer(text("hello", 24, 0.9f, 42));
  auto c = rt->infer(text("hello", 24, 0.9f, 43));
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->text->text, b->text->text);
  EXPECT_NE(a->text->text, c->text->text);
  InferRequest k = text("hello", 24, 0.9f, 7);
  k.generation.top_k = 1;  // top-k 1 is greedy whatever the temperature
  EXPECT_EQ(rt->infer(k)->text->text, rt->infer(text("hello", 24))->text->text);
}

TEST_F(RawPluginTest, StreamingStopStringsAndLimits) {
  auto ref = reference();
  std::string full = unhex(ref["greedy_text_hex"]);
  ASSERT_GE(full.size(), 6u);
  InferRequest r = text(ref["prompt"], 16);
  std::string streamed;
  r.on_text = [&](std::string_view chunk) {
    streamed += chunk;
    return Status::ok();
  };
  auto out = rt->infer(r);
  ASSERT_TRUE(out);
  EXPECT_EQ(streamed, out->text->text);
  EXPECT_EQ(out->text->finish_reason, MRT_FINISH_LENGTH);

  std::string stop = full.substr(4, 2);
  r.generation.stop = {stop};
  streamed.clear();
  out = rt->infer(r);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->text->text, full.substr(0, full.find(stop)));
  EXPECT_EQ(streamed, out->text->text);  // the stop string never reached the client
  EXPECT_EQ(out->text->finish_reason, MRT_FINISH_STOP);

  r.generation.stop.clear();
  r.generation.max_tokens = 3;
  EXPECT_EQ(rt->infer(r)->text->generated_tokens, 3);

  std::string long_prompt;
  for (int i = 0; i < 80; ++i) long_prompt += "x ";
  auto too_long = rt->infer(text(long_prompt, 4));
  EXPECT_EQ(too_long.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(too_long.status().message().find("context holds 64"), std::string::npos) << too_long.status().message();
}

// A prompt far longer than the context is refused from its length in bytes,
// before a word of it is merged (the quadratic tokenizer took minutes on
// it), with an error naming its length and the context's.
TEST_F(RawPluginTest, A72KBPromptIsRefusedBeforeItIsTokenized) {
  std::string prompt;
  while (prompt.size() < 72 * 1024) prompt += "the cat sat on the mat, and the dog sat on the log. ";
  auto out = rt->infer(text(prompt, 4));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.status().code(), MRT_CODE_INVALID_ARGUMENT);
  std::string m = out.status().message();
  EXPECT_NE(m.find("the prompt (" + std::to_string(prompt.size()) + " bytes) is at least"), std::string::npos) << m;
  EXPECT_NE(m.find("context holds 64"), std::string::npos) << m;
}

TEST_F(RawPluginTest, AClientThatGoesAwayStopsGeneration) {
  InferRequest r = text("the", 40);
  int chunks = 0;
  r.on_text = [&](std::string_view) {
    return ++chunks == 2 ? Status(MRT_CODE_CANCELLED, "client gone") : Status::ok();
  };
  auto out = rt->infer(r);
  EXPECT_EQ(out.status().code(), MRT_CODE_CANCELLED);
  EXPECT_EQ(chunks, 2);
  auto cancelled = text("the", 40);
  cancelled.control = std::make_shared<CallControl>();
  cancelled.control->cancel();
  EXPECT_EQ(rt->infer(cancelled).status().code(), MRT_CODE_CANCELLED);
}

TEST_F(RawPluginTest, BadFilesAreClearErrors) {
  fs::resize_file(dir.path() / "tiny/model.bin", 1000);
  ASSERT_TRUE(rt->add_model_path("cut", dir.path() / "tiny").is_ok());
  auto r = rt->load("cut");
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("checkpoint is 1000 bytes; its header describes 385308"), std::string::npos)
      << r.status().message();
  test::TempDir d2;
  fs::copy(fixture(), d2.path() / "m", fs::copy_options::recursive);
  fs::resize_file(d2.path() / "m/tokenizer.bin", 100);
  ASSERT_TRUE(rt->add_model_path("badtok", d2.path() / "m").is_ok());
  auto t = rt->load("badtok");
  ASSERT_FALSE(t);
  EXPECT_NE(t.status().message().find("tokenizer.bin: truncated"), std::string::npos) << t.status().message();
  InferRequest ids;
  ids.model_id = "tiny";
  auto bad = Tensor::zeros("input_ids", MRT_DTYPE_INT64, {2});
  bad->data_as<int64_t>()[1] = 999;
  ids.tensors.push_back(std::move(*bad));
  ASSERT_TRUE(rt->add_model_path("tiny", fixture()).is_ok());
  EXPECT_NE(rt->infer(ids).status().message().find("token id 999 is outside the vocabulary"), std::string::npos);
}

}  // namespace
}  // namespace mrt
