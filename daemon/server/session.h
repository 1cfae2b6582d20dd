// SPDX-License-Identifier: MIT
//
// Session: one connected client as the broker's I/O sees it. It owns the
// non-blocking socket and its watch, reads into a wire::FrameDecoder (large
// frames straight into their own buffer), and keeps the OutputQueue of
// frames and shared MESSAGEs waiting to be written, which the server flushes
// with one sendmsg per batch of up to IOV_MAX iovecs after all input of a
// loop iteration was handled.
//
// File descriptors (docs/PROTOCOL.md 2.5): input is read with recvmsg();
// descriptors that arrive wait in an InboundFds list until the frames that
// claim them are complete. On output the OutputQueue passes each frame's
// descriptors once, with the batch that starts writing it (at most 253 per
// sendmsg). A queued frame keeps its descriptors until it is fully written,
// and they count against the receiver's fds-in-flight quota. What a
// frame means is the server's and the router's business: the session hands each
// decoded frame to Server::OnFrame().
//
// Life cycle: kHandshake (until HELLO) -> kOpen -> kClosing (an ERROR or
// EVENT is being flushed; input is discarded; after the flush the write side
// is shut down and the session waits, briefly, for the client to close, so
// the kernel never answers unread input with a reset that could discard the
// ERROR) -> kClosed (out of the server's table, freed at the end of the loop
// iteration).
//
// Every method runs on the loop thread.
#ifndef SWITCHBOARD_DAEMON_SERVER_SESSION_H_
#define SWITCHBOARD_DAEMON_SERVER_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/fd.h"
#include "daemon/core/router.h"
#include "daemon/server/inbound_fds.h"
#include "daemon/server/output_queue.h"
#include "io/address.h"
#include "io/event_loop.h"
#include "wire/frame.h"
#include "wire/frame_decoder.h"
#include "wire/limits.h"

namespace switchboard::server {

class Server;

class Session {
 public:
  enum class State { kHandshake, kOpen, kClosing, kClosed };

  // Bytes read from one session per wakeup at most, so one busy client
  // cannot starve the others (the watch is level-triggered: the rest is read
  // next iteration).
  static constexpr size_t kReadBudgetBytes = size_t{1} << 20;
  // Of those, bytes of small frames (read through the decoder's staging
  // buffer) at most: the frames one wakeup routes are queued for their
  // receivers before the loop writes them out, so a smaller batch keeps
  // output queues short (their memory stays warm, and subscribers get
  // messages sooner), while a large frame still arrives in few wakeups.
  // 64 KiB rather than 1 MiB: pubsub 1.9M -> 2.5M msgs/s measured.
  static constexpr size_t kSmallFrameReadBudgetBytes = size_t{64} << 10;
  // A HELLO's payload is empty; this much is tolerated before the first
  // frame counts as too large to be a HELLO.
  static constexpr size_t kMaxHelloPayloadBytes = 4096;

  // `server` must outlive the session. `limits` are this connection's:
  // max_fds_per_frame is 0 on TCP.
  Session(Server& server, const core::Peer& peer, io::Transport transport,
          Fd socket, const wire::Limits& limits);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts watching the socket. Errors from epoll.
  absl::Status Start(io::EventLoop& loop);

  core::SessionId id() const { return peer_.id; }
  const core::Peer& peer() const { return peer_; }
  io::Transport transport() const { return transport_; }
  const wire::Limits& limits() const { return limits_; }
  // Set by the handshake: the client asked for descriptors on a Unix
  // socket.
  bool accepts_fds() const { return peer_.accepts_fds; }
  // Who the kernel says is at the other end (io::IdentifyPeer), taken at
  // accept and held until the handshake completes, when the router's table
  // of open sessions takes it (one copy per connection).
  void set_identity(v1::Identity identity) { identity_ = std::move(identity); }
  v1::Identity TakeIdentity() { return std::move(identity_); }
  void set_accepts_fds(bool accepts) { peer_.accepts_fds = accepts; }
  State state() const { return state_; }
  void set_state(State state) { state_ = state; }
  // From HELLO, made printable and short for logs; empty before HELLO.
  const std::string& client_name() const { return client_name_; }
  void set_client_name(std::string name) { client_name_ = std::move(name); }

  // The handshake timeout, then the linger timeout while closing.
  void set_timer(io::EventLoop::Timer timer) { timer_ = std::move(timer); }
  void CancelTimer() { timer_.Cancel(); }
  // Runs while part of a frame is buffered (Server::OnPartialFrame()).
  void set_progress_timer(io::EventLoop::Timer timer) {
    progress_timer_ = std::move(timer);
  }
  bool progress_timer_pending() const { return progress_timer_.pending(); }
  // When a read last left part of a frame buffered; bytes of it buffered.
  absl::Time last_partial_input() const { return last_partial_input_; }
  void set_last_partial_input(absl::Time when) { last_partial_input_ = when; }
  size_t partial_frame_bytes() const { return decoder_.buffered_bytes(); }
  // Whether input is paused because this session's output queue is full:
  // then the broker, not the client, holds up its frames.
  bool input_paused() const { return input_paused_; }
  // Reading stops while the broker's descriptor table is nearly full
  // (Server::RoomToReceiveDescriptors()); UpdateInterest() applies it.
  bool waiting_for_fds() const { return waiting_for_fds_; }
  void set_waiting_for_fds(bool waiting) { waiting_for_fds_ = waiting; }
  // The group this connection counts in while it is in the handshake
  // ("uid 1000", "tcp 127.0.0.1"); empty once it left it.
  const std::string& handshake_group() const { return handshake_group_; }
  void set_handshake_group(std::string group) {
    handshake_group_ = std::move(group);
  }
  // Whether it counts in its uid's connections (past the handshake).
  bool counted_for_uid() const { return counted_for_uid_; }
  void set_counted_for_uid(bool counted) { counted_for_uid_ = counted; }

  // Appends `frame` to the output queue and asks the server for a flush at
  // the end of the iteration.
  void Enqueue(wire::Frame frame);
  // Appends a MESSAGE shared with other subscriptions, written with
  // request_id = `subscription`, and asks for a flush.
  void EnqueueMessage(uint64_t subscription,
                      std::shared_ptr<const wire::Frame> message);
  // Appends the messages of a run shared with other subscriptions, written
  // with request_id = `subscription`, and asks for a flush.
  void EnqueueRun(uint64_t subscription,
                  std::shared_ptr<const wire::PublishRun> run);
  // Queues a messages_dropped EVENT for `subscription`, in place of its
  // last one if that is unwritten (OutputQueue::PushDropReport()), and asks
  // for a flush.
  void EnqueueDropReport(uint64_t subscription, wire::Frame report);
  bool HasUnsentDropReport(uint64_t subscription) const {
    return output_.HasUnsentDropReport(subscription);
  }
  // The memory its output queue holds (OutputQueue::memory()).
  size_t queued_memory() const { return output_.memory(); }
  // Frames and bytes this session read and queued or wrote.
  const core::Traffic& traffic() const { return traffic_; }
  // Descriptors of queued frames, held until their frame is fully written.
  size_t queued_fds() const { return output_.fds(); }
  bool output_empty() const { return output_.empty(); }
  // See OutputQueue::Queued() and DropOldest().
  core::Outbox::Queued QueuedMessages(uint64_t subscription) const {
    return output_.Queued(subscription);
  }
  size_t DropOldestMessage(uint64_t subscription);
  // See OutputQueue::DropMessages(): the session closes for an error.
  void DropQueuedMessages();
  // Drops everything queued: the session is gone.
  void ClearOutput();

  // Reads what the socket holds now, as an EPOLLIN event would.
  void ReadPendingInput() {
    if (state_ == State::kHandshake || state_ == State::kOpen) ReadInput();
  }
  // One non-blocking attempt to write `frame` at once, outside the output
  // queue; whatever does not fit is lost. For a connection about to be
  // closed without lingering.
  void TrySendNow(const wire::Frame& frame);

  // Writes queued frames until the queue is empty or the socket is full,
  // gathering up to IOV_MAX iovecs per sendmsg. Errors: the socket failed
  // (the peer is gone); the session must close.
  absl::Status WriteOutput();

  // Sets the epoll interest from the state: EPOLLOUT only while output
  // waits; EPOLLIN unless input is paused because this session's own output
  // queue is over `max_queued_bytes` (it resumes below half of it), or
  // because output waits while its uid holds its whole quota or the broker
  // its ceiling (OutputAccounts::Full()). That bounds what a client that
  // sends but never reads can make us hold, alone or with its uid's others.
  absl::Status UpdateInterest(size_t max_queued_bytes);

  // After the final frame of a closing session was written: no more output.
  void ShutdownWrite();

  // Whether input is held while a schema job of this session is checked
  // off the loop (SchemaWorker): frames already read wait in the decoder,
  // nothing more is read, and UpdateInterest() drops EPOLLIN.
  bool held_for_schema() const { return held_for_schema_; }
  void set_held_for_schema(bool held) { held_for_schema_ = held; }
  // Hands the router the complete frames read before input was held, as a
  // read would; stops again if one of them holds it.
  void DeliverHeldFrames() {
    if (state_ == State::kOpen && !held_for_schema_) DeliverFrames();
  }

  // Whether this session waits in the server's flush list.
  bool flush_requested() const { return flush_requested_; }
  void set_flush_requested(bool requested) { flush_requested_ = requested; }

 private:
  void OnEvents(uint32_t events);
  void ReadInput();
  void DiscardInput();
  // Hands every complete frame, with its descriptors, to the server (runs
  // of small PUBLISH frames as one, once the session is open); false
  // once the session stops taking input (closing, or a decode error was
  // reported).
  bool DeliverFrames();
  // Reports a stream the session cannot go on reading (bad descriptors).
  void FailInput(const absl::Status& status);
  // Charges the output queue's memory and descriptors, as they are now, to
  // this session's uid (Server's OutputAccounts); after every change.
  void Recharge();
  // Charges the buffer of the large frame being read, as it is now, to the
  // broker's ceiling; true if it grew.
  bool RechargeInput();

  Server& server_;
  core::Peer peer_;
  v1::Identity identity_;
  const io::Transport transport_;
  const wire::Limits limits_;
  std::string client_name_;
  core::Traffic traffic_;
  State state_ = State::kHandshake;

  Fd socket_;
  io::EventLoop::Watch watch_;  // after socket_: leaves epoll before the close
  io::EventLoop::Timer timer_;
  io::EventLoop::Timer progress_timer_;
  absl::Time last_partial_input_;
  wire::FrameDecoder decoder_;
  InboundFds inbound_fds_;
  // The most bytes read before the handshake is done.
  const size_t max_hello_bytes_;

  OutputQueue output_;
  // What Recharge() last charged the uid.
  size_t charged_memory_ = 0;
  size_t charged_fds_ = 0;
  size_t charged_input_ = 0;
  bool input_paused_ = false;
  bool waiting_for_fds_ = false;
  bool held_for_schema_ = false;
  bool counted_for_uid_ = false;
  std::string handshake_group_;
  bool write_shut_ = false;
  bool flush_requested_ = false;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_SESSION_H_
