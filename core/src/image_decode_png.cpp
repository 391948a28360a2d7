// PNG through libpng's full read API. Its transforms give the 8-bit
// samples stb_image gave: palette and gray below 8 bits expanded, tRNS as
// alpha, 16-bit samples cut to their high byte (png_set_strip_16), no gamma
// or colour-space correction (no gamma call is made, gAMA/iCCP/sRGB are not
// even read).
//
// libpng reports errors by longjmp. The functions that call setjmp
// (read_header, expand, read_pixels) own no C++ objects and change no locals; all
// state lives in a PngRead reached through a pointer, so the jump skips
// nothing that needs destroying and leaves nothing indeterminate.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "image_formats.h"

namespace mrt::image_formats {
namespace {

struct PngRead {
  std::string_view in;
  size_t at = 0;
  char error[160] = "";
  png_structp png = nullptr;
  png_infop info = nullptr;
  bool gray_from_16bit_colour = false;      // a gray model, a 16-bit colour file
  int width = 0, height = 0, channels = 0;  // after the transforms
  std::vector<uint8_t> pixels;
  std::vector<png_bytep> rows;
  ~PngRead() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  auto* r = static_cast<PngRead*>(png_get_error_ptr(png));
  std::snprintf(r->error, sizeof r->error, "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}  // libpng would print to stderr

void on_read(png_structp png, png_bytep out, size_t n) {
  auto* r = static_cast<PngRead*>(png_get_io_ptr(png));
  if (n > r->in.size() - r->at) png_error(png, "the data ends early");
  std::memcpy(out, r->in.data() + r->at, n);
  r->at += n;
}

bool read_header(PngRead* r) {
  if (setjmp(png_jmpbuf(r->png))) return false;
  png_set_read_fn(r->png, r, on_read);
  // Past these libpng refuses the header itself; check_size then applies
  // the model's own limit before anything is sized by the header.
  png_set_user_limits(r->png, kMaxSide, kMaxSide);
  // Ancillary chunks other than tRNS are skipped unread: nothing inflates a
  // zTXt/iCCP, and no gamma information can reach the pixels.
  png_set_keep_unknown_chunks(r->png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  png_read_info(r->png, r->info);
  r->width = static_cast<int>(png_get_image_width(r->png, r->info));
  r->height = static_cast<int>(png_get_image_height(r->png, r->info));
  return true;
}

// 8-bit gray, gray + alpha, RGB or RGBA, whatever the file's layout; for
// a gray model, 16-bit colour stays 16-bit (big-endian, as stored): stb_image
// took the gray of 16-bit samples before cutting them to 8 bits.
bool expand(PngRead* r, bool want_gray) {
  if (setjmp(png_jmpbuf(r->png))) return false;
  png_set_expand(r->png);
  r->gray_from_16bit_colour = want_gray && png_get_bit_depth(r->png, r->info) == 16 &&
                              (png_get_color_type(r->png, r->info) & PNG_COLOR_MASK_COLOR);
  if (!r->gray_from_16bit_colour) png_set_strip_16(r->png);
  png_set_interlace_handling(r->png);
  png_read_update_info(r->png, r->info);
  r->channels = png_get_channels(r->png, r->info);
  size_t sample_bytes = r->gray_from_16bit_colour ? 2 : 1;
  if (png_get_bit_depth(r->png, r->info) != 8 * sample_bytes || r->channels < 1 || r->channels > 4 ||
      png_get_rowbytes(r->png, r->info) != static_cast<size_t>(r->width) * r->channels * sample_bytes)
    png_error(r->png, "unexpected layout after expansion");
  return true;
}

bool read_pixels(PngRead* r) {
  if (setjmp(png_jmpbuf(r->png))) return false;
  png_read_image(r->png, r->rows.data());
  png_read_end(r->png, nullptr);
  return true;
}

}  // namespace

Result<DecodedImage> decode_png(std::string_view encoded, int channels, int64_t max_pixels) {
  auto r = std::make_unique<PngRead>();
  r->in = encoded;
  r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r.get(), on_error, on_warning);
  if (!r->png) return internal_error("libpng: cannot create a reader");
  r->info = png_create_info_struct(r->png);
  if (!r->info) return internal_error("libpng: cannot create a reader");
  if (!read_header(r.get())) return invalid_argument(std::string("corrupt png image: ") + r->error);
  MRT_RETURN_IF_ERROR(check_size("png", r->width, r->height, max_pixels));
  if (!expand(r.get(), channels == 1)) return invalid_argument(std::string("corrupt png image: ") + r->error);
  size_t stride = png_get_rowbytes(r->png, r->info);
  r->pixels.resize(stride * r->height);
  r->rows.resize(r->height);
  for (int y = 0; y < r->height; ++y) r->rows[y] = r->pixels.data() + y * stride;
  if (!read_pixels(r.get())) return invalid_argument(std::string("corrupt png image: ") + r->error);

  DecodedImage out{{}, r->width, r->height, channels};
  size_t pixels = static_cast<size_t>(r->width) * r->height;
  if (r->gray_from_16bit_colour) {
    // stb_image's stbi__compute_y_16, then the high byte.
    out.pixels.resize(pixels);
    const uint8_t* in = r->pixels.data();
    auto sample = [&](int c) { return unsigned{in[2 * c]} << 8 | in[2 * c + 1]; };
    for (size_t i = 0; i < pixels; ++i, in += 2 * r->channels)
      out.pixels[i] = static_cast<uint8_t>(((sample(0) * 77 + sample(1) * 150 + sample(2) * 29) >> 8) >> 8);
  } else if (r->channels == channels) {
    out.pixels = std::move(r->pixels);
  } else {
    out.pixels.resize(pixels * channels);
    convert_channels(r->pixels.data(), r->channels, out.pixels.data(), channels, pixels);
  }
  return out;
}

}  // namespace mrt::image_formats
