// Chat templates rendered by minja (core/src/chat_template.cpp) against the
// reference renderer: tests/fixtures/chat/templates.json holds templates in
// the styles models ship, rendered over several conversations by Jinja2 as
// transformers renders them (scripts/make-chat-fixtures.py).
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "mrt/core/chat_template.h"

namespace mrt {
namespace {

nlohmann::json fixtures() {
  std::ifstream in(std::string(MRT_SOURCE_ROOT) + "/tests/fixtures/chat/templates.json");
  return nlohmann::json::parse(in);
}

std::vector<ChatMessage> conversation(const nlohmann::json& j) {
  std::vector<ChatMessage> out;
  for (const auto& m : j) out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  return out;
}

std::shared_ptr<const ChatTemplate> compile(const nlohmann::json& f, const std::string& name) {
  auto t = ChatTemplate::compile(f["templates"][name].get<std::string>(), f["bos_token"].get<std::string>(),
                                 f["eos_token"].get<std::string>());
  EXPECT_TRUE(t.has_value()) << name << ": " << t.status().to_string();
  return t.has_value() ? *t : nullptr;
}

TEST(ChatTemplate, RendersLikeJinja2OnEveryFixture) {
  auto f = fixtures();
  const std::string bos = f["bos_token"];
  int compared = 0;
  for (const auto& c : f["cases"]) {
    if (!c.contains("expected")) continue;
    std::string name = c["template"], conv = c["conversation"];
    auto t = compile(f, name);
    ASSERT_NE(t, nullptr);
    auto prompt = t->render(conversation(f["conversations"][conv]));
    ASSERT_TRUE(prompt.has_value()) << name << "/" << conv << ": " << prompt.status().to_string();
    // The tokenizer adds BOS itself, so the rendered BOS is dropped.
    std::string expected = c["expected"];
    if (expected.rfind(bos, 0) == 0) expected.erase(0, bos.size());
    EXPECT_EQ(*prompt, expected) << name << "/" << conv;
    ++compared;
  }
  EXPECT_GE(compared, 20);
}

TEST(ChatTemplate, TheTemplatesOwnErrorsAreInvalidArgument) {
  auto f = fixtures();
  int checked = 0;
  for (const auto& c : f["cases"]) {
    if (!c.contains("reference_error") || c["conversation"] != "roles_not_alternating") continue;
    auto t = compile(f, c["template"]);
    ASSERT_NE(t, nullptr);
    auto prompt = t->render(conversation(f["conversations"]["roles_not_alternating"]));
    ASSERT_FALSE(prompt.has_value()) << c["template"];
    EXPECT_EQ(prompt.status().code(), MRT_CODE_INVALID_ARGUMENT);
    EXPECT_NE(prompt.status().message().find("alternate"), std::string::npos) << prompt.status().message();
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

TEST(ChatTemplate, ASystemMessageIsFoldedIntoTheFirstTurnWhereTheTemplateHasNoSystemRole) {
  // Gemma's and Mistral's templates raise on a system message; as in
  // llama.cpp, the system text then opens the first user message instead.
  auto f = fixtures();
  auto chat = conversation(f["conversations"]["system_user"]);
  for (const char* name : {"gemma", "mistral"}) {
    auto t = compile(f, name);
    ASSERT_NE(t, nullptr);
    auto prompt = t->render(chat);
    ASSERT_TRUE(prompt.has_value()) << name << ": " << prompt.status().to_string();
    size_t system = prompt->find(chat[0].content), user = prompt->find(chat[1].content);
    EXPECT_NE(system, std::string::npos) << *prompt;
    EXPECT_NE(user, std::string::npos) << *prompt;
    EXPECT_LT(system, user) << *prompt;
  }
}

TEST(ChatTemplate, RefusesWhatCannotBeRendered) {
  EXPECT_FALSE(ChatTemplate::compile("", "", "").has_value());
  auto broken = ChatTemplate::compile("{% for m in messages %}{{ m.content }", "<s>", "</s>");
  ASSERT_FALSE(broken.has_value());
  EXPECT_EQ(broken.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(broken.status().message().find("does not parse"), std::string::npos) << broken.status().message();

  auto t = ChatTemplate::compile("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}", "<s>", "</s>");
  ASSERT_TRUE(t.has_value()) << t.status().to_string();
  auto empty = (*t)->render({});
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.status().code(), MRT_CODE_INVALID_ARGUMENT);
  auto no_role = (*t)->render({{"", "hi"}});
  ASSERT_FALSE(no_role.has_value());
  EXPECT_NE(no_role.status().message().find("no role"), std::string::npos);
  std::vector<ChatMessage> too_many(ChatTemplate::kMaxMessages + 1, ChatMessage{"user", "x"});
  EXPECT_FALSE((*t)->render(too_many).has_value());
  auto ok = (*t)->render({{"user", "hi"}});
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, "user: hi\n");
}

TEST(ChatTemplate, OneCompiledTemplateRendersFromManyThreads) {
  auto f = fixtures();
  auto t = compile(f, "llama3");
  ASSERT_NE(t, nullptr);
  auto chat = conversation(f["conversations"]["multi_turn"]);
  auto once = t->render(chat);
  ASSERT_TRUE(once.has_value());
  std::vector<std::thread> threads;
  std::atomic<int> same{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 50; ++k) {
        auto p = t->render(chat);
        if (p.has_value() && *p == *once) {
          same.fetch_add(1);
        } else {
          std::lock_guard lock(failures_mutex);
          failures.push_back(p.has_value() ? "different text: " + *p : p.status().to_string());
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(same.load(), 200) << (failures.empty() ? std::string() : failures[0]);
}

// Any user can push a model with its own template: in the service it is
// checked and rendered in the worker program's helper mode, where one that
// loops, eats memory or recurses without end fails its load or request with
// a clear error and this process goes on.
TEST(ChatTemplate, HostileTemplatesCostOneRequestNotTheProcess) {
  ChatTemplate::contain_in(MRT_PLUGIN_WORKER_EXE);
  const char* hostile[] = {
      "{% for i in range(100000000000) %}x{% endfor %}",            // endless output
      "{{ 'x' * 4000000000 }}",                                      // one huge string
      "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",      // unbounded recursion
  };
  for (const char* source : hostile) {
    auto t = ChatTemplate::compile(source, "<s>", "</s>");
    ASSERT_FALSE(t.has_value()) << source;
    EXPECT_EQ(t.status().code(), MRT_CODE_INVALID_ARGUMENT) << source;
    EXPECT_NE(t.status().message().find("chat template"), std::string::npos) << t.status().message();
  }
  // Harmless at load, hostile on what the messages hold.
  auto t = ChatTemplate::compile(
      "{% for m in messages %}{% if m.content == 'boom' %}{% for i in range(100000000000) %}x{% endfor %}{% endif %}"
      "{{ m.content }}{% endfor %}",
      "<s>", "</s>");
  ASSERT_TRUE(t.has_value()) << t.status().to_string();
  auto boom = (*t)->render({{"user", "boom"}});
  ASSERT_FALSE(boom.has_value());
  // Out of its memory allowance (bad_alloc, INVALID_ARGUMENT) or of its time (RESOURCE_EXHAUSTED).
  EXPECT_TRUE(boom.status().code() == MRT_CODE_RESOURCE_EXHAUSTED || boom.status().code() == MRT_CODE_INVALID_ARGUMENT)
      << boom.status().to_string();
  EXPECT_NE(boom.status().message().find("chat template"), std::string::npos) << boom.status().to_string();
  auto fine = (*t)->render({{"user", "fine"}});
  ASSERT_TRUE(fine.has_value()) << fine.status().to_string();
  EXPECT_EQ(*fine, "fine");

  // The helper renders what the in-process engine renders.
  auto f = fixtures();
  auto contained = compile(f, "llama3");
  ChatTemplate::contain_in("");
  auto in_process = compile(f, "llama3");
  ASSERT_NE(contained, nullptr);
  ASSERT_NE(in_process, nullptr);
  auto chat = conversation(f["conversations"]["multi_turn"]);
  auto a = contained->render(chat), b = in_process->render(chat);
  ASSERT_TRUE(a.has_value()) << a.status().to_string();
  ASSERT_TRUE(b.has_value()) << b.status().to_string();
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace mrt
