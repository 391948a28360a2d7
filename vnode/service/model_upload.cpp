#include "model_upload.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "model_runtime.pb.h"
#include "mrt/core/model_repository.h"

namespace fs = std::filesystem;

namespace mrt::vnode {
namespace {

std::string errno_text() { return std::strerror(errno); }

// Removes a staging directory when the push that made it does not commit.
struct StageGuard {
  fs::path path;
  ~StageGuard() {
    if (path.empty()) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Opens `relative` for writing inside `root`, creating its directories
// (0700). The paths were validated, and root is a fresh directory only this
// service writes, so no component can be a symlink; O_NOFOLLOW and O_EXCL
// say so anyway.
Result<int> create_file_in(const fs::path& root, const std::string& relative) {
  fs::path dir = root;
  fs::path rel(relative);
  for (auto it = rel.begin(); it != rel.end(); ++it) {
    if (std::next(it) == rel.end()) break;
    dir /= *it;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return internal_error("push: creating directory for '" + relative + "': " + errno_text());
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return invalid_argument("push: '" + relative + "' needs '" + fs::relative(dir, root).string() +
                              "' to be a directory, but it is also a file of the push");
  }
  int fd = ::open((root / rel).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST)
    return invalid_argument("push: '" + relative + "' is listed twice, or is also a directory");
  if (fd < 0) return internal_error("push: creating '" + relative + "': " + errno_text());
  return fd;
}

// Copies `f`'s range of its descriptor into `out`; the bytes written.
Result<uint64_t> copy_range(const PushedFile& f, int out) {
  std::vector<char> buffer(std::min<uint64_t>(f.length, uint64_t{1} << 20));
  uint64_t done = 0;
  while (done < f.length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), f.length - done));
    ssize_t r = ::pread(f.fd, buffer.data(), want, static_cast<off_t>(f.offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return invalid_argument("push: reading '" + f.path + "' from its memfd: " + errno_text());
    if (r == 0) return invalid_argument("push: the memfd of '" + f.path + "' shrank while it was read");
    size_t written = 0;
    while (written < static_cast<size_t>(r)) {
      ssize_t w = ::write(out, buffer.data() + written, static_cast<size_t>(r) - written);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return internal_error("push: writing '" + f.path + "': " + errno_text());
      written += static_cast<size_t>(w);
    }
    done += static_cast<uint64_t>(r);
  }
  return done;
}

// A staged model's errors name its files by their host path under the
// staging directory; the caller knows them as <model_id>/<file>.
Status as_pushed(const Status& s, const fs::path& stage, const std::string& model_id) {
  std::string message = s.message();
  std::error_code ec;
  for (const fs::path& p : {fs::canonical(stage, ec), stage}) {
    const std::string host = p.string() + "/";
    if (p.empty()) continue;
    for (size_t at; (at = message.find(host)) != std::string::npos;) message.replace(at, host.size(), model_id + "/");
  }
  return Status(s.code(), message);
}

uint64_t saturating_add(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

Status over_quota(const UserRepository& repo, const std::string& model_id, uint64_t bytes, uint64_t total) {
  return resource_exhausted("push of '" + model_id + "' (" + std::to_string(bytes) + " bytes) would bring AID " +
                            repo.aid + "'s models to " + std::to_string(total) +
                            " bytes, over limits.per_aid.storage (" + std::to_string(repo.quota_bytes) + " bytes)");
}

}  // namespace

Status validate_pushed_path(std::string_view path) {
  auto bad = [&](const std::string& why) {
    return invalid_argument("push: file path '" + std::string(path.substr(0, 64)) + "' " + why);
  };
  if (path.empty()) return bad("is empty");
  if (path.size() > kMaxPushedPathBytes) return bad("is longer than " + std::to_string(kMaxPushedPathBytes) + " bytes");
  if (path.find('\0') != std::string_view::npos) return bad("holds a NUL byte");
  if (path.front() == '/') return bad("is absolute: paths are relative to the model directory");
  size_t depth = 0;
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty()) return bad("has an empty component");
    if (part == "." || part == "..") return bad("has a '" + std::string(part) + "' component");
    if (++depth > kMaxPushedPathDepth)
      return bad("is deeper than " + std::to_string(kMaxPushedPathDepth) + " components");
    start = end + 1;
  }
  return Status::ok();
}

size_t fds_wanted(const ipc::PushModelRequest& m) {
  size_t wanted = 0;
  for (const auto& f : m.files()) wanted = std::max<size_t>(wanted, size_t{f.data().fd_index()} + 1);
  return wanted;
}

Result<std::vector<PushedFile>> pushed_files_from_proto(const ipc::PushModelRequest& m, const std::vector<int>& fds) {
  if (m.files_size() == 0) return invalid_argument("push: no files");
  if (static_cast<size_t>(m.files_size()) > kMaxPushedFiles)
    return invalid_argument("push: " + std::to_string(m.files_size()) + " files, more than " +
                            std::to_string(kMaxPushedFiles));
  std::vector<PushedFile> out;
  std::set<std::string> seen;
  for (const auto& f : m.files()) {
    MRT_RETURN_IF_ERROR(validate_pushed_path(f.path()));
    if (!seen.insert(f.path()).second) return invalid_argument("push: '" + f.path() + "' is listed twice");
    if (!f.has_data()) return invalid_argument("push: '" + f.path() + "' has no data");
    const ipc::MemfdRef& ref = f.data();
    if (ref.fd_index() >= fds.size())
      return invalid_argument("push: '" + f.path() + "' names descriptor " + std::to_string(ref.fd_index()) + " but " +
                              std::to_string(fds.size()) + " came with the frame");
    int fd = fds[ref.fd_index()];
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
      return invalid_argument("push: the descriptor of '" + f.path() + "' is not a memfd or regular file");
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (ref.offset() > size || ref.length() > size - ref.offset())
      return invalid_argument("push: '" + f.path() + "' spans bytes " + std::to_string(ref.offset()) + "+" +
                              std::to_string(ref.length()) + " of a memfd of " + std::to_string(size) + " bytes");
    out.push_back({f.path(), fd, ref.offset(), ref.length()});
  }
  return out;
}

uint64_t stored_bytes(const fs::path& path) {
  std::error_code ec;
  auto st = fs::symlink_status(path, ec);
  if (ec) return 0;
  if (fs::is_regular_file(st)) return fs::file_size(path, ec);
  if (!fs::is_directory(st)) return 0;
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  return total;
}

Result<std::unique_ptr<ModelUploads>> ModelUploads::create(fs::path staging, Runtime* runtime) {
  std::error_code ec;
  fs::remove_all(staging, ec);
  if (::mkdir(staging.c_str(), 0700) != 0)
    return internal_error("cannot create the upload staging directory " + staging.string() + ": " + errno_text());
  return std::unique_ptr<ModelUploads>(new ModelUploads(std::move(staging), runtime));
}

fs::path ModelUploads::fresh_stage(const std::string& aid, std::string_view what) {
  return staging_ / (aid + "." + std::to_string(++next_stage_) + "." + std::string(what));
}

Result<uint64_t> ModelUploads::write_files(const fs::path& stage, const std::vector<PushedFile>& files) {
  if (::mkdir(stage.c_str(), 0700) != 0)
    return internal_error("push: creating " + stage.string() + ": " + errno_text());
  uint64_t total = 0;
  for (const PushedFile& f : files) {
    auto out = create_file_in(stage, f.path);
    if (!out) return out.status();
    auto n = copy_range(f, *out);
    if (::close(*out) != 0 && n) return internal_error("push: closing '" + f.path + "': " + errno_text());
    if (!n) return n.status();
    total += *n;
  }
  return total;
}

Status ModelUploads::commit(const fs::path& stage, const fs::path& target) {
  struct stat st {};
  bool replacing = ::lstat(target.c_str(), &st) == 0;
  // Replacing exchanges the two in one step: a request sees the old model
  // or the new one, never neither. The old one is then in `stage`.
  unsigned flags = replacing ? RENAME_EXCHANGE : RENAME_NOREPLACE;
  if (::renameat2(AT_FDCWD, stage.c_str(), AT_FDCWD, target.c_str(), flags) != 0) {
    if (errno == EXDEV)
      return internal_error("push: the staging directory " + staging_.string() +
                            " is on another filesystem than the users' models");
    return internal_error("push: moving the model into place: " + errno_text());
  }
  return Status::ok();
}

Result<ModelStatus> ModelUploads::push(const UserRepository& repo, const std::string& model_id,
                                       const std::vector<PushedFile>& files) {
  MRT_RETURN_IF_ERROR(validate_model_id(model_id));
  std::lock_guard lock(mutex_);
  const fs::path target = repo.home / model_id;
  // The quota, from the declared sizes, before anything is written. A model
  // being replaced is not counted: it goes when the new one comes.
  const uint64_t others = stored_bytes(repo.home) - stored_bytes(target);
  uint64_t declared = 0;
  for (const PushedFile& f : files) declared = saturating_add(declared, f.length);
  if (saturating_add(others, declared) > repo.quota_bytes)
    return over_quota(repo, model_id, declared, saturating_add(others, declared));

  StageGuard guard{fresh_stage(repo.aid, "push")};
  auto written = write_files(guard.path, files);
  if (!written) return written.status();
  // And again from what is really on disk.
  const uint64_t real = stored_bytes(guard.path);
  if (others + real > repo.quota_bytes) return over_quota(repo, model_id, real, others + real);

  // The router and a real load decide whether it is a model at all.
  auto location = locate_model_at(guard.path, model_id);
  if (!location)
    return as_pushed(location.status(), guard.path, model_id)
        .with_context("pushed model '" + model_id + "' is not a model");
  auto status = runtime_->try_load(*location);
  if (!status)
    return as_pushed(status.status(), guard.path, model_id)
        .with_context("pushed model '" + model_id + "' does not load");

  std::error_code ec;
  fs::create_directories(repo.home, ec);
  MRT_RETURN_IF_ERROR(commit(guard.path, target));
  // Served from now on: drop the cached old model, so it is never served stale.
  (void)runtime_->unload(model_id, "aid:" + repo.aid);
  status->model_id = model_id;
  status->scope = "aid:" + repo.aid;
  return *status;  // the guard deletes the old model (or nothing)
}

Status ModelUploads::remove(const UserRepository& repo, const std::string& model_id) {
  MRT_RETURN_IF_ERROR(validate_model_id(model_id));
  std::lock_guard lock(mutex_);
  const fs::path target = repo.home / model_id;
  struct stat st {};
  if (::lstat(target.c_str(), &st) != 0) return not_found("model '" + model_id + "' is not one of your models");
  // Out of sight first, so no new request can load it, then out of the cache.
  StageGuard guard{fresh_stage(repo.aid, "rm")};
  if (::rename(target.c_str(), guard.path.c_str()) != 0) {
    guard.path.clear();
    return internal_error("remove: moving '" + model_id + "' away: " + errno_text());
  }
  (void)runtime_->unload(model_id, "aid:" + repo.aid);
  return Status::ok();
}

}  // namespace mrt::vnode
