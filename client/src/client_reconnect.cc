// SPDX-License-Identifier: MIT
//
// Client::Impl's reconnecting: attempts with backoff, the swap to a new
// connection, and the restore of names, subscriptions and types
// (client_impl.h, "Reconnecting"; client.h, "Reconnect").
#include <fcntl.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "client/src/client_impl.h"
#include "client/src/connection_setup.h"
#include "client/src/schema.h"
#include "switchboard/status_macros.h"

namespace switchboard {
namespace {

constexpr absl::string_view kBrokerService = "switchboard.Broker";
constexpr absl::string_view kGapReason = "reconnected";
using State = client::ConnectionLink::State;

}  // namespace

void Client::Impl::Reconnect() {
  {
    absl::MutexLock lock(&mu_);
    if (link_.state() != State::kDown) return;
    link_.StartAttempt();
  }
  const client::HandshakeCancel cancel{wake_fd_.get(),
                                       [this] { return stopping_.load(); }};
  absl::StatusOr<client::Handshake> handshake =
      client::ConnectAndGreet(address_, options_, &cancel);
  absl::Status failed = handshake.status();
  if (handshake.ok()) {
    absl::MutexLock lock(&mu_);
    if (link_.state() != State::kDown) return;  // closed meanwhile
    // Readers leave once the connection broke (their waits all ended); the
    // connection is swapped only when none is left.
    auto no_reader = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !reader_active_;
    };
    mu_.Await(absl::Condition(&no_reader));
    failed = AdoptLocked(*handshake);
  }
  if (!failed.ok()) {
    if (stopping_.load()) return;
    absl::MutexLock lock(&mu_);
    if (link_.state() != State::kDown) return;
    const absl::Time now = absl::Now();
    absl::Status gave_up;
    if (link_.AttemptFailed(now, failed, address_, gave_up) ==
        ConnectionState::kReconnecting) {
      ReportLinkLocked(ConnectionState::kReconnecting, failed,
                       link_.attempts());
      return;
    }
    closed_ = gave_up;
    ReportLinkLocked(ConnectionState::kClosed, closed_, link_.attempts());
    ExpireParkedLocked(now, /*all=*/true, closed_);
    return;
  }

  // Connected again (kRestoring): claim, subscribe and register what the
  // client had, then let everyone else through.
  std::vector<Task> after;
  if (absl::Status restored = Restore(after); !restored.ok()) {
    // Broken again: counts as a failed attempt, so that a broker that
    // accepts and fails at once is not hammered.
    SB_LOG(DEBUG) << "client lost the connection again while restoring: "
                  << restored;
    absl::MutexLock lock(&mu_);
    link_.RestoreFailed(absl::Now());
    return;
  }
  std::vector<ParkedCall> parked;
  {
    absl::MutexLock lock(&mu_);
    if (link_.state() != State::kRestoring) return;
    const int attempts = link_.Restored();
    closed_flag_.store(false);
    ReportLinkLocked(ConnectionState::kConnected, absl::OkStatus(), attempts);
    for (Task& task : after) deferred_.push_back(std::move(task));
    parked.swap(parked_);
  }
  const absl::Time now = absl::Now();
  for (ParkedCall& call : parked) {
    CallAsync(call.service, call.method, std::move(call.request),
              std::max(call.deadline - now, absl::ZeroDuration()),
              std::move(call.done));
  }
}

absl::Status Client::Impl::AdoptLocked(client::Handshake& handshake) {
  Fd watch(::fcntl(handshake.fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!watch.valid()) {
    return absl::ErrnoToStatus(errno, "reconnecting: F_DUPFD_CLOEXEC");
  }
  SB_RETURN_IF_ERROR(client::SetReadSlice(handshake.fd.get()));
  if (watching_socket_) {
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd_.get(), nullptr);
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, write_watch_fd_.get(), nullptr);
    watching_socket_ = false;
  }
  SB_RETURN_IF_ERROR(client::WatchFd(epoll_fd_.get(), handshake.fd.get(), 0,
                                     client::kTagRead));
  if (absl::Status added =
          client::WatchFd(epoll_fd_.get(), watch.get(), 0, client::kTagWrite);
      !added.ok()) {
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, handshake.fd.get(), nullptr);
    return added;
  }
  watching_socket_ = true;
  read_watch_on_ = false;
  // The old descriptors close when these go, after the writer moved on:
  // a sender holding the writer's lock never meets a closed descriptor.
  Fd old_fd = std::exchange(fd_, std::move(handshake.fd));
  Fd old_watch;
  writer_.Reset(fd_.get(), [&] {
    old_watch = std::exchange(write_watch_fd_, std::move(watch));
  });
  decoder_ = wire::FrameDecoder(client::ClientLimits(handshake.welcome));
  received_fds_ = client::ReceivedFds();
  connection_id_.store(handshake.welcome.connection_id());
  max_payload_bytes_.store(handshake.welcome.max_payload_bytes());
  fds_enabled_.store(client::FdsEnabled(handshake));
  max_fds_per_frame_.store(client::MaxFdsPerFrame(handshake.welcome));
  closed_ = absl::OkStatus();
  link_.Adopted();
  dispatch_should_read_ = false;
  UpdateReadWatchLocked();
  return absl::OkStatus();
}

absl::Status Client::Impl::Restore(std::vector<Task>& after) {
  SB_RETURN_IF_ERROR(RestoreNames(after));
  SB_RETURN_IF_ERROR(RestoreSubscriptions(after));
  return RestoreTypes();
}

absl::Status Client::Impl::RestoreNames(std::vector<Task>& after) {
  std::vector<client::ServedNames::Claim> claims;
  {
    absl::MutexLock lock(&mu_);
    claims = served_.Confirmed();
  }
  for (client::ServedNames::Claim& claim : claims) {
    absl::StatusOr<Payload> reply = Request(
        wire::Kind::kRegisterName,
        RegisterNameHeader(claim.name, claim.options),
        Payload(client::BuildServiceSchema(*claim.service).SerializeAsString()),
        kDefaultCallTimeout, /*is_call=*/false);
    v1::RegisterNameResult result;
    if (reply.ok() && !result.ParseFromArray(reply->data(),
                                             static_cast<int>(reply->size()))) {
      reply = absl::InternalError("broker sent a malformed RegisterNameResult");
    }
    std::optional<bool> owner_now;
    {
      absl::MutexLock lock(&mu_);
      if (link_.state() != State::kRestoring) return closed_;
      // Refused: taken by another connection during the gap (or refused
      // for another reason), so no longer served.
      owner_now = served_.Reclaimed(
          claim.name, reply.ok(),
          result.state() != v1::RegisterNameResult::STATE_QUEUED);
      if (!reply.ok()) UpdateReadWatchLocked();
    }
    if (!reply.ok()) {
      SB_LOG(WARNING) << "after reconnecting to " << address_
                      << ", the broker did not give back " << claim.name << ": "
                      << reply.status();
    }
    if (owner_now.has_value()) {
      after.push_back([this, name = claim.name, owner = *owner_now] {
        ReportName(name, owner);
      });
    }
  }
  return absl::OkStatus();
}

absl::Status Client::Impl::RestoreSubscriptions(std::vector<Task>& after) {
  std::vector<client::Subscriptions::Restorable> restorable =
      subscriptions_.Confirmed();
  {
    absl::MutexLock lock(&mu_);
    // Ended while disconnected, after Confirmed() may have seen them.
    const std::vector<uint64_t> ended = std::move(unsubscribed_while_down_);
    unsubscribed_while_down_.clear();
    std::erase_if(restorable, [&](const auto& entry) {
      return std::find(ended.begin(), ended.end(), entry.id) != ended.end();
    });
  }
  for (const client::Subscriptions::Restorable& entry : restorable) {
    absl::Status subscribed =
        SendSubscribe(entry.id, entry.pattern, entry.max_messages,
                      entry.max_bytes, entry.policy);
    {
      absl::MutexLock lock(&mu_);
      if (link_.state() != State::kRestoring) return closed_;
    }
    DropReport report;
    report.subscription = entry.id;
    report.total = entry.dropped;
    report.reason = std::string(kGapReason);
    if (!subscribed.ok()) {
      // The new broker refused it (a limit of its own): the subscription
      // ends, and its last report says why.
      report.reason = absl::StrCat(kGapReason,
                                   "; the broker refused the "
                                   "subscription again, which ended: ",
                                   subscribed.message());
      SB_LOG(WARNING) << "after reconnecting to " << address_
                      << ", the broker refused subscription " << entry.id
                      << " (" << entry.pattern << "): " << subscribed;
    }
    // Messages published during the gap are lost: say so, as for drops.
    after.push_back([this, report, ended = !subscribed.ok()] {
      subscriptions_.ReportDrop(report);
      if (ended) subscriptions_.Remove(report.subscription);
    });
  }
  return absl::OkStatus();
}

absl::Status Client::Impl::RestoreTypes() {
  const std::vector<const google::protobuf::Descriptor*> types =
      published_types_.All();
  if (types.empty()) return absl::OkStatus();
  v1::RegisterTypesRequest request;
  *request.mutable_files() = client::FilesDefining(types);
  absl::StatusOr<Payload> reply = Call(
      kBrokerService, "RegisterTypes", Payload(request.SerializeAsString()),
      request.GetTypeName(), kDefaultCallTimeout);
  absl::MutexLock lock(&mu_);
  if (link_.state() != State::kRestoring) return closed_;
  if (!reply.ok()) {
    // Only tools that decode messages miss them; publishing goes on.
    SB_LOG(WARNING) << "after reconnecting to " << address_
                    << ", the broker did not take the published types: "
                    << reply.status();
  }
  return absl::OkStatus();
}

void Client::Impl::ReportLinkLocked(ConnectionState state, absl::Status reason,
                                    int attempts) {
  if (!connection_callback_) return;
  ConnectionEvent event;
  event.state = state;
  event.reason = std::move(reason);
  event.connection_id = connection_id_.load();
  event.attempts = attempts;
  deferred_.push_back(
      [callback = connection_callback_, event] { callback(event); });
}

absl::Time Client::Impl::ExpireParkedLocked(absl::Time now, bool all,
                                            const absl::Status& status) {
  absl::Time next = absl::InfiniteFuture();
  for (auto it = parked_.begin(); it != parked_.end();) {
    if (!all && it->deadline > now) {
      next = std::min(next, it->deadline);
      ++it;
      continue;
    }
    absl::Status error =
        all ? status
            : absl::UnavailableError(absl::StrCat(
                  "not connected to the broker at ", address_,
                  ": no connection came back before the call's deadline "
                  "(reconnecting after: ",
                  closed_.message(), ")"));
    deferred_.push_back([done = std::move(it->done), error = std::move(error)] {
      done(error);
    });
    it = parked_.erase(it);
  }
  return next;
}

}  // namespace switchboard
