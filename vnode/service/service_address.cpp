#include "service_address.h"

#include <unistd.h>

#include <cstdlib>

namespace mrt::vnode {

Result<std::filesystem::path> socket_path_for(const std::string& address) {
  if (address.rfind("svc://", 0) != 0 || address.size() <= 6) return invalid_argument("'" + address + "' is not svc://<name>");
  std::string name = address.substr(6);
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return invalid_argument("service name '" + name + "' has a character outside [A-Za-z0-9._-]");
  std::filesystem::path base;
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && xdg[0] == '/') {
    base = std::filesystem::path(xdg) / "aetheros";
  } else {
    base = std::filesystem::path("/tmp") / ("aetheros-" + std::to_string(::getuid()));
  }
  return base / "svc" / (name + ".sock");
}

}  // namespace mrt::vnode
