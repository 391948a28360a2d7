// Helpers for tests that edit PNG files: after an edit, a chunk's CRC is
// made right again so the change gets past libpng's CRC check into its
// parsers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mrt::test {

// The CRC-32 of PNG chunks (ISO 3309).
inline uint32_t png_crc32(const char* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= static_cast<uint8_t>(p[i]);
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return ~c;
}

// The big-endian 32-bit number at `at` (a chunk's length field).
inline uint32_t read_be32(const std::string& b, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[at])) << 24 | static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 8 | static_cast<uint8_t>(b[at + 3]);
}

// Recomputes the CRC of the chunk whose length field is at `at`; the offset
// of the next chunk, or 0 when this one runs past the end.
inline size_t fix_png_chunk_crc(std::string& png, size_t at) {
  if (at + 12 > png.size()) return 0;
  uint32_t len = read_be32(png, at);
  if (len > png.size() - at - 12) return 0;
  uint32_t crc = png_crc32(png.data() + at + 4, 4 + len);
  for (int i = 0; i < 4; ++i) png[at + 8 + len + i] = static_cast<char>(crc >> (24 - 8 * i));
  return at + 12 + len;
}

}  // namespace mrt::test
