// SPDX-License-Identifier: MIT
#include "daemon/server/log_limiter.h"

#include <utility>

namespace switchboard::server {

bool LogLimiter::Allow(absl::Time now, uint64_t& held_back) {
  if (now - interval_start_ >= interval_) {
    interval_start_ = now;
    lines_this_interval_ = 0;
  }
  if (lines_this_interval_ >= lines_per_interval_) {
    ++held_back_;
    ++total_held_back_;
    return false;
  }
  ++lines_this_interval_;
  held_back = std::exchange(held_back_, 0);
  return true;
}

}  // namespace switchboard::server
