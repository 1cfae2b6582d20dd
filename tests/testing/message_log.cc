// SPDX-License-Identifier: MIT
#include "tests/testing/message_log.h"

#include <utility>

#include "tests/testing/wait_for.h"

namespace switchboard::testing {

MessageLog::MessageLog(bool hold_first)
    : state_(std::make_shared<State>(hold_first)) {}

MessageCallback MessageLog::OnMessage() {
  return [state = state_](const Message& message) {
    bool hold = false;
    {
      absl::MutexLock lock(&state->mu);
      Entry entry;
      entry.message = message;
      state->entries.push_back(std::move(entry));
      ++state->messages;
      hold = state->hold_first && state->messages == 1;
      state->holding = hold;
    }
    if (!hold) return;
    state->released.WaitForNotificationWithTimeout(absl::Seconds(60));
    absl::MutexLock lock(&state->mu);
    state->holding = false;
  };
}

DropCallback MessageLog::OnDrop() {
  return [state = state_](const DropReport& report) {
    absl::MutexLock lock(&state->mu);
    Entry entry;
    entry.dropped = true;
    entry.drop = report;
    state->entries.push_back(std::move(entry));
    state->dropped += report.count;
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
  if (!state_->released.HasBeenNotified()) state_->released.Notify();
}

bool MessageLog::holding() const {
  absl::MutexLock lock(&state_->mu);
  return state_->holding;
}

size_t MessageLog::message_count() const {
  absl::MutexLock lock(&state_->mu);
  return state_->messages;
}

uint64_t MessageLog::dropped() const {
  absl::MutexLock lock(&state_->mu);
  return state_->dropped;
}

std::vector<Message> MessageLog::Messages() const {
  absl::MutexLock lock(&state_->mu);
  std::vector<Message> out;
  for (const Entry& entry : state_->entries) {
    if (!entry.dropped) out.push_back(entry.message);
  }
  return out;
}

std::vector<MessageLog::Entry> MessageLog::Entries() const {
  absl::MutexLock lock(&state_->mu);
  return state_->entries;
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
