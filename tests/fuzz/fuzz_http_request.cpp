// libFuzzer target: the HTTP front ends' request translation
// (vnode/service/openai_api.h, kserve_api.h): JSON bodies and KServe's
// binary tensor data from untrusted clients. The first byte picks the path
// and whether an Inference-Header-Content-Length header (the next two bytes)
// comes with it; the rest is the body. Any bytes must give a service request
// or an error answer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kserve_api.h"
#include "openai_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto openai = mrt::vnode::make_openai_api();
  static const auto kserve = mrt::vnode::make_kserve_api("model-runtime", "0");
  static const char* kPaths[] = {"/v1/completions", "/v1/chat/completions", "/v1/embeddings",
                                 "/v2/models/m/infer", "/v2/models/m/versions/1/infer", "/v1/models/m"};
  if (size < 3) return 0;
  mrt::vnode::HttpRequest req;
  req.method = data[0] & 0x80 ? "GET" : "POST";
  req.path = kPaths[(data[0] & 0x3f) % std::size(kPaths)];
  if (data[0] & 0x40)
    req.headers.emplace_back("inference-header-content-length", std::to_string(data[1] | data[2] << 8));
  req.body.assign(reinterpret_cast<const char*>(data + 3), size - 3);
  auto& api = openai->serves(req.path) ? *openai : *kserve;
  mrt::vnode::Routed r = api.route(req);
  if (r.request) (void)r.request->ByteSizeLong();
  return 0;
}
