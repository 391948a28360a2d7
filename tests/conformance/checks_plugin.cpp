// Checks on the plugin itself: info validity, probing, and loading files
// that are missing, empty, truncated or corrupt (each in a child process, so
// a crash is reported rather than suffered).
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <regex>

#include "checks.h"
#include "mrt/core/host_api.h"
#include "mrt/core/log.h"

namespace fs = std::filesystem;

namespace mrt::conformance {
namespace {

// A scratch directory removed at scope exit.
struct Scratch {
  Scratch() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("mrt-conformance-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Runs child_load in a fresh process (a crash there is reported, not
// suffered); the plugin's error message becomes the check's detail.
CheckResult load_in_child(const Context& ctx, const fs::path& dir, const std::string& primary, const std::string& format) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return fail("pipe failed");
  pid_t pid = fork();
  if (pid < 0) return fail("fork failed");
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    std::string plugin = ctx.plugin_path.string(), d = dir.string();
    execl(ctx.self_exe.c_str(), ctx.self_exe.c_str(), "--child-load", plugin.c_str(), d.c_str(), primary.c_str(),
          format.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string said;
  char buf[512];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof buf)) > 0;) said.append(buf, static_cast<size_t>(n));
  close(pipe_fds[0]);
  while (!said.empty() && said.back() == '\n') said.pop_back();
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return fail("plugin crashed (signal " + std::to_string(WTERMSIG(status)) + ": " + strsignal(WTERMSIG(status)) + ")");
  int code = WEXITSTATUS(status);
  if (code == 0) return pass(said);
  if (code == 3) return fail("loaded a bad file without an error");
  return fail("child exited with " + std::to_string(code));
}

std::string first_format(const Context& ctx) { return ctx.plugin->info().formats.front(); }

}  // namespace

int child_load(const fs::path& plugin_path, const fs::path& dir, const std::string& primary, const std::string& format) {
  set_log_level(LogLevel::kError);
  PluginRegistry reg;
  if (!reg.load_file(plugin_path).is_ok() || reg.plugins().empty()) return 4;
  const auto& plugin = reg.plugins().front();
  MRT_ModelSource source{dir, primary};
  MRT_ModelLoadArgs args{};
  args.struct_size = MRT_MODEL_LOAD_ARGS_STRUCT_SIZE;
  args.source = &source;
  args.format = format.c_str();
  args.device_kind = plugin->info().device_kinds.front();
  args.num_threads = 1;
  MRT_Model* model = nullptr;
  MRT_Status* s = plugin->api().model_load(plugin->context(), &args, &model);
  if (s != nullptr) {
    Status st = take_plugin_status(s);
    std::printf("%s\n", st.to_string().c_str());
    return 0;
  }
  plugin->api().model_unload(plugin->context(), model);
  return 3;
}

std::vector<Check> plugin_checks() {
  return {
      {"info/valid",
       [](Context& ctx) {
         const PluginInfo& i = ctx.plugin->info();
         if (!std::regex_match(i.version, std::regex(R"(\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?)")))
           return fail("version '" + i.version + "' is not a semantic version");
         if (i.vendor.empty()) return fail("vendor is empty");
         for (const auto& f : i.formats)
           if (!std::regex_match(f, std::regex("[a-z0-9._-]+"))) return fail("format '" + f + "' is not lowercase [a-z0-9._-]+");
         if (i.flags & ~MRT_PLUGIN_FLAG_CONCURRENT_EXECUTE) return fail("unknown flag bits set");
         return pass(i.name + " " + i.version + ", " + std::to_string(i.formats.size()) + " format(s)");
       }},
      {"info/devices",
       [](Context& ctx) {
         std::string d;
         for (auto k : ctx.plugin->info().device_kinds) {
           int32_t n = ctx.plugin->device_count(k);
           if (n < 0) return fail("negative device count");
           d += std::string(device_name(k)) + "=" + std::to_string(n) + " ";
         }
         return pass(d);
       }},
      {"probe/unknown-format",
       [](Context& ctx) {
         Scratch s;
         std::ofstream(s.path / "model.bin") << "whatever";
         MRT_ModelSource src{s.path, "model.bin"};
         int32_t score = ctx.plugin->api().probe(ctx.plugin->context(), &src, "mrt-conformance-no-such-format");
         return score == 0 ? pass() : fail("scored " + std::to_string(score) + " for a format it does not claim");
       }},
      {"probe/garbage-and-missing",
       [](Context& ctx) {
         Scratch s;
         std::ofstream(s.path / "garbage.bin", std::ios::binary) << random_bytes(4096, 1);
         for (const auto& format : ctx.plugin->info().formats) {
           for (const char* file : {"garbage.bin", "missing.bin", ""}) {
             MRT_ModelSource src{s.path, file};
             int32_t score = ctx.plugin->api().probe(ctx.plugin->context(), &src, format.c_str());
             if (score != 0) return fail("scored " + std::to_string(score) + " for '" + file + "' as " + format);
           }
         }
         return pass();
       }},
      {"load/missing-file", [](Context& ctx) {
         Scratch s;
         return load_in_child(ctx, s.path, "missing.bin", first_format(ctx));
       }},
      {"load/empty-file", [](Context& ctx) {
         Scratch s;
         std::ofstream(s.path / "empty.bin");
         return load_in_child(ctx, s.path, "empty.bin", first_format(ctx));
       }},
      {"load/garbage-file", [](Context& ctx) {
         Scratch s;
         std::ofstream(s.path / "garbage.bin", std::ios::binary) << random_bytes(65536, 2);
         return load_in_child(ctx, s.path, "garbage.bin", first_format(ctx));
       }},
  };
}

// Per-model corruption checks live beside the model checks; they need the
// model's files.
CheckResult corrupt_copy_check(const Context& ctx, const ModelLocation& model, const std::string& how) {
  if (model.primary_file.empty()) return skip("model names no primary file");
  Scratch s;
  fs::copy(model.directory, s.path / "m", fs::copy_options::recursive);
  fs::path file = s.path / "m" / model.primary_file;
  auto size = fs::file_size(file);
  if (how == "truncated") {
    fs::resize_file(file, size / 2);
  } else {
    // Overwrite the first and middle 64 bytes (headers, then payload).
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    std::string junk = random_bytes(std::min<uintmax_t>(64, size), 3);
    f.seekp(0);
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.write(junk.data(), static_cast<std::streamsize>(std::min<uintmax_t>(junk.size(), size - size / 2)));
  }
  return load_in_child(ctx, s.path / "m", model.primary_file, model.manifest.format);
}

}  // namespace mrt::conformance
