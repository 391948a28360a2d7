// The raw plugin's quantized matrix-vector kernels on one thread, every
// path this CPU has (AVX-512 VNNI, AVX2, the tiles of quant_tiles.h, portable), in Gweights/s: one
// matrix that stays in the L2 cache (the kernel's arithmetic bound) and one
// of 64 MB (the memory bound). Not a test; for tuning the kernels.
//   quant-matvec-bench [q8_0,q4_0,q4_k,q5_k,q6_k,...]
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "quant.h"
#include "quant_avx2.h"
#include "quant_avx512.h"
#include "quant_tiles.h"

using namespace mrt::raw;

namespace {

// Random blocks whose float16 scales are small normal numbers (random bytes
// there could be infinities or NaNs, which slow nothing but read oddly).
std::vector<uint8_t> random_matrix(WeightType t, size_t rows, size_t cols, std::mt19937& rng) {
  std::vector<uint8_t> data(rows * cols / block_elements(t) * block_bytes(t));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : data) b = static_cast<uint8_t>(byte(rng));
  const size_t bb = block_bytes(t);
  const size_t scale_at = t == WeightType::kQ6_K ? 208 : 0;
  for (size_t i = 0; i + bb <= data.size(); i += bb) {
    data[i + scale_at] = 0x00;
    data[i + scale_at + 1] = 0x20;  // 2^-7
  }
  return data;
}

template <typename Fn>
double best_seconds(Fn fn, int reps) {
  double best = 1e300;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string list = argc > 1 ? argv[1] : "q8_0,q4_0,q4_k,q5_k,q6_k";
  std::mt19937 rng(1);
  const size_t cols = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2048;
  std::stringstream names(list);
  for (std::string name; std::getline(names, name, ',');) {
    std::string upper = name;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    WeightType t{};
    bool found = false;
    for (WeightType c : {WeightType::kQ8_0, WeightType::kQ4_0, WeightType::kQ4_1, WeightType::kQ5_0, WeightType::kQ5_1,
                         WeightType::kQ4_K, WeightType::kQ5_K, WeightType::kQ6_K})
      if (upper == weight_type_name(c)) t = c, found = true;
    if (!found) {
      std::fprintf(stderr, "unknown type %s\n", name.c_str());
      return 2;
    }
    std::vector<float> x(cols);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto& v : x) v = nd(rng);
    QuantizedActivations qx;
    quantize_activations(x.data(), cols, activation_block(t), qx);
    for (size_t bytes : {size_t{256} << 10, size_t{64} << 20}) {
      const size_t rows = std::max<size_t>(4, bytes / (cols / block_elements(t) * block_bytes(t)) / 4 * 4);
      std::vector<uint8_t> data = random_matrix(t, rows, cols, rng);
      Matrix w{data.data(), t, rows, cols};
      std::vector<float> out(rows);
      const int reps = bytes < (1u << 20) ? 200 : 10;
      auto report = [&](const char* path, auto&& fn) {
        double s = best_seconds(fn, reps);
        std::printf("%-5s %-8s %6.1f MB  %6.2f Gweights/s  %6.2f GB/s\n", name.c_str(), path, data.size() / 1e6,
                    static_cast<double>(rows * cols) / s / 1e9, data.size() / s / 1e9);
      };
      if (QuantRowsDot wide = avx512_rows_dot(t)) report("avx512", [&] { wide(w, qx, out.data(), 0, rows); });
      if (QuantRowDot avx2 = avx2_row_dot(t))
        report("avx2", [&] {
          for (size_t r = 0; r < rows; ++r) out[r] = avx2(static_cast<const uint8_t*>(w.row(r)), qx);
        });
      if (tiles_pay_off(Matrix{w.data, t, rows / kTileRows * kTileRows, cols})) {
        Matrix tw{nullptr, t, rows / kTileRows * kTileRows, cols};
        std::vector<uint8_t> tiles(tiled_bytes(tw));
        tw.data = data.data();
        write_tiles(tw, tiles.data());
        tw.data = tiles.data(), tw.tiled = true;
        report("tiles", [&] { matvec_tiles(tw, qx, out.data(), 0, tw.rows); });
      }
      report("portable", [&] { matvec_rows_quantized_portable(w, qx, out.data(), 0, rows); });
    }
  }
  return 0;
}
