// SPDX-License-Identifier: MIT
#include "client/src/client_impl.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "client/src/buffer_transport.h"
#include "client/src/connection_setup.h"
#include "client/src/library_thread.h"
#include "client/src/schema.h"
#include "client/src/status_codec.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard {
namespace {

using client::ClientLimits;
using client::FdsEnabled;
using client::kReadWaitSlice;
using client::kTagRead;
using client::kTagWake;
using client::kTagWrite;
using client::MaxFdsPerFrame;
using client::SetReadSlice;
using client::WatchFd;

// How long past a call's timeout the library waits for the broker's own
// DEADLINE_EXCEEDED before it gives up locally (a broker that stopped
// answering must not hang a caller).
constexpr absl::Duration kLocalDeadlineGrace = absl::Seconds(2);
// Bounds the client's own send queue.
constexpr size_t kMaxQueuedBytes = 256u << 20;
// Work done per read by the dispatch thread before it runs handlers.
constexpr size_t kMaxFramesPerRead = 256;
// Passes one Process() call makes at most (own-loop mode).
constexpr int kMaxPassesPerProcess = 16;
// While a publisher bursts, the dispatch thread waits kLinger before a
// flush that would write less than kLingerBelowBytes, if its last flush
// wrote at least kLingerAfterBytes: woken at once, it wrote a few KiB per
// sendmsg(), and the broker and the subscribers then read, wrote and woke
// at that grain too. A publish after a quiet spell is written at once.
constexpr size_t kLingerBelowBytes = 32 << 10;
constexpr size_t kLingerAfterBytes = 4 << 10;
constexpr auto kLinger = std::chrono::microseconds(20);

absl::Status TooLarge(absl::string_view what, size_t size, uint64_t limit) {
  return absl::ResourceExhaustedError(
      absl::StrCat(what, " of ", size,
                   " bytes exceeds the broker's "
                   "max_payload_bytes (",
                   limit, ")"));
}

}  // namespace

uint64_t Client::Impl::TimeoutMicros(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 1;
  if (d >= absl::Hours(24)) return absl::ToInt64Microseconds(absl::Hours(24));
  return static_cast<uint64_t>(absl::ToInt64Microseconds(d));
}

Client::Impl::Impl(client::Handshake handshake, const ConnectOptions& options)
    : fd_(std::move(handshake.fd)),
      address_(handshake.address.ToString()),
      options_(options),
      tcp_(handshake.address.transport == io::Transport::kTcp),
      own_loop_(options.threading == Threading::kOwnLoop),
      connection_id_(handshake.welcome.connection_id()),
      max_payload_bytes_(handshake.welcome.max_payload_bytes()),
      fds_enabled_(FdsEnabled(handshake)),
      max_fds_per_frame_(MaxFdsPerFrame(handshake.welcome)),
      writer_(fd_.get(), kMaxQueuedBytes,
              [this](bool enabled) { SetWriteWatch(enabled); }),
      decoder_(ClientLimits(handshake.welcome)),
      link_(options.reconnect) {}

absl::Status Client::Impl::Start() {
  SB_RETURN_IF_ERROR(SetReadSlice(fd_.get()));
  if (!own_loop_) return absl::OkStatus();  // the loop starts when needed
  // The application's loop runs the passes; it polls the epoll set.
  absl::MutexLock lock(&mu_);
  return CreateLoopLocked();
}

absl::Status Client::Impl::CreateLoopLocked() {
  // Each step may fail for want of descriptors, memory or threads (EMFILE,
  // ENOMEM, EAGAIN): the application gets the error, never an abort.
  Fd write_watch(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!write_watch.valid()) {
    return absl::ErrnoToStatus(errno, "setting up the client: F_DUPFD_CLOEXEC");
  }
  Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.valid()) {
    return absl::ErrnoToStatus(errno, "setting up the client: epoll_create1");
  }
  Fd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake.valid()) {
    return absl::ErrnoToStatus(errno, "setting up the client: eventfd");
  }
  // The read and write watches start off: see UpdateReadWatchLocked and
  // FrameWriter.
  SB_RETURN_IF_ERROR(WatchFd(epoll.get(), fd_.get(), 0, kTagRead));
  SB_RETURN_IF_ERROR(WatchFd(epoll.get(), write_watch.get(), 0, kTagWrite));
  SB_RETURN_IF_ERROR(WatchFd(epoll.get(), wake.get(), EPOLLIN, kTagWake));
  write_watch_fd_ = std::move(write_watch);
  epoll_fd_ = std::move(epoll);
  wake_fd_ = std::move(wake);
  read_watch_on_ = false;
  loop_ready_.store(true, std::memory_order_release);
  UpdateReadWatchLocked();
  // Frames a synchronous caller left queued are flushed once the socket
  // takes them.
  writer_.RepeatWatch();
  return absl::OkStatus();
}

absl::Status Client::Impl::StartDispatchLocked() {
  if (loop_ready_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::Status started = CreateLoopLocked();
  if (started.ok()) {
    started = client::StartLibraryThread(
        "the client's dispatch thread", client::kDispatchThreadName,
        dispatch_thread_, [this] { DispatchLoop(); });
  }
  if (!started.ok()) {
    // Without its dispatch thread the client cannot deliver what it
    // promised, nor reconnect: it closes for good (the caller fails the
    // connection with this status).
    link_.Close();
  }
  return started;
}

absl::Status Client::Impl::NeedDispatch() {
  if (loop_ready_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::Status started;
  {
    absl::MutexLock lock(&mu_);
    started = StartDispatchLocked();
  }
  if (!started.ok()) FailAll(started);
  return started;
}

void Client::Impl::ReadIfIdle() {
  // A client without its dispatch thread reads only inside its requests,
  // so a broker that went away (or an event that came) while it was idle is
  // seen here, before the request is written into a dead connection: the
  // request then waits for the reconnect like one made while disconnected.
  pollfd p{fd_.get(), POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return;
  {
    absl::MutexLock lock(&mu_);
    if (!closed_.ok() || !TakeReaderLocked()) return;
  }
  std::vector<Received> frames;
  absl::Status status = ReadAvailable(frames, /*block=*/false);
  Route(frames, nullptr, /*release_reader=*/true);
  if (!status.ok()) FailAll(status);
}

Client::Impl::~Impl() {
  SB_CHECK(!OnDispatchThread()) << "a Client must not be destroyed by its own "
                                   "handler or callback";
  // Messages published just before closing go out if the socket takes
  // them now (it never waits): a program that publishes and exits loses
  // nothing the kernel would accept.
  writer_.Flush().IgnoreError();
  const absl::Status closing = absl::CancelledError("the client was closed");
  {
    absl::MutexLock lock(&mu_);
    link_.Close();  // no reconnecting from here on
    ExpireParkedLocked(absl::Now(), /*all=*/true, closing);
  }
  FailAll(closing);
  // Stream handlers may still write; fail their writers and join them while
  // the connection's objects exist.
  streams_.StopAll(absl::UnavailableError("the client is closing"));
  stopping_.store(true);
  {
    absl::MutexLock lock(&mu_);  // the dispatch thread may swap fd_
    ::shutdown(fd_.get(), SHUT_RDWR);
  }
  if (dispatch_thread_.joinable()) {  // Start() got that far
    Wake();
    dispatch_thread_.join();
  }
  RunDeferred();  // callbacks of calls failed above, exactly once each
}

bool Client::Impl::connected() const {
  absl::MutexLock lock(&mu_);
  if (!closed_.ok() || !link_.up()) return false;
  // Nothing may be reading (see UpdateReadWatchLocked), so ask the socket
  // whether the broker hung up.
  pollfd p{fd_.get(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 0;
}

void Client::Impl::OnConnectionChange(ConnectionCallback callback) {
  // The callback runs on the dispatch thread. Should it fail to start, the
  // client closes and its requests say why.
  NeedDispatch().IgnoreError();
  absl::MutexLock lock(&mu_);
  connection_callback_ = std::move(callback);
}

bool Client::Impl::OnDispatchThread() const {
  return std::this_thread::get_id() == loop_thread_.load();
}

void Client::Impl::Wake() {
  // No loop yet: nothing sleeps in it.
  if (!loop_ready_.load(std::memory_order_acquire)) return;
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof one);
  (void)ignored;  // EAGAIN: the counter is already non-zero, a wake is due
}

void Client::Impl::UpdateReadWatchLocked() {
  // Frames nobody asked for arrive only for a client that serves names, made
  // async calls or watches name changes (or when a reader left bytes behind).
  // A client that only makes synchronous calls needs no watch, so its calls
  // cost no epoll_ctl. With the watch off, epoll still reports HUP and ERR,
  // so a broker that goes away is noticed.
  if (!loop_ready_.load(std::memory_order_relaxed)) return;
  const bool want = closed_.ok() && !foreign_reader_ &&
                    (dispatch_should_read_ || !served_.empty() || uses_async_ ||
                     subscribed_ || name_callback_ != nullptr);
  if (want == read_watch_on_) return;
  read_watch_on_ = want;
  epoll_event event{};
  event.events = want ? uint32_t{EPOLLIN} : 0u;
  event.data.u32 = kTagRead;
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd_.get(), &event);
}

void Client::Impl::SetWriteWatch(bool enabled) {
  // No loop yet: a synchronous caller flushes what it queued (ReadUntilDone),
  // and CreateLoopLocked() turns the watch on if frames still wait.
  if (!loop_ready_.load(std::memory_order_acquire)) return;
  epoll_event event{};
  event.events = enabled ? uint32_t{EPOLLOUT} : 0u;
  event.data.u32 = kTagWrite;
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, write_watch_fd_.get(), &event);
}

// ---- requests ---------------------------------------------------------------

bool Client::Impl::TakeReaderLocked() {
  if (reader_active_) return false;
  reader_active_ = true;
  // The dispatch thread reads only while it holds the role, so its watch must
  // be off only while another thread reads.
  foreign_reader_ = !OnDispatchThread();
  UpdateReadWatchLocked();
  return true;
}

void Client::Impl::ReleaseReaderLocked(bool leftover) {
  reader_active_ = false;
  // Bytes left in the decoder would wake no one through epoll.
  if (leftover) dispatch_should_read_ = true;
  const bool was_foreign = std::exchange(foreign_reader_, false);
  UpdateReadWatchLocked();
  if (was_foreign && leftover) Wake();
}

absl::StatusOr<client::FrameWriter::Buffers> Client::Impl::PlanBuffers(
    const Payload& payload, bool receiver_takes_fds, const v1::Header& header,
    absl::string_view what, v1::Header& inline_header) const {
  using Buffers = client::FrameWriter::Buffers;
  if (payload.buffers().empty()) {
    if (payload.size() > max_payload_bytes()) {
      return TooLarge(what, payload.size(), max_payload_bytes());
    }
    return Buffers::kInline;
  }
  SB_RETURN_IF_ERROR(client::CheckSizesSealed(payload));
  const size_t count = payload.buffers().size();
  absl::string_view why_inline;
  if (tcp_) {
    why_inline = "the connection is TCP";
  } else if (!fds_enabled_.load()) {
    why_inline = "the broker does not pass descriptors on this connection";
  } else if (!receiver_takes_fds) {
    why_inline = "the receiver does not take descriptors";
  } else if (!client::AllHaveFds(payload)) {
    why_inline = "a buffer that arrived inline has no descriptor";
  }
  if (why_inline.empty()) {
    if (count > max_fds_per_frame_.load()) {
      return absl::ResourceExhaustedError(
          absl::StrCat(what, " has ", count,
                       " buffers, more than the broker's max_fds_per_frame (",
                       max_fds_per_frame_.load(), ")"));
    }
    if (payload.size() > max_payload_bytes()) {
      return TooLarge(what, payload.size(), max_payload_bytes());
    }
    return Buffers::kAsFds;
  }
  const uint64_t length = client::InlineLength(payload);
  if (length > max_payload_bytes()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the ", what, "'s buffers must go inline because ", why_inline, "; ",
        length, " bytes exceed max_payload_bytes ", max_payload_bytes()));
  }
  inline_header = header;
  for (const SharedBuffer& buffer : payload.buffers()) {
    inline_header.add_inline_buffer_sizes(buffer.size());
  }
  return Buffers::kInline;
}

wire::Prefix Client::Impl::PayloadPrefix(wire::Kind kind, uint64_t request_id,
                                         const Payload& payload,
                                         client::FrameWriter::Buffers buffers) {
  wire::Prefix prefix;
  prefix.kind = kind;
  prefix.request_id = request_id;
  if (buffers == client::FrameWriter::Buffers::kAsFds) {
    prefix.fd_count = static_cast<uint8_t>(payload.buffers().size());
    prefix.payload_length = static_cast<uint32_t>(payload.size());
  } else {
    prefix.payload_length =
        static_cast<uint32_t>(client::InlineLength(payload));
  }
  return prefix;
}

absl::Status Client::Impl::SendFrame(wire::Kind kind, uint64_t request_id,
                                     const v1::Header& header, Payload payload,
                                     client::FrameWriter::Buffers buffers,
                                     bool defer, uint16_t flags,
                                     uint64_t connection) {
  wire::Prefix prefix = PayloadPrefix(kind, request_id, payload, buffers);
  prefix.flags = flags;
  return writer_.Send(wire::EncodeHead(prefix, header.SerializeAsString()),
                      std::move(payload), defer, buffers, connection);
}

absl::StatusOr<Client::Impl::Started> Client::Impl::StartRequest(
    wire::Kind kind, const v1::Header& header, Payload payload, Pending pending,
    bool try_read, absl::Time wait_until) {
  v1::Header inline_header;
  SB_ASSIGN_OR_RETURN(client::FrameWriter::Buffers buffers,
                      PlanBuffers(payload, /*receiver_takes_fds=*/true, header,
                                  "request", inline_header));
  const bool has_buffers = !payload.buffers().empty();
  const bool as_fds = buffers == client::FrameWriter::Buffers::kAsFds;
  if (as_fds && kind == wire::Kind::kCall) {
    pending.retry = std::make_unique<InlineRetry>(InlineRetry{header, payload});
  }
  if (!loop_ready_.load(std::memory_order_acquire)) ReadIfIdle();
  Started started;
  uint64_t connection;
  {
    absl::MutexLock lock(&mu_);
    SB_RETURN_IF_ERROR(AwaitUpLocked(wait_until));
    // Sent on this connection or not at all: the pending entry below ends
    // with it (FailAll).
    connection = writer_.generation();
    started.connection = connection;
    if (pending.callback || pending.stream) {
      uses_async_ = true;  // async replies arrive unasked: watch from now on
      UpdateReadWatchLocked();
    }
    started.request_id = pending_.Add(std::move(pending));
    if (try_read) started.reader = TakeReaderLocked();
  }
  absl::Status sent = SendFrame(kind, started.request_id,
                                has_buffers && !as_fds ? inline_header : header,
                                std::move(payload), buffers, /*defer=*/false,
                                /*flags=*/0, connection);
  if (!sent.ok()) {
    {
      absl::MutexLock lock(&mu_);
      pending_.Take(started.request_id);
      if (started.reader) ReleaseReaderLocked(/*leftover=*/false);
    }
    // A failed write: the connection is broken (the next requests wait for
    // the reconnect rather than meet the same failure).
    if (sent.code() == absl::StatusCode::kUnavailable) {
      FailAll(sent, connection);
    }
    return sent;
  }
  return started;
}

absl::Status Client::Impl::AwaitUpLocked(absl::Time wait_until) {
  auto settled = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !link_.reconnecting();
  };
  if (!settled() && (OnDispatchThread() || own_loop_)) {
    // The dispatch thread restores the connection with requests of its
    // own; while the connection is down it cannot wait for itself. In
    // own-loop mode the reconnect happens only inside Process(), so no
    // thread waits for it either.
    if (link_.state() == client::ConnectionLink::State::kRestoring) {
      return closed_;
    }
    return absl::UnavailableError(absl::StrCat(
        "not connected to the broker at ", address_,
        " (reconnecting; requests made on the dispatch thread, or in own-loop "
        "mode, cannot wait for it): ",
        closed_.message()));
  }
  if (!settled()) mu_.AwaitWithDeadline(absl::Condition(&settled), wait_until);
  if (!link_.reconnecting()) return closed_;
  return absl::UnavailableError(
      absl::StrCat("not connected to the broker at ", address_,
                   ": no connection came back in time (reconnecting after: ",
                   closed_.message(), ")"));
}

absl::Status Client::Impl::RetryInlineLocked(uint64_t request_id,
                                             Pending& pending) {
  std::unique_ptr<InlineRetry> retry = std::move(pending.retry);
  v1::Header inline_header;
  absl::StatusOr<client::FrameWriter::Buffers> buffers =
      PlanBuffers(retry->payload, /*receiver_takes_fds=*/false, retry->header,
                  "request", inline_header);
  if (!buffers.ok()) return buffers.status();
  // Same request id: the broker answered the first attempt itself, so the
  // id is free again, and the caller keeps waiting for it.
  SB_RETURN_IF_ERROR(SendFrame(wire::Kind::kCall, request_id, inline_header,
                               std::move(retry->payload), *buffers,
                               /*defer=*/false));
  pending_.Restore(request_id, std::move(pending));
  return absl::OkStatus();
}

absl::StatusOr<Payload> Client::Impl::Request(wire::Kind kind,
                                              const v1::Header& header,
                                              Payload payload,
                                              absl::Duration timeout,
                                              bool is_call) {
  auto waiter = std::make_shared<Waiter>();
  const absl::Time deadline = absl::Now() + timeout + kLocalDeadlineGrace;
  Pending pending;
  pending.waiter = waiter;
  pending.is_call = is_call;
  absl::StatusOr<Started> started =
      StartRequest(kind, header, std::move(payload), std::move(pending),
                   /*try_read=*/true, absl::Now() + timeout);
  if (!started.ok()) return started.status();
  return Await(*started, waiter, deadline);
}

absl::StatusOr<Payload> Client::Impl::Await(
    Started started, const std::shared_ptr<Waiter>& waiter,
    absl::Time deadline) {
  bool reader = started.reader;
  bool expired_call = false;
  while (true) {
    bool leftover = false;
    if (reader) {
      ReadUntilDone(*waiter, deadline);
      leftover = decoder_.buffered_bytes() > 0;  // still the reader here
    }
    absl::MutexLock lock(&mu_);
    if (reader) ReleaseReaderLocked(leftover);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return waiter->done || !reader_active_;
    };
    if (!ready()) mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    if (waiter->done) return std::move(waiter->result);
    if (absl::Now() >= deadline) {
      if (std::optional<Pending> taken = pending_.Take(started.request_id)) {
        expired_call = taken->is_call;
      }
      break;
    }
    reader = TakeReaderLocked();
  }
  if (expired_call) SendCancel(started.request_id);
  return absl::DeadlineExceededError(
      "no reply in time, and the broker did not answer either");
}

void Client::Impl::ReadUntilDone(const Waiter& waiter, absl::Time deadline) {
  std::vector<Received> frames;
  while (true) {
    if (absl::Now() >= deadline) return;
    // With frames of ours still queued, wait for writability too and flush
    // them here: the dispatch thread may be the one blocked in this call.
    // Otherwise block in recv() itself, one syscall instead of poll + recv;
    // SO_RCVTIMEO bounds each wait so the deadline is checked.
    bool block = true;
    if (writer_.has_queued()) {
      pollfd p{fd_.get(), POLLIN | POLLOUT, 0};
      if (::poll(&p, 1,
                 static_cast<int>(absl::ToInt64Milliseconds(kReadWaitSlice))) >
              0 &&
          (p.revents & POLLOUT)) {
        writer_.Flush().IgnoreError();  // a failure shows up on the next read
      }
      block = false;
    }
    frames.clear();
    absl::Status status = ReadAvailable(frames, block);
    const bool done = Route(frames, &waiter, /*release_reader=*/false);
    if (!status.ok()) {
      FailAll(status);
      return;
    }
    if (done) return;
  }
}

void Client::Impl::SendCancel(uint64_t request_id, uint64_t connection) {
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kCancel;
  prefix.request_id = request_id;
  // Best effort: if the connection is gone, so is the call.
  writer_
      .Send(wire::EncodeHead(prefix, ""), Payload(), /*defer=*/false,
            client::FrameWriter::Buffers::kInline, connection)
      .IgnoreError();
}

// ---- reading and routing
// ------------------------------------------------------

absl::Status Client::Impl::ReadAvailable(std::vector<Received>& frames,
                                         bool block) {
  bool drained = false;  // a short read emptied the socket
  while (frames.size() < kMaxFramesPerRead) {
    if (std::optional<wire::PublishRun> run =
            decoder_.TakePublishRun(wire::Kind::kMessage)) {
      frames.push_back(*std::move(run));
      continue;
    }
    absl::StatusOr<std::optional<wire::Frame>> next = decoder_.Next();
    if (!next.ok()) {
      return absl::UnavailableError(
          absl::StrCat("malformed frame from the broker at ", address_, ": ",
                       next.status().message()));
    }
    if (next->has_value()) {
      wire::Frame& frame = **next;
      if (const size_t claimed = frame.prefix().fd_count; claimed > 0) {
        if (received_fds_.size() < claimed) {
          return absl::UnavailableError(absl::StrCat(
              "broken connection to the broker at ", address_, ": a ",
              wire::KindName(frame.kind()), " frame claims ", claimed,
              " descriptors but ", received_fds_.size(), " arrived"));
        }
        frame.set_fds(received_fds_.Take(claimed));
      }
      frames.push_back(std::move(frame));
      continue;
    }
    // Reading again after a short read would only return EAGAIN.
    if (drained) break;
    absl::Span<char> span = decoder_.WritableSpan();
    const size_t fds_before = received_fds_.size();
    absl::StatusOr<io::Received> got =
        received_fds_.Receive(fd_.get(), span, std::exchange(block, false));
    if (!got.ok()) {
      return absl::UnavailableError(
          absl::StrCat("connection to the broker at ", address_,
                       " failed: ", got.status().message()));
    }
    if (got->fds_truncated) {
      return absl::UnavailableError(absl::StrCat(
          "broken connection to the broker at ", address_,
          ": descriptors were lost (MSG_CTRUNC), so frames can no longer be "
          "matched to them"));
    }
    if (got->end_of_stream) {
      return absl::UnavailableError(absl::StrCat("connection to the broker at ",
                                                 address_, " was closed"));
    }
    if (got->bytes == 0) break;  // nothing more to read now
    decoder_.Commit(got->bytes);
    // The kernel ends a read early at data that carries descriptors, so a
    // short read that brought some does not mean the socket is empty.
    drained = got->bytes < span.size() && received_fds_.size() == fds_before;
  }
  return absl::OkStatus();
}

bool Client::Impl::Route(std::vector<Received>& frames, const Waiter* waiter,
                         bool release_reader) {
  absl::Status fatal;
  bool done;
  bool wake = false;
  {
    absl::Time received = absl::InfinitePast();  // read at the first MESSAGE
    absl::MutexLock lock(&mu_);
    for (Received& item : frames) {
      if (auto* run = std::get_if<wire::PublishRun>(&item)) {
        if (received == absl::InfinitePast()) received = absl::Now();
        DeferMessageLocked(std::move(*run), received);
        continue;
      }
      fatal = RouteLocked(std::move(std::get<wire::Frame>(item)), received);
      if (!fatal.ok()) break;
    }
    if (release_reader) ReleaseReaderLocked(/*leftover=*/false);
    // Frames only the dispatch thread handles (an event, a late reply's
    // callback) start it in a client that had none.
    if (!deferred_.empty() && fatal.ok()) fatal = StartDispatchLocked();
    done = (waiter != nullptr && waiter->done) || !closed_.ok();
    wake = !OnDispatchThread() && !deferred_.empty();
  }
  if (!fatal.ok()) {
    FailAll(fatal);
    return true;
  }
  if (wake) Wake();
  return done;
}

absl::Status Client::Impl::RouteLocked(wire::Frame frame,
                                       absl::Time& received) {
  switch (frame.kind()) {
    case wire::Kind::kReply:
      RouteReplyLocked(std::move(frame));
      return absl::OkStatus();
    case wire::Kind::kCall: {
      std::vector<Fd> fds = frame.take_fds();
      auto shared = std::make_shared<const wire::Frame>(std::move(frame));
      deferred_.push_back([this, shared, fds = std::move(fds),
                           connection = writer_.generation()]() mutable {
        HandleCall(shared, std::move(fds), connection);
      });
      return absl::OkStatus();
    }
    case wire::Kind::kEvent: {
      auto shared = std::make_shared<const wire::Frame>(std::move(frame));
      deferred_.push_back([this, shared] { HandleEvent(*shared); });
      return absl::OkStatus();
    }
    case wire::Kind::kMessage:
      if (received == absl::InfinitePast()) received = absl::Now();
      DeferMessageLocked(std::move(frame), received);
      return absl::OkStatus();
    case wire::Kind::kCredit:
    case wire::Kind::kCancel:
      // Unary handlers run to completion (the broker discards their late
      // reply); stream handlers learn of credit and cancellation at once.
      RouteStreamControlLocked(frame);
      return absl::OkStatus();
    case wire::Kind::kError: {
      absl::StatusOr<v1::Header> header = frame.ParseHeader();
      absl::Status status = header.ok()
                                ? client::StatusFromError(header->error())
                                : header.status();
      if (status.ok())
        status = absl::UnknownError("ERROR frame without a code");
      link_.ClosedByBroker();
      return absl::Status(
          status.code(),
          absl::StrCat("the broker closed the connection: ", status.message()));
    }
    default:
      return absl::UnavailableError(absl::StrCat("unexpected ",
                                                 wire::KindName(frame.kind()),
                                                 " frame from the broker"));
  }
}

void Client::Impl::RouteReplyLocked(wire::Frame frame) {
  const uint64_t request_id = frame.request_id();
  Pending* found = pending_.Find(request_id);
  if (found == nullptr) return;  // timed out locally; the reply is late
  if (found->stream != nullptr &&
      (frame.prefix().flags & wire::kFlagMore) != 0) {
    // One message of a stream: the call goes on.
    found->retry.reset();  // the callee has the call; never send again
    absl::StatusOr<Payload> message;
    if (frame.prefix().header_length == 0) {
      message = ReplyPayload(std::move(frame), v1::Header());
    } else if (absl::StatusOr<v1::Header> header = frame.ParseHeader();
               header.ok()) {
      message = ReplyPayload(std::move(frame), *header);
    } else {
      message = header.status();
    }
    if (message.ok()) {
      found->stream->Push(*std::move(message));
    } else {
      // A message we cannot read ends the stream; the callee is told.
      found->stream->Finish(message.status());
      SendCancel(request_id);
    }
    return;
  }
  Pending pending = *pending_.Take(request_id);

  absl::StatusOr<Payload> result;
  if (frame.prefix().header_length == 0) {
    result = ReplyPayload(std::move(frame), v1::Header());
  } else {
    absl::StatusOr<v1::Header> header = frame.ParseHeader();
    if (!header.ok()) {
      result = header.status();
    } else if (absl::Status status = client::StatusFromReply(header->reply());
               !status.ok()) {
      // The broker itself (sender 0) refuses descriptors for a callee that
      // takes none: send the call again with its buffers inline.
      if (status.code() == absl::StatusCode::kFailedPrecondition &&
          frame.prefix().sender == 0 && pending.retry != nullptr) {
        status = RetryInlineLocked(request_id, pending);
        if (status.ok()) return;
      }
      result = status;
    } else {
      result = ReplyPayload(std::move(frame), *header);
    }
  }
  if (pending.stream) {
    pending.stream->Finish(result.status());
    return;
  }
  if (pending.waiter) {
    pending.waiter->result = std::move(result);
    pending.waiter->done = true;
    return;
  }
  deferred_.push_back(
      [callback = std::move(pending.callback),
       result = std::move(result)]() mutable { callback(std::move(result)); });
}

absl::StatusOr<Payload> Client::Impl::ReplyPayload(wire::Frame frame,
                                                   const v1::Header& header) {
  std::vector<Fd> fds = frame.take_fds();
  auto owner = std::make_shared<const wire::Frame>(std::move(frame));
  return client::ReceivedPayload(std::move(owner), std::move(fds),
                                 header.inline_buffer_sizes());
}

void Client::Impl::FailAll(const absl::Status& status, uint64_t connection) {
  {
    absl::MutexLock lock(&mu_);
    if (!closed_.ok()) return;
    if (connection != 0 && connection != writer_.generation()) return;
    closed_ = status;
    closed_flag_.store(true);
    if (!link_.closed()) {
      std::optional<ConnectionState> report = link_.Break(status, absl::Now());
      if (link_.state() == client::ConnectionLink::State::kDown) {
        // The dispatch thread reconnects: a client that had none starts it.
        if (absl::Status loop = StartDispatchLocked(); !loop.ok()) {
          closed_ = absl::Status(
              loop.code(),
              absl::StrCat(status.message(),
                           "; cannot reconnect: ", loop.message()));
          report = ConnectionState::kClosed;
        }
      }
      if (report.has_value()) ReportLinkLocked(*report, closed_, 0);
      if (link_.closed()) {
        ExpireParkedLocked(absl::Now(), /*all=*/true, closed_);
      }
    }
    for (auto& [id, pending] : pending_.TakeAll()) {
      if (pending.stream) {
        // Closing the client ends its streams at once; a lost connection
        // still hands out what arrived before it.
        if (status.code() == absl::StatusCode::kCancelled) {
          pending.stream->Abort(status);
        } else {
          pending.stream->Finish(status);
        }
      } else if (pending.waiter) {
        pending.waiter->result = status;
        pending.waiter->done = true;
      } else {
        deferred_.push_back([callback = std::move(pending.callback), status] {
          callback(status);
        });
      }
    }
  }
  streams_.FailAll(absl::UnavailableError(
      absl::StrCat("the connection to the broker ended: ", status.message())));
  if (status.code() != absl::StatusCode::kCancelled) {
    SB_LOG(DEBUG) << "client :" << connection_id()
                  << " disconnected: " << status;
  }
  Wake();
}

// ---- the dispatch thread
// ---------------------------------------------------------

void Client::Impl::DispatchLoop() {
  loop_thread_.store(std::this_thread::get_id());
  while (!stopping_.load()) Pass(/*wait=*/true);
}

absl::Status Client::Impl::Process() {
  if (!own_loop_) {
    return absl::FailedPreconditionError(
        "Process() is for a client connected with Threading::kOwnLoop; this "
        "one has its own dispatch thread");
  }
  std::thread::id none;
  if (!loop_thread_.compare_exchange_strong(none, std::this_thread::get_id())) {
    return absl::FailedPreconditionError(
        none == std::this_thread::get_id()
            ? "Process() called from a handler or callback it runs"
            : "Process() already runs on another thread");
  }
  // Bounded, so that a flood of frames cannot keep the application's loop
  // from its other work; ProcessTimeout() is then zero.
  bool more = true;
  for (int pass = 0; pass < kMaxPassesPerProcess && more; ++pass) {
    more = !stopping_.load() && Pass(/*wait=*/false);
  }
  more_ready_.store(more);
  loop_thread_.store(std::thread::id());
  return absl::OkStatus();
}

absl::Duration Client::Impl::ProcessTimeout() const {
  if (!own_loop_) return absl::InfiniteDuration();
  if (more_ready_.load()) return absl::ZeroDuration();
  absl::MutexLock lock(&mu_);
  if (!deferred_.empty()) return absl::ZeroDuration();
  if (sleep_until_ == absl::InfiniteFuture()) return absl::InfiniteDuration();
  return std::max(sleep_until_ - absl::Now(), absl::ZeroDuration());
}

int Client::Impl::fd() const { return own_loop_ ? epoll_fd_.get() : -1; }

bool Client::Impl::Pass(bool wait) {
  std::vector<Received>& frames = pass_frames_;
  std::vector<Task>& running = pass_tasks_;
  std::vector<std::pair<uint64_t, CallCallback>>& expired = pass_expired_;
  bool readable = std::exchange(readable_, false);
  {
    bool reader = false;
    {
      absl::MutexLock lock(&mu_);
      TakeDeferredLocked(running);
      readable = std::exchange(dispatch_should_read_, false) || readable;
      // With tasks to run first, the reader role is taken after them: a
      // handler among them may make a synchronous call, which must be able
      // to take the role itself.
      if (readable && running.empty() && closed_.ok()) {
        reader = TakeReaderLocked();
      }
    }
    if (!running.empty()) {
      // Deferred work is older than anything read now, so it runs first.
      for (Task& task : running) RunTask(task);
      running.clear();
      if (readable) {
        absl::MutexLock lock(&mu_);
        if (closed_.ok()) reader = TakeReaderLocked();
      }
    }

    bool more_to_read = false;
    if (reader) {
      frames.clear();
      absl::Status status = ReadAvailable(frames, /*block=*/false);
      more_to_read = frames.size() >= kMaxFramesPerRead;
      Route(frames, nullptr, /*release_reader=*/true);
      if (!status.ok()) FailAll(status);
      // Handle what was just read now rather than on another pass.
      RunDeferred();
    }
    readable = more_to_read;

    int timeout_ms = -1;
    bool skip_wait;
    bool reconnect = false;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      CollectExpiredLocked(now, expired);
      const absl::Time next_parked =
          ExpireParkedLocked(now, /*all=*/false, absl::OkStatus());
      reconnect = link_.AttemptDue(now);
      skip_wait = more_to_read || !deferred_.empty() || !expired.empty() ||
                  dispatch_should_read_ || reconnect;
      sleep_until_ = std::min(pending_.next_deadline(), next_parked);
      sleep_until_ = std::min(sleep_until_, link_.next_attempt());
      if (skip_wait) {
        sleep_until_ = absl::InfiniteFuture();
      } else if (sleep_until_ != absl::InfiniteFuture()) {
        const absl::Duration left = sleep_until_ - now;
        timeout_ms = static_cast<int>(
            std::clamp<int64_t>(absl::ToInt64Milliseconds(left) + 1, 0, 60000));
      }
      if (!closed_.ok() && watching_socket_) {
        // A closed socket reports HUP forever; stop watching it.
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd_.get(), nullptr);
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, write_watch_fd_.get(),
                    nullptr);
        watching_socket_ = false;
      }
    }
    if (!expired.empty()) FlushHeldOutput();
    for (auto& [id, callback] : expired) {
      SendCancel(id);
      callback(absl::DeadlineExceededError(
          "no reply in time, and the broker did not answer either"));
    }
    expired.clear();
    // Replies queued by the last handler go out now, as late as possible
    // before the thread blocks: a Unix socket wakes the reader on the
    // writer's CPU expecting the writer to sleep next, so work after the
    // write delays it. (A reply never waits here for another handler: each
    // task first writes what the one before it queued; see RunTask.)
    // Cleared first: a Publish() after this point asks again.
    if (!own_loop_ && writer_.has_queued() && !writer_.waiting_for_socket() &&
        writer_.queued_bytes() < kLingerBelowBytes &&
        last_flush_bytes_ >= kLingerAfterBytes) {
      std::this_thread::sleep_for(kLinger);
    }
    flush_requested_.store(false);
    output_held_ = false;
    if (writer_.has_queued()) {
      const size_t before = writer_.queued_bytes();
      if (absl::Status s = writer_.Flush(); !s.ok()) FailAll(s);
      last_flush_bytes_ = before - std::min(before, writer_.queued_bytes());
    } else {
      last_flush_bytes_ = 0;
    }
    if (reconnect) {
      RunDeferred();  // what the broken connection left comes first
      Reconnect();
      readable_ = true;  // a new connection may have brought frames
      return true;
    }
    if (skip_wait) {
      readable_ = readable;
      return true;
    }

    epoll_event events[4];
    const int n =
        ::epoll_wait(epoll_fd_.get(), events, 4, wait ? timeout_ms : 0);
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      switch (events[i].data.u32) {
        case kTagRead:
          readable = true;
          break;
        case kTagWrite:
          if (absl::Status s = writer_.Flush(); !s.ok()) FailAll(s);
          break;
        case kTagWake: {
          uint64_t count;
          ssize_t ignored = ::read(wake_fd_.get(), &count, sizeof count);
          (void)ignored;
          woken = true;
          break;
        }
      }
    }
    readable_ = readable;
    return readable || woken;
  }
}

void Client::Impl::RunDeferred() {
  std::vector<Task> tasks;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (deferred_.empty()) return;
      TakeDeferredLocked(tasks);
    }
    for (Task& task : tasks) RunTask(task);
    tasks.clear();
  }
}

void Client::Impl::RunTask(Task& task) {
  // A reply leaves when its handler returns, not when the dispatch thread
  // has handled everything it read with the call: the next handler may take
  // long. Replies queued with no handler between them (answers the library
  // gives itself, such as NOT_FOUND) still share one write.
  FlushHeldOutput();
  task();
}

void Client::Impl::FlushHeldOutput() {
  if (!std::exchange(output_held_, false)) return;
  // A full socket: the writability watch writes it all when the broker
  // reads; a flush now would only meet EAGAIN.
  if (writer_.waiting_for_socket()) return;
  if (absl::Status s = writer_.Flush(); !s.ok()) FailAll(s);
}

void Client::Impl::TakeDeferredLocked(std::vector<Task>& tasks) {
  tasks.swap(deferred_);
  open_batch_ = nullptr;
}

void Client::Impl::DeferMessageLocked(Received item, absl::Time received) {
  if (open_batch_ == nullptr || deferred_.size() != open_batch_slot_ + 1) {
    std::unique_ptr<MessageBatch> batch = std::move(spare_batch_);
    if (batch == nullptr) {
      batch = std::make_unique<MessageBatch>();
      batch->entries.reserve(kMaxFramesPerRead);
    }
    open_batch_ = batch.get();
    open_batch_slot_ = deferred_.size();
    deferred_.push_back([this, batch = std::move(batch)]() mutable {
      HandleMessages(*batch);
      RecycleBatch(std::move(batch));
    });
  }
  open_batch_->entries.push_back({std::move(item), received});
}

void Client::Impl::RecycleBatch(std::unique_ptr<MessageBatch> batch) {
  batch->entries.clear();  // the frames go; the entries' memory stays
  absl::MutexLock lock(&mu_);
  if (spare_batch_ == nullptr) spare_batch_ = std::move(batch);
}

void Client::Impl::CollectExpiredLocked(
    absl::Time now, std::vector<std::pair<uint64_t, CallCallback>>& expired) {
  std::vector<std::pair<uint64_t, Pending>> taken;
  pending_.TakeExpired(now, taken);
  for (auto& [id, pending] : taken) {
    expired.emplace_back(id, std::move(pending.callback));
  }
}

// ---- public operations
// -------------------------------------------------------

absl::StatusOr<Payload> Client::Impl::Call(absl::string_view service,
                                           absl::string_view method,
                                           Payload request,
                                           absl::string_view request_type,
                                           absl::Duration timeout) {
  v1::Header header;
  v1::Call* call = header.mutable_call();
  call->set_service(std::string(service));
  call->set_method(std::string(method));
  call->set_timeout_us(TimeoutMicros(timeout));
  if (!request_type.empty()) call->set_request_type(std::string(request_type));
  return Request(wire::Kind::kCall, header, std::move(request), timeout,
                 /*is_call=*/true);
}

bool Client::Impl::CallAsync(absl::string_view service,
                             absl::string_view method, Payload request,
                             absl::Duration timeout, CallCallback done) {
  if (absl::Status loop = NeedDispatch(); !loop.ok()) {
    done(loop);  // no dispatch thread to run it on
    return false;
  }
  {
    absl::MutexLock lock(&mu_);
    if (link_.reconnecting() && !OnDispatchThread()) {
      // Started once the connection is back, or failed at its deadline.
      parked_.push_back(ParkedCall{std::string(service), std::string(method),
                                   std::move(request), absl::Now() + timeout,
                                   std::move(done)});
      if (parked_.back().deadline < sleep_until_) Wake();
      return true;
    }
  }
  // A PendingCall's call (Client::CallAsync): not sent once cancelled, as
  // a parked call may be before a reconnect sends it.
  std::shared_ptr<client::AsyncCall> tracked = client::AsyncCallOf(done);
  if (tracked != nullptr && tracked->cancelled()) return true;
  v1::Header header;
  v1::Call* call = header.mutable_call();
  call->set_service(std::string(service));
  call->set_method(std::string(method));
  call->set_timeout_us(TimeoutMicros(timeout));
  Pending pending;
  pending.callback = std::move(done);
  pending.deadline = absl::Now() + timeout + kLocalDeadlineGrace;
  pending.is_call = true;
  // Keep a way to report a failed start: the callback moved into `pending`
  // is dropped with it, so StartRequest's failure path needs its own copy.
  CallCallback on_failure = pending.callback;
  absl::StatusOr<Started> started =
      StartRequest(wire::Kind::kCall, header, std::move(request),
                   std::move(pending), /*try_read=*/false,
                   /*wait_until=*/absl::InfinitePast());
  if (!started.ok()) {
    {
      absl::MutexLock lock(&mu_);
      deferred_.push_back([on_failure = std::move(on_failure),
                           status = started.status()] { on_failure(status); });
    }
    Wake();
    return false;
  }
  if (tracked != nullptr) TrackSent(*tracked, started->request_id);
  // The dispatch thread may be sleeping past this call's deadline.
  bool wake;
  {
    absl::MutexLock lock(&mu_);
    wake = absl::Now() + timeout + kLocalDeadlineGrace < sleep_until_;
  }
  if (wake) Wake();
  return true;
}

absl::StatusOr<v1::Identity> Client::Impl::GetIdentity(uint64_t connection_id,
                                                       absl::Duration timeout) {
  if (std::optional<v1::Identity> known = identities_.Find(connection_id)) {
    return *std::move(known);
  }
  v1::GetIdentityRequest request;
  request.set_connection_id(connection_id);
  SB_ASSIGN_OR_RETURN(Payload reply, Call("switchboard.Broker", "GetIdentity",
                                          Payload(request.SerializeAsString()),
                                          /*request_type=*/"", timeout));
  v1::Identity identity;
  if (!identity.ParseFromArray(reply.data(), static_cast<int>(reply.size()))) {
    return absl::InternalError("broker sent a malformed Identity");
  }
  identities_.Add(connection_id, identity);
  return identity;
}

absl::Status Client::Impl::Ping(absl::Duration timeout) {
  return Request(wire::Kind::kPing, v1::Header(), Payload(), timeout,
                 /*is_call=*/false)
      .status();
}

bool Client::Impl::CancelCall(client::AsyncCall& call) {
  // Whoever takes the application's callback first decides the outcome: the
  // library when it hands over a result, or this.
  std::optional<client::AsyncCall::Cancelled> cancelled = call.TakeForCancel();
  if (!cancelled.has_value()) return false;
  uint64_t cancel_id = 0;
  {
    absl::MutexLock lock(&mu_);
    deferred_.push_back([done = std::move(cancelled->done)] {
      done(absl::CancelledError("the call was cancelled by the caller"));
    });
    if (cancelled->request_id != 0) {
      // Still pending: its reply and its deadline now find nothing. (If it
      // ended, its callback is queued and finds the call cancelled.)
      if (pending_.Take(cancelled->request_id)) {
        cancel_id = cancelled->request_id;
      }
    } else {
      // Parked while disconnected: never sent, and now never will be. (If a
      // reconnect is sending it right now, TrackSent() ends it.)
      std::erase_if(parked_, [&call](const ParkedCall& parked) {
        return client::AsyncCallOf(parked.done).get() == &call;
      });
    }
  }
  Wake();
  // As for a call that timed out locally: the broker forgets the call, tells
  // the callee, and answers CANCELLED itself, which finds nothing here.
  if (cancel_id != 0) SendCancel(cancel_id);
  return true;
}

void Client::Impl::TrackSent(client::AsyncCall& call, uint64_t request_id) {
  if (call.Sent(request_id)) return;
  // Cancelled while a reconnect was sending it: CancelCall() found it in
  // neither the pending table nor the parked calls, so end it here.
  bool taken;
  {
    absl::MutexLock lock(&mu_);
    taken = pending_.Take(request_id).has_value();
  }
  if (taken) SendCancel(request_id);
}

}  // namespace switchboard
