#include "mrt/core/chat_template.h"

#include <sys/resource.h>
#include <unistd.h>

#include <iostream>
#include <iterator>
#include <minja/chat-template.hpp>
#include <mutex>
#include <optional>

#include "contained_call.h"

// ASan reserves terabytes of address space: no address-space limit under it.
#if defined(__SANITIZE_ADDRESS__)
#define MRT_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MRT_UNDER_ASAN 1
#endif
#endif

namespace mrt {
namespace {

using Json = nlohmann::ordered_json;

std::mutex g_helper_mutex;
std::filesystem::path g_helper;  // empty: render in this process

std::filesystem::path helper() {
  std::lock_guard lock(g_helper_mutex);
  return g_helper;
}

Result<std::unique_ptr<minja::chat_template>> construct(const std::string& source, const std::string& bos,
                                                        const std::string& eos) {
  try {
    // Parses the template and probes what it supports (system role, typed
    // content) by rendering a few sample chats.
    return std::make_unique<minja::chat_template>(source, bos, eos);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("chat template does not parse: ") + e.what());
  }
}

Result<std::string> render_with(const minja::chat_template& engine, const Json& messages) {
  minja::chat_template_inputs inputs;
  inputs.messages = messages;
  inputs.add_generation_prompt = true;
  try {
    return engine.apply(inputs);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("the model's chat template rejects this chat: ") + e.what());
  }
}

// The limits a helper puts on itself before it reads the template.
void limit_helper() {
  rlimit cpu{2, 3};
  ::setrlimit(RLIMIT_CPU, &cpu);
#ifndef MRT_UNDER_ASAN
  rlimit as{1u << 30, 1u << 30};
  ::setrlimit(RLIMIT_AS, &as);
#endif
  rlimit core{0, 0};
  ::setrlimit(RLIMIT_CORE, &core);
}

}  // namespace

struct ChatTemplate::Impl {
  std::string source, bos_token, eos_token;
  std::unique_ptr<minja::chat_template> engine;  // null when contained
  std::filesystem::path helper;                  // empty: render with `engine`
};

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::~ChatTemplate() = default;

void ChatTemplate::contain_in(const std::filesystem::path& path) {
  std::lock_guard lock(g_helper_mutex);
  g_helper = path;
}

Result<std::shared_ptr<const ChatTemplate>> ChatTemplate::compile(const std::string& source, const std::string& bos_token,
                                                                    const std::string& eos_token) {
  if (source.empty()) return invalid_argument("empty chat template");
  auto impl = std::make_unique<Impl>();
  impl->source = source;
  impl->bos_token = bos_token;
  impl->eos_token = eos_token;
  impl->helper = helper();
  if (impl->helper.empty()) {
    auto engine = construct(source, bos_token, eos_token);
    if (!engine) return engine.status();
    impl->engine = std::move(*engine);
  } else {
    Json request = {{"op", "check"}, {"template", source}, {"bos_token", bos_token}, {"eos_token", eos_token}};
    auto checked = run_contained("the chat template", impl->helper, {kHelperFlag}, request.dump(-1, ' ', false, Json::error_handler_t::replace));
    if (!checked) {
      if (checked.status().code() == MRT_CODE_INVALID_ARGUMENT) return checked.status();
      return invalid_argument("chat template refused: " + checked.status().message());
    }
  }
  return std::shared_ptr<const ChatTemplate>(new ChatTemplate(std::move(impl)));
}

Result<std::string> ChatTemplate::render(const std::vector<ChatMessage>& messages) const {
  if (messages.empty()) return invalid_argument("a chat needs at least one message");
  if (messages.size() > kMaxMessages)
    return invalid_argument("a chat of " + std::to_string(messages.size()) + " messages is over the limit of " +
                            std::to_string(kMaxMessages));
  Json list = Json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role.empty()) return invalid_argument("chat message " + std::to_string(i) + " has no role");
    list.push_back({{"role", messages[i].role}, {"content", messages[i].content}});
  }
  Result<std::string> rendered = internal_error("unset");
  if (impl_->engine) {
    rendered = render_with(*impl_->engine, list);
  } else {
    Json request = {{"op", "render"},
                    {"template", impl_->source},
                    {"bos_token", impl_->bos_token},
                    {"eos_token", impl_->eos_token},
                    {"messages", std::move(list)}};
    ContainedLimits limits;
    limits.max_output_bytes = kMaxPromptBytes;
    rendered = run_contained("the model's chat template", impl_->helper, {kHelperFlag},
                             request.dump(-1, ' ', false, Json::error_handler_t::replace), limits);
  }
  if (!rendered) return rendered.status();
  std::string prompt = std::move(*rendered);
  if (prompt.size() > kMaxPromptBytes) return invalid_argument("the rendered chat is over " + std::to_string(kMaxPromptBytes) + " bytes");
  const std::string& bos = impl_->bos_token;
  if (!bos.empty() && prompt.compare(0, bos.size(), bos) == 0) prompt.erase(0, bos.size());
  return prompt;
}

int ChatTemplate::helper_main() {
  limit_helper();
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  Result<std::string> answer = internal_error("unset");
  try {
    Json request = Json::parse(input);
    auto engine = construct(request.at("template").get<std::string>(), request.at("bos_token").get<std::string>(),
                            request.at("eos_token").get<std::string>());
    if (!engine) {
      answer = engine.status();
    } else if (request.at("op") == "check") {
      answer = std::string();
    } else {
      answer = render_with(**engine, request.at("messages"));
    }
  } catch (const std::exception& e) {
    answer = invalid_argument(std::string("chat template helper: ") + e.what());
  }
  write_contained_result(answer);
  return 0;
}

}  // namespace mrt
