// SPDX-License-Identifier: MIT
#include "daemon/core/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace switchboard::core {
namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         c == '-';
}

// The offending name, quoted and shortened so an error message stays small
// however long the name was.
std::string Quoted(absl::string_view name) {
  constexpr size_t kShown = 64;
  if (name.size() <= kShown) return absl::StrCat("'", name, "'");
  return absl::StrCat("'", name.substr(0, kShown), "...'");
}

absl::Status CheckLength(absl::string_view what, absl::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " name is empty"));
  }
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " name ", Quoted(name), " is ", name.size(),
                     " bytes; the limit is ", kMaxNameBytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateServiceName(absl::string_view name) {
  if (absl::Status s = CheckLength("service", name); !s.ok()) return s;
  bool token_empty = true;
  for (char c : name) {
    if (c == '.') {
      if (token_empty) break;
      token_empty = true;
    } else if (IsTokenChar(c)) {
      token_empty = false;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "service name ", Quoted(name),
          " may contain only A-Z a-z 0-9 _ - and dots between tokens"));
    }
  }
  if (token_empty) {
    return absl::InvalidArgumentError(
        absl::StrCat("service name ", Quoted(name),
                     " has an empty token (leading, trailing or double dot)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateClaimableName(absl::string_view name) {
  if (absl::Status s = ValidateServiceName(name); !s.ok()) return s;
  if (absl::StartsWith(name, kReservedPrefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("service name ", Quoted(name),
                     " is reserved: names "
                     "starting with '",
                     kReservedPrefix, "' belong to the broker"));
  }
  return absl::OkStatus();
}

absl::Status ValidateMethodName(absl::string_view name) {
  if (absl::Status s = CheckLength("method", name); !s.ok()) return s;
  for (char c : name) {
    if (!IsTokenChar(c) && c != '.') {
      return absl::InvalidArgumentError(
          absl::StrCat("method name ", Quoted(name),
                       " may contain only A-Z a-z 0-9 _ - and '.'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace switchboard::core
