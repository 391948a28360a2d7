// The oneDNN plugin's own packing of 3x3 weights into oneDNN's Winograd
// layouts (plugins/onednn/src/winograd_weights.cpp) against oneDNN's
// reorder to the same descriptor: every value, for each layout the
// Winograd kernels ask for at the batch sizes and channel counts ResNets
// use. A oneDNN that changed a layout or its transform fails here.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "winograd_weights.h"

namespace mrt::onednn {
namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

struct Case {
  int batch, channels, size;
};

// The weights descriptor a Winograd convolution of this shape asks for;
// empty when this CPU has no Winograd kernel (they need AVX-512).
dnnl::memory::desc winograd_weights_md(const dnnl::engine& eng, const Case& c, int out_channels) {
  dnnl::memory::dims src{c.batch, c.channels, c.size, c.size}, dst{c.batch, out_channels, c.size, c.size};
  dnnl::memory::dims wei{out_channels, c.channels, 3, 3};
  try {
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
                                      dnnl::memory::desc(src, dt::f32, tag::nChw16c), dnnl::memory::desc(wei, dt::f32, tag::any),
                                      dnnl::memory::desc(dst, dt::f32, tag::nChw16c), {1, 1}, {1, 1}, {1, 1});
    return dnnl::convolution_forward::primitive_desc(d, eng).weights_desc();
  } catch (const dnnl::error&) {
    return {};
  }
}

TEST(WinogradWeights, PackingMatchesOnednnReorderForEveryLayout) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream st(eng);
  const std::vector<Case> cases = {{1, 64, 56}, {1, 128, 28}, {1, 256, 14}, {1, 512, 7}, {8, 64, 56},
                                   {8, 128, 28}, {8, 256, 14}, {8, 512, 7}, {2, 48, 10}, {4, 96, 20}};
  std::set<int> layouts;
  for (const auto& c : cases) {
    for (int oc : {c.channels, 2 * c.channels}) {
      auto md = winograd_weights_md(eng, c, oc);
      if (md.data.ndims == 0) GTEST_SKIP() << "oneDNN has no Winograd convolution on this CPU (needs AVX-512)";
      ASSERT_EQ(md.data.format_kind, dnnl_format_kind_wino);
      layouts.insert(md.data.format_desc.wino_desc.wino_format);
      // Distinct, non-round weights: a misplaced or mis-transformed value shows.
      std::vector<float> oihw(static_cast<size_t>(oc) * c.channels * 9);
      for (size_t i = 0; i < oihw.size(); ++i) oihw[i] = std::sin(0.37f * static_cast<float>(i)) + 0.01f * static_cast<float>(i % 7);
      dnnl::memory user({{oc, c.channels, 3, 3}, dt::f32, tag::oihw}, eng, oihw.data()), want(md, eng);
      dnnl::reorder(user, want).execute(st, user, want);
      st.wait();
      size_t n = md.get_size() / sizeof(float);
      std::vector<float> got(n, std::nanf(""));
      ASSERT_TRUE(pack_winograd_weights(oihw.data(), md, got.data()))
          << "layout " << md.data.format_desc.wino_desc.wino_format << " not packed";
      const float* ref = static_cast<const float*>(want.get_data_handle());
      size_t bad = 0, first = n;
      for (size_t i = 0; i < n; ++i)
        if (!(std::fabs(got[i] - ref[i]) <= 1e-6f * (1.f + std::fabs(ref[i])))) bad++, first = std::min(first, i);
      EXPECT_EQ(bad, 0u) << "batch " << c.batch << ", " << c.channels << "->" << oc << " channels, layout "
                         << md.data.format_desc.wino_desc.wino_format << ": first mismatch at " << first;
    }
  }
  // F(2x2, 3x3) in both of its float32 layouts and F(4x4, 3x3): all were checked.
  EXPECT_EQ(layouts, (std::set<int>{dnnl_wino_wei_aaOio, dnnl_wino_wei_aaOBiOo, dnnl_wino_wei_OBaaIBOIio}));
}

TEST(WinogradWeights, OtherLayoutsAreLeftToReorder) {
  std::vector<float> w(16 * 16 * 9, 1.f), out(16 * 16 * 9, 0.f);
  dnnl::memory::desc blocked({16, 16, 3, 3}, dt::f32, tag::OIhw16i16o);
  EXPECT_FALSE(pack_winograd_weights(w.data(), blocked, out.data()));
  EXPECT_EQ(out[0], 0.f);  // nothing written
}

}  // namespace
}  // namespace mrt::onednn
