// mrt-conformance: checks a plugin against the ABI contract.
//
//   mrt-conformance <plugin.so> [--model <dir> ...] [--iterations N] [--only PREFIX] [--timeout SECONDS]
//   mrt-conformance --version      (the project version and the host's plugin ABI)
//
// Prints one line per check (PASS/FAIL/SKIP, name, detail) and a summary
// line "N passed, N failed, N skipped"; exits 1 when any check failed, and
// 77 (skipped) when none failed but the plugin has no device here to run
// the model checks on.
// A model directory may hold reference/inputs/*.npy, reference/outputs/*.npy
// and reference/tolerance.yml (atol, rtol) to check outputs against.
//
// Each check runs in a child process of its own, with a time limit
// (--timeout, default 30 s, times the check's scale: see run_isolated).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "checks.h"
#include "mrt/core/log.h"

namespace fs = std::filesystem;
using namespace mrt;
using namespace mrt::conformance;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// A sanitized harness runs everything several times slower.
constexpr double kBuildSlowdown = 4;
#else
constexpr double kBuildSlowdown = 1;
#endif

constexpr const char* kAcceptsPlugin = "registry/accepts-plugin";

// What a child process needs to run one check: the same command line as the
// parent, plus which check and where to write its result.
struct Invocation {
  fs::path self_exe;
  std::vector<std::string> args;  // argv[1..] as the user gave them
};

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

// Runs check `name` (of model `model_index`, or -1) in a fresh child process
// and waits at most `limit_s` seconds (0 = no limit) for it.
//
// Why a child process per check, rather than the plugin call on a watchdog
// thread: a call that never returns cannot be stopped from inside the
// process. A watchdog could report the hang, but the stuck thread keeps
// running in the plugin, may hold the plugin's or the host's locks, and may
// be scribbling on memory the next checks use; the only sound way on is to
// abandon the whole process. Running every check in its own process (the
// same binary, re-executed: no fork() without exec() of a process that may
// hold plugin threads, e.g. OpenMP pools, whose state after fork is
// undefined) makes that free: on timeout the child's process group is
// killed, the check fails naming itself and the limit, and the next check
// starts in a clean process. It also turns a crash anywhere in a check into
// that check's FAIL instead of the end of the run, and each check sees a
// freshly loaded plugin, unaffected by what earlier checks left behind. The
// cost is a plugin load (dlopen + init) per check, a few milliseconds for
// the plugins here. The parent never loads the plugin at all.
//
// The child writes "<P|F|S>\n<flags>\n<detail>" to an inherited pipe; its
// exit status after that counts too (a crash or LeakSanitizer report while
// unloading the model or finalizing the plugin fails the check).
CheckResult run_isolated(const Invocation& inv, const std::string& name, int model_index, double limit_s,
                         const std::string& limit_text, std::string* flags) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return fail(std::string("pipe failed: ") + std::strerror(errno));
  // Everything the child needs is built before fork().
  std::vector<std::string> argv_s;
  argv_s.push_back(inv.self_exe.string());
  argv_s.insert(argv_s.end(), inv.args.begin(), inv.args.end());
  argv_s.insert(argv_s.end(), {"--run-check", name, "--run-model", std::to_string(model_index), "--result-fd", ""});
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return fail(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    setpgid(0, 0);                          // its own group: a timeout kills its children too
    prctl(PR_SET_PDEATHSIG, SIGKILL);       // and it never outlives an interrupted harness
    if (getppid() != parent) _exit(126);
    int wfd = dup(fds[1]);                  // the one descriptor the child keeps (no CLOEXEC)
    char fd_text[16];
    std::snprintf(fd_text, sizeof fd_text, "%d", wfd);
    argv[argv.size() - 2] = fd_text;
    execv(argv[0], argv.data());
    _exit(127);
  }
  setpgid(pid, pid);
  close(fds[1]);

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto remaining_ms = [&]() -> int {
    if (limit_s <= 0) return -1;
    double left = limit_s * 1000.0 - std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return left <= 0 ? 0 : static_cast<int>(std::ceil(left));
  };
  auto kill_child = [&] {
    kill(-pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
  };

  std::string said;
  bool timed_out = false;
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    int left = remaining_ms();
    if (left == 0) { timed_out = true; break; }
    int n = poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) { timed_out = true; break; }
    char buf[4096];
    ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the child wrote its result (or died)
    said.append(buf, static_cast<size_t>(got));
  }
  close(fds[0]);
  if (timed_out) {
    kill_child();
    return fail("timed out after " + seconds(limit_s) + " (" + limit_text +
                "): the plugin did not return; check killed, the run goes on");
  }
  // Result written (or the pipe closed): wait for the exit within what is left.
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return fail(std::string("waitpid failed: ") + std::strerror(errno));
    if (remaining_ms() == 0) {
      kill_child();
      return fail("did not exit within " + seconds(limit_s) + " (" + limit_text +
                  ") after the check: hung unloading a model or finalizing the plugin");
    }
    usleep(2000);
  }
  if (said.size() < 3) {
    if (WIFSIGNALED(status))
      return fail("crashed (signal " + std::to_string(WTERMSIG(status)) + ": " + strsignal(WTERMSIG(status)) + ")");
    return fail("check process exited with " + std::to_string(WEXITSTATUS(status)) + " without a result");
  }
  size_t nl1 = said.find('\n'), nl2 = said.find('\n', nl1 + 1);
  if (nl1 == std::string::npos || nl2 == std::string::npos) return fail("garbled result from the check process");
  Outcome outcome = said[0] == 'P' ? Outcome::kPass : said[0] == 'S' ? Outcome::kSkip : Outcome::kFail;
  if (flags != nullptr) *flags = said.substr(nl1 + 1, nl2 - nl1 - 1);
  std::string detail = said.substr(nl2 + 1);
  if (WIFSIGNALED(status))
    return fail("crashed after the check (signal " + std::to_string(WTERMSIG(status)) + ": " +
                strsignal(WTERMSIG(status)) + ", unloading a model or finalizing the plugin); the check said: " + detail);
  if (WEXITSTATUS(status) != 0)
    return fail("check process exited with " + std::to_string(WEXITSTATUS(status)) +
                " after the check (a LeakSanitizer report or an error at unload/finalize: see stderr); the check said: " +
                detail);
  return {outcome, detail};
}

CheckResult guarded(Check& c, Context& ctx) {
  try {
    return c.run(ctx);
  } catch (const std::exception& e) {
    return fail(std::string("check threw: ") + e.what());
  } catch (...) {
    return fail("check threw a non-standard exception");
  }
}

// The model directories that locate, in order: the parent and each child
// build the same list, so a model index means the same model in both.
std::vector<std::pair<std::string, Result<ModelLocation>>> locate_models(const std::vector<std::string>& dirs) {
  std::vector<std::pair<std::string, Result<ModelLocation>>> out;
  for (const auto& dir : dirs) {
    std::string id = fs::path(dir).lexically_normal().filename().string();
    if (id.empty()) id = "model";
    out.emplace_back(id, locate_model_at(dir, id));
  }
  return out;
}

// Child side: run the one check named `target` and write its result to `fd`.
int run_one(Context& ctx, const std::string& target, int model_index, int fd, const std::vector<std::string>& model_dirs) {
  fcntl(fd, F_SETFD, FD_CLOEXEC);  // not for the checks' own children
  auto finish = [&](const CheckResult& r, const std::string& flags = "") {
    char tag = r.outcome == Outcome::kPass ? 'P' : r.outcome == Outcome::kSkip ? 'S' : 'F';
    std::string out = std::string(1, tag) + "\n" + flags + "\n" + r.detail;
    for (size_t off = 0; off < out.size();) {
      ssize_t n = write(fd, out.data() + off, out.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(fd);
    return 0;  // the registry and models unload on the way out: that is checked too
  };
  for (auto& c : handshake_checks())
    if (c.name == target) return finish(guarded(c, ctx));

  // --sandbox: the plugin runs as the service runs it, in a worker process
  // inside the worker sandbox, every call through the service's proxy.
  PluginRegistryOptions options;
  if (!ctx.sandbox.empty()) {
    options.workers.executable = ctx.plugin_worker;
    options.workers.defaults.sandbox = ctx.sandbox == "files" ? SandboxLevel::kFiles : SandboxLevel::kStrict;
  }
  PluginRegistry registry(options);
  Status loaded = registry.load_file(ctx.plugin_path);
  if (loaded.is_ok() && registry.plugins().empty() && !registry.refused().empty())
    loaded = failed_precondition(registry.refused().back().reason);
  bool accepted = loaded.is_ok() && !registry.plugins().empty();
  if (target == kAcceptsPlugin) {
    if (!accepted) return finish(fail(loaded.is_ok() ? "not loaded" : loaded.message()));
    // A plugin for devices this machine lacks (a GPU backend on a CPU-only
    // host) passes what it can and skips the rest: exit 77, "skipped".
    const auto& plugin = registry.plugins().front();
    bool any_device = false;
    for (auto k : plugin->info().device_kinds) any_device = any_device || plugin->device_count(k) > 0;
    return finish(pass(), any_device ? "" : "no-device");
  }
  if (!accepted) return finish(fail("the registry refused the plugin: " + (loaded.is_ok() ? "not loaded" : loaded.message())));
  ctx.plugin = registry.plugins().front();
  for (auto& c : plugin_checks())
    if (c.name == target) return finish(guarded(c, ctx));
  if (model_index >= 0) {
    for (auto& [id, loc] : locate_models(model_dirs))
      if (loc) ctx.models.push_back(*loc);
    if (static_cast<size_t>(model_index) < ctx.models.size())
      for (auto& c : model_checks(static_cast<size_t>(model_index)))
        if (c.name == target) return finish(guarded(c, ctx));
  }
  return finish(fail("no check named '" + target + "'"));
}

}  // namespace

// glibc's per-thread caches of freed blocks (tcache) count as heap in use:
// they filled over the first few hundred load/unload cycles (up to ~22 KB
// on the ResNet fixture, by MALLOC_PERTURB_ and thread timing), which
// load/repeated-unload-does-not-grow-memory read as growth. The harness
// runs with them off (a tunable read at start, hence the exec), so that
// check sees allocations only: 0 bytes over 1,200 cycles.
void exec_without_tcache(char** argv) {
#if !defined(__SANITIZE_ADDRESS__)
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && std::strstr(tunables, "tcache_count")) return;
  // Once only (glibc drops the variable for setuid programs), and not under
  // valgrind (/proc/self/exe is its tool there).
  const char* preload = std::getenv("LD_PRELOAD");
  if (std::getenv("MRT_CONFORMANCE_REEXEC") || (preload && std::strstr(preload, "vgpreload"))) return;
  if (setenv("MRT_CONFORMANCE_REEXEC", "1", 1) != 0) return;
  std::string value =
      std::string(tunables && *tunables ? std::string(tunables) + ":" : "") + "glibc.malloc.tcache_count=0";
  if (setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);  // on failure: on as we are, with tcache
#else
  (void)argv;
#endif
}

int main(int argc, char** argv) {
  // Hidden entry for crash-isolated loads (see checks_plugin.cpp).
  if (argc == 6 && std::string(argv[1]) == "--child-load") return child_load(argv[2], argv[3], argv[4], argv[5]);
  exec_without_tcache(argv);

  CLI::App app{"mrt-conformance: check a model-runtime plugin against the ABI contract"};
  app.set_version_flag("--version", std::string("mrt-conformance ") + MRT_PROJECT_VERSION + " (plugin ABI " +
                                        std::to_string(MRT_ABI_VERSION_MAJOR) + "." +
                                        std::to_string(MRT_ABI_VERSION_MINOR) + ")");
  std::string plugin_path;
  std::vector<std::string> model_dirs;
  std::string only;
  bool verbose = false;
  double timeout_s = 30;
  std::string run_check;
  int run_model = -1, result_fd = -1;
  Context ctx;
  app.add_option("plugin", plugin_path, "plugin shared object")->required()->check(CLI::ExistingFile);
  app.add_option("--model", model_dirs, "model directory to load (repeatable)")->check(CLI::ExistingPath);
  app.add_option("--iterations", ctx.iterations, "load/unload cycles for the memory check")->check(CLI::Range(1, 100000));
  app.add_option("--only", only, "run only checks whose name starts with this");
  app.add_option("--timeout", timeout_s,
                 "seconds one check may take before it fails as hung (default 30; checks that load the model many "
                 "times get a multiple; 0 = no limit)")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--sandbox", ctx.sandbox,
                 "run the plugin as the service does: in a worker process under this sandbox (strict or files)")
      ->check(CLI::IsMember({"strict", "files"}));
  app.add_option("--plugin-worker", ctx.plugin_worker, "the mrt-plugin-worker program for --sandbox (default: found "
                                                       "beside this program or in ../libexec/model-runtime)");
  app.add_flag("-v,--verbose", verbose, "show host log lines");
  // Hidden: how the harness runs one check in a child process of its own.
  app.add_option("--run-check", run_check)->group("");
  app.add_option("--run-model", run_model)->group("");
  app.add_option("--result-fd", result_fd)->group("");
  CLI11_PARSE(app, argc, argv);
  set_log_level(verbose ? LogLevel::kInfo : LogLevel::kError);

  ctx.plugin_path = fs::canonical(plugin_path);
  ctx.self_exe = fs::read_symlink("/proc/self/exe");
  if (!ctx.sandbox.empty() && ctx.plugin_worker.empty()) {
    for (auto candidate : {ctx.self_exe.parent_path() / "mrt-plugin-worker",
                           ctx.self_exe.parent_path().parent_path() / "libexec" / "model-runtime" / "mrt-plugin-worker"})
      if (fs::exists(candidate)) ctx.plugin_worker = candidate;
    if (ctx.plugin_worker.empty()) {
      std::fprintf(stderr, "mrt-conformance: --sandbox needs mrt-plugin-worker (give --plugin-worker)\n");
      return 2;
    }
  }
  if (!run_check.empty()) {
    if (result_fd < 0) return 2;
    return run_one(ctx, run_check, run_model, result_fd, model_dirs);
  }
  std::printf("mrt-conformance: %s (host ABI %d.%d)\n", ctx.plugin_path.c_str(), MRT_ABI_VERSION_MAJOR, MRT_ABI_VERSION_MINOR);

  Invocation inv{ctx.self_exe, std::vector<std::string>(argv + 1, argv + argc)};
  int passed = 0, failed = 0, skipped = 0;
  auto report = [&](const std::string& name, const CheckResult& r) {
    const char* tag = r.outcome == Outcome::kPass ? "PASS" : r.outcome == Outcome::kFail ? "FAIL" : "SKIP";
    (r.outcome == Outcome::kPass ? passed : r.outcome == Outcome::kFail ? failed : skipped)++;
    std::printf("%s  %-48s %s\n", tag, name.c_str(), r.detail.c_str());
    std::fflush(stdout);
  };
  auto isolated = [&](Check& c, int model_index, std::string* flags = nullptr) {
    double scale = (c.timeout_scale ? std::max(1.0, c.timeout_scale(ctx)) : 1.0) * kBuildSlowdown;
    std::string text = "--timeout " + seconds(timeout_s);
    if (scale != 1) {
      char buf[48];
      std::snprintf(buf, sizeof buf, " × %g for this check", scale);
      text += buf;
    }
    return run_isolated(inv, c.name, model_index, timeout_s * scale, text, flags);
  };
  auto run = [&](Check& c, const std::string& label, int model_index) {
    if (!only.empty() && c.name.rfind(only, 0) != 0) return;
    report(label, isolated(c, model_index));
  };

  for (auto& c : handshake_checks()) run(c, c.name, -1);

  bool no_device = false;
  Check accepts{kAcceptsPlugin, nullptr};
  std::string flags;
  CheckResult accepted = isolated(accepts, -1, &flags);
  report(kAcceptsPlugin, accepted);
  if (accepted.outcome == Outcome::kPass) {
    for (auto& c : plugin_checks()) run(c, c.name, -1);
    if (flags == "no-device" && !model_dirs.empty()) {
      report("model/*", skip("the plugin reports no usable device here: model checks need one"));
      no_device = true;
      model_dirs.clear();
    }
    for (auto& [id, loc] : locate_models(model_dirs)) {
      if (!loc) {
        report("model/" + id, fail(loc.status().to_string()));
        continue;
      }
      ctx.models.push_back(*loc);
      int index = static_cast<int>(ctx.models.size() - 1);
      for (auto& c : model_checks(static_cast<size_t>(index))) run(c, c.name + " [" + id + "]", index);
    }
    if (model_dirs.empty() && !no_device) report("model/*", skip("no --model given: model checks not run"));
  }
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed == 0 && no_device) return 77;
  return failed == 0 ? 0 : 1;
}
