// Binary PGM (P5) and PPM (P6), decoded here (stb_image 2.27 reads past its
// buffer on 16-bit files converted to another channel count, nothings/stb
// #1166, and overflows int on long header numbers). Header: magic, width,
// height, maxval, as decimal numbers separated by whitespace and `#`
// comments, then one whitespace byte and the samples: one byte each up to
// maxval 255, two (big-endian) up to 65535. As in stb_image, samples are
// not rescaled by maxval and 16-bit samples keep their high byte.
#include "image_formats.h"

namespace mrt::image_formats {
namespace {

Status corrupt(const std::string& why) { return invalid_argument("corrupt pnm image: " + why); }

bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// The next header number at `at`, after whitespace and comments; -1 if
// there is none or it exceeds 65535 (no dimension or maxval may).
int64_t header_number(std::string_view b, size_t& at) {
  while (at < b.size() && (is_space(b[at]) || b[at] == '#')) {
    if (b[at] == '#')
      while (at < b.size() && b[at] != '\n' && b[at] != '\r') ++at;
    else
      ++at;
  }
  int64_t v = 0;
  size_t start = at;
  for (; at < b.size() && b[at] >= '0' && b[at] <= '9'; ++at)
    if ((v = v * 10 + (b[at] - '0')) > 65535) return -1;
  return at == start ? -1 : v;
}

}  // namespace

Result<DecodedImage> decode_pnm(std::string_view b, int channels, int64_t max_pixels) {
  int from = b.substr(0, 2) == "P5" ? 1 : 3;
  size_t at = 2;
  int64_t width = header_number(b, at), height = header_number(b, at);
  if (width < 0 || height < 0) return corrupt("bad width or height");
  MRT_RETURN_IF_ERROR(check_size("pnm", width, height, max_pixels));
  int64_t maxval = header_number(b, at);
  if (maxval <= 0) return corrupt("bad maximum value");
  if (at >= b.size() || !is_space(static_cast<uint8_t>(b[at]))) return corrupt("no whitespace after the header");
  ++at;
  size_t samples = static_cast<size_t>(width) * height * from, sample_bytes = maxval > 255 ? 2 : 1;
  if ((b.size() - at) / sample_bytes < samples) return corrupt("the pixel data ends early");

  std::vector<uint8_t> px(samples);
  const auto* in = reinterpret_cast<const uint8_t*>(b.data()) + at;
  for (size_t i = 0; i < samples; ++i) px[i] = in[i * sample_bytes];  // 16-bit: the high byte comes first
  DecodedImage out{{}, static_cast<int>(width), static_cast<int>(height), channels};
  if (from == channels) {
    out.pixels = std::move(px);
  } else {
    out.pixels.resize(static_cast<size_t>(width) * height * channels);
    convert_channels(px.data(), from, out.pixels.data(), channels, static_cast<size_t>(width) * height);
  }
  return out;
}

}  // namespace mrt::image_formats
