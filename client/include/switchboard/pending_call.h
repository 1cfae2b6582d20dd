// SPDX-License-Identifier: MIT
//
// PendingCall: the handle Client::CallAsync() returns, with which the caller
// may give up on the call before it ends.
//
//   switchboard::PendingCall frame = client->CallAsync(
//       "video.frames", "GetFrame", request, absl::Seconds(1),
//       [](absl::StatusOr<switchboard::Payload> reply) { ... });
//   ...
//   frame.Cancel();  // the user scrolled on: the callback gets kCancelled
//
// Dropping a PendingCall does NOT cancel the call: a call whose result only
// its callback needs may ignore the handle.
//
// A handle does not keep its Client alive, and may outlive it: the
// Client's destructor ends its pending calls with kCancelled, and Cancel()
// afterwards returns false.
#ifndef SWITCHBOARD_PENDING_CALL_H_
#define SWITCHBOARD_PENDING_CALL_H_

#include <memory>
#include <utility>

#include "switchboard/export.h"

namespace switchboard {

class Client;
namespace client {
class HandleLink;  // how a handle reaches its Client (client/src)
class AsyncCall;   // the call, as the library tracks it (client/src)
}  // namespace client

class SWITCHBOARD_EXPORT PendingCall {
 public:
  // An empty handle: CallAsync() could not start the call (its callback
  // got the error), or the handle was default-constructed or moved from.
  PendingCall() = default;
  // Does not cancel the call.
  ~PendingCall();
  // The moved-from handle is empty.
  PendingCall(PendingCall&& other) noexcept;
  PendingCall& operator=(PendingCall&& other) noexcept;
  PendingCall(const PendingCall&) = delete;
  PendingCall& operator=(const PendingCall&) = delete;

  // Whether the handle holds a call that was started (not whether it is
  // still pending).
  explicit operator bool() const { return call_ != nullptr; }

  // Gives up on the call unless its callback already has the outcome: the
  // callback runs once, on the dispatch thread, with kCancelled, and if the
  // call is still pending the broker forgets it and sends the callee a
  // CANCEL, as for a call whose deadline passed (a Switchboard handler
  // already running is not interrupted: it runs to its end, and the broker
  // discards its reply). A call parked while the Client reconnects is
  // dropped unsent. Returns whether it cancelled: false once the callback
  // has started with the outcome (or has run), after an earlier Cancel(),
  // for an empty handle, and once the Client was destroyed. Never blocks
  // for the broker; callable from any thread, including the dispatch
  // thread.
  bool Cancel();

 private:
  friend class Client;
  PendingCall(std::shared_ptr<client::HandleLink> link,
              std::shared_ptr<client::AsyncCall> call)
      : link_(std::move(link)), call_(std::move(call)) {}

  std::shared_ptr<client::HandleLink> link_;  // null when empty
  std::shared_ptr<client::AsyncCall> call_;   // null when empty
};

}  // namespace switchboard

#endif  // SWITCHBOARD_PENDING_CALL_H_
