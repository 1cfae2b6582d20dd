// SPDX-License-Identifier: MIT
//
// What every command of the `switchboard` tool needs from the bus: a
// connection made from the global flags, typed calls to the broker's own
// service (switchboard.Broker, docs/PROTOCOL.md 5.6), and the request text
// from an argument or standard input.
#ifndef SWITCHBOARD_CLI_BROKER_H_
#define SWITCHBOARD_CLI_BROKER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "options.h"
#include "switchboard/client.h"

namespace switchboard::cli {

inline constexpr char kBrokerService[] = "switchboard.Broker";
// --timeout for commands that wait for one answer.
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(30);

// Connects to --address (or $SWITCHBOARD_ADDRESS, or the default) as client
// "switchboard". Errors: those of Client::Connect (kUnavailable: no broker).
absl::StatusOr<std::unique_ptr<Client>> ConnectToBroker(const Options& options);

// Calls switchboard.Broker/METHOD within --timeout (default 30s).
template <typename Reply>
absl::StatusOr<Reply> CallBroker(Client& client, absl::string_view method,
                                 const google::protobuf::Message& request,
                                 const Options& options) {
  return client.Call<Reply>(kBrokerService, method, request,
                            options.TimeoutOr(kDefaultTimeout));
}

// `arg` itself, or all of standard input when `arg` is "-". Errors:
// kInvalidArgument if standard input cannot be read.
absl::StatusOr<std::string> ReadInput(absl::string_view arg);

// Writes `text` and a newline to standard output and flushes it, so a
// reading script sees each line at once.
void PrintLine(absl::string_view text);

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_BROKER_H_
