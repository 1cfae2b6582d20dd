// SPDX-License-Identifier: MIT
//
// StreamWriter::Impl: the callee's end of a streamed call (docs/PROTOCOL.md
// 5.4). It holds the stream's credit: initial_credit from the CALL plus
// every CREDIT the caller sends, one used per message. Write() runs on the
// stream handler's own thread and waits while the credit is 0; the thread
// that reads the socket grants credit and reports the end (CANCEL from the
// caller or the broker, a lost connection, the client closing), which makes
// every later Write() fail.
#ifndef SWITCHBOARD_CLIENT_SRC_STREAM_WRITER_H_
#define SWITCHBOARD_CLIENT_SRC_STREAM_WRITER_H_

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "switchboard/export.h"
#include "switchboard/stream.h"

namespace switchboard {

class SWITCHBOARD_NO_EXPORT StreamWriter::Impl {
 public:
  // Sends one message as a REPLY flagged MORE. Errors: kResourceExhausted
  // or kFailedPrecondition for a message that cannot be sent (nothing was
  // sent), kUnavailable when the connection failed.
  using SendFn = std::function<absl::Status(Payload message)>;

  // `deadline`: the call's deadline, which decides whether a CANCEL from
  // the broker means kDeadlineExceeded.
  Impl(uint32_t initial_credit, absl::Time deadline, SendFn send);

  // Handler side.
  absl::Status Write(Payload message);
  bool cancelled() const;
  uint32_t credit() const;

  // Reader side; never block for long.
  // A CREDIT frame for this call. Saturates at 2^32-1, as the broker does.
  void Grant(uint32_t grant);
  // A CANCEL for this call: kDeadlineExceeded if the deadline has passed,
  // else kCancelled. `from_broker`: the broker originated it (deadline or
  // caller gone); the deadline then counts as passed up to
  // kDeadlineSlack early, since the callee's estimate of the deadline runs
  // late by the CALL's transit time.
  void Cancel(bool from_broker);
  static constexpr absl::Duration kDeadlineSlack = absl::Milliseconds(250);
  // The connection is gone or the client is closing: kUnavailable.
  void Fail(absl::Status status);

 private:
  const absl::Time deadline_;
  const SendFn send_;
  mutable absl::Mutex mu_;
  uint32_t credit_ ABSL_GUARDED_BY(mu_);
  absl::Status end_ ABSL_GUARDED_BY(mu_);        // not OK once over
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;  // over from the caller's side
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENT_SRC_STREAM_WRITER_H_
