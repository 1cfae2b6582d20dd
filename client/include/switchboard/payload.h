// SPDX-License-Identifier: MIT
//
// Payload: immutable, reference-counted bytes. Requests and replies travel as
// Payloads so that large messages are never copied inside the library: a
// received payload is a view into the frame it arrived in, and a reply can
// share a buffer the application keeps (a frame pool) instead of copying it.
#ifndef SWITCHBOARD_PAYLOAD_H_
#define SWITCHBOARD_PAYLOAD_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace switchboard {

class Payload {
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

  // Copies `bytes` into a new Payload.
  static Payload Copy(absl::string_view bytes) {
    return Payload(std::string(bytes));
  }

  absl::string_view view() const { return view_; }
  const char* data() const { return view_.data(); }
  size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  operator absl::string_view() const { return view_; }  // NOLINT
  std::string ToString() const { return std::string(view_); }

  friend bool operator==(const Payload& a, absl::string_view b) {
    return a.view_ == b;
  }

 private:
  std::shared_ptr<const void> owner_;
  absl::string_view view_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_PAYLOAD_H_
