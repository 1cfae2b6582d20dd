// SPDX-License-Identifier: MIT
#include "client/src/subscriptions.h"

#include <algorithm>
#include <utility>

namespace switchboard::client {

uint64_t Subscriptions::NextId() {
  absl::MutexLock lock(&mu_);
  return ++last_id_;
}

void Subscriptions::Add(uint64_t id, std::string pattern,
                        MessageCallback on_message, DropCallback on_drop) {
  auto entry = std::make_shared<Entry>();
  entry->on_message = std::move(on_message);
  entry->on_drop = std::move(on_drop);
  entry->stats.pattern = std::move(pattern);
  absl::MutexLock lock(&mu_);
  entries_[id] = std::move(entry);
}

void Subscriptions::SetLimits(uint64_t id, uint32_t max_messages,
                              uint64_t max_bytes, OverflowPolicy policy) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  it->second->stats.max_messages = max_messages;
  it->second->stats.max_bytes = max_bytes;
  it->second->stats.policy = policy;
  it->second->confirmed = true;
}

std::vector<Subscriptions::Restorable> Subscriptions::Confirmed() const {
  std::vector<Restorable> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, entry] : entries_) {
    if (!entry->confirmed) continue;
    out.push_back(Restorable{id, entry->stats.pattern,
                             entry->stats.max_messages, entry->stats.max_bytes,
                             entry->stats.policy, entry->stats.dropped});
  }
  std::sort(
      out.begin(), out.end(),
      [](const Restorable& a, const Restorable& b) { return a.id < b.id; });
  return out;
}

bool Subscriptions::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  it->second->removed.store(true, std::memory_order_release);
  entries_.erase(it);
  if (running_thread_ == std::this_thread::get_id()) return true;
  auto idle = [this, id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return running_id_ != id;
  };
  mu_.Await(absl::Condition(&idle));
  return true;
}

template <typename Count, typename Run>
bool Subscriptions::RunCallback(uint64_t id, Count count, Run run) {
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return false;
    entry = it->second;
    count(entry->stats);
    running_id_ = id;
    running_thread_ = std::this_thread::get_id();
  }
  run(*entry);
  absl::MutexLock lock(&mu_);
  running_id_ = 0;
  running_thread_ = std::thread::id();
  return true;
}

bool Subscriptions::Deliver(uint64_t id, const Message& message) {
  bool given = false;
  return DeliverEach(id, [&]() -> const Message* {
    return std::exchange(given, true) ? nullptr : &message;
  });
}

bool Subscriptions::DeliverEach(uint64_t id,
                                absl::FunctionRef<const Message*()> next) {
  return RunCallback(
      id, [](SubscriptionStats&) {},
      [&](Entry& entry) {
        while (!entry.removed.load(std::memory_order_acquire)) {
          const Message* message = next();
          if (message == nullptr) return;
          entry.received.fetch_add(1, std::memory_order_relaxed);
          if (entry.on_message) entry.on_message(*message);
        }
      });
}

bool Subscriptions::ReportDrop(const DropReport& report) {
  return RunCallback(
      report.subscription,
      [&](SubscriptionStats& stats) { stats.dropped += report.count; },
      [&](Entry& entry) {
        if (entry.on_drop) entry.on_drop(report);
      });
}

bool Subscriptions::RunAsCallback(uint64_t id, absl::FunctionRef<void()> run) {
  return RunCallback(
      id, [](SubscriptionStats&) {}, [&](Entry&) { run(); });
}

std::optional<SubscriptionStats> Subscriptions::Stats(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  SubscriptionStats stats = it->second->stats;
  stats.received = it->second->received.load(std::memory_order_relaxed);
  return stats;
}

bool Subscriptions::empty() const {
  absl::MutexLock lock(&mu_);
  return entries_.empty();
}

}  // namespace switchboard::client
