#include "mrt/core/vfs.h"

#include <algorithm>
#include <system_error>

namespace fs = std::filesystem;

namespace mrt {
namespace {

// True when `path` is `root` or lies beneath it (both canonical).
bool is_within(const fs::path& root, const fs::path& path) {
  auto r = root.begin(), p = path.begin();
  for (; r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // trailing separator of root
    if (p == path.end() || *r != *p) return false;
  }
  return true;
}

}  // namespace

Result<fs::path> confine(const fs::path& root, std::string_view relative) {
  if (relative.find('\0') != std::string_view::npos) return permission_denied("path contains a NUL byte");
  fs::path rel(relative);
  if (rel.is_absolute()) return permission_denied("absolute path '" + std::string(relative) + "' is not allowed");
  fs::path normal = rel.lexically_normal();
  if (!normal.empty() && *normal.begin() == "..")
    return permission_denied("path '" + std::string(relative) + "' leaves its directory");
  std::error_code ec;
  fs::path canon_root = fs::canonical(root, ec);
  if (ec) return not_found("directory '" + root.string() + "' does not exist");
  // weakly_canonical resolves symlinks along the existing prefix, so a link
  // pointing outside the root is caught by the containment check below.
  fs::path full = fs::weakly_canonical(canon_root / normal, ec);
  if (ec) return permission_denied("cannot resolve '" + std::string(relative) + "': " + ec.message());
  if (!is_within(canon_root, full))
    return permission_denied("path '" + std::string(relative) + "' resolves outside its directory");
  return full;
}

Status Vfs::add_mount(Mount mount) {
  if (mount.virtual_path.empty() || mount.virtual_path.front() != '/')
    return invalid_argument("mount point '" + mount.virtual_path + "' is not absolute");
  while (mount.virtual_path.size() > 1 && mount.virtual_path.back() == '/') mount.virtual_path.pop_back();
  std::error_code ec;
  if (!fs::is_directory(mount.host_root, ec))
    return not_found("mount source '" + mount.host_root.string() + "' for '" + mount.virtual_path + "' is not a directory");
  mounts_.push_back(std::move(mount));
  std::stable_sort(mounts_.begin(), mounts_.end(),
                   [](const Mount& a, const Mount& b) { return a.virtual_path.size() > b.virtual_path.size(); });
  return Status::ok();
}

const Mount* Vfs::mount_of(std::string_view virtual_path) const {
  for (const Mount& m : mounts_) {
    std::string_view prefix = m.virtual_path;
    bool covers = virtual_path == prefix ||
                  (virtual_path.substr(0, prefix.size()) == prefix &&
                   (prefix == "/" || virtual_path[prefix.size()] == '/'));
    if (covers) return &m;
  }
  return nullptr;
}

Result<fs::path> Vfs::resolve(std::string_view virtual_path, Access access) const {
  if (virtual_path.empty() || virtual_path.front() != '/')
    return invalid_argument("virtual path '" + std::string(virtual_path) + "' is not absolute");
  const Mount* m = mount_of(virtual_path);
  if (m == nullptr) return not_found("no mount covers '" + std::string(virtual_path) + "'");
  if (access == Access::kWrite && m->read_only)
    return permission_denied("'" + std::string(virtual_path) + "' is on read-only mount " + m->virtual_path);
  std::string_view rest = virtual_path.substr(std::min(m->virtual_path.size(), virtual_path.size()));
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  auto host = confine(m->host_root, rest);
  // confine names the host directory when the mount's storage is gone; a
  // caller knows only virtual paths.
  if (!host && host.status().code() == MRT_CODE_NOT_FOUND)
    return not_found("the storage of " + m->virtual_path + " is not available");
  return host;
}

}  // namespace mrt
