// Chat templates: a model's Jinja template (tokenizer_config.json's
// `chat_template`, or GGUF's `tokenizer.chat_template`, handed over by the
// plugin through MRT_ModelInfo) turns a list of messages into the prompt
// text the model was trained on, ending with the assistant's turn opener.
// Rendered with minja (subprojects/minja), the engine llama.cpp uses, with
// its polyfills for templates that lack a system role.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mrt/core/status.h"

namespace mrt {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", ... (the template decides what it accepts)
  std::string content;
};

class ChatTemplate {
 public:
  // Parses `source` once (at model load). INVALID_ARGUMENT when it is not
  // a template minja can parse.
  static Result<std::shared_ptr<const ChatTemplate>> compile(const std::string& source, const std::string& bos_token,
                                                              const std::string& eos_token);
  ~ChatTemplate();

  // The prompt for `messages`, with the generation prompt added. The BOS
  // token a template writes first is dropped: the tokenizer adds its own,
  // and two would change what the model sees. INVALID_ARGUMENT for no
  // messages, an empty role, or what the template itself rejects (its
  // raise_exception(), e.g. roles that do not alternate).
  Result<std::string> render(const std::vector<ChatMessage>& messages) const;

  // Upper bounds that keep one request's rendering small.
  static constexpr size_t kMaxMessages = 4096;
  static constexpr size_t kMaxPromptBytes = 16u << 20;

  // From now on, templates are checked and rendered in a fresh helper
  // process, `helper --render-chat-template`, under CPU, memory and time
  // limits (the service: any user can push a model, so a template is
  // untrusted and may loop, allocate without bound or recurse until its
  // stack overflows). Empty: in this process (the CLI, your own models).
  static void contain_in(const std::filesystem::path& helper);
  static constexpr const char* kHelperFlag = "--render-chat-template";
  // The helper's main: one request on stdin, the answer on stdout.
  static int helper_main();

 private:
  struct Impl;
  explicit ChatTemplate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrt
