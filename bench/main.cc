// SPDX-License-Identifier: MIT
//
// switchboard-bench: measures workloads through Switchboard and through the
// raw-socket floors in the same run (see bench/README.md). main() parses the
// flags and hands over to the coordinator, or, when re-executed with a hidden
// --role=, to that role.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/flags.h"
#include "bench/broker.h"
#include "bench/coordinator.h"
#include "bench/roles.h"
#include "bench/workload.h"

namespace switchboard::bench {
namespace {

constexpr int kMinRounds = 5;

absl::StatusOr<std::string> SelfPath() {
  char path[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n < 0) return absl::ErrnoToStatus(errno, "readlink /proc/self/exe");
  return std::string(path, static_cast<size_t>(n));
}

// Parses a comma-separated list with `parse`. Errors: kInvalidArgument
// naming the unknown entry and the choices.
template <typename T, typename Parse>
absl::StatusOr<std::vector<T>> ParseList(absl::string_view flag,
                                         absl::string_view text, Parse parse,
                                         absl::string_view choices) {
  std::vector<T> values;
  for (absl::string_view name : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::optional<T> value = parse(name);
    if (!value) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, ": unknown '", name, "' (choose from ", choices, ")"));
    }
    if (std::find(values.begin(), values.end(), *value) == values.end()) {
      values.push_back(*value);
    }
  }
  if (values.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " is empty (choose from ", choices, ")"));
  }
  return values;
}

int Main(int argc, char** argv) {
  std::string workloads = "rtt,bigframe,pubsub,fanout";
  std::string systems =
      "floor-direct,floor-relay,floor-memfd,switchboard,switchboard-memfd";
  std::string broker;
  BenchOptions options;
  FlagParser flags("switchboard-bench",
                   "Measures Switchboard against raw Unix-socket floors in "
                   "the same run, in alternating rounds, and prints one RESULT "
                   "line per system and workload (medians over rounds).");
  flags.AddString("workload", &workloads, "LIST",
                  "Comma-separated workloads: rtt (64-byte call and reply, one "
                  "at a time), bigframe (small call, 33,177,600-byte reply), "
                  "pubsub (64-byte messages, one publisher, one subscriber, "
                  "flat out unless --rate), fanout (256-byte messages, one "
                  "publisher, 8 subscriber processes, likewise).");
  flags.AddString("systems", &systems, "LIST",
                  "Comma-separated systems, run in this order each round: "
                  "floor-direct, floor-relay, floor-memfd, switchboard, "
                  "switchboard-memfd. The memfd systems (big replies as "
                  "sealed memfds) run only the bigframe workload.");
  flags.AddInt("rounds", &options.rounds, "N",
               "Rounds per workload; each round runs every system once. "
               "Fewer than 5 is allowed, with a warning.");
  flags.AddDuration("duration", &options.duration,
                    "Measured time per round per system (pubsub, fanout: "
                    "how long the publisher publishes measured messages).");
  flags.AddInt("ops", &options.ops, "N",
               "Measured calls (pubsub, fanout: published messages) per round "
               "per system; overrides --duration when > 0.");
  flags.AddInt("rate", &options.rate, "N",
               "pubsub, fanout: the publisher publishes N messages a second "
               "(in bursts of what came due while it slept) instead of flat "
               "out, to see whether subscribers that keep up lose anything. "
               "0: flat out.");
  flags.AddDuration("warmup", &options.warmup,
                    "Unrecorded calls (messages) before each measurement.");
  flags.AddBool("pin", &options.pin,
                "Run every process on CPU 0 (sched_setaffinity), the "
                "steadier single-CPU view.");
  flags.AddString("broker", &broker, "PATH",
                  "The switchboardd to measure. Default: the one beside this "
                  "program (../daemon/switchboardd in the build tree, or "
                  "./switchboardd).");
  flags.AddBool("verbose", &options.verbose,
                "Also print every round's figures.");
  flags.set_epilogue(
      "Output: RESULT lines, then the ratios to the floors. Ratios only mean\n"
      "something inside one run: the machine is shared and noisy.\n");
  std::vector<std::string> args = flags.ParseOrExit(argc, argv);

  auto usage_error = [](const absl::Status& status) {
    std::fprintf(
        stderr,
        "switchboard-bench: %s\nRun 'switchboard-bench --help' for usage.\n",
        std::string(status.message()).c_str());
    return 2;
  };
  if (!args.empty()) {
    return usage_error(absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", args[0], "'")));
  }
  absl::StatusOr<std::vector<Workload>> parsed_workloads = ParseList<Workload>(
      "workload", workloads, ParseWorkload, "rtt, bigframe, pubsub, fanout");
  if (!parsed_workloads.ok()) return usage_error(parsed_workloads.status());
  options.workloads = *parsed_workloads;
  absl::StatusOr<std::vector<System>> parsed_systems =
      ParseList<System>("systems", systems, ParseSystem,
                        "floor-direct, floor-relay, floor-memfd, "
                        "switchboard, switchboard-memfd");
  if (!parsed_systems.ok()) return usage_error(parsed_systems.status());
  options.systems = *parsed_systems;
  if (options.rounds < 1) {
    return usage_error(
        absl::InvalidArgumentError("--rounds must be at least 1"));
  }
  if (options.rounds < kMinRounds) {
    std::fprintf(stderr,
                 "switchboard-bench: warning: --rounds=%d; medians need at "
                 "least %d rounds to resist a noisy machine\n",
                 static_cast<int>(options.rounds), kMinRounds);
  }
  if (options.ops < 0) {
    return usage_error(
        absl::InvalidArgumentError("--ops must not be negative"));
  }
  if (options.rate < 0) {
    return usage_error(
        absl::InvalidArgumentError("--rate must not be negative"));
  }
  absl::StatusOr<std::string> self = SelfPath();
  if (!self.ok()) {
    std::fprintf(stderr, "switchboard-bench: %s\n",
                 self.status().ToString().c_str());
    return 1;
  }
  options.self_path = *self;
  if (std::any_of(options.systems.begin(), options.systems.end(),
                  ThroughBroker)) {
    absl::StatusOr<std::string> path = FindBroker(broker, options.self_path);
    if (!path.ok()) return usage_error(path.status());
    options.broker_path = *path;
  }

  absl::Status status = RunBench(options);
  if (status.code() == absl::StatusCode::kCancelled) return 130;
  if (!status.ok()) {
    std::fprintf(stderr, "switchboard-bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace switchboard::bench

int main(int argc, char** argv) {
  if (switchboard::bench::IsRoleInvocation(argc, argv)) {
    return switchboard::bench::RunRole(argc, argv);
  }
  return switchboard::bench::Main(argc, argv);
}
