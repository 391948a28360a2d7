// mrt's exit status by error class, so that a script can tell a missing
// model from a busy service or a refusal without parsing messages. The
// table is printed by `mrt --help` and kept in docs/service.md ("mrt").
#pragma once

#include "mrt/core/status.h"

namespace mrt::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,              // internal, data loss, failed precondition, anything else
  kExitInvalidArgument = 2,    // a bad command line, input file, model or request
  kExitNotFound = 3,           // no such model, plugin, file or request
  kExitUnavailable = 4,        // the service is unreachable, shutting down, or a plugin crashed
  kExitPermissionDenied = 5,   // the caller may not do this (an admin's or an owner's operation)
  kExitResourceExhausted = 6,  // a queue, limit, quota or the memory budget is full
  kExitDeadlineExceeded = 7,   // --timeout-ms passed
};

int exit_code_for(StatusCode code);

// The exit-status table, for the end of `mrt --help`.
extern const char* const kExitCodesHelp;

}  // namespace mrt::cli
