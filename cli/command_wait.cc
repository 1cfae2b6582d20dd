// SPDX-License-Identifier: MIT
//
// `switchboard wait NAME`: returns once NAME has an owner. It subscribes to
// the broker's switchboard.name.NAME first and only then asks
// switchboard.Broker/StartService, so an owner that arrives in between is
// seen one way or the other. StartService names the owner of an owned
// name, and starts the program of a name nobody owns that an activation
// file describes, as a call to it would, so waiting for it never waits for
// a program nobody will start. One question, whatever the number of names
// (ListNames would take a page after page).
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "broker.h"
#include "commands.h"
#include "inbox.h"
#include "json.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::cli {
namespace {

absl::Status PrintOwner(const std::string& name, uint64_t owner,
                        const Options& options) {
  if (options.json) {
    PrintLine(JsonObject().Add("name", name).Add("owner", owner).Build());
  } else {
    PrintLine(absl::StrCat(name, " is owned by :", owner));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunWait(const Options& options) {
  const std::string& name = options.args[0];
  const absl::Time deadline = options.timeout.has_value()
                                  ? absl::Now() + *options.timeout
                                  : absl::InfiniteFuture();
  // Owners reported by the broker's events; 0 means "lost its owner".
  // Declared before the client, whose dispatch thread pushes into it.
  Inbox<uint64_t> owners;
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  SB_RETURN_IF_ERROR(
      client
          ->Subscribe(absl::StrCat("switchboard.name.", name),
                      [&owners](const Message& message) {
                        absl::StatusOr<v1::NameOwnerChanged> change =
                            message.As<v1::NameOwnerChanged>();
                        if (change.ok()) owners.Push(change->new_owner());
                      })
          .status());
  // StartService answers at once with the owner of an owned name; starts
  // the program of an activatable one and answers once it claimed the name
  // (UNAVAILABLE if it did not, DEADLINE_EXCEEDED at the timeout); and is
  // NOT_FOUND for any other name, which the events then report.
  v1::StartServiceRequest start;
  start.set_name(name);
  absl::StatusOr<v1::StartServiceResult> started =
      client->Call<v1::StartServiceResult>(kBrokerService, "StartService",
                                           start,
                                           options.TimeoutOr(kDefaultTimeout));
  if (started.ok()) return PrintOwner(name, started->owner(), options);
  if (started.status().code() != absl::StatusCode::kNotFound) {
    return started.status();
  }
  while (true) {
    Inbox<uint64_t>::Next next =
        owners.Take(deadline, [&client] { return client->connected(); });
    if (next.item.has_value()) {
      if (*next.item != 0) return PrintOwner(name, *next.item, options);
      continue;
    }
    if (next.end == InboxEnd::kDisconnected) {
      return absl::UnavailableError("the connection to the broker was lost");
    }
    return absl::DeadlineExceededError(absl::StrCat(
        name, " had no owner within ", absl::FormatDuration(*options.timeout)));
  }
}

}  // namespace switchboard::cli
