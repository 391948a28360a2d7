// Where the service's socket goes: svc:// names to paths, and the checks on
// the socket's directory before the service puts anything there.
#include "service_address.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "../unit/test_support.h"

namespace fs = std::filesystem;

namespace mrt::vnode {
namespace {

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// Makes `dir` belong to someone other than the service and root. As root,
// the directory is given away (to uid 4242); otherwise the service is told
// it runs as another uid, and then the test's whole tree, from its temporary
// root down, is someone else's.
struct Stranger {
  uid_t service_uid;
  bool ok;
  fs::path first_refused;
};
Stranger make_foreign(const fs::path& dir, const fs::path& temp_root) {
  if (::geteuid() == 0) return {0, ::lchown(dir.c_str(), 4242, 4242) == 0, dir};
  return {::geteuid() + 1, true, temp_root};
}

class SocketDirTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::permissions(dir.path(), fs::perms(0700)); }
  test::TempDir dir;
  uid_t me = ::geteuid();
};

TEST(SocketPathTest, FollowsXdgRuntimeDirOrTmp) {
  const char* saved = std::getenv("XDG_RUNTIME_DIR");
  std::string keep = saved ? saved : "";
  ::setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
  EXPECT_EQ(*socket_path_for("svc://model-runtime"), fs::path("/run/user/1000/aetheros/svc/model-runtime.sock"));
  ::unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(*socket_path_for("svc://model-runtime"),
            fs::path("/tmp/aetheros-" + std::to_string(::getuid()) + "/svc/model-runtime.sock"));
  EXPECT_FALSE(socket_path_for("svc://../x"));
  EXPECT_FALSE(socket_path_for("tcp://x"));
  if (saved) ::setenv("XDG_RUNTIME_DIR", keep.c_str(), 1);
}

TEST_F(SocketDirTest, CreatesMissingDirectories0755WhateverTheUmask) {
  mode_t old = ::umask(077);
  Status s = prepare_socket_dir(dir.path() / "aetheros-1000" / "svc", me);
  ::umask(old);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(mode_of(dir.path() / "aetheros-1000"), 0755u);
  EXPECT_EQ(mode_of(dir.path() / "aetheros-1000" / "svc"), 0755u);
  EXPECT_TRUE(prepare_socket_dir(dir.path() / "aetheros-1000" / "svc", me).is_ok());  // again: nothing to do
}

TEST_F(SocketDirTest, AcceptsAStickyWorldWritableDirectory) {
  fs::create_directory(dir.path() / "tmp");
  ::chmod((dir.path() / "tmp").c_str(), 01777);
  Status s = prepare_socket_dir(dir.path() / "tmp" / "aetheros-1000" / "svc", me);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
}

TEST_F(SocketDirTest, RefusesGroupOrWorldWritableDirectories) {
  for (mode_t mode : {0775u, 0757u, 0777u}) {
    fs::path d = dir.path() / ("open-" + std::to_string(mode));
    fs::create_directory(d);
    ::chmod(d.c_str(), mode);
    Status s = prepare_socket_dir(d / "svc", me);
    EXPECT_EQ(s.code(), MRT_CODE_FAILED_PRECONDITION) << mode;
    EXPECT_NE(s.message().find(d.string() + " is writable by group or others without the sticky bit"),
              std::string::npos) << s.message();
    EXPECT_FALSE(fs::exists(d / "svc")) << "nothing is created in a directory that failed the check";
  }
}

TEST_F(SocketDirTest, RefusesADirectoryOwnedBySomeoneElse) {
  fs::path d = dir.path() / "aetheros-1000";
  fs::create_directory(d);
  ::chmod(d.c_str(), 0755);
  Stranger s = make_foreign(d, dir.path());
  ASSERT_TRUE(s.ok);
  Status st = prepare_socket_dir(d / "svc", s.service_uid);
  EXPECT_EQ(st.code(), MRT_CODE_FAILED_PRECONDITION);
  EXPECT_NE(st.message().find(s.first_refused.string() + " is owned by uid "), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("--socket"), std::string::npos) << "says what to do instead";
  EXPECT_FALSE(fs::exists(d / "svc"));
}

TEST_F(SocketDirTest, ChecksWhereASymlinkLeads) {
  fs::create_directory(dir.path() / "open");
  ::chmod((dir.path() / "open").c_str(), 0777);
  fs::create_directory_symlink(dir.path() / "open", dir.path() / "aetheros-1000");
  Status s = prepare_socket_dir(dir.path() / "aetheros-1000" / "svc", me);
  EXPECT_EQ(s.code(), MRT_CODE_FAILED_PRECONDITION);
  EXPECT_NE(s.message().find((dir.path() / "open").string()), std::string::npos) << s.message();

  // A safe target is fine, unless the link itself belongs to someone else
  // (who could point it elsewhere later).
  fs::create_directory(dir.path() / "safe");
  ::chmod((dir.path() / "safe").c_str(), 0755);
  fs::create_directory_symlink(dir.path() / "safe", dir.path() / "link");
  EXPECT_TRUE(prepare_socket_dir(dir.path() / "link" / "svc", me).is_ok());
  if (::geteuid() == 0) {  // only root can give the link away
    Stranger st = make_foreign(dir.path() / "link", dir.path());
    ASSERT_TRUE(st.ok);
    Status s2 = prepare_socket_dir(dir.path() / "link" / "svc", st.service_uid);
    EXPECT_EQ(s2.code(), MRT_CODE_FAILED_PRECONDITION);
    EXPECT_NE(s2.message().find((dir.path() / "link").string() + " is owned by uid 4242"), std::string::npos)
        << s2.message();
  }
}

TEST_F(SocketDirTest, RefusesAFileInTheWay) {
  dir.write("aetheros-1000", "not a directory");
  Status s = prepare_socket_dir(dir.path() / "aetheros-1000" / "svc", me);
  EXPECT_EQ(s.code(), MRT_CODE_FAILED_PRECONDITION) << s.to_string();
  EXPECT_NE(s.message().find("is not a directory"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace mrt::vnode
