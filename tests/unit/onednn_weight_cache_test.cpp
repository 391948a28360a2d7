// The oneDNN plugin's weight cache (plugins/onednn/src/weight_cache.*):
// packed weights are matched by content (a hash of the bytes, wherever they
// live) and both layouts, live as long as a plan holds them, and plans
// built from the cache compute what plans that pack their own compute.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "batch_split.h"
#include "onednn_plan_support.h"
#include "weight_cache.h"
#include "weight_residency.h"

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

// Resident bytes of [p, p + n): pages whose mincore bit is set.
size_t resident_bytes(const void* p, size_t n) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t first = reinterpret_cast<uintptr_t>(p) / page * page, end = reinterpret_cast<uintptr_t>(p) + n;
  std::vector<unsigned char> bits((end - first + page - 1) / page);
  if (mincore(reinterpret_cast<void*>(first), end - first, bits.data()) != 0) return n;
  size_t resident = 0;
  for (unsigned char b : bits) resident += (b & 1) ? page : 0;
  return resident;
}

// Weights held once: after the batch-1 plan of the ResNet fixture, the
// loaded convolution weights it only reads packed let go of their pages
// (and a weight a live plan reads stays); before the next build they are
// back bit for bit, and the batch-2 plan built then computes what a plan
// from a never-released graph computes.
TEST(WeightResidency, LoadedWeightsLiveOnlyPackedBetweenBuilds) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  onnx::Graph graph = load_fixture_graph("onnx-resnet");
  graph = onnx::fold_batch_norm_in_place(std::move(graph));
  onnx::Graph pristine_copy = graph;
  for (auto& [name, t] : pristine_copy.constants) t = onnx::HostTensor(t);
  for (auto& [name, t] : pristine_copy.constants) t.raw();  // copy-on-write: bytes of its own, never released
  std::map<std::string, std::vector<char>> before;
  for (const auto& [name, t] : std::as_const(graph).constants) {
    const char* p = static_cast<const char*>(t.raw());
    before[name].assign(p, p + t.bytes());
  }
  PlanOptions options;
  options.weight_cache = std::make_shared<WeightCache>();
  auto b1 = build_plan(eng, graph, {{"input", {1, 3, 64, 64}}}, options);
  WeightResidency residency;
  residency.release(eng, graph, *options.weight_cache, {b1.get()});
  ASSERT_GT(residency.released_weights(), 0u) << "no loaded weight of the ResNet fixture was let go";
  size_t big = 0, resident = 0;
  for (const auto& [name, t] : std::as_const(graph).constants) {
    if (t.bytes() < WeightResidency::kMinBytes) continue;
    big += t.bytes();
    resident += resident_bytes(t.address(), t.bytes());  // address(): raw() would bring them back
  }
  // Which weights qualify depends on the layouts oneDNN picks on this CPU
  // (Winograd-packed 3x3 weights on AVX-512 cannot be reordered back): what
  // is counted as let go must really be gone.
  EXPECT_GT(residency.released_bytes(), big / 8);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t edges = 0;  // a weight's first and last pages, partly a neighbour's, stay and count whole
  for (const auto& [name, t] : std::as_const(graph).constants)
    edges += t.bytes() >= WeightResidency::kMinBytes ? 2 * page : 0;
  EXPECT_LE(resident + residency.released_bytes(), big + edges) << "the released weights' pages are still resident";

  residency.restore(eng);
  EXPECT_EQ(residency.released_weights(), 0u);
  for (const auto& [name, t] : std::as_const(graph).constants)
    EXPECT_EQ(std::memcmp(t.raw(), before[name].data(), t.bytes()), 0) << name << " came back different";

  auto b2 = build_plan(eng, graph, {{"input", {2, 3, 64, 64}}}, options);
  residency.release(eng, graph, *options.weight_cache, {b1.get(), b2.get()});
  EXPECT_GT(residency.released_weights(), 0u);
  std::vector<float> input = wave(2 * 3 * 64 * 64);
  PlanOptions own;  // packs its own weights, from bytes that were never released
  auto reference = build_plan(eng, pristine_copy, {{"input", {2, 3, 64, 64}}}, own);
  std::vector<float> got = test::run_plan(*b2, input), want = test::run_plan(*reference, input);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
}

// A plan for a new batch size needs no restore first: each let-go weight
// comes back when the build reads it (its residency hook, through the
// build's own copy of the graph) and goes again once packed, so the build
// never holds the loaded weights all at once; the plan computes what one
// from never-released weights computes. A read outside any build (a tensor
// copy's raw()) brings the bytes back too.
TEST(WeightResidency, ABuildBringsBackOnlyTheWeightItReads) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  onnx::Graph graph = onnx::fold_batch_norm_in_place(load_fixture_graph("onnx-resnet"));
  onnx::Graph pristine = graph;
  for (auto& [name, t] : pristine.constants) t.raw();  // copy-on-write: bytes of its own
  WeightResidency residency(4096);                     // the fixture is small: more of its weights qualify
  residency.attach(graph);
  PlanOptions options;
  options.weight_cache = std::make_shared<WeightCache>();
  size_t least_released = SIZE_MAX;
  options.weight_packed = [&](const HostTensor& w) {
    least_released = std::min(least_released, residency.released_bytes());  // this weight is back right now
    residency.release_packed(eng, graph, *options.weight_cache, w);
  };
  auto b1 = build_plan(eng, graph, {{"input", {1, 3, 64, 64}}}, options);
  residency.release(eng, graph, *options.weight_cache, {b1.get()});
  const size_t before = residency.released_bytes();
  size_t largest = 0;  // of the let-go weights
  for (const auto& [name, t] : std::as_const(graph).constants)
    if (t.residency() && t.residency()->released()) largest = std::max(largest, t.bytes());
  ASSERT_GE(residency.released_weights(), 3u) << "too little was let go for the test to tell";
  least_released = SIZE_MAX;
  auto b3 = build_plan(eng, graph, {{"input", {3, 3, 64, 64}}}, options);
  ASSERT_NE(least_released, SIZE_MAX) << "the batch-3 build packed no weight";
  EXPECT_LE(before - least_released, largest) << "the build held more than one let-go weight at a time";
  residency.release(eng, graph, *options.weight_cache, {b1.get(), b3.get()});
  PlanOptions own;
  auto reference = build_plan(eng, pristine, {{"input", {3, 3, 64, 64}}}, own);
  std::vector<float> input = wave(3 * 3 * 64 * 64);
  std::vector<float> got = test::run_plan(*b3, input), want = test::run_plan(*reference, input);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
  // Any copy of a let-go weight reads its bytes, not the zero pages.
  for (const auto& [name, t] : std::as_const(graph).constants) {
    if (!t.residency() || !t.residency()->released()) continue;
    onnx::HostTensor copy = t;
    const HostTensor& want_t = pristine.constants.at(name);
    EXPECT_EQ(std::memcmp(copy.raw(), want_t.raw(), t.bytes()), 0) << name;
    EXPECT_FALSE(t.residency()->released()) << name;
    break;
  }
}

// While a plan is built (PlanOptions::weight_packed), each weight packed for
// the only node reading it lets go of its loaded pages at once, so the
// first plan never holds every weight twice; the plan computes what one
// built from never-released weights computes, and a split MobileNetV2 plan
// (prefix and suffix built apart, with no restore after the batch-1 plan:
// each weight comes back as it is read) and its whole-batch sibling do too.
TEST(WeightResidency, WeightsAreLetGoWhileAPlanIsBuilt) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  for (const char* fixture : {"onnx-resnet", "onnx-mobilenetv2"}) {
    SCOPED_TRACE(fixture);
    onnx::Graph graph = onnx::fold_batch_norm_in_place(load_fixture_graph(fixture));
    onnx::Graph pristine = graph;
    for (auto& [name, t] : pristine.constants) t.raw();  // copy-on-write: bytes of its own
    WeightResidency residency(4096);                     // the MobileNetV2 fixture's weights are all under 64 KiB
    PlanOptions options;
    options.weight_cache = std::make_shared<WeightCache>();
    size_t during = 0;
    options.weight_packed = [&](const HostTensor& w) {
      residency.release_packed(eng, graph, *options.weight_cache, w);
      during = residency.released_weights();
    };
    if (std::string(fixture) == "onnx-mobilenetv2") options.batch_split_cache_bytes = 128 << 10;
    residency.attach(graph);  // as the plugin does at load: no restore between the builds
    for (int64_t batch : {1, 4}) {
      during = 0;
      auto plan = build_plan(eng, graph, {{"input", {batch, 3, 64, 64}}}, options);
      EXPECT_GT(during, 0u) << "nothing was let go while the batch-" << batch << " plan was built";
      residency.release(eng, graph, *options.weight_cache, {plan.get()});
      PlanOptions own;
      auto reference = build_plan(eng, pristine, {{"input", {batch, 3, 64, 64}}}, own);
      std::vector<float> input = wave(static_cast<size_t>(batch) * 3 * 64 * 64);
      std::vector<float> got = test::run_plan(*plan, input), want = test::run_plan(*reference, input);
      ASSERT_EQ(got.size(), want.size());
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << "batch " << batch;
    }
  }
}

// A loaded weight a live plan reads as it is stays resident even where a
// packed copy could restore it: a tied embedding, the table of a Gather and
// the weights of a MatMul (GPT-2's token embedding and LM head).
TEST(WeightResidency, WeightsALivePlanReadsStay) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  for (bool gather : {false, true}) {
    onnx::Graph g;
    g.opset = 17;
    g.inputs = {"x", "ids"};
    g.types["x"] = {onnx::DType::kFloat, {1, 8, 512}};
    g.types["ids"] = {onnx::DType::kInt64, {1, 8}};
    HostTensor table(onnx::DType::kFloat, {512, 64});
    for (int64_t i = 0; i < table.numel(); ++i) table.data<float>()[i] = std::sin(0.01f * static_cast<float>(i));
    g.constants["table"] = table;
    g.types["table"] = {onnx::DType::kFloat, {512, 64}};
    g.nodes.push_back(test::node("MatMul", {"x", "table"}, "projected"));
    g.types["projected"] = {onnx::DType::kFloat, {1, 8, 64}};
    std::string out = "projected";
    if (gather) {
      g.nodes.push_back(test::node("Gather", {"table", "ids"}, "embedded"));
      g.nodes.push_back(test::node("Add", {"projected", "embedded"}, "sum"));
      out = "sum";
    }
    g.outputs = {out};
    PlanOptions options;
    options.weight_cache = std::make_shared<WeightCache>();
    auto plan = build_plan(eng, g, {{"x", {1, 8, 512}}, {"ids", {1, 8}}}, options);
    bool packed = options.weight_cache->reversible_packing(std::as_const(g).constants.at("table")).has_value();
    WeightResidency residency;
    residency.release(eng, g, *options.weight_cache, {plan.get()});
    EXPECT_EQ(residency.released_weights(), gather || !packed ? 0u : 1u)
        << (gather ? "with" : "without") << " the Gather";
    // Nothing to restore from: nothing let go.
    WeightResidency without_cache;
    without_cache.release(eng, g, WeightCache{}, {});
    EXPECT_EQ(without_cache.released_weights(), 0u);
    residency.restore(eng);
  }
}

// A weight two nodes pack (a tied projection) is let go only once both
// have: the second packs the loaded bytes, not zeros.
TEST(WeightResidency, AWeightTwoNodesPackStaysUntilBothHave) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  onnx::Graph g;
  g.opset = 17;
  g.inputs = {"x"};
  g.types["x"] = {onnx::DType::kFloat, {1, 8, 512}};
  HostTensor table(onnx::DType::kFloat, {512, 512});
  for (int64_t i = 0; i < table.numel(); ++i) table.data<float>()[i] = std::sin(0.01f * static_cast<float>(i));
  g.constants["table"] = table;
  g.types["table"] = {onnx::DType::kFloat, {512, 512}};
  g.nodes.push_back(test::node("MatMul", {"x", "table"}, "a"));
  g.nodes.push_back(test::node("Relu", {"x"}, "rx"));
  g.nodes.push_back(test::node("MatMul", {"rx", "table"}, "b"));
  g.nodes.push_back(test::node("Add", {"a", "b"}, "sum"));
  g.outputs = {"sum"};
  onnx::Graph pristine = g;
  for (auto& [name, t] : pristine.constants) t.raw();
  WeightResidency residency;
  residency.attach(g);
  PlanOptions options;
  options.weight_cache = std::make_shared<WeightCache>();
  options.weight_packed = [&](const HostTensor& w) { residency.release_packed(eng, g, *options.weight_cache, w); };
  auto plan = build_plan(eng, g, {{"x", {1, 8, 512}}}, options);
  EXPECT_EQ(residency.released_weights(), 1u);  // once the second had packed it
  auto reference = build_plan(eng, pristine, {{"x", {1, 8, 512}}}, PlanOptions{});
  std::vector<float> input = wave(8 * 512);
  std::vector<float> got = test::run_plan(*plan, input), want = test::run_plan(*reference, input);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
}

// A weight a running plan reads as loaded is not let go while another plan
// packs it (a batch size whose kernels want another layout): the running
// plan (an Add of the weight) still computes what it did.
TEST(WeightResidency, WeightsARunningPlanReadsStayWhileAnotherIsBuilt) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  HostTensor c(onnx::DType::kFloat, {1, 64, 512});
  for (int64_t i = 0; i < c.numel(); ++i) c.data<float>()[i] = std::cos(0.01f * static_cast<float>(i));
  onnx::Graph adds;  // reads c in place
  adds.opset = 17;
  adds.inputs = {"x"};
  adds.types["x"] = {onnx::DType::kFloat, {1, 64, 512}};
  adds.constants["c"] = c;
  adds.types["c"] = {onnx::DType::kFloat, {1, 64, 512}};
  adds.nodes.push_back(test::node("Add", {"x", "c"}, "y"));
  adds.outputs = {"y"};
  onnx::Graph projects;  // the same bytes as a MatMul's weights, packed
  projects.opset = 17;
  projects.inputs = {"x"};
  projects.types["x"] = {onnx::DType::kFloat, {1, 8, 512}};
  HostTensor w = c;
  w.reshape({512, 64});
  projects.constants["c"] = w;
  projects.types["c"] = {onnx::DType::kFloat, {512, 64}};
  projects.nodes.push_back(test::node("MatMul", {"x", "c"}, "y"));
  projects.outputs = {"y"};

  PlanOptions options;
  options.weight_cache = std::make_shared<WeightCache>();
  auto running = build_plan(eng, adds, {{"x", {1, 64, 512}}}, options);
  std::vector<float> input = wave(64 * 512);
  std::vector<float> before = test::run_plan(*running, input);
  WeightResidency residency;
  options.weight_packed = [&](const HostTensor& packed) {
    residency.release_packed(eng, projects, *options.weight_cache, packed);
  };
  residency.begin_build({running.get()});
  auto built = build_plan(eng, projects, {{"x", {1, 8, 512}}}, options);
  EXPECT_EQ(residency.released_weights(), 0u);
  std::vector<float> after = test::run_plan(*running, input);
  ASSERT_EQ(after.size(), before.size());
  EXPECT_EQ(std::memcmp(after.data(), before.data(), after.size() * sizeof(float)), 0)
      << "the running plan read a weight let go";
}

// A weight larger than a packing slice (streamed_packing.h), read by one
// MatMul: its loaded pages are given back as it is packed, before the
// packing is done (mincore sees them gone when the packing reports), the
// plan computes what a plan of a pristine copy computes, and a later build
// for another batch brings the weight back from its packed copy.
TEST(WeightResidency, ALargeWeightLetsGoOfItsPagesWhileItIsPacked) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  const int64_t k = 1024, n = 4096;  // 16 MiB: two slices
  onnx::Graph graph;
  graph.opset = 17;
  graph.inputs = {"x"};
  graph.outputs = {"z"};
  graph.types["x"] = {onnx::DType::kFloat, {-1, k}};
  graph.constants.emplace("w", test::filled({k, n}, 0.05f, 3));
  graph.types["w"] = {onnx::DType::kFloat, {k, n}};
  graph.nodes.push_back(test::node("MatMul", {"x", "w"}, "z"));
  onnx::Graph pristine = graph;
  for (auto& [name, t] : pristine.constants) t.raw();  // bytes of its own
  WeightResidency residency;
  residency.attach(graph);
  PlanOptions options;
  options.weight_cache = std::make_shared<WeightCache>();
  options.weight_packed = [&](const HostTensor& w) { residency.release_packed(eng, graph, *options.weight_cache, w); };
  options.weight_may_stream = [&](const HostTensor& w) { return residency.may_stream(graph, w); };
  int streamed = 0;
  double resident_when_reported = 1;
  options.weight_streamed = [&](const HostTensor& w, WeightCache::Packing packing) {
    ++streamed;
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    auto first = (reinterpret_cast<uintptr_t>(w.address()) + page - 1) / page * page;
    auto last = (reinterpret_cast<uintptr_t>(w.address()) + w.bytes()) / page * page;
    std::vector<unsigned char> in_core((last - first) / page);
    ASSERT_EQ(mincore(reinterpret_cast<void*>(first), last - first, in_core.data()), 0);
    size_t resident = 0;
    for (unsigned char c : in_core) resident += c & 1;
    resident_when_reported = static_cast<double>(resident) / static_cast<double>(in_core.size());
    residency.streamed(eng, graph, w, std::move(packing));
  };
  for (int64_t batch : {1, 4}) {
    auto plan = build_plan(eng, graph, {{"x", {batch, k}}}, options);
    residency.release(eng, graph, *options.weight_cache, {plan.get()});
    auto reference = build_plan(eng, pristine, {{"x", {batch, k}}}, PlanOptions{});
    std::vector<float> input = wave(static_cast<size_t>(batch * k));
    std::vector<float> got = test::run_plan(*plan, input), want = test::run_plan(*reference, input);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << "batch " << batch;
    if (batch == 1) {
      ASSERT_EQ(streamed, 1) << "the weight was not packed in slices";
      EXPECT_LT(resident_when_reported, 0.05) << "the loaded pages were still there when the packing was done";
      EXPECT_EQ(residency.released_weights(), 1u);
    }
  }
}

}  // namespace
}  // namespace mrt::onednn
