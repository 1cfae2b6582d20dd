// SPDX-License-Identifier: MIT
//
// ServedNames: the names a client serves, each with its Service, the
// ServeOptions it was served with, whether the broker confirmed the claim
// and whether the client owns the name or waits in its queue. Calls find
// their handlers here; a reconnect claims the confirmed names again from
// here. Not thread-safe: Client::Impl keeps it under its mutex.
#ifndef SWITCHBOARD_CLIENT_SRC_SERVED_NAMES_H_
#define SWITCHBOARD_CLIENT_SRC_SERVED_NAMES_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "switchboard/client.h"
#include "switchboard/service.h"

namespace switchboard::client {

class ServedNames {
 public:
  // A confirmed name, to claim again on a new connection.
  struct Claim {
    std::string name;
    std::shared_ptr<const Service> service;
    ServeOptions options;
  };

  // Installs `service` under its name before the broker confirms the
  // claim, so that a call arriving right after the answer finds it.
  // Errors: kAlreadyExists if this client serves the name already.
  absl::Status Add(Service service, const ServeOptions& options);
  // The broker granted the claim: the name is owned, or `queued`. A
  // NameAcquired event that came first keeps it owned.
  void Confirm(const std::string& name, bool queued);
  // The broker says this client owns `name` now (NameAcquired).
  void Acquired(const std::string& name);
  // Forgets `name` (released, lost, refused). Returns whether it was
  // served.
  bool Remove(const std::string& name);

  // The service behind `name`; null if not served.
  std::shared_ptr<const Service> Find(const std::string& name) const;
  bool empty() const { return served_.empty(); }

  // The confirmed names, in name order (the same order every time), for a
  // reconnect to claim again. Names still being claimed finish through
  // their own request.
  std::vector<Claim> Confirmed() const;
  // The claim of `name` on a new connection was answered: `owner` (or
  // queued), or refused (`granted` false: another connection took it
  // during the gap), which forgets the name. Returns whether this client
  // owns the name now if that changed (a report is due); nothing if it did
  // not, or if the name is no longer served.
  std::optional<bool> Reclaimed(const std::string& name, bool granted,
                                bool owner);

 private:
  struct Served {
    std::shared_ptr<const Service> service;
    ServeOptions options;
    bool confirmed = false;  // the broker answered the claim
    bool owner = false;      // owner (else queued), as last known
  };
  absl::flat_hash_map<std::string, Served> served_;
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_SERVED_NAMES_H_
