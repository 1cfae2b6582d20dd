// SPDX-License-Identifier: MIT
//
// The processes of a round besides the coordinator are the bench itself,
// re-executed with a hidden first argument --role=ROLE (a process with
// threads must not fork() and carry on, and a fresh exec gives every system
// the same clean start):
//
//   --role=floor-server --system=S --workload=W      socket on fd 3
//   --role=floor-relay                               client side on fd 3,
//                                                    server side on fd 4
//   --role=switchboard-server --system=S --workload=W --address=A
//   --role=client --system=S --workload=W --warmup=D (--duration=D | --ops=N)
//                 [--address=A]                      socket on fd 3 (floors)
//
// and for the topic workloads (pubsub, fanout):
//
//   --role=subscriber --system=S --workload=W [--address=A]
//                                                    socket on fd 3 (floors)
//   --role=topic-relay --workload=W                  publisher side on fd 3,
//                                                    subscriber sides on fds
//                                                    4 and up
//   --role=publisher --system=S --workload=W --warmup=D (--duration=D |
//                    --ops=N) [--address=A]          sockets on fds 3 and up
//                                                    (floors: one per
//                                                    subscriber for
//                                                    floor-direct, one to the
//                                                    relay for floor-relay)
//
// Servers, relays and subscribers print "ready" on stdout once they serve
// (a subscriber once it is subscribed); clients, publishers and subscribers
// write their ClientReport on stdout. See child_process.h for the pipes.
#ifndef SWITCHBOARD_BENCH_ROLES_H_
#define SWITCHBOARD_BENCH_ROLES_H_

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/fd.h"
#include "bench/workload.h"

namespace switchboard::bench {

inline constexpr absl::string_view kRoleFlag = "--role=";
inline constexpr absl::string_view kRoleFloorServer = "floor-server";
inline constexpr absl::string_view kRoleFloorRelay = "floor-relay";
inline constexpr absl::string_view kRoleSwitchboardServer =
    "switchboard-server";
inline constexpr absl::string_view kRoleClient = "client";
inline constexpr absl::string_view kRoleSubscriber = "subscriber";
inline constexpr absl::string_view kRoleTopicRelay = "topic-relay";
inline constexpr absl::string_view kRolePublisher = "publisher";

// Where a role finds the sockets the coordinator hands it.
inline constexpr int kSocketFd = 3;
inline constexpr int kServerSideFd = 4;  // the relay's second socket

// How many sockets the floors' publisher of `workload` gets, on fds
// kSocketFd and up: one per subscriber for floor-direct, one to the relay
// for floor-relay.
int PublisherSocketCount(System system, Workload workload);

// A connected AF_UNIX stream socket pair (close-on-exec), for the
// coordinator to hand the ends to two processes of a floor. Errors from
// socketpair() as ErrnoToStatus.
absl::StatusOr<std::pair<Fd, Fd>> SocketPair();

// True if argv[1] starts with --role=.
bool IsRoleInvocation(int argc, char** argv);

// Runs the role argv names; returns the process's exit code: 0 done, 1
// failed (said why on stderr), 2 bad arguments.
int RunRole(int argc, char** argv);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_ROLES_H_
