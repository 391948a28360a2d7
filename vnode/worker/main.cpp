// mrt-plugin-worker: the process one plugin runs in, started and supervised
// by model-runtime.vnode (core/include/mrt/core/plugin_worker.h).
#include "mrt/core/plugin_worker.h"

int main(int argc, char** argv) { return mrt::run_plugin_worker(argc, argv); }
