// SPDX-License-Identifier: MIT
#include "daemon/server/server.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/log.h"
#include "daemon/core/frames.h"
#include "daemon/core/handshake.h"
#include "daemon/server/buffer_seals.h"
#include "daemon/server/token.h"
#include "io/fd_passing.h"
#include "io/peer_identity.h"
#include "switchboard/status_macros.h"

namespace switchboard::server {
namespace {

// Connections accepted per listener wakeup: enough to absorb a connect burst
// quickly, few enough that established sessions are not starved by it (the
// level-triggered watch brings us back for the rest).
constexpr int kMaxAcceptsPerWakeup = 32;
// How long accepting pauses after accept4 fails for lack of resources
// (EMFILE, ENFILE, ENOBUFS), instead of spinning on a readiness that stays.
constexpr absl::Duration kAcceptBackoff = absl::Milliseconds(100);
// How long a closing session may take to read its final frame and close.
constexpr absl::Duration kLinger = absl::Seconds(2);
constexpr size_t kMaxLoggedNameBytes = 64;

// A client-chosen name, safe for a log line.
std::string PrintableName(absl::string_view name) {
  std::string out;
  for (char c : name.substr(0, kMaxLoggedNameBytes)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

std::string Describe(const Session& session) {
  std::ostringstream out;
  out << session.id();
  if (!session.client_name().empty())
    out << " '" << session.client_name() << "'";
  out << " (" << io::TransportName(session.transport()) << ", uid "
      << session.peer().uid;
  if (session.transport() == io::Transport::kUnix) {
    out << ", pid " << session.peer().pid;
  }
  out << ")";
  return out.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(
    io::EventLoop& loop, const ServerConfig& config,
    std::vector<io::Listener> inherited) {
  std::unique_ptr<Server> server(new Server(loop, config));
  SB_RETURN_IF_ERROR(server->Listen(std::move(inherited)));
  // Activated programs find the broker at its first Unix address (a tcp:
  // one would also need the token).
  for (const io::Address& address : server->listening_addresses()) {
    if (address.transport == io::Transport::kUnix) {
      server->launcher_.set_broker_address(address.ToString());
      break;
    }
  }
  return server;
}

namespace {

// The broker's identity and start, reported by switchboard.Broker/GetStatus;
// its uid is also who may monitor the bus.
// The router's times are the loop's (monotonic) clock.
core::RouterConfig WithIdentity(core::RouterConfig config,
                                const io::EventLoop& loop) {
  config.broker_pid = static_cast<uint32_t>(::getpid());
  config.broker_uid = static_cast<uint32_t>(::getuid());
  config.started = loop.Now();
  config.to_wall_clock = absl::Now() - loop.Now();
  return config;
}

// GetStatus also reports what the server holds (AddStatus()).
core::RouterConfig WithServerStatus(core::RouterConfig config,
                                    const Server* server) {
  config.add_server_status = [server](v1::BrokerStatus& status) {
    server->AddStatus(*status.mutable_resources());
  };
  return config;
}

}  // namespace

Server::Server(io::EventLoop& loop, const ServerConfig& config)
    : loop_(loop),
      config_(config),
      output_accounts_(config.output),
      router_(
          WithServerStatus(WithIdentity(config.router, loop), this), *this,
          [this](const std::vector<Fd>& fds) { return CheckDescriptors(fds); }),
      launcher_(loop, [this](absl::string_view name, uint64_t attempt,
                             absl::string_view reason) {
        router_.OnActivationFailed(name, attempt, reason);
        ForgetClosedSessions();
      }) {
  router_.set_activation_start(
      [this](const core::ActivatableService& service, uint64_t attempt) {
        return launcher_.Start(service, attempt);
      });
  loop_.SetAfterEventsHook([this] { AfterEvents(); });
  schema_worker_ = std::make_unique<SchemaWorker>(
      loop_, [this](core::SessionId id) { HoldInputForSchema(id); },
      [this](core::SessionId id) { ReleaseInputAfterSchema(id); });
  router_.set_schema_checker(schema_worker_.get());
}

Server::~Server() {
  router_.set_schema_checker(nullptr);
  schema_worker_.reset();
  loop_.SetAfterEventsHook(nullptr);
  listeners_.clear();
  found_ = nullptr;
  sessions_.clear();
}

absl::Status Server::Listen(std::vector<io::Listener> inherited) {
  if (config_.addresses.empty() && inherited.empty()) {
    return absl::InvalidArgumentError("no address to listen on");
  }
  absl::flat_hash_set<std::string> seen;
  bool any_tcp = false;
  for (const io::Listener& listener : inherited) {
    seen.insert(listener.address().ToString());
    any_tcp = any_tcp || listener.address().transport == io::Transport::kTcp;
  }
  for (const io::Address& address : config_.addresses) {
    // tcp: port 0 twice is two different kernel-chosen ports.
    const bool any_port =
        address.transport == io::Transport::kTcp && address.port == 0;
    if (!any_port && !seen.insert(address.ToString()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "address ", address.ToString(),
          " is given twice (or given and also passed by systemd)"));
    }
    any_tcp = any_tcp || address.transport == io::Transport::kTcp;
  }
  // The token first: nothing listens until everything needed is in place.
  if (any_tcp) {
    absl::StatusOr<std::string> token = LoadOrCreateToken(config_.token_file);
    if (!token.ok()) {
      return absl::Status(token.status().code(),
                          absl::StrCat("cannot use the TCP token file: ",
                                       token.status().message()));
    }
    token_ = *std::move(token);
  }
  for (io::Listener& listener : inherited) {
    SB_RETURN_IF_ERROR(Serve(std::move(listener)));
  }
  for (const io::Address& address : config_.addresses) {
    absl::StatusOr<io::Listener> listener = io::Listener::Listen(address);
    if (!listener.ok()) return listener.status();
    SB_RETURN_IF_ERROR(Serve(*std::move(listener)));
  }
  std::vector<std::string> addresses;
  for (const auto& entry : listeners_) {
    addresses.push_back(entry->listener.address().ToString());
    SB_LOG(INFO) << "listening on " << addresses.back();
  }
  router_.set_addresses(std::move(addresses));
  SampleTraffic();
  descriptor_baseline_ = Fd::OpenCount();
  return absl::OkStatus();
}

absl::Status Server::Serve(io::Listener listener) {
  auto entry = std::make_unique<ListenerWatch>(
      ListenerWatch{std::move(listener), {}, {}});
  absl::StatusOr<io::EventLoop::Watch> watch = loop_.WatchFd(
      entry->listener.fd(), EPOLLIN,
      [this, raw = entry.get()](uint32_t) { OnAcceptReady(*raw); });
  if (!watch.ok()) return watch.status();
  entry->watch = *std::move(watch);
  listeners_.push_back(std::move(entry));
  return absl::OkStatus();
}

void Server::SampleTraffic() {
  router_.SampleTraffic(loop_.Now());
  // After a burst, the memory it left free goes back to the kernel.
  heap_trimmer_.MaybeTrim(loop_.Now());
  sample_timer_ =
      loop_.RunAfter(kTrafficSampleInterval, [this] { SampleTraffic(); });
}

std::vector<io::Address> Server::listening_addresses() const {
  std::vector<io::Address> addresses;
  for (const auto& entry : listeners_) {
    addresses.push_back(entry->listener.address());
  }
  return addresses;
}

std::string Server::StatusLine() const {
  if (shutting_down_) {
    return absl::StrCat("Shutting down; ", sessions_.size(),
                        sessions_.size() == 1 ? " connection" : " connections",
                        " open");
  }
  std::vector<std::string> addresses;
  for (const auto& entry : listeners_) {
    addresses.push_back(entry->listener.address().ToString());
  }
  return absl::StrCat("Serving on ", absl::StrJoin(addresses, ", "), "; ",
                      sessions_.size(),
                      sessions_.size() == 1 ? " connection" : " connections");
}

void Server::OnAcceptReady(ListenerWatch& entry) {
  for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
    absl::StatusOr<std::optional<Fd>> socket = entry.listener.Accept();
    if (!socket.ok()) {
      SB_LOG(WARNING) << socket.status() << "; not accepting for "
                      << kAcceptBackoff;
      if (absl::Status s = entry.watch.SetEvents(0); !s.ok()) {
        SB_LOG(ERROR) << "cannot pause accepting: " << s;
      }
      entry.retry = loop_.RunAfter(kAcceptBackoff, [&entry] {
        if (absl::Status s = entry.watch.SetEvents(EPOLLIN); !s.ok()) {
          SB_LOG(ERROR) << "cannot resume accepting: " << s;
        }
      });
      return;
    }
    if (!socket->has_value()) return;
    AddSession(std::move(**socket), entry.listener.address().transport);
  }
}

void Server::AddSession(Fd socket, io::Transport transport) {
  const DescriptorBudget& budget = config_.descriptors;
  if (sessions_.size() >= budget.max_connections) {
    // Closed unread: nobody has proven anything yet, so no ERROR either.
    ++stats_.connections_refused;
    std::string line = absl::StrCat(
        "refusing a connection: the broker holds ", sessions_.size(),
        " connections, its limit (--max-connections)");
    if (MayLogHandshakeLine(line)) SB_LOG(WARNING) << line;
    return;
  }
  const core::SessionId id(next_session_id_++);
  core::Peer peer{id, 0, 0};
  v1::Identity identity;
  if (transport == io::Transport::kUnix) {
    absl::StatusOr<io::PeerIdentity> found = io::IdentifyPeer(socket.get());
    if (!found.ok()) {
      SB_LOG(WARNING) << "connection " << id << " dropped: " << found.status();
      return;
    }
    identity.set_uid(found->uid);
    identity.set_gid(found->gid);
    for (uint32_t group : found->groups) identity.add_groups(group);
    identity.set_pid(found->pid);
    identity.set_pid_start_time(found->start_time);
    identity.set_exe(found->executable);
    identity.set_unit(found->unit);
    identity.set_process_verified(found->process_verified);
    peer.uid = found->uid;
    peer.pid = found->pid;
  } else {
    // Only the broker's own user can read the token (PROTOCOL.md 2.1).
    peer.uid = static_cast<uint32_t>(::getuid());
    identity.set_uid(peer.uid);
  }
  // The group it counts in until HELLO: its uid on a Unix socket, its
  // source address on TCP (whose uid the broker does not know).
  std::string group = absl::StrCat("uid ", peer.uid);
  if (transport != io::Transport::kUnix) {
    absl::StatusOr<std::string> host = io::GetPeerHost(socket.get());
    group = absl::StrCat("tcp ", host.ok() ? *host : "?");
  }
  wire::Limits limits = config_.limits;
  if (transport != io::Transport::kUnix) limits.max_fds_per_frame = 0;
  auto session = std::make_unique<Session>(*this, peer, transport,
                                           std::move(socket), limits);
  session->set_identity(std::move(identity));
  if (absl::Status s = session->Start(loop_); !s.ok()) {
    SB_LOG(WARNING) << "connection " << id << " dropped: " << s;
    return;
  }
  const absl::Duration timeout = config_.handshake_timeout;
  session->set_timer(loop_.RunAfter(timeout, [this, id, timeout] {
    Session* late = Find(id);
    if (late == nullptr) return;
    ++stats_.handshakes_failed;
    const absl::Status status = absl::DeadlineExceededError(
        absl::StrCat("no HELLO within ", absl::FormatDuration(timeout)));
    CloseSession(*late, status.ToString(), core::BuildError(status));
  }));
  ++stats_.connections_accepted;
  SB_LOG(DEBUG) << "connection " << id << " opened over "
                << io::TransportName(transport);
  Session& added = *session;
  sessions_.emplace(id, std::move(session));
  AdmitUnauthenticated(added, std::move(group));
}

void Server::AdmitUnauthenticated(Session& session, std::string group_name) {
  const size_t limit = config_.descriptors.max_unauthenticated;
  // The oldest go first: a client that says HELLO at once gets in even
  // while others of its group connect and say nothing.
  while (true) {
    auto it = unauthenticated_.find(group_name);
    if (it == unauthenticated_.end() || it->second.size() < limit) break;
    Session* oldest = Find(it->second.front());
    if (oldest == nullptr || oldest->state() != Session::State::kHandshake) {
      it->second.erase(it->second.begin());
      if (it->second.empty()) unauthenticated_.erase(it);
      continue;
    }
    // One whose HELLO has arrived (accepted in the same burst, not read
    // yet) is served rather than pushed out; that takes it out of the
    // group, as does a close.
    oldest->ReadPendingInput();
    if (oldest->state() != Session::State::kHandshake) continue;
    ++stats_.unauthenticated_evicted;
    const absl::Status status = absl::ResourceExhaustedError(absl::StrCat(
        "closed before HELLO: ", limit, " newer connections from ", group_name,
        " are waiting to say HELLO (--max-unauthenticated)"));
    // No lingering for the ERROR to be read: under a flood, lingering
    // connections would hold the table themselves. One try to send it.
    oldest->TrySendNow(core::BuildError(status));
    CloseSession(*oldest, status.ToString(), std::nullopt);
  }
  session.set_handshake_group(group_name);
  unauthenticated_[group_name].push_back(session.id());
}

void Server::LeaveHandshakeGroup(Session& session) {
  if (session.handshake_group().empty()) return;
  auto it = unauthenticated_.find(session.handshake_group());
  session.set_handshake_group("");
  if (it == unauthenticated_.end()) return;
  std::vector<core::SessionId>& group = it->second;
  group.erase(std::remove(group.begin(), group.end(), session.id()),
              group.end());
  if (group.empty()) unauthenticated_.erase(it);
}

bool Server::MayLogHandshakeLine(std::string& line) {
  uint64_t held_back = 0;
  if (!handshake_log_.Allow(loop_.Now(), held_back)) {
    ++stats_.log_lines_held_back;
    return false;
  }
  if (held_back > 0) {
    absl::StrAppend(&line, " (and ", held_back,
                    " similar lines about connections before HELLO left out)");
  }
  return true;
}

void Server::AddStatus(v1::ResourceUse& use) const {
  const DescriptorBudget& budget = config_.descriptors;
  use.set_descriptor_table(budget.table);
  use.set_max_connections(budget.max_connections);
  use.set_max_connections_per_uid(budget.max_connections_per_uid);
  use.set_max_unauthenticated(budget.max_unauthenticated);
  use.set_fds_in_flight(DescriptorsInFlight());
  use.set_max_fds_in_flight(budget.max_fds_in_flight);
  use.set_max_fds_in_flight_per_receiver(budget.max_fds_in_flight_per_receiver);
  // The router listed the uids holding sessions with their share of its
  // tables; add connections to those entries, and entries for the rest.
  absl::flat_hash_map<uint32_t, v1::UidUse*> listed;
  for (v1::UidUse& entry : *use.mutable_uids()) listed[entry.uid()] = &entry;
  for (const auto& [uid, connections] : connections_per_uid_) {
    v1::UidUse*& out = listed[uid];
    if (out == nullptr) {
      out = use.add_uids();
      out->set_uid(uid);
    }
    out->set_connections(connections);
  }
  for (const auto& [uid, output] : output_accounts_.Uids()) {
    v1::UidUse*& out = listed[uid];
    if (out == nullptr) {
      out = use.add_uids();
      out->set_uid(uid);
    }
    out->set_queued_bytes(output.memory);
    out->set_fds_in_flight(output.fds);
    out->set_queued_bytes_refused(output.refused_memory);
    out->set_fds_refused(output.refused_fds);
    out->set_ceiling_refused(output.refused_ceiling);
  }
  std::sort(use.mutable_uids()->begin(), use.mutable_uids()->end(),
            [](const v1::UidUse& a, const v1::UidUse& b) {
              return a.uid() < b.uid();
            });
  use.set_connections_refused(stats_.connections_refused);
  use.set_connections_over_uid_limit(stats_.connections_over_uid_quota);
  use.set_unauthenticated_evicted(stats_.unauthenticated_evicted);
  use.set_fds_over_limit(stats_.fds_over_budget);
  use.set_reads_paused_for_fds(stats_.reads_paused_for_fds);
  use.set_log_lines_held_back(stats_.log_lines_held_back);
  const OutputLimits& output = output_accounts_.limits();
  use.set_queued_bytes(output_accounts_.memory() -
                       output_accounts_.input_memory());
  use.set_reading_bytes(output_accounts_.input_memory());
  use.set_max_memory(output.max_memory);
  use.set_max_queued_bytes_per_uid(output.max_memory_per_uid);
  use.set_max_fds_in_flight_per_uid(output.max_fds_per_uid);
  use.set_output_refused(output_accounts_.refused());
  use.set_resident_bytes(HeapTrimmer::SystemHeap().resident_bytes());
  use.set_heap_trims(heap_trimmer_.trims());
  use.set_heap_bytes_returned(heap_trimmer_.bytes_returned());
}

size_t Server::DescriptorsInFlight() const {
  const int64_t held = Fd::OpenCount() - descriptor_baseline_ -
                       static_cast<int64_t>(sessions_.size());
  return held > 0 ? static_cast<size_t>(held) : 0;
}

absl::Status Server::CheckDescriptors(const std::vector<Fd>& fds) {
  const size_t limit = config_.descriptors.max_fds_in_flight;
  if (const size_t held = DescriptorsInFlight(); held > limit) {
    ++stats_.fds_over_budget;
    return absl::ResourceExhaustedError(
        absl::StrCat("the broker holds ", held - fds.size(),
                     " descriptors in flight for its clients, its limit is ",
                     limit, " (--max-fds-in-flight-total)"));
  }
  return CheckBufferSeals(fds, config_.require_write_seal);
}

bool Server::RoomToReceiveDescriptors(Session& session) {
  const DescriptorBudget& budget = config_.descriptors;
  if (budget.table == 0) return true;
  const size_t open =
      static_cast<size_t>(std::max<int64_t>(Fd::OpenCount(), 0));
  if (open + io::kMaxFdsPerMessage + DescriptorBudget::kInternalReserve <=
      budget.table) {
    return true;
  }
  if (!session.waiting_for_fds()) {
    ++stats_.reads_paused_for_fds;
    session.set_waiting_for_fds(true);
    descriptor_waiters_.push_back(session.id());
    if (absl::Status s =
            session.UpdateInterest(config_.router.max_queued_bytes);
        !s.ok()) {
      SB_LOG(ERROR) << "cannot pause reading: " << s;
    }
  }
  return false;
}

void Server::ResumeDescriptorWaiters() {
  if (descriptor_waiters_.empty()) return;
  const size_t open =
      static_cast<size_t>(std::max<int64_t>(Fd::OpenCount(), 0));
  if (open + io::kMaxFdsPerMessage + DescriptorBudget::kInternalReserve >
      config_.descriptors.table) {
    return;
  }
  std::vector<core::SessionId> waiters;
  waiters.swap(descriptor_waiters_);
  for (core::SessionId id : waiters) {
    Session* session = Find(id);
    if (session == nullptr) continue;
    session->set_waiting_for_fds(false);
    if (absl::Status s =
            session->UpdateInterest(config_.router.max_queued_bytes);
        !s.ok()) {
      SB_LOG(ERROR) << "cannot resume reading: " << s;
    }
  }
}

Session* Server::Find(core::SessionId id) const {
  if (found_ != nullptr && found_id_ == id) return found_;
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return nullptr;
  found_id_ = id;
  found_ = it->second.get();
  return found_;
}

void Server::HoldInputForSchema(core::SessionId id) {
  Session* session = Find(id);
  if (session == nullptr) return;
  session->set_held_for_schema(true);
  if (absl::Status s = session->UpdateInterest(config_.router.max_queued_bytes);
      !s.ok()) {
    SB_LOG(ERROR) << "cannot hold reading: " << s;
  }
}

void Server::ReleaseInputAfterSchema(core::SessionId id) {
  ForgetClosedSessions();
  Session* session = Find(id);
  if (session == nullptr) return;
  session->set_held_for_schema(false);
  session->DeliverHeldFrames();
  // Delivering may have closed it, or held it again.
  session = Find(id);
  if (session == nullptr) return;
  if (absl::Status s = session->UpdateInterest(config_.router.max_queued_bytes);
      !s.ok()) {
    SB_LOG(ERROR) << "cannot resume reading: " << s;
  }
}

void Server::OnFrame(Session& session, wire::Frame frame) {
  ++stats_.frames_in;
  switch (session.state()) {
    case Session::State::kOpen:
      router_.OnFrame(session.peer(), std::move(frame), loop_.Now());
      ForgetClosedSessions();
      return;
    case Session::State::kHandshake:
      CompleteHandshake(session, frame);
      return;
    case Session::State::kClosing:
    case Session::State::kClosed:
      return;
  }
}

void Server::OnPublishRun(Session& session, wire::PublishRun run) {
  stats_.frames_in += run.count();
  // Sessions take runs only once open.
  router_.OnPublishRun(session.peer(), std::move(run), loop_.Now());
  ForgetClosedSessions();
}

void Server::CompleteHandshake(Session& session, const wire::Frame& frame) {
  absl::StatusOr<v1::Hello> hello = core::CheckHello(
      frame, session.transport() == io::Transport::kTcp, token_);
  if (!hello.ok()) {
    ++stats_.handshakes_failed;
    CloseSession(session, hello.status().ToString(),
                 core::BuildError(hello.status()));
    return;
  }
  const uint32_t uid = session.peer().uid;
  size_t& held = connections_per_uid_[uid];
  if (held >= config_.descriptors.max_connections_per_uid) {
    ++stats_.connections_over_uid_quota;
    ++stats_.handshakes_failed;
    const absl::Status status = absl::ResourceExhaustedError(
        absl::StrCat("uid ", uid, " already has ", held,
                     " connections, its limit (--max-connections-per-uid)"));
    if (held == 0) connections_per_uid_.erase(uid);
    CloseSession(session, status.ToString(), core::BuildError(status));
    return;
  }
  ++held;
  session.set_counted_for_uid(true);
  LeaveHandshakeGroup(session);
  session.CancelTimer();
  session.set_client_name(PrintableName(hello->client_name()));
  // Descriptors go only where the client asked for them and the socket can
  // carry them (PROTOCOL.md 2.5).
  const bool fds = session.transport() == io::Transport::kUnix &&
                   std::find(hello->features().begin(), hello->features().end(),
                             core::kFeatureFds) != hello->features().end();
  session.set_accepts_fds(fds);
  session.set_state(Session::State::kOpen);
  ++stats_.handshakes_completed;
  session.Enqueue(core::BuildWelcome(session.id(), session.limits(), fds));
  SB_LOG(INFO) << "connection " << Describe(session) << " accepted";
  v1::Identity identity = session.TakeIdentity();
  router_.OnSessionOpened(
      core::SessionInfo{session.peer(), session.client_name(),
                        std::string(io::TransportName(session.transport())),
                        identity.exe(), absl::Now(), std::move(identity)},
      loop_.Now());
  ForgetClosedSessions();
}

void Server::OnDecodeError(Session& session, const absl::Status& status,
                           absl::string_view limit_name, uint64_t limit_value) {
  ++stats_.decode_errors;
  if (session.state() == Session::State::kHandshake) ++stats_.handshakes_failed;
  CloseSession(session, status.ToString(),
               core::BuildError(status, limit_name, limit_value));
}

void Server::OnPeerGone(Session& session, absl::string_view why) {
  if (session.state() == Session::State::kClosing) {
    Destroy(session);  // the client closed after reading our last frame
    return;
  }
  CloseSession(session, why, std::nullopt);
}

void Server::OnPartialFrame(Session& session) {
  session.set_last_partial_input(loop_.Now());
  if (session.progress_timer_pending()) return;
  // One timer per session, armed only while a frame is partial and moved
  // at most once per timeout: no timer work per read.
  const core::SessionId id = session.id();
  session.set_progress_timer(loop_.RunAfter(
      config_.frame_progress_timeout, [this, id] { CheckFrameProgress(id); }));
}

void Server::CheckFrameProgress(core::SessionId id) {
  Session* session = Find(id);
  if (session == nullptr) return;
  const Session::State state = session->state();
  if (state != Session::State::kHandshake && state != Session::State::kOpen) {
    return;
  }
  if (session->partial_frame_bytes() == 0) return;  // it completed
  const absl::Duration timeout = config_.frame_progress_timeout;
  // While its input is paused for its full output queue, or held for its
  // schema, the broker is not reading: that is no fault of the client's.
  if (session->input_paused() || session->held_for_schema()) {
    session->set_last_partial_input(loop_.Now());
  }
  const absl::Time deadline = session->last_partial_input() + timeout;
  if (loop_.Now() < deadline) {
    session->set_progress_timer(
        loop_.RunAt(deadline, [this, id] { CheckFrameProgress(id); }));
    return;
  }
  const absl::Status status = absl::DeadlineExceededError(
      absl::StrCat("no progress on a frame for ", absl::FormatDuration(timeout),
                   " (--frame-progress-timeout); ",
                   session->partial_frame_bytes(), " bytes of it arrived"));
  CloseSession(*session, status.ToString(), core::BuildError(status));
}

void Server::OnTruncatedInput(Session& session, size_t partial) {
  ++stats_.decode_errors;
  const absl::Status status = absl::InvalidArgumentError(absl::StrCat(
      "the stream ended inside a frame, ", partial, " bytes into it"));
  // Best effort: if the client closed both directions, the write fails
  // and the session is simply dropped.
  CloseSession(session, status.ToString(), core::BuildError(status));
}

void Server::CloseSession(Session& session, absl::string_view why,
                          std::optional<wire::Frame> last_frame) {
  EndSession(session, why, std::move(last_frame));
  ForgetClosedSessions();
}

void Server::EndSession(Session& session, absl::string_view why,
                        std::optional<wire::Frame> last_frame) {
  const Session::State state = session.state();
  if (state == Session::State::kClosing || state == Session::State::kClosed) {
    return;
  }
  const core::SessionId id = session.id();
  // The ERROR goes right after what is already on its way: messages that
  // have not started would only delay it (a subscriber closed for
  // overflowing is one that is behind), and their subscriptions end now.
  if (last_frame) session.DropQueuedMessages();
  BeginClosing(session, why, std::move(last_frame));
  // After BeginClosing: frames the router sends to this session now are
  // dropped. The session object stays valid until the iteration ends.
  if (state == Session::State::kOpen) {
    forget_list_.push_back(Closed{id, std::string(why)});
  }
}

void Server::ForgetClosedSessions() {
  // Forgetting a session publishes switchboard.connection.closed, which can
  // close other sessions (DISCONNECT policy): keep going until none is left.
  while (!forget_list_.empty()) {
    for (const Closed& closed : std::exchange(forget_list_, {})) {
      router_.ForgetSession(closed.id, closed.why);
    }
  }
}

void Server::BeginClosing(Session& session, absl::string_view why,
                          std::optional<wire::Frame> last_frame) {
  // A connection that leaves before HELLO without fault (a liveness probe,
  // such as another broker checking the socket) is not worth an INFO line;
  // one that fails its handshake is, within a rate: such peers have proven
  // nothing and must not flood the log.
  if (session.state() == Session::State::kHandshake) {
    LeaveHandshakeGroup(session);
    if (!last_frame) {
      SB_LOG(DEBUG) << "connection " << Describe(session) << " closed: " << why;
    } else {
      std::string line =
          absl::StrCat("connection ", Describe(session), " closed: ", why);
      if (MayLogHandshakeLine(line)) SB_LOG(INFO) << line;
    }
  } else {
    SB_LOG(INFO) << "connection " << Describe(session) << " closed: " << why;
  }
  session.CancelTimer();
  if (!last_frame) {
    Destroy(session);
    return;
  }
  session.set_state(Session::State::kClosing);
  session.Enqueue(*std::move(last_frame));
  const core::SessionId id = session.id();
  session.set_timer(loop_.RunAfter(kLinger, [this, id] {
    if (Session* lingering = Find(id)) Destroy(*lingering);
  }));
}

void Server::Destroy(Session& session) {
  session.set_state(Session::State::kClosed);
  session.CancelTimer();
  LeaveHandshakeGroup(session);
  if (session.counted_for_uid()) {
    session.set_counted_for_uid(false);
    auto it = connections_per_uid_.find(session.peer().uid);
    if (it != connections_per_uid_.end() && --it->second == 0) {
      connections_per_uid_.erase(it);
    }
  }
  // Shared messages and descriptors are released now, not when the
  // session is freed.
  session.ClearOutput();
  // Usually called from inside the session's own callback: defer the delete.
  if (found_ == &session) found_ = nullptr;
  if (auto node = sessions_.extract(session.id())) {
    loop_.DeleteSoon(std::move(node.mapped()));
  }
}

void Server::RequestFlush(Session& session) {
  if (session.flush_requested()) return;
  session.set_flush_requested(true);
  flush_list_.push_back(&session);
}

void Server::AfterEvents() {
  // Closes asked for outside a router call (tests use the Outbox directly).
  ForgetClosedSessions();
  // Flushing can close a session, which can queue frames for others (e.g.
  // UNAVAILABLE replies): keep going until nothing is left to flush.
  while (!flush_list_.empty()) {
    std::vector<Session*> batch;
    batch.swap(flush_list_);
    for (Session* session : batch) {
      session->set_flush_requested(false);
      // Sessions destroyed in this iteration are freed only after this hook.
      if (session->state() != Session::State::kClosed) Flush(*session);
    }
  }
  ResumeDescriptorWaiters();
  ArmDeadlineTimer();
  if (shutting_down_ && shutdown_done_) {
    bool all_written = true;
    for (const auto& [id, session] : sessions_) {
      all_written = all_written && session->output_empty();
    }
    if (all_written) FinishShutdown();
  }
}

void Server::Flush(Session& session) {
  const bool closing = session.state() == Session::State::kClosing;
  absl::Status status = session.WriteOutput();
  if (status.ok()) {
    if (closing && session.output_empty()) session.ShutdownWrite();
    status = session.UpdateInterest(config_.router.max_queued_bytes);
  }
  if (status.ok()) return;
  if (closing) {
    Destroy(session);
  } else {
    CloseSession(session, status.ToString(), std::nullopt);
  }
}

void Server::ArmDeadlineTimer() {
  // One loop timer for all calls, at the earliest deadline. Most calls are
  // answered long before it, so it is rarely re-armed: a timer armed for a
  // call that was answered fires once, expires nothing, and moves on.
  std::optional<absl::Time> next = router_.NextDeadline();
  if (!next) return;
  if (deadline_timer_at_ <= *next) return;  // armed early enough already
  deadline_timer_at_ = *next;
  deadline_timer_ = loop_.RunAt(*next, [this] {
    deadline_timer_at_ = absl::InfiniteFuture();
    router_.ExpireCalls(loop_.Now());
    ForgetClosedSessions();
  });
}

void Server::Shutdown(absl::string_view reason, absl::Duration grace,
                      absl::AnyInvocable<void()> done) {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  SB_LOG(INFO) << "shutting down (" << reason << "): " << sessions_.size()
               << " connections open";
  // Stops accepting and removes the unix socket files the broker created.
  listeners_.clear();
  router_.FailAllCalls(absl::UnavailableError("the broker is shutting down"));

  v1::Event event;
  event.mutable_shutting_down()->set_reason(std::string(reason));
  std::vector<Session*> sessions;
  for (const auto& [id, session] : sessions_) sessions.push_back(session.get());
  std::vector<core::SessionId> forget;
  for (Session* session : sessions) {
    if (session->state() == Session::State::kOpen) {
      forget.push_back(session->id());
      BeginClosing(*session, "the broker is shutting down",
                   core::BuildEvent(event));
    } else if (session->state() == Session::State::kHandshake) {
      BeginClosing(*session, "the broker is shutting down",
                   core::BuildError(
                       absl::UnavailableError("the broker is shutting down")));
    }
  }
  // Only once every session is closing, so names passing on between them
  // send no events.
  for (core::SessionId id : forget) {
    router_.ForgetSession(id, "the broker is shutting down");
  }
  ForgetClosedSessions();
  shutdown_timer_ = loop_.RunAfter(grace, [this] { FinishShutdown(); });
}

void Server::FinishShutdown() {
  absl::AnyInvocable<void()> done = std::exchange(shutdown_done_, nullptr);
  if (!done) return;
  shutdown_timer_.Cancel();
  done();
}

// --- core::Outbox ---

void Server::Send(core::SessionId id, wire::Frame frame) {
  Session* session = Find(id);
  if (session == nullptr || session->state() != Session::State::kOpen) return;
  session->Enqueue(std::move(frame));
}

void Server::SendMessage(core::SessionId id, uint64_t subscription,
                         std::shared_ptr<const wire::Frame> message) {
  // Not queued for a session that is gone or closing; the router counts
  // what it sends, not what arrives.
  Session* session = Find(id);
  if (session == nullptr || session->state() != Session::State::kOpen) return;
  session->EnqueueMessage(subscription, std::move(message));
}

void Server::SendRun(core::SessionId id, uint64_t subscription,
                     std::shared_ptr<const wire::PublishRun> run) {
  Session* session = Find(id);
  if (session == nullptr || session->state() != Session::State::kOpen) return;
  session->EnqueueRun(subscription, std::move(run));
}

void Server::SendDropReport(core::SessionId id, uint64_t subscription,
                            wire::Frame report) {
  Session* session = Find(id);
  if (session == nullptr || session->state() != Session::State::kOpen) return;
  session->EnqueueDropReport(subscription, std::move(report));
}

bool Server::HasUnsentDropReport(core::SessionId id,
                                 uint64_t subscription) const {
  Session* session = Find(id);
  return session != nullptr && session->HasUnsentDropReport(subscription);
}

core::Outbox::Queued Server::QueuedMessages(core::SessionId id,
                                            uint64_t subscription) const {
  Session* session = Find(id);
  return session == nullptr ? Queued{} : session->QueuedMessages(subscription);
}

void Server::WriteNow(core::SessionId id) {
  Session* session = Find(id);
  if (session == nullptr || session->state() != Session::State::kOpen) return;
  // An error here comes back from the flush at the end of the iteration,
  // which closes the session outside the router's fan-out.
  (void)session->WriteOutput();
}

size_t Server::DropOldestMessage(core::SessionId id, uint64_t subscription) {
  Session* session = Find(id);
  return session == nullptr ? 0 : session->DropOldestMessage(subscription);
}

size_t Server::QueuedBytes(core::SessionId id) const {
  Session* session = Find(id);
  return session == nullptr ? 0 : session->queued_memory();
}

absl::Status Server::CheckUidRoom(core::SessionId id, size_t bytes,
                                  size_t fds) {
  Session* session = Find(id);
  if (session == nullptr) return absl::OkStatus();
  // A frame also costs its queue entry's bookkeeping.
  return output_accounts_.Check(session->peer().uid,
                                bytes + OutputQueue::EntryBytes(), fds);
}

size_t Server::QueuedFds(core::SessionId id) const {
  Session* session = Find(id);
  return session == nullptr ? 0 : session->queued_fds();
}

core::Traffic Server::SessionTraffic(core::SessionId id) const {
  Session* session = Find(id);
  return session == nullptr ? core::Traffic() : session->traffic();
}

core::Traffic Server::TotalTraffic() const {
  return core::Traffic{stats_.frames_in, stats_.frames_out, stats_.bytes_in,
                       stats_.bytes_out};
}

bool Server::AcceptsFds(core::SessionId id) const {
  Session* session = Find(id);
  return session != nullptr && session->accepts_fds();
}

void Server::CloseWithError(core::SessionId id, const absl::Status& reason) {
  if (Session* session = Find(id)) {
    EndSession(*session, reason.ToString(), core::BuildError(reason));
  }
}

void Server::Disconnect(core::SessionId id, const absl::Status& reason) {
  if (Session* session = Find(id)) {
    EndSession(*session, reason.ToString(), std::nullopt);
  }
}

}  // namespace switchboard::server
