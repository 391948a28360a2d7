// What the ONNX plugins (onednn, cudnn) do the same way at the ABI: read a
// model through the host's vfs, probe, describe and bind inputs/outputs, and
// keep a few plans per set of input dims. Header only; the only file of the
// front end that sees the plugin ABI, and only the plugins include it.
#pragma once

#include <mrt/plugin.h>

#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mrt/plugin_util.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "mrt/onnx/ir.h"
#include "mrt/onnx/onnx_loader.h"

namespace mrt::onnx::glue {

struct IoInfo {
  std::string name;
  int32_t dtype = 0;
  std::vector<int64_t> dims;
};

inline std::vector<IoInfo> io_infos(const Graph& g, const std::vector<std::string>& names) {
  std::vector<IoInfo> out;
  for (const auto& n : names) {
    IoInfo io;
    io.name = n;
    auto t = g.types.find(n);
    if (t != g.types.end()) {
      io.dtype = static_cast<int32_t>(t->second.dtype);
      io.dims = t->second.dims;
    }
    out.push_back(std::move(io));
  }
  return out;
}

// A model option with a fixed set of values (`values[0]` when absent); any
// other value throws OnnxError naming the option, the value and the choices
// ("option winograd 'maybe' is not on or off").
inline std::string choice_option(const MRT_ModelLoadArgs* args, const char* key,
                                 const std::vector<std::string>& values) {
  std::string v = mrt_plugin::option(args, key, values.front().c_str());
  for (const auto& allowed : values)
    if (v == allowed) return v;
  std::string choices;
  for (size_t i = 0; i < values.size(); ++i)
    choices += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + values[i];
  throw OnnxError("option " + std::string(key) + " '" + v + "' is not " + choices);
}

// A plan for a request's input dims would hold more memory per call than
// the model allows: the request is too large for this service
// (RESOURCE_EXHAUSTED), not malformed.
struct PlanTooLarge : OnnxError {
  using OnnxError::OnnxError;
};

// A model option holding a whole number in [min, max] (`fallback` when
// absent); anything else throws OnnxError naming the option and the value.
inline uint64_t count_option(const MRT_ModelLoadArgs* args, const char* key, uint64_t fallback, uint64_t min,
                             uint64_t max) {
  std::string v = mrt_plugin::option(args, key, "");
  if (v.empty()) return fallback;
  uint64_t n = 0;
  bool ok = v.size() <= 19;
  for (char c : v) ok = ok && c >= '0' && c <= '9';
  if (ok) n = std::stoull(v);
  if (!ok || n < min || n > max)
    throw OnnxError("option " + std::string(key) + " '" + v + "' is not a whole number from " + std::to_string(min) +
                    " to " + std::to_string(max));
  return n;
}

// The declared input dims with every dynamic one as 1: what a model is
// planned for at load.
inline std::vector<Dims> load_dims(const std::vector<IoInfo>& inputs) {
  std::vector<Dims> dims;
  for (const auto& in : inputs) {
    Dims d = in.dims;
    for (auto& v : d) v = v < 0 ? 1 : v;
    dims.push_back(d);
  }
  return dims;
}

// Probe: an ONNX file starts with ModelProto field 1 (ir_version, varint),
// byte 0x08. `named` scores a manifest that says format onnx, `sniffed` a
// bare file.
inline int32_t probe(const MRT_HostApi* host, const MRT_ModelSource* source, const char* format, int32_t named,
                     int32_t sniffed) {
  try {
    bool is_named = format && std::strcmp(format, "onnx") == 0;
    if (format && format[0] != '\0' && !is_named) return 0;
    mrt_plugin::Blob b(host);
    if (MRT_Status* s = host->file_map(source, host->source_primary_file(source), b.out())) {
      host->status_free(s);
      return 0;
    }
    const auto* p = static_cast<const unsigned char*>(b.data());
    if (b.size() < 2 || p[0] != 0x08) return 0;
    return is_named ? named : sniffed;
  } catch (...) {
    return 0;
  }
}

// The model file read at offsets through the host (file_open, ABI 1.2):
// what the loader reads goes from the file into its own buffers.
class HostFileBytes final : public ByteSource {
 public:
  HostFileBytes(const MRT_HostApi* host, MRT_File* file, uint64_t size) : host_(host), file_(file), size_(size) {}
  ~HostFileBytes() override { host_->file_close(file_); }
  HostFileBytes(const HostFileBytes&) = delete;
  HostFileBytes& operator=(const HostFileBytes&) = delete;
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, size_t n) override {
    if (MRT_Status* s = host_->file_read_at(file_, offset, dst, n)) {
      std::string why = host_->status_message(s);
      host_->status_free(s);
      throw OnnxError(why);
    }
  }

 private:
  const MRT_HostApi* host_;
  MRT_File* file_;
  uint64_t size_;
};

// The model's primary file, parsed; external data is read through the host
// (which confines it to the model's directory). Read at offsets where the
// host can (ABI 1.2), so no copy of the whole file sits beside the weights
// while they load; mapped (or read whole) by older hosts. Throws OnnxError;
// a host error opening the primary file comes back as *status instead.
inline Graph load_graph(const MRT_HostApi* host, const MRT_ModelSource* source, MRT_Status** status) {
  *status = nullptr;
  auto side = [&](const std::string& rel) {
    mrt_plugin::Blob sb(host);
    if (MRT_Status* s = host->file_read(source, rel.c_str(), sb.out())) {
      std::string why = host->status_message(s);
      host->status_free(s);
      throw OnnxError("external data '" + rel + "': " + why);
    }
    const char* d = static_cast<const char*>(sb.data());
    return std::vector<char>(d, d + sb.size());
  };
  const char* primary = host->source_primary_file(source);
  if (MRT_FIELD_PRESENT(host, MRT_HostApi, file_close) && host->file_open && host->file_read_at && host->file_close) {
    MRT_File* file = nullptr;
    uint64_t size = 0;
    if (MRT_Status* s = host->file_open(source, primary, &file, &size)) {
      *status = s;
      return {};
    }
    HostFileBytes bytes(host, file, size);
    return load_onnx(bytes, side);
  }
  mrt_plugin::Blob b(host);
  if (MRT_Status* s = host->file_map(source, primary, b.out())) {
    *status = s;
    return {};
  }
  return load_onnx(b.data(), b.size(), side);
}

// model_io for a list of inputs or outputs; `err` makes a prefixed status.
template <typename Err>
MRT_Status* describe(const std::vector<IoInfo>& list, int32_t is_output, size_t index, MRT_TensorInfo* out, Err&& err) {
  if (index >= list.size())
    return err(MRT_CODE_OUT_OF_RANGE, "no " + std::string(is_output ? "output " : "input ") + std::to_string(index));
  const IoInfo& io = list[index];
  out->name = io.name.c_str();
  out->dtype = io.dtype;
  out->rank = static_cast<int32_t>(io.dims.size());
  out->dims = io.dims.data();
  return nullptr;
}

// Matches request tensors to the model's inputs (by name; a single unnamed
// tensor feeds a single-input model) and checks dtype, rank, static dims and
// that the data is in host memory.
template <typename Err>
MRT_Status* bind_inputs(const std::vector<IoInfo>& inputs, const MRT_StageArgs* args,
                        std::vector<const MRT_Tensor*>& bound, Err&& err) {
  bound.assign(inputs.size(), nullptr);
  for (size_t i = 0; i < args->num_tensors; ++i) {
    const MRT_Tensor& t = args->tensors[i];
    size_t k = inputs.size();
    for (size_t j = 0; j < inputs.size(); ++j)
      if (t.name && inputs[j].name == t.name) k = j;
    if (k == inputs.size() && (t.name == nullptr || t.name[0] == '\0') && inputs.size() == 1) k = 0;
    if (k == inputs.size())
      return err(MRT_CODE_INVALID_ARGUMENT, "the model has no input '" + std::string(t.name ? t.name : "") + "'");
    if (bound[k]) return err(MRT_CODE_INVALID_ARGUMENT, "input '" + inputs[k].name + "' given twice");
    bound[k] = &t;
  }
  for (size_t j = 0; j < inputs.size(); ++j) {
    const IoInfo& io = inputs[j];
    const MRT_Tensor* t = bound[j];
    if (!t) return err(MRT_CODE_INVALID_ARGUMENT, "input '" + io.name + "' is missing");
    if (t->dtype != io.dtype)
      return err(MRT_CODE_INVALID_ARGUMENT, "input '" + io.name + "' must be " +
                                                dtype_name(static_cast<DType>(io.dtype)) + ", got " +
                                                dtype_name(static_cast<DType>(t->dtype)));
    Dims got(t->dims, t->dims + t->rank);
    bool ok = static_cast<size_t>(t->rank) == io.dims.size();
    for (size_t d = 0; ok && d < io.dims.size(); ++d) ok = io.dims[d] < 0 || io.dims[d] == got[d];
    if (!ok)
      return err(MRT_CODE_INVALID_ARGUMENT, "input '" + io.name + "' must have shape " + dims_string(io.dims) +
                                                " (-1 = any), got " + dims_string(got));
    if (t->device_kind != MRT_DEVICE_CPU)
      return err(MRT_CODE_INVALID_ARGUMENT, "input '" + io.name + "' is not in host memory");
  }
  return nullptr;
}

// The dims of bound request tensors (bind_inputs' output).
inline std::vector<Dims> dims_of(const std::vector<const MRT_Tensor*>& bound) {
  std::vector<Dims> dims;
  for (const auto* t : bound) dims.emplace_back(t->dims, t->dims + t->rank);
  return dims;
}

// An execute call's first half: bind the request's tensors, then get the
// plan for their dims from `plan_for` (which may build one; a shape the
// graph cannot take is the caller's error, not the plugin's).
template <typename Entry, typename PlanFor, typename Err>
MRT_Status* bind_and_plan(const std::vector<IoInfo>& inputs, const MRT_StageArgs* args,
                          std::vector<const MRT_Tensor*>& bound, std::shared_ptr<Entry>& entry, PlanFor&& plan_for,
                          Err&& err) {
  if (MRT_Status* s = bind_inputs(inputs, args, bound, err)) return s;
  try {
    entry = plan_for(dims_of(bound));
  } catch (const PlanTooLarge& e) {
    return err(MRT_CODE_RESOURCE_EXHAUSTED, e.what());
  } catch (const OnnxError& e) {
    return err(MRT_CODE_INVALID_ARGUMENT, std::string("cannot run these input shapes: ") + e.what());
  }
  return nullptr;
}

// Per-call state a plan's concurrent calls borrow and give back, made on
// demand (as many as calls have ever overlapped).
template <typename Context>
class ContextPool {
 public:
  template <typename Make>
  std::unique_ptr<Context> take(Make&& make) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<Context> c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    return make();
  }
  void give_back(std::unique_ptr<Context> c) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(c));
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Context>> idle_;
};

// A few plans per model, one per set of input dims, least recently used
// dropped first (calls in flight keep theirs through the shared_ptr).
//
// The plan a load makes for the declared dims (dynamic ones as 1) is
// provisional: it checks the model and makes a first request of those dims
// fast, but a service whose callers send batch 8 never runs it. Until a call
// asks for it, it is dropped before any other plan is built, so that build
// does not hold both (ResNet-18: the batch-1 plan's 90 MB of packed
// Winograd weights, arena and scratchpad beside batch 8's). A caller that
// later sends those dims pays one build.
template <typename Entry>
class PlanCache {
 public:
  explicit PlanCache(size_t capacity) : capacity_(capacity) {}

  // The entry for `dims`, made by build(dims) on first sight (under the
  // lock: two calls with new dims do not build the same plan twice).
  template <typename Build>
  std::shared_ptr<Entry> get(const std::vector<Dims>& dims, Build&& build) {
    return find_or_build(dims, std::forward<Build>(build), false);
  }
  // The same for a load's plan: provisional until get() asks for its dims.
  template <typename Build>
  std::shared_ptr<Entry> prepare(const std::vector<Dims>& dims, Build&& build) {
    return find_or_build(dims, std::forward<Build>(build), true);
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_.size();
  }

 private:
  struct Cached {
    std::shared_ptr<Entry> entry;
    bool provisional;
  };
  template <typename Build>
  std::shared_ptr<Entry> find_or_build(const std::vector<Dims>& dims, Build&& build, bool provisional) {
    std::string key;
    for (const auto& d : dims) key += dims_string(d) + ";";
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      if (!provisional) it->second.provisional = false;
      lru_.remove(key);
      lru_.push_front(key);
      return it->second.entry;
    }
    // No call has run a provisional plan (get() would have cleared the
    // mark), so nothing but this cache holds it.
    std::erase_if(lru_, [&](const std::string& k) { return entries_.at(k).provisional; });
    std::erase_if(entries_, [](const auto& kv) { return kv.second.provisional; });
    std::shared_ptr<Entry> entry = build(dims);
    entries_[key] = Cached{entry, provisional};
    lru_.push_front(key);
    while (lru_.size() > capacity_) {
      entries_.erase(lru_.back());
      lru_.pop_back();
    }
    return entry;
  }
  size_t capacity_;
  mutable std::mutex mu_;
  std::map<std::string, Cached> entries_;
  std::list<std::string> lru_;  // most recent first
};

}  // namespace mrt::onnx::glue
