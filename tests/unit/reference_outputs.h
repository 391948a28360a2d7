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

#include <atomic>
#include <thread>

#include "mrt/core/npy.h"
#include "mrt/core/runtime.h"
#include "mrt/core/tensor.h"
#include "test_support.h"

namespace mrt::test {

namespace fs = std::filesystem;

inline fs::path models_dir() { return fs::path(MRT_SOURCE_ROOT) / "tests" / "fixtures" / "models"; }

// A copy of ONNX fixture `name` as model `as` under `root`, whose manifest
// asks for `device` and `options` (YAML flow-map entries, "" for none).
inline void stage_model(const TempDir& root, const std::string& name, const std::string& as, const std::string& device,
                        const std::string& options = "") {
  fs::create_directories(root.path() / as);
  fs::copy(models_dir() / name, root.path() / as, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  root.write(as + "/model.yml", "format: onnx\ntask: tensor\nfiles: [model.onnx]\ndevice: " + device + "\n" +
                                    (options.empty() ? "" : "options: {" + options + "}\n"));
}

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

// `threads` threads each make `calls` inferences of model `id` at once,
// alternating batch 1 and 2 (rows of `input`); returns how many results
// matched `expected` within `tol` (all of them, for a backend whose
// concurrent calls at mixed batch sizes do not disturb each other).
inline int concurrent_mixed_batches(Runtime& rt, const std::string& id, const Tensor& input, const Tensor& expected,
                                    const Tolerance& tol, int threads, int calls) {
  std::vector<std::thread> pool;
  std::atomic<int> ok{0};
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < calls; ++i) {
        bool single = (t + i) % 2 == 0;
        InferRequest req;
        req.model_id = id;
        req.tensors.push_back(rows(input, 0, single ? 1 : 2));
        auto r = rt.infer(req);
        if (!r) continue;
        Tensor want = rows(expected, 0, single ? 1 : 2);
        bool close = r->tensors[0].dims() == want.dims();
        for (uint64_t k = 0; close && k < want.element_count(); ++k)
          close = std::abs(r->tensors[0].data_as<float>()[k] - want.data_as<float>()[k]) <= tol.atol + tol.rtol * std::abs(want.data_as<float>()[k]);
        ok += close;
      }
    });
  for (auto& th : pool) th.join();
  return ok.load();
}

}  // namespace mrt::test
