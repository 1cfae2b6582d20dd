// SPDX-License-Identifier: MIT
#include "wire/frame.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace switchboard::wire {

Frame::Frame(const Prefix& prefix, std::unique_ptr<char[]> bytes)
    : prefix_(prefix), bytes_(std::move(bytes)) {}

Frame Frame::Build(Prefix prefix, absl::string_view header,
                   absl::string_view payload) {
  prefix.header_length = static_cast<uint32_t>(header.size());
  prefix.payload_length = static_cast<uint32_t>(payload.size());
  auto bytes = std::make_unique_for_overwrite<char[]>(prefix.frame_bytes());
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

void Frame::set_sender(uint64_t sender, uint32_t uid, uint32_t pid) {
  prefix_.sender = sender;
  prefix_.sender_uid = uid;
  prefix_.sender_pid = pid;
  StampSender(bytes_.get(), sender, uid, pid);
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
