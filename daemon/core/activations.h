// SPDX-License-Identifier: MIT
//
// Activations: which names the broker can start a program for (from the
// activation files, docs/ARCHITECTURE.md "Activation"), and for each name
// being started, the calls held until its program claims the name. It
// decides only: it holds and releases calls, bounds them, and keeps the
// deadlines (each held call's own, and the activation's timeout). Starting
// the program, and learning that it failed, are the server's part; the
// router connects the two. No I/O and no clock: times are passed in.
//
// One name has at most one activation under way. It ends when the name is
// claimed (TakeClaimed), when the server reports that this attempt failed
// (Fail), or when its timeout passes (ExpireActivations); either way the
// name is free to be activated again by the next call, so a failure never
// sticks.
#ifndef SWITCHBOARD_DAEMON_CORE_ACTIVATIONS_H_
#define SWITCHBOARD_DAEMON_CORE_ACTIVATIONS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemon/core/ids.h"
#include "daemon/core/peer.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame.h"

namespace switchboard::core {

// What an activation file says: the name and how to start its program,
// either `command` (argv, run by the broker) or `systemd_unit`.
struct ActivatableService {
  std::string name;
  std::vector<std::string> command;
  std::string systemd_unit;
  // Where it was read from, for logs and ListNames.
  std::string file;

  bool operator==(const ActivatableService& other) const {
    return name == other.name && command == other.command &&
           systemd_unit == other.systemd_unit && file == other.file;
  }
  bool operator!=(const ActivatableService& other) const {
    return !(*this == other);
  }
  // "/usr/bin/video-server --flag" or "unit video-server.service".
  std::string Describe() const;
};

// A CALL waiting for its service's program to claim the name.
struct HeldCall {
  Peer from;
  RequestId caller_request_id;
  absl::Time deadline;
  v1::Call call;      // the frame's parsed header
  wire::Frame frame;  // the CALL as it arrived
  // CREDIT frames the caller sent for it (a stream) while it was held,
  // passed on once the call is.
  std::vector<wire::Frame> credits;
  // A switchboard.Broker/StartService call for the name: answered by the
  // broker once the name is claimed, never forwarded.
  bool start_only = false;
};

struct ActivationLimits {
  // Calls held for one name at most (--max-activation-queue).
  size_t max_held_calls = 256;
  // Bytes of frames held for one name at most (the router sets it to
  // --max-queued-bytes); one call is always held when none is.
  size_t max_held_bytes = size_t{256} << 20;
  // How long a started program has to claim its name
  // (--activation-timeout).
  absl::Duration timeout = absl::Seconds(25);
};

class Activations {
 public:
  explicit Activations(const ActivationLimits& limits) : limits_(limits) {}
  Activations(const Activations&) = delete;
  Activations& operator=(const Activations&) = delete;

  // Replaces the activatable services (at start, and when the files are
  // read again). An activation under way keeps the service it started
  // with, even if its file is gone or changed.
  void SetServices(std::vector<ActivatableService> services);
  // The activatable service called `name`, or nullptr.
  const ActivatableService* Find(absl::string_view name) const;
  // Every activatable service, by name.
  const std::map<std::string, ActivatableService, std::less<>>& services()
      const {
    return services_;
  }

  // Holds `call` until `service`'s name is claimed. Returns the attempt's
  // number when this call begins a new activation: the caller must start
  // the program now, and report a failure with Fail(name, attempt). Returns
  // nullopt when an activation of the name is already under way.
  // Errors: kResourceExhausted when limits().max_held_calls calls, or with
  // this one more than limits().max_held_bytes, would wait for the name
  // (the call is not held).
  absl::StatusOr<std::optional<uint64_t>> Hold(
      const ActivatableService& service, HeldCall call, absl::Time now);

  // `name` got an owner: its activation, if one is under way, ends, and its
  // held calls are returned in the order they arrived.
  std::vector<HeldCall> TakeClaimed(absl::string_view name);

  // An activation that ended without its name being claimed.
  struct Failure {
    ActivatableService service;
    std::vector<HeldCall> calls;  // in arrival order
  };
  // Attempt `attempt` of `name` failed (its program exited, or could not be
  // started). nullopt when that attempt is no longer under way: claimed,
  // timed out, or superseded by a later one.
  std::optional<Failure> Fail(absl::string_view name, uint64_t attempt);

  // Removes and returns every held call whose deadline is at or before
  // `now`, earliest first.
  std::vector<HeldCall> ExpireCalls(absl::Time now);
  // Ends and returns every activation whose timeout is at or before `now`.
  std::vector<Failure> ExpireActivations(absl::Time now);
  // The earliest held call's deadline or activation timeout, if any. Scans
  // the held calls: there are at most max_held_calls per activatable name,
  // and none at all in the usual state.
  std::optional<absl::Time> NextDeadline() const;

  // Whether `caller` has a call with its own id `id` held.
  bool IsHeld(SessionId caller, RequestId id) const;
  // The held call `caller` made with its own id `id`, or nullptr; valid
  // until the table next changes.
  HeldCall* FindForCaller(SessionId caller, RequestId id);
  // The held call `caller` made with its own id `id`, removed.
  std::optional<HeldCall> TakeForCancel(SessionId caller, RequestId id);
  // Drops every call `session` made (it is gone; nobody needs an answer).
  // Activations go on: the program is started already.
  void ForgetSession(SessionId session);
  // Ends every activation and returns all held calls (shutdown).
  std::vector<HeldCall> TakeAll();

  // Whether an activation of `name` is under way, and how many calls it
  // holds.
  bool Activating(absl::string_view name) const;
  size_t HeldFor(absl::string_view name) const;
  size_t held_calls() const;
  const ActivationLimits& limits() const { return limits_; }

 private:
  struct Activation {
    ActivatableService service;
    uint64_t attempt = 0;
    absl::Time timeout_at;
    std::deque<HeldCall> calls;  // in arrival order
    size_t bytes = 0;            // of the frames in `calls`
  };

  ActivationLimits limits_;
  std::map<std::string, ActivatableService, std::less<>> services_;
  absl::flat_hash_map<std::string, Activation> under_way_;
  uint64_t next_attempt_ = 1;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_ACTIVATIONS_H_
