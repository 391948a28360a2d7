#include "service_address.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace fs = std::filesystem;

namespace mrt::vnode {
namespace {

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// One entry on the way to the socket: `st` from lstat (the entry itself)
// or stat (what it resolves to).
Status check_entry(const fs::path& p, const struct stat& st, uid_t owner) {
  const std::string refuse = "socket directory " + p.string() + " ";
  if (st.st_uid != owner && st.st_uid != 0)
    return failed_precondition(refuse + "is owned by uid " + std::to_string(st.st_uid) + ", not by uid " +
                               std::to_string(owner) + " or root: refusing to serve there (remove it, or pass --socket)");
  if (S_ISLNK(st.st_mode)) return Status::ok();  // what it points to is checked on its own
  if (!S_ISDIR(st.st_mode)) return failed_precondition(refuse + "is not a directory");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)
    return failed_precondition(refuse + "is writable by group or others without the sticky bit (mode " +
                               octal_mode(st.st_mode) + "): refusing to serve there (chmod go-w, or pass --socket)");
  return Status::ok();
}

// `p` exists: the entry itself, then every directory of the path it
// resolves to, from the root down.
Status check_chain(const fs::path& p, uid_t owner) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return internal_error("lstat " + p.string() + ": " + std::strerror(errno));
  MRT_RETURN_IF_ERROR(check_entry(p, st, owner));
  std::error_code ec;
  fs::path real = fs::canonical(p, ec);
  if (ec) return internal_error("cannot resolve " + p.string() + ": " + ec.message());
  fs::path prefix;
  for (const auto& part : real) {
    prefix /= part;
    if (::stat(prefix.c_str(), &st) != 0) return internal_error("stat " + prefix.string() + ": " + std::strerror(errno));
    MRT_RETURN_IF_ERROR(check_entry(prefix, st, owner));
  }
  return Status::ok();
}

}  // namespace

Result<fs::path> socket_path_for(const std::string& address) {
  if (address.rfind("svc://", 0) != 0 || address.size() <= 6) return invalid_argument("'" + address + "' is not svc://<name>");
  std::string name = address.substr(6);
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return invalid_argument("service name '" + name + "' has a character outside [A-Za-z0-9._-]");
  fs::path base;
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && xdg[0] == '/') {
    base = fs::path(xdg) / "aetheros";
  } else {
    base = fs::path("/tmp") / ("aetheros-" + std::to_string(::getuid()));
  }
  return base / "svc" / (name + ".sock");
}

Status prepare_socket_dir(const fs::path& dir, uid_t owner) {
  std::error_code ec;
  fs::path abs = fs::absolute(dir, ec).lexically_normal();
  if (ec) return internal_error("cannot make " + dir.string() + " absolute: " + ec.message());
  // Top down: each directory is checked before anything is created in it.
  fs::path prefix;
  for (const auto& part : abs) {
    if (part.empty()) continue;  // the trailing "" of "dir/"
    prefix /= part;
    struct stat st {};
    if (::lstat(prefix.c_str(), &st) != 0) {
      if (errno != ENOENT) return internal_error("lstat " + prefix.string() + ": " + std::strerror(errno));
      bool created = ::mkdir(prefix.c_str(), 0755) == 0;
      if (!created && errno != EEXIST)
        return internal_error("cannot create socket directory " + prefix.string() + ": " + std::strerror(errno));
      if (created) ::chmod(prefix.c_str(), 0755);  // whatever the umask
    }
    MRT_RETURN_IF_ERROR(check_chain(prefix, owner));
  }
  return Status::ok();
}

}  // namespace mrt::vnode
