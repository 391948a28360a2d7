#include "plugin_search.h"

#include <cstdlib>
#include <system_error>

#include "mrt/core/plugin_registry.h"

namespace mrt {

std::vector<std::filesystem::path> builtin_plugin_files() {
  std::vector<std::filesystem::path> out;
  for (const auto& p : split_path_list(MRT_BUILTIN_PLUGINS)) {
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) out.push_back(p);
  }
  return out;
}

std::vector<std::filesystem::path> default_plugin_dirs() {
  std::vector<std::filesystem::path> out;
  if (const char* env = std::getenv("MRT_PLUGIN_PATH")) out = split_path_list(env);
  std::error_code ec;
  if (std::filesystem::is_directory(MRT_INSTALLED_PLUGIN_DIR, ec)) out.emplace_back(MRT_INSTALLED_PLUGIN_DIR);
  return out;
}

PluginPaths plugin_paths(const std::vector<std::string>& extra_files, const std::vector<std::string>& extra_dirs) {
  PluginPaths p{builtin_plugin_files(), default_plugin_dirs()};
  p.files.insert(p.files.end(), extra_files.begin(), extra_files.end());
  p.dirs.insert(p.dirs.end(), extra_dirs.begin(), extra_dirs.end());
  return p;
}

}  // namespace mrt
