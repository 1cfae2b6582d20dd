// SPDX-License-Identifier: MIT
#include "client/src/buffer_transport.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/src/shared_buffer_impl.h"

namespace switchboard::client {

absl::Status CheckSizesSealed(const Payload& payload) {
  const std::vector<SharedBuffer>& buffers = payload.buffers();
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (!buffers[i].size_sealed()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "buffer ", i,
          " is not size-sealed; call SharedBuffer::Seal before sending it"));
    }
  }
  return absl::OkStatus();
}

bool AllHaveFds(const Payload& payload) {
  for (const SharedBuffer& buffer : payload.buffers()) {
    if (buffer.fd() < 0) return false;
  }
  return true;
}

uint64_t InlineLength(const Payload& payload) {
  uint64_t length = payload.size();
  for (const SharedBuffer& buffer : payload.buffers()) length += buffer.size();
  return length;
}

absl::StatusOr<Payload> ReceivedPayload(
    std::shared_ptr<const wire::Frame> frame, std::vector<Fd> fds,
    const google::protobuf::RepeatedField<uint64_t>& inline_sizes) {
  absl::string_view message = frame->payload();
  if (fds.empty() && inline_sizes.empty()) {
    return Payload(std::move(frame), message);
  }
  uint64_t inline_total = 0;
  for (uint64_t size : inline_sizes) {
    inline_total += size;
    if (size > message.size() || inline_total > message.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the inline buffers' sizes add up to more than the payload's ",
          message.size(), " bytes"));
    }
  }
  std::vector<SharedBuffer> buffers;
  buffers.reserve(fds.size() + static_cast<size_t>(inline_sizes.size()));
  for (size_t i = 0; i < fds.size(); ++i) {
    absl::StatusOr<SharedBuffer> buffer =
        SharedBuffer::Impl::FromReceivedFd(std::move(fds[i]));
    if (!buffer.ok()) {
      return absl::Status(
          buffer.status().code(),
          absl::StrCat("received buffer ", i, ": ", buffer.status().message()));
    }
    buffers.push_back(*std::move(buffer));
  }
  absl::string_view rest = message.substr(message.size() - inline_total);
  message.remove_suffix(inline_total);
  for (uint64_t size : inline_sizes) {
    buffers.push_back(
        SharedBuffer::Impl::FromInline(frame, rest.substr(0, size)));
    rest.remove_prefix(size);
  }
  return Payload(Payload(std::move(frame), message), std::move(buffers));
}

}  // namespace switchboard::client
