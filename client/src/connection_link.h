// SPDX-License-Identifier: MIT
//
// ConnectionLink: the state of a client's connection across breaks and
// reconnects, and the decisions that move it (client_impl.h,
// "Reconnecting"):
//
//   kUp ──break──▶ kDown ──connected again──▶ kRestoring ──restored──▶ kUp
//                   ▲  │ attempt failed: wait            │ broke again
//                   │  └─ as ReconnectBackoff says ◀─────┘
//   any ──close, reconnect off, refused, gave up──▶ kClosed (for good)
//
// It says what to report (ConnectionState) and when the next attempt is
// due; the client does the I/O. Not thread-safe: the client keeps it under
// its mutex.
#ifndef SWITCHBOARD_CLIENT_SRC_CONNECTION_LINK_H_
#define SWITCHBOARD_CLIENT_SRC_CONNECTION_LINK_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/src/reconnect_backoff.h"
#include "switchboard/client.h"

namespace switchboard::client {

class ConnectionLink {
 public:
  enum class State { kUp, kDown, kRestoring, kClosed };

  // `random`: ReconnectBackoff's (null: a generator seeded per thread).
  explicit ConnectionLink(const ReconnectOptions& options,
                          ReconnectBackoff::Random random = nullptr);

  State state() const { return state_; }
  bool up() const { return state_ == State::kUp; }
  bool closed() const { return state_ == State::kClosed; }
  // Down or restoring: requests wait for the link to settle.
  bool reconnecting() const {
    return state_ == State::kDown || state_ == State::kRestoring;
  }

  // The broker ended the current connection with an ERROR frame. Unless
  // its code is UNAVAILABLE (a broker going away), that was on purpose (a
  // limit, a policy, a protocol error) and the connection is not reopened.
  void ClosedByBroker() { closed_by_broker_ = true; }

  // The current connection broke with `status` at `now`. Goes down, with
  // the first attempt due at once, or closes for good: reconnect is off,
  // the broker refused the client, or `status` is CANCELLED (the client
  // closes). Returns what to report: kDisconnected when it
  // was up and goes down, kClosed when it closes, nothing otherwise
  // (already down, restoring, or closed).
  std::optional<ConnectionState> Break(const absl::Status& status,
                                       absl::Time now);
  // Closes for good without a report (the client is being destroyed, or
  // cannot reconnect).
  void Close() { state_ = State::kClosed; }

  // Whether an attempt is due at `now` (only while down).
  bool AttemptDue(absl::Time now) const {
    return state_ == State::kDown && now >= next_attempt_;
  }
  // When the next attempt is due; absl::InfiniteFuture() unless down.
  absl::Time next_attempt() const {
    return state_ == State::kDown ? next_attempt_ : absl::InfiniteFuture();
  }
  // An attempt is starting: the backoff counts from the break.
  void StartAttempt();
  // The attempt failed at `now` with `error`. Returns kReconnecting with
  // the next attempt scheduled, or kClosed when give_up_after has passed;
  // then `gave_up` says so.
  ConnectionState AttemptFailed(absl::Time now, const absl::Status& error,
                                const std::string& address,
                                absl::Status& gave_up);
  // Attempts that failed since the break.
  int attempts() const { return backoff_.attempts(); }

  // A new connection is in place: restoring what the client had.
  void Adopted();
  // The new connection broke while restoring (Break() took the link down):
  // that counts as a failed attempt, so that a broker that accepts and
  // fails at once is not hammered.
  void RestoreFailed(absl::Time now);
  // Restored: up again. Returns the attempts it took, counting this one.
  int Restored();

 private:
  State state_ = State::kUp;
  const bool enabled_;
  bool closed_by_broker_ = false;
  absl::Time down_since_ = absl::InfinitePast();  // the last break while up
  absl::Time next_attempt_ = absl::InfiniteFuture();
  ReconnectBackoff backoff_;
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_CONNECTION_LINK_H_
