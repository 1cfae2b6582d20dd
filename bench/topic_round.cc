// SPDX-License-Identifier: MIT
#include "bench/topic_round.h"

#include "absl/strings/str_cat.h"
#include "base/fd.h"
#include "bench/roles.h"
#include "bench/topic_measure.h"

namespace switchboard::bench {
namespace {

// Reads `child`'s whole report, then stops it. A report with an error gets
// the process's name in front.
absl::StatusOr<ClientReport> CollectReport(ChildProcess& child,
                                           absl::Duration timeout,
                                           absl::Duration stop_grace) {
  absl::StatusOr<std::string> bytes = child.ReadToEnd(timeout);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<int> exit = child.Stop(stop_grace);
  if (!exit.ok()) return exit.status();
  absl::StatusOr<ClientReport> report = DecodeReport(*bytes);
  if (!report.ok()) {
    return absl::InternalError(
        absl::StrCat(child.name(), " (", DescribeWaitStatus(*exit),
                     ") sent no report: ", report.status().message()));
  }
  if (!report->error.empty()) {
    report->error = absl::StrCat(child.name(), ": ", report->error);
  }
  return report;
}

}  // namespace

absl::StatusOr<ClientReport> RunTopicRound(const TopicRound& round) {
  const bool floor = !ThroughBroker(round.system);
  std::vector<std::string> flags = {
      absl::StrCat("--system=", SystemName(round.system)),
      absl::StrCat("--workload=", WorkloadName(round.workload))};
  if (!floor) flags.push_back(round.address_flag);

  // Declared before the publisher, so that on an early return the publisher
  // is killed first, then the relay, then the subscribers.
  std::vector<ChildProcess> subscribers;
  std::vector<ChildProcess> relay;
  // The coordinator's ends of the floors' sockets; the relay's or the
  // publisher's once handed down, and closed here right after.
  std::vector<Fd> publisher_ends;
  for (int i = 0; i < SubscriberCount(round.workload); ++i) {
    std::vector<std::pair<int, int>> fds;
    Fd subscriber_end;
    if (floor) {
      absl::StatusOr<std::pair<Fd, Fd>> pair = SocketPair();
      if (!pair.ok()) return pair.status();
      publisher_ends.push_back(std::move(pair->first));
      subscriber_end = std::move(pair->second);
      fds.emplace_back(subscriber_end.get(), kSocketFd);
    }
    absl::StatusOr<ChildProcess> subscriber =
        round.start_role(kRoleSubscriber, flags, std::move(fds), true);
    if (!subscriber.ok()) return subscriber.status();
    subscribers.push_back(*std::move(subscriber));
  }
  if (round.system == System::kFloorRelay) {
    absl::StatusOr<std::pair<Fd, Fd>> pair = SocketPair();
    if (!pair.ok()) return pair.status();
    std::vector<std::pair<int, int>> fds = {{pair->second.get(), kSocketFd}};
    for (size_t i = 0; i < publisher_ends.size(); ++i) {
      fds.emplace_back(publisher_ends[i].get(),
                       kServerSideFd + static_cast<int>(i));
    }
    absl::StatusOr<ChildProcess> started = round.start_role(
        kRoleTopicRelay,
        {absl::StrCat("--workload=", WorkloadName(round.workload))},
        std::move(fds), true);
    if (!started.ok()) return started.status();
    relay.push_back(*std::move(started));
    publisher_ends.clear();
    publisher_ends.push_back(std::move(pair->first));
  }

  std::vector<std::pair<int, int>> fds;
  for (size_t i = 0; i < publisher_ends.size(); ++i) {
    fds.emplace_back(publisher_ends[i].get(), kSocketFd + static_cast<int>(i));
  }
  for (const std::string& flag : round.measure_flags) flags.push_back(flag);
  absl::StatusOr<ChildProcess> publisher =
      round.start_role(kRolePublisher, std::move(flags), std::move(fds), false);
  if (!publisher.ok()) return publisher.status();
  publisher_ends.clear();  // the publisher's now, alone

  absl::StatusOr<ClientReport> published =
      CollectReport(*publisher, round.report_timeout, round.stop_grace);
  if (!published.ok()) return published.status();
  std::vector<ClientReport> received;
  std::string error = published->error;
  for (ChildProcess& subscriber : subscribers) {
    absl::StatusOr<ClientReport> report =
        CollectReport(subscriber, round.report_timeout, round.stop_grace);
    if (!report.ok()) return report.status();
    if (error.empty()) error = report->error;
    received.push_back(*std::move(report));
  }
  for (ChildProcess& process : relay) {
    absl::StatusOr<int> exit = process.Stop(round.stop_grace);
    if (!exit.ok()) return exit.status();
    if (*exit != 0) {
      round.note_problem(absl::InternalError(
          absl::StrCat(process.name(), " ended: ", DescribeWaitStatus(*exit))));
    }
  }
  absl::StatusOr<ClientReport> sum = CombineTopicReports(*published, received);
  if (!sum.ok()) return sum.status();
  sum->error = std::move(error);
  return sum;
}

}  // namespace switchboard::bench
