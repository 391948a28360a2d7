// The plugin worker's sandbox (sandbox.h).
#include "sandbox.h"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace mrt {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// libseccomp's SCMP_A<n> macros are C99 compound literals; this is the C++.
scmp_arg_cmp arg_cmp(unsigned arg, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
  scmp_arg_cmp c{};
  c.arg = arg;
  c.op = op;
  c.datum_a = a;
  c.datum_b = b;
  return c;
}

bool write_file(const char* path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out.flush());
}

// What a plugin and the libraries under it (oneDNN, OpenMP, the C++
// runtime, CUDA's driver interface) need once loaded: memory, threads,
// synchronisation, time, the descriptors they were given.
constexpr const char* kAllowed[] = {
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "close", "fstat", "newfstatat",
    "statx", "lseek", "mmap", "mprotect", "munmap", "mremap", "madvise", "brk", "mlock", "munlock", "mincore",
    "msync", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "futex", "futex_waitv",
    "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "clone", "clone3", "exit", "exit_group",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_getscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getattr", "getpid", "gettid", "getppid", "getuid",
    "geteuid", "getgid", "getegid", "getrlimit", "prlimit64", "getrusage", "times", "sysinfo", "uname",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time", "getrandom", "prctl",
    "arch_prctl", "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
    "eventfd2", "pipe2", "dup", "dup2", "dup3", "fcntl", "recvmsg", "sendmsg", "recvfrom", "sendto", "shutdown",
    "getsockopt", "setsockopt", "memfd_create", "ftruncate", "fallocate", "membarrier", "get_mempolicy",
    "set_mempolicy", "mbind", "getcpu", "getcwd", "restart_syscall", "fadvise64", "ioctl", "mlock2", "munlockall",
    "sched_setscheduler", "setpriority", "getpriority", "pkey_alloc", "pkey_free", "pkey_mprotect",
};

// Calls that mean the plugin is attacking its host: the worker dies.
constexpr const char* kFatal[] = {
    "execve", "execveat", "ptrace", "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot", "setns", "unshare",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "bpf", "perf_event_open",
    "keyctl", "add_key", "request_key", "reboot", "swapon", "swapoff", "iopl", "ioperm", "fork", "vfork",
};

}  // namespace

std::vector<std::string> enter_namespaces(SandboxLevel level) {
  std::vector<std::string> notes;
  if (level == SandboxLevel::kOff) return notes;
  if (::unshare(CLONE_NEWNET | CLONE_NEWIPC) == 0) return notes;
  int first = errno;
  // Without CAP_SYS_ADMIN: a user namespace first, mapping our own ids, so
  // that files stay readable as before.
  uid_t uid = ::getuid();
  gid_t gid = ::getgid();
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC) == 0) {
    (void)write_file("/proc/self/setgroups", "deny");
    if (!write_file("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1") ||
        !write_file("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1"))
      notes.push_back("sandbox: the worker's user namespace has no id mapping");
    return notes;
  }
  notes.push_back(std::string("sandbox: no network namespace for the worker (unshare: ") + std::strerror(first) + ", " +
                  std::strerror(errno) + "); its seccomp filter still forbids sockets");
  return notes;
}

std::vector<std::string> lock_down(SandboxLevel level, uint64_t memory_limit_bytes) {
  std::vector<std::string> notes;
  rlimit no_core{0, 0};
  (void)::setrlimit(RLIMIT_CORE, &no_core);
  if (memory_limit_bytes > 0) {
    if (kAddressSanitizer) {
      notes.push_back("sandbox: memory_limit not applied (AddressSanitizer build: its shadow memory needs the address space)");
    } else {
      rlimit as{memory_limit_bytes, memory_limit_bytes};
      if (::setrlimit(RLIMIT_AS, &as) != 0)
        notes.push_back(std::string("sandbox: cannot limit the address space: ") + std::strerror(errno));
    }
  }
  if (level == SandboxLevel::kOff) return notes;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    notes.push_back(std::string("sandbox: no_new_privs refused: ") + std::strerror(errno) + "; no seccomp filter");
    return notes;
  }
  scmp_filter_ctx ctx = ::seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (ctx == nullptr) {
    notes.push_back("sandbox: libseccomp could not start a filter; none applied");
    return notes;
  }
  // A seccomp filter turns on the kernel's speculative-store-bypass
  // mitigation for the process by default, which costs a compute-bound
  // plugin 8-10 % (ResNet-50 measured). The worker holds nothing another
  // process could read through it: keep the CPU's normal speculation.
  if (::seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1) != 0)
    notes.push_back("sandbox: the seccomp filter keeps the speculative store bypass mitigation (slower compute)");
  auto rule = [&](uint32_t action, const char* name, unsigned count = 0, const scmp_arg_cmp* args = nullptr) {
    int nr = ::seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return;  // not on this architecture
    (void)::seccomp_rule_add_array(ctx, action, nr, count, args);
  };
  for (const char* name : kAllowed) rule(SCMP_ACT_ALLOW, name);
  // Kill the worker rather than let an escape attempt fail quietly. (Under
  // AddressSanitizer a report's symbolizer, forked by a worker that is
  // dying anyway, is killed too: the worker then ends with SIGSYS.)
  for (const char* name : kFatal) rule(SCMP_ACT_KILL_PROCESS, name);
  // Signals only to itself (abort() raises SIGABRT with tgkill).
  pid_t self = ::getpid();
  scmp_arg_cmp to_self = arg_cmp(0, SCMP_CMP_EQ, static_cast<scmp_datum_t>(self));
  rule(SCMP_ACT_ALLOW, "kill", 1, &to_self);
  rule(SCMP_ACT_ALLOW, "tgkill", 1, &to_self);
  if (level == SandboxLevel::kFiles) {
    // Read-only opens: the flags with any write access or creation bit fail.
    scmp_arg_cmp ro_open = arg_cmp(1, SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY);
    scmp_arg_cmp ro_openat = arg_cmp(2, SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY);
    rule(SCMP_ACT_ALLOW, "open", 1, &ro_open);
    rule(SCMP_ACT_ALLOW, "openat", 1, &ro_openat);
    for (const char* name : {"access", "faccessat", "faccessat2", "readlink", "readlinkat", "stat", "lstat", "getdents64"})
      rule(SCMP_ACT_ALLOW, name);
  } else {
    for (const char* name : {"open", "openat", "openat2", "creat", "access", "faccessat", "faccessat2", "stat", "lstat"})
      rule(SCMP_ACT_ERRNO(EACCES), name);
  }
  int rc = ::seccomp_load(ctx);
  ::seccomp_release(ctx);
  if (rc != 0) notes.push_back(std::string("sandbox: seccomp filter not loaded: ") + std::strerror(-rc));
  return notes;
}

}  // namespace mrt
