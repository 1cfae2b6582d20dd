// SPDX-License-Identifier: MIT
#include "daemon/core/monitors.h"

#include <algorithm>
#include <utility>

#include "wire/topic.h"

namespace switchboard::core {

void MonitorTable::Add(Monitor monitor) {
  monitors_.push_back(std::move(monitor));
}

Monitor* MonitorTable::Find(SessionId session, RequestId request_id) {
  for (Monitor& monitor : monitors_) {
    if (monitor.session == session && monitor.request_id == request_id) {
      return &monitor;
    }
  }
  return nullptr;
}

bool MonitorTable::Has(SessionId session, RequestId request_id) const {
  return std::any_of(monitors_.begin(), monitors_.end(), [&](const Monitor& m) {
    return m.session == session && m.request_id == request_id;
  });
}

size_t MonitorTable::CountFor(SessionId session) const {
  return static_cast<size_t>(std::count_if(
      monitors_.begin(), monitors_.end(),
      [session](const Monitor& m) { return m.session == session; }));
}

std::optional<Monitor> MonitorTable::Take(SessionId session,
                                          RequestId request_id) {
  for (auto it = monitors_.begin(); it != monitors_.end(); ++it) {
    if (it->session == session && it->request_id == request_id) {
      Monitor taken = std::move(*it);
      monitors_.erase(it);
      ClearCallsIfIdle();
      return taken;
    }
  }
  return std::nullopt;
}

namespace {

template <typename Pred>
std::vector<Monitor> TakeIf(std::vector<Monitor>& monitors, Pred pred) {
  std::vector<Monitor> taken;
  auto keep = std::stable_partition(monitors.begin(), monitors.end(),
                                    [&](const Monitor& m) { return !pred(m); });
  std::move(keep, monitors.end(), std::back_inserter(taken));
  monitors.erase(keep, monitors.end());
  return taken;
}

}  // namespace

std::vector<Monitor> MonitorTable::ForgetSession(SessionId session) {
  std::vector<Monitor> taken = TakeIf(
      monitors_, [session](const Monitor& m) { return m.session == session; });
  ClearCallsIfIdle();
  return taken;
}

std::vector<Monitor> MonitorTable::TakeExpired(absl::Time now) {
  std::vector<Monitor> taken =
      TakeIf(monitors_, [now](const Monitor& m) { return m.deadline <= now; });
  ClearCallsIfIdle();
  return taken;
}

std::vector<Monitor> MonitorTable::TakeAll() {
  std::vector<Monitor> taken = std::move(monitors_);
  monitors_.clear();
  ClearCallsIfIdle();
  return taken;
}

std::optional<absl::Time> MonitorTable::NextDeadline() const {
  std::optional<absl::Time> next;
  for (const Monitor& monitor : monitors_) {
    if (monitor.deadline == absl::InfiniteFuture()) continue;
    if (!next || monitor.deadline < *next) next = monitor.deadline;
  }
  return next;
}

std::vector<Monitor*> MonitorTable::Matching(absl::string_view subject) {
  std::vector<Monitor*> matching;
  for (Monitor& monitor : monitors_) {
    if (monitor.pattern.empty() ||
        wire::PatternMatches(monitor.pattern, subject)) {
      matching.push_back(&monitor);
    }
  }
  return matching;
}

void MonitorTable::RememberCall(RequestId id, MonitoredCall call) {
  calls_[id.value()] = std::move(call);
}

const MonitoredCall* MonitorTable::FindCall(RequestId id) const {
  auto it = calls_.find(id.value());
  return it == calls_.end() ? nullptr : &it->second;
}

void MonitorTable::ForgetCall(RequestId id) { calls_.erase(id.value()); }

void MonitorTable::ClearCallsIfIdle() {
  if (monitors_.empty()) calls_.clear();
}

}  // namespace switchboard::core
