// Model repository: model_id → files on the vfs → manifest.
//
// A model is a directory <search-path>/<model_id>/ holding model.yml (or a
// single model file whose format the extension tells), or a bare model file
// <search-path>/<model_id> itself. Search paths are virtual ("/models") and
// resolved through the Vfs, so every path stays inside its mount.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mrt/core/manifest.h"
#include "mrt/core/status.h"
#include "mrt/core/vfs.h"

namespace mrt {

// `[A-Za-z0-9._-]+`, at most 128 characters, never "." or "..".
Status validate_model_id(std::string_view model_id);

struct ModelLocation {
  std::string model_id;
  std::filesystem::path directory;  // host path the plugin's files are relative to
  std::string primary_file;         // relative to directory; may be empty
  ModelManifest manifest;
  bool has_manifest_file = false;
  // The files sit on a read-only mount, so they may be memory-mapped; false
  // for writable storage and for plain host paths (MRT_ModelSource).
  bool immutable_storage = false;
};

// Describes the model at a host path (a directory or a bare file), for
// in-process use such as `mrt run <dir>`. No vfs confinement beyond the
// model's own directory. The location is not immutable_storage: nothing says
// the files cannot change, so they are read, not mapped.
Result<ModelLocation> locate_model_at(const std::filesystem::path& path, std::string model_id);

class ModelRepository {
 public:
  ModelRepository(const Vfs* vfs, std::vector<std::string> search_paths)
      : vfs_(vfs), search_paths_(std::move(search_paths)) {}

  // The first search path holding `model_id` wins. INVALID_ARGUMENT for a bad
  // id, NOT_FOUND when absent, manifest errors as they are.
  Result<ModelLocation> locate(std::string_view model_id) const;
  // Ids of every entry under the search paths that is a valid model_id.
  std::vector<std::string> list() const;

 private:
  const Vfs* vfs_;
  std::vector<std::string> search_paths_;
};

}  // namespace mrt
