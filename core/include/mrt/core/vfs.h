// The virtual filesystem the host reads models through. A mount maps a
// virtual prefix ("/models") to a host directory; every resolved path is
// confined to its mount's directory (".." and symlinks that leave it are
// refused) and read-only mounts refuse writes. Plugins never see host paths:
// they reach model files through MRT_ModelSource, which is built on confine().
// A read-only mount is also the one storage the host memory-maps: nothing a
// caller does can change its files under the service (docs/architecture.md).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mrt/core/status.h"

namespace mrt {

enum class Access { kRead, kWrite };

struct Mount {
  std::string virtual_path;        // absolute, e.g. "/models"
  std::filesystem::path host_root; // existing directory on the host
  bool read_only = true;           // no writes through the vfs; files may be memory-mapped
};

// root / relative, refusing absolute paths, ".." escapes and symlinks that
// lead outside `root`. The result need not exist (its parent chain is
// canonicalised as far as it exists).
Result<std::filesystem::path> confine(const std::filesystem::path& root, std::string_view relative);

class Vfs {
 public:
  Status add_mount(Mount mount);
  // Maps an absolute virtual path to its confined host path.
  // PERMISSION_DENIED for writes to read-only mounts and escapes; NOT_FOUND
  // when no mount covers the path.
  Result<std::filesystem::path> resolve(std::string_view virtual_path, Access access = Access::kRead) const;
  // The mount covering an absolute virtual path (the longest prefix), or
  // NULL. Valid until the next add_mount.
  const Mount* mount_of(std::string_view virtual_path) const;
  const std::vector<Mount>& mounts() const { return mounts_; }

 private:
  std::vector<Mount> mounts_;  // longest virtual_path first
};

}  // namespace mrt
