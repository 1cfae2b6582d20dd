// SPDX-License-Identifier: MIT
#include "wire/frame.h"

#include <cstring>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace switchboard::wire {

Frame::Frame(const Prefix& prefix, FrameBytes bytes)
    : prefix_(prefix), bytes_(std::move(bytes)) {}

Frame Frame::Build(Prefix prefix, absl::string_view header,
                   absl::string_view payload) {
  prefix.header_length = static_cast<uint32_t>(header.size());
  prefix.payload_length = static_cast<uint32_t>(payload.size());
  FrameBytes bytes = AllocateFrameBytes(prefix.frame_bytes());
  // As new[] would: frames the broker and the library build are small, and
  // without memory for one nothing else can go on either.
  if (bytes == nullptr) throw std::bad_alloc();
  EncodePrefix(prefix, bytes.get());
  if (!header.empty()) {
    std::memcpy(bytes.get() + kPrefixBytes, header.data(), header.size());
  }
  if (!payload.empty()) {
    std::memcpy(bytes.get() + kPrefixBytes + header.size(), payload.data(),
                payload.size());
  }
  return Frame(prefix, std::move(bytes));
}

Frame Frame::Build(const Prefix& prefix, const v1::Header& header,
                   absl::string_view payload) {
  return Build(prefix, header.SerializeAsString(), payload);
}

absl::StatusOr<v1::Header> Frame::ParseHeader() const {
  v1::Header header;
  absl::string_view bytes = header_bytes();
  if (!header.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat(KindName(kind()),
                     " frame header is not a valid "
                     "switchboard.v1.Header"));
  }
  return header;
}

absl::StatusOr<v1::Header> Frame::ParseHeaderAs(
    v1::Header::BodyCase expected) const {
  absl::StatusOr<v1::Header> header = ParseHeader();
  if (header.ok() && header->body_case() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        KindName(kind()), " frame header does not hold the ",
        v1::Header::descriptor()->FindFieldByNumber(expected)->name(),
        " its kind requires"));
  }
  return header;
}

void Frame::set_request_id(uint64_t request_id) {
  prefix_.request_id = request_id;
  StampRequestId(bytes_.get(), request_id);
}

void Frame::set_flags(uint16_t flags) {
  prefix_.flags = flags;
  StampFlags(bytes_.get(), flags);
}

void Frame::set_kind(Kind kind) {
  prefix_.kind = kind;
  StampKind(bytes_.get(), kind);
}

void Frame::set_sender(uint64_t sender, uint32_t uid, uint32_t pid) {
  prefix_.sender = sender;
  prefix_.sender_uid = uid;
  prefix_.sender_pid = pid;
  StampSender(bytes_.get(), sender, uid, pid);
}

namespace {

using google::protobuf::internal::WireFormatLite;

// Reads Publish.topic (field 1) from a serialized Publish, merging into
// `topic` as protobuf would (the last occurrence wins).
bool ReadTopicField(absl::string_view publish, absl::string_view& topic) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(publish.data()),
      static_cast<int>(publish.size()));
  while (uint32_t tag = in.ReadTag()) {
    if (tag ==
        WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return false;
      const int offset = in.CurrentPosition();
      if (!in.Skip(static_cast<int>(length))) return false;
      topic = publish.substr(static_cast<size_t>(offset), length);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return in.ConsumedEntireMessage();
}

}  // namespace

absl::StatusOr<absl::string_view> ReadPublishTopic(
    absl::string_view header_bytes) {
  if (absl::string_view topic, type;
      ReadPlainPublish(header_bytes, topic, type)) {
    return topic;
  }
  const absl::Status malformed = absl::InvalidArgumentError(
      "PUBLISH frame header does not hold the publish body");
  if (header_bytes.size() > static_cast<size_t>(INT32_MAX)) return malformed;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(header_bytes.data()),
      static_cast<int>(header_bytes.size()));
  // The `body` oneof's last field decides which body the header holds; a
  // `publish` seen again after another body starts afresh.
  int body = 0;
  absl::string_view topic;
  while (uint32_t tag = in.ReadTag()) {
    const int field = static_cast<int>(WireFormatLite::GetTagFieldNumber(tag));
    // A body field with another wire type is, for protobuf, an unknown
    // field: it is skipped and leaves the body as it was.
    const bool is_body = field >= v1::Header::kHelloFieldNumber &&
                         field <= v1::Header::kPublishFieldNumber &&
                         WireFormatLite::GetTagWireType(tag) ==
                             WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (is_body && field == v1::Header::kPublishFieldNumber) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return malformed;
      const int offset = in.CurrentPosition();
      if (!in.Skip(static_cast<int>(length))) return malformed;
      if (body != field) topic = {};
      body = field;
      if (!ReadTopicField(
              header_bytes.substr(static_cast<size_t>(offset), length),
              topic)) {
        return malformed;
      }
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return malformed;
    if (is_body) body = field;
  }
  if (!in.ConsumedEntireMessage() || body != v1::Header::kPublishFieldNumber) {
    return malformed;
  }
  return topic;
}

bool ReadPlainPublish(absl::string_view header_bytes, absl::string_view& topic,
                      absl::string_view& message_type) {
  const auto* p = reinterpret_cast<const uint8_t*>(header_bytes.data());
  const size_t n = header_bytes.size();
  const uint8_t publish_tag = static_cast<uint8_t>(
      WireFormatLite::MakeTag(v1::Header::kPublishFieldNumber,
                              WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
  constexpr uint8_t kTopicTag = (1 << 3) | 2;
  constexpr uint8_t kTypeTag = (2 << 3) | 2;
  // Tag and one-byte length of the body, which runs to the end.
  if (n < 4 || p[0] != publish_tag || p[1] >= 0x80 || p[1] != n - 2) {
    return false;
  }
  if (p[2] != kTopicTag || p[3] >= 0x80 || size_t{4} + p[3] > n) return false;
  const size_t type_at = size_t{4} + p[3];
  absl::string_view type;
  if (type_at != n) {
    if (type_at + 2 > n || p[type_at] != kTypeTag || p[type_at + 1] >= 0x80 ||
        type_at + 2 + p[type_at + 1] != n) {
      return false;
    }
    type = header_bytes.substr(type_at + 2);
  }
  topic = header_bytes.substr(4, p[3]);
  message_type = type;
  return true;
}

std::string EncodeHead(Prefix prefix, absl::string_view header) {
  prefix.header_length = static_cast<uint32_t>(header.size());
  std::string head(kPrefixBytes + header.size(), '\0');
  EncodePrefix(prefix, head.data());
  if (!header.empty()) {
    std::memcpy(head.data() + kPrefixBytes, header.data(), header.size());
  }
  return head;
}

}  // namespace switchboard::wire
