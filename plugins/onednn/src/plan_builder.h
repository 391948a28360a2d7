// The plan builder: lowers a fused ONNX graph to oneDNN primitives and host
// steps (see plan.h). One class, its work split by op family:
//   plan_builder.cpp       slots, steps, dispatch, post-ops, the arena
//   lower_conv.cpp         Conv, ConvTranspose, pooling (and their padding)
//   lower_depthwise_fusion.cpp  a 1x1 convolution and the depthwise one
//                          after it as one primitive
//   lower_matmul.cpp       Gemm, MatMul
//   lower_elementwise.cpp  normalisations, softmax, reductions, concat,
//                          split, transpose, binary and unary element-wise ops
// Heavy float32 ops become primitives whose weights are reordered once;
// activations stay in whatever (blocked) layout the producing primitive
// chose, and a reorder to plain row-major is inserted only where a consumer
// needs it (host steps, reshapes, outputs).
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plan.h"

namespace mrt::onednn {

using onnx::FusedGraph;
using onnx::Node;
using onnx::OnnxError;
using onnx::PostOp;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// Whether every value of an attribute list is 1 (strides, dilations).
inline bool all_ones(const std::vector<int64_t>& v) {
  return std::all_of(v.begin(), v.end(), [](int64_t x) { return x == 1; });
}

// Plain row-major dims for oneDNN (a scalar is [1]).
dnnl::memory::dims to_dnnl(const Dims& d);
// The plain row-major float32 layout of `d`.
dnnl::memory::desc plain_md(const Dims& d);
// `d` with leading 1s up to `rank` (numpy broadcasting alignment).
Dims with_rank(const Dims& d, size_t rank);

// For a binary op of `a` and `b` (b broadcast into a's dims, same rank):
// the same tensors with each run of dims that b broadcasts over, or has in
// full, merged into one dim (size-1 dims of a dropped), at least 2-D; both
// unchanged when b does not broadcast into a. [64,3,49,49] and [1,3,49,49]
// give [64,7203] and [1,7203].
std::pair<Dims, Dims> merge_broadcast_runs(const Dims& a, const Dims& b);

// `b` (row-major, dims `b_dims`) broadcast into `target` (same rank, each
// dim of b 1 or target's) and written out.
onnx::HostTensor expand_broadcast(const float* b, const Dims& b_dims, const Dims& target);

// `d` in the layout `like` has (the same format tag: abcd, acdb, aBcd8b,
// aBcd16b... at `d`'s rank), or nothing when `like` is no such layout.
std::optional<dnnl::memory::desc> same_layout(const dnnl::memory::desc& like, const Dims& d);
// "abcd", "aBcd8b", ... or "strides 1x2x3" for messages.
std::string layout_name(const dnnl::memory::desc& md);

struct Eltwise {
  dnnl::algorithm alg;
  float alpha, beta;
};

// ONNX activation → one or two oneDNN eltwise operations (empty: none).
std::vector<Eltwise> eltwise_for(const std::string& op, float alpha, float beta);

class PlanBuilder {
 public:
  PlanBuilder(Plan& plan, FusedGraph fg, PlanBoundary boundary) : p_(plan), boundary_(std::move(boundary)), post_ops_(std::move(fg.post_ops)) {
    p_.graph_ = std::move(fg.graph);
    p_.fused_nodes_ = fg.fused_nodes;
  }

  void build();

 private:
  Plan& p_;
  PlanBoundary boundary_;
  std::vector<std::vector<PostOp>> post_ops_;
  std::map<std::string, int> values_;      // ONNX value → slot
  std::map<int, int> plain_of_;            // slot → its plain-layout copy
  std::map<std::string, int> remaining_uses_;
  std::vector<int> alias_of_;              // slot → slot whose buffer it shares (-1: own)
  std::vector<std::vector<int>> step_reads_, step_writes_;
  // Some convolution runs as Winograd, so the network's tensors are mostly
  // nChw16c (layout choices elsewhere follow).
  bool winograd_network_ = false;
  // The node being lowered (for the slow-step report); null while the
  // graph outputs are made plain.
  const Node* current_ = nullptr;

  const onnx::Graph& graph() const { return p_.graph_; }

  // --- slots -----------------------------------------------------------------
  int new_slot(const std::string& name, DType dtype, const Dims& dims, const dnnl::memory::desc& md);

  int alias_slot(int of, const Dims& dims, const dnnl::memory::desc& md, const std::string& name);

  int root(int s) const { return alias_of_[s] < 0 ? s : alias_of_[s]; }

  int constant_slot(const std::string& name, const HostTensor& t);

  int owned_constant(const std::string& name, HostTensor t, const dnnl::memory::desc& md);
  // A constant whose bytes another plan may share (the weight cache).
  int owned_constant(const std::string& name, std::shared_ptr<HostTensor> holder, const dnnl::memory::desc& md);

  int value(const std::string& name);

  bool is_plain(int s) const;

  // The slot in plain row-major layout (a reorder step when it is blocked).
  int plain(int s);

  // A slot of `s`'s data in layout `md` (a reorder step when different);
  // constants are reordered now, once.
  // `sole_weight`: `s` is a constant only the node being lowered reads, so
  // its packing may let go of the loaded copy as it goes
  // (PlanOptions::weight_may_stream).
  int in_layout(int s, const dnnl::memory::desc& md, const std::string& why, bool sole_weight = false);
  // Node `n`'s constant input `weight` (slot `s`) packed in layout `md`:
  // when no other node (and no graph output) reads it, the model may let
  // go of its loaded copy (PlanOptions::weight_packed, weight_streamed).
  int packed_weight(const Node& n, const std::string& weight, int s, const dnnl::memory::desc& md);
  // Whether `n` is the only reader of constant `weight` left.
  bool only_reader(const Node& n, const std::string& weight) const;

  // --- steps -------------------------------------------------------------------
  void primitive_step(const dnnl::primitive& prim, std::vector<std::pair<int, int>> args, const std::string& what,
                      size_t scratchpad);

  void reorder_step(int src, int dst, const std::string& what);

  // Adds a step to the plan's slow-step report when it runs a reference
  // kernel on more than kSlowStepMinElements elements.
  void note_slow_step(const std::string& kernel, const std::vector<std::pair<int, int>>& args, const std::string& what,
                      const std::string& reason);

  static dnnl::primitive_attr user_attr();

  void define(const std::string& name, int slot);

  int output_slot(const Node& n, size_t i, const dnnl::memory::desc& md);

  bool is_float(const std::string& v) const { return graph().types.at(v).dtype == DType::kFloat; }

  const HostTensor* constant(const std::string& v) const;

  [[noreturn]] void fail(const Node& n, const std::string& why) const { throw OnnxError(n.describe(graph().opset) + ": " + why); }

  // --- lowering ---------------------------------------------------------------------
  void lower(const Node& n, const std::vector<PostOp>& post);

  // A host step running the front end's kernel for `n`; `why` is the
  // slow-step report's reason.
  void lower_reference(const Node& n, const std::string& why);
  void lower_nan_to_value(const Node& n);

  // Reshape and friends: the same bytes under new dims (plain layout).
  void lower_view(const Node& n);

  // Appends post-ops [0, count) to `ops`; returns the binary operands'
  // (arg index, slot) pairs. `sum_slot` is set for an in-place residual.
  std::vector<std::pair<int, int>> append_post_ops(dnnl::post_ops& ops, const std::vector<PostOp>& post, size_t count,
                                                   const Dims& out_dims, int& sum_slot, bool allow_sum);

  bool is_graph_input(int s) const;

  // True when another value still to be read views the same buffer as `s`.
  bool shares_live_buffer(int s, const std::string& value_name);

  // An operand viewed with `rank` dims (leading 1s), in plain layout unless
  // it already has the full rank.
  int operand_aligned(int s, size_t rank);

  // An operand seen with dst's dims: the same elements reshaped (a
  // flattened matmul), else broadcast with leading 1s.
  int operand_for(int s, const Dims& dst);

  // Emits post-ops [from, end) as standalone steps on slot `cur`.
  int standalone_post_ops(int cur, const std::vector<PostOp>& post, size_t from, const std::string& name);

  int eltwise_step(int src, const Eltwise& e, const std::string& what);

  // dst = a (op) b with b broadcast into `out_dims`; a must have out_dims.
  int binary_step(dnnl::algorithm alg, int a, int b, const Dims& out_dims, const std::string& what);

  // Finishes an anchor: the primitive was made with the first `fused`
  // post-ops; the rest run as their own steps; the result defines the
  // node's output.
  void finish_anchor(const Node& n, int out, const std::vector<PostOp>& post, size_t fused);

  // In bfloat16 mode: whether `value` is read only as the data input of
  // convolutions (not a graph output, a post-op operand or any other input).
  bool only_bf16_convolutions_read(const std::string& value) const;

  // Tries to make a primitive_desc with the first k post-ops, k from all
  // down to 0 (a post-op oneDNN cannot fuse here runs on its own). With
  // `avoid_reference`, a reference kernel is taken only when no k gives a
  // jit one: oneDNN 2.6 runs a batched matmul with a binary post-op
  // broadcast over its batch (Swin's relative position bias, [64,3,49,49] +
  // [1,3,49,49]) in ref:any, 304 ms, and without the post-op in gemm:jit,
  // 2.5 ms plus the add. (lower_conv has its own way out of a reference
  // kernel: the same post-ops with other layouts.)
  template <typename MakePd>
  auto with_post_ops(const std::vector<PostOp>& post, const Dims& out_dims, bool allow_sum, MakePd make, size_t& fused,
                     int& sum_slot, std::vector<std::pair<int, int>>& binary_args, bool avoid_reference = false) {
    using Built = decltype(make(dnnl::primitive_attr(), -1));
    struct Choice {
      Built built;
      size_t k;
      int sum;
      std::vector<std::pair<int, int>> args;
    };
    std::optional<Choice> reference;  // the most post-ops a reference kernel took
    for (size_t k = post.size() + 1; k-- > 0;) {
      dnnl::post_ops ops;
      int sum = -1;
      auto args = append_post_ops(ops, post, k, out_dims, sum, allow_sum);
      dnnl::primitive_attr attr = user_attr();
      attr.set_post_ops(ops);
      std::optional<Built> built;
      try {
        built = make(attr, sum);
      } catch (const dnnl::error&) {
        if (k == 0 && !reference) throw;
        continue;
      }
      if (avoid_reference && std::string(built->second.impl_info_str()).rfind("ref", 0) == 0) {
        if (!reference) reference = Choice{std::move(*built), k, sum, std::move(args)};
        continue;
      }
      fused = k;
      sum_slot = sum;
      binary_args = std::move(args);
      return std::move(*built);
    }
    fused = reference->k;
    sum_slot = reference->sum;
    binary_args = std::move(reference->args);
    return std::move(reference->built);
  }

  void lower_conv(const Node& n, const std::vector<PostOp>& post);
  // The channel-blocked activation layout of `d` for float32 convolutions,
  // when the plan uses one (see lower_conv.cpp).
  std::optional<dnnl::memory::desc> blocked_md(const Dims& d) const;
  static bool slow_convolution(const dnnl::primitive_desc_base& pd);

  // Depthwise fusion (lower_depthwise_fusion.cpp): node `i`, a float32 1x1
  // convolution whose result only a 3x3 depthwise convolution reads, and
  // that one as a single primitive. The depthwise node's index, or -1.
  long fusable_depthwise(size_t i);
  // Lowers both; false (nothing emitted) when oneDNN has no fused kernel
  // for them.
  bool lower_conv_depthwise(const Node& conv, const std::vector<PostOp>& post, const Node& dw, const std::vector<PostOp>& dw_post);
  // Whether Conv `n` runs as Winograd (float32 3x3 stride-1, channels in
  // whole 16-blocks; see lower_conv.cpp).
  bool runs_winograd(const Node& n) const;

  // A ConvTranspose whose output reaches past the last input's contribution
  // (an output_shape or output_padding beyond the kernel's reach: negative
  // end padding, which oneDNN refuses): the deconvolution of the reachable
  // part, zero-padded to the output, then bias and post-ops as steps.
  void lower_deconv_past_input(const Node& n, const std::vector<PostOp>& post, const dnnl::memory::dims& pl,
                               const dnnl::memory::dims& pr);

  // Zero padding of slot `src` (plain) by `pads` (ONNX order: begins then
  // ends) into a new slot of dims `out`: a host Pad step.
  int pad_step(const Node& n, int src, const std::vector<int64_t>& pads, const Dims& out);

  void lower_matmul(const Node& n, const std::vector<PostOp>& post_in);

  static Dims md_dims(const dnnl::memory::desc& md);

  void lower_pool(const Node& n);

  int vector_slot(const std::string& v, int64_t c, const Node& n);

  void lower_batch_norm(const Node& n);

  bool lower_layer_norm(const Node& n);

  bool lower_softmax(const Node& n);

  bool lower_reduce(const Node& n);

  void lower_concat(const Node& n);

  void lower_transpose(const Node& n);

  bool lower_split(const Node& n);
  // lower_slice.cpp: Slice with constant positive steps, and Gather at one
  // constant index, as views copied out by a reorder, a Pad by zero as a
  // view; false: the host kernel.
  bool lower_slice(const Node& n);
  bool lower_gather_constant(const Node& n);
  bool lower_pad_as_view(const Node& n);
  template <typename Resolve>
  auto resolve_with_constants(const Node& n, Resolve resolve);

  bool scalar(const std::string& v, float& out) const;

  bool lower_binary(const Node& n);

  // A [1, C, 1, ...] operand: oneDNN broadcasts it per channel over any layout.
  bool is_channel_vector(int s, const Dims& od) const;

  bool lower_pow(const Node& n);
  bool lower_prelu(const Node& n);
  bool lower_instance_norm(const Node& n);

  bool lower_unary(const Node& n);

  void release_unread_constants();

  // --- arena ---------------------------------------------------------------------
  // Liveness-based buffer sharing: a value's buffer is reused once its last
  // reader has run (best fit among free blocks). Plan inputs and outputs
  // stay live throughout.
  void assign_buffers();
};

}  // namespace mrt::onednn
