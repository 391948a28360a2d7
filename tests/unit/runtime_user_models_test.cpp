// The Runtime with users' own models beside the system ones, as the service
// sets it up: per-user cache share, reload of models whose files changed,
// and errors that name virtual paths, never the host's.
#include "mrt/core/runtime.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "test_support.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

// System models under /models (read-only), user 1000's under
// /home/1000/models (writable), resolved as Server::create does.
class UserModelsTest : public ::testing::Test {
 protected:
  std::unique_ptr<Runtime> make(RuntimeConfig c = {}) {
    c.plugin_files = {test::fixture_plugin("good")};
    EXPECT_TRUE(c.vfs.add_mount({"/models", sys.path(), true}).is_ok());
    fs::path homes = home.path();
    c.scope_locator = [homes](const std::string& scope, const std::string& id) -> Result<ModelLocation> {
      std::string aid = scope.substr(4);  // "aid:<AID>"
      Vfs vfs;
      fs::create_directories(homes / aid);
      MRT_RETURN_IF_ERROR(vfs.add_mount({"/home/" + aid + "/models", homes / aid, false}));
      return ModelRepository(&vfs, {"/home/" + aid + "/models"}).locate(id);
    };
    auto rt = Runtime::create(std::move(c));
    EXPECT_TRUE(rt);
    return std::move(*rt);
  }
  static InferRequest request(const std::string& id, const std::string& scope) {
    InferRequest req;
    req.model_id = id;
    req.scope = scope;
    req.tensors.push_back(std::move(Tensor::zeros("input", MRT_DTYPE_FLOAT32, {1, 4}).value()));
    return req;
  }
  static std::vector<std::string> resident_keys(const Runtime& rt) {
    std::vector<std::string> keys;
    for (const auto& s : rt.resident()) keys.push_back(model_key(s.scope, s.model_id));
    std::sort(keys.begin(), keys.end());
    return keys;
  }
  static uint64_t bytes_of(const Runtime& rt, const std::string& scope, const std::string& id) {
    for (const auto& s : rt.resident())
      if (s.scope == scope && s.model_id == id) return s.host_bytes;
    return 0;
  }
  static uint64_t scope_bytes(const Runtime& rt, const std::string& scope) {
    uint64_t n = 0;
    for (const auto& s : rt.resident()) n += s.scope == scope ? s.host_bytes : 0;
    return n;
  }
  test::TempDir sys, home;
};

// --- cache share ------------------------------------------------------------

TEST_F(UserModelsTest, UserLoadsNeverEvictOtherUsersOrSystemModels) {
  sys.write("f1/model.fixture", "bytes=400\n");
  home.write("2000/b1/model.fixture", "bytes=400\n");
  for (int i = 1; i <= 8; ++i) home.write("1000/u" + std::to_string(i) + "/model.fixture", "bytes=300\n");
  RuntimeConfig c;
  c.cache_budget_bytes = 2000;
  c.user_cache_share = 0.5;
  auto rt = make(std::move(c));
  ASSERT_TRUE(rt->load("f1"));
  ASSERT_TRUE(rt->load("b1", "aid:2000"));
  for (int i = 1; i <= 8; ++i) {
    std::string id = "u" + std::to_string(i);
    auto r = rt->infer(request(id, "aid:1000"));
    ASSERT_TRUE(r) << id << ": " << r.status().to_string();
    EXPECT_LE(scope_bytes(*rt, "aid:1000"), 1000u) << id;
    auto keys = resident_keys(*rt);
    EXPECT_NE(std::find(keys.begin(), keys.end(), "f1"), keys.end()) << id;
    EXPECT_NE(std::find(keys.begin(), keys.end(), "aid:2000/b1"), keys.end()) << id;
  }
  // User 1000's own oldest models made room: three of 300 fit its 1000.
  EXPECT_EQ(resident_keys(*rt), (std::vector<std::string>{"aid:1000/u6", "aid:1000/u7", "aid:1000/u8", "aid:2000/b1", "f1"}));
  EXPECT_EQ(rt->stats().cache.evictions, 5u);
}

TEST_F(UserModelsTest, OverShareIsRefusedNamingTheLimit) {
  home.write("1000/big/model.fixture", "bytes=1500\n");
  RuntimeConfig c;
  c.cache_budget_bytes = 2000;
  c.user_cache_share = 0.5;
  auto rt = make(std::move(c));
  auto r = rt->load("big", "aid:1000");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), MRT_CODE_RESOURCE_EXHAUSTED);
  for (const char* part : {"needs 1500 bytes", "1000 bytes", "limits.per_aid.cache_share 0.5", "budget 2000"})
    EXPECT_NE(r.status().message().find(part), std::string::npos) << part << " in: " << r.status().message();
  EXPECT_TRUE(rt->resident().empty());
  // The same model as a system model fits the budget.
  sys.write("big/model.fixture", "bytes=1500\n");
  EXPECT_TRUE(rt->load("big"));
}

TEST_F(UserModelsTest, SystemLoadsEvictUsersModelsLeastRecentlyUsedFirst) {
  sys.write("s1/model.fixture", "bytes=800\n");
  home.write("1000/a/model.fixture", "bytes=600\n");
  home.write("2000/b/model.fixture", "bytes=600\n");
  RuntimeConfig c;
  c.cache_budget_bytes = 2000;
  c.user_cache_share = 0.5;
  auto rt = make(std::move(c));
  ASSERT_TRUE(rt->load("a", "aid:1000"));
  ASSERT_TRUE(rt->load("b", "aid:2000"));
  ASSERT_TRUE(rt->load("s1"));  // 2000 bytes in all: fits
  sys.write("s2/model.fixture", "bytes=500\n");
  ASSERT_TRUE(rt->load("s2"));  // evicts the LRU, user 1000's model
  EXPECT_EQ(resident_keys(*rt), (std::vector<std::string>{"aid:2000/b", "s1", "s2"}));
}

// --- changed files ----------------------------------------------------------

TEST_F(UserModelsTest, ChangedFilesAreLoadedAgainOnTheNextRequest) {
  home.write("1000/m/model.yml", "format: fixture\nfiles: [model.fixture]\n");
  home.write("1000/m/model.fixture", "bytes=100\n");
  auto rt = make();
  ASSERT_TRUE(rt->infer(request("m", "aid:1000")));
  ASSERT_TRUE(rt->infer(request("m", "aid:1000")));
  EXPECT_EQ(rt->stats().model_loads_total, 1u);  // unchanged: not loaded again
  // Rewritten in place with the same size: the stamp's times tell.
  home.write("1000/m/model.fixture", "bytes=250\n");
  auto r = rt->infer(request("m", "aid:1000"));
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(rt->stats().model_loads_total, 2u);
  EXPECT_EQ(bytes_of(*rt, "aid:1000", "m"), 250u);
  EXPECT_EQ(rt->stats().cache.invalidations, 1u);
  ASSERT_TRUE(rt->infer(request("m", "aid:1000")));
  EXPECT_EQ(rt->stats().model_loads_total, 2u);
  // Rewritten again at once, in the same size: still seen (a load waits
  // until the files it reads are older than one clock tick).
  home.write("1000/m/model.fixture", "bytes=260\n");
  ASSERT_TRUE(rt->infer(request("m", "aid:1000")));
  EXPECT_EQ(bytes_of(*rt, "aid:1000", "m"), 260u);
  EXPECT_EQ(rt->stats().model_loads_total, 3u);
  // The manifest counts as well.
  home.write("1000/m/other.fixture", "bytes=70\n");
  home.write("1000/m/model.yml", "format: fixture\nfiles: [other.fixture]\n");
  ASSERT_TRUE(rt->load("m", "aid:1000"));
  EXPECT_EQ(bytes_of(*rt, "aid:1000", "m"), 70u);
  EXPECT_EQ(rt->stats().model_loads_total, 4u);
  ASSERT_TRUE(rt->load("m", "aid:1000"));
  EXPECT_EQ(rt->stats().model_loads_total, 4u);
}

TEST_F(UserModelsTest, RequestsHoldingTheOldModelFinishWithIt) {
  home.write("1000/slow/model.fixture", "exec_ms=300\nbytes=100\n");
  auto rt = make();
  ASSERT_TRUE(rt->load("slow", "aid:1000"));
  Result<InferResult> old_result = internal_error("not run");
  std::thread held([&] { old_result = rt->infer(request("slow", "aid:1000")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  home.write("1000/slow/model.fixture", "exec_ms=300\nbytes=200\n");
  auto fresh = rt->infer(request("slow", "aid:1000"));
  held.join();
  ASSERT_TRUE(old_result) << old_result.status().to_string();
  ASSERT_TRUE(fresh) << fresh.status().to_string();
  EXPECT_EQ(rt->stats().model_loads_total, 2u);
  EXPECT_EQ(bytes_of(*rt, "aid:1000", "slow"), 200u);
}

TEST_F(UserModelsTest, RemovedModelIsNotFoundAndUnloaded) {
  home.write("1000/gone/model.fixture", "bytes=100\n");
  auto rt = make();
  ASSERT_TRUE(rt->infer(request("gone", "aid:1000")));
  fs::remove_all(home.path() / "1000/gone");
  auto r = rt->infer(request("gone", "aid:1000"));
  EXPECT_EQ(r.status().code(), MRT_CODE_NOT_FOUND) << r.status().to_string();
  EXPECT_TRUE(rt->resident().empty());
  EXPECT_EQ(rt->stats().cache.used_bytes, 0u);
}

TEST_F(UserModelsTest, SystemModelsAreCheckedAtMostOncePerInterval) {
  sys.write("s/model.fixture", "bytes=100\n");
  RuntimeConfig c;
  c.files_check_interval_ms = 300;  // read-only storage
  auto rt = make(std::move(c));
  ASSERT_TRUE(rt->infer(request("s", "")));
  sys.write("s/model.fixture", "bytes=300\n");
  ASSERT_TRUE(rt->infer(request("s", "")));  // checked at load: not due yet
  EXPECT_EQ(rt->stats().model_loads_total, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  ASSERT_TRUE(rt->infer(request("s", "")));
  EXPECT_EQ(rt->stats().model_loads_total, 2u);
  EXPECT_EQ(bytes_of(*rt, "", "s"), 300u);
}

// --- virtual paths in errors --------------------------------------------------

TEST_F(UserModelsTest, BrokenUserManifestNamesItsVirtualPath) {
  home.write("1000/broken/model.fixture", "bytes=10\n");
  home.write("1000/broken/model.yml", "format: fixture\nfiles: [model.fixture]\nwarmup: {iterations: many}\n");
  auto rt = make();
  auto r = rt->load("broken", "aid:1000");
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("/home/1000/models/broken/model.yml:3:"), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find(home.path().string()), std::string::npos) << r.status().message();
}

TEST_F(UserModelsTest, MissingUserModelFilesAreNamedByVirtualPath) {
  home.write("1000/nofile/model.yml", "format: fixture\nfiles: [weights.fixture]\n");
  home.write("1000/nolabels/model.fixture", "bytes=10\n");
  home.write("1000/nolabels/model.yml",
             "format: fixture\nfiles: [model.fixture]\npostprocess: {kind: classification, labels: labels.txt}\n");
  auto rt = make();
  auto r = rt->load("nofile", "aid:1000");
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("'/home/1000/models/nofile/weights.fixture'"), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find(home.path().string()), std::string::npos) << r.status().message();
  r = rt->load("nolabels", "aid:1000");
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("'/home/1000/models/nolabels/labels.txt'"), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find(home.path().string()), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace mrt
