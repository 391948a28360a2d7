// Users' own models, added and removed over IPC (`mrt push`, `mrt rm`).
//
// A push's file list is checked first (relative paths, bounds, each range
// inside its memfd, the declared bytes against the AID's storage quota);
// then the files are written into a staging directory under the state
// directory, where no request can see them, counted again as written,
// validated with the router and a real load (Runtime::try_load), and only
// then renamed into /home/<AID>/models/<model_id> in one step (an existing
// model of that id is exchanged atomically, then deleted) and the cached old
// one unloaded. Whatever fails leaves nothing behind. A removal renames the
// model out of sight, unloads it and deletes it. One push or removal runs at
// a time: that bounds the memory of trial loads and keeps the quota exact.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mrt/core/runtime.h"
#include "mrt/core/status.h"

namespace mrt::ipc {
class PushModelRequest;
}

namespace mrt::vnode {

// Bounds of one push (docs/service.md, "Users' own models").
inline constexpr size_t kMaxPushedFiles = 256;
inline constexpr size_t kMaxPushedPathBytes = 255;
inline constexpr size_t kMaxPushedPathDepth = 8;

// One file of a push: its path inside the model directory and where its
// bytes are.
struct PushedFile {
  std::string path;
  int fd = -1;  // borrowed from the frame's descriptors
  uint64_t offset = 0;
  uint64_t length = 0;
};

// OK, or INVALID_ARGUMENT naming the path and what is wrong with it:
// relative, '/'-separated, at most kMaxPushedPathBytes bytes and
// kMaxPushedPathDepth components, none empty, "." or "..", no NUL.
Status validate_pushed_path(std::string_view path);

// How many descriptors a push refers to (its highest fd_index + 1).
size_t fds_wanted(const ipc::PushModelRequest& m);

// The files of a push with their descriptors: the count, every path, and
// every range (against its descriptor's size; regular files and memfds
// only) checked. Nothing is read yet.
Result<std::vector<PushedFile>> pushed_files_from_proto(const ipc::PushModelRequest& m, const std::vector<int>& fds);

// Bytes of the regular files under `path` (a file or a directory, symlinks
// not followed); 0 when it does not exist.
uint64_t stored_bytes(const std::filesystem::path& path);

// One AID's own repository: whose, where on the host, and its quota.
struct UserRepository {
  std::string aid;
  std::filesystem::path home;  // host directory of /home/<AID>/models
  uint64_t quota_bytes = 0;    // limits.per_aid.storage
};

class ModelUploads {
 public:
  // `staging` is created (0700) and emptied: a push cut short by a crash
  // leaves nothing behind. It must be on the same filesystem as the users'
  // repositories (both live under the state directory).
  static Result<std::unique_ptr<ModelUploads>> create(std::filesystem::path staging, Runtime* runtime);

  // Stages, validates and commits `files` as repo's model `model_id`. The
  // answer is the model as the trial load saw it (plugin, device, inputs,
  // outputs, bytes), not resident: the next request loads it.
  Result<ModelStatus> push(const UserRepository& repo, const std::string& model_id,
                           const std::vector<PushedFile>& files);
  // NOT_FOUND when repo holds no such model.
  Status remove(const UserRepository& repo, const std::string& model_id);

 private:
  ModelUploads(std::filesystem::path staging, Runtime* runtime) : staging_(std::move(staging)), runtime_(runtime) {}
  // A new, unused path under staging_ (not created).
  std::filesystem::path fresh_stage(const std::string& aid, std::string_view what);
  Result<uint64_t> write_files(const std::filesystem::path& stage, const std::vector<PushedFile>& files);
  Status commit(const std::filesystem::path& stage, const std::filesystem::path& target);

  std::filesystem::path staging_;
  Runtime* runtime_;
  std::mutex mutex_;  // one push or removal at a time
  uint64_t next_stage_ = 0;
};

}  // namespace mrt::vnode
