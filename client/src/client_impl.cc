// SPDX-License-Identifier: MIT
#include "client/src/client_impl.h"

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
#include "client/src/schema.h"
#include "client/src/status_codec.h"
#include "switchboard/status_macros.h"

namespace switchboard {
namespace {

// Tags in epoll_event.data.u32.
constexpr uint32_t kTagRead = 1;
constexpr uint32_t kTagWrite = 2;
constexpr uint32_t kTagWake = 3;

// How long past a call's timeout the library waits for the broker's own
// DEADLINE_EXCEEDED before it gives up locally (a broker that stopped
// answering must not hang a caller).
constexpr absl::Duration kLocalDeadlineGrace = absl::Seconds(2);
// Bounds the client's own send queue.
constexpr size_t kMaxQueuedBytes = 256u << 20;
// Longest a synchronous caller blocks in one recv() before it checks its
// deadline again.
constexpr absl::Duration kReadWaitSlice = absl::Milliseconds(200);
// Work done per read by the dispatch thread before it runs handlers.
constexpr size_t kMaxFramesPerRead = 256;
// While a publisher bursts, the dispatch thread waits kLinger before a
// flush that would write less than kLingerBelowBytes, if its last flush
// wrote at least kLingerAfterBytes: woken at once, it wrote a few KiB per
// sendmsg(), and the broker and the subscribers then read, wrote and woke
// at that grain too. A publish after a quiet spell is written at once.
constexpr size_t kLingerBelowBytes = 32 << 10;
constexpr size_t kLingerAfterBytes = 4 << 10;
constexpr auto kLinger = std::chrono::microseconds(20);

wire::Limits ClientLimits(const v1::Welcome& welcome) {
  wire::Limits limits;
  if (welcome.max_header_bytes() != 0) {
    limits.max_header_bytes = welcome.max_header_bytes();
  }
  if (welcome.max_payload_bytes() != 0) {
    limits.max_payload_bytes = static_cast<uint32_t>(
        std::min<uint64_t>(welcome.max_payload_bytes(), UINT32_MAX));
  }
  limits.max_fds_per_frame = static_cast<uint8_t>(
      std::min<uint32_t>(welcome.max_fds_per_frame(), UINT8_MAX));
  return limits;
}

// Whether this client may send descriptors: WELCOME's max_fds_per_frame is
// what a client may send (its "fds" feature says only that it will receive
// them), and only over a Unix socket.
bool FdsEnabled(const client::Handshake& handshake) {
  return handshake.address.transport == io::Transport::kUnix &&
         handshake.welcome.max_fds_per_frame() > 0;
}

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

Client::Impl::Impl(client::Handshake handshake)
    : fd_(std::move(handshake.fd)),
      connection_id_(handshake.welcome.connection_id()),
      address_(handshake.address.ToString()),
      max_payload_bytes_(handshake.welcome.max_payload_bytes()),
      fds_enabled_(FdsEnabled(handshake)),
      tcp_(handshake.address.transport == io::Transport::kTcp),
      max_fds_per_frame_(
          std::min<uint32_t>(handshake.welcome.max_fds_per_frame(),
                             client::FrameWriter::kMaxFdsPerSend)),
      writer_(fd_.get(), kMaxQueuedBytes,
              [this](bool enabled) { SetWriteWatch(enabled); }),
      decoder_(ClientLimits(handshake.welcome)) {}

absl::Status Client::Impl::Start() {
  // Each step may fail for want of descriptors, memory or threads (EMFILE,
  // ENOMEM, EAGAIN): the application gets the error, never an abort.
  write_watch_fd_ = Fd(::dup(fd_.get()));
  if (!write_watch_fd_.valid()) {
    return absl::ErrnoToStatus(errno, "setting up the client: dup");
  }
  epoll_fd_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd_.valid()) {
    return absl::ErrnoToStatus(errno, "setting up the client: epoll_create1");
  }
  wake_fd_ = Fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_fd_.valid()) {
    return absl::ErrnoToStatus(errno, "setting up the client: eventfd");
  }
  // The socket stays blocking: non-blocking reads and writes say
  // MSG_DONTWAIT, and a synchronous caller blocks in recv() for its reply,
  // at most kReadWaitSlice at a time.
  const timeval slice{
      0, static_cast<suseconds_t>(absl::ToInt64Microseconds(kReadWaitSlice))};
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice) !=
      0) {
    return absl::ErrnoToStatus(errno, "setting up the client: SO_RCVTIMEO");
  }
  struct Watch {
    int fd;
    uint32_t events;
    uint32_t tag;
  };
  // The read watch starts off: see UpdateReadWatchLocked.
  for (const Watch& watch : {Watch{fd_.get(), 0, kTagRead},
                             Watch{write_watch_fd_.get(), 0, kTagWrite},
                             Watch{wake_fd_.get(), EPOLLIN, kTagWake}}) {
    epoll_event event{};
    event.events = watch.events;
    event.data.u32 = watch.tag;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, watch.fd, &event) != 0) {
      return absl::ErrnoToStatus(errno, "setting up the client: epoll_ctl");
    }
  }
  try {
    dispatch_thread_ = std::thread([this] {
      dispatch_id_.store(std::this_thread::get_id(), std::memory_order_relaxed);
      DispatchLoop();
    });
  } catch (const std::system_error& error) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "setting up the client: cannot start its thread: ", error.what()));
  }
  return absl::OkStatus();
}

Client::Impl::~Impl() {
  SB_CHECK(!OnDispatchThread()) << "a Client must not be destroyed by its own "
                                   "handler or callback";
  FailAll(absl::CancelledError("the client was closed"));
  // Stream handlers may still write; fail their writers and join them while
  // the connection's objects exist.
  streams_.StopAll(absl::UnavailableError("the client is closing"));
  stopping_.store(true);
  ::shutdown(fd_.get(), SHUT_RDWR);
  if (dispatch_thread_.joinable()) {  // Start() got that far
    Wake();
    dispatch_thread_.join();
  }
  RunDeferred();  // callbacks of calls failed above, exactly once each
}

bool Client::Impl::connected() const {
  {
    absl::MutexLock lock(&mu_);
    if (!closed_.ok()) return false;
  }
  // Nothing may be reading (see UpdateReadWatchLocked), so ask the socket
  // whether the broker hung up.
  pollfd p{fd_.get(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 0;
}

bool Client::Impl::OnDispatchThread() const {
  return std::this_thread::get_id() ==
         dispatch_id_.load(std::memory_order_relaxed);
}

void Client::Impl::Wake() {
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
  const bool want = closed_.ok() && !foreign_reader_ &&
                    (dispatch_should_read_ || !services_.empty() ||
                     uses_async_ || subscribed_ || name_callback_ != nullptr);
  if (want == read_watch_on_) return;
  read_watch_on_ = want;
  epoll_event event{};
  event.events = want ? uint32_t{EPOLLIN} : 0u;
  event.data.u32 = kTagRead;
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd_.get(), &event);
}

void Client::Impl::SetWriteWatch(bool enabled) {
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
    if (payload.size() > max_payload_bytes_) {
      return TooLarge(what, payload.size(), max_payload_bytes_);
    }
    return Buffers::kInline;
  }
  SB_RETURN_IF_ERROR(client::CheckSizesSealed(payload));
  const size_t count = payload.buffers().size();
  absl::string_view why_inline;
  if (tcp_) {
    why_inline = "the connection is TCP";
  } else if (!fds_enabled_) {
    why_inline = "the broker does not pass descriptors on this connection";
  } else if (!receiver_takes_fds) {
    why_inline = "the receiver does not take descriptors";
  } else if (!client::AllHaveFds(payload)) {
    why_inline = "a buffer that arrived inline has no descriptor";
  }
  if (why_inline.empty()) {
    if (count > max_fds_per_frame_) {
      return absl::ResourceExhaustedError(
          absl::StrCat(what, " has ", count,
                       " buffers, more than the broker's max_fds_per_frame (",
                       max_fds_per_frame_, ")"));
    }
    if (payload.size() > max_payload_bytes_) {
      return TooLarge(what, payload.size(), max_payload_bytes_);
    }
    return Buffers::kAsFds;
  }
  const uint64_t length = client::InlineLength(payload);
  if (length > max_payload_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the ", what, "'s buffers must go inline because ", why_inline, "; ",
        length, " bytes exceed max_payload_bytes ", max_payload_bytes_));
  }
  inline_header = header;
  for (const SharedBuffer& buffer : payload.buffers()) {
    inline_header.add_inline_buffer_sizes(buffer.size());
  }
  return Buffers::kInline;
}

absl::Status Client::Impl::SendFrame(wire::Kind kind, uint64_t request_id,
                                     const v1::Header& header, Payload payload,
                                     client::FrameWriter::Buffers buffers,
                                     bool defer, uint16_t flags) {
  wire::Prefix prefix;
  prefix.kind = kind;
  prefix.flags = flags;
  prefix.request_id = request_id;
  if (buffers == client::FrameWriter::Buffers::kAsFds) {
    prefix.fd_count = static_cast<uint8_t>(payload.buffers().size());
    prefix.payload_length = static_cast<uint32_t>(payload.size());
  } else {
    prefix.payload_length =
        static_cast<uint32_t>(client::InlineLength(payload));
  }
  return writer_.Send(wire::EncodeHead(prefix, header.SerializeAsString()),
                      std::move(payload), defer, buffers);
}

absl::StatusOr<Client::Impl::Started> Client::Impl::StartRequest(
    wire::Kind kind, const v1::Header& header, Payload payload, Pending pending,
    bool try_read) {
  v1::Header inline_header;
  SB_ASSIGN_OR_RETURN(client::FrameWriter::Buffers buffers,
                      PlanBuffers(payload, /*receiver_takes_fds=*/true, header,
                                  "request", inline_header));
  const bool has_buffers = !payload.buffers().empty();
  const bool as_fds = buffers == client::FrameWriter::Buffers::kAsFds;
  if (as_fds && kind == wire::Kind::kCall) {
    pending.retry = std::make_unique<InlineRetry>(InlineRetry{header, payload});
  }
  Started started;
  {
    absl::MutexLock lock(&mu_);
    if (!closed_.ok()) return closed_;
    if (pending.callback || pending.stream) {
      uses_async_ = true;  // async replies arrive unasked: watch from now on
      UpdateReadWatchLocked();
    }
    started.request_id = pending_.Add(std::move(pending));
    if (try_read) started.reader = TakeReaderLocked();
  }
  absl::Status sent = SendFrame(kind, started.request_id,
                                has_buffers && !as_fds ? inline_header : header,
                                std::move(payload), buffers, /*defer=*/false);
  if (!sent.ok()) {
    absl::MutexLock lock(&mu_);
    pending_.Take(started.request_id);
    if (started.reader) ReleaseReaderLocked(/*leftover=*/false);
    return sent;
  }
  return started;
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
                   /*try_read=*/true);
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

void Client::Impl::SendCancel(uint64_t request_id) {
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kCancel;
  prefix.request_id = request_id;
  // Best effort: if the connection is gone, so is the call.
  writer_.Send(wire::EncodeHead(prefix, ""), Payload()).IgnoreError();
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
      deferred_.push_back([this, shared, fds = std::move(fds)]() mutable {
        HandleCall(shared, std::move(fds));
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

void Client::Impl::FailAll(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (!closed_.ok()) return;
    closed_ = status;
    closed_flag_.store(true);
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
    SB_LOG(DEBUG) << "client :" << connection_id_
                  << " disconnected: " << status;
  }
  Wake();
}

// ---- the dispatch thread
// ---------------------------------------------------------

void Client::Impl::DispatchLoop() {
  std::vector<Received> frames;
  std::vector<Task> running;
  std::vector<std::pair<uint64_t, CallCallback>> expired;
  bool readable = true;  // read on the first pass: a WELCOME may carry more
  bool watching_socket = true;
  while (!stopping_.load()) {
    bool reader = false;
    {
      absl::MutexLock lock(&mu_);
      TakeDeferredLocked(running);
      readable = std::exchange(dispatch_should_read_, false) || readable;
      if (readable && closed_.ok()) reader = TakeReaderLocked();
    }
    // Deferred work is older than anything read now, so it runs first.
    for (Task& task : running) RunTask(task);
    running.clear();

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
    {
      absl::MutexLock lock(&mu_);
      CollectExpiredLocked(absl::Now(), expired);
      skip_wait = more_to_read || !deferred_.empty() || !expired.empty() ||
                  dispatch_should_read_;
      sleep_until_ = absl::InfiniteFuture();
      if (!skip_wait && pending_.next_deadline() != absl::InfiniteFuture()) {
        sleep_until_ = pending_.next_deadline();
        const absl::Duration left = sleep_until_ - absl::Now();
        timeout_ms = static_cast<int>(
            std::clamp<int64_t>(absl::ToInt64Milliseconds(left) + 1, 0, 60000));
      }
      if (!closed_.ok() && watching_socket) {
        // A closed socket reports HUP forever; stop watching it.
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd_.get(), nullptr);
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, write_watch_fd_.get(),
                    nullptr);
        watching_socket = false;
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
    if (writer_.has_queued() && !writer_.waiting_for_socket() &&
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
    if (skip_wait) continue;

    epoll_event events[4];
    const int n = ::epoll_wait(epoll_fd_.get(), events, 4, timeout_ms);
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
          break;
        }
      }
    }
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

void Client::Impl::HandleCall(std::shared_ptr<const wire::Frame> frame,
                              std::vector<Fd> fds) {
  const uint64_t request_id = frame->request_id();
  const bool caller_accepts_fds =
      (frame->prefix().flags & wire::kFlagSenderAcceptsFds) != 0;
  // Parsed into a reused message: its strings keep their capacity, so a call
  // costs no allocations here. Only the dispatch thread runs HandleCall.
  absl::string_view header_bytes = frame->header_bytes();
  if (!call_header_.ParseFromArray(header_bytes.data(),
                                   static_cast<int>(header_bytes.size())) ||
      !call_header_.has_call()) {
    SendReply(request_id,
              absl::InvalidArgumentError("CALL frame without a call header"),
              "", caller_accepts_fds);
    return;
  }
  const v1::Call& call = call_header_.call();
  std::shared_ptr<const Service> service;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = services_.find(call.service()); it != services_.end()) {
      service = it->second;
    }
  }
  if (service == nullptr) {
    SendReply(
        request_id,
        absl::NotFoundError(absl::StrCat("connection :", connection_id_,
                                         " no longer serves ", call.service())),
        "", caller_accepts_fds);
    return;
  }
  auto method = service->methods().find(call.method());
  if (method == service->methods().end()) {
    SendReply(
        request_id,
        absl::UnimplementedError(absl::StrCat(
            "service ", call.service(), " has no method ", call.method())),
        "", caller_accepts_fds);
    return;
  }
  CallInfo info;
  info.service = call.service();
  info.method = call.method();
  info.request_type = call.request_type();
  info.caller = frame->prefix().sender;
  info.caller_uid = frame->prefix().sender_uid;
  info.caller_pid = frame->prefix().sender_pid;
  if (call.timeout_us() != 0) {
    info.deadline = absl::Now() + absl::Microseconds(call.timeout_us());
  }
  info.caller_accepts_fds = caller_accepts_fds;
  const Service::Method& handlers = method->second;
  if (handlers.stream_handler && !call.has_stream()) {
    SendReply(request_id,
              absl::FailedPreconditionError(absl::StrCat(
                  call.service(), "/", call.method(),
                  " is a stream method; call it with CallStream()")),
              "", caller_accepts_fds);
    return;
  }
  info.initial_credit = call.stream().initial_credit();
  absl::StatusOr<Payload> request = client::ReceivedPayload(
      std::move(frame), std::move(fds), call_header_.inline_buffer_sizes());
  if (!request.ok()) {
    SendReply(request_id, request.status(), "", caller_accepts_fds);
    return;
  }
  info.buffers = request->buffers();
  if (handlers.stream_handler) {
    StartStream(request_id, std::move(info), *std::move(request),
                std::move(service), handlers.stream_handler,
                client::TypeName(handlers.response));
    return;
  }
  // A plain method called with `stream` answers as usual: its one REPLY is
  // the final one of a stream of no messages.
  SendReply(request_id, method->second.handler(info, *request),
            client::TypeName(method->second.response), caller_accepts_fds);
}

void Client::Impl::SendReply(uint64_t request_id,
                             absl::StatusOr<Payload> result,
                             const std::string& response_type,
                             bool caller_accepts_fds, bool defer) {
  std::string header_bytes;
  Payload payload;
  client::FrameWriter::Buffers buffers = client::FrameWriter::Buffers::kInline;
  if (result.ok()) {
    v1::Header header;
    v1::Reply* reply = header.mutable_reply();  // OK unless it says otherwise
    if (!response_type.empty()) reply->set_response_type(response_type);
    v1::Header inline_header;
    absl::StatusOr<client::FrameWriter::Buffers> planned = PlanBuffers(
        *result, caller_accepts_fds, header, "reply", inline_header);
    if (planned.ok()) {
      buffers = *planned;
      const bool inline_buffers =
          !result->buffers().empty() &&
          buffers == client::FrameWriter::Buffers::kInline;
      const v1::Header& to_send = inline_buffers ? inline_header : header;
      if (inline_buffers || !response_type.empty()) {
        header_bytes = to_send.SerializeAsString();
      }
      payload = *std::move(result);
    } else {
      result = planned.status();
    }
  }
  if (!result.ok()) {
    v1::Header header;
    header.mutable_reply()->set_code(
        static_cast<int32_t>(result.status().code()));
    header.mutable_reply()->set_message(std::string(result.status().message()));
    header_bytes = header.SerializeAsString();
  }
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kReply;
  prefix.request_id = request_id;
  if (buffers == client::FrameWriter::Buffers::kAsFds) {
    prefix.fd_count = static_cast<uint8_t>(payload.buffers().size());
    prefix.payload_length = static_cast<uint32_t>(payload.size());
  } else {
    prefix.payload_length =
        static_cast<uint32_t>(client::InlineLength(payload));
  }
  // Deferred on the dispatch thread, which writes it before it runs its
  // next task or sleeps (RunTask), so that replies ready together share a
  // write. If this fails the connection is gone and the broker answers the
  // caller.
  writer_
      .Send(wire::EncodeHead(prefix, header_bytes), std::move(payload), defer,
            buffers)
      .IgnoreError();
  if (defer) output_held_ = true;
}

void Client::Impl::HandleEvent(const wire::Frame& frame) {
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  if (!header.ok() || !header->has_event()) return;
  const v1::Event& event = header->event();
  if (event.has_messages_dropped()) {
    HandleDrops(event.messages_dropped());
    return;
  }
  NameCallback callback;
  std::string name;
  bool owned = false;
  {
    absl::MutexLock lock(&mu_);
    callback = name_callback_;
    if (event.has_name_lost()) {
      name = event.name_lost().name();
      services_.erase(name);
      UpdateReadWatchLocked();
    } else if (event.has_name_acquired()) {
      name = event.name_acquired().name();
      owned = true;
    } else if (event.has_shutting_down()) {
      SB_LOG(DEBUG) << "broker shutting down: "
                    << event.shutting_down().reason();
      return;
    } else {
      return;
    }
  }
  if (callback) callback(name, owned);
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

void Client::Impl::CallAsync(absl::string_view service,
                             absl::string_view method, Payload request,
                             absl::Duration timeout, CallCallback done) {
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
                   std::move(pending), /*try_read=*/false);
  if (!started.ok()) {
    {
      absl::MutexLock lock(&mu_);
      deferred_.push_back([on_failure = std::move(on_failure),
                           status = started.status()] { on_failure(status); });
    }
    Wake();
    return;
  }
  // The dispatch thread may be sleeping past this call's deadline.
  bool wake;
  {
    absl::MutexLock lock(&mu_);
    wake = absl::Now() + timeout + kLocalDeadlineGrace < sleep_until_;
  }
  if (wake) Wake();
}

absl::Status Client::Impl::Ping(absl::Duration timeout) {
  return Request(wire::Kind::kPing, v1::Header(), Payload(), timeout,
                 /*is_call=*/false)
      .status();
}

absl::StatusOr<NameState> Client::Impl::Serve(Service service,
                                              const ServeOptions& options) {
  const std::string name = service.name();
  // The schema lets tools describe and call the methods (PROTOCOL.md 5.1).
  std::string schema = client::BuildServiceSchema(service).SerializeAsString();
  {
    absl::MutexLock lock(&mu_);
    if (services_.contains(name)) {
      return absl::AlreadyExistsError(
          absl::StrCat("this client already serves ", name));
    }
    // Installed before the broker confirms, so a call that arrives right
    // after the REPLY finds its handler.
    services_[name] = std::make_shared<const Service>(std::move(service));
    UpdateReadWatchLocked();
  }
  v1::Header header;
  v1::RegisterName* request = header.mutable_register_name();
  request->set_name(name);
  switch (options.claim) {
    case NameClaim::kFailIfOwned:
      request->set_flag(v1::NAME_FLAG_FAIL_IF_OWNED);
      break;
    case NameClaim::kReplace:
      request->set_flag(v1::NAME_FLAG_REPLACE);
      break;
    case NameClaim::kQueue:
      request->set_flag(v1::NAME_FLAG_QUEUE);
      break;
  }
  request->set_allow_replacement(options.allow_replacement);
  absl::StatusOr<Payload> reply =
      Request(wire::Kind::kRegisterName, header, Payload(std::move(schema)),
              kDefaultCallTimeout, /*is_call=*/false);
  v1::RegisterNameResult result;
  if (reply.ok() &&
      !result.ParseFromArray(reply->data(), static_cast<int>(reply->size()))) {
    reply = absl::InternalError("broker sent a malformed RegisterNameResult");
  }
  if (!reply.ok()) {
    absl::MutexLock lock(&mu_);
    services_.erase(name);
    UpdateReadWatchLocked();
    return reply.status();
  }
  return result.state() == v1::RegisterNameResult::STATE_QUEUED
             ? NameState::kQueued
             : NameState::kOwner;
}

absl::Status Client::Impl::Release(absl::string_view name) {
  v1::Header header;
  header.mutable_release_name()->set_name(std::string(name));
  absl::Status status = Request(wire::Kind::kReleaseName, header, Payload(),
                                kDefaultCallTimeout, /*is_call=*/false)
                            .status();
  if (status.ok()) {
    absl::MutexLock lock(&mu_);
    services_.erase(std::string(name));
    UpdateReadWatchLocked();
  }
  return status;
}

void Client::Impl::OnNameChange(NameCallback callback) {
  absl::MutexLock lock(&mu_);
  name_callback_ = std::move(callback);
  UpdateReadWatchLocked();
}

}  // namespace switchboard
