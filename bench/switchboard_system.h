// SPDX-License-Identifier: MIT
//
// The switchboard systems: a server and a client that talk through a running
// switchboardd using only the public client library, as applications do.
// The server answers without copying (the rtt echo shares the received
// request; a big frame is one of a pool rendered at start-up, shared by every
// reply that uses it); the client makes synchronous Client::Call()s. In
// switchboard the big frame travels inline, as payload bytes; in
// switchboard-memfd the pool is four SharedBuffers sealed kSizeOnly and each
// reply attaches one as buffer 0, which travels as a memfd.
#ifndef SWITCHBOARD_BENCH_SWITCHBOARD_SYSTEM_H_
#define SWITCHBOARD_BENCH_SWITCHBOARD_SYSTEM_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/measure.h"
#include "bench/workload.h"

namespace switchboard::bench {

// Connects `system`'s caller for `workload`'s service at the broker
// `address`. Errors: those of Client::Connect().
absl::StatusOr<std::unique_ptr<Caller>> ConnectSwitchboardCaller(
    absl::string_view address, System system, Workload workload);

// Role "switchboard-server": connects to `address`, serves `workload`'s
// service the way `system` (switchboard or switchboard-memfd) answers,
// prints "ready", and serves until its stdin closes. Returns the exit code.
int RunSwitchboardServer(System system, Workload workload,
                         absl::string_view address);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_SWITCHBOARD_SYSTEM_H_
