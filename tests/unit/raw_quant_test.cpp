// The raw plugin's quantized weights: dequantization bit-exact with the gguf
// package's NumPy dequantizers (fixtures from scripts/make-quant-fixtures.py),
// the integer matrix-vector kernels (AVX-512 VNNI and AVX2 where the CPU
// has them, portable everywhere) against each other and against float arithmetic on the
// dequantized values, and the model-level paths (matvec_rows, matmul_rows,
// row_to_f32) on every quantized type.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "kernels.h"
#include "llama_model.h"
#include "quant.h"
#include "quant_avx2.h"
#include "quant_avx512.h"
#include "quant_tiles.h"

namespace mrt::raw {
namespace {

std::vector<char> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

const WeightType kQuantTypes[] = {WeightType::kQ8_0, WeightType::kQ4_0, WeightType::kQ4_1, WeightType::kQ5_0,
                                  WeightType::kQ5_1, WeightType::kQ4_K, WeightType::kQ5_K, WeightType::kQ6_K};

class QuantTypes : public ::testing::TestWithParam<WeightType> {};

TEST_P(QuantTypes, DequantizationMatchesGgufPackageBitForBit) {
  const WeightType t = GetParam();
  const std::string base = std::string(MRT_SOURCE_ROOT) + "/tests/fixtures/quant/" + weight_type_name(t);
  std::vector<char> blocks = read_file(base + ".blocks"), expected_bytes = read_file(base + ".f32");
  ASSERT_FALSE(blocks.empty()) << base << ".blocks is missing";
  ASSERT_EQ(blocks.size() % block_bytes(t), 0u);
  const size_t n = blocks.size() / block_bytes(t) * block_elements(t);
  ASSERT_EQ(expected_bytes.size(), n * sizeof(float));
  std::vector<float> got(n), expected(n);
  std::memcpy(expected.data(), expected_bytes.data(), expected_bytes.size());
  // The vector path (where the CPU has one) and the scalar reference.
  for (bool portable : {false, true}) {
    std::fill(got.begin(), got.end(), -1.0f);
    if (portable)
      dequantize_row_portable(t, blocks.data(), got.data(), n);
    else
      dequantize_row(t, blocks.data(), got.data(), n);
    size_t mismatches = 0;
    for (size_t i = 0; i < n; ++i) {
      uint32_t a, b;
      std::memcpy(&a, &got[i], 4);
      std::memcpy(&b, &expected[i], 4);
      if (a != b && ++mismatches <= 5)
        ADD_FAILURE() << weight_type_name(t) << (portable ? " portable" : "") << " value " << i << ": " << got[i]
                      << " != " << expected[i];
    }
    EXPECT_EQ(mismatches, 0u) << (portable ? "portable" : "dispatched");
  }
}

// A random matrix of `rows` × `cols` in type t: random block bytes with
// sane f16 scales, as the fixtures are.
std::vector<uint8_t> random_blocks(WeightType t, size_t rows, size_t cols, std::mt19937& rng) {
  const size_t bb = block_bytes(t), blocks = rows * cols / block_elements(t);
  std::vector<uint8_t> data(blocks * bb);
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : data) b = static_cast<uint8_t>(byte(rng));
  // f16 0x2000–0x2bff: 2⁻⁷ … ~0.06, either sign.
  auto half = [&](uint8_t* p) {
    uint16_t h = static_cast<uint16_t>(0x2000 + byte(rng) * 11 + (byte(rng) & 1) * 0x8000);
    std::memcpy(p, &h, 2);
  };
  for (size_t i = 0; i < blocks; ++i) {
    uint8_t* blk = data.data() + i * bb;
    switch (t) {
      case WeightType::kQ8_0:
      case WeightType::kQ4_0:
      case WeightType::kQ5_0: half(blk); break;
      case WeightType::kQ4_1:
      case WeightType::kQ5_1: half(blk), half(blk + 2); break;
      case WeightType::kQ4_K:
      case WeightType::kQ5_K: half(blk), half(blk + 2); break;
      case WeightType::kQ6_K: half(blk + 208); break;
      default: break;
    }
  }
  return data;
}

std::vector<float> random_floats(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST_P(QuantTypes, IntegerKernelsAgreeAndTrackFloatArithmetic) {
  const WeightType t = GetParam();
  std::mt19937 rng(7);
  const size_t rows = 37, cols = 1024;  // an odd row count: no kernel assumes groups
  std::vector<uint8_t> data = random_blocks(t, rows, cols, rng);
  Matrix w{data.data(), t, rows, cols};
  std::vector<float> x = random_floats(cols, rng);
  QuantizedActivations qx;
  quantize_activations(x.data(), cols, activation_block(t), qx);
  std::vector<float> fast(rows), portable(rows);
  matvec_rows_quantized(w, qx, fast.data(), 0, rows);
  matvec_rows_quantized_portable(w, qx, portable.data(), 0, rows);
  // Every vector path this CPU has, not only the one dispatch picks, over
  // ranges that start off a group of four and end with a partial one.
  std::vector<std::pair<std::string, std::vector<float>>> paths;
  if (QuantRowsDot wide = avx512_rows_dot(t)) {
    std::vector<float> out(rows, NAN);
    wide(w, qx, out.data(), 0, 5);
    wide(w, qx, out.data(), 5, rows);
    paths.emplace_back("avx512", out);
  }
  if (QuantRowDot avx2 = avx2_row_dot(t)) {
    std::vector<float> out(rows);
    for (size_t r = 0; r < rows; ++r) out[r] = avx2(static_cast<const uint8_t*>(w.row(r)), qx);
    paths.emplace_back("avx2", out);
  }
  // The activations as the kernels see them (int8 · scale).
  std::vector<float> xq(cols);
  for (size_t k = 0; k < cols; ++k) xq[k] = qx.q[k] * qx.scale[k / qx.block];
  std::vector<float> row(cols);
  for (size_t r = 0; r < rows; ++r) {
    row_to_f32(w, r, row.data());
    double exact_q = 0, exact = 0, mag = 0;
    for (size_t k = 0; k < cols; ++k) {
      exact_q += static_cast<double>(row[k]) * xq[k];
      exact += static_cast<double>(row[k]) * x[k];
      mag += std::fabs(static_cast<double>(row[k]) * x[k]);
    }
    // Same integers, different float summation order.
    EXPECT_NEAR(fast[r], portable[r], 1e-5 * mag + 1e-6) << weight_type_name(t) << " row " << r;
    for (const auto& [name, out] : paths)
      EXPECT_NEAR(out[r], portable[r], 1e-5 * mag + 1e-6) << name << " " << weight_type_name(t) << " row " << r;
    // The integer path computes the quantized product exactly up to float rounding.
    EXPECT_NEAR(portable[r], exact_q, 1e-5 * mag + 1e-6) << weight_type_name(t) << " row " << r;
    // Quantizing the activations to 8 bits costs well under 1% of the magnitude.
    EXPECT_NEAR(fast[r], exact, 0.01 * mag) << weight_type_name(t) << " row " << r;
  }
}

TEST_P(QuantTypes, ModelPathsMatchDequantizedFloat) {
  const WeightType t = GetParam();
  std::mt19937 rng(11);
  const size_t rows = 20, cols = 512, tokens = 9;  // 9 ≥ kGemmMinTokens: the GEMM path too
  std::vector<uint8_t> data = random_blocks(t, rows, cols, rng);
  Matrix w{data.data(), t, rows, cols};
  std::vector<float> x = random_floats(cols * tokens, rng);
  std::vector<float> wide(rows * cols);
  for (size_t r = 0; r < rows; ++r) row_to_f32(w, r, wide.data() + r * cols);
  Matrix wf{wide.data(), WeightType::kF32, rows, cols};
  for (size_t n : {size_t{1}, size_t{3}, tokens}) {
    std::vector<float> got(n * rows), want(n * rows);
    if (n == 1) {
      matvec_rows(w, x.data(), got.data(), 0, rows);
      matvec_rows(wf, x.data(), want.data(), 0, rows);
    } else {
      matmul_rows(w, x.data(), n, got.data(), rows, 0, rows);
      matmul_rows(wf, x.data(), n, want.data(), rows, 0, rows);
    }
    for (size_t i = 0; i < n * rows; ++i) {
      double mag = 0;
      for (size_t k = 0; k < cols; ++k) mag += std::fabs(wide[(i % rows) * cols + k] * x[(i / rows) * cols + k]);
      EXPECT_NEAR(got[i], want[i], (n == 1 ? 0.01 : 1e-5) * mag + 1e-6) << weight_type_name(t) << " n=" << n << " i=" << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, QuantTypes, ::testing::ValuesIn(kQuantTypes),
                         [](const ::testing::TestParamInfo<WeightType>& p) { return std::string(weight_type_name(p.param)); });

// A whole decoder with quantized weights against the same decoder on their
// dequantized float values: only the on-the-fly activation quantization of
// the integer kernels separates the two, so the logits stay close and the
// greedy choice agrees.
void check_decoder_against_dequantized(WeightType t, const LlamaConfig& c, bool tiled = false) {
  std::mt19937 rng(3);
  ASSERT_EQ(c.validate(), "");
  std::vector<std::vector<uint8_t>> blobs;
  std::vector<std::vector<float>> wides;
  auto make = [&](size_t rows, size_t cols, Matrix& q, Matrix& f) {
    blobs.push_back(random_blocks(t, rows, cols, rng));
    q = Matrix{blobs.back().data(), t, rows, cols};
    wides.emplace_back(rows * cols);
    for (size_t r = 0; r < rows; ++r) row_to_f32(q, r, wides.back().data() + r * cols);
    f = Matrix{wides.back().data(), WeightType::kF32, rows, cols};
  };
  blobs.reserve(64), wides.reserve(64);
  std::vector<float> ones(static_cast<size_t>(std::max(c.dim, c.hidden_dim)), 1.0f);
  LlamaWeights wq, wf;
  const size_t dim = static_cast<size_t>(c.dim), hidden = static_cast<size_t>(c.hidden_dim),
               kv = static_cast<size_t>(c.kv_dim()), vocab = static_cast<size_t>(c.vocab_size);
  make(vocab, dim, wq.embedding, wf.embedding);
  wq.layers.resize(2), wf.layers.resize(2);
  for (int l = 0; l < 2; ++l) {
    LayerWeights &a = wq.layers[static_cast<size_t>(l)], &b = wf.layers[static_cast<size_t>(l)];
    make(dim, dim, a.wq, b.wq), make(kv, dim, a.wk, b.wk), make(kv, dim, a.wv, b.wv), make(dim, dim, a.wo, b.wo);
    make(hidden, dim, a.w1, b.w1), make(dim, hidden, a.w2, b.w2), make(hidden, dim, a.w3, b.w3);
    a.rms_att = a.rms_ffn = b.rms_att = b.rms_ffn = ones.data();
  }
  wq.rms_final = wf.rms_final = ones.data();
  make(vocab, dim, wq.classifier, wf.classifier);
  if (tiled) {
    wq.classifier = wq.embedding;  // tied, as many small models are: tiled once for both
    ASSERT_GT(tile_for_decode(wq, false), 0u);
    ASSERT_TRUE(wq.layers[0].w1.tiled && wq.classifier.tiled && wq.embedding.tiled);
    wf.classifier = wf.embedding;
  }
  LlamaModel quantized(c, std::move(wq), 2), reference(c, std::move(wf), 2);
  const int prompt[] = {5, 17, 42, 9, 77, 31, 3, 60, 11, 2};
  // A prompt through prefill (the float GEMM on widened blocks), then decode.
  const float* lq = quantized.forward(prompt, 9, 0);
  const float* lf = reference.forward(prompt, 9, 0);
  auto relative_error = [&](const float* q, const float* f) {
    double err = 0, norm = 0;
    for (int i = 0; i < c.vocab_size; ++i) err += (q[i] - f[i]) * (q[i] - f[i]), norm += f[i] * f[i];
    return std::sqrt(err / norm);
  };
  // Prefill's layers run on exactly the dequantized values; only the
  // classifier (one token: the integer kernel) quantizes its input.
  EXPECT_LT(relative_error(lq, lf), 0.03) << weight_type_name(t) << " prefill";
  for (int pos = 9; pos < 16; ++pos) {
    int token = prompt[pos % 10];
    const float* q = quantized.forward(&token, 1, pos);
    const float* f = reference.forward(&token, 1, pos);
    double norm = 0;
    int best_q = 0, best_f = 0;
    for (int i = 0; i < c.vocab_size; ++i) {
      norm += f[i] * f[i];
      if (q[i] > q[best_q]) best_q = i;
      if (f[i] > f[best_f]) best_f = i;
    }
    double err = relative_error(q, f);
    // 8-bit activations cost ~0.5% per product (more for the K formats'
    // one scale per 256); two layers of them compound to a few percent
    // here (measured 2–9%), where a wrong kernel is off by 100%.
    EXPECT_LT(err, 0.15) << weight_type_name(t) << " decode at " << pos;
    if (pos == 15) std::printf("%s: relative logit error at position 15: %.4f\n", weight_type_name(t), err);
    // Greedy agrees unless the float model's top two are within (3×) the error.
    std::vector<float> sorted(f, f + c.vocab_size);
    std::sort(sorted.rbegin(), sorted.rend());
    if (sorted[0] - sorted[1] > 3 * err * std::sqrt(norm / c.vocab_size)) {
      EXPECT_EQ(best_q, best_f) << "at " << pos;
    }
  }
}

TEST_P(QuantTypes, DecoderLogitsTrackDequantizedFloatModel) {
  LlamaConfig c;
  c.dim = 256, c.hidden_dim = 512, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.vocab_size = 96, c.seq_len = 32;
  check_decoder_against_dequantized(GetParam(), c);
}

// A head size (48) that is not a multiple of the 32-value activation
// blocks: the threads' shares of attention heads cannot each quantize
// their own blocks (stories15M's shape; this raced before).
TEST(QuantDecoder, HeadSizeNotAMultipleOfTheBlock) {
  LlamaConfig c;
  c.dim = 288, c.hidden_dim = 768, c.n_layers = 2, c.n_heads = 6, c.n_kv_heads = 3, c.vocab_size = 96, c.seq_len = 32;
  for (WeightType t : {WeightType::kQ8_0, WeightType::kQ4_0, WeightType::kQ4_1, WeightType::kQ5_0, WeightType::kQ5_1})
    check_decoder_against_dequantized(t, c);
}

// The 16-bit float kernels (F16C and the BF16 shift where the CPU has
// them) against the scalar conversions, over odd sizes.
TEST(Float16Weights, MatvecAndWideningMatchScalarConversion) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> mant(0, 1023), expo(5, 20), sign(0, 1);
  for (WeightType t : {WeightType::kF16, WeightType::kBF16}) {
    const size_t rows = 11, cols = 203;
    std::vector<uint16_t> data(rows * cols);
    for (auto& h : data) {
      if (t == WeightType::kF16) {
        h = static_cast<uint16_t>(sign(rng) << 15 | expo(rng) << 10 | mant(rng));
      } else {
        float f = std::ldexp(static_cast<float>(mant(rng)) / 1024.0f + 1.0f, expo(rng) - 15) * (sign(rng) ? -1 : 1);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        h = static_cast<uint16_t>(bits >> 16);
      }
    }
    Matrix w{data.data(), t, rows, cols};
    std::vector<float> x = random_floats(cols, rng), got(rows), row(cols);
    matvec_rows(w, x.data(), got.data(), 0, rows);
    for (size_t r = 0; r < rows; ++r) {
      row_to_f32(w, r, row.data());
      double want = 0, mag = 0;
      for (size_t k = 0; k < cols; ++k) {
        uint16_t h = data[r * cols + k];
        float v = t == WeightType::kF16 ? f16_to_f32(h) : bf16_to_f32(h);
        ASSERT_EQ(row[k], v) << weight_type_name(t) << " widening at " << k;
        want += static_cast<double>(v) * x[k];
        mag += std::fabs(static_cast<double>(v) * x[k]);
      }
      EXPECT_NEAR(got[r], want, 1e-5 * mag) << weight_type_name(t) << " row " << r;
    }
  }
}

// Every position's logits from one prompt pass (perplexity) equal feeding
// the tokens one at a time.
TEST(Decoder, AllLogitsMatchTokenByToken) {
  std::mt19937 rng(9);
  LlamaConfig c;
  c.dim = 64, c.hidden_dim = 96, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.vocab_size = 50, c.seq_len = 32;
  std::vector<std::vector<float>> store;
  auto matrix = [&](size_t rows, size_t cols) {
    store.push_back(random_floats(rows * cols, rng));
    for (auto& v : store.back()) v *= 0.2f;
    return Matrix{store.back().data(), WeightType::kF32, rows, cols};
  };
  store.reserve(32);
  std::vector<float> ones(64, 1.0f);
  auto weights = [&] {
    LlamaWeights w;
    w.embedding = matrix(50, 64);
    w.layers.resize(2);
    for (auto& l : w.layers) {
      l.wq = matrix(64, 64), l.wk = matrix(32, 64), l.wv = matrix(32, 64), l.wo = matrix(64, 64);
      l.w1 = matrix(96, 64), l.w2 = matrix(64, 96), l.w3 = matrix(96, 64);
      l.rms_att = l.rms_ffn = ones.data();
    }
    w.rms_final = ones.data();
    w.classifier = matrix(50, 64);
    return w;
  };
  LlamaWeights w = weights();
  LlamaWeights copy = w;
  LlamaModel batch(c, std::move(w), 2), single(c, std::move(copy), 2);
  const int tokens[] = {1, 7, 22, 3, 49, 0, 13, 8, 30, 2, 11, 4};
  const int n = 12;
  const float* rows = batch.forward(tokens, n, 0, true);
  for (int t = 0; t < n; ++t) {
    const float* one = single.forward(&tokens[t], 1, t);
    for (int v = 0; v < c.vocab_size; ++v)
      ASSERT_NEAR(rows[t * c.vocab_size + v], one[v], 1e-3 * (1 + std::fabs(one[v]))) << "token " << t << " logit " << v;
  }
}

// The int8 activations (vector path where the CPU has one) against the
// scalar definition: d = max|x| / 127, q = nearbyint(x / d), the sums of 16
// and 32; values on exact halves included (rounding to even).
TEST(QuantActivations, MatchTheScalarDefinition) {
  std::mt19937 rng(13);
  for (size_t block : {size_t{32}, size_t{256}}) {
    std::vector<float> x = random_floats(1024, rng);
    x[5] = 0;
    std::fill(x.begin() + 512, x.begin() + 512 + block, 0.0f);  // an all-zero block: d = 0
    QuantizedActivations qa;
    quantize_activations(x.data(), x.size(), block, qa);
    for (size_t b = 0; b < x.size() / block; ++b) {
      float amax = 0;
      for (size_t i = 0; i < block; ++i) amax = std::fmax(amax, std::fabs(x[b * block + i]));
      float d = amax / 127.0f, inv = d > 0 ? 1.0f / d : 0.0f;
      ASSERT_EQ(qa.scale[b], d) << "block " << b;
      for (size_t i = 0; i < block; ++i)
        ASSERT_EQ(qa.q[b * block + i], static_cast<int8_t>(std::nearbyint(x[b * block + i] * inv))) << b * block + i;
    }
    for (size_t g = 0; g < x.size() / 16; ++g) {
      int sum = 0;
      for (size_t i = 0; i < 16; ++i) sum += qa.q[g * 16 + i];
      ASSERT_EQ(qa.sums[g], sum);
      if (g % 2 == 1) {
        ASSERT_EQ(qa.sums32[g / 2], qa.sums[g - 1] + qa.sums[g]);
      }
    }
  }
}

// Tiles (quant_tiles.h): Q4_0, Q8_0, Q4_K and Q6_K rows interleaved eight at
// a time.
class TiledTypes : public ::testing::TestWithParam<WeightType> {};

TEST_P(TiledTypes, RowsGatherBackFromTheirTileBitForBit) {
  const WeightType t = GetParam();
  std::mt19937 rng(11);
  const size_t rows = 24, cols = block_elements(t) == 256 ? 512 : 96;
  std::vector<uint8_t> data = random_blocks(t, rows, cols, rng);
  Matrix m{data.data(), t, rows, cols};
  std::vector<uint8_t> tiles(tiled_bytes(m));
  write_tiles(m, tiles.data());
  EXPECT_NE(tiles, data);  // rearranged, not copied
  Matrix tm = m;
  tm.data = tiles.data(), tm.tiled = true;
  std::vector<uint8_t> row(m.row_bytes());
  std::vector<float> want(cols), got(cols);
  for (size_t r = 0; r < rows; ++r) {
    tiled_row_blocks(tm, r, row.data());
    ASSERT_EQ(0, std::memcmp(row.data(), m.row(r), row.size())) << "row " << r;
    row_to_f32(m, r, want.data());
    row_to_f32(tm, r, got.data());
    ASSERT_EQ(want, got) << "row " << r;
  }
}

TEST_P(TiledTypes, TileKernelMatchesTheRowKernels) {
  const WeightType t = GetParam();
  std::mt19937 rng(12);
  const size_t rows = 40, cols = 768;
  std::vector<uint8_t> data = random_blocks(t, rows, cols, rng);
  Matrix m{data.data(), t, rows, cols};
  if (!tiles_pay_off(m)) GTEST_SKIP() << "this CPU has no AVX2: matrices are not tiled here";
  std::vector<uint8_t> tiles(tiled_bytes(m));
  write_tiles(m, tiles.data());
  Matrix tm = m;
  tm.data = tiles.data(), tm.tiled = true;
  std::vector<float> x(cols);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (auto& v : x) v = dist(rng);
  QuantizedActivations qa;
  quantize_activations(x.data(), cols, activation_block(t), qa);
  // Whole tiles and ranges that cut tiles at both ends.
  for (auto [begin, end] : {std::pair<size_t, size_t>{0, rows}, {3, 21}, {8, 16}, {13, 14}, {35, 40}}) {
    std::vector<float> want(rows, -1.0f), got(rows, -1.0f), portable(rows, -1.0f);
    matvec_rows_quantized_portable(m, qa, want.data(), begin, end);
    matvec_rows_quantized(tm, qa, got.data(), begin, end);
    matvec_rows_quantized_portable(tm, qa, portable.data(), begin, end);
    for (size_t r = 0; r < rows; ++r) {
      if (r < begin || r >= end) {
        EXPECT_EQ(got[r], -1.0f) << "row " << r << " outside [" << begin << ", " << end << ") written";
        continue;
      }
      EXPECT_NEAR(got[r], want[r], 1e-4f * (1.0f + std::fabs(want[r]))) << weight_type_name(t) << " row " << r;
      EXPECT_EQ(portable[r], want[r]) << "row " << r;
    }
  }
  // Each instruction set's tile kernel on its own (matvec_tiles takes the
  // widest), tile by tile.
  std::vector<float> want(rows);
  matvec_rows_quantized_portable(m, qa, want.data(), 0, rows);
  for (QuantTileDot kernel : {avx512_tiles_dot(t), avx2_tiles_dot(t)}) {
    if (kernel == nullptr) continue;
    for (size_t tile = 0; tile < rows / kTileRows; ++tile) {
      float got[kTileRows];
      kernel(tiles.data() + tile * (tiles.size() / (rows / kTileRows)), qa, got);
      for (size_t j = 0; j < kTileRows; ++j) {
        const float w = want[tile * kTileRows + j];
        EXPECT_NEAR(got[j], w, 1e-4f * (1.0f + std::fabs(w)))
            << weight_type_name(t) << " tile " << tile << " row " << j;
      }
    }
  }
}

TEST_P(TiledTypes, TiledDecoderMatchesTheRowLayoutsModel) {
  LlamaConfig c;
  c.dim = 256, c.hidden_dim = 512, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.vocab_size = 96, c.seq_len = 32;
  if (!tiles_pay_off(Matrix{nullptr, GetParam(), 8, 256}))
    GTEST_SKIP() << "this CPU has no AVX2: matrices are not tiled here";
  check_decoder_against_dequantized(GetParam(), c, true);
}

// Tiling gives back the pages the rows came from as it passes them (the
// tiles replace them; resident memory does not double), except where
// another matrix still reads them (a classifier tied to the embedding).
TEST(Tiles, TilingReleasesTheSourcePagesUnlessAnotherMatrixReadsThem) {
  if (!tiles_pay_off(Matrix{nullptr, WeightType::kQ8_0, 8, 256})) GTEST_SKIP() << "this CPU has no AVX2: no tiles";
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE)), rows = 4096, cols = 512;
  std::mt19937 rng(5);
  const std::vector<uint8_t> blocks = random_blocks(WeightType::kQ8_0, rows, cols, rng);
  auto resident_pages = [&](const void* p, size_t bytes) {
    std::vector<unsigned char> v(bytes / page);
    EXPECT_EQ(::mincore(const_cast<void*>(p), bytes, v.data()), 0);
    return static_cast<size_t>(std::count_if(v.begin(), v.end(), [](unsigned char c) { return c & 1; }));
  };
  for (bool kept : {false, true}) {
    void* src = ::mmap(nullptr, blocks.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(src, MAP_FAILED);
    std::memcpy(src, blocks.data(), blocks.size());
    ASSERT_EQ(resident_pages(src, blocks.size()), blocks.size() / page);
    Matrix m{src, WeightType::kQ8_0, rows, cols}, other = m;
    std::vector<std::shared_ptr<TilePages>> owner;
    EXPECT_EQ(
        tile_matrices({&m}, kept ? std::vector<const Matrix*>{&other} : std::vector<const Matrix*>{}, true, owner),
        blocks.size());
    ASSERT_TRUE(m.tiled);
    if (kept) {
      EXPECT_EQ(resident_pages(src, blocks.size()), blocks.size() / page) << "a matrix still reading them";
      EXPECT_EQ(0, std::memcmp(src, blocks.data(), blocks.size()));
    } else {
      EXPECT_LE(resident_pages(src, blocks.size()), 1u) << "all but a partial page given back";
    }
    std::vector<float> want(cols), got(cols);
    for (size_t r : {size_t{0}, rows / 2 + 3, rows - 1}) {
      row_to_f32(Matrix{blocks.data(), WeightType::kQ8_0, rows, cols}, r, want.data());
      row_to_f32(m, r, got.data());
      ASSERT_EQ(want, got) << "row " << r;
    }
    ::munmap(src, blocks.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Types, TiledTypes,
                         ::testing::Values(WeightType::kQ4_0, WeightType::kQ8_0, WeightType::kQ4_K, WeightType::kQ6_K),
                         [](const ::testing::TestParamInfo<WeightType>& p) {
                           return std::string(weight_type_name(p.param));
                         });

TEST(QuantBlocks, SizesAreGgmls) {
  EXPECT_EQ(block_bytes(WeightType::kQ8_0), 34u);
  EXPECT_EQ(block_bytes(WeightType::kQ4_0), 18u);
  EXPECT_EQ(block_bytes(WeightType::kQ4_K), 144u);
  EXPECT_EQ(block_bytes(WeightType::kQ5_K), 176u);
  EXPECT_EQ(block_bytes(WeightType::kQ6_K), 210u);
  Matrix m{nullptr, WeightType::kQ4_K, 4, 512};
  EXPECT_EQ(m.row_bytes(), 288u);
}

}  // namespace
}  // namespace mrt::raw
