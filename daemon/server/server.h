// SPDX-License-Identifier: MIT
//
// Server: connects the broker's core to sockets. It owns the listeners, the
// sessions (keyed by id) and the router; it accepts connections, runs the
// HELLO/WELCOME handshake with its timeout, hands every later frame to the
// router, implements the router's Outbox with the sessions' output queues,
// flushes all of them once per loop iteration (after all input was
// handled), keeps one loop timer for the earliest call deadline, and shuts
// down gracefully.
//
// Every method runs on the loop thread.
#ifndef SWITCHBOARD_DAEMON_SERVER_SERVER_H_
#define SWITCHBOARD_DAEMON_SERVER_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemon/core/outbox.h"
#include "daemon/core/router.h"
#include "daemon/server/descriptor_budget.h"
#include "daemon/server/heap_trimmer.h"
#include "daemon/server/launcher.h"
#include "daemon/server/log_limiter.h"
#include "daemon/server/output_accounts.h"
#include "daemon/server/schema_worker.h"
#include "daemon/server/session.h"
#include "io/address.h"
#include "io/event_loop.h"
#include "io/listener.h"
#include "wire/limits.h"

namespace switchboard::server {

struct ServerConfig {
  // Where to listen, in order. At least one.
  std::vector<io::Address> addresses;
  // The TCP token's file; read (or created) only when a tcp: address is
  // configured.
  std::string token_file;
  // max_fds_per_frame applies to Unix connections; TCP ones get 0.
  wire::Limits limits;
  core::RouterConfig router;
  // Buffers passed as descriptors must be sealed against writes as well as
  // resizing (--require-write-seal).
  bool require_write_seal = false;
  // A connection that has not sent HELLO by then gets ERROR
  // DEADLINE_EXCEEDED and is closed.
  absl::Duration handshake_timeout = absl::Seconds(5);
  // A connection holding part of a frame that has received no byte of it
  // for this long gets ERROR DEADLINE_EXCEEDED and is closed
  // (--frame-progress-timeout): a sender that trickles a frame, or stops
  // inside one, cannot hold the broker's buffers for ever.
  absl::Duration frame_progress_timeout = absl::Seconds(30);
  // How the descriptor table is shared out: connections (all, per uid,
  // still in the handshake) and descriptors in flight for all receivers
  // (router.max_fds_in_flight is one receiver's). switchboardd sizes it
  // from its raised RLIMIT_NOFILE; `table` 0 turns off the check that
  // pauses receiving while the table is nearly full.
  DescriptorBudget descriptors = DescriptorBudget::ForTable(8192);
  // What the output queues may hold per uid and in all (output_accounts.h).
  OutputLimits output;
};

// Counters for the admin service and tests; they only grow.
struct ServerStats {
  uint64_t connections_accepted = 0;
  uint64_t handshakes_completed = 0;
  uint64_t handshakes_failed = 0;
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t decode_errors = 0;  // malformed, oversized or garbage input
  // Connections closed at accept: the broker held max_connections.
  uint64_t connections_refused = 0;
  // Closed at HELLO: their uid held max_connections_per_uid.
  uint64_t connections_over_uid_quota = 0;
  // Closed before HELLO to make room for a newer connection of the same
  // uid or TCP source address (max_unauthenticated).
  uint64_t unauthenticated_evicted = 0;
  // Frames with descriptors refused: max_fds_in_flight for all receivers.
  uint64_t fds_over_budget = 0;
  // Times a connection's reading paused because the descriptor table was
  // nearly full.
  uint64_t reads_paused_for_fds = 0;
  // Log lines about connections in the handshake left out (rate limit).
  uint64_t log_lines_held_back = 0;
};

// How often the router samples the traffic totals (GetStatus's rates).
inline constexpr absl::Duration kTrafficSampleInterval = absl::Seconds(1);

class Server : private core::Outbox {
 public:
  // Serves `inherited` (sockets systemd passed, already listening), then
  // binds every configured address, in order, and starts accepting on
  // `loop`, which must outlive the server. config.addresses may be empty
  // when `inherited` is not. Errors, each a one-line message for the
  // operator: a failed listener (Listener::Listen's errors, e.g.
  // kAlreadyExists "another broker is already listening on unix:..."), a
  // bad token file (LoadOrCreateToken's errors, prefixed with the path),
  // kInvalidArgument for an address given twice (or given and inherited)
  // or for no address at all.
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      io::EventLoop& loop, const ServerConfig& config,
      std::vector<io::Listener> inherited = {});
  ~Server() override;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The addresses listened on, inherited ones first, then in configuration
  // order, tcp: with the real port. Empty once Shutdown() started.
  std::vector<io::Address> listening_addresses() const;

  // One line for a person watching the service, e.g. "Serving on
  // unix:/run/user/1000/switchboard/bus; 3 connections" (systemd's STATUS=).
  std::string StatusLine() const;

  // Stops accepting (removing the unix socket files it created; inherited
  // ones stay with systemd, which queues new connections for the next
  // start), ends pending calls
  // with UNAVAILABLE, sends every client EVENT shutting_down (ERROR
  // UNAVAILABLE to those still in the handshake), and calls `done` once all
  // of that is written or `grace` has passed, whichever is first. Later
  // calls do nothing.
  void Shutdown(absl::string_view reason, absl::Duration grace,
                absl::AnyInvocable<void()> done);

  // Replaces the activatable services (read from the activation files at
  // start and on SIGHUP); activations under way keep theirs.
  void SetActivatableServices(std::vector<core::ActivatableService> services) {
    router_.SetActivatableServices(std::move(services));
  }

  const ServerStats& stats() const { return stats_; }
  const HeapTrimmer& heap_trimmer() const { return heap_trimmer_; }
  const OutputAccounts& output_accounts() const { return output_accounts_; }
  const SchemaWorker& schema_worker() const { return *schema_worker_; }
  // Fills GetStatus's `resources` with what the server holds and refused.
  void AddStatus(v1::ResourceUse& use) const;
  const core::Router& router() const { return router_; }
  size_t session_count() const { return sessions_.size(); }
  // What the router acts through, for tests that play the router's part.
  core::Outbox& OutboxForTest() { return *this; }

 private:
  friend class Session;

  struct ListenerWatch {
    io::Listener listener;
    io::EventLoop::Watch watch;  // after listener: leaves epoll first
    io::EventLoop::Timer retry;  // accept back-off after EMFILE and friends
  };

  Server(io::EventLoop& loop, const ServerConfig& config);
  absl::Status Listen(std::vector<io::Listener> inherited);
  absl::Status Serve(io::Listener listener);
  void OnAcceptReady(ListenerWatch& entry);
  void AddSession(Fd socket, io::Transport transport);
  // Counts `session` (new, in the handshake) against its group's
  // max_unauthenticated, closing the group's oldest such connection if
  // it is full.
  void AdmitUnauthenticated(Session& session, std::string group_name);
  // Takes `session` out of its handshake group (it said HELLO, or it is
  // closing).
  void LeaveHandshakeGroup(Session& session);
  // Why the descriptors of a frame may not be held for its receiver now:
  // the broker holds max_fds_in_flight for all receivers. Then the buffer
  // check of the seals.
  absl::Status CheckDescriptors(const std::vector<Fd>& fds);
  // Descriptors client input made the broker hold: everything open but the
  // connections themselves and what the broker opened for itself.
  size_t DescriptorsInFlight() const;
  // Whether a read that may bring io::kMaxFdsPerMessage descriptors
  // leaves the reserve intact. If not, `session` stops reading until
  // AfterEvents() finds room again.
  bool RoomToReceiveDescriptors(Session& session);
  void ResumeDescriptorWaiters();
  // Whether a line about a connection in the handshake may be logged now
  // (LogLimiter); appends what was held back to `line`.
  bool MayLogHandshakeLine(std::string& line);

  // The SchemaWorker's hooks: a schema job of session `id` went to its
  // thread, so its input is held; its verdict was handed to the router, so
  // the frames it sent meanwhile go on.
  void HoldInputForSchema(core::SessionId id);
  void ReleaseInputAfterSchema(core::SessionId id);

  // Called by sessions.
  void OnFrame(Session& session, wire::Frame frame);
  void OnPublishRun(Session& session, wire::PublishRun run);
  void OnDecodeError(Session& session, const absl::Status& status,
                     absl::string_view limit_name, uint64_t limit_value);
  // The client closed or reset the connection.
  void OnPeerGone(Session& session, absl::string_view why);
  // A read left part of a frame buffered: it counts as progress now, and
  // the session's progress timer is armed if it is not.
  void OnPartialFrame(Session& session);
  // The progress timer of session `id` ran: closes it if its partial frame
  // has received nothing for config_.frame_progress_timeout, else re-arms.
  void CheckFrameProgress(core::SessionId id);
  // The client ended its stream inside a frame, `partial` bytes into it.
  void OnTruncatedInput(Session& session, size_t partial);
  void RequestFlush(Session& session);
  void CountFrameOut(size_t frames = 1) { stats_.frames_out += frames; }
  void CountBytesIn(size_t bytes) { stats_.bytes_in += bytes; }
  void CountBytesOut(size_t bytes) { stats_.bytes_out += bytes; }

  void CompleteHandshake(Session& session, const wire::Frame& frame);
  // Moves `session` to kClosing and tells the router. With `last_frame`
  // (ERROR, or EVENT at shutdown) the frame is flushed first and the session
  // lingers until the client closes; without, it is closed at once.
  void CloseSession(Session& session, absl::string_view why,
                    std::optional<wire::Frame> last_frame);
  // CloseSession() without telling the router: an open session is put on
  // forget_list_ instead. What the Outbox's closes do, since they come from
  // inside the router (the one-way contract in daemon/core/outbox.h).
  void EndSession(Session& session, absl::string_view why,
                  std::optional<wire::Frame> last_frame);
  // Hands every session on forget_list_ to router_.ForgetSession(), also
  // those that forgetting closes in turn. Called after each call into the
  // router, so the router never sees a session it closed again.
  void ForgetClosedSessions();
  void BeginClosing(Session& session, absl::string_view why,
                    std::optional<wire::Frame> last_frame);
  // Removes `session` from the table and frees it after this iteration.
  void Destroy(Session& session);
  Session* Find(core::SessionId id) const;

  // The loop's after-events hook: flush, re-arm the deadline timer, and
  // finish a shutdown once everything is written.
  void AfterEvents();
  void Flush(Session& session);
  void ArmDeadlineTimer();
  // Samples the traffic totals for the router's rates, and again every
  // kTrafficSampleInterval; also when the heap is trimmed (HeapTrimmer).
  void SampleTraffic();
  void FinishShutdown();

  // core::Outbox
  void Send(core::SessionId session, wire::Frame frame) override;
  void SendMessage(core::SessionId session, uint64_t subscription,
                   std::shared_ptr<const wire::Frame> message) override;
  void SendRun(core::SessionId session, uint64_t subscription,
               std::shared_ptr<const wire::PublishRun> run) override;
  void SendDropReport(core::SessionId session, uint64_t subscription,
                      wire::Frame report) override;
  bool HasUnsentDropReport(core::SessionId session,
                           uint64_t subscription) const override;
  Queued QueuedMessages(core::SessionId session,
                        uint64_t subscription) const override;
  void WriteNow(core::SessionId session) override;
  size_t DropOldestMessage(core::SessionId session,
                           uint64_t subscription) override;
  size_t QueuedBytes(core::SessionId session) const override;
  size_t QueuedFds(core::SessionId session) const override;
  core::Traffic SessionTraffic(core::SessionId session) const override;
  core::Traffic TotalTraffic() const override;
  bool AcceptsFds(core::SessionId session) const override;
  absl::Status CheckUidRoom(core::SessionId session, size_t bytes,
                            size_t fds) override;
  void CloseWithError(core::SessionId session,
                      const absl::Status& reason) override;
  void Disconnect(core::SessionId session, const absl::Status& reason) override;

  io::EventLoop& loop_;
  const ServerConfig config_;
  std::string token_;
  ServerStats stats_;
  uint64_t next_session_id_ = 1;  // ids start at 1 and are never reused

  // Declared before sessions_: sessions call into them while being torn
  // down.
  OutputAccounts output_accounts_;
  core::Router router_;
  // Starts activated programs for the router; after it, since its
  // failures go to the router.
  Launcher launcher_;
  // Checks large schemas off the loop for the router; destroyed (joined)
  // first in ~Server().
  std::unique_ptr<SchemaWorker> schema_worker_;
  absl::flat_hash_map<core::SessionId, std::unique_ptr<Session>> sessions_;
  // The session Find() returned last, which the router mostly asks for
  // several times per message (its queue, its room, then the enqueue);
  // reset when a session leaves sessions_. Ids are never reused.
  mutable core::SessionId found_id_;
  mutable Session* found_ = nullptr;
  // Sessions with output to flush at the end of this iteration.
  std::vector<Session*> flush_list_;
  // Sessions in the handshake per group ("uid 1000", "tcp 127.0.0.1"),
  // oldest first.
  absl::flat_hash_map<std::string, std::vector<core::SessionId>>
      unauthenticated_;
  // Connections past their handshake per uid, until destroyed.
  absl::flat_hash_map<uint32_t, size_t> connections_per_uid_;
  // Sessions that stopped reading for lack of descriptors.
  std::vector<core::SessionId> descriptor_waiters_;
  // Descriptors the broker held when it began serving (listeners, epoll,
  // timers): not in flight.
  int64_t descriptor_baseline_ = 0;
  LogLimiter handshake_log_{20, absl::Seconds(1)};
  HeapTrimmer heap_trimmer_;
  // Open sessions the router closed through the Outbox, and why, that it
  // has not been told about yet (ForgetClosedSessions()).
  struct Closed {
    core::SessionId id;
    std::string why;
  };
  std::vector<Closed> forget_list_;

  // One timer for every call deadline, at the earliest; deadline_timer_at_
  // is when it fires, InfiniteFuture() when it is not armed.
  io::EventLoop::Timer deadline_timer_;
  io::EventLoop::Timer sample_timer_;
  absl::Time deadline_timer_at_ = absl::InfiniteFuture();

  bool shutting_down_ = false;
  absl::AnyInvocable<void()> shutdown_done_;
  io::EventLoop::Timer shutdown_timer_;

  // Destroyed first: no accepts during teardown.
  std::vector<std::unique_ptr<ListenerWatch>> listeners_;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_SERVER_H_
