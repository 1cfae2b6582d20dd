// SPDX-License-Identifier: MIT
#include "caller_check.h"

#include "absl/strings/str_cat.h"

namespace switchboard::examples::video {

absl::Status CallerCheck::Check(Client& client, const CallInfo& call) const {
  absl::StatusOr<v1::Identity> caller = client.GetIdentity(call.caller);
  if (!caller.ok()) {
    return absl::Status(
        caller.status().code(),
        absl::StrCat("cannot tell who called (connection :", call.caller,
                     "): ", caller.status().message()));
  }
  if (caller->uid() != uid_) {
    return absl::PermissionDeniedError(absl::StrCat(
        "video.frames serves uid ", uid_, " only; connection :", call.caller,
        " is uid ", caller->uid()));
  }
  if (allowed_exe_.empty()) return absl::OkStatus();
  if (!caller->process_verified()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "video.frames serves ", allowed_exe_,
        " only, and the broker could not verify which program connection :",
        call.caller, " is (a TCP connection, or a process that is gone)"));
  }
  if (caller->exe() != allowed_exe_) {
    return absl::PermissionDeniedError(absl::StrCat(
        "video.frames serves ", allowed_exe_,
        " only; connection :", call.caller, " is ", caller->exe()));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::examples::video
