// Router: format, device preference, allowed devices, scores, forced plugin.
#include "mrt/core/router.h"

#include <cstdlib>

#include "test_support.h"

namespace mrt {
namespace {

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(reg.load_file(test::fixture_plugin("good")).is_ok());  // cpu, score 50
    ASSERT_TRUE(reg.load_file(test::fixture_plugin("gpu")).is_ok());   // gpu+cpu, score 80
    ASSERT_TRUE(reg.load_file(test::dense_plugin()).is_ok());
    dir.write("m/model.fixture", "bytes=10\n");
    model.model_id = "m";
    model.directory = dir.path() / "m";
    model.primary_file = "model.fixture";
    model.manifest.format = "fixture";
  }
  void TearDown() override { unsetenv("FIXTURE_GPU_COUNT"); }
  PluginRegistry reg;
  test::TempDir dir;
  ModelLocation model;
};

TEST_F(RouterTest, HighestScoreWinsOnCpu) {
  auto r = route_model(reg.plugins(), model, {});
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(r->plugin->name(), "fixture-gpu");
  EXPECT_EQ(r->device, MRT_DEVICE_CPU);
  EXPECT_NE(r->reason.find("dense: format 'fixture' not handled"), std::string::npos) << r->reason;
}

TEST_F(RouterTest, GpuPreferredOnlyWhenPresentAndAllowed) {
  model.manifest.devices = {MRT_DEVICE_GPU, MRT_DEVICE_CPU};
  auto no_gpu = route_model(reg.plugins(), model, {});
  ASSERT_TRUE(no_gpu);
  EXPECT_EQ(no_gpu->device, MRT_DEVICE_CPU);
  EXPECT_NE(no_gpu->reason.find("no gpu device present"), std::string::npos) << no_gpu->reason;

  setenv("FIXTURE_GPU_COUNT", "1", 1);
  auto gpu = route_model(reg.plugins(), model, {});
  ASSERT_TRUE(gpu);
  EXPECT_EQ(gpu->device, MRT_DEVICE_GPU);

  RoutingPolicy cpu_only;
  cpu_only.allowed_devices = {MRT_DEVICE_CPU};  // no svc://gpu-driver capability
  auto refused = route_model(reg.plugins(), model, cpu_only);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->device, MRT_DEVICE_CPU);
  EXPECT_NE(refused->reason.find("gpu not allowed"), std::string::npos) << refused->reason;
}

TEST_F(RouterTest, ForcedPluginWinsOverScore) {
  RoutingPolicy p;
  p.forced_plugin = "fixture-good";
  auto r = route_model(reg.plugins(), model, p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->plugin->name(), "fixture-good");
  p.forced_plugin = "nonexistent";
  EXPECT_EQ(route_model(reg.plugins(), model, p).status().code(), MRT_CODE_NOT_FOUND);
}

TEST_F(RouterTest, UnknownFormatListsEveryReason) {
  model.manifest.format = "tflite";
  auto r = route_model(reg.plugins(), model, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), MRT_CODE_NOT_FOUND);
  EXPECT_NE(r.status().message().find("fixture-good: format 'tflite' not handled"), std::string::npos);
  EXPECT_NE(r.status().message().find("dense: format 'tflite' not handled"), std::string::npos);
}

TEST_F(RouterTest, EmptyFormatProbesEveryPlugin) {
  model.manifest.format = "";  // a bare file of unknown extension
  auto r = route_model(reg.plugins(), model, {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->plugin->name(), "fixture-gpu");
}

TEST_F(RouterTest, ProbeZeroFallsBackToAPluginOfTheNamedFormat) {
  model.primary_file = "missing.fixture";  // every probe says 0
  auto r = route_model(reg.plugins(), model, {});
  ASSERT_TRUE(r);  // loaded anyway, so the plugin can say what is wrong
  EXPECT_EQ(r->score, 0);
  EXPECT_EQ(r->plugin->name(), "fixture-good");
  EXPECT_NE(r->reason.find("no plugin recognised its files"), std::string::npos) << r->reason;
  model.manifest.format = "";  // a bare file of unknown format: nobody to ask
  auto none = route_model(reg.plugins(), model, {});
  ASSERT_FALSE(none);
  EXPECT_NE(none.status().message().find("score 0"), std::string::npos) << none.status().message();
}

// The one plugin for a named format is not probed: it would get the load
// whatever it scored (a probe of 0 falls back to it), and a probe reads the
// primary file, whole when it is on writable storage. With a choice to
// make, plugins are probed as before.
TEST_F(RouterTest, SoleCandidateOfANamedFormatIsNotProbed) {
  model.primary_file = "missing.fixture";  // a probe would say 0
  RoutingPolicy p;
  p.forced_plugin = "fixture-good";
  auto r = route_model(reg.plugins(), model, p);
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(r->plugin->name(), "fixture-good");
  EXPECT_NE(r->reason.find("the only plugin for format 'fixture'"), std::string::npos) << r->reason;
  EXPECT_EQ(r->reason.find("score"), std::string::npos) << r->reason;
  auto both = route_model(reg.plugins(), model, {});  // two plugins take 'fixture': probed
  ASSERT_TRUE(both);
  EXPECT_NE(both->reason.find("no plugin recognised its files"), std::string::npos) << both->reason;
}

}  // namespace
}  // namespace mrt
