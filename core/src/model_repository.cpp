#include "mrt/core/model_repository.h"

#include <algorithm>
#include <set>
#include <system_error>

namespace fs = std::filesystem;

namespace mrt {

Status validate_model_id(std::string_view id) {
  if (id.empty()) return invalid_argument("model_id is empty");
  if (id.size() > 128) return invalid_argument("model_id is longer than 128 characters");
  if (id == "." || id == "..") return invalid_argument("model_id '" + std::string(id) + "' is not allowed");
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      std::string shown = (c >= 0x20 && c < 0x7f) ? std::string(1, c) : "\\x" + std::to_string(static_cast<unsigned char>(c));
      return invalid_argument("model_id contains '" + shown + "'; allowed: A-Z a-z 0-9 . _ -");
    }
  }
  return Status::ok();
}

Result<ModelLocation> locate_model_at(const fs::path& path, std::string model_id) {
  std::error_code ec;
  ModelLocation loc;
  loc.model_id = std::move(model_id);
  if (fs::is_regular_file(path, ec)) {
    loc.directory = fs::canonical(path, ec).parent_path();
    loc.manifest = manifest_for_bare_file(path);
    loc.primary_file = path.filename().string();
    return loc;
  }
  if (!fs::is_directory(path, ec)) return not_found("model '" + loc.model_id + "' not found (no such file or directory)");
  loc.directory = fs::canonical(path, ec);
  fs::path manifest_path = loc.directory / "model.yml";
  if (fs::exists(manifest_path, ec)) {
    auto m = read_model_manifest(manifest_path);
    if (!m) return m.status();
    loc.manifest = std::move(*m);
    loc.has_manifest_file = true;
    loc.primary_file = loc.manifest.files.empty() ? "" : loc.manifest.files.front();
    return loc;
  }
  // No manifest: the one file of a known format, or else the directory's
  // only file (its format left for the plugins' probes to recognise).
  std::vector<fs::path> candidates, files;
  for (const auto& entry : fs::directory_iterator(loc.directory, ec)) {
    if (!entry.is_regular_file()) continue;
    files.push_back(entry.path());
    if (format_from_extension(entry.path())) candidates.push_back(entry.path());
  }
  if (candidates.empty() && files.size() == 1) candidates = files;
  if (candidates.empty()) return not_found("model '" + loc.model_id + "' has no model.yml and no single model file");
  if (candidates.size() > 1) return failed_precondition("model '" + loc.model_id + "' has several model files and no model.yml to choose one");
  loc.manifest = manifest_for_bare_file(candidates.front());
  loc.primary_file = candidates.front().filename().string();
  return loc;
}

Result<ModelLocation> ModelRepository::locate(std::string_view model_id) const {
  MRT_RETURN_IF_ERROR(validate_model_id(model_id));
  for (const auto& search : search_paths_) {
    std::string virtual_path = search + "/" + std::string(model_id);
    auto host = vfs_->resolve(virtual_path);
    if (!host) {
      if (host.status().code() == MRT_CODE_NOT_FOUND) continue;
      return host.status();
    }
    std::error_code ec;
    if (!fs::exists(*host, ec)) continue;
    auto loc = locate_model_at(*host, std::string(model_id));
    if (!loc) return loc;
    const Mount* mount = vfs_->mount_of(virtual_path);
    loc->immutable_storage = mount != nullptr && mount->read_only;
    return loc;
  }
  return not_found("model '" + std::string(model_id) + "' not found in the model repository");
}

std::vector<std::string> ModelRepository::list() const {
  std::set<std::string> ids;
  for (const auto& search : search_paths_) {
    auto host = vfs_->resolve(search);
    if (!host) continue;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(*host, ec)) {
      std::string id = entry.path().filename().string();
      if (validate_model_id(id).is_ok()) ids.insert(id);
    }
  }
  return {ids.begin(), ids.end()};
}

}  // namespace mrt
