// Fixture models' reference data (inputs and onnxruntime's outputs as .npy,
// reference/tolerance.yml) and the comparisons the backend tests make.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mrt/core/npy.h"
#include "mrt/core/tensor.h"

namespace mrt::test {

namespace fs = std::filesystem;

inline fs::path models_dir() { return fs::path(MRT_SOURCE_ROOT) / "tests" / "fixtures" / "models"; }

struct Tolerance {
  double atol = 1e-4, rtol = 1e-3;
};

inline Tolerance read_tolerance(const fs::path& dir) {
  Tolerance t;
  std::ifstream in(dir / "reference" / "tolerance.yml");
  std::string key;
  double v;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("atol:", 0) == 0) t.atol = std::stod(line.substr(5));
    if (line.rfind("rtol:", 0) == 0) t.rtol = std::stod(line.substr(5));
  }
  (void)key, (void)v;
  return t;
}

inline std::vector<Tensor> read_dir(const fs::path& dir) {
  std::vector<Tensor> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) out.push_back(std::move(read_npy(f, f.stem().string()).value()));
  return out;
}

// Rows [begin, end) of the leading (batch) dimension (a copy).
inline Tensor rows(const Tensor& t, int64_t begin, int64_t end) {
  Dims d = t.dims();
  size_t row = t.byte_size() / static_cast<size_t>(d[0]);
  d[0] = end - begin;
  Tensor out = std::move(Tensor::zeros(t.name(), t.dtype(), d).value());
  std::memcpy(out.data(), t.data() + row * static_cast<size_t>(begin), row * static_cast<size_t>(end - begin));
  return out;
}

inline void expect_close(const Tensor& got, const Tensor& want, const Tolerance& tol, const std::string& what) {
  ASSERT_EQ(got.dims(), want.dims()) << what;
  const float* g = got.data_as<float>();
  const float* w = want.data_as<float>();
  double worst = 0;
  for (uint64_t i = 0; i < want.element_count(); ++i) {
    double err = std::abs(double(g[i]) - w[i]);
    worst = std::max(worst, err);
    ASSERT_LE(err, tol.atol + tol.rtol * std::abs(w[i])) << what << " element " << i << ": " << g[i] << " vs " << w[i];
  }
  ::testing::Test::RecordProperty(what + "_max_abs_err", std::to_string(worst));
}

// ‖got − want‖ / ‖want‖ over all elements (float32 tensors of equal dims):
// the measure for reduced-precision runs, where per-element tolerances
// would be either loose everywhere or fail on values near zero.
inline double relative_l2_error(const Tensor& got, const Tensor& want) {
  double num = 0, den = 0;
  const float* g = got.data_as<float>();
  const float* w = want.data_as<float>();
  for (uint64_t i = 0; i < want.element_count(); ++i) {
    double d = double(g[i]) - w[i];
    num += d * d;
    den += double(w[i]) * w[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace mrt::test
