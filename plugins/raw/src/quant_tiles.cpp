#include "quant_tiles.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "quant_avx2.h"
#include "quant_avx512.h"

namespace mrt::raw {

namespace {

// Bytes of one block's payload in a tile (eight rows' quantized values).
size_t payload_bytes(WeightType t) { return t == WeightType::kQ4_0 ? 128 : 256; }
// Bytes of a block's values in GGUF's layout (after its float16 scale).
size_t value_bytes(WeightType t) { return t == WeightType::kQ4_0 ? 16 : 32; }

const uint8_t* tile_at(const Matrix& m, size_t tile) {
  return static_cast<const uint8_t*>(m.data) + tile * kTileRows * m.row_bytes();
}

}  // namespace

QuantTileDot tiles_dot(WeightType type) {
  if (QuantTileDot k = avx512_tiles_dot(type)) return k;
  return avx2_tiles_dot(type);
}

bool tiles_pay_off(const Matrix& m) {
  return (m.type == WeightType::kQ4_0 || m.type == WeightType::kQ8_0) && !m.tiled && m.rows % kTileRows == 0 &&
         m.rows > 0 && tiles_dot(m.type) != nullptr;
}

// Each four bytes of a row's block go whole into one vector of the tile
// (Q4_0's byte k holds values k and k + 16 in its two nibbles, and the
// kernel pairs them with the matching activations), so tiling is a
// shuffle of 32-bit words.
void write_tiles(const Matrix& m, uint8_t* dst) {
  const size_t blocks = m.cols / 32, payload = payload_bytes(m.type), values = value_bytes(m.type), block = 2 + values,
               words = values / 4;
  for (size_t t = 0; t < m.rows / kTileRows; ++t) {
    const uint8_t* src = tile_at(m, t);
    uint8_t* scales = dst;
    uint8_t* values_at = dst + blocks * 16;
    for (size_t j = 0; j < kTileRows; ++j) {
      const uint8_t* row = src + j * m.row_bytes();
      for (size_t i = 0; i < blocks; ++i) {
        const uint8_t* b = row + i * block;
        std::memcpy(scales + i * 16 + 2 * j, b, 2);
        for (size_t g = 0; g < words; ++g) std::memcpy(values_at + i * payload + 32 * g + 4 * j, b + 2 + 4 * g, 4);
      }
    }
    dst += blocks * (payload + 16);
  }
}

void tiled_row_blocks(const Matrix& m, size_t r, uint8_t* out) {
  const size_t blocks = m.cols / 32, payload = payload_bytes(m.type), values = value_bytes(m.type), block = 2 + values,
               words = values / 4, j = r % kTileRows;
  const uint8_t* scales = tile_at(m, r / kTileRows);
  const uint8_t* tile = scales + blocks * 16;
  for (size_t i = 0; i < blocks; ++i) {
    uint8_t* b = out + i * block;
    std::memcpy(b, scales + i * 16 + 2 * j, 2);
    for (size_t g = 0; g < words; ++g) std::memcpy(b + 2 + 4 * g, tile + i * payload + 32 * g + 4 * j, 4);
  }
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
  size_t tiled = 0;
  for (Matrix* m : ms) {
    if (!tiles_pay_off(*m)) continue;
    const size_t bytes = m->rows * m->row_bytes();
    auto pages = std::make_shared<TilePages>(bytes);
    if (!pages->ok()) continue;
    write_tiles(*m, pages->data());
    pages->seal();
    const auto* src = static_cast<const uint8_t*>(m->data);
    m->data = pages->data();
    m->tiled = true;
    owner.push_back(std::move(pages));
    tiled += bytes;
    if (!release_source) continue;
    const bool shared = std::any_of(keep.begin(), keep.end(), [&](const Matrix* k) {
      const auto* kb = static_cast<const uint8_t*>(k->data);
      return kb < src + bytes && src < kb + k->rows * k->row_bytes();
    });
    if (shared) continue;
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t lo = (reinterpret_cast<uintptr_t>(src) + page - 1) / page * page,
                    hi = (reinterpret_cast<uintptr_t>(src) + bytes) / page * page;
    if (lo < hi) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
  return tiled;
}

}  // namespace mrt::raw
