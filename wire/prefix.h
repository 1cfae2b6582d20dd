// SPDX-License-Identifier: MIT
//
// The fixed 40-byte prefix that starts every frame (docs/PROTOCOL.md, "Frame
// prefix"). It holds everything the broker reads or stamps on a hot path, the
// kind, lengths, request id and sender identity, at fixed offsets, so routing
// a reply or stamping a sender never touches the protobuf header.
#ifndef SWITCHBOARD_WIRE_PREFIX_H_
#define SWITCHBOARD_WIRE_PREFIX_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::wire {

inline constexpr uint8_t kMagic0 = 'S';
inline constexpr uint8_t kMagic1 = 'B';
inline constexpr uint8_t kProtocolVersion = 1;
inline constexpr size_t kPrefixBytes = 40;

// Byte offsets of the prefix fields (all integers little-endian).
inline constexpr size_t kOffsetVersion = 2;
inline constexpr size_t kOffsetKind = 3;
inline constexpr size_t kOffsetFlags = 4;
inline constexpr size_t kOffsetFdCount = 6;
inline constexpr size_t kOffsetReserved = 7;
inline constexpr size_t kOffsetHeaderLength = 8;
inline constexpr size_t kOffsetPayloadLength = 12;
inline constexpr size_t kOffsetRequestId = 16;
inline constexpr size_t kOffsetSender = 24;
inline constexpr size_t kOffsetSenderUid = 32;
inline constexpr size_t kOffsetSenderPid = 36;

enum class Kind : uint8_t {
  kHello = 1,
  kWelcome = 2,
  kCall = 3,
  kReply = 4,
  kCancel = 5,
  kRegisterName = 6,
  kReleaseName = 7,
  kPing = 8,
  kEvent = 9,
  kError = 10,
  kCredit = 11,
  kSubscribe = 12,
  kUnsubscribe = 13,
  kPublish = 14,
  kMessage = 15,
};
inline constexpr uint8_t kMaxKind = 15;

// Prefix flags (docs/PROTOCOL.md 2.1).
// Set only by the broker, on frames it delivers: the frame's sender can
// receive file descriptors, so a reply to it may carry buffers as fds.
// Clients write 0; the broker overwrites the bit.
inline constexpr uint16_t kFlagSenderAcceptsFds = 0x0001;
// On REPLY only: more replies to the same call follow (a streamed reply,
// docs/PROTOCOL.md 5.4). The final REPLY of a call is without it.
inline constexpr uint16_t kFlagMore = 0x0002;
inline constexpr uint16_t kKnownFlags = kFlagSenderAcceptsFds | kFlagMore;

// "CALL", "REPLY", ...; "KIND(n)" for values outside the enum.
const char* KindName(Kind kind);

struct Prefix {
  Kind kind = Kind::kPing;
  uint16_t flags = 0;
  uint8_t fd_count = 0;
  uint32_t header_length = 0;
  uint32_t payload_length = 0;
  uint64_t request_id = 0;
  // Stamped by the broker on every frame it delivers; 0 from clients and for
  // frames the broker itself originates.
  uint64_t sender = 0;
  uint32_t sender_uid = 0;
  uint32_t sender_pid = 0;

  size_t frame_bytes() const {
    return kPrefixBytes + header_length + payload_length;
  }

  friend bool operator==(const Prefix&, const Prefix&) = default;
};

// Writes `prefix` into out[0..kPrefixBytes).
void EncodePrefix(const Prefix& prefix, char* out);

// Reads a prefix from bytes[0..kPrefixBytes). Errors: kInvalidArgument for a
// bad magic, an unknown kind, an undefined flag, a non-zero reserved byte;
// kUnimplemented
// for a protocol version other than kProtocolVersion (the message names it).
absl::StatusOr<Prefix> DecodePrefix(absl::string_view bytes);

// Stamps fields in an encoded prefix in place.
void StampRequestId(char* prefix, uint64_t request_id);
void StampFlags(char* prefix, uint16_t flags);
void StampKind(char* prefix, Kind kind);
void StampSender(char* prefix, uint64_t sender, uint32_t uid, uint32_t pid);

}  // namespace switchboard::wire

#endif  // SWITCHBOARD_WIRE_PREFIX_H_
