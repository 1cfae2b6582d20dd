// SPDX-License-Identifier: MIT
//
// `switchboard wait NAME`: returns once NAME has an owner, through
// Client::WaitForService(), which subscribes to the name's events before it
// asks for the owner, so an owner that arrives in between is seen one way
// or the other. It starts the program of a name nobody owns that an
// activation file describes (start_activatable), as a call to it would, so
// waiting for it never waits for a program nobody will start.
#include <string>

#include "absl/strings/str_cat.h"
#include "broker.h"
#include "commands.h"
#include "json.h"
#include "switchboard/status_macros.h"

namespace switchboard::cli {

absl::Status RunWait(const Options& options) {
  const std::string& name = options.args[0];
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  WaitForServiceOptions wait;
  wait.start_activatable = true;
  SB_ASSIGN_OR_RETURN(
      const uint64_t owner,
      client->WaitForService(
          name, options.timeout.value_or(absl::InfiniteDuration()), wait));
  if (options.json) {
    PrintLine(JsonObject().Add("name", name).Add("owner", owner).Build());
  } else {
    PrintLine(absl::StrCat(name, " is owned by :", owner));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::cli
