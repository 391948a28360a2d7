// Q4_0 and Q8_0 matrices with their rows interleaved in tiles of eight, the
// layout decode's VNNI kernels read (quant_avx512.cpp), made once at load.
//
// Row by row, a kernel's int32 products of a 32-value block are one vector
// per row that must be summed across its lanes, scaled by that row's block
// scale and added up: about 50 instructions per four rows' blocks, which
// held the 110M shape's Q4_0 and Q8_0 decode to 70% of the memory bandwidth
// (0.90x llama.cpp, which repacks the same way). In a tile, lane j of every
// vector belongs to row j: one vpdpbusd (AVX2: vpmaddubsw + vpmaddwd)
// multiplies four values of all eight rows by four activations broadcast
// from memory, the eight block scales are one 16-byte load, and nothing is
// summed across lanes until the row ends. A tile of `blocks` 32-value blocks is
//
//   scales[blocks]:  the eight rows' float16 block scales, row order
//   payload[blocks]: Q4_0: 4 vectors of 32 bytes; bytes 4j..4j+3 of vector m
//                          are row j's q[4m..4m+3] (low nibbles: values
//                          4m..4m+3, high nibbles: values 16+4m..16+4m+3)
//                    Q8_0: 8 vectors of 32 bytes; bytes 4j..4j+3 of vector g
//                          are row j's int8 values 4g..4g+3
//
// (the scales first: the kernels then read a tile, and tile after tile, as
// one forward stream that a single prefetch pointer runs ahead of; scales
// after the payload were a second stream that missed the cache, a third of
// the kernel's time): the same bytes as the eight rows in GGUF's layout, so a tiled matrix takes
// no more memory than the mapped one it replaces. Tiles follow each other in
// row order; the matrix's rows must be a multiple of eight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels.h"
#include "quant.h"

namespace mrt::raw {

constexpr size_t kTileRows = 8;

// Whether `m` can be tiled (Q4_0 or Q8_0, rows a multiple of eight) and
// this CPU has the kernels that read tiles (AVX-512 VNNI or AVX2).
bool tiles_pay_off(const Matrix& m);
// `m`'s rows rearranged into tiles at `dst` (m.rows · m.row_bytes() bytes).
void write_tiles(const Matrix& m, uint8_t* dst);
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
// then given back (madvise MADV_DONTNEED: a file mapping's pages leave the
// process's resident set; nothing reads them again) unless another matrix
// in `keep` points into them (a classifier tied to the embedding). Returns
// the bytes tiled; a matrix whose pages cannot be had stays as it was.
size_t tile_matrices(const std::vector<Matrix*>& ms, const std::vector<const Matrix*>& keep, bool release_source,
                     std::vector<std::shared_ptr<TilePages>>& owner);

}  // namespace mrt::raw
