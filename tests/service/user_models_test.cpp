// Users' own models through the real daemon: push (upload), replace, rm and
// info, as an ordinary user (a forked child that takes uid 4242 when the
// test runs as root), with bad pushes, traversal paths and the storage quota.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>

#include "daemon_fixture.h"
#include "model_pack.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

using client::Client;
using test::Daemon;
using test::first_output;
using test::identity_request;

constexpr uid_t kUser = 4242;

class UserModelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir.write("models/identity/model.fixture", "bytes=1000\n");
    dir.write("models/identity/model.yml",
              "format: fixture\nfiles: [model.fixture]\n"
              "inputs: [{name: input, dtype: float32, shape: [-1, 4]}]\n"
              "outputs: [{name: output, dtype: float32, shape: [-1, 4]}]\n");
  }
  // A fixture model directory (its model file says how it behaves).
  fs::path model_dir(const std::string& name, const std::string& fixture, const std::string& yml_extra = "") {
    dir.write("upload/" + name + "/model.fixture", fixture);
    dir.write("upload/" + name + "/model.yml", "format: fixture\nfiles: [model.fixture]\n" + yml_extra);
    return dir.path() / "upload" / name;
  }
  fs::path home(uid_t uid) const { return dir.path() / "state/aetherfs/user" / std::to_string(uid) / "models"; }
  bool staging_is_empty() const { return fs::is_empty(dir.path() / "state/staging"); }

  // Runs `check` in a child process as `uid` (root only); its exit code.
  static int as_user(uid_t uid, const std::function<int()>& check) {
    pid_t pid = fork();
    if (pid == 0) {
      if (setgid(uid) != 0 || setuid(uid) != 0) _exit(100);
      _exit(check());
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
  }

  test::TempDir dir;
};

#define NEEDS_ROOT() \
  if (getuid() != 0) GTEST_SKIP() << "needs root to connect as an ordinary user's uid"

TEST_F(UserModelsTest, AnOrdinaryUserPushesAModelAndInfersWithIt) {
  NEEDS_ROOT();
  Daemon d(dir, {});
  fs::path src = model_dir("mine", "bytes=123\n");
  // Paths of several components travel too.
  dir.write("upload/mine/extra/notes.txt", "hello\n");
  int code = as_user(kUser, [&] {
    auto c = Client::connect(d.socket());
    if (!c) return 1;
    auto pushed = (*c)->push(src, "mine");
    if (!pushed) return std::fprintf(stderr, "%s\n", pushed.status().to_string().c_str()), 2;
    // The fixture's GPU variant scores higher; on a CPU it is the same model.
    if (pushed->plugin().rfind("fixture", 0) != 0 || pushed->device() != "cpu" || pushed->scope() != "user") return 3;
    auto r = (*c)->infer(identity_request(5, "mine"));
    if (!r || first_output(*r) != 5) return 4;
    auto list = (*c)->list_models();
    if (!list) return 5;
    bool listed = false;
    for (const auto& m : list->models()) listed |= m.model_id() == "mine" && m.scope() == "user";
    return listed ? 0 : 6;
  });
  EXPECT_EQ(code, 0) << d.log();
  EXPECT_EQ(test::read_all(home(kUser) / "mine/model.fixture"), "bytes=123\n");
  EXPECT_EQ(test::read_all(home(kUser) / "mine/extra/notes.txt"), "hello\n");
  EXPECT_TRUE(staging_is_empty());
  // Nobody else reaches it, admins included.
  EXPECT_EQ(d.connect()->infer(identity_request(5, "mine")).status().code(), MRT_CODE_NOT_FOUND);
  EXPECT_EQ(as_user(kUser + 1,
                    [&] {
                      auto c = Client::connect(d.socket());
                      return c && (*c)->infer(identity_request(5, "mine")).status().code() == MRT_CODE_NOT_FOUND ? 0
                                                                                                                 : 1;
                    }),
            0);
}

TEST_F(UserModelsTest, ABadPushIsAnErrorNamingTheProblemAndLeavesNothing) {
  Daemon d(dir, {});
  auto c = d.connect();
  struct Case {
    std::string name, fixture, yml, expected;
  };
  for (const Case& k : {Case{"bad-yml", "bytes=1\n", "inputs: [unclosed\n", "model.yml"},
                        Case{"refused", "fail=1\n", "", "load fails on purpose"},
                        Case{"no-plugin", "bytes=1\n", "plugin: nosuch\n", "nosuch"}}) {
    auto r = c->push(model_dir(k.name, k.fixture, k.yml), k.name);
    ASSERT_FALSE(r) << k.name;
    EXPECT_NE(r.status().message().find(k.expected), std::string::npos) << r.status().to_string();
    EXPECT_NE(r.status().message().find("pushed model '" + k.name + "'"), std::string::npos) << r.status().to_string();
    EXPECT_EQ(r.status().message().find("staging"), std::string::npos) << "names host paths: " << r.status().message();
    EXPECT_FALSE(fs::exists(home(0) / k.name)) << k.name;
    EXPECT_TRUE(staging_is_empty()) << k.name;
  }
  // A failed push over an existing model keeps the existing one.
  ASSERT_TRUE(c->push(model_dir("kept", "bytes=7\n"), "kept"));
  EXPECT_FALSE(c->push(model_dir("kept-bad", "fail=1\n"), "kept"));
  EXPECT_EQ(test::read_all(home(0) / "kept/model.fixture"), "bytes=7\n");
  EXPECT_TRUE(c->infer(identity_request(1, "kept")));
}

TEST_F(UserModelsTest, PushesAreCountedAgainstTheStorageQuota) {
  Daemon::Options o;
  o.manifest_extra = "limits:\n  per_aid:\n    storage: 1KB\n";
  Daemon d(dir, o);
  auto c = d.connect();
  std::string padding(400, '#');
  // model.yml (37 bytes) + model.fixture (~410 bytes): ~450 bytes each.
  ASSERT_TRUE(c->push(model_dir("a", "bytes=1\n" + padding + "\n"), "a"));
  ASSERT_TRUE(c->push(model_dir("b", "bytes=2\n" + padding + "\n"), "b"));
  auto over = c->push(model_dir("c", "bytes=3\n" + padding + "\n"), "c");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.status().code(), MRT_CODE_RESOURCE_EXHAUSTED);
  EXPECT_NE(over.status().message().find("limits.per_aid.storage"), std::string::npos) << over.status().message();
  EXPECT_FALSE(fs::exists(home(0) / "c"));
  EXPECT_TRUE(staging_is_empty());
  // Replacing a model counts the new one instead of the old one.
  EXPECT_TRUE(c->push(model_dir("a2", "bytes=4\n" + padding + "\n"), "a"));
  // One file alone bigger than the quota is refused before anything is written.
  auto huge = c->push(model_dir("huge", "bytes=5\n" + std::string(2000, '#') + "\n"), "huge");
  EXPECT_EQ(huge.status().code(), MRT_CODE_RESOURCE_EXHAUSTED);
  // Removing frees the space.
  ASSERT_TRUE(c->remove("b").is_ok());
  EXPECT_TRUE(c->push(model_dir("c", "bytes=3\n" + padding + "\n"), "c"));
}

// A push request written by hand: files whose bytes are all in one memfd.
Status raw_push(Client& c, const std::string& model_id, const std::vector<std::pair<std::string, uint64_t>>& files,
                uint64_t memfd_bytes = 64) {
  int fd = ::memfd_create("raw-push", MFD_CLOEXEC);
  std::string zeros(memfd_bytes, 'x');
  if (::write(fd, zeros.data(), zeros.size()) != static_cast<ssize_t>(zeros.size())) return internal_error("write");
  ipc::ClientFrame f;
  f.set_request_id(c.next_request_id());
  f.mutable_push_model()->set_model_id(model_id);
  for (const auto& [path, length] : files) {
    auto* file = f.mutable_push_model()->add_files();
    file->set_path(path);
    file->mutable_data()->set_fd_index(0);
    file->mutable_data()->set_length(length);
  }
  Status sent = c.send(f, {fd});
  ::close(fd);
  if (!sent.is_ok()) return sent;
  auto r = c.receive();
  if (!r) return r.status();
  if (r->has_error()) return Status(static_cast<MRT_StatusCode>(r->error().code()), r->error().message());
  return Status::ok();
}

TEST_F(UserModelsTest, PushedPathsStayInsideTheModelDirectory) {
  Daemon d(dir, {});
  auto c = d.connect();
  for (const std::string& path : std::vector<std::string>{"../x", "/etc/passwd", "a/../../b", "a/./b", "", "a//b",
                                                          "./model.yml", std::string(300, 'p'), "a/b/c/d/e/f/g/h/i"}) {
    Status s = raw_push(*c, "evil", {{"model.yml", 8}, {path, 8}});
    EXPECT_EQ(s.code(), MRT_CODE_INVALID_ARGUMENT) << "'" << path << "': " << s.to_string();
    EXPECT_NE(s.message().find("push: file path"), std::string::npos) << s.message();
  }
  // A range past the memfd's end, a path listed twice, a descriptor not sent.
  EXPECT_EQ(raw_push(*c, "evil", {{"model.yml", 100}}, 64).code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(raw_push(*c, "evil", {{"model.yml", 8}, {"model.yml", 8}}).code(), MRT_CODE_INVALID_ARGUMENT);
  // A file that is also a directory of another.
  Status both = raw_push(*c, "evil", {{"a", 8}, {"a/b", 8}});
  EXPECT_EQ(both.code(), MRT_CODE_INVALID_ARGUMENT) << both.to_string();
  // More files than a push may hold.
  std::vector<std::pair<std::string, uint64_t>> many;
  for (int i = 0; i < 257; ++i) many.push_back({"f" + std::to_string(i), 0});
  EXPECT_EQ(raw_push(*c, "evil", many).code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(raw_push(*c, "../evil", {{"model.yml", 8}}).code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_FALSE(fs::exists(home(0) / "evil"));
  EXPECT_FALSE(fs::exists(dir.path() / "state/aetherfs/user/0/x"));
  EXPECT_TRUE(staging_is_empty());
  // The connection still serves.
  EXPECT_TRUE(c->health());
}

TEST_F(UserModelsTest, ThePackerRefusesSymlinks) {
  fs::path src = model_dir("linked", "bytes=1\n");
  fs::create_symlink("/etc/passwd", src / "passwd");
  auto packed = client::pack_model_dir(src, "linked");
  ASSERT_FALSE(packed);
  EXPECT_NE(packed.status().message().find("symlink"), std::string::npos) << packed.status().message();
}

TEST_F(UserModelsTest, APushReplacesTheModelAndTheNextRequestUsesTheNewOne) {
  Daemon d(dir, {});
  auto c = d.connect();
  ASSERT_TRUE(c->push(model_dir("v1", "bytes=111\n"), "m"));
  auto first = c->describe("m");  // loads it: it is the caller's own
  ASSERT_TRUE(first) << first.status().to_string();
  EXPECT_TRUE(first->loaded());
  EXPECT_EQ(first->host_bytes(), 111u);
  ASSERT_TRUE(c->infer(identity_request(1, "m")));
  // v2 takes int64 input: a float request now fails, so the old one is gone.
  auto pushed = c->push(model_dir("v2", "bytes=222\ndtype=int64\n"), "m");
  ASSERT_TRUE(pushed) << pushed.status().to_string();
  auto second = c->describe("m");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->host_bytes(), 222u);
  EXPECT_EQ(second->inputs(0).dtype(), MRT_DTYPE_INT64);
  EXPECT_FALSE(c->infer(identity_request(1, "m")));
  EXPECT_TRUE(staging_is_empty());
  EXPECT_EQ(test::read_all(home(0) / "m/model.fixture"), "bytes=222\ndtype=int64\n");
}

TEST_F(UserModelsTest, RmRemovesOnlyTheCallersOwnModels) {
  NEEDS_ROOT();
  Daemon d(dir, {});
  auto root = d.connect();
  // Nobody removes a system model over IPC, admins included.
  Status s = root->remove("identity");
  EXPECT_EQ(s.code(), MRT_CODE_PERMISSION_DENIED) << s.to_string();
  EXPECT_NE(s.message().find("read-only"), std::string::npos) << s.message();
  EXPECT_EQ(root->remove("nothing").code(), MRT_CODE_NOT_FOUND);
  fs::path src = model_dir("mine", "bytes=5\n");
  int code = as_user(kUser, [&] {
    auto c = Client::connect(d.socket());
    if (!c) return 1;
    if (!(*c)->push(src, "mine")) return 2;
    if (!(*c)->infer(identity_request(1, "mine"))) return 3;  // loaded, cached
    if ((*c)->remove("identity").code() != MRT_CODE_PERMISSION_DENIED) return 4;
    if (!(*c)->remove("mine").is_ok()) return 5;
    if ((*c)->infer(identity_request(1, "mine")).status().code() != MRT_CODE_NOT_FOUND) return 6;
    if ((*c)->remove("mine").code() != MRT_CODE_NOT_FOUND) return 7;
    return 0;
  });
  EXPECT_EQ(code, 0) << d.log();
  EXPECT_FALSE(fs::exists(home(kUser) / "mine"));
  EXPECT_TRUE(staging_is_empty());
  EXPECT_TRUE(root->infer(identity_request(1, "identity")));
}

TEST_F(UserModelsTest, InfoLoadsOnlyWhatTheCallerMayLoad) {
  NEEDS_ROOT();
  Daemon d(dir, {});
  // An ordinary user asking about an unloaded system model: what model.yml declares.
  int code = as_user(kUser, [&] {
    auto c = Client::connect(d.socket());
    if (!c) return 1;
    auto s = (*c)->describe("identity");
    if (!s || s->loaded() || s->inputs_size() != 1 || s->inputs(0).name() != "input") return 2;
    if (s->inputs(0).dims_size() != 2 || s->inputs(0).dims(0) != -1 || s->outputs(0).name() != "output") return 3;
    if ((*c)->describe("nothing").status().code() != MRT_CODE_NOT_FOUND) return 4;
    return 0;
  });
  EXPECT_EQ(code, 0);
  // An admin loads it.
  auto s = d.connect()->describe("identity");
  ASSERT_TRUE(s) << s.status().to_string();
  EXPECT_TRUE(s->loaded());
  EXPECT_EQ(s->plugin().rfind("fixture", 0), 0u) << s->plugin();
  EXPECT_EQ(s->host_bytes(), 1000u);
}

// The `mrt` command against the daemon.
std::string run_mrt(const std::string& args, int* exit_code) {
  std::string out;
  FILE* p = ::popen((std::string(MRT_EXE) + " " + args + " 2>&1").c_str(), "r");
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = ::pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST_F(UserModelsTest, TheCliPushesDescribesAndRemoves) {
  Daemon d(dir, {});
  fs::path src = model_dir("cli-model", "bytes=321\n");
  std::string sock = "--socket " + d.socket().string() + " ";
  int rc = 0;
  std::string out = run_mrt(sock + "push " + src.string(), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("pushed cli-model: fixture-gpu on cpu"), std::string::npos) << out;
  out = run_mrt(sock + "push " + src.string() + " --as other", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(fs::exists(home(0) / "other/model.fixture"));
  out = run_mrt(sock + "info cli-model", &rc);
  EXPECT_EQ(rc, 0) << out;
  for (const char* want : {"model    cli-model (user)", "plugin   fixture-gpu", "device   cpu", "resident 321 bytes",
                           "input    input", "float32", "[?, 4]", "output   output"})
    EXPECT_NE(out.find(want), std::string::npos) << want << " in\n" << out;
  out = run_mrt(sock + "rm cli-model", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("removed cli-model"), std::string::npos) << out;
  out = run_mrt(sock + "rm cli-model", &rc);
  EXPECT_EQ(rc, 3) << out;  // not found (vnode/cli/exit_codes.h)
  EXPECT_NE(out.find("NOT_FOUND"), std::string::npos) << out;
  out = run_mrt(sock + "rm identity", &rc);
  EXPECT_EQ(rc, 5) << out;  // permission denied
  EXPECT_NE(out.find("PERMISSION_DENIED"), std::string::npos) << out;
}

}  // namespace
}  // namespace mrt
