// vnode.yml: the shipped manifest, strict and permissive modes, sizes.
#include "vnode_manifest.h"

#include "../unit/test_support.h"

namespace mrt::vnode {
namespace {

TEST(VnodeManifest, ShippedManifestParses) {
  auto m = parse_vnode_manifest(embedded_vnode_manifest(), "vnode.yml");
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_EQ(m->name, "model-runtime");
  EXPECT_TRUE(m->strict);
  EXPECT_EQ(m->entrypoint, "model-runtime.vnode");
  EXPECT_EQ(m->required_mem_mb, 256u);
  EXPECT_DOUBLE_EQ(m->max_cpu_share, 0.5);
  EXPECT_TRUE(m->has("CAP_IPC_ACCEPT"));
  EXPECT_TRUE(m->has("CAP_IPC_CONNECT", "svc://vfs"));
  EXPECT_TRUE(m->has("CAP_IPC_CONNECT", "svc://gpu-driver"));
  EXPECT_TRUE(m->has("CAP_LOG_WRITE"));
  EXPECT_TRUE(m->has("CAP_TIME_READ"));
  EXPECT_FALSE(m->has("CAP_IPC_CONNECT", "svc://other"));
  EXPECT_EQ(m->ipc_address, "svc://model-runtime");
  ASSERT_EQ(m->mounts.size(), 3u);
  EXPECT_EQ(m->mounts[0].path, "/models");
  EXPECT_TRUE(m->mounts[0].read_only);
  EXPECT_EQ(m->mounts[1].path, "/home/<AID>/models");
  EXPECT_FALSE(m->mounts[1].read_only);
  EXPECT_EQ(*m->mounts[2].size_bytes, 64ull << 20);
  EXPECT_EQ(m->metrics.size(), 6u);
}

const char* kBase = "name: x\nversion: '1'\nruntime: {entrypoint: e, required_mem_mb: 16, max_cpu_share: 0.5}\n";

struct Bad {
  std::string extra;
  const char* expected;
};
class VnodeManifestErrors : public ::testing::TestWithParam<Bad> {};

TEST_P(VnodeManifestErrors, StrictModeNamesTheProblem) {
  auto m = parse_vnode_manifest(std::string(kBase) + GetParam().extra, "vnode.yml");
  ASSERT_FALSE(m) << GetParam().extra;
  EXPECT_NE(m.status().message().find(GetParam().expected), std::string::npos) << m.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, VnodeManifestErrors,
    ::testing::Values(Bad{"colour: red\n", "vnode.yml:4:1: unknown key 'colour'"},
                      Bad{"mode: lax\n", "unknown mode 'lax'"},
                      Bad{"capabilities: [CAP_FLY]\n", "unknown capability 'CAP_FLY'"},
                      Bad{"capabilities: [CAP_IPC_CONNECT: vfs]\n", "needs a target svc://"},
                      Bad{"capabilities: [{CAP_LOG_WRITE: x}]\n", "takes no target"},
                      Bad{"ipc: {address: tcp://x}\n", "must be svc://<name>"},
                      Bad{"storage: {mounts: [{path: rel, source: 'aetherfs://a'}]}\n", "must be absolute"},
                      Bad{"storage: {mounts: [{path: /m, source: 'http://a'}]}\n", "must be aetherfs:// or volatile://"},
                      Bad{"storage: {mounts: [{path: /m, source: 'volatile://a', size: 12XB}]}\n", "unknown unit 'XB'"},
                      Bad{"storage: {mounts: [{path: /m, source: 'volatile://a', mode: rx}]}\n", "unknown mode 'rx'"},
                      Bad{"observability: {metrics: {a: 1}}\n", "must be a string or a list"},
                      Bad{"plugins: {isolation: thread}\n", "isolation"},
                      Bad{"plugins: {sandbox: loose}\n", "sandbox"},
                      Bad{"plugins: {memory_limit: lots}\n", "size 'lots'"},
                      Bad{"plugins: {crash_limit: 0}\n", "crash_limit"},
                      Bad{"plugins: {overrides: {onednn: {colour: red}}}\n", "unknown key 'colour'"}));

TEST(VnodeManifest, PluginPolicies) {
  auto shipped = parse_vnode_manifest(embedded_vnode_manifest(), "vnode.yml");
  ASSERT_TRUE(shipped) << shipped.status().to_string();
  const PluginWorkerOptions& p = shipped->plugins;
  EXPECT_FALSE(p.defaults.in_process);
  EXPECT_EQ(p.defaults.sandbox, SandboxLevel::kStrict);
  EXPECT_EQ(p.defaults.memory_limit_bytes, 4ull << 30);
  EXPECT_EQ(p.crash_limit, 5);
  ASSERT_EQ(p.per_plugin.count("cudnn"), 1u);
  EXPECT_EQ(p.policy_for("cudnn").sandbox, SandboxLevel::kFiles);
  EXPECT_EQ(p.policy_for("cudnn").memory_limit_bytes, 0u);
  EXPECT_EQ(p.policy_for("onednn").sandbox, SandboxLevel::kStrict);

  auto m = parse_vnode_manifest(std::string(kBase) + "plugins: {isolation: in-process, overrides: {x: {isolation: process}}}\n",
                                "vnode.yml");
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_TRUE(m->plugins.defaults.in_process);
  EXPECT_FALSE(m->plugins.policy_for("x").in_process);
  EXPECT_TRUE(m->plugins.policy_for("y").in_process);
}

TEST(VnodeManifest, WrongTypesAndMissingFields) {
  auto m = parse_vnode_manifest("name: x\nversion: '1'\nruntime: {required_mem_mb: lots}\n", "v.yml");
  EXPECT_NE(m.status().message().find("'required_mem_mb' must be an integer"), std::string::npos) << m.status().message();
  m = parse_vnode_manifest("name: x\nversion: '1'\nruntime: {required_mem_mb: 8, max_cpu_share: 1.5}\n", "v.yml");
  EXPECT_NE(m.status().message().find("must be in (0, 1]"), std::string::npos) << m.status().message();
  m = parse_vnode_manifest("name: x\nruntime: {required_mem_mb: 8}\n", "v.yml");
  EXPECT_NE(m.status().message().find("'version' is required"), std::string::npos) << m.status().message();
}

TEST(VnodeManifest, PermissiveModeIgnoresUnknownKeys) {
  test::LogCapture logs;
  auto m = parse_vnode_manifest(std::string(kBase) + "mode: permissive\ncolour: red\n", "vnode.yml");
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_FALSE(m->strict);
  EXPECT_TRUE(logs.contains("ignoring unknown key 'colour'"));
}

TEST(VnodeManifest, Sizes) {
  EXPECT_EQ(*parse_size("64MB"), 64ull << 20);
  EXPECT_EQ(*parse_size("512KiB"), 512ull << 10);
  EXPECT_EQ(*parse_size("1G"), 1ull << 30);
  EXPECT_EQ(*parse_size("4096"), 4096u);
  EXPECT_FALSE(parse_size("MB"));
  EXPECT_FALSE(parse_size("99999999999999999999GB"));
}

}  // namespace
}  // namespace mrt::vnode
