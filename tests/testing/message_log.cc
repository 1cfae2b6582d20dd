// SPDX-License-Identifier: MIT
#include "tests/testing/message_log.h"

#include <utility>

#include "tests/testing/wait_for.h"

namespace switchboard::testing {

MessageCallback MessageLog::OnMessage() {
  return [this](const Message& message) {
    bool hold = false;
    {
      absl::MutexLock lock(&mu_);
      Entry entry;
      entry.message = message;
      entries_.push_back(std::move(entry));
      ++messages_;
      hold = hold_first_ && messages_ == 1;
      holding_ = hold;
    }
    if (!hold) return;
    released_.WaitForNotificationWithTimeout(absl::Seconds(60));
    absl::MutexLock lock(&mu_);
    holding_ = false;
  };
}

DropCallback MessageLog::OnDrop() {
  return [this](const DropReport& report) {
    absl::MutexLock lock(&mu_);
    Entry entry;
    entry.dropped = true;
    entry.drop = report;
    entries_.push_back(std::move(entry));
    dropped_ += report.count;
  };
}

SubscribeOptions MessageLog::Options(uint32_t max_messages,
                                     OverflowPolicy policy,
                                     uint64_t max_bytes) {
  SubscribeOptions options;
  options.max_messages = max_messages;
  options.max_bytes = max_bytes;
  options.policy = policy;
  options.on_drop = OnDrop();
  return options;
}

void MessageLog::Release() {
  if (!released_.HasBeenNotified()) released_.Notify();
}

bool MessageLog::holding() const {
  absl::MutexLock lock(&mu_);
  return holding_;
}

size_t MessageLog::message_count() const {
  absl::MutexLock lock(&mu_);
  return messages_;
}

uint64_t MessageLog::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

std::vector<Message> MessageLog::Messages() const {
  absl::MutexLock lock(&mu_);
  std::vector<Message> out;
  for (const Entry& entry : entries_) {
    if (!entry.dropped) out.push_back(entry.message);
  }
  return out;
}

std::vector<MessageLog::Entry> MessageLog::Entries() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}

std::vector<std::string> MessageLog::Payloads() const {
  std::vector<std::string> out;
  for (const Message& message : Messages()) {
    out.push_back(message.payload.ToString());
  }
  return out;
}

bool MessageLog::WaitForMessages(size_t count, absl::Duration timeout) const {
  return WaitFor([&] { return message_count() >= count; }, timeout);
}

}  // namespace switchboard::testing
