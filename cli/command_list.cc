// SPDX-License-Identifier: MIT
//
// `switchboard list`: every owned name and every activatable one
// (switchboard.Broker/ListNames, every page), sorted by name. STATE says
// "owned", "activatable" (an activation file describes it; a call starts its
// program) or "starting" (started, calls held until it claims the name).
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker.h"
#include "commands.h"
#include "json.h"
#include "listings.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"
#include "table.h"

namespace switchboard::cli {
namespace {

std::vector<std::string> OwnedRow(const v1::NameInfo& name) {
  return {name.name(),
          "owned",
          absl::StrCat(":", name.owner()),
          name.owner_name(),
          absl::StrCat(name.pid()),
          absl::StrCat(name.uid()),
          absl::StrCat(name.methods_size()),
          absl::StrCat(name.queued()),
          name.exe()};
}

// A name nobody owns: EXE is what a call would start.
std::vector<std::string> ActivatableRow(const v1::ActivatableName& name) {
  const std::string starts = name.systemd_unit().empty()
                                 ? absl::StrJoin(name.command(), " ")
                                 : absl::StrCat("unit ", name.systemd_unit());
  return {name.name(),
          name.activating() ? "starting" : "activatable",
          "-",
          "-",
          "-",
          "-",
          "-",
          name.activating() ? absl::StrCat(name.held_calls(), " held") : "-",
          starts};
}

}  // namespace

absl::Status RunList(const Options& options) {
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  SB_ASSIGN_OR_RETURN(
      v1::NameList names,
      ListEveryName(*client, options.TimeoutOr(kDefaultTimeout)));
  if (options.json) {
    SB_ASSIGN_OR_RETURN(std::string json, MessageToJson(names));
    PrintLine(json);
    return absl::OkStatus();
  }
  std::map<std::string, std::vector<std::string>> rows;
  for (const v1::NameInfo& name : names.names()) {
    rows[name.name()] = OwnedRow(name);
  }
  for (const v1::ActivatableName& name : names.activatable()) {
    if (name.owner() == 0) rows.emplace(name.name(), ActivatableRow(name));
  }
  Table table({{"NAME"},
               {"STATE"},
               {"OWNER"},
               {"CLIENT"},
               {"PID", true},
               {"UID", true},
               {"METHODS", true},
               {"QUEUED", true},
               {"EXE"}});
  for (auto& [name, row] : rows) table.AddRow(std::move(row));
  std::fputs(table.Render().c_str(), stdout);
  return absl::OkStatus();
}

}  // namespace switchboard::cli
