// SPDX-License-Identifier: MIT
//
// libFuzzer target for server::ParseActivationFile, the parser of the
// NAME.activation files the broker reads at start and on reload (protobuf
// text format). The input's first line is the file's stem (the file is
// /fuzz/services/STEM.activation), the rest its text. Properties, besides
// no crash, leak or sanitizer report:
//   - a refusal is kInvalidArgument whose message names the file: it starts
//     with "PATH:" and goes on with a 1-based line and column (a syntax
//     error: "PATH:LINE:COLUMN: reason"), a line (a field with a bad value:
//     "PATH:LINE: reason") or a space ("PATH: reason"), and has a reason
//     after that;
//   - what parses is a claimable service name equal to the stem, from this
//     path, with exactly one of a command (non-empty argv, non-empty
//     argv[0]) and a systemd unit (non-empty, no '/' or blanks);
//   - printing the result back as an activation file and parsing that gives
//     the same service.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "daemon/core/names.h"
#include "daemon/server/activation_files.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "switchboard/v1/activation.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace switchboard::server {
namespace {

// "PATH:LINE:COLUMN: reason" or "PATH:LINE: reason" with LINE and COLUMN
// >= 1, or "PATH: reason".
bool NamesTheFile(absl::string_view message, absl::string_view path) {
  if (!absl::ConsumePrefix(&message, path) ||
      !absl::ConsumePrefix(&message, ":")) {
    return false;
  }
  for (int number = 0; number < 2; ++number) {
    if (absl::ConsumePrefix(&message, " ")) return !message.empty();
    size_t digits = 0;
    while (digits < message.size() && absl::ascii_isdigit(message[digits])) {
      ++digits;
    }
    if (digits == 0 || message[0] == '0') return false;
    message.remove_prefix(digits);
    if (!absl::ConsumePrefix(&message, ":")) return false;
  }
  return absl::ConsumePrefix(&message, " ") && !message.empty();
}

std::string Print(const core::ActivatableService& service) {
  v1::ActivationFile file;
  file.set_name(service.name);
  if (!service.command.empty()) {
    for (const std::string& arg : service.command) {
      file.mutable_command()->add_argv(arg);
    }
  } else {
    file.set_systemd_unit(service.systemd_unit);
  }
  std::string text;
  SB_FUZZ_CHECK(google::protobuf::TextFormat::PrintToString(file, &text));
  return text;
}

void CheckParse(absl::string_view stem, absl::string_view text) {
  const std::string path =
      absl::StrCat("/fuzz/services/", stem, kActivationFileSuffix);
  const absl::StatusOr<core::ActivatableService> service =
      ParseActivationFile(path, text);
  if (!service.ok()) {
    SB_FUZZ_CHECK(service.status().code() ==
                  absl::StatusCode::kInvalidArgument);
    SB_FUZZ_CHECK(NamesTheFile(service.status().message(), path));
    return;
  }
  SB_FUZZ_CHECK(service->name == stem);
  SB_FUZZ_CHECK(core::ValidateClaimableName(service->name).ok());
  SB_FUZZ_CHECK(service->file == path);
  const std::string& unit = service->systemd_unit;
  if (service->command.empty()) {
    SB_FUZZ_CHECK(!unit.empty());
    SB_FUZZ_CHECK(unit.find_first_of("/ \t\n") == std::string::npos);
  } else {
    SB_FUZZ_CHECK(unit.empty());
    SB_FUZZ_CHECK(!service->command[0].empty());
  }
  const absl::StatusOr<core::ActivatableService> again =
      ParseActivationFile(path, Print(*service));
  SB_FUZZ_CHECK(again.ok());
  SB_FUZZ_CHECK(*again == *service);
}

}  // namespace
}  // namespace switchboard::server

// Bad text makes protobuf log a line per parse; keep the run readable.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  if (newline == absl::string_view::npos) return 0;
  const absl::string_view stem = input.substr(0, newline);
  // A stem with '/' would make the path name another folder.
  if (absl::StrContains(stem, '/')) return 0;
  switchboard::server::CheckParse(stem, input.substr(newline + 1));
  return 0;
}
