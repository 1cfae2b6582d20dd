// SPDX-License-Identifier: MIT
#include "client/src/connection_link.h"

#include "absl/strings/str_cat.h"

namespace switchboard::client {

ConnectionLink::ConnectionLink(const ReconnectOptions& options,
                               ReconnectBackoff::Random random)
    : enabled_(options.enabled), backoff_(options, random) {}

std::optional<ConnectionState> ConnectionLink::Break(const absl::Status& status,
                                                     absl::Time now) {
  if (state_ == State::kClosed) return std::nullopt;
  const bool refused =
      closed_by_broker_ && status.code() != absl::StatusCode::kUnavailable;
  if (!enabled_ || refused || status.code() == absl::StatusCode::kCancelled) {
    state_ = State::kClosed;
    return ConnectionState::kClosed;
  }
  std::optional<ConnectionState> report;
  if (state_ == State::kUp) {
    report = ConnectionState::kDisconnected;
    down_since_ = now;
  }
  state_ = State::kDown;
  next_attempt_ = now;  // the first attempt is immediate
  return report;
}

void ConnectionLink::StartAttempt() {
  if (backoff_.since() != down_since_) backoff_.Start(down_since_);
}

ConnectionState ConnectionLink::AttemptFailed(absl::Time now,
                                              const absl::Status& error,
                                              const std::string& address,
                                              absl::Status& gave_up) {
  next_attempt_ = backoff_.Failed(now);
  if (next_attempt_ != absl::InfiniteFuture()) {
    return ConnectionState::kReconnecting;
  }
  state_ = State::kClosed;
  gave_up = absl::UnavailableError(absl::StrCat(
      "gave up reconnecting to the broker at ", address, " after ",
      backoff_.attempts(), " attempts in ",
      absl::FormatDuration(absl::Trunc(now - down_since_, absl::Seconds(1))),
      ": ", error.message()));
  return ConnectionState::kClosed;
}

void ConnectionLink::Adopted() {
  closed_by_broker_ = false;
  state_ = State::kRestoring;
}

void ConnectionLink::RestoreFailed(absl::Time now) {
  if (state_ != State::kDown) return;
  next_attempt_ = backoff_.Failed(now);
  // Past give_up_after: one more attempt, at once, which gives up if it
  // fails too.
  if (next_attempt_ == absl::InfiniteFuture()) next_attempt_ = now;
}

int ConnectionLink::Restored() {
  state_ = State::kUp;
  const int attempts = backoff_.attempts() + 1;
  backoff_.Start(absl::InfinitePast());  // the next break starts over
  return attempts;
}

}  // namespace switchboard::client
