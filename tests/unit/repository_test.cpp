// model_id validation, vfs confinement and model lookup.
#include "mrt/core/model_repository.h"

#include "test_support.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

TEST(ModelId, AcceptsTheAllowedAlphabet) {
  for (const char* id : {"digits", "resnet-50", "llama_3.2", "A", "v1.0-rc_2", "..."})
    EXPECT_TRUE(validate_model_id(id).is_ok()) << id;
}

TEST(ModelId, RefusesTraversalAndOddCharacters) {
  for (const char* id : {"", ".", "..", "../etc", "a/b", "/abs", "a\\b", "a b", "x%2e", "名前", "a:b", "$HOME"})
    EXPECT_EQ(validate_model_id(id).code(), MRT_CODE_INVALID_ARGUMENT) << id;
  EXPECT_FALSE(validate_model_id(std::string("a\0b", 3)).is_ok());
  EXPECT_FALSE(validate_model_id(std::string(129, 'a')).is_ok());
}

TEST(Confine, RefusesEscapes) {
  test::TempDir dir;
  dir.write("models/m/model.yml", "format: x\n");
  dir.write("secret.txt", "secret");
  fs::path root = dir.path() / "models";
  EXPECT_TRUE(confine(root, "m/model.yml"));
  EXPECT_TRUE(confine(root, "m/../m/model.yml"));
  EXPECT_EQ(confine(root, "../secret.txt").status().code(), MRT_CODE_PERMISSION_DENIED);
  EXPECT_EQ(confine(root, "m/../../secret.txt").status().code(), MRT_CODE_PERMISSION_DENIED);
  EXPECT_EQ(confine(root, "/etc/passwd").status().code(), MRT_CODE_PERMISSION_DENIED);
  // A symlink inside the root that points outside it.
  fs::create_symlink(dir.path() / "secret.txt", root / "m" / "link.txt");
  EXPECT_EQ(confine(root, "m/link.txt").status().code(), MRT_CODE_PERMISSION_DENIED);
  fs::create_directory_symlink(dir.path(), root / "up");
  EXPECT_EQ(confine(root, "up/secret.txt").status().code(), MRT_CODE_PERMISSION_DENIED);
}

TEST(Vfs, MountsResolveLongestPrefixAndEnforceReadOnly) {
  test::TempDir dir;
  dir.write("sys/a/model.yml", "format: x\n");
  dir.write("user/b/model.yml", "format: x\n");
  Vfs vfs;
  ASSERT_TRUE(vfs.add_mount({"/models", dir.path() / "sys", true}).is_ok());
  ASSERT_TRUE(vfs.add_mount({"/models/user", dir.path() / "user", false}).is_ok());
  auto a = vfs.resolve("/models/a/model.yml");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, fs::canonical(dir.path() / "sys/a/model.yml"));
  auto b = vfs.resolve("/models/user/b/model.yml", Access::kWrite);
  ASSERT_TRUE(b) << b.status().to_string();
  EXPECT_EQ(vfs.resolve("/models/a/new", Access::kWrite).status().code(), MRT_CODE_PERMISSION_DENIED);
  EXPECT_EQ(vfs.resolve("/models/../../etc/passwd").status().code(), MRT_CODE_PERMISSION_DENIED);
  EXPECT_EQ(vfs.resolve("/elsewhere/x").status().code(), MRT_CODE_NOT_FOUND);
  EXPECT_EQ(vfs.resolve("/modelsX/a").status().code(), MRT_CODE_NOT_FOUND);
  EXPECT_FALSE(vfs.add_mount({"/nowhere", dir.path() / "missing", true}).is_ok());
}

TEST(Repository, LocatesManifestBareDirAndBareFile) {
  test::TempDir dir;
  dir.write("m/with-manifest/model.yml", "format: dense\nfiles: [w.dense]\n");
  dir.write("m/bare-dir/net.onnx", "x");
  dir.write("m/bare-file.onnx", "x");
  dir.write("m/ambiguous/a.onnx", "x");
  dir.write("m/ambiguous/b.onnx", "x");
  dir.write("m/broken/model.yml", "format: dense\nbogus: 1\n");
  Vfs vfs;
  ASSERT_TRUE(vfs.add_mount({"/models", dir.path() / "m", true}).is_ok());
  ModelRepository repo(&vfs, {"/models"});

  auto a = repo.locate("with-manifest");
  ASSERT_TRUE(a) << a.status().to_string();
  EXPECT_EQ(a->primary_file, "w.dense");
  EXPECT_EQ(a->manifest.format, "dense");
  auto b = repo.locate("bare-dir");
  ASSERT_TRUE(b) << b.status().to_string();
  EXPECT_EQ(b->manifest.format, "onnx");
  EXPECT_EQ(b->primary_file, "net.onnx");
  auto c = repo.locate("bare-file.onnx");
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_EQ(c->primary_file, "bare-file.onnx");
  EXPECT_EQ(repo.locate("ambiguous").status().code(), MRT_CODE_FAILED_PRECONDITION);
  auto broken = repo.locate("broken");
  EXPECT_NE(broken.status().message().find("unknown key 'bogus'"), std::string::npos);
  EXPECT_EQ(repo.locate("missing").status().code(), MRT_CODE_NOT_FOUND);
  EXPECT_EQ(repo.locate("../m").status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(repo.list(), (std::vector<std::string>{"ambiguous", "bare-dir", "bare-file.onnx", "broken", "with-manifest"}));
}

TEST(Repository, SymlinkedModelOutsideMountIsRefused) {
  test::TempDir dir;
  dir.write("outside/evil/model.yml", "format: dense\n");
  fs::create_directories(dir.path() / "m");
  fs::create_directory_symlink(dir.path() / "outside/evil", dir.path() / "m/evil");
  Vfs vfs;
  ASSERT_TRUE(vfs.add_mount({"/models", dir.path() / "m", true}).is_ok());
  ModelRepository repo(&vfs, {"/models"});
  EXPECT_EQ(repo.locate("evil").status().code(), MRT_CODE_PERMISSION_DENIED);
}

}  // namespace
}  // namespace mrt
