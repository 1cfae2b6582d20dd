// SPDX-License-Identifier: MIT
//
// ReconnectBackoff: how long the client waits between attempts to reach the
// broker again (ReconnectOptions). The first attempt is immediate; then each
// wait doubles from first_delay up to max_delay, and a random part of up to
// half of it is taken off, so that the clients of a restarted broker spread
// out. It also says when to give up. Used by the dispatch thread only.
#ifndef SWITCHBOARD_CLIENT_SRC_RECONNECT_BACKOFF_H_
#define SWITCHBOARD_CLIENT_SRC_RECONNECT_BACKOFF_H_

#include <cstdint>

#include "absl/time/time.h"
#include "switchboard/client.h"

namespace switchboard::client {

class ReconnectBackoff {
 public:
  // Returns a value in [0, 1).
  using Random = double (*)();
  // `random` null: draws from a generator seeded per thread.
  explicit ReconnectBackoff(const ReconnectOptions& options,
                            Random random = nullptr);

  // The connection broke at `now`: starts counting attempts.
  void Start(absl::Time now);
  // An attempt failed at `now`; returns when to make the next one, or
  // absl::InfiniteFuture() when give_up_after has passed.
  absl::Time Failed(absl::Time now);
  // Attempts that failed since Start().
  int attempts() const { return attempts_; }
  // When the connection broke.
  absl::Time since() const { return since_; }

 private:
  const ReconnectOptions options_;
  Random random_;
  absl::Time since_ = absl::InfinitePast();
  absl::Duration next_delay_;
  int attempts_ = 0;
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_RECONNECT_BACKOFF_H_
