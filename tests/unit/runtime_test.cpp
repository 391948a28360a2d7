// The in-process Runtime end to end, with the example dense plugin and the
// fixture plugin: load, infer, classification, errors, budget, concurrency.
#include "mrt/core/runtime.h"

#include <cmath>
#include <cstring>
#include <thread>

#include "mrt/core/npy.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

class RuntimeTest : public ::testing::Test {
 protected:
  std::unique_ptr<Runtime> make(uint64_t budget = 0) {
    RuntimeConfig c;
    c.plugin_files = {test::dense_plugin(), test::fixture_plugin("good")};
    EXPECT_TRUE(c.vfs.add_mount({"/models", dir.path(), true}).is_ok());
    c.cache_budget_bytes = budget;
    auto rt = Runtime::create(std::move(c));
    EXPECT_TRUE(rt);
    return std::move(*rt);
  }
  void SetUp() override {
    fs::copy(test::dense_model_dir(), dir.path() / "iris", fs::copy_options::recursive);
    for (const char* name : {"f1", "f2", "f3"}) dir.write(std::string(name) + "/model.fixture", "bytes=400\n");
  }
  Tensor reference_input() { return std::move(read_npy(dir.path() / "iris/reference/inputs/x.npy", "x").value()); }
  test::TempDir dir;
};

TEST_F(RuntimeTest, InferMatchesReferenceAndClassifies) {
  auto rt = make();
  InferRequest req;
  req.model_id = "iris";
  req.tensors.push_back(reference_input());
  auto r = rt->infer(req);
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(r->plugin, "dense");
  ASSERT_EQ(r->tensors.size(), 1u);
  auto expected = std::move(read_npy(dir.path() / "iris/reference/outputs/probabilities.npy", "").value());
  ASSERT_EQ(r->tensors[0].dims(), expected.dims());
  for (uint64_t i = 0; i < expected.element_count(); ++i)
    EXPECT_NEAR(r->tensors[0].data_as<float>()[i], expected.data_as<float>()[i], 1e-5);
  // Standard classification stage: top_k 3 per batch item, labelled, sorted.
  ASSERT_EQ(r->classes.size(), 15u);
  EXPECT_EQ(r->classes[0].batch_index, 0);
  EXPECT_GE(r->classes[0].score, r->classes[1].score);
  EXPECT_FALSE(r->classes[0].label.empty());
  req.top_k = 1;
  EXPECT_EQ(rt->infer(req)->classes.size(), 5u);
  EXPECT_EQ(rt->stats().success_total, 2u);
  EXPECT_EQ(rt->stats().model_loads_total, 1u);
}

TEST_F(RuntimeTest, UnnamedSingleInputIsBound) {
  auto rt = make();
  InferRequest req;
  req.model_id = "iris";
  req.tensors.push_back(reference_input());
  req.tensors[0].set_name("");
  EXPECT_TRUE(rt->infer(req));
}

TEST_F(RuntimeTest, WrongShapeDtypeAndNameAreInvalidArgument) {
  auto rt = make();
  InferRequest req;
  req.model_id = "iris";
  req.tensors.push_back(std::move(Tensor::zeros("x", MRT_DTYPE_FLOAT32, {2, 5}).value()));
  auto r = rt->infer(req);
  EXPECT_EQ(r.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(r.status().message().find("input 'x' must have shape [-1, 4], got [2, 5]"), std::string::npos) << r.status().message();
  req.tensors[0] = std::move(Tensor::zeros("x", MRT_DTYPE_INT64, {2, 4}).value());
  EXPECT_NE(rt->infer(req).status().message().find("must be float32, got int64"), std::string::npos);
  req.tensors[0] = std::move(Tensor::zeros("y", MRT_DTYPE_FLOAT32, {2, 4}).value());
  EXPECT_NE(rt->infer(req).status().message().find("has no input named 'y'"), std::string::npos);
  req.tensors.clear();
  EXPECT_NE(rt->infer(req).status().message().find("needs input 'x'"), std::string::npos);
  // The service keeps serving.
  req.tensors.push_back(reference_input());
  EXPECT_TRUE(rt->infer(req));
  EXPECT_EQ(rt->stats().errors_total, 4u);
}

TEST_F(RuntimeTest, HostileModelIdsAreRefused) {
  auto rt = make();
  for (const char* id : {"../iris", "..", "iris/../../etc", "/etc/passwd", ""}) {
    InferRequest req;
    req.model_id = id;
    EXPECT_EQ(rt->infer(req).status().code(), MRT_CODE_INVALID_ARGUMENT) << id;
  }
  EXPECT_EQ(rt->load("nope").status().code(), MRT_CODE_NOT_FOUND);
}

TEST_F(RuntimeTest, CorruptModelIsAClearErrorAndRetried) {
  fs::copy(test::dense_model_dir(), dir.path() / "bad", fs::copy_options::recursive);
  fs::resize_file(dir.path() / "bad/model.dense", 40);  // truncated weights
  auto rt = make();
  auto r = rt->load("bad");
  ASSERT_FALSE(r);
  // The plugin's probe says no, but it handles the format: its load explains.
  EXPECT_NE(r.status().message().find("plugin 'dense' cannot load model 'bad'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("truncated or corrupt"), std::string::npos) << r.status().message();
  // Fixed on disk: the next request loads it (failures are not cached).
  fs::copy_file(test::dense_model_dir() / "model.dense", dir.path() / "bad/model.dense", fs::copy_options::overwrite_existing);
  EXPECT_TRUE(rt->load("bad"));
}

TEST_F(RuntimeTest, BudgetEvictsAndRefusesWhatCannotFit) {
  auto rt = make(1000);
  ASSERT_TRUE(rt->load("f1"));
  ASSERT_TRUE(rt->load("f2"));
  ASSERT_TRUE(rt->load("f3"));  // evicts f1
  EXPECT_EQ(rt->stats().cache.evictions, 1u);
  EXPECT_EQ(rt->stats().cache.used_bytes, 800u);
  dir.write("huge/model.fixture", "bytes=5000\n");
  auto r = rt->load("huge");
  EXPECT_EQ(r.status().code(), MRT_CODE_RESOURCE_EXHAUSTED);
}

TEST_F(RuntimeTest, ListAndUnload) {
  auto rt = make();
  ASSERT_TRUE(rt->load("iris"));
  auto list = rt->list();
  ASSERT_FALSE(list.empty());
  EXPECT_EQ(list[0].model_id, "iris");
  EXPECT_TRUE(list[0].loaded);
  EXPECT_EQ(list[0].plugin, "dense");
  ASSERT_EQ(list[0].inputs.size(), 1u);
  EXPECT_EQ(list[0].inputs[0].dims, (Dims{-1, 4}));
  size_t unloaded = 0;
  for (const auto& s : list) unloaded += !s.loaded;
  EXPECT_EQ(unloaded, 3u);  // f1, f2, f3 are in the repository
  EXPECT_TRUE(rt->unload("iris").is_ok());
  EXPECT_EQ(rt->unload("iris").code(), MRT_CODE_NOT_FOUND);
}

TEST_F(RuntimeTest, ConcurrentInferencesAgreeWithSequential) {
  auto rt = make();
  InferRequest req;
  req.model_id = "iris";
  req.tensors.push_back(reference_input());
  auto expected = rt->infer(req);
  ASSERT_TRUE(expected);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto r = rt->infer(req);
        if (!r || std::memcmp(r->tensors[0].data(), expected->tensors[0].data(), expected->tensors[0].byte_size()) != 0)
          ++mismatches;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(rt->stats().model_loads_total, 1u);
}

TEST_F(RuntimeTest, CancelledAndExpiredRequestsStopBeforeExecute) {
  auto rt = make();
  InferRequest req;
  req.model_id = "iris";
  req.tensors.push_back(reference_input());
  req.control = std::make_shared<CallControl>();
  req.control->cancel();
  EXPECT_EQ(rt->infer(req).status().code(), MRT_CODE_CANCELLED);
  req.control = nullptr;
  req.timeout = std::chrono::microseconds(0);
  EXPECT_EQ(rt->infer(req).status().code(), MRT_CODE_DEADLINE_EXCEEDED);
}

TEST_F(RuntimeTest, PayloadKindsWithoutStagesAreRefusedClearly) {
  auto rt = make();
  InferRequest req;
  req.model_id = "iris";
  req.kind = MRT_PAYLOAD_IMAGE;
  req.image = "\x89PNG";
  EXPECT_EQ(rt->infer(req).status().code(), MRT_CODE_UNIMPLEMENTED);
  req.kind = MRT_PAYLOAD_TEXT;
  req.text = "hello";
  auto r = rt->infer(req);
  EXPECT_EQ(r.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(r.status().message().find("does not take text"), std::string::npos);
}

TEST_F(RuntimeTest, WarmupRunsBeforeReady) {
  dir.write("warm/model.fixture", "bytes=10\n");
  dir.write("warm/model.yml", "format: fixture\nfiles: [model.fixture]\nwarmup: {iterations: 3}\n");
  auto rt = make();
  ASSERT_TRUE(rt->load("warm"));
  // A model whose warm-up fails is not ready: the load fails and names it.
  dir.write("coldfail/model.fixture", "exec_fail=1\n");
  dir.write("coldfail/model.yml", "format: fixture\nfiles: [model.fixture]\nwarmup: {iterations: 1}\n");
  auto r = rt->load("coldfail");
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("warm-up of 'coldfail'"), std::string::npos) << r.status().message();
  EXPECT_EQ(rt->stats().cache.resident_models, 1u);
}

}  // namespace
}  // namespace mrt
