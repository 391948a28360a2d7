// Helpers for the tests that drive the oneDNN plugin's plans directly
// (no runtime): the fixture models' graphs and one-input runs.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mrt/onnx/onnx_loader.h"
#include "plan.h"

namespace mrt::onednn::test {

inline std::filesystem::path fixture_dir(const std::string& model) {
  return std::filesystem::path(MRT_SOURCE_ROOT) / "tests" / "fixtures" / "models" / model;
}

// The parsed graph of fixture `model` (its model.onnx has no side files).
inline onnx::Graph load_fixture_graph(const std::string& model) {
  std::ifstream in(fixture_dir(model) / "model.onnx", std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  std::string s = bytes.str();
  return onnx::load_onnx(s.data(), s.size(), [](const std::string& p) -> std::vector<char> { throw onnx::OnnxError("no side file " + p); });
}

// Runs `plan` with call context `ctx` on its one float input; returns its
// first output.
inline std::vector<float> run_plan(const Plan& plan, ExecContext& ctx, const std::vector<float>& input) {
  int in = plan.input_slots()[0];
  EXPECT_EQ(plan.slot(in).bytes, input.size() * sizeof(float));
  std::memcpy(ctx.data(in), input.data(), std::min(plan.slot(in).bytes, input.size() * sizeof(float)));
  EXPECT_TRUE(plan.run(ctx, nullptr));
  int out = plan.output_slots()[0];
  const float* p = static_cast<const float*>(ctx.data(out));
  return std::vector<float>(p, p + plan.slot(out).bytes / sizeof(float));
}

// The same with a context of its own.
inline std::vector<float> run_plan(const Plan& plan, const std::vector<float>& input) {
  auto ctx = plan.make_context();
  return run_plan(plan, *ctx, input);
}

// sqrt(sum (got - want)^2 / sum want^2): the fixtures' float32 tolerance
// measure.
inline double relative_l2(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// Hand-built graphs: a node with one output named after it, attributes,
// and a float tensor of deterministic values (scale · sin(0.7 i + seed)).
inline onnx::Node node(std::string op, std::vector<std::string> inputs, std::string output) {
  onnx::Node n;
  n.op_type = std::move(op);
  n.name = output;
  n.inputs = std::move(inputs);
  n.outputs = {std::move(output)};
  return n;
}

inline onnx::Attribute ints(std::vector<int64_t> v) {
  onnx::Attribute a;
  a.kind = onnx::Attribute::kInts;
  a.ints = std::move(v);
  return a;
}

inline onnx::Attribute one_int(int64_t v) {
  onnx::Attribute a;
  a.kind = onnx::Attribute::kInt;
  a.i = v;
  return a;
}

inline onnx::HostTensor filled(onnx::Dims dims, float scale, int seed) {
  onnx::HostTensor t(onnx::DType::kFloat, std::move(dims));
  float* p = static_cast<float*>(t.raw());
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = scale * std::sin(0.7f * static_cast<float>(i) + static_cast<float>(seed));
  return t;
}

}  // namespace mrt::onednn::test
