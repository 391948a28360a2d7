// Where the tools look for plugins and models. From a build tree: the
// plugins of that build and the repository's models/; installed: the
// installed plugin and model directories. $MRT_PLUGIN_PATH (colon-separated
// directories) adds to either.
//
// An installed binary carries no path into the build tree it came from: a
// binary knows it runs from its build tree when the folder above its own
// (vnode/, tests/) is a Meson build root (meson-private/coredata.dat), and
// finds the build's plugins and models relative to that root.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mrt {

// The build root this binary runs from, or nothing when it is installed.
std::optional<std::filesystem::path> build_tree_root();

// The plugins of this build (empty when installed).
std::vector<std::filesystem::path> builtin_plugin_files();
// $MRT_PLUGIN_PATH entries, then the installed directory when it exists.
std::vector<std::filesystem::path> default_plugin_dirs();
// The directory served as aetherfs://system-models by default: the
// repository's models/ from a build tree, <datadir>/mrt/models installed.
std::filesystem::path default_system_models_dir();

// The built-in files and default directories, then the caller's extras
// (command-line flags).
struct PluginPaths {
  std::vector<std::filesystem::path> files, dirs;
};
PluginPaths plugin_paths(const std::vector<std::string>& extra_files, const std::vector<std::string>& extra_dirs);

}  // namespace mrt
