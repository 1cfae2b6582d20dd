// SPDX-License-Identifier: MIT
#include "daemon/server/activation_files.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "daemon/core/names.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "switchboard/v1/activation.pb.h"

namespace switchboard::server {
namespace {

using google::protobuf::TextFormat;

constexpr absl::string_view kServicesSubdir = "/switchboard/services";

// Keeps the parser's first error with its place (protobuf counts lines and
// columns from 0).
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!message_.empty()) return;
    line_ = line + 1;
    column_ = column + 1;
    message_ = message;
  }
  std::string Describe(absl::string_view path) const {
    return absl::StrCat(path, ":", line_, ":", column_, ": ", message_);
  }

 private:
  int line_ = 0;
  int column_ = 0;
  std::string message_;
};

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

absl::string_view BaseName(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

// "PATH:LINE: " for the field's place in the file, else "PATH: ".
std::string Where(absl::string_view path, const TextFormat::ParseInfoTree& tree,
                  const google::protobuf::FieldDescriptor* field) {
  const TextFormat::ParseLocation at = tree.GetLocation(field, -1);
  if (at.line < 0) return absl::StrCat(path, ": ");
  return absl::StrCat(path, ":", at.line + 1, ": ");
}

}  // namespace

std::vector<std::string> DefaultActivationDirs() {
  std::vector<std::string> dirs;
  std::string data_home = Env("XDG_DATA_HOME");
  if (data_home.empty() && !Env("HOME").empty()) {
    data_home = absl::StrCat(Env("HOME"), "/.local/share");
  }
  if (!data_home.empty())
    dirs.push_back(absl::StrCat(data_home, kServicesSubdir));
  std::string data_dirs = Env("XDG_DATA_DIRS");
  if (data_dirs.empty()) data_dirs = "/usr/local/share:/usr/share";
  for (absl::string_view dir :
       absl::StrSplit(data_dirs, ':', absl::SkipEmpty())) {
    dirs.push_back(absl::StrCat(dir, kServicesSubdir));
  }
  return dirs;
}

absl::StatusOr<core::ActivatableService> ParseActivationFile(
    absl::string_view path, absl::string_view text) {
  v1::ActivationFile file;
  TextFormat::Parser parser;
  FirstError error;
  TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&error);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(std::string(text), &file)) {
    return absl::InvalidArgumentError(error.Describe(path));
  }
  const google::protobuf::Descriptor* type = file.GetDescriptor();
  const std::string name_at = Where(path, tree, type->FindFieldByName("name"));
  if (file.name().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no name (name: \"NAME\")"));
  }
  if (absl::Status valid = core::ValidateClaimableName(file.name());
      !valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name_at, "name '", file.name(), "': ", valid.message()));
  }
  const std::string expected = absl::StrCat(file.name(), kActivationFileSuffix);
  if (BaseName(path) != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        name_at, "the name '", file.name(),
        "' does not match the file's name: it must be ", expected));
  }
  core::ActivatableService service;
  service.name = file.name();
  service.file = std::string(path);
  switch (file.start_case()) {
    case v1::ActivationFile::kCommand: {
      const std::string at =
          Where(path, tree, type->FindFieldByName("command"));
      if (file.command().argv().empty() || file.command().argv(0).empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, "the command needs argv, starting with the program"));
      }
      service.command.assign(file.command().argv().begin(),
                             file.command().argv().end());
      break;
    }
    case v1::ActivationFile::kSystemdUnit: {
      const std::string at =
          Where(path, tree, type->FindFieldByName("systemd_unit"));
      const std::string& unit = file.systemd_unit();
      if (unit.empty() || unit.find_first_of("/ \t\n") != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, "'", unit, "' is not a systemd unit name"));
      }
      service.systemd_unit = unit;
      break;
    }
    case v1::ActivationFile::START_NOT_SET:
      return absl::InvalidArgumentError(
          absl::StrCat(path,
                       ": says neither what to run (command { argv: ... }) nor "
                       "which unit to start (systemd_unit: ...)"));
  }
  return service;
}

LoadedActivations LoadActivationFiles(const std::vector<std::string>& dirs) {
  LoadedActivations loaded;
  absl::flat_hash_set<std::string> seen;
  for (const std::string& dir : dirs) {
    DIR* listing = ::opendir(dir.c_str());
    if (listing == nullptr) {
      if (errno != ENOENT && errno != ENOTDIR) {
        loaded.errors.push_back(absl::StrCat(
            dir, ": cannot list activation files: ", std::strerror(errno)));
      }
      continue;
    }
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(listing)) {
      if (absl::EndsWith(entry->d_name, kActivationFileSuffix)) {
        names.push_back(entry->d_name);
      }
    }
    ::closedir(listing);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      const std::string path = absl::StrCat(dir, "/", name);
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      if (!in) {
        loaded.errors.push_back(absl::StrCat(path, ": cannot be read"));
        continue;
      }
      absl::StatusOr<core::ActivatableService> service =
          ParseActivationFile(path, text.str());
      if (!service.ok()) {
        loaded.errors.push_back(std::string(service.status().message()));
        continue;
      }
      if (!seen.insert(service->name).second) {
        loaded.overridden.push_back(path);
        continue;
      }
      loaded.services.push_back(*std::move(service));
    }
  }
  std::sort(loaded.services.begin(), loaded.services.end(),
            [](const core::ActivatableService& a,
               const core::ActivatableService& b) { return a.name < b.name; });
  return loaded;
}

std::vector<std::string> DescribeActivationChanges(
    const std::map<std::string, core::ActivatableService, std::less<>>& before,
    const std::vector<core::ActivatableService>& after) {
  std::vector<std::string> changes;
  absl::flat_hash_set<std::string> names;
  for (const core::ActivatableService& service : after) {
    names.insert(service.name);
    auto it = before.find(service.name);
    if (it == before.end()) {
      changes.push_back(absl::StrCat("added ", service.name, " (",
                                     service.Describe(), ", from ",
                                     service.file, ")"));
    } else if (it->second != service) {
      changes.push_back(absl::StrCat("changed ", service.name, ": ",
                                     service.Describe(), " (from ",
                                     service.file, ")"));
    }
  }
  for (const auto& [name, service] : before) {
    if (!names.contains(name))
      changes.push_back(absl::StrCat("removed ", name));
  }
  return changes;
}

}  // namespace switchboard::server
