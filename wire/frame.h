// SPDX-License-Identifier: MIT
//
// A Frame is one whole message as it travels: prefix, protobuf header and
// payload in a single owned buffer. The broker decodes a frame once, stamps
// the sender and request id into its prefix in place, and forwards the same
// bytes; nothing is re-serialized on the way through.
#ifndef SWITCHBOARD_WIRE_FRAME_H_
#define SWITCHBOARD_WIRE_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/fd.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame_bytes.h"
#include "wire/prefix.h"

namespace switchboard::wire {

class Frame {
 public:
  // Takes a buffer that holds exactly one encoded frame described by `prefix`.
  Frame(const Prefix& prefix, FrameBytes bytes);

  // Builds a frame by copying `header` and `payload`. The lengths in `prefix`
  // are filled in here.
  static Frame Build(Prefix prefix, absl::string_view header,
                     absl::string_view payload);
  // Serializes `header` and builds the frame.
  static Frame Build(const Prefix& prefix, const v1::Header& header,
                     absl::string_view payload = {});

  Frame(Frame&&) = default;
  Frame& operator=(Frame&&) = default;

  const Prefix& prefix() const { return prefix_; }
  Kind kind() const { return prefix_.kind; }
  uint64_t request_id() const { return prefix_.request_id; }

  // The whole encoded frame, ready to write to a socket.
  absl::string_view bytes() const {
    return absl::string_view(bytes_.get(), prefix_.frame_bytes());
  }
  absl::string_view header_bytes() const {
    return absl::string_view(bytes_.get() + kPrefixBytes,
                             prefix_.header_length);
  }
  absl::string_view payload() const {
    return absl::string_view(
        bytes_.get() + kPrefixBytes + prefix_.header_length,
        prefix_.payload_length);
  }

  // Parses the protobuf header. Errors: kInvalidArgument if it doesn't parse.
  absl::StatusOr<v1::Header> ParseHeader() const;
  // Parses the header and checks that its body is `expected` (the body this
  // frame's kind must carry). Errors: kInvalidArgument if it doesn't parse or
  // holds another body.
  absl::StatusOr<v1::Header> ParseHeaderAs(v1::Header::BodyCase expected) const;

  // Rewrite prefix fields in place, in both the decoded and encoded form.
  void set_request_id(uint64_t request_id);
  void set_sender(uint64_t sender, uint32_t uid, uint32_t pid);
  void set_flags(uint16_t flags);
  void set_kind(Kind kind);

  // The file descriptors that travel with this frame (prefix().fd_count of
  // them once attached). The frame owns them: dropping a frame closes its
  // descriptors, so no path that refuses or discards a frame can leak one.
  // The decoder never fills this; the code that reads the socket attaches
  // what arrived with the frame.
  const std::vector<Fd>& fds() const { return fds_; }
  void set_fds(std::vector<Fd> fds) { fds_ = std::move(fds); }
  std::vector<Fd> take_fds() { return std::exchange(fds_, {}); }

 private:
  Prefix prefix_;
  FrameBytes bytes_;
  std::vector<Fd> fds_;
};

// Reads the topic of a PUBLISH or MESSAGE header (Header.publish.topic)
// without parsing the whole message: the broker's per-publish hot path. The
// view points into `header_bytes`. Errors: kInvalidArgument if the bytes are
// not a Header whose body is `publish`.
absl::StatusOr<absl::string_view> ReadPublishTopic(
    absl::string_view header_bytes);

// Reads a PUBLISH or MESSAGE header of the shape the client library writes:
// a Header holding only the publish body, which holds the topic and perhaps
// a message type, in field order, every length in one byte. For exactly
// that shape, sets `topic` and `message_type` (views into `header_bytes`,
// as a full parse would read them) and returns true; for any other (a long
// topic, other fields such as inline_buffer_sizes, repeats, malformed
// bytes) returns false and leaves them alone: parse the header fully then.
bool ReadPlainPublish(absl::string_view header_bytes, absl::string_view& topic,
                      absl::string_view& message_type);

// Encodes prefix + header into one small buffer, for senders that write a
// large payload from its own buffer (writev) instead of copying it into a
// Frame. Fills in prefix.header_length; prefix.payload_length must be set.
std::string EncodeHead(Prefix prefix, absl::string_view header);

}  // namespace switchboard::wire

#endif  // SWITCHBOARD_WIRE_FRAME_H_
