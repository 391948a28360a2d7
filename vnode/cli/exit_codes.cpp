#include "exit_codes.h"

namespace mrt::cli {

int exit_code_for(StatusCode code) {
  switch (code) {
    case MRT_CODE_OK: return kExitOk;
    case MRT_CODE_INVALID_ARGUMENT:
    case MRT_CODE_OUT_OF_RANGE: return kExitInvalidArgument;
    case MRT_CODE_NOT_FOUND: return kExitNotFound;
    case MRT_CODE_UNAVAILABLE: return kExitUnavailable;
    case MRT_CODE_PERMISSION_DENIED:
    case MRT_CODE_UNAUTHENTICATED: return kExitPermissionDenied;
    case MRT_CODE_RESOURCE_EXHAUSTED: return kExitResourceExhausted;
    case MRT_CODE_DEADLINE_EXCEEDED: return kExitDeadlineExceeded;
    default: return kExitOther;
  }
}

const char* const kExitCodesHelp =
    "Exit status:\n"
    "  0  success\n"
    "  1  other error (INTERNAL, DATA_LOSS, FAILED_PRECONDITION, UNIMPLEMENTED, CANCELLED, ...)\n"
    "  2  invalid argument: the command line, an input, a model or a request (INVALID_ARGUMENT, OUT_OF_RANGE)\n"
    "  3  not found: model, plugin, file or request (NOT_FOUND)\n"
    "  4  unavailable: the service is not running or is shutting down, or a plugin crashed (UNAVAILABLE)\n"
    "  5  permission denied (PERMISSION_DENIED, UNAUTHENTICATED)\n"
    "  6  resource exhausted: a queue, a per-client limit, the storage quota or the memory budget (RESOURCE_EXHAUSTED)\n"
    "  7  deadline exceeded: --timeout-ms passed (DEADLINE_EXCEEDED)\n"
    "With --json every command prints one JSON object on stdout, an error as {\"error\": {code, message, exit_code}}.";

}  // namespace mrt::cli
