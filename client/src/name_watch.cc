// SPDX-License-Identifier: MIT
#include "client/src/name_watch.h"

#include <utility>

namespace switchboard::client {

NameWatch::NameWatch(std::string name, NameOwnerCallback report,
                     std::function<void(const absl::Status&)> on_error)
    : name_(std::move(name)),
      report_(std::move(report)),
      on_error_(std::move(on_error)) {}

void NameWatch::OnChange(const v1::NameOwnerChanged& change) {
  if (change.name() != name_) return;
  if (pending_ != 0) return;  // the pending answer counts it
  Report(change.new_owner());
}

uint64_t NameWatch::OnDrops() {
  pending_ = next_question_++;
  return pending_;
}

void NameWatch::OnAnswer(uint64_t generation,
                         const absl::StatusOr<uint64_t>& owner) {
  if (generation != pending_) return;  // superseded by a later question
  pending_ = 0;
  if (!owner.ok()) {
    if (on_error_) on_error_(owner.status());
    return;
  }
  Report(*owner);
}

void NameWatch::Report(uint64_t owner) {
  if (reported_ && owner == owner_) return;
  NameOwner report;
  report.name = name_;
  report.owner = owner;
  report.previous_owner = reported_ ? owner_ : 0;
  report.initial = !reported_;
  reported_ = true;
  owner_ = owner;
  if (report_) report_(report);
}

}  // namespace switchboard::client
