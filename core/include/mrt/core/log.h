// Host logging: one line per event on stderr,
//   2026-11-27T11:20:00.123Z INFO registry: loaded plugin 'dense' ...
// A sink can be swapped (tests capture lines; the service may silence it
// when it lacks CAP_LOG_WRITE).
#pragma once

#include <mrt/plugin.h>

#include <functional>
#include <string>
#include <string_view>

namespace mrt {

enum class LogLevel { kDebug = MRT_LOG_DEBUG, kInfo = MRT_LOG_INFO, kWarning = MRT_LOG_WARNING, kError = MRT_LOG_ERROR };

using LogSink = std::function<void(LogLevel, std::string_view component, std::string_view message)>;

// Replaces the process-wide sink (nullptr restores stderr). Thread-safe.
void set_log_sink(LogSink sink);
// Lines below `level` are dropped. Default: kInfo (MRT_LOG_LEVEL=debug overrides).
void set_log_level(LogLevel level);
void log(LogLevel level, std::string_view component, std::string_view message);
// Whether a line at `level` would be written (skip building costly lines).
bool log_enabled(LogLevel level);

inline void log_info(std::string_view c, std::string_view m) { log(LogLevel::kInfo, c, m); }
inline void log_warning(std::string_view c, std::string_view m) { log(LogLevel::kWarning, c, m); }
inline void log_error(std::string_view c, std::string_view m) { log(LogLevel::kError, c, m); }
inline void log_debug(std::string_view c, std::string_view m) { log(LogLevel::kDebug, c, m); }

}  // namespace mrt
