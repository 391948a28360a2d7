// Storage callers can change is never memory-mapped: the host's file_map
// maps files of a read-only mount only and reads everything else into
// memory it owns, so a user who truncates a loaded model's files cannot
// crash the service with SIGBUS (issue 22). The host services directly, then
// the raw plugin's models through a Runtime set up like the service's.
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <fstream>

#include "mrt/core/host_api.h"
#include "mrt/core/runtime.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

fs::path fixture(const std::string& name) { return fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/models" / name; }

// True when this process has `file` memory-mapped.
bool is_mapped(const fs::path& file) {
  std::string want = fs::canonical(file).string();
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.size() >= want.size() && line.compare(line.size() - want.size(), want.size(), want) == 0) return true;
  return false;
}

// Cuts `file` down to a few bytes, as a user may do to their own model.
void truncate_to_few_bytes(const fs::path& file) {
  fs::resize_file(file, 3);
  ASSERT_EQ(fs::file_size(file), 3u);
}

std::string pattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  return bytes;
}

// --- the host's file services -------------------------------------------------

class HostFiles : public ::testing::Test {
 protected:
  void SetUp() override { file = dir.write("weights.bin", original); }
  MRT_Blob* take(MRT_Status* (*service)(const MRT_ModelSource*, const char*, MRT_Blob**), bool immutable) {
    MRT_ModelSource source{dir.path(), "weights.bin", immutable};
    MRT_Blob* blob = nullptr;
    MRT_Status* s = service(&source, "weights.bin", &blob);
    EXPECT_EQ(s, nullptr) << host->status_message(s);
    return blob;
  }
  std::string contents(const MRT_Blob* blob) {
    return std::string(static_cast<const char*>(host->blob_data(blob)), host->blob_size(blob));
  }

  const MRT_HostApi* host = host_api();
  test::TempDir dir;
  std::string original = pattern(3 * 4096 + 123);
  fs::path file;
};

TEST_F(HostFiles, FileMapMapsReadOnlyStorage) {
  MRT_Blob* blob = take(host->file_map, /*immutable=*/true);
  ASSERT_NE(blob, nullptr);
  EXPECT_TRUE(is_mapped(file));
  EXPECT_EQ(contents(blob), original);
  host->blob_release(blob);
  EXPECT_FALSE(is_mapped(file));
}

TEST_F(HostFiles, FileMapCopiesWritableStorageAndTheCopySurvivesTruncation) {
  MRT_Blob* blob = take(host->file_map, /*immutable=*/false);
  ASSERT_NE(blob, nullptr);
  EXPECT_FALSE(is_mapped(file));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(host->blob_data(blob)) % 4096, 0u) << "page-aligned";
  truncate_to_few_bytes(file);
  // With a mapping of the file, touching the lost pages here raises SIGBUS.
  EXPECT_EQ(contents(blob), original);
  host->blob_release(blob);
}

TEST_F(HostFiles, FileReadIsACopyWhateverTheStorage) {
  for (bool immutable : {true, false}) {
    MRT_Blob* blob = take(host->file_read, immutable);
    ASSERT_NE(blob, nullptr);
    EXPECT_FALSE(is_mapped(file));
    EXPECT_EQ(contents(blob), original);
    host->blob_release(blob);
  }
}

TEST_F(HostFiles, EmptyFileIsAnEmptyBlob) {
  dir.write("empty.bin", "");
  for (bool immutable : {true, false}) {
    MRT_ModelSource source{dir.path(), "empty.bin", immutable};
    MRT_Blob* blob = nullptr;
    ASSERT_EQ(host->file_map(&source, "empty.bin", &blob), nullptr);
    EXPECT_EQ(host->blob_size(blob), 0u);
    host->blob_release(blob);
  }
}

// file_open / file_read_at / file_close (ABI 1.2): reads at offsets from the
// file itself, whatever the storage, never mapped and never copied whole;
// a range past the size is OUT_OF_RANGE; a file truncated since the open
// gives DATA_LOSS naming it, not a signal; paths are confined as for the
// other services.
TEST_F(HostFiles, FileOpenReadsAtOffsetsAndSurvivesTruncation) {
  ASSERT_TRUE(MRT_FIELD_PRESENT(host, MRT_HostApi, file_close));
  for (bool immutable : {true, false}) {
    MRT_ModelSource source{dir.path(), "weights.bin", immutable};
    MRT_File* f = nullptr;
    uint64_t size = 0;
    ASSERT_EQ(host->file_open(&source, "weights.bin", &f, &size), nullptr);
    EXPECT_EQ(size, original.size());
    EXPECT_FALSE(is_mapped(file));
    std::string got(5000, '\0');
    ASSERT_EQ(host->file_read_at(f, 4000, got.data(), got.size()), nullptr);
    EXPECT_EQ(got, original.substr(4000, 5000));
    ASSERT_EQ(host->file_read_at(f, size, got.data(), 0), nullptr);  // an empty read at the end
    MRT_Status* past = host->file_read_at(f, size - 10, got.data(), 11);
    ASSERT_NE(past, nullptr);
    EXPECT_EQ(host->status_code(past), MRT_CODE_OUT_OF_RANGE);
    EXPECT_NE(std::string(host->status_message(past)).find("weights.bin"), std::string::npos)
        << host->status_message(past);
    host->status_free(past);
    host->file_close(f);
  }
  MRT_ModelSource source{dir.path(), "weights.bin", false};
  MRT_File* f = nullptr;
  ASSERT_EQ(host->file_open(&source, "weights.bin", &f, nullptr), nullptr);
  truncate_to_few_bytes(file);
  std::string got(100, '\0');
  MRT_Status* lost = host->file_read_at(f, 1000, got.data(), got.size());
  ASSERT_NE(lost, nullptr);
  EXPECT_EQ(host->status_code(lost), MRT_CODE_DATA_LOSS);
  EXPECT_NE(std::string(host->status_message(lost)).find("weights.bin' ended after"), std::string::npos)
      << host->status_message(lost);
  host->status_free(lost);
  host->file_close(f);
  host->file_close(nullptr);
  for (const char* bad : {"../weights.bin", "/etc/passwd", "missing.bin"}) {
    MRT_File* none = nullptr;
    MRT_Status* s = host->file_open(&source, bad, &none, nullptr);
    ASSERT_NE(s, nullptr) << bad;
    EXPECT_EQ(none, nullptr);
    host->status_free(s);
  }
}

// A file that ends before the size fstat gave (as one truncated while it is
// read does) is DATA_LOSS naming the file. sysfs files report 4096 bytes and
// hold fewer, which makes the short read deterministic.
TEST(HostFileShortRead, IsDataLossNamingTheFile) {
  fs::path sys_dir = "/sys/kernel/mm/transparent_hugepage";
  std::error_code ec;
  struct stat st {};
  if (!fs::exists(sys_dir / "hpage_pmd_size", ec) || ::stat((sys_dir / "hpage_pmd_size").c_str(), &st) != 0 ||
      st.st_size < 64)
    GTEST_SKIP() << "no sysfs file whose size exceeds its contents here";
  const MRT_HostApi* host = host_api();
  MRT_ModelSource source{sys_dir, "hpage_pmd_size", false};
  for (auto service : {host->file_read, host->file_map}) {
    MRT_Blob* blob = nullptr;
    MRT_Status* s = service(&source, "hpage_pmd_size", &blob);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(host->status_code(s), MRT_CODE_DATA_LOSS);
    EXPECT_NE(std::string(host->status_message(s)).find("'hpage_pmd_size' ended after"), std::string::npos)
        << host->status_message(s);
    EXPECT_EQ(blob, nullptr);
    host->status_free(s);
  }
}

// --- which storage counts as immutable ------------------------------------------

TEST(ModelRepositoryStorage, OnlyReadOnlyMountsAreImmutable) {
  test::TempDir system, user;
  system.write("m/model.fixture", "bytes=1\n");
  user.write("m/model.fixture", "bytes=1\n");
  Vfs vfs;
  ASSERT_TRUE(vfs.add_mount({"/models", system.path(), true}).is_ok());
  ASSERT_TRUE(vfs.add_mount({"/home/1000/models", user.path(), false}).is_ok());
  auto sys_loc = ModelRepository(&vfs, {"/models"}).locate("m");
  ASSERT_TRUE(sys_loc) << sys_loc.status().to_string();
  EXPECT_TRUE(sys_loc->immutable_storage);
  auto user_loc = ModelRepository(&vfs, {"/home/1000/models", "/models"}).locate("m");
  ASSERT_TRUE(user_loc) << user_loc.status().to_string();
  EXPECT_EQ(user_loc->directory, fs::canonical(user.path() / "m"));
  EXPECT_FALSE(user_loc->immutable_storage);
  // A plain host path says nothing about who may change it.
  EXPECT_FALSE(locate_model_at(system.path() / "m", "m")->immutable_storage);
  EXPECT_EQ(vfs.mount_of("/home/1000/models/m")->host_root, user.path());
  EXPECT_EQ(vfs.mount_of("/elsewhere"), nullptr);
}

// --- models through the Runtime -------------------------------------------------

constexpr const char* kScope = "aid:1000";

// A Runtime with the raw plugin and the service's storage layout: /models
// read-only for everyone (the system repository), and each user's writable
// /home/<AID>/models reached through a scope, as Server::create sets it up.
class ModelStorage : public ::testing::Test {
 protected:
  void SetUp() override {
    RuntimeConfig c;
    c.plugin_files = {MRT_RAW_PLUGIN};
    // These tests keep using a loaded model while its files are truncated
    // under it; by default the next request would see the change and load
    // the model again (runtime_user_models_test covers that).
    c.files_check_interval_ms = c.writable_files_check_interval_ms = -1;
    ASSERT_TRUE(c.vfs.add_mount({"/models", system_models.path(), true}).is_ok());
    c.scope_locator = [sys = system_models.path(), user = user_models.path()](
                          const std::string& scope, const std::string& id) -> Result<ModelLocation> {
      std::string aid = scope.substr(4);  // "aid:<AID>"
      Vfs vfs;
      MRT_RETURN_IF_ERROR(vfs.add_mount({"/models", sys, true}));
      MRT_RETURN_IF_ERROR(vfs.add_mount({"/home/" + aid + "/models", user, false}));
      ModelRepository repo(&vfs, {"/home/" + aid + "/models"});
      return repo.locate(id);
    };
    auto rt = Runtime::create(std::move(c));
    ASSERT_TRUE(rt) << rt.status().to_string();
    runtime = std::move(*rt);
  }

  std::string generate(const std::string& model_id, const std::string& scope) {
    InferRequest r;
    r.model_id = model_id;
    r.scope = scope;
    r.kind = MRT_PAYLOAD_TEXT;
    r.text = "Once upon a time";
    r.generation.max_tokens = 12;
    r.generation.temperature = 0;
    auto out = runtime->infer(r);
    EXPECT_TRUE(out) << out.status().to_string();
    if (!out || !out->text) return "<no answer>";
    EXPECT_GT(out->text->generated_tokens, 0);
    return out->text->text;
  }

  // Generates, truncates every file of the model to a few bytes, generates
  // again: the process survives and the answer is the same, because the
  // model lives in memory the host owns.
  void expect_survives_truncation(const std::string& model_id, const std::string& scope, const fs::path& model_dir,
                                  const std::vector<std::string>& files) {
    std::string first = generate(model_id, scope);
    for (const auto& f : files) {
      EXPECT_FALSE(is_mapped(model_dir / f)) << f;
      truncate_to_few_bytes(model_dir / f);
    }
    EXPECT_EQ(generate(model_id, scope), first);
    EXPECT_EQ(runtime->stats().model_loads_total, 1u);
  }

  test::TempDir system_models, user_models;
  std::unique_ptr<Runtime> runtime;
};

TEST_F(ModelStorage, UserSafetensorsModelSurvivesTruncation) {
  fs::copy(fixture("tiny-llama-hf"), user_models.path() / "tiny", fs::copy_options::recursive);
  expect_survives_truncation("tiny", kScope, user_models.path() / "tiny",
                             {"model.safetensors", "tokenizer.json", "config.json"});
}

TEST_F(ModelStorage, UserLlama2cCheckpointSurvivesTruncation) {
  fs::copy(fixture("tiny-llama2c"), user_models.path() / "tiny", fs::copy_options::recursive);
  expect_survives_truncation("tiny", kScope, user_models.path() / "tiny", {"model.bin", "tokenizer.bin"});
}

// `mrt run <dir>`: a plain host directory is the caller's own, changeable
// storage; it is read as well.
TEST_F(ModelStorage, ModelAtAHostPathSurvivesTruncation) {
  fs::path dir = user_models.path() / "plain";
  fs::copy(fixture("tiny-llama-hf"), dir, fs::copy_options::recursive);
  ASSERT_TRUE(runtime->add_model_path("plain", dir).is_ok());
  expect_survives_truncation("plain", "", dir, {"model.safetensors", "tokenizer.json"});
}

// The read-only system repository keeps its zero-copy mapping.
TEST_F(ModelStorage, SystemModelIsMapped) {
  fs::copy(fixture("tiny-llama-hf"), system_models.path() / "tiny", fs::copy_options::recursive);
  std::string answer = generate("tiny", "");
  EXPECT_FALSE(answer.empty());
  EXPECT_TRUE(is_mapped(system_models.path() / "tiny/model.safetensors"));
  // The same files on a user's writable mount are copied.
  fs::copy(fixture("tiny-llama-hf"), user_models.path() / "tiny", fs::copy_options::recursive);
  EXPECT_EQ(generate("tiny", kScope), answer);
  EXPECT_FALSE(is_mapped(user_models.path() / "tiny/model.safetensors"));
}

}  // namespace
}  // namespace mrt
