// SPDX-License-Identifier: MIT
#include "bench/roles.h"

#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "bench/floor.h"
#include "bench/floor_memfd.h"
#include "bench/measure.h"
#include "bench/switchboard_system.h"
#include "bench/switchboard_topics.h"
#include "bench/topic_floor.h"
#include "bench/topic_measure.h"
#include "bench/topic_relay.h"
#include "bench/workload.h"

namespace switchboard::bench {
namespace {

// FloorCaller or FloorMemfdCaller as a Caller: any failure leaves the byte
// stream out of step, so the first one ends the round.
template <typename FloorType>
class FloorSocketCaller : public Caller {
 public:
  explicit FloorSocketCaller(int fd) : caller_(fd) {}

  absl::StatusOr<Payload> Call(const Payload& request) override {
    absl::StatusOr<Payload> reply = caller_.Call(request);
    if (!reply.ok()) usable_ = false;
    return reply;
  }
  bool usable() const override { return usable_; }

 private:
  FloorType caller_;
  bool usable_ = true;
};

struct RoleFlags {
  std::string role;
  std::string system = "floor-direct";
  std::string workload = "rtt";
  absl::Duration warmup = absl::Milliseconds(200);
  absl::Duration duration = absl::Seconds(2);
  int64_t ops = 0;
  int64_t rate = 0;
  std::string address;  // the broker's, for switchboard
};

int RunClient(System system, absl::string_view address,
              const MeasureOptions& options) {
  std::unique_ptr<Caller> caller;
  switch (system) {
    case System::kFloorDirect:
    case System::kFloorRelay:
      caller = std::make_unique<FloorSocketCaller<FloorCaller>>(kSocketFd);
      break;
    case System::kFloorMemfd:
      caller = std::make_unique<FloorSocketCaller<FloorMemfdCaller>>(kSocketFd);
      break;
    case System::kSwitchboard:
    case System::kSwitchboardMemfd: {
      absl::StatusOr<std::unique_ptr<Caller>> connected =
          ConnectSwitchboardCaller(address, system, options.workload);
      if (!connected.ok()) {
        std::fprintf(stderr, "switchboard-bench client: %s\n",
                     connected.status().ToString().c_str());
        return 1;
      }
      caller = *std::move(connected);
      break;
    }
  }
  ClientReport report = MeasureCalls(options, *caller);
  if (absl::Status s = SendReport(report); !s.ok()) {
    std::fprintf(stderr, "switchboard-bench client: %s\n",
                 s.ToString().c_str());
    return 1;
  }
  return report.error.empty() ? 0 : 1;
}

int RunPublisher(System system, Workload workload, absl::string_view address,
                 const MeasureOptions& options) {
  std::unique_ptr<TopicPublisher> publisher;
  if (ThroughBroker(system)) {
    absl::StatusOr<std::unique_ptr<TopicPublisher>> connected =
        ConnectSwitchboardPublisher(address, workload);
    if (!connected.ok()) {
      std::fprintf(stderr, "switchboard-bench publisher: %s\n",
                   connected.status().ToString().c_str());
      return 1;
    }
    publisher = *std::move(connected);
  } else {
    std::vector<int> fds;
    for (int i = 0; i < PublisherSocketCount(system, workload); ++i) {
      fds.push_back(kSocketFd + i);
    }
    publisher = std::make_unique<FloorTopicPublisher>(std::move(fds));
  }
  ClientReport report = PublishMessages(options, *publisher);
  if (absl::Status s = SendReport(report); !s.ok()) {
    std::fprintf(stderr, "switchboard-bench publisher: %s\n",
                 s.ToString().c_str());
    return 1;
  }
  return report.error.empty() ? 0 : 1;
}

int RunSubscriber(System system, Workload workload, absl::string_view address) {
  if (ThroughBroker(system)) return RunSwitchboardSubscriber(workload, address);
  return RunFloorSubscriber(workload, kSocketFd);
}

}  // namespace

absl::StatusOr<std::pair<Fd, Fd>> SocketPair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair(AF_UNIX, SOCK_STREAM)");
  }
  return std::make_pair(Fd(fds[0]), Fd(fds[1]));
}

int PublisherSocketCount(System system, Workload workload) {
  return system == System::kFloorDirect ? SubscriberCount(workload) : 1;
}

bool IsRoleInvocation(int argc, char** argv) {
  return argc > 1 && absl::StartsWith(argv[1], kRoleFlag);
}

int RunRole(int argc, char** argv) {
  // A peer that goes away is an error to report, not a reason to die.
  std::signal(SIGPIPE, SIG_IGN);
  RoleFlags flags;
  FlagParser parser("switchboard-bench --role", "A process of a bench round.");
  parser.AddString("role", &flags.role, "ROLE", "what this process does");
  parser.AddString("system", &flags.system, "SYSTEM",
                   "the system the client or server is part of");
  parser.AddString("workload", &flags.workload, "WORKLOAD",
                   "rtt, bigframe, pubsub or fanout");
  parser.AddDuration("warmup", &flags.warmup, "unrecorded calls first");
  parser.AddDuration("duration", &flags.duration, "measured time");
  parser.AddInt("ops", &flags.ops, "N", "measured calls instead");
  parser.AddInt("rate", &flags.rate, "N", "messages a second, 0 flat out");
  parser.AddString("address", &flags.address, "ADDRESS",
                   "the broker's address");
  absl::StatusOr<std::vector<std::string>> args = parser.Parse(argc, argv);
  std::optional<Workload> workload = ParseWorkload(flags.workload);
  std::optional<System> system = ParseSystem(flags.system);
  if (!args.ok() || !args->empty() || !workload || !system) {
    std::fprintf(
        stderr, "switchboard-bench: bad role arguments%s\n",
        args.ok() ? "" : absl::StrCat(": ", args.status().message()).c_str());
    return 2;
  }
  if (flags.role == kRoleFloorServer) {
    if (*system == System::kFloorMemfd) return RunFloorMemfdServer(kSocketFd);
    return RunFloorServer(*workload, kSocketFd);
  }
  if (flags.role == kRoleFloorRelay) {
    return RunRelay(kSocketFd, kServerSideFd);
  }
  if (flags.role == kRoleSwitchboardServer) {
    return RunSwitchboardServer(*system, *workload, flags.address);
  }
  if (flags.role == kRoleSubscriber) {
    return RunSubscriber(*system, *workload, flags.address);
  }
  if (flags.role == kRoleTopicRelay) {
    std::vector<int> subscriber_fds;
    for (int i = 0; i < SubscriberCount(*workload); ++i) {
      subscriber_fds.push_back(kServerSideFd + i);
    }
    return RunTopicRelay(kSocketFd, subscriber_fds);
  }
  if (flags.role == kRolePublisher) {
    return RunPublisher(*system, *workload, flags.address,
                        MeasureOptions{*workload, flags.warmup, flags.duration,
                                       flags.ops, flags.rate});
  }
  if (flags.role == kRoleClient) {
    return RunClient(*system, flags.address,
                     MeasureOptions{*workload, flags.warmup, flags.duration,
                                    flags.ops, flags.rate});
  }
  std::fprintf(stderr, "switchboard-bench: unknown role '%s'\n",
               flags.role.c_str());
  return 2;
}

}  // namespace switchboard::bench
