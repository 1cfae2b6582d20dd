// SPDX-License-Identifier: MIT
//
// Prints video events and remembers the clips announced (clip_events.h).
#include "clip_events.h"

#include <cstdio>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "clip.h"
#include "video_service.h"

namespace switchboard::examples::video {
namespace {

bool SameClip(const ClipLoaded& a, const ClipLoaded& b) {
  return a.name() == b.name() && a.frame_count() == b.frame_count() &&
         a.width() == b.width() && a.height() == b.height() &&
         a.fps() == b.fps();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClipEvents>> ClipEvents::Subscribe(
    Client& client) {
  std::unique_ptr<ClipEvents> events(new ClipEvents());
  SubscribeOptions options;
  options.on_drop = [](const DropReport& report) {
    absl::PrintF("slideshow: the broker dropped %d video events (%s)\n",
                 report.count, report.reason);
    std::fflush(stdout);
  };
  ClipEvents* raw = events.get();
  absl::StatusOr<Subscription> subscription = client.Subscribe(
      kVideoEventsPattern, [raw](const Message& m) { raw->OnMessage(m); },
      options);
  if (!subscription.ok()) return subscription.status();
  events->subscription_ = *std::move(subscription);
  return events;
}

void ClipEvents::OnMessage(const Message& message) {
  if (message.topic != kClipLoadedTopic) {
    absl::PrintF("slideshow: event on %s from :%d: %d bytes of %s\n",
                 message.topic, message.sender, message.payload.size(),
                 message.message_type.empty() ? "an unnamed type"
                                              : message.message_type);
    std::fflush(stdout);
    return;
  }
  absl::StatusOr<ClipLoaded> clip = message.As<ClipLoaded>();
  if (!clip.ok()) {
    absl::PrintF("slideshow: event on %s from :%d: %s\n", message.topic,
                 message.sender, clip.status().message());
    std::fflush(stdout);
    return;
  }
  absl::PrintF("slideshow: event on %s from :%d: %s\n", message.topic,
               message.sender, DescribeClip(*clip));
  std::fflush(stdout);
  absl::MutexLock lock(&mutex_);
  clips_.push_back(*std::move(clip));
}

bool ClipEvents::WaitForClip(const ClipLoaded& clip, absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  const auto seen = [this, &clip]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    for (const ClipLoaded& c : clips_) {
      if (SameClip(c, clip)) return true;
    }
    return false;
  };
  return mutex_.AwaitWithTimeout(absl::Condition(&seen), timeout);
}

int64_t ClipEvents::clips_seen() const {
  absl::MutexLock lock(&mutex_);
  return static_cast<int64_t>(clips_.size());
}

}  // namespace switchboard::examples::video
