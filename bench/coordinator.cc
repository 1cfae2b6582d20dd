// SPDX-License-Identifier: MIT
#include "bench/coordinator.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/fd.h"
#include "bench/broker.h"
#include "bench/child_process.h"
#include "bench/figures.h"
#include "bench/measure.h"
#include "bench/roles.h"
#include "bench/topic_round.h"

namespace switchboard::bench {
namespace {

// How long a server or relay may take to say "ready" (the bigframe server
// renders its frame first), and to exit once told to.
constexpr absl::Duration kReadyTimeout = absl::Seconds(30);
constexpr absl::Duration kStopGrace = absl::Seconds(5);
// Beyond warm-up plus duration, how long a client may take to report.
constexpr absl::Duration kReportSlack = absl::Seconds(120);

absl::Status PinToCpuZero() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  CPU_SET(0, &cpus);
  if (::sched_setaffinity(0, sizeof cpus, &cpus) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("--pin: cannot run on CPU 0: ",
                     absl::ErrnoToStatus(errno, "").message()));
  }
  return absl::OkStatus();
}

// A ratio the summary prints: numerator / denominator of one figure, with the
// target an issue sets for it (if any).
struct Ratio {
  Workload workload;
  const char* figure_name;
  double Figures::*figure;
  System numerator;
  System denominator;
  bool has_target;
  bool at_most;  // true: the ratio should be <= target; false: >= target
  double target;
};

constexpr Ratio kRatios[] = {
    {Workload::kRtt, "p50", &Figures::p50_us, System::kSwitchboard,
     System::kFloorRelay, true, true, 1.3},
    {Workload::kRtt, "p50", &Figures::p50_us, System::kFloorRelay,
     System::kFloorDirect, false, false, 0},
    {Workload::kBigFrame, "ops/s", &Figures::ops_s, System::kSwitchboard,
     System::kFloorRelay, true, false, 0.7},
    {Workload::kBigFrame, "ops/s", &Figures::ops_s, System::kFloorRelay,
     System::kFloorDirect, false, false, 0},
    {Workload::kBigFrame, "memfd ops/s", &Figures::ops_s,
     System::kSwitchboardMemfd, System::kFloorMemfd, true, false, 0.8},
    {Workload::kBigFrame, "memfd ops/s", &Figures::ops_s,
     System::kSwitchboardMemfd, System::kSwitchboard, false, false, 0},
    {Workload::kPubSub, "msgs/s", &Figures::ops_s, System::kSwitchboard,
     System::kFloorRelay, true, false, 0.3},
    {Workload::kPubSub, "msgs/s", &Figures::ops_s, System::kFloorRelay,
     System::kFloorDirect, false, false, 0},
    {Workload::kFanout, "msgs/s", &Figures::ops_s, System::kSwitchboard,
     System::kFloorRelay, true, false, 0.3},
    {Workload::kFanout, "msgs/s", &Figures::ops_s, System::kFloorRelay,
     System::kFloorDirect, false, false, 0},
};

// Two decimals, three below 0.1, so that a small ratio keeps two
// significant digits.
std::string FormatRatio(double ratio) {
  return ratio < 0.1 ? absl::StrFormat("%.3f", ratio)
                     : absl::StrFormat("%.2f", ratio);
}

class Coordinator {
 public:
  explicit Coordinator(const BenchOptions& options) : options_(options) {}

  absl::Status Run();

 private:
  using Key = std::pair<Workload, System>;

  // One round of one system; fills rounds_ and lost_, and notes problems.
  // Errors: only kCancelled (interrupted); a failed round is not an error.
  absl::Status RunRound(Workload workload, System system, int round);
  // The report of one round of a call workload (rtt, bigframe) or a topic
  // workload (pubsub, fanout). Errors: the round failed.
  absl::StatusOr<ClientReport> RunCallRound(Workload workload, System system,
                                            int round);
  absl::StatusOr<ClientReport> RunTopicRound(Workload workload, System system,
                                             int round);
  // Lists `status` under "Problems" and on stderr. Returns it if it is
  // kCancelled (the run must stop), OK otherwise.
  absl::Status NoteProblem(Workload workload, System system, int round,
                           const absl::Status& status);
  // --warmup=, --duration=, --ops= and --rate= for a client or publisher.
  std::vector<std::string> MeasureFlags() const;
  absl::Duration ReportTimeout() const;
  // Starts the server (and relay) of `system`, ready to serve, appending
  // them to `servers`. Returns the socket the floors' client gets (none for
  // switchboard, whose client connects to the broker).
  absl::StatusOr<Fd> StartServers(Workload workload, System system,
                                  std::vector<ChildProcess>& servers);
  absl::StatusOr<ChildProcess> StartRole(absl::string_view role,
                                         std::vector<std::string> flags,
                                         std::vector<std::pair<int, int>> fds,
                                         bool wait_ready);
  void PrintResults(Workload workload);
  void PrintSummary();
  void PrintRatio(const Ratio& ratio);
  bool Selected(System system) const;
  bool Measured(Workload workload, System system) const;

  const BenchOptions& options_;
  std::unique_ptr<BrokerProcess> broker_;  // when measuring switchboard
  // Per round, the figures of each system; nullopt where the round failed.
  std::map<Key, std::vector<std::optional<Figures>>> rounds_;
  std::map<Key, uint64_t> lost_;     // over all rounds, failed ones included
  std::map<Key, uint64_t> dropped_;  // of lost_, what the broker reported
  std::vector<std::string> problems_;
};

absl::StatusOr<ChildProcess> Coordinator::StartRole(
    absl::string_view role, std::vector<std::string> flags,
    std::vector<std::pair<int, int>> fds, bool wait_ready) {
  ChildProcess::Options start;
  start.name = absl::StrCat(role, " process");
  start.argv = {options_.self_path, absl::StrCat(kRoleFlag, role)};
  for (std::string& flag : flags) start.argv.push_back(std::move(flag));
  start.fds = std::move(fds);
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(start);
  if (!child.ok() || !wait_ready) return child;
  absl::StatusOr<std::string> line = child->ReadLine(kReadyTimeout);
  if (!line.ok()) return line.status();
  if (*line != "ready") {
    return absl::InternalError(
        absl::StrCat(child->name(), " said '", *line, "' instead of ready"));
  }
  return child;
}

absl::StatusOr<Fd> Coordinator::StartServers(
    Workload workload, System system, std::vector<ChildProcess>& servers) {
  std::string workload_flag =
      absl::StrCat("--workload=", WorkloadName(workload));
  std::string system_flag = absl::StrCat("--system=", SystemName(system));
  if (ThroughBroker(system)) {
    if (absl::Status s = broker_->CheckRunning(); !s.ok()) return s;
    absl::StatusOr<ChildProcess> server =
        StartRole(kRoleSwitchboardServer,
                  {system_flag, workload_flag,
                   absl::StrCat("--address=", broker_->address())},
                  {}, true);
    if (!server.ok()) return server.status();
    servers.push_back(*std::move(server));
    return Fd();
  }
  // The coordinator's copies of the children's ends close when this returns,
  // so that each process sees its peer's end close.
  absl::StatusOr<std::pair<Fd, Fd>> server_pair = SocketPair();
  if (!server_pair.ok()) return server_pair.status();
  absl::StatusOr<ChildProcess> server =
      StartRole(kRoleFloorServer, {system_flag, workload_flag},
                {{server_pair->second.get(), kSocketFd}}, true);
  if (!server.ok()) return server.status();
  servers.push_back(*std::move(server));
  if (system != System::kFloorRelay) return std::move(server_pair->first);
  absl::StatusOr<std::pair<Fd, Fd>> client_pair = SocketPair();
  if (!client_pair.ok()) return client_pair.status();
  absl::StatusOr<ChildProcess> relay =
      StartRole(kRoleFloorRelay, {},
                {{client_pair->second.get(), kSocketFd},
                 {server_pair->first.get(), kServerSideFd}},
                true);
  if (!relay.ok()) return relay.status();
  servers.push_back(*std::move(relay));
  return std::move(client_pair->first);
}

absl::Status Coordinator::NoteProblem(Workload workload, System system,
                                      int round, const absl::Status& status) {
  problems_.push_back(absl::StrCat(WorkloadName(workload), " round ", round,
                                   " of ", SystemName(system), ": ",
                                   status.ToString()));
  std::fprintf(stderr, "switchboard-bench: %s\n", problems_.back().c_str());
  return status.code() == absl::StatusCode::kCancelled ? status
                                                       : absl::OkStatus();
}

std::vector<std::string> Coordinator::MeasureFlags() const {
  return {absl::StrCat("--warmup=", absl::FormatDuration(options_.warmup)),
          absl::StrCat("--duration=", absl::FormatDuration(options_.duration)),
          absl::StrCat("--ops=", options_.ops),
          absl::StrCat("--rate=", options_.rate)};
}

absl::Duration Coordinator::ReportTimeout() const {
  return options_.ops > 0 ? absl::InfiniteDuration()
                          : options_.warmup + options_.duration + kReportSlack;
}

absl::StatusOr<ClientReport> Coordinator::RunCallRound(Workload workload,
                                                       System system,
                                                       int round) {
  // Declared before the client, so that on an early return the client is
  // killed first, then the servers.
  std::vector<ChildProcess> servers;
  absl::StatusOr<Fd> client_socket = StartServers(workload, system, servers);
  if (!client_socket.ok()) return client_socket.status();

  std::vector<std::string> flags = {
      absl::StrCat("--system=", SystemName(system)),
      absl::StrCat("--workload=", WorkloadName(workload))};
  for (std::string& flag : MeasureFlags()) flags.push_back(std::move(flag));
  if (ThroughBroker(system)) {
    flags.push_back(absl::StrCat("--address=", broker_->address()));
  }
  std::vector<std::pair<int, int>> fds;
  if (client_socket->valid()) fds.emplace_back(client_socket->get(), kSocketFd);
  absl::StatusOr<ChildProcess> client =
      StartRole(kRoleClient, std::move(flags), std::move(fds), false);
  if (!client.ok()) return client.status();
  client_socket->reset();  // the client's now, alone

  absl::StatusOr<std::string> bytes = client->ReadToEnd(ReportTimeout());
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<int> client_exit = client->Stop(kStopGrace);
  if (!client_exit.ok()) return client_exit.status();
  for (auto it = servers.rbegin(); it != servers.rend(); ++it) {
    absl::StatusOr<int> exit = it->Stop(kStopGrace);
    if (!exit.ok()) return exit.status();
    if (*exit != 0) {
      // Noted; the client's figures still stand.
      if (absl::Status s = NoteProblem(
              workload, system, round,
              absl::InternalError(absl::StrCat(
                  it->name(), " ended: ", DescribeWaitStatus(*exit))));
          !s.ok()) {
        return s;
      }
    }
  }
  absl::StatusOr<ClientReport> report = DecodeReport(*bytes);
  if (!report.ok()) {
    return absl::InternalError(
        absl::StrCat("client (", DescribeWaitStatus(*client_exit),
                     ") sent no report: ", report.status().message()));
  }
  if (!report->error.empty()) {
    report->error = absl::StrCat("client: ", report->error);
  }
  return report;
}

absl::StatusOr<ClientReport> Coordinator::RunTopicRound(Workload workload,
                                                        System system,
                                                        int round) {
  TopicRound topic_round;
  topic_round.workload = workload;
  topic_round.system = system;
  if (ThroughBroker(system)) {
    if (absl::Status s = broker_->CheckRunning(); !s.ok()) return s;
    topic_round.address_flag = absl::StrCat("--address=", broker_->address());
  }
  topic_round.measure_flags = MeasureFlags();
  topic_round.report_timeout = ReportTimeout();
  topic_round.stop_grace = kStopGrace;
  topic_round.start_role =
      [this](absl::string_view role, std::vector<std::string> flags,
             std::vector<std::pair<int, int>> fds, bool wait_ready) {
        return StartRole(role, std::move(flags), std::move(fds), wait_ready);
      };
  topic_round.note_problem = [this, workload, system,
                              round](const absl::Status& status) {
    NoteProblem(workload, system, round, status).IgnoreError();
  };
  return bench::RunTopicRound(topic_round);
}

absl::Status Coordinator::RunRound(Workload workload, System system,
                                   int round) {
  Key key{workload, system};
  rounds_[key].emplace_back();
  absl::StatusOr<ClientReport> report =
      IsTopicWorkload(workload) ? RunTopicRound(workload, system, round)
                                : RunCallRound(workload, system, round);
  if (!report.ok())
    return NoteProblem(workload, system, round, report.status());
  lost_[key] += report->lost;
  dropped_[key] += report->dropped;
  if (!report->error.empty()) {
    return NoteProblem(
        workload, system, round,
        absl::UnavailableError(absl::StrCat("stopped early: ", report->error)));
  }
  if (report->ops == 0) {
    return NoteProblem(workload, system, round,
                       absl::InternalError(IsTopicWorkload(workload)
                                               ? "no measured message arrived"
                                               : "no call succeeded"));
  }
  Figures figures = FiguresOf(*report, workload);
  rounds_[key].back() = figures;
  if (options_.verbose) {
    std::printf("round=%d %s%s\n", round,
                FormatFigures(system, workload, figures).c_str(),
                report->dropped > 0
                    ? absl::StrCat(" (", report->dropped,
                                   " reported dropped by the broker)")
                          .c_str()
                    : "");
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

bool Coordinator::Measured(Workload workload, System system) const {
  auto it = rounds_.find({workload, system});
  if (it == rounds_.end()) return false;
  for (const std::optional<Figures>& f : it->second) {
    if (f) return true;
  }
  return false;
}

bool Coordinator::Selected(System system) const {
  return std::find(options_.systems.begin(), options_.systems.end(), system) !=
         options_.systems.end();
}

void Coordinator::PrintResults(Workload workload) {
  for (System system : options_.systems) {
    if (!Measures(system, workload)) continue;
    if (!Measured(workload, system)) {
      std::printf("NO RESULT system=%s workload=%s: every round failed\n",
                  SystemName(system), WorkloadName(workload));
      continue;
    }
    std::vector<Figures> good;
    for (const std::optional<Figures>& f : rounds_[{workload, system}]) {
      if (f) good.push_back(*f);
    }
    Figures median = MedianOf(good);
    median.lost = lost_[{workload, system}];
    std::printf("RESULT %s\n", FormatFigures(system, workload, median).c_str());
  }
  std::fflush(stdout);
}

void Coordinator::PrintRatio(const Ratio& r) {
  const Workload workload = r.workload;
  const System numerator = r.numerator;
  const System denominator = r.denominator;
  double Figures::*figure = r.figure;
  std::string what =
      absl::StrFormat("  %s %s: %s / %s", WorkloadName(workload), r.figure_name,
                      SystemName(numerator), SystemName(denominator));
  if (!Measured(workload, numerator) || !Measured(workload, denominator)) {
    std::printf("%s: not measured in this run\n", what.c_str());
    return;
  }
  // The ratio of the medians, and the spread of the same ratio taken inside
  // each round, where both systems ran a few seconds apart.
  const auto& top = rounds_[{workload, numerator}];
  const auto& bottom = rounds_[{workload, denominator}];
  std::vector<double> tops, bottoms, per_round;
  for (size_t i = 0; i < top.size() && i < bottom.size(); ++i) {
    if (top[i]) tops.push_back((*top[i]).*figure);
    if (bottom[i]) bottoms.push_back((*bottom[i]).*figure);
    if (top[i] && bottom[i])
      per_round.push_back((*top[i]).*figure / (*bottom[i]).*figure);
  }
  double ratio = Median(tops) / Median(bottoms);
  std::string line = absl::StrCat(what, " = ", FormatRatio(ratio));
  if (r.has_target) {
    bool met = r.at_most ? ratio <= r.target : ratio >= r.target;
    absl::StrAppendFormat(&line, " (target %s %.1f: %s)",
                          r.at_most ? "<=" : ">=", r.target,
                          met ? "met" : "missed");
  }
  if (!per_round.empty()) {
    auto [low, high] = std::minmax_element(per_round.begin(), per_round.end());
    absl::StrAppend(&line, "; per round ", FormatRatio(*low), " to ",
                    FormatRatio(*high));
  }
  std::printf("%s\n", line.c_str());
}

void Coordinator::PrintSummary() {
  cpu_set_t cpus;
  int cpu_count =
      ::sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 0;
  std::string placement =
      options_.pin ? "pinned (--pin: every process on CPU 0)"
                   : absl::StrCat("not pinned (processes free to use ",
                                  cpu_count, " CPUs)");
  if (options_.rate > 0) {
    absl::StrAppend(&placement, ", topic publishers paced at ", options_.rate,
                    " msgs/s (--rate)");
  }
  std::printf("\nSummary: medians of %d rounds per system, %s.\n",
              static_cast<int>(options_.rounds), placement.c_str());
  for (const Ratio& ratio : kRatios) {
    // Only ratios of systems the user chose; a chosen one that got no
    // result says "not measured".
    if (std::find(options_.workloads.begin(), options_.workloads.end(),
                  ratio.workload) == options_.workloads.end() ||
        !Selected(ratio.numerator) || !Selected(ratio.denominator)) {
      continue;
    }
    PrintRatio(ratio);
  }
  for (const auto& [key, dropped] : dropped_) {
    if (dropped == 0) continue;
    std::printf(
        "  %s %s: lost=%llu, of which the broker reported %llu "
        "dropped (a subscriber fell a full queue behind)\n",
        WorkloadName(key.first), SystemName(key.second),
        static_cast<unsigned long long>(lost_[key]),
        static_cast<unsigned long long>(dropped));
  }
  if (options_.rounds < 5) {
    std::printf(
        "  Only %d rounds: medians of fewer than 5 rounds are fragile.\n",
        static_cast<int>(options_.rounds));
  }
  if (!problems_.empty()) {
    std::printf("  Problems (%zu):\n", problems_.size());
    for (const std::string& problem : problems_)
      std::printf("    %s\n", problem.c_str());
  }
  std::printf(
      "  Ratios compare systems measured in the same run; figures from "
      "different runs are not comparable on this shared machine.\n");
  std::fflush(stdout);
}

absl::Status Coordinator::Run() {
  if (options_.pin) {
    // Inherited by every process started from here on.
    if (absl::Status s = PinToCpuZero(); !s.ok()) return s;
  }
  if (std::any_of(options_.systems.begin(), options_.systems.end(),
                  ThroughBroker)) {
    absl::StatusOr<std::unique_ptr<BrokerProcess>> broker =
        BrokerProcess::Start(options_.broker_path);
    if (!broker.ok()) {
      return absl::Status(broker.status().code(),
                          absl::StrCat("starting ", options_.broker_path, ": ",
                                       broker.status().message()));
    }
    broker_ = *std::move(broker);
  }
  for (Workload workload : options_.workloads) {
    for (int round = 1; round <= options_.rounds; ++round) {
      std::fprintf(stderr, "switchboard-bench: %s round %d/%d\n",
                   WorkloadName(workload), round,
                   static_cast<int>(options_.rounds));
      for (System system : options_.systems) {
        if (!Measures(system, workload)) continue;
        if (absl::Status s = RunRound(workload, system, round); !s.ok())
          return s;
      }
    }
    PrintResults(workload);
  }
  if (broker_) {
    if (absl::Status s = broker_->Stop(); !s.ok()) {
      if (s.code() == absl::StatusCode::kCancelled) return s;
      problems_.push_back(std::string(s.message()));
    }
  }
  PrintSummary();
  int missing = 0;
  for (Workload workload : options_.workloads) {
    for (System system : options_.systems) {
      missing += Measures(system, workload) && !Measured(workload, system);
    }
  }
  if (missing > 0) {
    return absl::UnavailableError(
        absl::StrCat(missing, " system and workload pairs got no result"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunBench(const BenchOptions& options) {
  InstallInterruptHandler();
  Coordinator coordinator(options);
  return coordinator.Run();
}

}  // namespace switchboard::bench
