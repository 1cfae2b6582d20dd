// SPDX-License-Identifier: MIT
#include "tests/testing/raw_connection.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "io/address.h"
#include "io/connect.h"

namespace switchboard::testing {
namespace {

// Room for anything a broker may legitimately send, and a bound on what a
// broken one can make the test allocate.
wire::Limits ReaderLimits() {
  wire::Limits limits;
  limits.max_header_bytes = 1 << 20;
  limits.max_payload_bytes = 256u << 20;
  return limits;
}

std::string KindsOf(const std::vector<wire::Frame>& frames) {
  return absl::StrJoin(frames, ", ",
                       [](std::string* out, const wire::Frame& frame) {
                         absl::StrAppend(out, wire::KindName(frame.kind()));
                       });
}

}  // namespace

std::string EncodeFrame(wire::Kind kind, uint64_t request_id,
                        const v1::Header& header, absl::string_view payload) {
  wire::Prefix prefix;
  prefix.kind = kind;
  prefix.request_id = request_id;
  return std::string(wire::Frame::Build(prefix, header, payload).bytes());
}

RawConnection::RawConnection(Fd fd)
    : fd_(std::move(fd)), decoder_(ReaderLimits()) {}

absl::StatusOr<RawConnection> RawConnection::Connect(
    absl::string_view address) {
  absl::StatusOr<io::Address> parsed = io::Address::Parse(address);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<Fd> fd = io::ConnectStream(*parsed);
  if (!fd.ok()) return fd.status();
  return RawConnection(*std::move(fd));
}

absl::Status RawConnection::Send(absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n =
        ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) {
        return absl::UnavailableError(
            absl::StrCat("broker closed the connection with ", bytes.size(),
                         " bytes unsent"));
      }
      return absl::ErrnoToStatus(errno, "send");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status RawConnection::SendWithFds(absl::string_view bytes,
                                        absl::Span<const int> fds) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError("descriptors need at least one byte");
  }
  // One byte carries the descriptors; Send() writes the rest.
  iovec first{const_cast<char*>(bytes.data()), 1};
  msghdr message{};
  message.msg_iov = &first;
  message.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(fds.size() * sizeof(int)));
  if (!fds.empty()) {
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(header), fds.data(), fds.size() * sizeof(int));
  }
  while (true) {
    const ssize_t n = ::sendmsg(fd_.get(), &message, MSG_NOSIGNAL);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EPIPE || errno == ECONNRESET) {
      return absl::UnavailableError(absl::StrCat(
          "broker closed the connection with ", bytes.size(), " bytes unsent"));
    }
    return absl::ErrnoToStatus(errno, "sendmsg");
  }
  return Send(bytes.substr(1));
}

absl::StatusOr<v1::Welcome> RawConnection::Handshake(
    absl::string_view token, absl::Duration timeout,
    const std::vector<std::string>& features) {
  v1::Header hello;
  hello.mutable_hello()->set_client_name("raw-test-connection");
  hello.mutable_hello()->set_token(std::string(token));
  for (const std::string& feature : features) {
    hello.mutable_hello()->add_features(feature);
  }
  if (absl::Status sent = SendFrame(wire::Kind::kHello, 0, hello); !sent.ok()) {
    return sent;
  }
  absl::StatusOr<wire::Frame> frame = ReadFrame(timeout);
  if (!frame.ok()) return frame.status();
  absl::StatusOr<v1::Header> header = frame->ParseHeader();
  if (!header.ok()) return header.status();
  if (frame->kind() == wire::Kind::kWelcome && header->has_welcome()) {
    return header->welcome();
  }
  if (frame->kind() == wire::Kind::kError) {
    return absl::FailedPreconditionError(
        absl::StrCat("broker answered HELLO with ERROR code ",
                     header->error().code(), ": ", header->error().message()));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "broker answered HELLO with ", wire::KindName(frame->kind())));
}

absl::StatusOr<wire::Frame> RawConnection::ReadFrame(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<std::optional<wire::Frame>> next = decoder_.Next();
    if (!next.ok()) return next.status();
    if (next->has_value()) return **std::move(next);
    if (closed_by_peer_) {
      return absl::UnavailableError(absl::StrCat(
          "broker closed the connection (", decoder_.buffered_bytes(),
          " bytes of an unfinished frame were left)"));
    }
    const absl::Duration left = deadline - absl::Now();
    pollfd entry{fd_.get(), POLLIN, 0};
    const int ready =
        ::poll(&entry, 1,
               left <= absl::ZeroDuration()
                   ? 0
                   : static_cast<int>(absl::ToInt64Milliseconds(left) + 1));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "poll");
    }
    if (ready == 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no frame from the broker within ", absl::FormatDuration(timeout)));
    }
    absl::Span<char> span = decoder_.WritableSpan();
    const ssize_t n = ::recv(fd_.get(), span.data(), span.size(), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ECONNRESET) {
        closed_by_peer_ = true;
        continue;
      }
      return absl::ErrnoToStatus(errno, "recv");
    }
    if (n == 0) {
      closed_by_peer_ = true;
    } else {
      decoder_.Commit(static_cast<size_t>(n));
    }
  }
}

absl::StatusOr<std::vector<wire::Frame>> RawConnection::ReadUntilClosed(
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<wire::Frame> frames;
  while (true) {
    absl::StatusOr<wire::Frame> frame = ReadFrame(deadline - absl::Now());
    if (frame.ok()) {
      frames.push_back(*std::move(frame));
      continue;
    }
    if (absl::IsUnavailable(frame.status())) return frames;
    if (absl::IsDeadlineExceeded(frame.status())) {
      return absl::DeadlineExceededError(
          absl::StrCat("the broker kept the connection open for ",
                       absl::FormatDuration(timeout), " (frames received: [",
                       KindsOf(frames), "])"));
    }
    return frame.status();
  }
}

absl::StatusOr<v1::Error> RawConnection::ReadErrorAndClose(
    absl::Duration timeout) {
  absl::StatusOr<std::vector<wire::Frame>> frames = ReadUntilClosed(timeout);
  if (!frames.ok()) return frames.status();
  if (frames->size() != 1 || (*frames)[0].kind() != wire::Kind::kError) {
    return absl::FailedPreconditionError(
        absl::StrCat("expected one ERROR frame before the close, got [",
                     KindsOf(*frames), "]"));
  }
  absl::StatusOr<v1::Header> header = (*frames)[0].ParseHeader();
  if (!header.ok()) return header.status();
  if (!header->has_error()) {
    return absl::FailedPreconditionError(
        "ERROR frame without an error header body");
  }
  return header->error();
}

void RawConnection::ShutdownWrite() { ::shutdown(fd_.get(), SHUT_WR); }

}  // namespace switchboard::testing
