// SPDX-License-Identifier: MIT
//
// Client::Impl: one connection to the broker, its dispatch thread, and the
// table of requests waiting for replies (PendingRequests).
//
// The dispatch thread starts when something first needs it (see
// StartDispatchLocked): a client that only makes synchronous calls holds
// its socket and nothing else.
//
// Reading. Exactly one thread at a time holds the *reader role* and reads
// from the socket: normally the dispatch thread, but a thread blocked in a
// synchronous Call() takes the role itself when it is free, so its reply
// wakes it directly instead of waking the dispatch thread, which would then
// have to wake the caller (one context switch per call instead of two). While
// a caller reads, the socket's read watch in the dispatch thread's epoll set
// is switched off. The reader completes synchronous waiters at once and
// hands every other frame (incoming calls, events, async replies) to the
// dispatch thread in arrival order, so handlers and callbacks always run on
// the dispatch thread, one at a time, in order.
//
// Writing goes through FrameWriter from any thread. Calls are written at
// once (or queued behind what the socket did not take); published messages
// only join the queue, copied into batch blocks, and the dispatch thread
// writes them in large sendmsg() calls (client_topics.cc). A handler's reply
// joins the queue too, and the dispatch thread writes it before it runs its
// next task or sleeps (RunTask): a reply never waits for a later handler.
//
// Reconnecting. The connection's state (ConnectionLink) is kUp while
// connected, kDown after it broke (the dispatch thread then makes attempts
// as ReconnectBackoff says), kRestoring while the dispatch thread,
// connected again, restores names, subscriptions and types with requests
// of its own, and kClosed for good. Requests from other threads wait while it
// is kDown or kRestoring (AwaitUpLocked). Only the dispatch thread swaps in a
// new connection (AdoptLocked), under mu_ and while nobody holds the reader
// role; FrameWriter's generation keeps a frame made for the old connection
// from going out on the new one.
//
// The parts beyond calls live in their own files: serving names and
// handling incoming calls (client_serving.cc with ServedNames), topics
// (client_topics.cc with Subscriptions), streams (client_streams.cc with
// ReplyStream::Impl, StreamWriter::Impl and RunningStreams), waiting for
// names (client_names.cc with NameWatch), and reconnecting
// (client_reconnect.cc with ConnectionLink and ReconnectBackoff).
#ifndef SWITCHBOARD_CLIENT_SRC_CLIENT_IMPL_H_
#define SWITCHBOARD_CLIENT_SRC_CLIENT_IMPL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/fd.h"
#include "client/src/async_call.h"
#include "client/src/connection_link.h"
#include "client/src/frame_writer.h"
#include "client/src/handshake.h"
#include "client/src/identity_cache.h"
#include "client/src/name_watch.h"
#include "client/src/payload_copier.h"
#include "client/src/pending_requests.h"
#include "client/src/published_types.h"
#include "client/src/received_fds.h"
#include "client/src/reply_stream.h"
#include "client/src/running_streams.h"
#include "client/src/served_names.h"
#include "client/src/stream_writer.h"
#include "client/src/subscriptions.h"
#include "switchboard/client.h"
#include "switchboard/export.h"
#include "wire/frame.h"
#include "wire/frame_decoder.h"
#include "wire/publish_run.h"

namespace switchboard {

class SWITCHBOARD_NO_EXPORT Client::Impl {
 public:
  // Takes a connection that completed its handshake; `options` are those it
  // was made with, kept for reconnecting.
  Impl(client::Handshake handshake, const ConnectOptions& options);
  // Readies the socket; in own-loop mode also creates the epoll set the
  // application polls. A client with a dispatch thread starts it, and
  // creates the descriptors its loop needs, only when something first
  // needs it (StartDispatchLocked). Errors (the client is then unusable;
  // destroy it): kResourceExhausted and friends from the failing system
  // call (EMFILE, ENOMEM).
  absl::Status Start();
  // Fails pending requests with kCancelled, stops and joins the dispatch
  // thread, closes the socket.
  ~Impl();

  uint64_t connection_id() const { return connection_id_.load(); }
  const std::string& address() const { return address_; }
  uint64_t max_payload_bytes() const { return max_payload_bytes_.load(); }
  bool connected() const;
  void OnConnectionChange(ConnectionCallback callback);

  // Own-loop mode (Threading::kOwnLoop): the application's thread runs the
  // dispatch thread's passes in Process(), polling fd() between them.
  int fd() const;
  absl::Duration ProcessTimeout() const;
  absl::Status Process();

  absl::StatusOr<Payload> Call(absl::string_view service,
                               absl::string_view method, Payload request,
                               absl::string_view request_type,
                               absl::Duration timeout);
  // Returns false if the call could not start (`done` then runs with the
  // error on the dispatch thread); true once it was sent or parked.
  bool CallAsync(absl::string_view service, absl::string_view method,
                 Payload request, absl::Duration timeout, CallCallback done);
  // PendingCall::Cancel() of a call Client::CallAsync() made: unless its
  // callback already has the outcome, queues the callback with kCancelled,
  // takes the call out of the pending table (sending the broker a CANCEL)
  // or out of the parked calls, and returns true; false otherwise.
  bool CancelCall(client::AsyncCall& call);
  absl::Status Ping(absl::Duration timeout);
  absl::StatusOr<v1::Identity> GetIdentity(uint64_t connection_id,
                                           absl::Duration timeout);
  absl::StatusOr<NameState> Serve(Service service, const ServeOptions& options);
  absl::Status Release(absl::string_view name);
  void OnNameChange(NameCallback callback);

  // Waiting for services (client_names.cc, with NameWatch).
  absl::StatusOr<uint64_t> WaitForService(absl::string_view name,
                                          absl::Duration timeout,
                                          const WaitForServiceOptions& options);
  // `on_error` (may be null) runs on the dispatch thread when the broker
  // cannot say who owns the name (not for lack of an owner).
  absl::StatusOr<uint64_t> WatchName(
      absl::string_view name, NameOwnerCallback callback,
      std::function<void(const absl::Status&)> on_error);

  // Topics (client_topics.cc).
  absl::Status Publish(absl::string_view topic, Payload message,
                       absl::string_view message_type, absl::Duration timeout);
  // Publish() without noticing a broken connection.
  absl::Status PublishOn(absl::string_view topic, Payload message,
                         absl::string_view message_type,
                         absl::Duration timeout);
  absl::StatusOr<PublishResult> PublishConfirmed(absl::string_view topic,
                                                 Payload message,
                                                 absl::string_view message_type,
                                                 absl::Duration timeout);
  absl::StatusOr<uint64_t> Subscribe(absl::string_view pattern,
                                     MessageCallback on_message,
                                     const SubscribeOptions& options);
  // Before the first publish of `type`: sends the broker the files defining
  // it (switchboard.Broker/RegisterTypes) without waiting for the answer.
  void RegisterPublishedType(const google::protobuf::Descriptor* type);
  absl::Status Unsubscribe(uint64_t subscription);
  absl::StatusOr<SubscriptionStats> GetSubscriptionStats(
      uint64_t subscription) const;

  // Streams (client_streams.cc).
  absl::StatusOr<std::unique_ptr<ReplyStream>> CallStream(
      absl::string_view service, absl::string_view method, Payload request,
      absl::string_view request_type, const StreamOptions& options);

  // A CALL's timeout_us for `timeout` (at least 1 us, at most 24 hours).
  static uint64_t TimeoutMicros(absl::Duration timeout);

 private:
  using Task = absl::AnyInvocable<void()>;
  // The pending-request table's entries (pending_requests.h).
  using Waiter = client::Waiter;
  using InlineRetry = client::InlineRetry;
  using Pending = client::PendingRequest;
  struct Started {
    uint64_t request_id = 0;
    bool reader = false;      // the caller holds the reader role
    uint64_t connection = 0;  // the writer's generation it was sent on
  };
  // A CallAsync() made while disconnected, started once connected again.
  struct ParkedCall {
    std::string service;
    std::string method;
    Payload request;
    absl::Time deadline;  // the call's own, without the local grace
    CallCallback done;
  };

  // Decides how `payload`'s buffers travel to a receiver that does or does
  // not take descriptors, and checks the payload's size for that choice;
  // `what` ("request", "reply") names it in errors. For inline buffers the
  // header to send (a copy of `header` with inline_buffer_sizes) is stored
  // in `inline_header`. Errors: kFailedPrecondition for an unsealed buffer;
  // kResourceExhausted over max_payload_bytes or max_fds_per_frame.
  absl::StatusOr<client::FrameWriter::Buffers> PlanBuffers(
      const Payload& payload, bool receiver_takes_fds, const v1::Header& header,
      absl::string_view what, v1::Header& inline_header) const;
  // The prefix of a frame carrying `payload` with its buffers sent as
  // `buffers` says (their descriptors counted, or their bytes inline).
  static wire::Prefix PayloadPrefix(wire::Kind kind, uint64_t request_id,
                                    const Payload& payload,
                                    client::FrameWriter::Buffers buffers);
  // Encodes and sends one frame whose buffers travel as `buffers` says.
  // `connection`: FrameWriter::Send()'s (0: whatever connection is up).
  absl::Status SendFrame(wire::Kind kind, uint64_t request_id,
                         const v1::Header& header, Payload payload,
                         client::FrameWriter::Buffers buffers, bool defer,
                         uint16_t flags = 0, uint64_t connection = 0);
  // The broker answered a CALL sent with descriptors: the callee takes none.
  // Sends it again, inline, under the same request id and puts `pending`
  // back. Returns the error to complete the call with if that fails.
  absl::Status RetryInlineLocked(uint64_t request_id, Pending& pending)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Registers `pending`, optionally takes the reader role, sends the frame.
  // While disconnected, waits for the connection until `wait_until`.
  absl::StatusOr<Started> StartRequest(wire::Kind kind,
                                       const v1::Header& header,
                                       Payload payload, Pending pending,
                                       bool try_read, absl::Time wait_until);
  // OK once the connection is up, waiting for it until `wait_until` while it
  // is down or being restored. The dispatch thread never waits: it may
  // send while restoring (its own requests), and gets kUnavailable at once
  // while down. Errors: kUnavailable (or the reason the client closed).
  absl::Status AwaitUpLocked(absl::Time wait_until)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A synchronous request: start, then wait for the reply or the deadline.
  absl::StatusOr<Payload> Request(wire::Kind kind, const v1::Header& header,
                                  Payload payload, absl::Duration timeout,
                                  bool is_call);
  absl::StatusOr<Payload> Await(Started started,
                                const std::shared_ptr<Waiter>& waiter,
                                absl::Time deadline);
  // Reads as the reader role until `waiter` is done or `deadline` passes.
  void ReadUntilDone(const Waiter& waiter, absl::Time deadline);

  bool TakeReaderLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives up the reader role. `leftover`: the decoder still holds bytes, so
  // the dispatch thread must read even though epoll will not say so.
  void ReleaseReaderLocked(bool leftover) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Turns the dispatch thread's read watch on or off as the client's state
  // requires; one epoll_ctl only when that changes.
  void UpdateReadWatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetWriteWatch(bool enabled);
  // Creates the loop's descriptors (the epoll set, the eventfd, the write
  // watch's duplicate) and registers them; sets loop_ready_.
  absl::Status CreateLoopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The lazy start. A client that only makes synchronous requests never
  // needs a dispatch thread: its callers read their own replies (the reader
  // role). Serving a name, subscribing, publishing, async calls, streams,
  // the callbacks, a frame only the dispatch thread handles, and a
  // reconnect start it; once started it runs until the client is
  // destroyed. On failure the client is closed for good (link_ kClosed)
  // and the caller fails the connection with the returned status.
  absl::Status StartDispatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // StartDispatchLocked() for a public operation: takes mu_, and on
  // failure fails the connection.
  absl::Status NeedDispatch();
  // Before a request of a client without a dispatch thread: reads what came
  // while nobody read (a hangup, an event), so that a broker that went away
  // meanwhile is noticed and the request waits for the reconnect.
  void ReadIfIdle();
  void Wake();
  bool OnDispatchThread() const;

  // What a read delivers: a frame, or a run of small MESSAGE frames for
  // one subscription (wire/publish_run.h), taken as one.
  using Received = std::variant<wire::Frame, wire::PublishRun>;
  // Reads what the socket has and decodes it; with `block`, the first read
  // waits (up to kReadWaitSlice) for data. Errors: kUnavailable when the
  // broker closed or broke the connection.
  absl::Status ReadAvailable(std::vector<Received>& frames, bool block);
  // Completes synchronous waiters and queues everything else for the
  // dispatch thread, under one lock; optionally gives up the reader role in
  // the same critical section. Returns whether `waiter` (may be null) is done
  // or the connection closed. Caller holds the reader role.
  bool Route(std::vector<Received>& frames, const Waiter* waiter,
             bool release_reader);
  // Errors: the status that closes the connection (an ERROR frame, or a kind
  // the broker never sends).
  // `received`: when the frames were read; absl::InfinitePast() until a
  // MESSAGE needs it (the clock is read once per batch, and never for
  // replies).
  absl::Status RouteLocked(wire::Frame frame, absl::Time& received)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RouteReplyLocked(wire::Frame frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The payload of a REPLY whose header is `header` (may be empty).
  static absl::StatusOr<Payload> ReplyPayload(wire::Frame frame,
                                              const v1::Header& header);
  // The connection broke (or the client closes, kCancelled): ends what was
  // in flight and, unless the client closes or reconnect is off, starts
  // reconnecting.
  // `connection` (not 0): only if the writer's generation is still that,
  // so that a failure seen on an old connection never ends a new one.
  void FailAll(const absl::Status& status, uint64_t connection = 0);
  void SendCancel(uint64_t request_id, uint64_t connection = 0);
  // CallAsync(): `call` was sent as `request_id`; ends it again if its
  // PendingCall cancelled it meanwhile.
  void TrackSent(client::AsyncCall& call, uint64_t request_id);

  // Reconnecting (client_reconnect.cc). Dispatch thread: makes one attempt
  // and, connected, restores what the client had; reschedules on failure.
  void Reconnect();
  // Dispatch thread, under mu_ with nobody reading: makes `handshake` the
  // client's connection. Errors (the attempt failed): from dup/epoll_ctl.
  absl::Status AdoptLocked(client::Handshake& handshake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Dispatch thread: restores names, subscriptions and types on the new
  // connection; `after` collects callbacks to run once it is up. Errors:
  // the connection's, when it broke again.
  absl::Status Restore(std::vector<Task>& after);
  absl::Status RestoreNames(std::vector<Task>& after);
  absl::Status RestoreSubscriptions(std::vector<Task>& after);
  absl::Status RestoreTypes();
  // Queues the connection callback's report of `state`.
  void ReportLinkLocked(ConnectionState state, absl::Status reason,
                        int attempts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fails parked calls whose deadline passed (all of them with `status` if
  // `all`), and returns when the next one expires.
  absl::Time ExpireParkedLocked(absl::Time now, bool all,
                                const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Dispatch thread.
  void DispatchLoop();
  // One pass of the dispatch loop: runs deferred tasks, reads, times out
  // calls, flushes, reconnects, then waits for the epoll set (with `wait`,
  // until the next timer; else not at all). Returns whether more work is
  // ready at once.
  bool Pass(bool wait);
  void RunDeferred();
  // Dispatch thread: runs one deferred task (a handler, a callback, ...)
  // after writing what the tasks before it queued, so that no reply waits
  // for a handler that has not started yet.
  void RunTask(Task& task);
  // Dispatch thread: writes the frames it queued and has not flushed
  // (output_held_), unless the socket is full and its writability watch
  // already waits to write them. Fails the connection if the write does.
  void FlushHeldOutput();
  // Moves async calls whose local deadline passed out of the pending table.
  void CollectExpiredLocked(
      absl::Time now, std::vector<std::pair<uint64_t, CallCallback>>& expired)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `connection`: the writer's generation when the CALL was read; its
  // replies go out on that connection or not at all.
  void HandleCall(std::shared_ptr<const wire::Frame> frame, std::vector<Fd> fds,
                  uint64_t connection);
  void HandleEvent(const wire::Frame& frame);
  // Sends the final REPLY to a call; `defer` queues it for the dispatch
  // thread to write before it runs its next task or sleeps, whichever comes
  // first (only the dispatch thread defers; see RunTask).
  void SendReply(uint64_t request_id, absl::StatusOr<Payload> result,
                 const std::string& response_type, bool caller_accepts_fds,
                 uint64_t connection, bool defer = true);

  // Subscribe() under `id`, a fresh subscriptions_.NextId(): for callers
  // whose callbacks must know the id before the broker confirms it.
  absl::StatusOr<uint64_t> SubscribeAs(uint64_t id, absl::string_view pattern,
                                       MessageCallback on_message,
                                       const SubscribeOptions& options);

  // Sends SUBSCRIBE for subscription `id` (already in subscriptions_) and
  // records the limits the broker applies.
  absl::Status SendSubscribe(uint64_t id, absl::string_view pattern,
                             uint32_t max_messages, uint64_t max_bytes,
                             OverflowPolicy policy);
  // The REGISTER_NAME request for `name` served with `options`.
  static v1::Header RegisterNameHeader(const std::string& name,
                                       const ServeOptions& options);
  // Runs the name callback, if any (dispatch thread).
  void ReportName(const std::string& name, bool owned);

  // Waiting for services (client_names.cc): asks the broker who owns the
  // watched name (Describe), question `generation` of the watch whose
  // subscription is `subscription`; the answer reaches the watch inside
  // that subscription's callbacks.
  void AskOwner(uint64_t subscription,
                const std::shared_ptr<client::NameWatch>& watch,
                uint64_t generation);

  // Topics (client_topics.cc).
  // Errors: kInvalidArgument for a malformed topic, kPermissionDenied for
  // one under "switchboard.".
  static absl::Status CheckPublishTopic(absl::string_view topic);
  // Waits while more than kPublishQueueBytes wait to be written. On the
  // dispatch thread, which cannot wait for its own flush, writes itself.
  absl::Status WaitForPublishRoom(absl::Duration timeout);
  // Has the dispatch thread write the queued messages, waking it only when
  // no such flush is pending already.
  void RequestFlush();
  // MESSAGE frames read one after another, handed to the dispatch thread as
  // one task: one allocation and one lock round trip for the lot, not one
  // per message.
  struct MessageBatch {
    struct Entry {
      Received item;  // a MESSAGE frame or a run of them
      absl::Time received;
    };
    std::vector<Entry> entries;
  };
  // Queues a MESSAGE frame or a run for the dispatch thread, joining the
  // batch that is the last deferred task if there is one.
  void DeferMessageLocked(Received item, absl::Time received)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the deferred tasks out, for the dispatch thread to run.
  void TakeDeferredLocked(std::vector<Task>& tasks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Dispatch thread: a batch of MESSAGE frames, delivered in order, each
  // run of frames for one subscription under one lookup.
  void HandleMessages(MessageBatch& batch);
  // Dispatch thread: empties a handled batch and keeps it for the next.
  void RecycleBatch(std::unique_ptr<MessageBatch> batch);
  // Dispatch thread: fills message_ from a MESSAGE frame; false (logged) if
  // the frame cannot be read.
  bool ReadMessage(wire::Frame& frame, absl::Time received);
  // Dispatch thread: fills message_ from the MESSAGE at byte `offset` of
  // `run`, its payload a copy (a kept message must not hold the whole run's
  // buffer). The run's messages are read in order from offset 0, which
  // reads the header they share.
  bool ReadRunMessage(const wire::PublishRun& run, size_t offset,
                      absl::Time received);
  void HandleDrops(const v1::Event::MessagesDropped& drops);

  // Streams (client_streams.cc).
  // Dispatch thread: starts a stream handler for a CALL that asked for a
  // stream, or answers RESOURCE_EXHAUSTED when too many run.
  void StartStream(uint64_t request_id, CallInfo info, Payload request,
                   std::shared_ptr<const Service> service,
                   const StreamHandler& handler,
                   const std::string& response_type, uint64_t connection);
  // Sends one message of a stream this client serves (REPLY flagged MORE).
  absl::Status SendStreamMessage(uint64_t request_id, Payload message,
                                 const std::string& response_type,
                                 bool caller_accepts_fds, uint64_t connection);
  // Routes a CREDIT or CANCEL for a stream this client serves.
  void RouteStreamControlLocked(const wire::Frame& frame)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The connection. Replaced only by AdoptLocked (see "Reconnecting"): read
  // freely by the holder of the reader role and the dispatch thread, else
  // under mu_.
  Fd fd_;
  Fd write_watch_fd_;  // dup of fd_, watched for EPOLLOUT on its own
  // Created by CreateLoopLocked() and immutable from then on.
  Fd epoll_fd_;
  Fd wake_fd_;  // eventfd: deferred work or stop
  // The three descriptors above exist (acquire to use them without mu_):
  // from Start() in own-loop mode, else from the dispatch thread's start.
  std::atomic<bool> loop_ready_{false};
  const std::string address_;
  const ConnectOptions options_;
  const bool tcp_;
  const bool own_loop_;  // Threading::kOwnLoop: no dispatch thread
  // The thread that runs the dispatch loop: the dispatch thread, or in
  // own-loop mode the one inside Process() (none between calls).
  std::atomic<std::thread::id> loop_thread_;
  // Own-loop mode: the last Process() stopped with work left (the first
  // is due at once).
  std::atomic<bool> more_ready_{true};
  // From the current connection's WELCOME.
  std::atomic<uint64_t> connection_id_;
  std::atomic<uint64_t> max_payload_bytes_;
  // Unix socket with max_fds_per_frame > 0: buffers may go as descriptors.
  std::atomic<bool> fds_enabled_;
  std::atomic<uint32_t> max_fds_per_frame_;
  client::FrameWriter writer_;
  std::atomic<bool> stopping_{false};
  // Mirrors !closed_.ok() for Publish(), which takes no lock of ours.
  std::atomic<bool> closed_flag_{false};
  // The dispatch thread was asked to flush published messages and has not
  // started that flush yet.
  std::atomic<bool> flush_requested_{false};
  // What the dispatch thread's last flush of published messages wrote
  // (see kLinger); touched only by the dispatch thread.
  size_t last_flush_bytes_ = 0;
  // The dispatch thread queued frames (replies of its handlers, messages
  // they published) and has not flushed them since; touched only by the
  // dispatch thread.
  bool output_held_ = false;
  // The dispatch thread's epoll set holds the socket (see DispatchLoop).
  bool watching_socket_ = true;
  // Read on the next pass: on the first, a WELCOME may have brought more.
  bool readable_ = true;
  // Pass()'s scratch, kept for their capacity.
  std::vector<Received> pass_frames_;
  std::vector<Task> pass_tasks_;
  std::vector<std::pair<uint64_t, CallCallback>> pass_expired_;
  client::Subscriptions subscriptions_;
  // Stream handlers this client serves; stopped (threads joined) by ~Impl.
  client::RunningStreams streams_{kMaxConcurrentStreams};

  // Touched only by the holder of the reader role.
  wire::FrameDecoder decoder_;
  client::ReceivedFds received_fds_;
  // Touched only by the dispatch thread (HandleCall, HandleMessages).
  v1::Header call_header_;
  v1::Header message_header_;
  Message message_;  // reused: its strings keep their capacity
  // Whether the run being read has the usual header (ReadRunMessage).
  bool run_header_plain_ = false;
  client::PayloadCopier run_payloads_;

  mutable absl::Mutex mu_;
  bool reader_active_ ABSL_GUARDED_BY(mu_) = false;
  bool foreign_reader_ ABSL_GUARDED_BY(mu_) = false;  // reader isn't dispatch
  bool read_watch_on_ ABSL_GUARDED_BY(mu_) = false;
  // CallAsync() or CallStream() was used: replies arrive unasked.
  bool uses_async_ ABSL_GUARDED_BY(mu_) = false;
  bool subscribed_ ABSL_GUARDED_BY(mu_) = false;  // Subscribe() was used
  absl::Status closed_ ABSL_GUARDED_BY(mu_);      // not OK once disconnected
  client::ConnectionLink link_ ABSL_GUARDED_BY(mu_);
  ConnectionCallback connection_callback_ ABSL_GUARDED_BY(mu_);
  std::vector<ParkedCall> parked_ ABSL_GUARDED_BY(mu_);
  // Subscriptions ended while disconnected: not to be restored.
  std::vector<uint64_t> unsubscribed_while_down_ ABSL_GUARDED_BY(mu_);
  client::PendingRequests pending_ ABSL_GUARDED_BY(mu_);
  std::vector<Task> deferred_ ABSL_GUARDED_BY(mu_);
  // The batch held by the task at deferred_[open_batch_slot_], which may
  // still take MESSAGE frames while it is the last task; null when there is
  // none.
  MessageBatch* open_batch_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t open_batch_slot_ ABSL_GUARDED_BY(mu_) = 0;
  // A handled batch, emptied, for the next one: a subscriber that keeps up
  // takes a batch per read, and allocating its entries afresh each time
  // cost more than the lock round trip that hands it back.
  std::unique_ptr<MessageBatch> spare_batch_ ABSL_GUARDED_BY(mu_);
  // A reader on the dispatch thread left bytes in the decoder.
  bool dispatch_should_read_ ABSL_GUARDED_BY(mu_) = false;
  client::ServedNames served_ ABSL_GUARDED_BY(mu_);
  NameCallback name_callback_ ABSL_GUARDED_BY(mu_);
  // When the dispatch thread's epoll_wait will time out by itself.
  absl::Time sleep_until_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();

  client::PublishedTypes published_types_;
  client::IdentityCache identities_;

  // Declared last: started when everything above exists, joined first.
  std::thread dispatch_thread_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENT_SRC_CLIENT_IMPL_H_
