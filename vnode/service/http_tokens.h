// Bearer tokens for the HTTP front end's loopback TCP port: each maps to
// the AID whose requests it makes (a TCP peer has no SO_PEERCRED). Read
// once at start from a file only the service may read.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mrt/core/status.h"

namespace mrt::vnode {

class BearerTokens {
 public:
  // One "<AID> <token>" per line; blank lines and '#' comments skipped.
  // Refused (naming the file and line): a file owned by another uid than
  // `owner_uid`, readable or writable by group or others, a token shorter
  // than 16 characters or used twice, an AID that is not a number.
  static Result<BearerTokens> load(const std::filesystem::path& file, uid_t owner_uid);
  // The AID of `token`; every token is compared in full whatever matches,
  // so timing says nothing of how much of a guess was right.
  std::optional<std::string> aid_for(std::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string aid;
    std::string token;
  };
  std::vector<Entry> entries_;
};

}  // namespace mrt::vnode
