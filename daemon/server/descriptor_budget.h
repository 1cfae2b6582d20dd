// SPDX-License-Identifier: MIT
//
// DescriptorBudget: how the broker shares out its descriptor table
// (RLIMIT_NOFILE) among what clients can make it hold, so that no client,
// and no crowd of clients of one user, can fill it.
//
// The table is split three ways (docs/ARCHITECTURE.md, "Descriptors"):
//   - a reserve the broker keeps for itself: its listeners, epoll, timers,
//     signals, the launcher and systemd's bus (kInternalReserve), plus room
//     for two full receives (2 x io::kMaxFdsPerMessage), so a recvmsg()
//     never finds the table full and loses a client's descriptors
//     (MSG_CTRUNC);
//   - connections: three quarters of the rest;
//   - descriptors in flight (buffers received and not yet passed on): the
//     last quarter, of which one receiver may hold a quarter (at most
//     1024), so a few stalled receivers cannot take it all.
// Of the connections, one uid may hold seven eighths, so other users can
// always connect; connections that have not said HELLO yet are capped per
// uid (Unix) and per source address (TCP) much lower, so peers that prove
// nothing cannot crowd out those that do.
#ifndef SWITCHBOARD_DAEMON_SERVER_DESCRIPTOR_BUDGET_H_
#define SWITCHBOARD_DAEMON_SERVER_DESCRIPTOR_BUDGET_H_

#include <cstddef>
#include <string>

namespace switchboard::server {

struct DescriptorBudget {
  // Descriptors the broker kept for itself (see the file comment).
  static constexpr size_t kInternalReserve = 64;

  size_t table = 0;    // the soft RLIMIT_NOFILE the budget was sized from
  size_t reserve = 0;  // kept for the broker and for receiving
  size_t max_connections = 0;
  size_t max_connections_per_uid = 0;
  // Connections still in the handshake, per uid (Unix) or per source
  // address (TCP); a new one beyond it pushes out the oldest.
  size_t max_unauthenticated = 0;
  // Descriptors in flight for all connections together, and for one.
  size_t max_fds_in_flight = 0;
  size_t max_fds_in_flight_per_receiver = 0;

  // The defaults for a table of `table` descriptors.
  static DescriptorBudget ForTable(size_t table);
};

// Raises the soft RLIMIT_NOFILE to the hard limit, as a service that holds
// a descriptor per client should (systemd leaves the soft limit at 1024 for
// select()'s sake; the broker uses epoll). Returns the soft limit in force
// afterwards; `note` gets a line for the log if raising failed.
size_t RaiseDescriptorLimit(std::string* note);

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_DESCRIPTOR_BUDGET_H_
