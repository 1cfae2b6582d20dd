// SPDX-License-Identifier: MIT
#include "broker.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace switchboard::cli {

absl::StatusOr<std::unique_ptr<Client>> ConnectToBroker(
    const Options& options) {
  ConnectOptions connect;
  connect.client_name = "switchboard";
  // A command is one session with one broker: when the broker goes, the
  // command ends with UNAVAILABLE (exit status 7) rather than wait for
  // another; scripts rely on that.
  connect.reconnect.enabled = false;
  connect.timeout =
      std::min(options.TimeoutOr(kDefaultTimeout), kDefaultTimeout);
  return Client::Connect(options.address, connect);
}

absl::StatusOr<std::string> ReadInput(absl::string_view arg) {
  if (arg != "-") return std::string(arg);
  std::string out;
  char buffer[65536];
  while (true) {
    const size_t n = std::fread(buffer, 1, sizeof buffer, stdin);
    out.append(buffer, n);
    if (n < sizeof buffer) break;
  }
  if (std::ferror(stdin)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read standard input: ", std::strerror(errno)));
  }
  return out;
}

void PrintLine(absl::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace switchboard::cli
