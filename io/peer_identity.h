// SPDX-License-Identifier: MIT
//
// PeerIdentity: who is at the other end of a Unix socket, as the kernel
// vouches for it, taken once when the broker accepts the connection:
//
// - uid, gid (SO_PEERCRED) and supplementary groups (SO_PEERGROUPS), as of
//   the peer's connect();
// - the process: its pid, and its start time (/proc/PID/stat, in clock
//   ticks since boot), which together name one process for good: a pid the
//   kernel hands out again belongs to a process that started later. Where
//   the kernel has SO_PEERPIDFD (Linux 6.5), the lookups go through a pidfd
//   of the peer, so they read that very process or fail; elsewhere the
//   start time is read before and after the other lookups and must agree,
//   and must not be later than the lookup itself;
// - its executable (/proc/PID/exe) and its systemd unit (the last
//   "*.service" or "*.scope" component of /proc/PID/cgroup), if readable.
//
// A process that is gone before the lookups finish, or another user's
// process whose /proc entries this process may not read, keeps its kernel
// credentials (uid, gid, groups, pid) and has `process_verified` false:
// its pid, executable and unit are then not to be trusted for decisions.
#ifndef SWITCHBOARD_IO_PEER_IDENTITY_H_
#define SWITCHBOARD_IO_PEER_IDENTITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace switchboard::io {

struct PeerIdentity {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // supplementary groups, as the kernel lists
  uint32_t pid = 0;
  // /proc/PID/stat's starttime: with `pid`, names the process for good.
  uint64_t start_time = 0;
  std::string executable;  // "" if unreadable
  std::string unit;        // "" if not in a systemd unit or unreadable
  // start_time, executable and unit are the peer's own, read while it lived
  // (see above).
  bool process_verified = false;
  // The lookups went through a pidfd (SO_PEERPIDFD).
  bool through_pidfd = false;
};

// Errors: SO_PEERCRED's or SO_PEERGROUPS's failure as ErrnoToStatus (e.g.
// on a TCP socket). The process lookups never fail the call: what cannot be
// read stays empty and `process_verified` false.
absl::StatusOr<PeerIdentity> IdentifyPeer(int fd);

// The parts of the lookups, for tests and for callers that know a pid some
// other way (a TCP peer found through the kernel's socket tables).
// /proc/PID/stat's starttime; 0 if the process is gone or unreadable.
uint64_t ProcessStartTime(uint32_t pid);
// The systemd unit in a /proc/PID/cgroup text: the last path component
// that ends in ".service" or ".scope" ("" if none), of the cgroup v2 line
// ("0::/...") or else the name=systemd line.
std::string UnitFromCgroup(const std::string& cgroup);

}  // namespace switchboard::io

#endif  // SWITCHBOARD_IO_PEER_IDENTITY_H_
