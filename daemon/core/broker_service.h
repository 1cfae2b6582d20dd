// SPDX-License-Identifier: MIT
//
// BrokerService: the broker's own service, switchboard.Broker
// (docs/PROTOCOL.md 5.6). CALLs to it are answered from the router's tables
// and counters: GetStatus, ListNames, ListConnections, Describe and
// RegisterTypes here; StartService holds the call through the CallRouter
// until the name is claimed; Monitor goes to the MonitorHub. It changes
// only the schemas a connection registers (RegisterTypes) and its own
// traffic samples.
//
// Single-threaded: every method runs on the broker's loop thread.
#ifndef SWITCHBOARD_DAEMON_CORE_BROKER_SERVICE_H_
#define SWITCHBOARD_DAEMON_CORE_BROKER_SERVICE_H_

#include <string>

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
  // `context`, `monitors` and `calls` must outlive the service.
  BrokerService(RouterContext& context, MonitorHub& monitors, CallRouter& calls)
      : context_(context), monitors_(monitors), calls_(calls) {}
  BrokerService(const BrokerService&) = delete;
  BrokerService& operator=(const BrokerService&) = delete;

  // A CALL to switchboard.Broker that passed the checks every call gets.
  void OnCall(const Peer& from, wire::Frame frame, const v1::Call& call,
              absl::Time now);

  // Takes a sample of the traffic totals; GetStatus reports the rates
  // between the last two.
  void SampleTraffic(absl::Time now);
  // What GetStatus answers at `now`.
  v1::BrokerStatus Status(absl::Time now) const;
  // Fills the per-uid quotas and each uid's share of the tables (the
  // server adds connections to the same entries).
  void AddUidUse(v1::ResourceUse& use) const;

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
  v1::NameList ListNames() const;
  v1::ConnectionList ListConnections() const;
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
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_BROKER_SERVICE_H_
