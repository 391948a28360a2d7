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

// One file as stat saw it (no file is read). Equal stamps: the file was
// not written, replaced, removed or created in between, except for a
// same-size rewrite within the clock tick of the stamped write (file times
// advance in ticks of up to 10 ms), which fingerprint_for_load rules out.
struct FileStamp {
  std::string name;  // relative to the model directory
  bool exists = false;
  uint64_t device = 0, inode = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stamp_file(const std::filesystem::path& directory, std::string name);

struct ModelLocation {
  std::string model_id;
  std::filesystem::path directory;  // host path the plugin's files are relative to
  // How errors name `directory`: its virtual path ("/home/1000/models/x")
  // for a repository model, the host path itself for locate_model_at.
  // Never a host path a client did not give.
  std::string display_directory;
  std::string primary_file;         // relative to directory; may be empty
  bool single_file = false;         // a bare model file, not a model directory
  ModelManifest manifest;
  bool has_manifest_file = false;
  FileStamp manifest_stamp;         // model.yml just before it was read (model directories)
  // The files sit on a read-only mount, so they may be memory-mapped; false
  // for writable storage and for plain host paths (MRT_ModelSource).
  bool immutable_storage = false;
};

// Describes the model at a host path (a directory or a bare file), for
// in-process use such as `mrt run <dir>`. No vfs confinement beyond the
// model's own directory. The location is not immutable_storage: nothing says
// the files cannot change, so they are read, not mapped. `display_path`
// names `path` in errors (empty = `path` itself).
Result<ModelLocation> locate_model_at(const std::filesystem::path& path, std::string model_id,
                                      std::string_view display_path = {});

// What a model's files looked like: the stamps of model.yml (present or
// not) of a model directory, of every file the manifest lists and of its
// labels file.
struct ModelFingerprint {
  std::vector<FileStamp> files;
  bool operator==(const ModelFingerprint&) const = default;
};
// The files as they are now: a few stat calls, for the check on requests.
ModelFingerprint fingerprint_model(const ModelLocation& location);

// How long after a write its stamp may still equal that of a second,
// same-size write (one clock tick, with room to spare).
inline constexpr int64_t kFileStampSlackNs = 20'000'000;

// The fingerprint to keep for a model about to be loaded from `location`,
// taken before its files are read, so that any later write shows. Files
// written less than kFileStampSlackNs ago are first left to age past that
// (a wait of at most that long; locating a model does the same for
// model.yml), so that a rewrite in the same tick cannot pass for no change.
// model.yml counts as it was when read: a manifest rewritten since shows
// as a change on the first check.
ModelFingerprint fingerprint_for_load(const ModelLocation& location);

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
