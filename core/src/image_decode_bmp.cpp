// BMP, decoded here: stb_image's BMP reader (still in 2.30) reads palette
// entries the file never wrote and, past its non-aborting checks, indexes
// its tables with header values. This reader takes what stb took —
// BITMAPCOREHEADER (12 bytes), INFO (40), V3 (56), V4 (108) and V5 (124)
// headers; 1, 4 and 8 bits per pixel with a palette; 16 and 32 bits with
// default or BI_BITFIELDS masks; 24 bits — bounds every read, and refuses
// RLE and embedded JPEG/PNG (as stb did) and pixel data that ends early.
// Samples are widened as stb widened them, and alpha is dropped.
#include <bit>
#include <cstring>

#include "image_formats.h"

namespace mrt::image_formats {
namespace {

uint32_t u16(const uint8_t* p) { return p[0] | p[1] << 8; }
uint32_t u32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }

Status corrupt(const std::string& why) { return invalid_argument("corrupt bmp image: " + why); }

// One colour field of a 16/32-bit pixel: its top 8 bits, narrower fields
// widened by repeating their bits (stb_image's stbi__shiftsigned).
struct Field {
  int high = 0, bits = 0;  // the mask's highest bit; its number of bits
  explicit Field(uint32_t mask) : high(31 - std::countl_zero(mask)), bits(std::popcount(mask)) {}
  uint8_t operator()(uint32_t v, uint32_t mask) const {
    static constexpr unsigned mul[9] = {0, 0xff, 0x55, 0x49, 0x11, 0x21, 0x41, 0x81, 0x01};
    static constexpr unsigned shift[9] = {0, 0, 0, 1, 0, 2, 4, 6, 0};
    v &= mask;
    v = high >= 7 ? v >> (high - 7) : v << (7 - high);  // the top bit to bit 7
    v = (v & 0xff) >> (8 - bits);
    return static_cast<uint8_t>((v * mul[bits]) >> shift[bits]);
  }
};

}  // namespace

Result<DecodedImage> decode_bmp(std::string_view encoded, int channels, int64_t max_pixels) {
  const auto* b = reinterpret_cast<const uint8_t*>(encoded.data());
  size_t size = encoded.size();
  if (size < 14 + 12) return corrupt("the header ends early");
  uint32_t offset = u32(b + 10), hsz = u32(b + 14);
  if (hsz != 12 && hsz != 40 && hsz != 56 && hsz != 108 && hsz != 124)
    return corrupt("unknown header size " + std::to_string(hsz));
  if (size < 14 + hsz) return corrupt("the header ends early");
  const uint8_t* h = b + 14;
  int64_t width, height;
  uint32_t bpp, compression = 0;
  bool top_down = false;
  if (hsz == 12) {
    width = u16(h + 4), height = u16(h + 6);
    if (u16(h + 8) != 1) return corrupt("planes is not 1");
    bpp = u16(h + 10);
  } else {
    width = static_cast<int32_t>(u32(h + 4)), height = static_cast<int32_t>(u32(h + 8));
    if (u16(h + 12) != 1) return corrupt("planes is not 1");
    bpp = u16(h + 14);
    compression = u32(h + 16);
    top_down = height < 0;
    height = top_down ? -height : height;
  }
  if (compression == 1 || compression == 2) return invalid_argument("unsupported bmp image: RLE compression");
  if (compression > 3) return invalid_argument("unsupported bmp image: compression " + std::to_string(compression));
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
    return corrupt(std::to_string(bpp) + " bits per pixel");
  if (compression == 3 && bpp != 16 && bpp != 32) return corrupt("bit fields need 16 or 32 bits per pixel");
  MRT_RETURN_IF_ERROR(check_size("bmp", width, height, max_pixels));

  // Colour masks (16 and 32 bits): BI_BITFIELDS reads them after an INFO
  // header or inside a larger one; otherwise 5-5-5 or 8-8-8.
  uint32_t masks[3] = {31u << 10, 31u << 5, 31u};
  if (bpp == 32) masks[0] = 0xffu << 16, masks[1] = 0xffu << 8, masks[2] = 0xffu;
  size_t header_end = 14 + hsz;
  if (compression == 3) {
    const uint8_t* m = hsz == 40 ? b + header_end : h + 40;
    if (hsz == 40) header_end += 12;
    if (size < header_end) return corrupt("the header ends early");
    for (int i = 0; i < 3; ++i) masks[i] = u32(m + 4 * i);
    for (uint32_t mask : masks)
      if (mask == 0 || std::popcount(mask) > 8) return corrupt("bad colour masks");
    if (masks[0] == masks[1] && masks[1] == masks[2]) return corrupt("bad colour masks");
  }

  // The palette lies between the headers and the pixels (stb sized it from
  // the offset too; biClrUsed is often 0). Indices past it are black.
  uint8_t palette[256][3] = {};
  if (bpp <= 8) {
    size_t entry = hsz == 12 ? 3 : 4;
    if (offset < header_end + entry || offset > size) return corrupt("no palette");
    size_t count = std::min<size_t>(256, (offset - header_end) / entry);
    for (size_t i = 0; i < count; ++i) {
      const uint8_t* e = b + header_end + i * entry;
      palette[i][0] = e[2], palette[i][1] = e[1], palette[i][2] = e[0];
    }
  }
  if (offset < header_end) return corrupt("the pixel data overlaps the header");
  size_t stride = (static_cast<size_t>(width) * bpp + 31) / 32 * 4;
  if (offset > size || (size - offset) / stride < static_cast<size_t>(height))
    return corrupt("the pixel data ends early");

  size_t pixels = static_cast<size_t>(width) * height;
  std::vector<uint8_t> rgb(pixels * 3);
  Field fields[3] = {Field(masks[0]), Field(masks[1]), Field(masks[2])};
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t* row = b + offset + static_cast<size_t>(top_down ? y : height - 1 - y) * stride;
    uint8_t* out = &rgb[static_cast<size_t>(y) * width * 3];
    for (int64_t x = 0; x < width; ++x, out += 3) {
      if (bpp <= 8) {
        unsigned bit = static_cast<unsigned>(x * bpp);
        unsigned index = (row[bit / 8] >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1);
        std::memcpy(out, palette[index], 3);
      } else if (bpp == 24) {
        out[0] = row[x * 3 + 2], out[1] = row[x * 3 + 1], out[2] = row[x * 3];
      } else {
        uint32_t v = bpp == 16 ? u16(row + x * 2) : u32(row + x * 4);
        for (int c = 0; c < 3; ++c) out[c] = fields[c](v, masks[c]);
      }
    }
  }
  DecodedImage out{{}, static_cast<int>(width), static_cast<int>(height), channels};
  if (channels == 3) {
    out.pixels = std::move(rgb);
  } else {
    out.pixels.resize(pixels);
    convert_channels(rgb.data(), 3, out.pixels.data(), 1, pixels);
  }
  return out;
}

}  // namespace mrt::image_formats
