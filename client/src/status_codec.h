// SPDX-License-Identifier: MIT
//
// absl::Status <-> the code/message fields of REPLY and ERROR headers. Codes
// are absl::StatusCode numbers on the wire, so a status crosses unchanged.
#ifndef SWITCHBOARD_CLIENT_SRC_STATUS_CODEC_H_
#define SWITCHBOARD_CLIENT_SRC_STATUS_CODEC_H_

#include "absl/status/status.h"
#include "switchboard/v1/header.pb.h"

namespace switchboard::client {

inline absl::Status MakeStatus(int32_t code, const std::string& message) {
  if (code == 0) return absl::OkStatus();
  if (code < 0 || code > 16) {
    return absl::UnknownError("status code " + std::to_string(code) +
                              " from peer: " + message);
  }
  return absl::Status(static_cast<absl::StatusCode>(code), message);
}

inline absl::Status StatusFromReply(const v1::Reply& reply) {
  return MakeStatus(reply.code(), reply.message());
}

inline absl::Status StatusFromError(const v1::Error& error) {
  return MakeStatus(error.code(), error.message());
}

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_STATUS_CODEC_H_
