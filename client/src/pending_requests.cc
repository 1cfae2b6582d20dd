// SPDX-License-Identifier: MIT
#include "client/src/pending_requests.h"

#include <utility>

namespace switchboard::client {

uint64_t PendingRequests::Add(PendingRequest request) {
  const uint64_t id = next_id_++;
  Restore(id, std::move(request));
  return id;
}

void PendingRequests::Restore(uint64_t id, PendingRequest request) {
  if (request.callback) deadlines_.emplace(request.deadline, id);
  requests_.insert_or_assign(id, std::move(request));
}

PendingRequest* PendingRequests::Find(uint64_t id) {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : &it->second;
}

std::optional<PendingRequest> PendingRequests::Take(uint64_t id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return std::nullopt;
  PendingRequest request = std::move(it->second);
  requests_.erase(it);
  if (request.callback) deadlines_.erase({request.deadline, id});
  return request;
}

void PendingRequests::TakeExpired(
    absl::Time now, std::vector<std::pair<uint64_t, PendingRequest>>& expired) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    // Take() and TakeAll() drop a request's deadline with it, so the
    // request is still here.
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    expired.emplace_back(id, std::move(it->second));
    requests_.erase(it);
  }
}

std::vector<std::pair<uint64_t, PendingRequest>> PendingRequests::TakeAll() {
  std::vector<std::pair<uint64_t, PendingRequest>> all;
  all.reserve(requests_.size());
  for (auto& [id, request] : requests_) {
    all.emplace_back(id, std::move(request));
  }
  requests_.clear();
  deadlines_.clear();
  return all;
}

absl::Time PendingRequests::next_deadline() const {
  return deadlines_.empty() ? absl::InfiniteFuture()
                            : deadlines_.begin()->first;
}

}  // namespace switchboard::client
