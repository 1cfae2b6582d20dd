// SPDX-License-Identifier: MIT
//
// PayloadCopier: copies the small payloads of a run of MESSAGEs
// (docs/ARCHITECTURE.md, "Publishing and receiving small messages") into a
// block it reuses. A subscriber that only reads each message in its
// callback then costs no allocation per message; one that keeps a message
// keeps that block, and the next copy goes to a new one. A block is made
// for the payload that does not fit the last one, and runs hold frames of
// at most 1 KiB: a kept message holds at most that, never its whole run.
#ifndef SWITCHBOARD_CLIENT_PAYLOAD_COPIER_H_
#define SWITCHBOARD_CLIENT_PAYLOAD_COPIER_H_

#include <cstddef>
#include <memory>

#include "absl/strings/string_view.h"
#include "switchboard/payload.h"

namespace switchboard::client {

class PayloadCopier {
 public:
  // A Payload holding a copy of `bytes`. The copy goes into the current
  // block if no Payload refers to it any more and it is large enough, and
  // into a new block of bytes.size() otherwise.
  Payload Copy(absl::string_view bytes);

 private:
  std::shared_ptr<char[]> block_;
  size_t capacity_ = 0;
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_PAYLOAD_COPIER_H_
