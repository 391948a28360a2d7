// How the ABI's structs cross the worker channel: the one encoding of
// tensors, requests, stage arguments and results that both the service's
// proxy (plugin_worker_host.cpp) and the worker (plugin_worker_main.cpp)
// use. Decoded structs point into the frame they came from (DecodedX holds
// the storage), so nothing is copied twice.
#pragma once

#include <mrt/plugin.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "mrt/core/host_api.h"
#include "mrt/core/loaded_model.h"
#include "mrt/core/worker_channel.h"

namespace mrt::worker {

// A tensor view decoded from a frame: owns the name and dims it points to.
struct DecodedTensor {
  std::string name;
  std::vector<int64_t> dims;
  MRT_Tensor view{};
};

void write_tensor(Writer& w, const MRT_Tensor& t, bool discard = false);
// Fills `out` (whose view points into `out`'s strings and the reader's data).
void read_tensor(Reader& r, DecodedTensor& out);
Status check_host_tensor(const MRT_Tensor& t);

// A request and a stage's input tensors.
void write_stage_input(Writer& w, const MRT_Request& request, const MRT_Tensor* tensors, size_t num_tensors);
struct DecodedStageInput {
  std::deque<DecodedTensor> request_tensors, stage_tensors;  // deque: stable addresses
  std::vector<MRT_Tensor> request_views, stage_views;
  std::string text;
  std::vector<std::string> stops;
  std::vector<const char*> stop_ptrs;
  MRT_GenerationParams generation{};
  MRT_Request request{};
  std::shared_ptr<Mapping> keep;  // the memfd the data lives in
};
Status read_stage_input(Reader& r, DecodedStageInput& out);

// A stage's results (the worker fills a local MRT_Results).
// `discard`: the results are not read after the frame is finished, so their
// bytes may be given back as they are copied (Writer::bulk).
void write_results(Writer& w, const MRT_Results& results, bool discard = false);
// Adds the decoded results to the service's `results` through the host API.
Status read_results_into(Reader& r, MRT_Results* results);

// A model's description, answered from the proxy without a round trip.
struct ModelDescription {
  MRT_ModelInfo info{};          // its ABI 1.1 string fields are NULL: see `generation`
  GenerationInfo generation;
  struct Io {
    std::string name;
    int32_t dtype = 0;
    int32_t rank = 0;
    std::vector<int64_t> dims;
  };
  std::vector<Io> inputs, outputs;
};
void write_description(Writer& w, const ModelDescription& d);
void read_description(Reader& r, ModelDescription& d);

}  // namespace mrt::worker
