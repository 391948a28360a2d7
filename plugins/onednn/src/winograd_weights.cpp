// See winograd_weights.h. The layouts and transform matrices are those of
// oneDNN 2.x's avx512_core Winograd kernels (the `wino_desc` of a weights
// descriptor names the layout and its blocks); the unit test checks every
// packed value against oneDNN's own reorder, so a oneDNN that changes them
// fails the test rather than computing wrong results.
#include "winograd_weights.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace mrt::onednn {
namespace {

constexpr int kR = 3;       // kernel size
constexpr int kMaxA = 6;    // largest tile (alpha): F(4x4, 3x3)
constexpr int kOcb = 16;    // output channels per block (one AVX-512 vector)
constexpr int64_t kChunk = 16;  // input channels transformed per step (see pack_winograd_weights)

// Rows of G (alpha x 3) for the two tile sizes. F(2x2, 3x3) interpolates at
// 0, 1, -1, ∞ (Lavin & Gray). The F(4x4, 3x3) kernel interpolates at 0,
// ±0.625, ±1.5, ∞ with each row scaled (s, s·p, s·p²); its data and output
// transforms carry the matching scales, so the weights must be scaled
// exactly so.
using GMatrix = std::array<std::array<float, kR>, kMaxA>;

GMatrix g_2x2() { return {{{1.f, 0.f, 0.f}, {.5f, .5f, .5f}, {.5f, -.5f, .5f}, {0.f, 0.f, 1.f}}}; }

GMatrix g_4x4() {
  const double points[4] = {0.625, -0.625, 1.5, -1.5};
  const double scales[4] = {-0.688403361344538, -0.688403361344538, 0.119514472455649, 0.119514472455649};
  GMatrix g{};
  g[0] = {1.13777777777778f, 0.f, 0.f};
  for (int i = 0; i < 4; ++i) {
    double s = scales[i], p = points[i];
    g[1 + i] = {static_cast<float>(s), static_cast<float>(s * p), static_cast<float>(s * p * p)};
  }
  g[5] = {0.f, 0.f, 1.f};
  return g;
}

// U = G g Gᵀ for `n` input channels c0.. of output block `ob` (16 output
// channels, the vector lanes): u[i][j][c][o]. Built for AVX-512, AVX2 and
// the baseline, picked at run time (target_clones): the baseline's SSE made
// this transform, not memory, the bound of packing (ResNet-18's 512-channel
// layers: 6.5 ms per 16 MB).
__attribute__((target_clones("avx512f", "avx2", "default"))) void transform_run(const float* oihw, int64_t ic, int64_t ob, int64_t c0,
                                                                                int64_t n, int a, const GMatrix& g,
                                                                                float (*u)[kMaxA][kChunk][kOcb]) {
  for (int64_t c = 0; c < n; ++c) {
    float taps[kR][kR][kOcb], half[kR][kMaxA][kOcb];  // g, then g Gᵀ
    for (int o = 0; o < kOcb; ++o) {
      const float* src = oihw + ((ob * kOcb + o) * ic + c0 + c) * kR * kR;
      for (int kh = 0; kh < kR; ++kh)
        for (int kw = 0; kw < kR; ++kw) taps[kh][kw][o] = src[kh * kR + kw];
    }
    for (int kh = 0; kh < kR; ++kh)
      for (int j = 0; j < a; ++j)
#pragma omp simd
        for (int o = 0; o < kOcb; ++o) half[kh][j][o] = taps[kh][0][o] * g[j][0] + taps[kh][1][o] * g[j][1] + taps[kh][2][o] * g[j][2];
    for (int i = 0; i < a; ++i)
      for (int j = 0; j < a; ++j)
#pragma omp simd
        for (int o = 0; o < kOcb; ++o) u[i][j][c][o] = g[i][0] * half[0][j][o] + g[i][1] * half[1][j][o] + g[i][2] * half[2][j][o];
  }
}

}  // namespace

bool pack_winograd_weights(const float* oihw, const dnnl::memory::desc& wino_md, float* out) {
  const auto& md = wino_md.data;
  if (md.format_kind != dnnl_format_kind_wino || md.data_type != dnnl_f32 || md.ndims != 4) return false;
  const auto& w = md.format_desc.wino_desc;
  const int64_t oc = md.dims[0], ic = md.dims[1];
  if (w.r != kR || md.dims[2] != kR || md.dims[3] != kR || w.oc != oc || w.ic != ic) return false;
  if (w.oc_block != kOcb || w.ic_block <= 0) return false;
  const int a = w.alpha, ocb = kOcb, icb = w.ic_block;
  const auto layout = w.wino_format;
  const bool f4x4 = layout == dnnl_wino_wei_OBaaIBOIio;
  const int ic2 = f4x4 ? w.ic2_block : 1, oc2 = layout == dnnl_wino_wei_aaOio ? 1 : w.oc2_block;
  GMatrix g;
  if ((layout == dnnl_wino_wei_aaOio || layout == dnnl_wino_wei_aaOBiOo) && a == 4) g = g_2x2();
  else if (f4x4 && a == 6) g = g_4x4();
  else return false;
  if (ic2 <= 0 || oc % (ocb * oc2) != 0 || ic % (icb * ic2) != 0) return false;
  const int64_t nb_oc = oc / ocb, nb_ic = ic / icb, ic_chunks = nb_ic / ic2, oc_chunks = nb_oc / oc2;
  if (static_cast<size_t>(w.size) < static_cast<size_t>(a * a * oc * ic) * sizeof(float)) return false;

  // Destination offset of element (u_h, u_w, input channel, output block):
  // the next ocb floats are that block's output channels. The F(2x2)
  // layouts put (u_h, u_w) outermost, then output blocks (aaOBiOo: in
  // groups of oc2 innermost), then input channels; F(4x4) groups output
  // blocks by oc2 outermost and input channels in ic2 x ic_block groups.
  auto offset = [&](int uh, int uw, int64_t c_in, int64_t ob) -> int64_t {
    int64_t occ = ob / oc2, ob2 = ob % oc2, blk = c_in / icb, i = c_in % icb;
    if (layout == dnnl_wino_wei_aaOio) return (((uh * a + uw) * nb_oc + ob) * ic + c_in) * ocb;
    if (layout == dnnl_wino_wei_aaOBiOo) return ((((uh * a + uw) * oc_chunks + occ) * nb_ic + blk) * icb * oc2 + i * oc2 + ob2) * ocb;
    int64_t icc = blk / ic2, ib = blk % ic2;
    return ((((((occ * a + uh) * a + uw) * ic_chunks + icc) * oc2 + ob2) * ic2 + ib) * icb + i) * ocb;
  };

  // One (output block, run of kChunk input channels) per iteration: U for
  // the run's channels (transform_run), then for each of the alpha²
  // positions the run's kChunk vectors of 16 floats, which sit together in
  // every layout, so each job writes alpha² short runs rather than alpha²
  // scattered vectors per input channel.
  const int64_t chunks = (ic + kChunk - 1) / kChunk, work = nb_oc * chunks;
#pragma omp parallel for schedule(static)
  for (int64_t job = 0; job < work; ++job) {
    const int64_t ob = job / chunks, c0 = job % chunks * kChunk, n = std::min(kChunk, ic - c0);
    float u[kMaxA][kMaxA][kChunk][kOcb];  // U for each input channel of the run
    transform_run(oihw, ic, ob, c0, n, a, g, u);
    for (int i = 0; i < a; ++i)
      for (int j = 0; j < a; ++j)
        for (int64_t c = 0; c < n; ++c) std::memcpy(out + offset(i, j, c0 + c, ob), u[i][j][c], sizeof(u[i][j][c]));
  }
  return true;
}

}  // namespace mrt::onednn
