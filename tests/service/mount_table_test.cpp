// Storage mounts: <AID> expansion, ro enforcement, volatile quotas,
// confinement, and one client's view excluding another's.
#include "mount_table.h"

#include "../unit/test_support.h"

namespace fs = std::filesystem;

namespace mrt::vnode {
namespace {

class MountTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir.write("system/digits/model.yml", "format: x\n");
    dir.write("outside/secret", "s");
    auto m = parse_vnode_manifest(embedded_vnode_manifest(), "vnode.yml");
    ASSERT_TRUE(m);
    auto t = MountTable::create(m->mounts, {dir.path() / "state", dir.path() / "system"});
    ASSERT_TRUE(t) << t.status().to_string();
    table = std::move(*t);
  }
  test::TempDir dir;
  std::unique_ptr<MountTable> table;
};

TEST_F(MountTableTest, ClientSeesSystemModelsAndOnlyItsOwnHome) {
  auto vfs = table->vfs_for("1000");
  ASSERT_TRUE(vfs) << vfs.status().to_string();
  EXPECT_TRUE(vfs->resolve("/models/digits/model.yml"));
  auto home = vfs->resolve("/home/1000/models");
  ASSERT_TRUE(home);
  EXPECT_EQ(*home, fs::canonical(dir.path() / "state/aetherfs/user/1000/models"));
  EXPECT_EQ(vfs->resolve("/home/1001/models").status().code(), MRT_CODE_NOT_FOUND);
  EXPECT_EQ(vfs->resolve("/home/1000/models/../../1001/models").status().code(), MRT_CODE_PERMISSION_DENIED);
  EXPECT_FALSE(table->vfs_for("../1"));
  EXPECT_FALSE(table->vfs_for("root"));
}

TEST_F(MountTableTest, ReadOnlyMountRefusesWrites) {
  Status s = table->write_file("1000", "/models/digits/evil.bin", "x");
  EXPECT_EQ(s.code(), MRT_CODE_PERMISSION_DENIED);
  EXPECT_NE(s.message().find("read-only mount /models"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(dir.path() / "system/digits/evil.bin"));
  EXPECT_TRUE(table->write_file("1000", "/home/1000/models/mine/model.yml", "format: x\n").is_ok());
}

TEST_F(MountTableTest, VolatileStorageStaysWithinItsSize) {
  std::string mib(1 << 20, 'x');
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(table->write_file("1000", "/tmp/f" + std::to_string(i), mib).is_ok()) << i;
  Status s = table->write_file("1000", "/tmp/one-too-many", "y");
  EXPECT_EQ(s.code(), MRT_CODE_RESOURCE_EXHAUSTED) << s.to_string();
  EXPECT_TRUE(table->write_file("1000", "/tmp/f0", "small").is_ok());  // replacing frees room
}

TEST_F(MountTableTest, EscapesAreRefused) {
  fs::create_directories(dir.path() / "state/aetherfs/user/1000/models");
  fs::create_directory_symlink(dir.path() / "outside", dir.path() / "state/aetherfs/user/1000/models/link");
  auto vfs = table->vfs_for("1000");
  EXPECT_EQ(vfs->resolve("/home/1000/models/link/secret").status().code(), MRT_CODE_PERMISSION_DENIED);
  EXPECT_EQ(table->write_file("1000", "/home/1000/models/link/x", "x").code(), MRT_CODE_PERMISSION_DENIED);
  EXPECT_EQ(table->write_file("1000", "/tmp/../models/x", "x").code(), MRT_CODE_PERMISSION_DENIED);
}

}  // namespace
}  // namespace mrt::vnode
