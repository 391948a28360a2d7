#include "mount_table.h"

#include <fstream>
#include <system_error>

namespace fs = std::filesystem;

namespace mrt::vnode {
namespace {

uint64_t directory_bytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

}  // namespace

std::string expand_aid(const std::string& pattern, const std::string& aid) {
  std::string out = pattern;
  for (size_t pos; (pos = out.find("<AID>")) != std::string::npos;) out.replace(pos, 5, aid);
  return out;
}

bool is_valid_aid(const std::string& aid) {
  if (aid.empty() || aid.size() > 10) return false;
  for (char c : aid)
    if (c < '0' || c > '9') return false;
  return true;
}

Result<fs::path> MountTable::host_path_of(const std::string& source, const std::string& aid) const {
  std::string s = expand_aid(source, aid);
  auto rel = [](const std::string& rest) -> Result<fs::path> {
    fs::path p = fs::path(rest).lexically_normal();
    if (rest.empty() || p.is_absolute() || (!p.empty() && *p.begin() == ".."))
      return invalid_argument("storage source path '" + rest + "' is not a plain relative name");
    return p;
  };
  if (s == "aetherfs://system-models") return roots_.system_models;
  if (s.rfind("aetherfs://", 0) == 0) {
    auto r = rel(s.substr(11));
    if (!r) return r.status();
    return roots_.state_dir / "aetherfs" / *r;
  }
  if (s.rfind("volatile://", 0) == 0) {
    auto r = rel(s.substr(11));
    if (!r) return r.status();
    return roots_.state_dir / "volatile" / *r;
  }
  return invalid_argument("unknown storage source '" + source + "'");
}

Result<std::unique_ptr<MountTable>> MountTable::create(const std::vector<StorageMount>& mounts,
                                                      const StorageRoots& roots) {
  std::unique_ptr<MountTable> table(new MountTable());
  MountTable& t = *table;
  t.mounts_ = mounts;
  t.roots_ = roots;
  std::error_code ec;
  for (const auto& m : mounts) {
    if (m.source.rfind("volatile://", 0) == 0) {
      // Volatile storage starts empty on every launch, like a ramdisk.
      auto dir = t.host_path_of(m.source, "0");
      if (!dir) return dir.status();
      fs::remove_all(*dir, ec);
      fs::create_directories(*dir, ec);
      if (ec) return internal_error("cannot create volatile storage " + dir->string() + ": " + ec.message());
    } else if (m.source == "aetherfs://system-models") {
      if (!fs::is_directory(roots.system_models, ec))
        return not_found("storage source " + m.source + " (" + roots.system_models.string() + ") is not a directory");
    } else if (m.source.find("<AID>") == std::string::npos) {
      auto dir = t.host_path_of(m.source, "");
      if (!dir) return dir.status();
      fs::create_directories(*dir, ec);  // state storage is created on first launch
    }
  }
  return table;
}

Result<Vfs> MountTable::vfs_for(const std::string& aid) const {
  if (!is_valid_aid(aid)) return permission_denied("invalid AID '" + aid + "'");
  Vfs vfs;
  for (const auto& m : mounts_) {
    auto dir = host_path_of(m.source, aid);
    if (!dir) return dir.status();
    std::error_code ec;
    if (m.source.find("<AID>") != std::string::npos && !fs::exists(*dir, ec)) {
      fs::create_directories(*dir, ec);
      fs::permissions(*dir, fs::perms::owner_all, ec);
    }
    MRT_RETURN_IF_ERROR(vfs.add_mount({expand_aid(m.path, aid), *dir, m.read_only}));
  }
  return vfs;
}

Status MountTable::write_file(const std::string& aid, const std::string& virtual_path, std::string_view bytes) {
  auto vfs = vfs_for(aid);
  if (!vfs) return vfs.status();
  auto host = vfs->resolve(virtual_path, Access::kWrite);
  if (!host) return host.status();
  // The mount holding the path decides the quota.
  const StorageMount* mount = nullptr;
  size_t best = 0;
  for (const auto& m : mounts_) {
    std::string p = expand_aid(m.path, aid);
    if (virtual_path.rfind(p, 0) == 0 && p.size() >= best) {
      mount = &m;
      best = p.size();
    }
  }
  std::lock_guard lock(quota_mutex_);
  if (mount && mount->size_bytes) {
    auto root = host_path_of(mount->source, aid);
    std::error_code ec;
    uint64_t used = directory_bytes(*root);
    uint64_t replaced = fs::is_regular_file(*host, ec) ? fs::file_size(*host, ec) : 0;
    if (used - replaced + bytes.size() > *mount->size_bytes)
      return resource_exhausted("writing " + std::to_string(bytes.size()) + " bytes to " + virtual_path + " would exceed " +
                                mount->path + "'s size of " + std::to_string(*mount->size_bytes) + " bytes");
  }
  std::error_code ec;
  fs::create_directories(host->parent_path(), ec);
  std::ofstream out(*host, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return internal_error("cannot write " + virtual_path);
  return Status::ok();
}

}  // namespace mrt::vnode
