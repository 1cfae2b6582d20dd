// SPDX-License-Identifier: MIT
#include "wire/prefix.h"

#include <cstring>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"

namespace switchboard::wire {
namespace {

uint16_t Load16(const char* p) { return absl::little_endian::Load16(p); }
uint32_t Load32(const char* p) { return absl::little_endian::Load32(p); }
uint64_t Load64(const char* p) { return absl::little_endian::Load64(p); }

}  // namespace

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kHello:
      return "HELLO";
    case Kind::kWelcome:
      return "WELCOME";
    case Kind::kCall:
      return "CALL";
    case Kind::kReply:
      return "REPLY";
    case Kind::kCancel:
      return "CANCEL";
    case Kind::kRegisterName:
      return "REGISTER_NAME";
    case Kind::kReleaseName:
      return "RELEASE_NAME";
    case Kind::kPing:
      return "PING";
    case Kind::kEvent:
      return "EVENT";
    case Kind::kError:
      return "ERROR";
    case Kind::kCredit:
      return "CREDIT";
    case Kind::kSubscribe:
      return "SUBSCRIBE";
    case Kind::kUnsubscribe:
      return "UNSUBSCRIBE";
    case Kind::kPublish:
      return "PUBLISH";
    case Kind::kMessage:
      return "MESSAGE";
  }
  return "KIND(?)";
}

void EncodePrefix(const Prefix& prefix, char* out) {
  out[0] = static_cast<char>(kMagic0);
  out[1] = static_cast<char>(kMagic1);
  out[kOffsetVersion] = static_cast<char>(kProtocolVersion);
  out[kOffsetKind] = static_cast<char>(prefix.kind);
  absl::little_endian::Store16(out + kOffsetFlags, prefix.flags);
  out[kOffsetFdCount] = static_cast<char>(prefix.fd_count);
  out[kOffsetReserved] = 0;
  absl::little_endian::Store32(out + kOffsetHeaderLength, prefix.header_length);
  absl::little_endian::Store32(out + kOffsetPayloadLength,
                               prefix.payload_length);
  absl::little_endian::Store64(out + kOffsetRequestId, prefix.request_id);
  StampSender(out, prefix.sender, prefix.sender_uid, prefix.sender_pid);
}

absl::StatusOr<Prefix> DecodePrefix(absl::string_view bytes) {
  if (bytes.size() < kPrefixBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame prefix needs ", kPrefixBytes, " bytes, got ", bytes.size()));
  }
  const char* p = bytes.data();
  if (static_cast<uint8_t>(p[0]) != kMagic0 ||
      static_cast<uint8_t>(p[1]) != kMagic1) {
    return absl::InvalidArgumentError(
        "bad frame magic: this is not a Switchboard frame");
  }
  const uint8_t version = static_cast<uint8_t>(p[kOffsetVersion]);
  if (version != kProtocolVersion) {
    return absl::UnimplementedError(
        absl::StrCat("unsupported protocol version ", version,
                     "; supported: ", kProtocolVersion));
  }
  const uint8_t kind = static_cast<uint8_t>(p[kOffsetKind]);
  if (kind == 0 || kind > kMaxKind) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown frame kind ", kind));
  }
  Prefix prefix;
  prefix.kind = static_cast<Kind>(kind);
  prefix.flags = Load16(p + kOffsetFlags);
  if ((prefix.flags & ~kKnownFlags) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame flags 0x", absl::Hex(prefix.flags & ~kKnownFlags),
                     " are not defined"));
  }
  prefix.fd_count = static_cast<uint8_t>(p[kOffsetFdCount]);
  if (p[kOffsetReserved] != 0) {
    return absl::InvalidArgumentError("reserved prefix byte is not zero");
  }
  prefix.header_length = Load32(p + kOffsetHeaderLength);
  prefix.payload_length = Load32(p + kOffsetPayloadLength);
  prefix.request_id = Load64(p + kOffsetRequestId);
  prefix.sender = Load64(p + kOffsetSender);
  prefix.sender_uid = Load32(p + kOffsetSenderUid);
  prefix.sender_pid = Load32(p + kOffsetSenderPid);
  return prefix;
}

void StampRequestId(char* prefix, uint64_t request_id) {
  absl::little_endian::Store64(prefix + kOffsetRequestId, request_id);
}

void StampFlags(char* prefix, uint16_t flags) {
  absl::little_endian::Store16(prefix + kOffsetFlags, flags);
}

void StampKind(char* prefix, Kind kind) {
  prefix[kOffsetKind] = static_cast<char>(kind);
}

void StampSender(char* prefix, uint64_t sender, uint32_t uid, uint32_t pid) {
  absl::little_endian::Store64(prefix + kOffsetSender, sender);
  absl::little_endian::Store32(prefix + kOffsetSenderUid, uid);
  absl::little_endian::Store32(prefix + kOffsetSenderPid, pid);
}

}  // namespace switchboard::wire
