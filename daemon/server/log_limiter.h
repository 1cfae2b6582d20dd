// SPDX-License-Identifier: MIT
//
// LogLimiter: lets at most a few lines of one kind into the log per
// interval, and says how many it held back with the next line it lets
// through. For lines a peer can cause without proving anything (a
// connection that never says HELLO): such peers must not be able to flood
// the log.
#ifndef SWITCHBOARD_DAEMON_SERVER_LOG_LIMITER_H_
#define SWITCHBOARD_DAEMON_SERVER_LOG_LIMITER_H_

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"

namespace switchboard::server {

class LogLimiter {
 public:
  LogLimiter(size_t lines_per_interval, absl::Duration interval)
      : lines_per_interval_(lines_per_interval), interval_(interval) {}

  // Whether a line may be logged at `now`. If so, `held_back` is set to
  // the lines refused since the last one allowed (to mention in it).
  bool Allow(absl::Time now, uint64_t& held_back);

  // Lines refused in all.
  uint64_t total_held_back() const { return total_held_back_; }

 private:
  const size_t lines_per_interval_;
  const absl::Duration interval_;
  absl::Time interval_start_ = absl::InfinitePast();
  size_t lines_this_interval_ = 0;
  uint64_t held_back_ = 0;
  uint64_t total_held_back_ = 0;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_LOG_LIMITER_H_
