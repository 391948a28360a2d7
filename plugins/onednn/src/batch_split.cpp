// Batch splitting (see batch_split.h): choosing the cut, and building the
// prefix and suffix plans around it.
#include "batch_split.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "mrt/onnx/graph_passes.h"
#include "plan_builder.h"

namespace mrt::onednn {

namespace {

constexpr int64_t kMinPrefixRuns = 4;

// Ops that compute each image from that image alone, given batch-major
// operands (NCHW...); anything else ends the prefix.
const std::set<std::string> kPerImageOps = {
    "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Relu", "LeakyRelu", "Clip", "Sigmoid",
    "HardSigmoid", "HardSwish", "Tanh", "Add", "Sub", "Mul", "Div", "Identity", "Concat"};

// Ops the fuser folds into the convolution that feeds them: a cut between
// the two would cost the fusion.
const std::set<std::string> kFusedIntoProducer = {
    "BatchNormalization", "Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Add", "Sub", "Mul", "Div"};

bool is_batch_major(const onnx::Graph& g, const std::string& v, int64_t batch) {
  const auto& d = g.types.at(v).dims;
  return d.size() >= 3 && d[0] == batch;
}

// Whether node `n` computes image i of its outputs from image i of its
// non-constant inputs only.
bool per_image(const onnx::Graph& g, const onnx::Node& n, int64_t batch) {
  if (!n.domain.empty() || !kPerImageOps.count(n.op_type)) return false;
  if (n.op_type == "MaxPool" && n.outputs.size() > 1 && !n.outputs[1].empty()) return false;  // indices count across images
  if (n.outputs.empty() || n.outputs[0].empty()) return false;
  for (const auto& o : n.outputs)
    if (!o.empty() && !is_batch_major(g, o, batch)) return false;  // e.g. a training BatchNormalization's statistics
  size_t rank = g.types.at(n.outputs[0]).dims.size();
  if (n.op_type == "Concat") {
    int64_t axis = n.attr_int("axis", 0);
    if (axis == 0 || axis == -static_cast<int64_t>(rank)) return false;
  }
  if (n.op_type == "Conv")
    for (size_t k = 1; k < n.inputs.size(); ++k)
      if (!n.inputs[k].empty() && !g.is_constant(n.inputs[k])) return false;  // weights computed per request
  for (const auto& in : n.inputs) {
    if (in.empty()) continue;
    if (g.is_constant(in)) {
      // A constant operand must not vary along the batch (weights, per-channel
      // vectors, scalars, or broadcasts with a leading 1).
      const auto& d = g.constants.at(in).dims();
      if (d.size() == rank && d[0] != 1 && n.op_type != "Conv") return false;
      continue;
    }
    // Same rank as the output: a lower-rank operand broadcasts from the
    // right, so its first axis is not the batch.
    if (!is_batch_major(g, in, batch) || g.types.at(in).dims.size() != rank) return false;
  }
  return true;
}

// A convolution with one input channel per group: a few multiply-adds per
// byte moved, so bound by memory rather than arithmetic.
bool is_depthwise(const onnx::Graph& g, const onnx::Node& n) {
  if (n.op_type != "Conv") return false;
  int64_t group = n.attr_int("group", 1);
  const auto& d = g.types.at(n.inputs[0]).dims;
  return group > 1 && d.size() >= 2 && d[1] == group;
}

int64_t image_bytes(const onnx::Graph& g, const std::string& v, int64_t batch) {
  const auto& t = g.types.at(v);
  return onnx::element_count(t.dims) / batch * static_cast<int64_t>(onnx::dtype_size(t.dtype));
}

}  // namespace

std::optional<BatchSplit> find_batch_split(const onnx::Graph& g, size_t cache_bytes) {
  if (g.inputs.empty() || cache_bytes == 0) return std::nullopt;
  int64_t batch = -1;
  for (const auto& in : g.inputs) {
    const auto& d = g.types.at(in).dims;
    if (d.empty() || (batch >= 0 && d[0] != batch)) return std::nullopt;
    batch = d[0];
  }
  if (batch < 2) return std::nullopt;

  // Last reader of every value (graph outputs: past the end).
  std::map<std::string, size_t> last_use;
  std::map<std::string, std::vector<size_t>> consumers;
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const auto& o : g.nodes[i].outputs) producer[o] = i;
    for (const auto& in : g.nodes[i].inputs)
      if (!in.empty() && !g.is_constant(in)) last_use[in] = i, consumers[in].push_back(i);
  }
  for (const auto& o : g.outputs) last_use[o] = g.nodes.size();

  // Walk the per-image prefix; after each node, the values computed so far
  // and still read later are what would cross a cut there.
  struct Candidate {
    size_t after;           // cut after this node
    std::string cut;
    int64_t largest_image;  // largest per-image tensor up to the cut
    bool depthwise;         // a depthwise convolution up to the cut
  };
  std::vector<Candidate> candidates;
  std::set<std::string> live(g.inputs.begin(), g.inputs.end());
  int64_t largest_image = 0;
  bool depthwise = false;
  std::optional<size_t> last_large;  // the last node writing a full-batch tensor past the cache
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const onnx::Node& n = g.nodes[i];
    if (!per_image(g, n, batch)) break;
    depthwise = depthwise || is_depthwise(g, n);
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      live.insert(o);
      int64_t b = image_bytes(g, o, batch);
      largest_image = std::max(largest_image, b);
      if (static_cast<size_t>(b * batch) > cache_bytes) last_large = i;
    }
    for (auto it = live.begin(); it != live.end();) {
      auto u = last_use.find(*it);
      it = (u == last_use.end() || u->second <= i) ? live.erase(it) : std::next(it);
    }
    if (live.size() != 1) continue;
    const std::string& cut = *live.begin();
    if (std::find(g.inputs.begin(), g.inputs.end(), cut) != g.inputs.end() || g.types.at(cut).dtype != onnx::DType::kFloat) continue;
    if (std::find(g.outputs.begin(), g.outputs.end(), cut) != g.outputs.end()) continue;
    // A cut between a convolution and an activation or bias the fuser
    // would fold into it (every other operand a constant) costs the fusion.
    bool costs_fusion = g.nodes[producer.at(cut)].op_type == "Conv" &&
                        std::any_of(consumers[cut].begin(), consumers[cut].end(), [&](size_t c) {
                          const onnx::Node& u = g.nodes[c];
                          return kFusedIntoProducer.count(u.op_type) != 0 &&
                                 std::all_of(u.inputs.begin(), u.inputs.end(), [&](const std::string& v) {
                                   return v.empty() || v == cut || g.is_constant(v);
                                 });
                        });
    if (!costs_fusion) candidates.push_back({i, cut, largest_image, depthwise});
  }
  if (!last_large) return std::nullopt;
  // The first cut past every tensor that outgrows the cache at full batch,
  // where the handed-over tensor itself fits (it is written slice by slice
  // and read whole: a large one would go through memory twice).
  for (const auto& c : candidates) {
    if (c.after < *last_large || !c.depthwise) continue;
    if (static_cast<size_t>(image_bytes(g, c.cut, batch) * batch) > cache_bytes) continue;
    // Images per prefix run: as many as keep its largest tensor in the
    // cache, at least one, and a divisor of the batch.
    int64_t sub = std::max<int64_t>(1, static_cast<int64_t>(cache_bytes) / std::max<int64_t>(c.largest_image, 1));
    while (batch % sub) --sub;
    // Fewer than 4 prefix runs measured slower than none (MobileNetV2 at
    // batch 2: 0.93-0.95x): too little traffic saved for the extra runs.
    if (batch / sub < kMinPrefixRuns) return std::nullopt;
    return BatchSplit{c.after + 1, c.cut, sub};
  }
  return std::nullopt;
}

size_t split_cache_bytes(int threads) {
  long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  size_t per_core = l2 > 0 ? static_cast<size_t>(l2) : size_t{1} << 20;
  return per_core * static_cast<size_t>(std::max(threads, 1));
}

bool is_batch_strided(const dnnl::memory::desc& md) {
  const auto& d = md.data;
  if (d.format_kind != dnnl_blocked || d.format_desc.blocking.inner_nblks != 0 || d.ndims < 2 || d.data_type != dnnl_f32) return false;
  int64_t rest = 1;
  for (int k = 0; k < d.ndims; ++k) {
    if (d.padded_dims[k] != d.dims[k] || d.padded_offsets[k] != 0) return false;
    if (k > 0) rest *= d.dims[k];
  }
  for (int k = 1; k < d.ndims; ++k)
    if (d.format_desc.blocking.strides[k] >= d.format_desc.blocking.strides[0]) return false;
  return d.format_desc.blocking.strides[0] == rest && d.offset0 == 0;
}

std::unique_ptr<Plan> build_plan(const dnnl::engine& engine, const onnx::Graph& model, const std::map<std::string, Dims>& input_dims,
                                 const PlanOptions& options) {
  onnx::Graph g = onnx::specialize(model, input_dims);
  std::optional<BatchSplit> split = find_batch_split(g, options.batch_split_cache_bytes);
  if (split) try {
    // The prefix: the graph's inputs at the sub-batch → the cut value, which
    // it leaves in the layout its producer wrote.
    onnx::Graph prefix = g;
    prefix.nodes.resize(split->prefix_nodes);
    prefix.outputs = {split->cut};
    std::map<std::string, Dims> prefix_dims;
    for (const auto& in : g.inputs) {
      Dims d = g.types.at(in).dims;
      d[0] = split->sub_batch;
      prefix_dims[in] = d;
      prefix.types[in].dims.clear();  // re-specialized at the sub-batch
    }
    PlanBoundary prefix_boundary;
    prefix_boundary.strided_outputs = true;
    auto prefix_plan = std::make_unique<Plan>(engine, prepare_graph(onnx::specialize(prefix, prefix_dims)), options, prefix_boundary);

    // The suffix: the cut value at the full batch, in the prefix's layout
    // with the batch stride unchanged (so each sub-batch is one slice) → the
    // graph's outputs.
    onnx::Graph suffix = g;
    suffix.nodes.erase(suffix.nodes.begin(), suffix.nodes.begin() + static_cast<long>(split->prefix_nodes));
    suffix.inputs = {split->cut};
    const Dims& cut_dims = g.types.at(split->cut).dims;
    suffix.types[split->cut].dims.clear();
    PlanBoundary suffix_boundary;
    const Slot& handed = prefix_plan->slot(prefix_plan->output_slots()[0]);
    if (is_batch_strided(handed.md)) {
      const auto& blocking = handed.md.data.format_desc.blocking;
      dnnl::memory::dims strides(blocking.strides, blocking.strides + handed.md.data.ndims);
      suffix_boundary.input_layouts[split->cut] = dnnl::memory::desc(to_dnnl(cut_dims), dnnl::memory::data_type::f32, strides);
    }
    auto plan = std::make_unique<Plan>(engine, prepare_graph(onnx::specialize(suffix, {{split->cut, cut_dims}})), options,
                                       suffix_boundary);

    // The suffix's own input becomes the cut slot; the graph's inputs get
    // full-batch staging slots at the end of its arena.
    plan->cut_slot_ = plan->inputs_[0];
    plan->split_cut_ = split->cut;
    plan->inputs_.clear();
    for (const auto& in : g.inputs) {
      const auto& t = g.types.at(in);
      Slot s = Slot::of(in, t.dtype, t.dims, t.dtype == onnx::DType::kFloat ? plain_md(t.dims) : dnnl::memory::desc());
      s.buffer = static_cast<int>(plan->slots_.size());
      plan->buffer_offsets_.push_back((plan->arena_bytes_ + 63) / 64 * 64);
      plan->arena_bytes_ = plan->buffer_offsets_.back() + s.bytes;
      plan->inputs_.push_back(static_cast<int>(plan->slots_.size()));
      plan->slots_.push_back(std::move(s));
    }
    plan->prefix_ = std::move(prefix_plan);
    return plan;
  } catch (const onnx::OnnxError&) {
    // A split this graph's ops or layouts do not take at the sub-batch:
    // the whole-batch plan below still serves it.
  } catch (const dnnl::error&) {
  }
  // Weights the attempt let go come back as the plan below reads them
  // (their residency hooks: g's copies carry them).
  return std::make_unique<Plan>(engine, prepare_graph(std::move(g)), options);
}

}  // namespace mrt::onednn
