// Where svc://<name> lives on Linux: a Unix socket
//   $XDG_RUNTIME_DIR/aetheros/svc/<name>.sock, or
//   /tmp/aetheros-<uid>/svc/<name>.sock without XDG_RUNTIME_DIR.
#pragma once

#include <filesystem>
#include <string>

#include "mrt/core/status.h"

namespace mrt::vnode {

Result<std::filesystem::path> socket_path_for(const std::string& address);
inline constexpr const char* kServiceAddress = "svc://model-runtime";

}  // namespace mrt::vnode
