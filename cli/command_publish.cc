// SPDX-License-Identifier: MIT
//
// `switchboard publish TOPIC [JSON|-] --type=TYPE`: one message built from
// JSON, published and confirmed by the broker; `--raw` publishes bytes.
#include <string>

#include "absl/strings/str_cat.h"
#include "broker.h"
#include "commands.h"
#include "json.h"
#include "schemas.h"
#include "switchboard/status_macros.h"

namespace switchboard::cli {
namespace {

absl::StatusOr<std::string> BuildMessage(Client& client,
                                         const Options& options) {
  std::string input = options.raw ? "" : "{}";
  if (options.args.size() > 1) {
    SB_ASSIGN_OR_RETURN(input, ReadInput(options.args[1]));
  }
  if (options.raw) return input;
  Schemas schemas(client, options.TimeoutOr(kDefaultTimeout));
  SB_ASSIGN_OR_RETURN(const google::protobuf::Descriptor* type,
                      schemas.FindType(options.type));
  std::unique_ptr<google::protobuf::Message> message = schemas.NewMessage(type);
  SB_RETURN_IF_ERROR(MessageFromJson(input, *message));
  return message->SerializeAsString();
}

}  // namespace

absl::Status RunPublish(const Options& options) {
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  SB_ASSIGN_OR_RETURN(std::string message, BuildMessage(*client, options));
  SB_ASSIGN_OR_RETURN(PublishResult result,
                      client->PublishConfirmed(
                          options.args[0], Payload(std::move(message)),
                          options.type, options.TimeoutOr(kDefaultTimeout)));
  if (options.json) {
    PrintLine(JsonObject()
                  .Add("delivered", uint64_t{result.delivered})
                  .Add("dropped", uint64_t{result.dropped})
                  .Build());
  } else {
    PrintLine(absl::StrCat("published on ", options.args[0], ": delivered to ",
                           result.delivered, " subscription",
                           result.delivered == 1 ? "" : "s", ", ",
                           result.dropped, " dropped it"));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::cli
