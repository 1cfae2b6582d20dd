// SPDX-License-Identifier: MIT
#include "client/src/reconnect_backoff.h"

#include <algorithm>
#include <random>

namespace switchboard::client {
namespace {

double DefaultRandom() {
  thread_local std::minstd_rand engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace

ReconnectBackoff::ReconnectBackoff(const ReconnectOptions& options,
                                   Random random)
    : options_(options),
      random_(random != nullptr ? random : DefaultRandom),
      next_delay_(options.first_delay) {}

void ReconnectBackoff::Start(absl::Time now) {
  since_ = now;
  attempts_ = 0;
  next_delay_ = std::max(options_.first_delay, absl::ZeroDuration());
}

absl::Time ReconnectBackoff::Failed(absl::Time now) {
  ++attempts_;
  if (now - since_ >= options_.give_up_after) return absl::InfiniteFuture();
  const absl::Duration cap = std::max(options_.max_delay, absl::ZeroDuration());
  const absl::Duration delay = std::min(next_delay_, cap);
  next_delay_ = std::min(next_delay_ * 2, cap);
  const double keep = 1.0 - 0.5 * std::clamp(random_(), 0.0, 1.0);
  absl::Time next = now + delay * keep;
  // Never wait past the moment of giving up: the last attempt is made then.
  if (options_.give_up_after != absl::InfiniteDuration()) {
    next = std::min(next, since_ + options_.give_up_after);
  }
  return next;
}

}  // namespace switchboard::client
