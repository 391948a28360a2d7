// The call arena: values and each primitive's scratchpad share one block
// of memory by liveness (arena_allocator.h, PlanBuilder::assign_buffers).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "arena_allocator.h"
#include "batch_split.h"
#include "onednn_plan_support.h"

namespace mrt::onednn {
namespace {

TEST(ArenaAllocator, TakesTheSmallestFreeBlockThatFitsAndMergesNeighbours) {
  ArenaAllocator a;
  size_t x = a.take(100), y = a.take(1000), z = a.take(64), w = a.take(300);
  EXPECT_EQ(x, 0u);
  EXPECT_EQ(y, 128u);  // 100 rounded up to 64 bytes
  EXPECT_EQ(z, 128u + 1024);
  EXPECT_EQ(w, 128u + 1024 + 64);
  EXPECT_EQ(a.size(), 128u + 1024 + 64 + 320);
  a.give_back(y, 1000);
  a.give_back(w, 300);  // ends at the top
  // 200 fits both free blocks: the smaller one, w's, is taken.
  EXPECT_EQ(a.take(200), w);
  a.give_back(w, 200);
  // x and z given back merge with y's block between them: one block of
  // 128 + 1024 + 64 bytes at 0, and a 1200-byte request fits it.
  a.give_back(x, 100);
  a.give_back(z, 64);
  ASSERT_EQ(a.free_blocks().size(), 1u) << "neighbours were not merged";
  EXPECT_EQ(a.free_blocks().begin()->first, 0u);
  EXPECT_EQ(a.free_blocks().begin()->second, 128u + 1024 + 64 + 320);
  EXPECT_EQ(a.take(1200), 0u);
  EXPECT_EQ(a.size(), 128u + 1024 + 64 + 320);
}

TEST(ArenaAllocator, AFreeBlockAtTheTopGrowsInsteadOfANewOne) {
  ArenaAllocator a;
  size_t keep = a.take(64), gone = a.take(640);
  a.give_back(gone, 640);
  // Nothing free fits 1000 bytes; the free 640 at the top grows to 1024
  // rather than the arena growing by the whole 1024 past it.
  EXPECT_EQ(a.take(1000), gone);
  EXPECT_EQ(a.size(), 64u + 1024);
  EXPECT_EQ(keep, 0u);
}

// A plan whose primitives have scratchpads computes, at batch 8, what it
// computes for each image alone (the scratchpads now live in the arena
// among the values: one that overlapped a live value would change the
// results), in an arena no larger than its values and largest scratchpad
// side by side.
TEST(PlanArena, ScratchpadsInTheArenaKeepEveryResult) {
  onnx::Graph g = test::load_fixture_graph("onnx-resnet");
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  const int64_t n = 8, c = 3, h = 64, w = 64;
  auto batch = build_plan(eng, g, {{"input", {n, c, h, w}}}, PlanOptions{});
  auto one = build_plan(eng, g, {{"input", {1, c, h, w}}}, PlanOptions{});
  std::vector<float> input(static_cast<size_t>(n * c * h * w));
  for (size_t i = 0; i < input.size(); ++i)
    input[i] = std::sin(0.37f * static_cast<float>(i)) + 0.1f * static_cast<float>(i % 7);
  // Two contexts of the batch plan at once: each has its own arena.
  auto ctx_a = batch->make_context();
  auto ctx_b = batch->make_context();
  std::vector<float> got = test::run_plan(*batch, *ctx_a, input);
  std::vector<float> again = test::run_plan(*batch, *ctx_b, input);
  EXPECT_EQ(got, again);
  size_t per_image_out = got.size() / static_cast<size_t>(n);
  size_t per_image_in = input.size() / static_cast<size_t>(n);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> image(input.begin() + i * per_image_in, input.begin() + (i + 1) * per_image_in);
    std::vector<float> want = test::run_plan(*one, image);
    std::vector<float> part(got.begin() + i * per_image_out, got.begin() + (i + 1) * per_image_out);
    EXPECT_LT(test::relative_l2(part, want), 1e-5) << "image " << i;
  }
  EXPECT_GE(batch->arena_bytes(), batch->largest_scratchpad());
  EXPECT_EQ(batch->call_bytes(), batch->arena_bytes());
}

}  // namespace
}  // namespace mrt::onednn
