// The oneDNN plugin's weight cache (plugins/onednn/src/weight_cache.*):
// packed weights are matched by content (a hash of the bytes, wherever they
// live) and both layouts, live as long as a plan holds them, and plans
// built from the cache compute what plans that pack their own compute.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "batch_split.h"
#include "onednn_plan_support.h"
#include "weight_cache.h"

namespace mrt::onednn {
namespace {

using onnx::HostTensor;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

HostTensor filled(float base) {
  HostTensor t(onnx::DType::kFloat, {16, 16, 3, 3});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = base + 0.001f * static_cast<float>(i);
  return t;
}

TEST(WeightCache, MatchesByContentAndLayoutWhileHeld) {
  WeightCache cache;
  dnnl::memory::desc plain({16, 16, 3, 3}, dt::f32, tag::oihw), blocked({16, 16, 3, 3}, dt::f32, tag::OIhw16i16o);
  int made = 0;
  auto make = [&] {
    ++made;
    return HostTensor(onnx::DType::kFloat, {16 * 16 * 9});
  };
  HostTensor a = filled(1), same_bytes = filled(1), other = filled(2);
  auto first = cache.get(a, plain, blocked, make);
  EXPECT_EQ(made, 1);
  EXPECT_EQ(cache.get(a, plain, blocked, make), first);           // the same tensor
  EXPECT_EQ(cache.get(same_bytes, plain, blocked, make), first);  // equal bytes elsewhere (a folded BatchNormalization)
  EXPECT_EQ(made, 1);
  EXPECT_EQ(cache.hits(), 2u);
  auto different = cache.get(other, plain, blocked, make);  // other bytes
  EXPECT_EQ(made, 2);
  EXPECT_NE(different, first);
  auto other_layout = cache.get(a, plain, dnnl::memory::desc({16, 16, 3, 3}, dt::f32, tag::Ohwi16o), make);
  EXPECT_EQ(made, 3);
  EXPECT_NE(other_layout, first);
  // Once no plan holds a packed tensor, the cache lets it go.
  first.reset();
  cache.get(a, plain, blocked, make);
  EXPECT_EQ(made, 4);
}

using test::load_fixture_graph;

std::vector<float> wave(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::sin(0.5f + 0.01f * static_cast<float>(i));
  return v;
}

// The ResNet fixture's plans at batches 1 and 2 share their packed weights
// (BatchNormalization folded into every convolution, so these are matches
// by content); the batch-2 plan's result is bit for bit that of a plan that
// packed its own, and stays so after the batch-1 plan is gone. A split
// MobileNetV2 plan's prefix (one image per run) takes the batch-1 plan's.
TEST(WeightCache, PlansShareWeightsAndComputeTheSame) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  onnx::Graph resnet = load_fixture_graph("onnx-resnet");
  PlanOptions shared, own;
  shared.weight_cache = std::make_shared<WeightCache>();
  auto b1 = build_plan(eng, resnet, {{"input", {1, 3, 64, 64}}}, shared);
  size_t before = shared.weight_cache->hits();
  auto b2 = build_plan(eng, resnet, {{"input", {2, 3, 64, 64}}}, shared);
  auto b2_own = build_plan(eng, resnet, {{"input", {2, 3, 64, 64}}}, own);
  EXPECT_GT(shared.weight_cache->hits(), before) << "the batch-2 plan packed every weight again";
  b1.reset();
  std::vector<float> input = wave(2 * 3 * 64 * 64);
  std::vector<float> got = test::run_plan(*b2, input), want = test::run_plan(*b2_own, input);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);

  onnx::Graph mobilenet = load_fixture_graph("onnx-mobilenetv2");
  PlanOptions split = shared;
  split.weight_cache = std::make_shared<WeightCache>();
  split.batch_split_cache_bytes = 128 << 10;
  auto m1 = build_plan(eng, mobilenet, {{"input", {1, 3, 64, 64}}}, split);
  before = split.weight_cache->hits();
  auto m4 = build_plan(eng, mobilenet, {{"input", {4, 3, 64, 64}}}, split);
  ASSERT_EQ(m4->split_sub_batch(), 1);
  EXPECT_GT(split.weight_cache->hits(), before) << "the prefix packed the batch-1 plan's weights again";
}

}  // namespace
}  // namespace mrt::onednn
