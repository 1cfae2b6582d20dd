// SPDX-License-Identifier: MIT
//
// BrokerService: the broker's own service, switchboard.Broker
// (docs/PROTOCOL.md 5.6). CALLs to it are answered from the router's tables
// and counters: GetStatus, ListNames, ListConnections, Describe and
// RegisterTypes here; StartService holds the call through the CallRouter
// until the name is claimed; Monitor goes to the MonitorHub. It changes
// only the schemas a connection registers (RegisterTypes), and its own
// traffic samples and ordered index of session ids. ListNames and
// ListConnections answer a page at a time, so one request's work follows
// the page, not the tables.
//
// Single-threaded: every method runs on the broker's loop thread.
#ifndef SWITCHBOARD_DAEMON_CORE_BROKER_SERVICE_H_
#define SWITCHBOARD_DAEMON_CORE_BROKER_SERVICE_H_

#include <cstddef>
#include <string>

#include "absl/container/btree_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemon/core/call_router.h"
#include "daemon/core/ids.h"
#include "daemon/core/monitor_hub.h"
#include "daemon/core/outbox.h"
#include "daemon/core/peer.h"
#include "daemon/core/router_context.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame.h"

namespace switchboard::core {

class BrokerService {
 public:
  // Pages of ListNames and ListConnections (docs/PROTOCOL.md 5.6): entries
  // when a request's page_size is 0, and at most (larger sizes are
  // lowered); and the reply bytes after which a page ends early, so that a
  // page stays far below the frame limit and a connection's output quota.
  // One page costs the loop O(log n + page) work, never the whole table's:
  // measured at about 2 microseconds an entry (200,000 names: a page of 500
  // in about 1 ms, of 5000 in about 10 ms, hence the maximum of 1000).
  static constexpr size_t kDefaultPageSize = 500;
  static constexpr size_t kMaxPageSize = 1000;
  static constexpr size_t kMaxPageBytes = size_t{1} << 20;
  // Subscriptions GetStatus lists (BrokerStatus.subscription_count has
  // them all): choosing them costs one pass over the table.
  static constexpr size_t kMaxStatusSubscriptions = 1000;

  // `context`, `monitors` and `calls` must outlive the service.
  BrokerService(RouterContext& context, MonitorHub& monitors, CallRouter& calls)
      : context_(context), monitors_(monitors), calls_(calls) {}
  BrokerService(const BrokerService&) = delete;
  BrokerService& operator=(const BrokerService&) = delete;

  // A CALL to switchboard.Broker that passed the checks every call gets.
  void OnCall(const Peer& from, wire::Frame frame, const v1::Call& call,
              absl::Time now);

  // A session came past its handshake, or went: kept in the ordered index
  // of connection ids that pages of ListConnections start from. Called by
  // the Router beside each change to the session table.
  void OnSessionOpened(SessionId id) { connection_ids_.insert(id); }
  void OnSessionClosed(SessionId id) { connection_ids_.erase(id); }

  // Takes a sample of the traffic totals; GetStatus reports the rates
  // between the last two.
  void SampleTraffic(absl::Time now);
  // What GetStatus answers at `now`.
  v1::BrokerStatus Status(absl::Time now) const;
  // Fills the per-uid quotas and each uid's share of the tables (the
  // server adds connections to the same entries).
  void AddUidUse(v1::ResourceUse& use) const;

  // Entries of the tables the last ListNames or ListConnections page
  // looked at in full (names taken from the ordered index, activatable
  // names, connections listed), so tests can check that a page's work
  // follows the page and not the table.
  size_t entries_visited_for_test() const { return entries_visited_; }

 private:
  void OnStartService(const Peer& from, wire::Frame frame, const v1::Call& call,
                      absl::Time now);
  // RegisterTypes: its files are checked by the context's SchemaChecker,
  // then kept and answered by FinishRegisterTypes().
  void OnRegisterTypes(const Peer& from, const wire::Frame& frame);
  void FinishRegisterTypes(const Peer& from, RequestId id,
                           const absl::Status& status);
  // The reply to a method other than Monitor, StartService and
  // RegisterTypes, or why there is none.
  absl::StatusOr<std::string> Answer(const Peer& from, absl::string_view method,
                                     absl::string_view request, absl::Time now);
  // One page of each listing. Errors: kInvalidArgument for a page_token
  // the broker did not make.
  absl::StatusOr<v1::NameList> ListNames(const v1::ListNamesRequest& request);
  absl::StatusOr<v1::ConnectionList> ListConnections(
      const v1::ListConnectionsRequest& request);
  v1::NameInfo NameInfoOf(const std::string& name, SessionId owner) const;
  v1::ConnectionInfo ConnectionInfoOf(SessionId id,
                                      const SessionInfo& info) const;
  // The identity of connection `request.connection_id()`. Errors:
  // kNotFound for one that is not (or no longer) connected.
  absl::StatusOr<v1::Identity> GetIdentity(
      const v1::GetIdentityRequest& request) const;
  absl::StatusOr<v1::Description> Describe(const v1::DescribeRequest& request,
                                           SessionId asker) const;

  RouterContext& context_;
  MonitorHub& monitors_;
  CallRouter& calls_;
  // The last two SampleTraffic() samples, for GetStatus's rates.
  struct TrafficSample {
    absl::Time at = absl::InfinitePast();
    Traffic traffic;
  };
  TrafficSample previous_sample_;
  TrafficSample last_sample_;
  size_t entries_visited_ = 0;
  // The ids of the session table (RouterContext::sessions, a hash map), in
  // order, so a page of connections costs O(log c + page), not a scan.
  absl::btree_set<SessionId> connection_ids_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_BROKER_SERVICE_H_
