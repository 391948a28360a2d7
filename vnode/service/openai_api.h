// The OpenAI-compatible API (/v1/models, /v1/completions,
// /v1/chat/completions, /v1/embeddings): JSON requests become the service's
// typed requests (TextPrompt, ChatPrompt, tensors), and its answers (whole
// or streamed text, tensors, errors) become OpenAI's JSON and server-sent
// events. docs/service.md, "HTTP front ends", lists what is supported.
#pragma once

#include <memory>

#include "http_api.h"

namespace mrt::vnode {

std::unique_ptr<HttpApi> make_openai_api();

}  // namespace mrt::vnode
