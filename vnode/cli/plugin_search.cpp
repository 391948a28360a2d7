#include "plugin_search.h"

#include <cstdlib>
#include <system_error>

#include "mrt/core/plugin_registry.h"

namespace fs = std::filesystem;

namespace mrt {

std::optional<fs::path> build_tree_root() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec || exe.empty()) return std::nullopt;
  fs::path root = exe.parent_path().parent_path();
  if (!fs::is_regular_file(root / "meson-private" / "coredata.dat", ec)) return std::nullopt;
  return root;
}

std::vector<fs::path> builtin_plugin_files() {
  std::vector<fs::path> out;
  auto root = build_tree_root();
  if (!root) return out;
  for (const auto& p : split_path_list(MRT_BUILD_TREE_PLUGINS)) {
    std::error_code ec;
    if (fs::exists(*root / p, ec)) out.push_back(*root / p);
  }
  return out;
}

std::vector<fs::path> default_plugin_dirs() {
  std::vector<fs::path> out;
  if (const char* env = std::getenv("MRT_PLUGIN_PATH")) out = split_path_list(env);
  std::error_code ec;
  if (fs::is_directory(MRT_INSTALLED_PLUGIN_DIR, ec)) out.emplace_back(MRT_INSTALLED_PLUGIN_DIR);
  return out;
}

fs::path default_system_models_dir() {
  if (auto root = build_tree_root()) return (*root / MRT_BUILD_TREE_MODELS).lexically_normal();
  return MRT_INSTALLED_MODELS_DIR;
}

PluginPaths plugin_paths(const std::vector<std::string>& extra_files, const std::vector<std::string>& extra_dirs) {
  PluginPaths p{builtin_plugin_files(), default_plugin_dirs()};
  p.files.insert(p.files.end(), extra_files.begin(), extra_files.end());
  p.dirs.insert(p.dirs.end(), extra_dirs.begin(), extra_dirs.end());
  return p;
}

}  // namespace mrt
