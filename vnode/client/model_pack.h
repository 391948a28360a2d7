// A model directory packed for upload (`mrt push`): every file under it,
// back to back in one memfd, indexed by a PushModelRequest
// (docs/service.md, "Users' own models").
#pragma once

#include <filesystem>
#include <string>

#include "model_runtime.pb.h"
#include "mrt/core/status.h"

namespace mrt::client {

struct PackedModel {
  ipc::PushModelRequest request;
  int memfd = -1;  // owned; every file's bytes
  PackedModel() = default;
  PackedModel(PackedModel&& o) noexcept : request(std::move(o.request)), memfd(o.memfd) { o.memfd = -1; }
  PackedModel& operator=(PackedModel&&) = delete;
  ~PackedModel();
};

// Packs the regular files under `dir` (a model directory) as model
// `model_id`. Symlinks and special files are refused, naming them, and so is
// anything past the service's bounds (file count, path length and depth):
// the service would refuse them too.
Result<PackedModel> pack_model_dir(const std::filesystem::path& dir, const std::string& model_id);

}  // namespace mrt::client
