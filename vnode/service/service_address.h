// Where svc://<name> lives on Linux: a Unix socket
//   $XDG_RUNTIME_DIR/aetheros/svc/<name>.sock, or
//   /tmp/aetheros-<uid>/svc/<name>.sock without XDG_RUNTIME_DIR.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "mrt/core/status.h"

namespace mrt::vnode {

Result<std::filesystem::path> socket_path_for(const std::string& address);
inline constexpr const char* kServiceAddress = "svc://model-runtime";

// Makes `dir` safe to hold the service's socket, before anything is put
// there. Missing directories are created 0755 (clients must reach the
// socket). Every directory on the way, and every directory the path
// resolves to, must be owned by `owner` or root and not writable by group
// or others unless sticky (/tmp): otherwise another local user could have
// made /tmp/aetheros-<uid> first and would own what the clients connect to.
// FAILED_PRECONDITION names the offending directory and why.
Status prepare_socket_dir(const std::filesystem::path& dir, uid_t owner);

}  // namespace mrt::vnode
