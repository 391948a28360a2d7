#include "chat_command.h"

namespace mrt::cli {
namespace {

constexpr const char* kHelp =
    "commands: /reset (forget the conversation), /exit (or end of input), /help\n"
    "a line ending in '\\' continues on the next line\n";

// One user message: lines joined while they end in a backslash. False at
// end of input with nothing read.
bool read_message(std::istream& in, std::FILE* out, bool interactive, std::string& message) {
  message.clear();
  std::string line;
  bool any = false;
  while (true) {
    if (interactive) {
      std::fputs(any ? ". " : "> ", out);
      std::fflush(out);
    }
    if (!std::getline(in, line)) return any;
    any = true;
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      message += line + "\n";
      continue;
    }
    message += line;
    return true;
  }
}

}  // namespace

Status chat_loop(const ChatTurn& turn, const std::string& system_prompt, std::istream& in, std::FILE* out, bool interactive) {
  std::vector<ChatMessage> conversation;
  auto reset = [&] {
    conversation.clear();
    if (!system_prompt.empty()) conversation.push_back({"system", system_prompt});
  };
  reset();
  if (interactive) std::fputs("type a message; /help for commands\n", out);
  Status last_failure;
  std::string message;
  while (read_message(in, out, interactive, message)) {
    if (message.empty()) continue;
    if (message == "/exit" || message == "/quit") break;
    if (message == "/help") {
      std::fputs(kHelp, out);
      continue;
    }
    if (message == "/reset") {
      reset();
      std::fputs("(conversation cleared)\n", out);
      continue;
    }
    conversation.push_back({"user", message});
    auto reply = turn(conversation, [&](std::string_view chunk) {
      std::fwrite(chunk.data(), 1, chunk.size(), out);
      std::fflush(out);
    });
    if (!reply) {
      conversation.pop_back();  // the user may rephrase; the failed turn is not history
      std::fprintf(stderr, "mrt: error: %s\n", reply.status().to_string().c_str());
      last_failure = reply.status();
      continue;
    }
    std::fputs("\n", out);
    conversation.push_back({"assistant", *reply});
  }
  return last_failure;
}

}  // namespace mrt::cli
