// `mrt chat`: an interactive chat in the terminal. Each line the user types
// is one user message; the whole conversation so far goes to the model,
// which the service (or the in-process runtime) renders with the model's
// chat template; the reply streams back as it is generated and joins the
// conversation. Lines starting with '/' are commands (/reset, /exit).
#pragma once

#include <cstdio>
#include <functional>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "mrt/core/chat_template.h"
#include "mrt/core/status.h"

namespace mrt::cli {

// One turn: the conversation → the assistant's reply. Chunks go to
// `on_chunk` as they are generated; the result is the whole reply.
using ChatTurn =
    std::function<Result<std::string>(const std::vector<ChatMessage>& conversation, const std::function<void(std::string_view)>& on_chunk)>;

// Reads user lines from `in` until EOF or /exit, writing prompts and replies
// to `out` (the "> " prompt only when `interactive`). A failed turn prints
// its error on stderr and is left out of the conversation, so the user can
// go on. OK when every turn succeeded, else the last failure (the exit
// status follows its class, exit_codes.h).
Status chat_loop(const ChatTurn& turn, const std::string& system_prompt, std::istream& in, std::FILE* out, bool interactive);

}  // namespace mrt::cli
