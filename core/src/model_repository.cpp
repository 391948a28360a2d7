#include "mrt/core/model_repository.h"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <system_error>
#include <thread>

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

namespace {

int64_t realtime_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

// How long to wait before a file stamped with `newest` may be read, so that
// a rewrite after the read cannot keep its stamp (0 = read now). A stamp
// from the future (another clock, a touched date) changes with any write at
// the present time: no wait is needed.
int64_t wait_ns_before_read(int64_t newest) {
  int64_t age = realtime_ns() - newest;
  return age >= 0 && age < kFileStampSlackNs ? kFileStampSlackNs - age : 0;
}

// The stamp of directory/name, aged past kFileStampSlackNs before the file
// is read.
FileStamp aged_stamp(const fs::path& directory, const std::string& name) {
  FileStamp stamp = stamp_file(directory, name);
  if (int64_t wait = wait_ns_before_read(std::max(stamp.mtime_ns, stamp.ctime_ns)); wait > 0) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
    stamp = stamp_file(directory, name);  // a write meanwhile is in a later tick: the first check sees it
  }
  return stamp;
}

}  // namespace

Result<ModelLocation> locate_model_at(const fs::path& path, std::string model_id, std::string_view display_path) {
  std::error_code ec;
  ModelLocation loc;
  loc.model_id = std::move(model_id);
  std::string display = display_path.empty() ? path.string() : std::string(display_path);
  if (fs::is_regular_file(path, ec)) {
    loc.directory = fs::canonical(path, ec).parent_path();
    loc.display_directory = fs::path(display).parent_path().string();
    loc.manifest = manifest_for_bare_file(path);
    loc.primary_file = path.filename().string();
    loc.single_file = true;
    return loc;
  }
  if (!fs::is_directory(path, ec)) return not_found("model '" + loc.model_id + "' not found (no such file or directory)");
  loc.directory = fs::canonical(path, ec);
  loc.display_directory = display;
  fs::path manifest_path = loc.directory / "model.yml";
  loc.manifest_stamp = aged_stamp(loc.directory, "model.yml");  // before reading: a later write shows
  if (loc.manifest_stamp.exists) {
    auto m = read_model_manifest(manifest_path, (fs::path(loc.display_directory) / "model.yml").string());
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

FileStamp stamp_file(const fs::path& directory, std::string name) {
  FileStamp stamp;
  struct stat st{};
  if (::stat((directory / name).c_str(), &st) == 0) {
    stamp.exists = true;
    stamp.device = st.st_dev;
    stamp.inode = st.st_ino;
    stamp.size = static_cast<uint64_t>(st.st_size);
    stamp.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    stamp.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec;
  }
  stamp.name = std::move(name);
  return stamp;
}

ModelFingerprint fingerprint_model(const ModelLocation& loc) {
  ModelFingerprint fp;
  const auto& files = loc.manifest.files;
  const std::string& labels = loc.manifest.postprocess.labels;
  fp.files.reserve(files.size() + 2);
  if (!loc.single_file) fp.files.push_back(stamp_file(loc.directory, "model.yml"));
  for (const auto& f : files) fp.files.push_back(stamp_file(loc.directory, f));
  if (!labels.empty()) fp.files.push_back(stamp_file(loc.directory, labels));
  return fp;
}

ModelFingerprint fingerprint_for_load(const ModelLocation& loc) {
  ModelFingerprint fp = fingerprint_model(loc);
  int64_t newest = 0;
  for (const auto& f : fp.files) newest = std::max({newest, f.mtime_ns, f.ctime_ns});
  if (int64_t wait = wait_ns_before_read(newest); wait > 0) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
    ModelFingerprint aged = fingerprint_model(loc);
    if (aged == fp) fp = std::move(aged);  // else written meanwhile: the old stamps make the next check reload
  }
  bool stamped = !loc.manifest_stamp.name.empty();  // by locate_model_at
  if (stamped && !loc.single_file && !fp.files.empty() && fp.files.front() != loc.manifest_stamp)
    fp.files.front() = loc.manifest_stamp;  // the manifest changed after it was read
  return fp;
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
    auto loc = locate_model_at(*host, std::string(model_id), virtual_path);
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
