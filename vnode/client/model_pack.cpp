#include "model_pack.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "model_upload.h"
#include "mrt/core/model_repository.h"

namespace fs = std::filesystem;

namespace mrt::client {

PackedModel::~PackedModel() {
  if (memfd >= 0) ::close(memfd);
}

namespace {

// Appends the file at `path` to `out`; its length.
Result<uint64_t> append_file(const fs::path& path, int out) {
  int in = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return invalid_argument("push: cannot read " + path.string() + ": " + std::strerror(errno));
  std::vector<char> buffer(1 << 20);
  uint64_t total = 0;
  for (;;) {
    ssize_t r = ::read(in, buffer.data(), buffer.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      ::close(in);
      return invalid_argument("push: reading " + path.string() + ": " + std::strerror(errno));
    }
    if (r == 0) break;
    for (ssize_t done = 0; done < r;) {
      ssize_t w = ::write(out, buffer.data() + done, static_cast<size_t>(r - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        ::close(in);
        return internal_error(std::string("push: writing the memfd: ") + std::strerror(errno));
      }
      done += w;
    }
    total += static_cast<uint64_t>(r);
  }
  ::close(in);
  return total;
}

}  // namespace

Result<PackedModel> pack_model_dir(const fs::path& dir, const std::string& model_id) {
  MRT_RETURN_IF_ERROR(validate_model_id(model_id));
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec)))
    return invalid_argument("push: " + dir.string() + " is not a directory");
  std::vector<std::string> paths;
  for (fs::recursive_directory_iterator it(dir, ec), end; it != end; it.increment(ec)) {
    if (ec) return invalid_argument("push: listing " + dir.string() + ": " + ec.message());
    auto type = it->symlink_status(ec).type();
    std::string rel = fs::relative(it->path(), dir, ec).generic_string();
    if (type == fs::file_type::directory) continue;
    if (type == fs::file_type::symlink)
      return invalid_argument("push: " + it->path().string() + " is a symlink: only regular files are pushed");
    if (type != fs::file_type::regular)
      return invalid_argument("push: " + it->path().string() + " is not a regular file");
    MRT_RETURN_IF_ERROR(vnode::validate_pushed_path(rel));
    paths.push_back(rel);
    if (paths.size() > vnode::kMaxPushedFiles)
      return invalid_argument("push: " + dir.string() + " holds more than " + std::to_string(vnode::kMaxPushedFiles) +
                              " files");
  }
  if (paths.empty()) return invalid_argument("push: " + dir.string() + " holds no files");
  std::sort(paths.begin(), paths.end());
  PackedModel packed;
  packed.memfd = ::memfd_create(("push-" + model_id).c_str(), MFD_CLOEXEC);
  if (packed.memfd < 0) return internal_error(std::string("memfd_create: ") + std::strerror(errno));
  packed.request.set_model_id(model_id);
  uint64_t offset = 0;
  for (const auto& rel : paths) {
    auto n = append_file(dir / rel, packed.memfd);
    if (!n) return n.status();
    auto* f = packed.request.add_files();
    f->set_path(rel);
    f->mutable_data()->set_fd_index(0);
    f->mutable_data()->set_offset(offset);
    f->mutable_data()->set_length(*n);
    offset += *n;
  }
  return packed;
}

}  // namespace mrt::client
