// The sandbox a plugin worker process enters (docs/architecture.md,
// "Plugin workers"). Two steps, because some parts need a single-threaded
// process and others must come after the plugin is loaded:
//  1. enter_namespaces(), first thing in main: new network and IPC
//     namespaces (the worker can reach no socket but its own end of the
//     socketpair), in a new user namespace when the process lacks
//     CAP_SYS_ADMIN.
//  2. lock_down(), after the plugin is loaded and initialised: resource
//     limits (address space, core dumps, descriptors), no_new_privs, and a
//     seccomp-bpf allow-list (libseccomp). Outside the list a call fails
//     with EPERM; open() fails with EACCES (files arrive from the service
//     as descriptors); exec, sockets, ptrace, mounts and the like kill the
//     worker (SIGSYS, reported as a sandbox violation).
// Each returns notes naming what the kernel did not allow; the service
// logs them once per plugin.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mrt/core/plugin_worker.h"

namespace mrt {

std::vector<std::string> enter_namespaces(SandboxLevel level);
std::vector<std::string> lock_down(SandboxLevel level, uint64_t memory_limit_bytes);

}  // namespace mrt
