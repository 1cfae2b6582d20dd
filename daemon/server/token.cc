// SPDX-License-Identifier: MIT
#include "daemon/server/token.h"

#include <sys/random.h>

#include <cerrno>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "io/private_file.h"

namespace switchboard::server {
namespace {

constexpr size_t kTokenRandomBytes = 32;
// Generous room for hand-made tokens; ours are 64 characters.
constexpr size_t kMaxTokenFileBytes = 4096;

}  // namespace

absl::StatusOr<std::string> NewToken() {
  char bytes[kTokenRandomBytes];
  size_t filled = 0;
  while (filled < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + filled, sizeof bytes - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "getrandom");
    filled += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(absl::string_view(bytes, sizeof bytes));
}

absl::StatusOr<std::string> LoadOrCreateToken(absl::string_view path) {
  absl::StatusOr<std::string> contents =
      io::ReadPrivateFile(path, kMaxTokenFileBytes);
  if (contents.status().code() == absl::StatusCode::kNotFound) {
    if (absl::Status s = io::CreatePrivateDirectory(io::DirectoryOf(path));
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::string> token = NewToken();
    if (!token.ok()) return token.status();
    absl::Status created = io::CreatePrivateFile(path, *token);
    if (created.ok()) return token;
    if (created.code() != absl::StatusCode::kAlreadyExists) return created;
    // Another broker created it just now: use theirs.
    contents = io::ReadPrivateFile(path, kMaxTokenFileBytes);
  }
  if (!contents.ok()) return contents.status();
  absl::string_view token = *contents;
  // A file written by hand often ends in a newline; the token does not.
  absl::ConsumeSuffix(&token, "\n");
  absl::ConsumeSuffix(&token, "\r");
  if (token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("token file ", path,
                     " is empty; delete it and the broker will "
                     "create a new one"));
  }
  for (char c : token) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return absl::FailedPreconditionError(
          absl::StrCat("token file ", path,
                       " holds whitespace or control characters; "
                       "delete it and the broker will create a new one"));
    }
  }
  return std::string(token);
}

}  // namespace switchboard::server
