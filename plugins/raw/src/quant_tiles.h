// Q4_0, Q8_0, Q4_K and Q6_K matrices with their rows interleaved in tiles of
// eight, the layout decode's kernels read (quant_avx2.cpp,
// quant_avx512.cpp), made once at load.
//
// Row by row, a kernel's int32 products of a block are one vector per row
// that must be summed across its lanes, scaled by that row's block scale
// and added up: about 50 instructions per four rows' Q4_0 blocks, which
// held the 110M shape's Q4_0 and Q8_0 decode to 70% of the memory bandwidth
// (0.90x llama.cpp, which repacks the same way). In a tile, lane j of every
// vector belongs to row j: one vpdpbusd (AVX2: vpmaddubsw + vpmaddwd)
// multiplies four values of all eight rows by four activations broadcast
// from memory, the eight rows' scales are one load, and nothing is summed
// across lanes until the row ends. A tile of `blocks` blocks is
//
//   header[blocks], then payload[blocks]
//
//   Q4_0  header 16 B: the eight rows' float16 scales, row order
//         payload 128 B: 4 vectors of 32 bytes; bytes 4j..4j+3 of vector m
//         are row j's q[4m..4m+3] (low nibbles: values 4m..4m+3, high
//         nibbles: values 16+4m..16+4m+3)
//   Q8_0  header 16 B: as Q4_0's
//         payload 256 B: 8 vectors; bytes 4j..4j+3 of vector g are row
//         j's int8 values 4g..4g+3
//   Q4_K  header 160 B: d[8], dmin[8] (float16), then the 6-bit sub-block
//         scales sc[8 sub-blocks][8 rows] and mins m[8][8], a byte each
//         payload 1024 B: 32 vectors; bytes 4j..4j+3 of vector 8c + m are
//         row j's q[32c+4m..32c+4m+3] (low nibbles: sub-block 2c, values
//         4m..; high nibbles: sub-block 2c+1)
//   Q6_K  header 144 B: d[8] (float16), then the int8 sub-block scales
//         sc[16 sub-blocks][8 rows]
//         payload 1536 B: per half n of the super-block 24 vectors: 8 of
//         ql[64n..64n+31], 8 of ql[64n+32..64n+63], 8 of qh[32n..32n+31],
//         four bytes of row j in lane j (the values keep GGUF's packing)
//
// (headers first: the kernels then read a tile, and tile after tile, as one
// forward stream that one prefetch pointer runs ahead of; Q4_0 scales after
// the payload were a second stream that missed the cache, a third of the
// kernel's time). Q4_0 and Q8_0 tiles take the bytes of GGUF's eight rows;
// Q4_K's spread scales take 32 bytes more per 1152, Q6_K the same bytes. Tiles follow each other
// in row order; the matrix's rows must be a multiple of eight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels.h"
#include "quant.h"
#include "quant_avx2.h"

namespace mrt::raw {

constexpr size_t kTileRows = 8;
constexpr size_t kQ4kTileHeader = 160;  // bytes of a Q4_K tile block's scales
constexpr size_t kQ6kTileHeader = 144;  // and of a Q6_K one

// The kernel for one tile of `type` on this CPU (AVX-512 VNNI, else AVX2),
// or nullptr.
QuantTileDot tiles_dot(WeightType type);
// Whether `m` can be tiled (Q4_0, Q8_0, Q4_K or Q6_K, rows a multiple of eight)
// and this CPU has the kernels that read tiles.
bool tiles_pay_off(const Matrix& m);
// Bytes of `m` as tiles.
size_t tiled_bytes(const Matrix& m);
// `m`'s rows rearranged into tiles at `dst` (tiled_bytes(m) bytes); the
// second form only tiles [first, end) (rows 8·first..8·end) of them.
void write_tiles(const Matrix& m, uint8_t* dst);
void write_tiles(const Matrix& m, size_t first, size_t end, uint8_t* dst);
// Row r of a tiled matrix back in GGUF's block layout (row_bytes() bytes).
void tiled_row_blocks(const Matrix& m, size_t r, uint8_t* out);

// out[r] = Σ_k W[r][k]·x[k] for rows [begin, end) of a tiled matrix: whole
// tiles through the VNNI kernel; the rows of a tile cut by begin or end
// through a tile computed into a buffer.
void matvec_tiles(const Matrix& w, const QuantizedActivations& x, float* out, size_t begin, size_t end);

// Memory for tiled matrices: anonymous pages (transparent huge pages where
// the kernel has them), read-only once written.
class TilePages {
 public:
  explicit TilePages(size_t bytes);
  ~TilePages();
  TilePages(const TilePages&) = delete;
  TilePages& operator=(const TilePages&) = delete;
  bool ok() const { return data_ != nullptr; }
  uint8_t* data() { return data_; }
  void seal();  // read-only from here on

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

// Replaces each matrix in `ms` that tiles_pay_off with a tiled copy owned by
// `owner`. With release_source, the whole pages of the copied bytes are
// given back as the tiling passes them (madvise MADV_DONTNEED: a file
// mapping's pages leave the process's resident set, anonymous memory is
// freed; nothing reads them again) unless another matrix in `keep` points
// into them (a classifier tied to the embedding). Returns the bytes tiled;
// a matrix whose pages cannot be had stays as it was.
size_t tile_matrices(const std::vector<Matrix*>& ms, const std::vector<const Matrix*>& keep, bool release_source,
                     std::vector<std::shared_ptr<TilePages>>& owner);

}  // namespace mrt::raw
