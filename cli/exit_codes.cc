// SPDX-License-Identifier: MIT
#include "exit_codes.h"

#include "absl/strings/str_cat.h"

namespace switchboard::cli {

int ExitCodeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
      return kExitInvalidInput;
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kUnimplemented:
      return kExitNotFound;
    case absl::StatusCode::kDeadlineExceeded:
      return kExitTimeout;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return kExitPermissionDenied;
    case absl::StatusCode::kUnavailable:
      return kExitUnavailable;
    default:
      return kExitFailure;
  }
}

std::string ErrorLine(const absl::Status& status) {
  return absl::StrCat("switchboard: ", absl::StatusCodeToString(status.code()),
                      ": ", status.message());
}

}  // namespace switchboard::cli
