#include "utf8.h"

#include <cstdio>

namespace mrt::raw {
namespace {

// The next unit at `i`: its length, and whether it is a valid character.
// An incomplete but so-far-valid sequence at the end reports `truncated`.
struct Unit {
  size_t length;
  bool valid;
  bool truncated;
};

Unit next_unit(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b = byte(i);
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b < 0x80) return {1, true, false};
  if (b >= 0xC2 && b <= 0xDF) need = 2;
  else if (b >= 0xE0 && b <= 0xEF) {
    need = 3;
    if (b == 0xE0) lo = 0xA0;  // overlong
    if (b == 0xED) hi = 0x9F;  // surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return {1, false, false};
  }
  size_t k = 1;
  for (; k < need; ++k) {
    if (i + k >= s.size()) return {k, false, true};
    unsigned char c = byte(i + k);
    bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) return {k, false, false};  // the maximal invalid subpart ends here
  }
  return {need, true, false};
}

}  // namespace

size_t utf8_complete_prefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    Unit u = next_unit(s, i);
    if (u.truncated) return i;
    i += u.length;
  }
  return i;
}

std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    Unit u = next_unit(s, i);
    if (u.valid) out.append(s.substr(i, u.length));
    else out += "\xEF\xBF\xBD";
    i += u.length;
  }
  return out;
}

size_t utf8_sequence_length(unsigned char lead) {
  return lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xe ? 3 : (lead >> 3) == 0x1e ? 4 : 1;
}

int byte_fallback_value(const std::string& piece) {
  unsigned int byte = 0;
  if (piece.size() == 6 && std::sscanf(piece.c_str(), "<0x%02X>", &byte) == 1) return static_cast<int>(byte);
  return -1;
}

}  // namespace mrt::raw
