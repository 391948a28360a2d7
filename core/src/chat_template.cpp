#include "mrt/core/chat_template.h"

#include <minja/chat-template.hpp>

#include "contained_call.h"

namespace mrt {

struct ChatTemplate::Impl {
  minja::chat_template engine;
  std::string bos_token;
};

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::~ChatTemplate() = default;

Result<std::shared_ptr<const ChatTemplate>> ChatTemplate::compile(const std::string& source, const std::string& bos_token,
                                                                    const std::string& eos_token) {
  if (source.empty()) return invalid_argument("empty chat template");
  // Any user can push a model, so its template is untrusted: constructing
  // one renders sample chats, which a hostile template can make loop,
  // allocate without bound or overflow the stack. Try it in a contained
  // child first; the same deterministic construction is then safe here.
  auto trial = run_contained("the chat template", [&]() -> Result<std::string> {
    try {
      minja::chat_template probe(source, bos_token, eos_token);
      return std::string();
    } catch (const std::exception& e) {
      return invalid_argument(std::string("chat template does not parse: ") + e.what());
    }
  });
  if (!trial) {
    if (trial.status().code() == MRT_CODE_INVALID_ARGUMENT) return trial.status();
    return invalid_argument("chat template refused: " + trial.status().message());
  }
  try {
    // The constructor parses the template and probes what it supports
    // (system role, typed content) by rendering a few sample chats.
    auto impl = std::make_unique<Impl>(Impl{minja::chat_template(source, bos_token, eos_token), bos_token});
    return std::shared_ptr<const ChatTemplate>(new ChatTemplate(std::move(impl)));
  } catch (const std::exception& e) {
    return invalid_argument(std::string("chat template does not parse: ") + e.what());
  }
}

Result<std::string> ChatTemplate::render(const std::vector<ChatMessage>& messages) const {
  if (messages.empty()) return invalid_argument("a chat needs at least one message");
  if (messages.size() > kMaxMessages)
    return invalid_argument("a chat of " + std::to_string(messages.size()) + " messages is over the limit of " +
                            std::to_string(kMaxMessages));
  minja::chat_template_inputs inputs;
  inputs.messages = nlohmann::ordered_json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role.empty()) return invalid_argument("chat message " + std::to_string(i) + " has no role");
    inputs.messages.push_back({{"role", messages[i].role}, {"content", messages[i].content}});
  }
  inputs.add_generation_prompt = true;
  // Rendered in a contained child (see compile): what a message holds can
  // drive the template's loops too.
  ContainedLimits limits;
  limits.max_output_bytes = kMaxPromptBytes;
  auto rendered = run_contained(
      "the model's chat template",
      [&]() -> Result<std::string> {
        try {
          return impl_->engine.apply(inputs);
        } catch (const std::exception& e) {
          return invalid_argument(std::string("the model's chat template rejects this chat: ") + e.what());
        }
      },
      limits);
  if (!rendered) return rendered.status();
  std::string prompt = std::move(*rendered);
  const std::string& bos = impl_->bos_token;
  if (!bos.empty() && prompt.compare(0, bos.size(), bos) == 0) prompt.erase(0, bos.size());
  return prompt;
}

}  // namespace mrt
