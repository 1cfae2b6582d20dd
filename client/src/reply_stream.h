// SPDX-License-Identifier: MIT
//
// ReplyStream::Impl: the caller's end of a streamed call (docs/PROTOCOL.md
// 5.4). Whoever reads the socket (the dispatch thread or a synchronous
// caller holding the reader role) pushes each MORE reply and then the final
// status into it; the application takes them with Next(), which grants the
// callee new credit as messages are consumed (CreditWindow) so that at most
// `window` messages wait here. The client's connection is reached only
// through a Link, which closes when the stream ends: after Finish() nothing
// is sent, so a stream may outlive its Client.
#ifndef SWITCHBOARD_CLIENT_SRC_REPLY_STREAM_H_
#define SWITCHBOARD_CLIENT_SRC_REPLY_STREAM_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/src/stream_credit.h"
#include "switchboard/export.h"
#include "switchboard/stream.h"

namespace switchboard {

class SWITCHBOARD_NO_EXPORT ReplyStream::Impl {
 public:
  // Sends the stream's control frames on the client's connection. Called
  // under the stream's lock, never after Finish().
  struct Link {
    std::function<void(uint32_t grant)> send_credit;  // CREDIT
    std::function<void()> send_cancel;                // CANCEL
    // Whether the calling thread is the one that delivers the stream's
    // replies (the client's dispatch thread), so Next() must not wait.
    std::function<bool()> delivers_here;
  };

  // `deadline`: when Next() stops waiting for the broker, which should have
  // ended the stream with DEADLINE_EXCEEDED by then.
  Impl(uint32_t window, absl::Time deadline, Link link);

  // Reader side; never block.
  // A MORE reply: one message of the stream. Ignored once the stream ended.
  void Push(Payload message);
  // The final REPLY's status, or how the connection ended. Closes the link;
  // only the first end counts.
  void Finish(absl::Status status);
  // Like Finish(), and drops the messages not yet taken: the client closed.
  void Abort(absl::Status status);

  // Application side (ReplyStream).
  absl::StatusOr<std::optional<Payload>> Next();
  void Cancel();
  // Whether the stream ended (Finish() or Cancel()).
  bool ended() const;

 private:
  void CloseLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Time deadline_;
  mutable absl::Mutex mu_;
  std::deque<Payload> messages_ ABSL_GUARDED_BY(mu_);
  // Set once the stream ended; queued messages are still handed out first,
  // unless the application cancelled.
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
  client::CreditWindow credit_ ABSL_GUARDED_BY(mu_);
  Link link_ ABSL_GUARDED_BY(mu_);  // empty once closed
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENT_SRC_REPLY_STREAM_H_
