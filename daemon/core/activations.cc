// SPDX-License-Identifier: MIT
#include "daemon/core/activations.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace switchboard::core {

std::string ActivatableService::Describe() const {
  if (!systemd_unit.empty()) return absl::StrCat("unit ", systemd_unit);
  return absl::StrJoin(command, " ");
}

void Activations::SetServices(std::vector<ActivatableService> services) {
  services_.clear();
  for (ActivatableService& service : services) {
    std::string name = service.name;
    services_.insert_or_assign(std::move(name), std::move(service));
  }
}

const ActivatableService* Activations::Find(absl::string_view name) const {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : &it->second;
}

absl::StatusOr<std::optional<uint64_t>> Activations::Hold(
    const ActivatableService& service, HeldCall call, absl::Time now) {
  auto it = under_way_.find(service.name);
  if (it != under_way_.end()) {
    if (it->second.calls.size() >= limits_.max_held_calls) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "service '", service.name, "' is being started and ",
          limits_.max_held_calls,
          " calls already wait for it, the broker's limit per name"));
    }
    if (it->second.bytes + call.frame.bytes().size() > limits_.max_held_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "service '", service.name,
          "' is being started and the calls "
          "waiting for it hold ",
          it->second.bytes, " bytes; this one (", call.frame.bytes().size(),
          " bytes) would pass the broker's limit "
          "of ",
          limits_.max_held_bytes));
    }
    it->second.bytes += call.frame.bytes().size();
    it->second.calls.push_back(std::move(call));
    return std::nullopt;
  }
  Activation& activation = under_way_[service.name];
  activation.service = service;
  activation.attempt = next_attempt_++;
  activation.timeout_at = now + limits_.timeout;
  activation.bytes = call.frame.bytes().size();
  activation.calls.push_back(std::move(call));
  return activation.attempt;
}

std::vector<HeldCall> Activations::TakeClaimed(absl::string_view name) {
  std::vector<HeldCall> calls;
  auto node = under_way_.extract(name);
  if (node.empty()) return calls;
  for (HeldCall& call : node.mapped().calls) calls.push_back(std::move(call));
  return calls;
}

std::optional<Activations::Failure> Activations::Fail(absl::string_view name,
                                                      uint64_t attempt) {
  auto it = under_way_.find(name);
  if (it == under_way_.end() || it->second.attempt != attempt) {
    return std::nullopt;
  }
  auto node = under_way_.extract(it);
  Failure failure{std::move(node.mapped().service), {}};
  for (HeldCall& call : node.mapped().calls) {
    failure.calls.push_back(std::move(call));
  }
  return failure;
}

std::vector<HeldCall> Activations::ExpireCalls(absl::Time now) {
  std::vector<HeldCall> expired;
  for (auto& [name, activation] : under_way_) {
    std::deque<HeldCall> kept;
    for (HeldCall& call : activation.calls) {
      if (call.deadline <= now) {
        activation.bytes -= call.frame.bytes().size();
        expired.push_back(std::move(call));
      } else {
        kept.push_back(std::move(call));
      }
    }
    activation.calls = std::move(kept);
  }
  std::stable_sort(expired.begin(), expired.end(),
                   [](const HeldCall& a, const HeldCall& b) {
                     return a.deadline < b.deadline;
                   });
  return expired;
}

std::vector<Activations::Failure> Activations::ExpireActivations(
    absl::Time now) {
  std::vector<std::string> names;
  for (const auto& [name, activation] : under_way_) {
    if (activation.timeout_at <= now) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::vector<Failure> failures;
  for (const std::string& name : names) {
    failures.push_back(*Fail(name, under_way_.at(name).attempt));
  }
  return failures;
}

std::optional<absl::Time> Activations::NextDeadline() const {
  std::optional<absl::Time> next;
  for (const auto& [name, activation] : under_way_) {
    absl::Time earliest = activation.timeout_at;
    for (const HeldCall& call : activation.calls) {
      earliest = std::min(earliest, call.deadline);
    }
    if (!next || earliest < *next) next = earliest;
  }
  return next;
}

bool Activations::IsHeld(SessionId caller, RequestId id) const {
  for (const auto& [name, activation] : under_way_) {
    for (const HeldCall& call : activation.calls) {
      if (call.from.id == caller && call.caller_request_id == id) return true;
    }
  }
  return false;
}

HeldCall* Activations::FindForCaller(SessionId caller, RequestId id) {
  for (auto& [name, activation] : under_way_) {
    for (HeldCall& call : activation.calls) {
      if (call.from.id == caller && call.caller_request_id == id) return &call;
    }
  }
  return nullptr;
}

std::optional<HeldCall> Activations::TakeForCancel(SessionId caller,
                                                   RequestId id) {
  for (auto& [name, activation] : under_way_) {
    for (auto it = activation.calls.begin(); it != activation.calls.end();
         ++it) {
      if (it->from.id == caller && it->caller_request_id == id) {
        activation.bytes -= it->frame.bytes().size();
        HeldCall call = std::move(*it);
        activation.calls.erase(it);
        return call;
      }
    }
  }
  return std::nullopt;
}

void Activations::ForgetSession(SessionId session) {
  for (auto& [name, activation] : under_way_) {
    for (auto it = activation.calls.begin(); it != activation.calls.end();) {
      if (it->from.id == session) {
        activation.bytes -= it->frame.bytes().size();
        it = activation.calls.erase(it);
      } else {
        ++it;
      }
    }
  }
}

std::vector<HeldCall> Activations::TakeAll() {
  std::vector<std::string> names;
  for (const auto& [name, activation] : under_way_) names.push_back(name);
  std::sort(names.begin(), names.end());
  std::vector<HeldCall> calls;
  for (const std::string& name : names) {
    for (HeldCall& call : TakeClaimed(name)) calls.push_back(std::move(call));
  }
  return calls;
}

bool Activations::Activating(absl::string_view name) const {
  return under_way_.contains(name);
}

size_t Activations::HeldFor(absl::string_view name) const {
  auto it = under_way_.find(name);
  return it == under_way_.end() ? 0 : it->second.calls.size();
}

size_t Activations::held_calls() const {
  size_t held = 0;
  for (const auto& [name, activation] : under_way_) {
    held += activation.calls.size();
  }
  return held;
}

}  // namespace switchboard::core
