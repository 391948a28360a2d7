// See streamed_packing.h.
#include "streamed_packing.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <vector>

namespace mrt::onednn {

namespace {

// The source's outermost dimension (largest stride) of more than one
// element ([1, K, N] slices along K), or -1.
int outermost(const dnnl::memory::desc& md) {
  const auto& d = md.data;
  int best = -1;
  for (int i = 0; i < d.ndims; ++i)
    if (d.dims[i] > 1 && (best < 0 || d.format_desc.blocking.strides[i] > d.format_desc.blocking.strides[best]))
      best = i;
  return best;
}

// A reorder back from the packed copy into the source, made before the
// source's pages could go.
struct Undo {
  dnnl::reorder back;
  dnnl::memory packed, source;
};

// Runs every undo; a failure here would lose the weight's only copy, so
// it ends the process instead.
void put_back(dnnl::stream& stream, std::vector<Undo>& undo) noexcept {
  try {
    for (auto& u : undo) u.back.execute(stream, u.packed, u.source);
    stream.wait();
  } catch (...) {
    std::terminate();
  }
}

}  // namespace

int64_t packing_slice_rows(const dnnl::memory::desc& from, const dnnl::memory::desc& to, size_t slice_bytes) {
  const auto &f = from.data, &t = to.data;
  if (f.format_kind != dnnl_blocked || t.format_kind != dnnl_blocked || f.data_type != dnnl_f32 ||
      t.data_type != dnnl_f32 || f.offset0 != 0 || t.offset0 != 0 || f.ndims != t.ndims || f.ndims < 1 ||
      f.format_desc.blocking.inner_nblks != 0)
    return 0;
  for (int i = 0; i < f.ndims; ++i)
    if (f.dims[i] != t.dims[i] || f.padded_dims[i] != f.dims[i] || t.padded_dims[i] != t.dims[i]) return 0;
  if (from.get_size() != static_cast<size_t>(onnx::element_count(from.dims())) * sizeof(float)) return 0;  // not dense
  int o = outermost(from);
  if (o < 0) return 0;
  int64_t block = 1;
  for (int k = 0; k < t.format_desc.blocking.inner_nblks; ++k)
    if (t.format_desc.blocking.inner_idxs[k] == o) block *= t.format_desc.blocking.inner_blks[k];
  size_t row_bytes = static_cast<size_t>(f.format_desc.blocking.strides[o]) * sizeof(float);
  int64_t rows = std::max<int64_t>(block, static_cast<int64_t>(slice_bytes / row_bytes) / block * block);
  return rows < f.dims[o] ? rows : 0;
}

void pack_in_slices(const dnnl::engine& engine, const dnnl::memory::desc& from, float* src,
                    const dnnl::memory::desc& to, void* dst, int64_t rows,
                    const std::function<void(size_t)>& consumed) {
  int o = outermost(from);
  const int64_t total = from.data.dims[o];
  const size_t row_bytes = static_cast<size_t>(from.data.format_desc.blocking.strides[o]) * sizeof(float);
  dnnl::memory::dims dims(from.data.dims, from.data.dims + from.data.ndims);
  dnnl::stream stream(engine);
  std::vector<Undo> undo;  // one per slice whose source may be gone
  try {
    for (int64_t r0 = 0; r0 < total; r0 += rows) {
      int64_t r1 = std::min(total, r0 + rows);
      dnnl::memory::dims sub = dims, offsets(dims.size(), 0);
      sub[static_cast<size_t>(o)] = r1 - r0;
      offsets[static_cast<size_t>(o)] = r0;
      dnnl::memory sm(from.submemory_desc(sub, offsets), engine, src), dm(to.submemory_desc(sub, offsets), engine, dst);
      dnnl::reorder(sm, dm).execute(stream, sm, dm);
      stream.wait();
      undo.push_back({dnnl::reorder(dm, sm), dm, sm});
      consumed(static_cast<size_t>(r1) * row_bytes);
    }
  } catch (...) {
    put_back(stream, undo);
    throw;
  }
}

std::shared_ptr<onnx::HostTensor> pack_streamed(
    const dnnl::engine& engine, const dnnl::memory::desc& from, const float* source, const dnnl::memory::desc& to,
    int64_t rows, const std::function<void(const std::shared_ptr<onnx::HostTensor>&)>& adopt) {
  auto buffer = onnx::allocate_host_buffer(to.get_size(), false);  // pages faulted in as written
  void* dst = buffer.get();
  onnx::HostTensor t = onnx::HostTensor::adopt(onnx::DType::kFloat, {static_cast<int64_t>((to.get_size() + 3) / 4)},
                                               std::move(buffer), dst);
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t huge = uintptr_t{2} << 20;
  const auto begin = reinterpret_cast<uintptr_t>(source);
  const size_t bytes = from.get_size();
  uintptr_t given = (begin + page - 1) / page * page;
  pack_in_slices(engine, from, const_cast<float*>(source), to, dst, rows, [&](size_t read) {
    uintptr_t end = begin + read;
    uintptr_t upto = read == bytes ? end / page * page : end / huge * huge;
    if (upto <= given) return;
#ifdef MADV_NOHUGEPAGE
    (void)madvise(reinterpret_cast<void*>(given), upto - given, MADV_NOHUGEPAGE);  // see WeightResidency::let_go_locked
#endif
    if (madvise(reinterpret_cast<void*>(given), upto - given, MADV_DONTNEED) == 0) given = upto;
  });
  std::shared_ptr<onnx::HostTensor> packed;
  try {
    packed = std::make_shared<onnx::HostTensor>(std::move(t));  // on failure t is as it was
    adopt(packed);
  } catch (...) {
    dnnl::stream stream(engine);
    const onnx::HostTensor& copy = packed ? *packed : t;
    dnnl::memory dm(to, engine, const_cast<void*>(copy.address())), sm(from, engine, const_cast<float*>(source));
    std::vector<Undo> all;
    try {
      all.push_back({dnnl::reorder(dm, sm), dm, sm});
    } catch (...) {
      std::terminate();  // the weight's one copy could not be put back: better no process than wrong answers
    }
    put_back(stream, all);
    throw;
  }
  return packed;
}

}  // namespace mrt::onednn
