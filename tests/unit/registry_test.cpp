// Plugin registry: handshake outcomes for each fixture plugin.
#include "mrt/core/plugin_registry.h"

#include "test_support.h"

namespace mrt {
namespace {

using test::fixture_plugin;
using test::LogCapture;

TEST(Registry, LoadsGoodPlugin) {
  PluginRegistry reg;
  ASSERT_TRUE(reg.load_file(fixture_plugin("good")).is_ok());
  ASSERT_EQ(reg.plugins().size(), 1u);
  const PluginInfo& info = reg.plugins()[0]->info();
  EXPECT_EQ(info.name, "fixture-good");
  EXPECT_EQ(info.version, "0.0.1");
  EXPECT_TRUE(info.handles_format("fixture"));
  EXPECT_TRUE(info.supports_device(MRT_DEVICE_CPU));
  EXPECT_FALSE(info.supports_device(MRT_DEVICE_GPU));
  EXPECT_EQ(info.abi_major, 1u);
}

TEST(Registry, MissingEntryPointIsRefusedWithOneClearLine) {
  LogCapture logs;
  PluginRegistry reg;
  Status s = reg.load_file(fixture_plugin("no-entry"));
  EXPECT_EQ(s.code(), MRT_CODE_FAILED_PRECONDITION);
  EXPECT_NE(s.message().find("no entry point 'mrt_plugin_entry'"), std::string::npos) << s.message();
  EXPECT_TRUE(reg.plugins().empty());
  ASSERT_EQ(reg.refused().size(), 1u);
  EXPECT_EQ(logs.count("refused plugin"), 1u);
}

TEST(Registry, WrongMajorIsRefusedNamingBothVersions) {
  LogCapture logs;
  PluginRegistry reg;
  Status s = reg.load_file(fixture_plugin("wrong-major"));
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("ABI major 2 != host ABI major 1"), std::string::npos) << s.message();
  EXPECT_TRUE(logs.contains("fixture-wrong-major.so"));
}

TEST(Registry, NewerMinorIsAcceptedAndExtraFieldsIgnored) {
  LogCapture logs;
  PluginRegistry reg;
  ASSERT_TRUE(reg.load_file(fixture_plugin("newer-minor")).is_ok());
  ASSERT_EQ(reg.plugins().size(), 1u);
  EXPECT_EQ(reg.plugins()[0]->info().abi_minor, 7u);
  EXPECT_EQ(reg.plugins()[0]->api().struct_size, sizeof(MRT_PluginApi));  // widened to the host's view
  EXPECT_TRUE(logs.contains("built for ABI 1.7"));
}

// The good fixture compiled against the frozen ABI 1.0 header
// (tests/fixtures/abi-1.0): what every 1.0 plugin in the field looks like.
TEST(Registry, LoadsPluginBuiltAgainstFrozenAbi10) {
  PluginRegistry reg;
  Status s = reg.load_file(fixture_plugin("abi-1.0"));
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  ASSERT_EQ(reg.plugins().size(), 1u);
  const PluginInfo& info = reg.plugins()[0]->info();
  EXPECT_EQ(info.name, "fixture-abi-1-0");
  EXPECT_EQ(info.abi_major, 1u);
  EXPECT_EQ(info.abi_minor, 0u);
  EXPECT_TRUE(info.handles_format("fixture"));
}

TEST(Registry, ThrowingEntryPointIsRefused) {
  PluginRegistry reg;
  Status s = reg.load_file(fixture_plugin("throws"));
  EXPECT_EQ(s.code(), MRT_CODE_INTERNAL);
  EXPECT_NE(s.message().find("throws on purpose"), std::string::npos) << s.message();
}

TEST(Registry, InitFailureIsRefused) {
  PluginRegistry reg;
  Status s = reg.load_file(fixture_plugin("init-fails"));
  EXPECT_NE(s.message().find("init refuses on purpose"), std::string::npos) << s.message();
  EXPECT_TRUE(reg.plugins().empty());
}

TEST(Registry, NullRequiredOperationIsRefused) {
  PluginRegistry reg;
  Status s = reg.load_file(fixture_plugin("null-execute"));
  EXPECT_NE(s.message().find("'execute' is NULL"), std::string::npos) << s.message();
}

TEST(Registry, NotASharedObjectCarriesLoaderText) {
  test::TempDir dir;
  auto bogus = dir.write("bogus.so", "this is not an ELF file");
  PluginRegistry reg;
  Status s = reg.load_file(bogus);
  EXPECT_FALSE(s.is_ok());
  // dlerror() says why: "invalid ELF header" or "file too short".
  EXPECT_TRUE(s.message().find("ELF") != std::string::npos || s.message().find("too short") != std::string::npos)
      << s.message();
}

TEST(Registry, DuplicatesByPathAndNameLoadOnce) {
  LogCapture logs;
  test::TempDir dir;
  std::filesystem::create_symlink(fixture_plugin("good"), dir.path() / "alias.so");
  PluginRegistry reg;
  EXPECT_TRUE(reg.load_file(fixture_plugin("good")).is_ok());
  EXPECT_TRUE(reg.load_file(dir.path() / "alias.so").is_ok());        // same real path
  EXPECT_TRUE(reg.load_file(fixture_plugin("duplicate")).is_ok());     // same name, other file
  EXPECT_EQ(reg.plugins().size(), 1u);
  EXPECT_TRUE(logs.contains("duplicates"));
}

TEST(Registry, BadPluginsDoNotStopGoodOnes) {
  test::TempDir dir;
  for (const char* v : {"good", "no-entry", "wrong-major", "throws", "gpu", "init-fails"})
    std::filesystem::copy_file(fixture_plugin(v), dir.path() / (std::string("fixture-") + v + ".so"));
  dir.write("zz-garbage.so", "garbage");
  PluginRegistry reg;
  reg.load_directory(dir.path());
  std::vector<std::string> names;
  for (const auto& p : reg.plugins()) names.push_back(p->name());
  EXPECT_EQ(names, (std::vector<std::string>{"fixture-good", "fixture-gpu"}));
  EXPECT_EQ(reg.refused().size(), 5u);
}

TEST(Registry, PluginOutlivesRegistryWhileHeld) {
  std::shared_ptr<Plugin> held;
  {
    PluginRegistry reg;
    ASSERT_TRUE(reg.load_file(fixture_plugin("good")).is_ok());
    held = reg.find("fixture-good");
  }
  // The library is still mapped: calling into it works.
  MRT_PluginInfo info{};
  info.struct_size = MRT_PLUGIN_INFO_STRUCT_SIZE;
  held->api().get_info(&info);
  EXPECT_STREQ(info.name, "fixture-good");
}

TEST(Registry, HostRefusedByPluginForOtherMajor) {
  PluginRegistryOptions o;
  o.host_abi_major = 2;
  PluginRegistry reg(o);
  Status s = reg.load_file(test::dense_plugin());
  EXPECT_NE(s.message().find("refused host ABI 2." + std::to_string(MRT_ABI_VERSION_MINOR)), std::string::npos) << s.message();
}

}  // namespace
}  // namespace mrt
