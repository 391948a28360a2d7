// mrt-plugin-worker: the process one plugin runs in, started and supervised
// by model-runtime.vnode (core/include/mrt/core/plugin_worker.h). With
// --render-chat-template it is instead the short-lived helper the service
// renders untrusted chat templates in (core/include/mrt/core/chat_template.h).
#include <cstring>

#include "mrt/core/chat_template.h"
#include "mrt/core/plugin_worker.h"

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], mrt::ChatTemplate::kHelperFlag) == 0) return mrt::ChatTemplate::helper_main();
  return mrt::run_plugin_worker(argc, argv);
}
