// SPDX-License-Identifier: MIT
#include "client/src/served_names.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace switchboard::client {

absl::Status ServedNames::Add(Service service, const ServeOptions& options) {
  std::string name = service.name();
  if (served_.contains(name)) {
    return absl::AlreadyExistsError(
        absl::StrCat("this client already serves ", name));
  }
  Served& served = served_[std::move(name)];
  served.service = std::make_shared<const Service>(std::move(service));
  served.options = options;
  return absl::OkStatus();
}

void ServedNames::Confirm(const std::string& name, bool queued) {
  auto it = served_.find(name);
  if (it == served_.end()) return;  // lost or released meanwhile
  it->second.confirmed = true;
  it->second.owner = it->second.owner || !queued;
}

void ServedNames::Acquired(const std::string& name) {
  if (auto it = served_.find(name); it != served_.end()) {
    it->second.owner = true;
  }
}

bool ServedNames::Remove(const std::string& name) {
  return served_.erase(name) > 0;
}

std::shared_ptr<const Service> ServedNames::Find(
    const std::string& name) const {
  auto it = served_.find(name);
  return it == served_.end() ? nullptr : it->second.service;
}

std::vector<ServedNames::Claim> ServedNames::Confirmed() const {
  std::vector<Claim> claims;
  for (const auto& [name, served] : served_) {
    if (served.confirmed)
      claims.push_back({name, served.service, served.options});
  }
  std::sort(claims.begin(), claims.end(),
            [](const Claim& a, const Claim& b) { return a.name < b.name; });
  return claims;
}

std::optional<bool> ServedNames::Reclaimed(const std::string& name,
                                           bool granted, bool owner) {
  auto it = served_.find(name);
  if (it == served_.end()) return std::nullopt;
  const bool was_owner = it->second.owner;
  if (granted) {
    it->second.owner = owner;
  } else {
    served_.erase(it);
    owner = false;
  }
  if (was_owner == owner) return std::nullopt;
  return owner;
}

}  // namespace switchboard::client
