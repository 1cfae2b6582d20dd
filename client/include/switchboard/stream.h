// SPDX-License-Identifier: MIT
//
// Streamed replies (docs/PROTOCOL.md 5.4): one call answered by many
// messages, then a final status, with credit-based flow control so a fast
// callee can never flood a slow caller.
//
// Caller:
//   absl::StatusOr<std::unique_ptr<switchboard::ReplyStream>> clip =
//       client->CallStream("video.player", "PlayClip", request);
//   while (true) {
//     absl::StatusOr<std::optional<switchboard::Payload>> frame =
//         (*clip)->Next();
//     if (!frame.ok()) { /* the stream failed */ break; }
//     if (!frame->has_value()) break;  // ended OK
//     Show(**frame);
//   }
//
// Callee:
//   service.AddStreamMethod("PlayClip",
//       [](const switchboard::CallInfo& call, const switchboard::Payload& req,
//          switchboard::StreamWriter& out) -> absl::Status {
//         for (int i = 0; i < 300; ++i) {
//           SB_RETURN_IF_ERROR(out.Write(RenderFrame(i)));
//         }
//         return absl::OkStatus();  // the final status the caller sees
//       });
//
// Flow control. The caller's library grants the broker `window` messages of
// credit and grants more as the application takes messages with Next(), so
// at most `window` messages wait in the caller. The callee's Write() waits
// until it has credit. Nothing buffers without bound anywhere.
#ifndef SWITCHBOARD_STREAM_H_
#define SWITCHBOARD_STREAM_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "switchboard/export.h"
#include "switchboard/payload.h"

namespace switchboard {

struct StreamOptions {
  // Credit: how many messages the callee may send ahead of what Next() has
  // taken. At least 1.
  uint32_t window = 16;
  // Deadline for the whole stream, counted from CallStream(). The broker
  // clamps it to 24 hours.
  absl::Duration timeout = absl::Hours(24);
};

// The caller's end of a streamed call. Thread-compatible: use one stream
// from one thread at a time (different streams from different threads are
// fine). Destroying it before the end cancels the call.
class SWITCHBOARD_EXPORT ReplyStream {
 public:
  class Impl;
  explicit ReplyStream(std::shared_ptr<Impl> impl);
  ~ReplyStream();
  ReplyStream(const ReplyStream&) = delete;
  ReplyStream& operator=(const ReplyStream&) = delete;

  // Waits for the next message. Returns it; std::nullopt once the callee
  // ended the stream with OK; or the stream's final error: the callee's
  // status, or kCancelled (Cancel() or the client closed), kUnavailable (the
  // callee or the broker went away), kDeadlineExceeded, kNotFound (no
  // owner), kResourceExhausted (a queue or credit limit). After the end,
  // Next() keeps returning the same result. On the client's dispatch thread
  // (inside a handler or callback), which delivers the stream's messages,
  // Next() cannot wait: it returns kFailedPrecondition when nothing has
  // arrived yet.
  absl::StatusOr<std::optional<Payload>> Next();

  // Next(), parsed as T (kInternal if a message is not a valid T).
  template <typename T>
  absl::StatusOr<std::optional<T>> Next() {
    absl::StatusOr<std::optional<Payload>> next = Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) return std::optional<T>();
    T out;
    if (!out.ParseFromArray((*next)->data(),
                            static_cast<int>((*next)->size()))) {
      return absl::InternalError("stream message is not a valid " +
                                 std::string(T::descriptor()->full_name()));
    }
    return std::optional<T>(std::move(out));
  }

  // Ends the stream early: the callee is told (its Write() fails with
  // kCancelled), and Next() returns kCancelled. Idempotent.
  void Cancel();

 private:
  std::shared_ptr<Impl> impl_;
};

// The callee's end of a streamed call, handed to a stream handler. Its
// methods may be called from any thread while the handler runs.
class SWITCHBOARD_EXPORT StreamWriter {
 public:
  class Impl;
  explicit StreamWriter(std::shared_ptr<Impl> impl);
  ~StreamWriter();
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  // Sends one message of the stream, waiting while the caller has granted no
  // credit. Errors (the stream is over; return from the handler):
  // kCancelled (the caller cancelled or went away), kDeadlineExceeded (the
  // call's deadline passed), kUnavailable (the connection to the broker was
  // lost or the client is closing), kResourceExhausted (over
  // max_payload_bytes; the stream goes on), kFailedPrecondition (an
  // attached SharedBuffer is not size-sealed; the stream goes on).
  absl::Status Write(Payload message);
  absl::Status Write(const google::protobuf::Message& message);

  // Whether the stream is over from the caller's side (cancelled, deadline,
  // caller gone); Write() then fails.
  bool cancelled() const;
  // Credit left: messages Write() may send without waiting.
  uint32_t credit() const;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_STREAM_H_
