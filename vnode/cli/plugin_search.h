// Where the tools look for plugins: the plugins of this build tree (paths
// compiled in), $MRT_PLUGIN_PATH (colon-separated directories) and the
// installed plugin directory.
#pragma once

#include <filesystem>
#include <vector>

namespace mrt {

std::vector<std::filesystem::path> builtin_plugin_files();
// $MRT_PLUGIN_PATH entries, then the installed directory when it exists.
std::vector<std::filesystem::path> default_plugin_dirs();

}  // namespace mrt
