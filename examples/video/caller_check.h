// SPDX-License-Identifier: MIT
//
// CallerCheck: who may use video.frames, decided from the caller's identity
// as the kernel gave it to the broker (Client::GetIdentity), not from
// anything the caller says. A demo of that API: video-server serves only
// callers of its own uid and, with --allow-exe, only that one executable,
// which the broker must have read from the caller's verified process (so a
// TCP caller, whose process the broker does not know, is refused then).
#ifndef SWITCHBOARD_EXAMPLES_VIDEO_CALLER_CHECK_H_
#define SWITCHBOARD_EXAMPLES_VIDEO_CALLER_CHECK_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "switchboard/client.h"
#include "switchboard/service.h"

namespace switchboard::examples::video {

class CallerCheck {
 public:
  // `allowed_exe` empty: any executable.
  CallerCheck(uint32_t uid, std::string allowed_exe)
      : uid_(uid), allowed_exe_(std::move(allowed_exe)) {}

  // OK if `call`'s caller, which called through `client`, may be served;
  // else PERMISSION_DENIED saying why (or the error that kept the broker
  // from saying who called).
  absl::Status Check(Client& client, const CallInfo& call) const;

 private:
  const uint32_t uid_;
  const std::string allowed_exe_;
};

}  // namespace switchboard::examples::video

#endif  // SWITCHBOARD_EXAMPLES_VIDEO_CALLER_CHECK_H_
