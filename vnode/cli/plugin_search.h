// Where the tools look for plugins: the plugins of this build tree (paths
// compiled in), $MRT_PLUGIN_PATH (colon-separated directories) and the
// installed plugin directory.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace mrt {

std::vector<std::filesystem::path> builtin_plugin_files();
// $MRT_PLUGIN_PATH entries, then the installed directory when it exists.
std::vector<std::filesystem::path> default_plugin_dirs();

// The built-in files and default directories, then the caller's extras
// (command-line flags).
struct PluginPaths {
  std::vector<std::filesystem::path> files, dirs;
};
PluginPaths plugin_paths(const std::vector<std::string>& extra_files, const std::vector<std::string>& extra_dirs);

}  // namespace mrt
