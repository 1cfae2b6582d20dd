// SPDX-License-Identifier: MIT
//
// CreditWindow: the caller's side of a stream's flow control
// (docs/PROTOCOL.md 5.4). The caller grants `window` messages up front and
// grants again what the application has taken, once it has taken half the
// window, so at most `window` messages are ever in flight or waiting in the
// library, and CREDIT frames cost one per half window rather than one per
// message. Pure bookkeeping; ReplyStream::Impl sends the grants.
#ifndef SWITCHBOARD_CLIENT_SRC_STREAM_CREDIT_H_
#define SWITCHBOARD_CLIENT_SRC_STREAM_CREDIT_H_

#include <cstdint>

namespace switchboard::client {

class CreditWindow {
 public:
  // `window` >= 1: the stream's initial credit.
  explicit CreditWindow(uint32_t window);

  // The application took one message. Returns the credit to grant now, or 0
  // while less than half the window has been taken since the last grant.
  uint32_t Take();

  uint32_t window() const { return window_; }
  // Messages the callee may still send before the next grant.
  uint32_t outstanding() const { return window_ - taken_; }

 private:
  const uint32_t window_;
  const uint32_t threshold_;  // grant once this many were taken
  uint32_t taken_ = 0;        // taken since the last grant
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_STREAM_CREDIT_H_
