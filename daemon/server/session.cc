// SPDX-License-Identifier: MIT
#include "daemon/server/session.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "daemon/server/server.h"
#include "io/fd_passing.h"

namespace switchboard::server {
namespace {

// Where a closing session's input goes. One buffer for all sessions: the
// loop is single-threaded and the bytes are never looked at.
char discard_buffer[64 * 1024];

}  // namespace

Session::Session(Server& server, const core::Peer& peer,
                 io::Transport transport, Fd socket, const wire::Limits& limits)
    : server_(server),
      peer_(peer),
      transport_(transport),
      limits_(limits),
      socket_(std::move(socket)),
      decoder_(limits),
      inbound_fds_(limits.max_fds_per_frame),
      max_hello_bytes_(wire::kPrefixBytes + limits.max_header_bytes +
                       kMaxHelloPayloadBytes) {}

Session::~Session() {
  output_.Clear();
  Recharge();
  server_.output_accounts_.RechargeInput(charged_input_, 0);
  watch_.reset();
  if (!socket_.valid()) return;
  // Unread input at close() makes TCP send a reset, which can destroy the
  // last frames we wrote before the client reads them; read what is there.
  for (int i = 0; i < 4; ++i) {
    if (::read(socket_.get(), discard_buffer, sizeof discard_buffer) <= 0)
      break;
  }
}

absl::Status Session::Start(io::EventLoop& loop) {
  absl::StatusOr<io::EventLoop::Watch> watch = loop.WatchFd(
      socket_.get(), EPOLLIN, [this](uint32_t events) { OnEvents(events); });
  if (!watch.ok()) return watch.status();
  watch_ = *std::move(watch);
  return absl::OkStatus();
}

void Session::OnEvents(uint32_t events) {
  if (events & EPOLLOUT) server_.RequestFlush(*this);
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    if (state_ == State::kClosing) {
      DiscardInput();
    } else if (held_for_schema_ && (events & (EPOLLHUP | EPOLLERR))) {
      // Reported whatever the interest, so not left for later: the client
      // is gone, and whatever it sent after the schema with it.
      server_.OnPeerGone(*this, "closed by the client");
    } else if (state_ != State::kClosed) {
      ReadInput();
    }
  }
}

void Session::ReadInput() {
  if (held_for_schema_) return;
  // A read on a Unix socket may bring descriptors, whatever our limits
  // say: only while the table has room for them.
  if (transport_ == io::Transport::kUnix &&
      !server_.RoomToReceiveDescriptors(*this)) {
    return;
  }
  size_t budget = kReadBudgetBytes;
  size_t small_budget = kSmallFrameReadBudgetBytes;
  while (budget > 0 && small_budget > 0) {
    absl::Span<char> span = decoder_.WritableSpan();
    if (span.empty()) {
      if (!DeliverFrames()) return;
      continue;
    }
    const bool small = !decoder_.filling_large_frame();
    size_t want =
        std::min(span.size(), small ? std::min(small_budget, budget) : budget);
    if (state_ == State::kHandshake) {
      // Before HELLO nobody has proven anything (on TCP any local user can
      // connect), so a first frame larger than any valid HELLO is refused
      // after at most that many bytes: announcing a 64 MiB frame must not
      // make the broker receive and hold 64 MiB per connection.
      const size_t buffered = decoder_.buffered_bytes();
      if (buffered >= max_hello_bytes_) {
        server_.OnDecodeError(
            *this,
            absl::InvalidArgumentError(
                absl::StrCat("the first frame is larger than a HELLO may be (",
                             max_hello_bytes_, " bytes)")),
            "", 0);
        return;
      }
      want = std::min(want, max_hello_bytes_ - buffered);
    }
    std::vector<Fd> fds;
    absl::StatusOr<io::Received> received =
        io::RecvWithFds(socket_.get(), span.subspan(0, want), fds);
    if (!received.ok()) {
      // The client went away (ECONNRESET): not our error to report.
      server_.OnPeerGone(*this, received.status().ToString());
      return;
    }
    if (received->fds_truncated) {
      FailInput(absl::InvalidArgumentError(
          "file descriptors were lost in transit (MSG_CTRUNC)"));
      return;
    }
    const bool got_fds = !fds.empty();
    if (got_fds) {
      if (absl::Status s = inbound_fds_.Add(std::move(fds)); !s.ok()) {
        FailInput(s);
        return;
      }
    }
    const size_t n = received->bytes;
    if (n > 0) {
      traffic_.bytes_in += n;
      server_.CountBytesIn(n);
      decoder_.Commit(n);
      budget -= n;
      if (small) small_budget -= n;
      if (!DeliverFrames()) return;
      if (RechargeInput() && server_.output_accounts_.OverCeiling()) {
        FailInput(absl::ResourceExhaustedError(absl::StrCat(
            "the broker's memory is at its ceiling (--max-memory): it cannot "
            "hold more of this frame (",
            decoder_.buffered_bytes(), " bytes received)")));
        return;
      }
      if (decoder_.buffered_bytes() > 0) server_.OnPartialFrame(*this);
      // A short read emptied the socket: skip the read that would only say
      // EAGAIN. More data raises the (level-triggered) readiness again.
      // (A read that brought descriptors stops after their bytes, short or
      // not: read on.)
      if (n < want && !got_fds) return;
      continue;
    }
    if (received->end_of_stream) {
      if (const size_t partial = decoder_.buffered_bytes(); partial > 0) {
        // The client may only have shut its write side: tell it why.
        server_.OnTruncatedInput(*this, partial);
      } else {
        server_.OnPeerGone(*this, "closed by the client");
      }
      return;
    }
    return;  // EAGAIN
  }
}

void Session::FailInput(const absl::Status& status) {
  server_.OnDecodeError(*this, status, "", 0);
}

void Session::DiscardInput() {
  size_t budget = kReadBudgetBytes;
  while (budget > 0) {
    const ssize_t n =
        ::read(socket_.get(), discard_buffer, sizeof discard_buffer);
    if (n > 0) {
      budget -= std::min(budget, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    server_.OnPeerGone(*this, "");  // EOF or error: the client has gone
    return;
  }
}

bool Session::DeliverFrames() {
  while (true) {
    if (state_ == State::kOpen) {
      if (std::optional<wire::PublishRun> run = decoder_.TakePublishRun()) {
        traffic_.frames_in += run->count();
        server_.OnPublishRun(*this, *std::move(run));
        if (state_ != State::kOpen) return false;
        continue;
      }
    }
    absl::StatusOr<std::optional<wire::Frame>> next = decoder_.Next();
    if (!next.ok()) {
      server_.OnDecodeError(*this, next.status(), decoder_.exceeded_limit(),
                            decoder_.exceeded_limit_value());
      return false;
    }
    if (!next->has_value()) {
      // No partial frame is left to claim what waits: it was not claimed.
      if (inbound_fds_.size() > 0 && decoder_.buffered_bytes() == 0) {
        if (absl::Status s = inbound_fds_.CheckAllClaimed(); !s.ok()) {
          FailInput(s);
          return false;
        }
      }
      return true;
    }
    wire::Frame& frame = **next;
    if (frame.prefix().fd_count > 0) {
      if (absl::Status s = inbound_fds_.AttachTo(frame); !s.ok()) {
        FailInput(s);
        return false;
      }
    }
    ++traffic_.frames_in;
    server_.OnFrame(*this, std::move(frame));
    if (state_ != State::kHandshake && state_ != State::kOpen) return false;
    if (held_for_schema_) return false;
  }
}

void Session::Enqueue(wire::Frame frame) {
  output_.Push(std::move(frame));
  Recharge();
  ++traffic_.frames_out;
  server_.CountFrameOut();
  server_.RequestFlush(*this);
}

void Session::EnqueueMessage(uint64_t subscription,
                             std::shared_ptr<const wire::Frame> message) {
  output_.PushMessage(subscription, std::move(message));
  Recharge();
  ++traffic_.frames_out;
  server_.CountFrameOut();
  server_.RequestFlush(*this);
}

void Session::EnqueueRun(uint64_t subscription,
                         std::shared_ptr<const wire::PublishRun> run) {
  const size_t count = run->count();
  output_.PushRun(subscription, std::move(run));
  Recharge();
  traffic_.frames_out += count;
  server_.CountFrameOut(count);
  server_.RequestFlush(*this);
}

void Session::EnqueueDropReport(uint64_t subscription, wire::Frame report) {
  if (!output_.PushDropReport(subscription, std::move(report))) {
    ++traffic_.frames_out;
    server_.CountFrameOut();
  }
  Recharge();
  server_.RequestFlush(*this);
}

absl::Status Session::WriteOutput() {
  absl::StatusOr<size_t> written = output_.Write(socket_.get());
  Recharge();
  if (!written.ok()) return written.status();
  traffic_.bytes_out += *written;
  server_.CountBytesOut(*written);
  return absl::OkStatus();
}

absl::Status Session::UpdateInterest(size_t max_queued_bytes) {
  if (!watch_.active()) return absl::OkStatus();
  if (output_.memory() > max_queued_bytes ||
      (!output_.empty() && server_.output_accounts_.Full(peer_.uid))) {
    input_paused_ = true;
  } else if (output_.memory() <= max_queued_bytes / 2) {
    input_paused_ = false;
  }
  uint32_t events = 0;
  if (state_ == State::kClosing ||
      (!input_paused_ && !waiting_for_fds_ && !held_for_schema_)) {
    events |= EPOLLIN;
  }
  if (!output_.empty()) events |= EPOLLOUT;
  return watch_.SetEvents(events);
}

size_t Session::DropOldestMessage(uint64_t subscription) {
  const size_t bytes = output_.DropOldest(subscription);
  Recharge();
  return bytes;
}

void Session::DropQueuedMessages() {
  output_.DropMessages();
  Recharge();
}

void Session::ClearOutput() {
  output_.Clear();
  Recharge();
}

bool Session::RechargeInput() {
  const size_t now = decoder_.large_frame_capacity();
  if (now == charged_input_) return false;
  server_.output_accounts_.RechargeInput(charged_input_, now);
  const bool grew = now > charged_input_;
  charged_input_ = now;
  return grew;
}

void Session::Recharge() {
  const size_t memory = output_.memory();
  const size_t fds = output_.fds();
  server_.output_accounts_.Recharge(peer_.uid, charged_memory_, charged_fds_,
                                    memory, fds);
  charged_memory_ = memory;
  charged_fds_ = fds;
}

void Session::TrySendNow(const wire::Frame& frame) {
  if (!output_.empty()) return;  // it would jump the queue
  const absl::string_view bytes = frame.bytes();
  // Nothing to do if it fails: the connection is closed next anyway.
  (void)::send(socket_.get(), bytes.data(), bytes.size(),
               MSG_DONTWAIT | MSG_NOSIGNAL);
}

void Session::ShutdownWrite() {
  if (write_shut_) return;
  write_shut_ = true;
  ::shutdown(socket_.get(), SHUT_WR);
}

}  // namespace switchboard::server
