// The service's storage: the manifest's mounts bound to host directories.
//
//   aetherfs://system-models  → the system model folder (the repo's models/
//                               by default)
//   aetherfs://<name>         → <state-dir>/aetherfs/<name>   (<AID> expanded)
//   volatile://<name>         → <state-dir>/volatile/<name>, emptied at start,
//                               writes kept within the mount's size
//
// vfs_for(aid) gives the Vfs one client sees: every mount with <AID>
// replaced by that client's AID, so a client reaches /models and its own
// /home/<AID>/models only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mrt/core/vfs.h"
#include "vnode_manifest.h"

namespace mrt::vnode {

struct StorageRoots {
  std::filesystem::path state_dir;      // aetherfs:// and volatile:// live here
  std::filesystem::path system_models;  // aetherfs://system-models
};

class MountTable {
 public:
  static Result<std::unique_ptr<MountTable>> create(const std::vector<StorageMount>& mounts, const StorageRoots& roots);

  // The mounts as client `aid` sees them. Creates the client's own
  // directories on first use.
  Result<Vfs> vfs_for(const std::string& aid) const;
  // Writes a file through the vfs of `aid`: PERMISSION_DENIED on ro mounts
  // and escapes, RESOURCE_EXHAUSTED past a volatile mount's size.
  Status write_file(const std::string& aid, const std::string& virtual_path, std::string_view bytes);
  // Host directory a source URI maps to (with <AID> expanded).
  Result<std::filesystem::path> host_path_of(const std::string& source, const std::string& aid) const;

 private:
  MountTable() = default;
  std::vector<StorageMount> mounts_;
  StorageRoots roots_;
  std::mutex quota_mutex_;
};

// "<AID>" in `pattern` replaced by `aid`.
std::string expand_aid(const std::string& pattern, const std::string& aid);
// An AID is the decimal uid of the peer: digits only.
bool is_valid_aid(const std::string& aid);

}  // namespace mrt::vnode
