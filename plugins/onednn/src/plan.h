// An execution plan: one specialized, fused ONNX graph lowered to oneDNN
// primitives (created, and their weights reordered, once) plus host
// reference steps for the ops oneDNN has no primitive for. A plan is built
// per set of concrete input dims (a new batch size builds a new plan) and
// is immutable afterwards; each concurrent call runs it with its own
// ExecContext (activation arena, scratchpad, memory objects).
#pragma once

#include <cstdint>
#include <dnnl.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "mrt/onnx/graph_passes.h"
#include "mrt/onnx/ir.h"
#include "weight_cache.h"

namespace mrt::onednn {

using onnx::DType;
using onnx::Dims;
using onnx::HostTensor;

// One value the plan reads or writes.
struct Slot {
  std::string name;
  DType dtype = DType::kFloat;
  Dims dims;
  dnnl::memory::desc md;  // float32 slots: the layout stored; others: empty
  size_t bytes = 0;
  int buffer = -1;                  // arena buffer; -1 for constants
  const HostTensor* constant = nullptr;
  std::shared_ptr<HostTensor> owned;  // constants the plan made (reordered weights, scaled biases)
  bool released = false;  // a constant no step reads, its bytes let go after planning

  // A value of `dtype` and `dims` stored in layout `md` (float32; other
  // dtypes are dense row-major), its size computed from them.
  static Slot of(std::string name, DType dtype, Dims dims, dnnl::memory::desc md = {}) {
    Slot s;
    s.bytes = dtype == DType::kFloat ? md.get_size() : static_cast<size_t>(onnx::element_count(dims)) * onnx::dtype_size(dtype);
    s.name = std::move(name);
    s.dtype = dtype;
    s.dims = std::move(dims);
    s.md = std::move(md);
    return s;
  }
};

struct PrimitiveStep {
  dnnl::primitive primitive;
  std::vector<std::pair<int, int>> args;  // DNNL_ARG_* → slot
  std::string what;                        // node name and kind, for profiling and errors
  // The primitive's scratchpad: bytes of the arena that are its own while
  // it runs only (assign_buffers places it beside the values live then).
  size_t scratchpad_bytes = 0;
  size_t scratchpad_offset = 0;
};

struct ReferenceStep {
  onnx::Node node;
  std::vector<int> inputs;   // slot per node input (-1 = omitted)
  std::vector<int> outputs;  // slot per node output (-1 = omitted)
};

class ExecContext;

// A kernel of this backend's own run on the host directly on the arena's
// plain float32 bytes (no copies in or out, threaded): patterns oneDNN has
// no primitive for but that are hot in real exports, such as the NaN guard
// after an attention softmax (NanToValue).
struct HostKernelStep {
  std::function<void(ExecContext&)> run;
  std::string what;  // node name and kernel, for profiling and errors
};

struct Step {
  int kind = 0;  // 0 = primitive, 1 = reference, 2 = host kernel
  PrimitiveStep prim;
  ReferenceStep ref;
  HostKernelStep host;
};

// A step that runs a reference kernel on a sizeable tensor: oneDNN's (its
// implementation string contains "ref": plain C++ loops, 10-100x slower
// than its jit kernels) or the host's (a ReferenceStep: the front end's
// scalar kernels, with copies in and out). The planner lists every one
// (Plan::slow_steps()) and the plugin logs them when it builds a plan:
// a squeeze-and-excitation Mul on oneDNN's reference binary kernel made
// EfficientNet-B0 20x slower than onnxruntime at batch 8.
struct SlowStep {
  std::string op;       // ONNX op type of the node being lowered ("Mul"); "" for a graph output's reorder
  std::string node;     // that node's name
  std::string step;     // the step's own name (PrimitiveStep::what, or the node's name)
  std::string kernel;   // oneDNN's implementation ("ref:any"), or "host" for a ReferenceStep
  std::string tensors;  // each argument: "src 8x144x56x56 f32 abcd, src1 8x144x1x1 f32 aBcd8b, dst ..."
  int64_t elements = 0;  // the largest argument's element count
  std::string reason;   // why no optimized kernel runs it
  // One line for logs: "'se_mul_12' (Mul): ref:any on src 8x144x56x56 ...
  // (3612672 elements): <reason>".
  std::string describe() const;
};
// Steps whose tensors all have at most this many elements are not reported
// (a squeeze-and-excitation's [N, C/4, 1, 1] gate in a padded blocked
// layout takes oneDNN's reference eltwise: microseconds).
constexpr int64_t kSlowStepMinElements = 4096;

// How a plan computes (the model's `precision` and `winograd` options).
struct PlanOptions {
  // Convolutions read bfloat16 activations and weights and accumulate in
  // float32 (AMX / AVX512-BF16 kernels: several times the float32 rate, ~3
  // significant digits per product); they write bfloat16 where only other
  // convolutions read the result, float32 elsewhere. Everything else stays
  // float32.
  bool bf16_convolutions = false;
  // 3x3 stride-1 float32 convolutions use oneDNN's Winograd kernels
  // (F(2x2, 3x3) or F(4x4, 3x3), as oneDNN picks by shape): 1.2-2.4x the
  // direct kernel on ResNet layers, outputs within ~1e-6 relative of the
  // direct kernels' (the `winograd` option; off: direct kernels only).
  bool winograd = true;
  // Float32 2-D convolutions read and write oneDNN's channel-blocked layout
  // (nChw16c with AVX-512, nChw8c with AVX2) rather than the NHWC oneDNN
  // picks by itself for its brgconv kernels, and a 1x1 convolution feeding
  // a 3x3 depthwise one runs both as one primitive (the `conv_layout`
  // option: blocked, or onednn for oneDNN's own choice). See
  // lower_conv.cpp for the figures.
  bool blocked_convolutions = true;
  // Batch splitting (batch_split.h): a batch whose early tensors outgrow
  // this many bytes runs its first layers in sub-batches that fit; 0 never
  // splits (the `batch_split` option: auto sets the cores' L2, off 0).
  size_t batch_split_cache_bytes = 0;
  // Packed weights shared with the model's other plans (null: this plan
  // packs its own).
  std::shared_ptr<WeightCache> weight_cache;
  // Told of each graph weight packed for the only node that reads it while
  // the plan is built (the model may let go of its loaded copy then rather
  // than hold both until the plan is done: weight_residency.h; a weight let
  // go comes back by itself when a later step reads it, its residency hook,
  // as when a batch split the graph does not take falls back to a
  // whole-batch plan that packs it again). Unset: nothing is let go during a
  // build.
  std::function<void(const HostTensor& weight)> weight_packed;
  // Asked before a graph weight is packed for the only node that reads it:
  // true when the model will let go of its loaded copy once packed. The
  // packing then lets go of that copy's pages as it writes (one slice held
  // twice, not the weight: streamed_packing.h) and reports the result to
  // weight_streamed, which must take it as the weight's one copy. Unset:
  // both copies stay until the packing is done.
  std::function<bool(const HostTensor& weight)> weight_may_stream;
  // A weight the model let go, packed from layout `from` to `to`: that
  // packed copy (its one copy), or null. A build for another batch size
  // whose kernel wants the same layout takes it as it is instead of
  // bringing the weight back to hash it for the weight cache (VGG-11 at
  // batch 8 after batch 1 held its 411 MB classifier weight twice).
  std::function<std::shared_ptr<HostTensor>(const HostTensor& weight, const dnnl::memory::desc& from,
                                            const dnnl::memory::desc& to)>
      let_go_packing;
  std::function<void(const HostTensor& weight, WeightCache::Packing packing)> weight_streamed;
};

// How a plan meets another at a batch split: graph inputs read in a given
// layout instead of plain row-major, graph outputs left in the strided
// layout their producer wrote (both batch-outermost, so a sub-batch is a
// contiguous slice).
struct PlanBoundary {
  std::map<std::string, dnnl::memory::desc> input_layouts;
  bool strided_outputs = false;
};

// The graph passes this backend runs on a specialized graph before planning:
// channel concats split into their readers (onnx::split_concat_consumers:
// a concat is a copy through memory here), then onnx::plan_fusions, then
// SiLU (Mul(x, Sigmoid(x))) as one swish, fused into x's producer where it
// can be (plan.cpp).
onnx::FusedGraph prepare_graph(onnx::Graph g);

// Whether this CPU runs bfloat16 convolutions natively (AVX512-BF16 or AMX);
// without, oneDNN would emulate them, slower than float32.
bool cpu_has_native_bf16();

// Whether oneDNN runs at least instruction set `isa` here (its ISA values
// are nested bit sets).
bool cpu_has_isa(dnnl::cpu_isa isa);

class Plan {
 public:
  // Lowers `g` (specialized and fused). Throws onnx::OnnxError naming the
  // node for anything it cannot run.
  Plan(const dnnl::engine& engine, onnx::FusedGraph g, PlanOptions options = {}, const PlanBoundary& boundary = {});
  ~Plan();

  const std::vector<int>& input_slots() const { return inputs_; }
  const std::vector<int>& output_slots() const { return outputs_; }
  const Slot& slot(int i) const { return slots_[static_cast<size_t>(i)]; }
  int num_slots() const { return static_cast<int>(slots_.size()); }
  // Sizes, counts: a split plan's include its prefix's.
  // The arena holds the values and each primitive's scratchpad.
  size_t arena_bytes() const { return arena_bytes_ + (prefix_ ? prefix_->arena_bytes() : 0); }
  // The largest one primitive's scratchpad (part of the arena).
  size_t largest_scratchpad() const;
  size_t constant_bytes() const { return constant_bytes_ + (prefix_ ? prefix_->constant_bytes() : 0); }
  // What one call context allocates: its arena (its prefix's included).
  size_t call_bytes() const { return arena_bytes(); }
  size_t num_primitives() const;
  size_t num_reference_steps() const;
  // Run-time reorders between layouts (constants' are done at build time).
  size_t num_reorder_steps() const;
  // "<step>: <oneDNN implementation>" per primitive step, in run order.
  std::vector<std::string> kernels() const;
  int fused_nodes() const { return fused_nodes_; }
  // Steps that run a reference kernel on more than kSlowStepMinElements
  // elements, in run order (a split plan's prefix first): empty for every
  // common block of the CNNs and transformers we serve
  // (tests/unit/onednn_common_blocks_test.cpp).
  std::vector<SlowStep> slow_steps() const;
  // Convolutions lowered to Winograd kernels (the prefix's included).
  int winograd_convolutions() const;
  // 1x1 convolutions that run with the depthwise one after them fused in.
  int depthwise_fusions() const;
  // A split plan (batch_split.h): images per prefix run, and the value the
  // prefix hands over; 0 and "" for a plan that runs the whole batch at once.
  int64_t split_sub_batch() const { return prefix_ ? prefix_->slot(prefix_->inputs_[0]).dims[0] : 0; }
  const std::string& split_cut() const { return split_cut_; }

  // The bytes of every constant the plan's slots point at (its prefix's
  // included), as (start, size): what must stay resident while it lives.
  void constant_ranges(std::vector<std::pair<const char*, size_t>>& out) const;

  std::unique_ptr<ExecContext> make_context() const;
  // Runs every step; `cancelled` is polled between steps (true stops the
  // run and returns false).
  bool run(ExecContext& ctx, const std::function<bool()>& cancelled) const;

 private:
  friend class PlanBuilder;
  friend class ExecContext;
  friend std::unique_ptr<Plan> build_plan(const dnnl::engine&, const onnx::Graph&, const std::map<std::string, Dims>&, const PlanOptions&);
  // Runs the prefix once per sub-batch: input slices in, the cut value's
  // slices out into this plan's cut slot.
  bool run_prefix(ExecContext& ctx, const std::function<bool()>& cancelled) const;
  dnnl::engine engine_;
  PlanOptions options_;
  onnx::Graph graph_;  // keeps the constants the slots point into
  std::vector<Slot> slots_;
  std::vector<Step> steps_;
  std::vector<int> inputs_, outputs_;
  std::vector<size_t> buffer_offsets_;
  size_t arena_bytes_ = 0;
  size_t constant_bytes_ = 0;
  int fused_nodes_ = 0;
  int winograd_convolutions_ = 0;
  int depthwise_fusions_ = 0;
  std::vector<SlowStep> slow_steps_;
  // Split plans: the prefix, the slot its output fills here, and the name
  // of that value. inputs_ are then full-batch staging slots the prefix
  // reads its slices from.
  std::unique_ptr<Plan> prefix_;
  int cut_slot_ = -1;
  std::string split_cut_;
};

// Per-call state: the activation arena and the memory objects over it.
class ExecContext {
 public:
  explicit ExecContext(const Plan& plan);
  ~ExecContext();
  ExecContext(const ExecContext&) = delete;
  ExecContext& operator=(const ExecContext&) = delete;

  void* data(int slot);
  const void* data(int slot) const;

 private:
  friend class Plan;
  const Plan& plan_;
  void* arena_ = nullptr;
  std::vector<dnnl::memory> memories_;                       // per slot (float32 slots)
  std::vector<std::unordered_map<int, dnnl::memory>> args_;  // per primitive step
  dnnl::stream stream_;
  std::unique_ptr<ExecContext> prefix_;  // a split plan's prefix context
};

// Specializes, fuses, plans and runs `g` once on `inputs` (one per graph
// input, in order): the node-test runner's and the unit tests' entry point.
std::vector<HostTensor> run_graph(const dnnl::engine& engine, const onnx::Graph& g, const std::vector<HostTensor>& inputs);

}  // namespace mrt::onednn
