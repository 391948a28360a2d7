#include "http_tokens.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace mrt::vnode {

Result<BearerTokens> BearerTokens::load(const std::filesystem::path& file, uid_t owner_uid) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return not_found("HTTP tokens file " + file.string() + " does not exist");
  if (st.st_uid != owner_uid)
    return permission_denied("HTTP tokens file " + file.string() + " is owned by uid " + std::to_string(st.st_uid) +
                             ", not by the service's uid " + std::to_string(owner_uid));
  if (st.st_mode & 077)
    return permission_denied("HTTP tokens file " + file.string() +
                             " is accessible by group or others: chmod 600 it (its tokens act as their AIDs)");
  std::ifstream in(file);
  if (!in) return permission_denied("cannot read HTTP tokens file " + file.string());
  BearerTokens t;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    auto where = file.string() + ":" + std::to_string(n);
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string aid, token, extra;
    if (!(words >> aid)) continue;
    if (!(words >> token) || (words >> extra)) return invalid_argument(where + ": expected '<AID> <token>'");
    if (aid.find_first_not_of("0123456789") != std::string::npos || aid.size() > 10)
      return invalid_argument(where + ": the AID must be a number");
    if (token.size() < 16) return invalid_argument(where + ": a token must be at least 16 characters");
    for (const auto& e : t.entries_)
      if (e.token == token) return invalid_argument(where + ": this token is already given to AID " + e.aid);
    t.entries_.push_back({std::to_string(std::stoul(aid)), token});
  }
  return t;
}

std::optional<std::string> BearerTokens::aid_for(std::string_view token) const {
  std::optional<std::string> found;
  for (const auto& e : entries_) {
    // Constant time for tokens of one length; lengths differ only by what
    // the file holds, never by the guess's content.
    unsigned diff = e.token.size() != token.size();
    for (size_t i = 0; i < e.token.size(); ++i) diff |= static_cast<unsigned char>(e.token[i]) ^
                                                       static_cast<unsigned char>(i < token.size() ? token[i] : 0);
    if (diff == 0) found = e.aid;
  }
  return found;
}

}  // namespace mrt::vnode
