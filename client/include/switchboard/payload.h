// SPDX-License-Identifier: MIT
//
// Payload: immutable, reference-counted bytes, plus any SharedBuffers attached
// to them. Requests and replies travel as Payloads so that large messages are
// never copied inside the library: a received payload is a view into the
// frame it arrived in, a reply can share a buffer the application keeps (a
// frame pool) instead of copying it, and attached SharedBuffers travel as
// file descriptors where they can (see shared_buffer.h).
#ifndef SWITCHBOARD_PAYLOAD_H_
#define SWITCHBOARD_PAYLOAD_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "switchboard/export.h"
#include "switchboard/shared_buffer.h"

namespace switchboard {

class SWITCHBOARD_EXPORT Payload {
 public:
  // Empty payload.
  Payload() = default;
  // Takes ownership of `bytes` without copying them.
  Payload(std::string bytes);  // NOLINT(google-explicit-constructor)
  Payload(const char* bytes) : Payload(std::string(bytes)) {}  // NOLINT
  // Shares `bytes` without copying: the buffer stays alive while any Payload
  // refers to it. Use this to answer many calls from one buffer.
  explicit Payload(std::shared_ptr<const std::string> bytes);
  // A view of `view` kept alive by `owner` (for example a received frame).
  Payload(std::shared_ptr<const void> owner, absl::string_view view)
      : owner_(std::move(owner)), view_(view) {}
  // `message` with `buffers` attached. Each buffer must have its size sealed
  // (SharedBuffer::Seal) before the payload is sent.
  Payload(std::string message, std::vector<SharedBuffer> buffers)
      : Payload(std::move(message)) {
    buffers_ = std::move(buffers);
  }
  Payload(const char* message, std::vector<SharedBuffer> buffers)
      : Payload(std::string(message), std::move(buffers)) {}
  Payload(Payload message, std::vector<SharedBuffer> buffers)
      : Payload(std::move(message)) {
    buffers_ = std::move(buffers);
  }

  // Copies `bytes` into a new Payload: one allocation holds the bytes and
  // their reference count.
  static Payload Copy(absl::string_view bytes);

  absl::string_view view() const { return view_; }
  const char* data() const { return view_.data(); }
  size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  operator absl::string_view() const { return view_; }  // NOLINT
  std::string ToString() const { return std::string(view_); }

  // The buffers attached to the message, in order.
  const std::vector<SharedBuffer>& buffers() const { return buffers_; }

  friend bool operator==(const Payload& a, absl::string_view b) {
    return a.view_ == b;
  }

 private:
  std::shared_ptr<const void> owner_;
  absl::string_view view_;
  std::vector<SharedBuffer> buffers_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_PAYLOAD_H_
