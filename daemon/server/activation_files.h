// SPDX-License-Identifier: MIT
//
// Activation files (docs/ARCHITECTURE.md "Activation"): one file per
// activatable name, NAME.activation, in protobuf text format
// (switchboard.v1.ActivationFile, proto/switchboard/v1/activation.proto).
// This reads them from their folders and turns them into the
// core::ActivatableService entries the router holds calls for. A bad file
// is reported, naming the file and, where it applies, the line, and
// skipped; it never stops the others from loading.
#ifndef SWITCHBOARD_DAEMON_SERVER_ACTIVATION_FILES_H_
#define SWITCHBOARD_DAEMON_SERVER_ACTIVATION_FILES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/core/activations.h"

namespace switchboard::server {

inline constexpr absl::string_view kActivationFileSuffix = ".activation";

// The folders searched when no --activation-dir is given, most important
// first: $XDG_DATA_HOME/switchboard/services (default
// ~/.local/share/switchboard/services), then DIR/switchboard/services for
// each DIR of $XDG_DATA_DIRS (default /usr/local/share:/usr/share), in
// order. A name found in two folders is taken from the first, so a user's
// own file wins over the system's, as for D-Bus.
std::vector<std::string> DefaultActivationDirs();

// Parses one activation file's `text`; `path` names it in errors and
// its base name must be NAME.activation. Errors (kInvalidArgument, the
// message starting "PATH:LINE:COLUMN: " where a line applies, else
// "PATH: "): text that does not parse (an unknown field, both command and
// systemd_unit, ...), no name, an invalid service name, a name that is not
// the file's, neither a command nor a unit, an empty argv or argv[0], a unit
// name with '/' or blanks.
absl::StatusOr<core::ActivatableService> ParseActivationFile(
    absl::string_view path, absl::string_view text);

struct LoadedActivations {
  // By name; from the first folder that has the name.
  std::vector<core::ActivatableService> services;
  // One line per bad file or unreadable folder, naming it.
  std::vector<std::string> errors;
  // Files overridden by a file of the same name in an earlier folder.
  std::vector<std::string> overridden;
};

// Reads every *.activation file of `dirs` (most important first). A
// folder that does not exist is no error. Other files are ignored.
LoadedActivations LoadActivationFiles(const std::vector<std::string>& dirs);

// What changed from `before` to `after`, one line each ("added NAME (CMD,
// from FILE)", "removed NAME", "changed NAME: CMD"), for the log of a
// reload.
std::vector<std::string> DescribeActivationChanges(
    const std::map<std::string, core::ActivatableService, std::less<>>& before,
    const std::vector<core::ActivatableService>& after);

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_ACTIVATION_FILES_H_
