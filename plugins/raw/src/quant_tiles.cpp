#include "quant_tiles.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "quant_avx2.h"
#include "quant_avx512.h"

namespace mrt::raw {

namespace {

// A tile's bytes per block of each format: the eight rows' header
// (scales), then their values.
struct TileFormat {
  size_t header, payload;
};
TileFormat format_of(WeightType t) {
  switch (t) {
    case WeightType::kQ4_0:
      return {16, 128};
    case WeightType::kQ8_0:
      return {16, 256};
    case WeightType::kQ6_K:
      return {kQ6kTileHeader, 1536};
    default:
      return {kQ4kTileHeader, 1024};  // Q4_K
  }
}

size_t tile_bytes(const Matrix& m) {
  const TileFormat f = format_of(m.type);
  return m.cols / block_elements(m.type) * (f.header + f.payload);
}

const uint8_t* tile_at(const Matrix& m, size_t tile) {
  return static_cast<const uint8_t*>(m.data) + tile * tile_bytes(m);
}

// Moves the bytes of row j's block `b` to (to_tile) or from its place in a
// tile: header `h` and payload `v` of that block. Each four bytes of values
// go whole into one vector of the tile (Q4_0's byte k holds values k and
// k + 16, Q4_K's byte 32c + k values 64c + k and 64c + 32 + k, in its two
// nibbles, and the kernels pair them with the matching activations), so
// tiling is a shuffle of 32-bit words; Q4_K's packed 6-bit scales and mins
// are spread to a byte each.
template <bool to_tile>
void move_block(WeightType type, uint8_t* b, uint8_t* h, uint8_t* v, size_t j) {
  auto move = [](uint8_t* blk, uint8_t* tile, size_t n) {
    if (to_tile)
      std::memcpy(tile, blk, n);
    else
      std::memcpy(blk, tile, n);
  };
  if (type == WeightType::kQ6_K) {
    // { u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d } -> header d[8],
    // sc[16][8]; payload per half n: ql[64n..] x8, ql[64n+32..] x8, qh[32n..] x8.
    move(b + 208, h + 2 * j, 2);
    for (size_t s = 0; s < 16; ++s) move(b + 192 + s, h + 16 + 8 * s + j, 1);
    for (size_t n = 0; n < 2; ++n)
      for (size_t g = 0; g < 8; ++g) {
        move(b + 64 * n + 4 * g, v + 32 * (24 * n + g) + 4 * j, 4);
        move(b + 64 * n + 32 + 4 * g, v + 32 * (24 * n + 8 + g) + 4 * j, 4);
        move(b + 128 + 32 * n + 4 * g, v + 32 * (24 * n + 16 + g) + 4 * j, 4);
      }
    return;
  }
  if (type != WeightType::kQ4_K) {
    const size_t values = type == WeightType::kQ4_0 ? 16 : 32;
    move(b, h + 2 * j, 2);
    for (size_t g = 0; g < values / 4; ++g) move(b + 2 + 4 * g, v + 32 * g + 4 * j, 4);
    return;
  }
  // Q4_K { f16 d, dmin; u8 scales[12]; u8 q[128] } -> header d[8], dmin[8],
  // sc[8 sub-blocks][8 rows], m[8][8]; payload q in 32 vectors.
  move(b, h + 2 * j, 2);
  move(b + 2, h + 16 + 2 * j, 2);
  uint8_t* sc = h + 32;
  uint8_t* mn = h + 96;
  if (to_tile) {
    for (int s = 0; s < 8; ++s) scale_min_k4(s, b + 4, sc[8 * s + j], mn[8 * s + j]);
  } else {
    uint8_t* p = b + 4;
    for (int s = 0; s < 4; ++s) {
      const uint8_t hs = sc[8 * (s + 4) + j], hm = mn[8 * (s + 4) + j];
      p[s] = static_cast<uint8_t>((sc[8 * s + j] & 63) | ((hs >> 4) << 6));
      p[s + 4] = static_cast<uint8_t>((mn[8 * s + j] & 63) | ((hm >> 4) << 6));
      p[s + 8] = static_cast<uint8_t>((hs & 0xF) | ((hm & 0xF) << 4));
    }
  }
  for (size_t g = 0; g < 32; ++g) move(b + 16 + 4 * g, v + 32 * g + 4 * j, 4);
}

// Row j's blocks to or from tile `t` (headers of every block first, then
// the payloads).
template <bool to_tile>
void move_row(const Matrix& m, uint8_t* row, uint8_t* t, size_t j) {
  const size_t blocks = m.cols / block_elements(m.type), bb = block_bytes(m.type);
  const TileFormat f = format_of(m.type);
  for (size_t i = 0; i < blocks; ++i)
    move_block<to_tile>(m.type, row + i * bb, t + i * f.header, t + blocks * f.header + i * f.payload, j);
}

}  // namespace

QuantTileDot tiles_dot(WeightType type) {
  if (QuantTileDot k = avx512_tiles_dot(type)) return k;
  return avx2_tiles_dot(type);
}

bool tiles_pay_off(const Matrix& m) {
  return (m.type == WeightType::kQ4_0 || m.type == WeightType::kQ8_0 || m.type == WeightType::kQ4_K ||
          m.type == WeightType::kQ6_K) &&
         !m.tiled && m.rows % kTileRows == 0 && m.rows > 0 && tiles_dot(m.type) != nullptr;
}

size_t tiled_bytes(const Matrix& m) { return m.rows / kTileRows * tile_bytes(m); }

void write_tiles(const Matrix& m, size_t first, size_t end, uint8_t* dst) {
  for (size_t t = first; t < end; ++t)
    for (size_t j = 0; j < kTileRows; ++j) {
      const size_t r = t * kTileRows + j;
      move_row<true>(m, const_cast<uint8_t*>(static_cast<const uint8_t*>(m.row(r))), dst + t * tile_bytes(m), j);
    }
}

void write_tiles(const Matrix& m, uint8_t* dst) { write_tiles(m, 0, m.rows / kTileRows, dst); }

void tiled_row_blocks(const Matrix& m, size_t r, uint8_t* out) {
  move_row<false>(m, out, const_cast<uint8_t*>(tile_at(m, r / kTileRows)), r % kTileRows);
}

void matvec_tiles(const Matrix& w, const QuantizedActivations& x, float* out, size_t begin, size_t end) {
  const QuantTileDot tile = tiles_dot(w.type);
  for (size_t t = begin / kTileRows; t * kTileRows < end; ++t) {
    const size_t first = t * kTileRows;
    if (first >= begin && first + kTileRows <= end) {
      tile(tile_at(w, t), x, out + first);
    } else {  // a tile cut by the range: all eight rows into a buffer
      float all[kTileRows];
      tile(tile_at(w, t), x, all);
      for (size_t r = std::max(begin, first); r < std::min(end, first + kTileRows); ++r) out[r] = all[r - first];
    }
  }
}

TilePages::TilePages(size_t bytes) : bytes_(bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
#ifdef MADV_HUGEPAGE
  ::madvise(p, bytes, MADV_HUGEPAGE);  // fewer TLB misses streaming the weights; advice only
#endif
  data_ = static_cast<uint8_t*>(p);
}

TilePages::~TilePages() {
  if (data_ != nullptr) ::munmap(data_, bytes_);
}

void TilePages::seal() {
  if (data_ != nullptr) ::mprotect(data_, bytes_, PROT_READ);
}

size_t tile_matrices(const std::vector<Matrix*>& ms, const std::vector<const Matrix*>& keep, bool release_source,
                     std::vector<std::shared_ptr<TilePages>>& owner) {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  size_t tiled = 0;
  for (Matrix* m : ms) {
    if (!tiles_pay_off(*m)) continue;
    auto pages = std::make_shared<TilePages>(tiled_bytes(*m));
    if (!pages->ok()) continue;
    const auto* src = static_cast<const uint8_t*>(m->data);
    const size_t bytes = m->rows * m->row_bytes();
    const bool release = release_source && std::none_of(keep.begin(), keep.end(), [&](const Matrix* k) {
                           const auto* kb = static_cast<const uint8_t*>(k->data);
                           return kb < src + bytes && src < kb + k->rows * k->row_bytes();
                         });
    // A few MiB of rows at a time, the whole pages they came from given
    // back behind them: the load holds one slice twice, not a whole matrix
    // (a 1.1B model's Q8_0 classifier is 70 MB).
    const size_t tiles = m->rows / kTileRows,
                 slice = std::max<size_t>(1, (size_t{4} << 20) / (kTileRows * m->row_bytes()));
    uintptr_t released = (reinterpret_cast<uintptr_t>(src) + page - 1) / page * page;
    for (size_t t = 0; t < tiles; t += slice) {
      const size_t e = std::min(tiles, t + slice);
      write_tiles(*m, t, e, pages->data());
      const uintptr_t done = (reinterpret_cast<uintptr_t>(src) + e * kTileRows * m->row_bytes()) / page * page;
      if (release && done > released) {
#ifdef MADV_NOHUGEPAGE
        // Source memory advised huge pages (the host's copy of a file)
        // would otherwise be refilled: khugepaged collapses a 2 MiB range
        // with any page left in it back into a whole huge page.
        ::madvise(reinterpret_cast<void*>(released), done - released, MADV_NOHUGEPAGE);
#endif
        ::madvise(reinterpret_cast<void*>(released), done - released, MADV_DONTNEED);
        released = done;
      }
    }
    pages->seal();
    m->data = pages->data();
    m->tiled = true;
    owner.push_back(std::move(pages));
    tiled += tiled_bytes(*m);
  }
  return tiled;
}

}  // namespace mrt::raw
