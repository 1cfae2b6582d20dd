// SPDX-License-Identifier: MIT
//
// `switchboard call NAME METHOD [JSON|-]`: builds the request from JSON with
// the method's type from the service's schema, calls (or, for a streaming
// method, streams) and prints the reply as JSON. `--raw` passes bytes both
// ways without any schema. A name nobody owns that an activation file
// describes is started first (switchboard.Broker/StartService), since its
// schema comes from the program that serves it.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker.h"
#include "commands.h"
#include "json.h"
#include "schemas.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"
#include "table.h"

namespace switchboard::cli {
namespace {

// Standard error learns of buffers, which JSON cannot show.
void NoteBuffers(const Payload& reply) {
  if (reply.buffers().empty()) return;
  uint64_t bytes = 0;
  for (const SharedBuffer& buffer : reply.buffers()) bytes += buffer.size();
  std::fprintf(stderr,
               "switchboard: note: the message carried %zu SharedBuffer(s), %s "
               "in all, not printed\n",
               reply.buffers().size(), FormatBytes(bytes).c_str());
}

absl::Status CallRaw(Client& client, const Options& options) {
  std::string request;
  if (options.args.size() > 2) {
    SB_ASSIGN_OR_RETURN(request, ReadInput(options.args[2]));
  }
  SB_ASSIGN_OR_RETURN(
      Payload reply,
      client.Call(options.args[0], options.args[1], Payload(std::move(request)),
                  options.TimeoutOr(kDefaultTimeout)));
  std::fwrite(reply.data(), 1, reply.size(), stdout);
  NoteBuffers(reply);
  return absl::OkStatus();
}

absl::StatusOr<const v1::MethodSchema*> FindMethod(
    const v1::Description& description, absl::string_view method) {
  std::vector<std::string> names;
  for (const v1::MethodSchema& m : description.methods()) {
    if (m.name() == method) return &m;
    names.push_back(m.name());
  }
  return absl::NotFoundError(absl::StrCat(
      "service '", description.name(), "' has no method '", method,
      "' (it has: ", names.empty() ? "no schema" : absl::StrJoin(names, ", "),
      ")"));
}

absl::StatusOr<std::string> BuildRequest(Schemas& schemas,
                                         const v1::MethodSchema& method,
                                         const Options& options) {
  if (method.request_type().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("method '", method.name(),
                     "' takes raw bytes, not a message; call it with --raw"));
  }
  std::string json = "{}";
  if (options.args.size() > 2) {
    SB_ASSIGN_OR_RETURN(json, ReadInput(options.args[2]));
  }
  SB_ASSIGN_OR_RETURN(const google::protobuf::Descriptor* type,
                      schemas.FindType(method.request_type()));
  std::unique_ptr<google::protobuf::Message> request = schemas.NewMessage(type);
  SB_RETURN_IF_ERROR(MessageFromJson(json, *request));
  return request->SerializeAsString();
}

absl::Status PrintReply(Schemas& schemas, const v1::MethodSchema& method,
                        const Payload& reply, const Options& options) {
  NoteBuffers(reply);
  if (method.response_type().empty()) {  // a raw reply: show its bytes
    PrintLine(JsonObject()
                  .Add("payload_base64", absl::Base64Escape(reply.view()))
                  .Build());
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> json =
      schemas.ToJson(method.response_type(), reply.view(), !options.json);
  if (!json.ok()) {
    return absl::InternalError(
        absl::StrCat("the reply of ", options.args[0], "/", options.args[1],
                     " does not decode: ", json.status().message()));
  }
  PrintLine(*json);
  return absl::OkStatus();
}

absl::Status CallStream(Client& client, Schemas& schemas,
                        const v1::MethodSchema& method, std::string request,
                        const Options& options) {
  StreamOptions stream_options;
  stream_options.timeout = options.TimeoutOr(kDefaultTimeout);
  SB_ASSIGN_OR_RETURN(
      std::unique_ptr<ReplyStream> stream,
      client.CallStream(options.args[0], options.args[1],
                        Payload(std::move(request)), stream_options));
  while (true) {
    SB_ASSIGN_OR_RETURN(std::optional<Payload> message, stream->Next());
    if (!message.has_value()) return absl::OkStatus();
    SB_RETURN_IF_ERROR(PrintReply(schemas, method, *message, options));
  }
}

}  // namespace

absl::Status RunCall(const Options& options) {
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  if (options.raw) return CallRaw(*client, options);
  Schemas schemas(*client, options.TimeoutOr(kDefaultTimeout));
  absl::StatusOr<const v1::Description*> description =
      schemas.DescribeName(options.args[0]);
  if (absl::IsNotFound(description.status())) {
    // Nobody owns the name: if an activation file describes it, the broker
    // starts its program, and the schema comes from that.
    v1::StartServiceRequest start;
    start.set_name(options.args[0]);
    absl::StatusOr<v1::StartServiceResult> started =
        client->Call<v1::StartServiceResult>(
            kBrokerService, "StartService", start,
            options.TimeoutOr(kDefaultTimeout));
    if (!started.ok() && !absl::IsNotFound(started.status())) {
      return started.status();
    }
    if (started.ok()) description = schemas.DescribeName(options.args[0]);
  }
  if (!description.ok()) return description.status();
  SB_ASSIGN_OR_RETURN(const v1::MethodSchema* method,
                      FindMethod(**description, options.args[1]));
  SB_ASSIGN_OR_RETURN(std::string request,
                      BuildRequest(schemas, *method, options));
  if (method->streaming()) {
    return CallStream(*client, schemas, *method, std::move(request), options);
  }
  SB_ASSIGN_OR_RETURN(Payload reply,
                      client->Call(options.args[0], options.args[1],
                                   Payload(std::move(request)),
                                   options.TimeoutOr(kDefaultTimeout)));
  return PrintReply(schemas, *method, reply, options);
}

}  // namespace switchboard::cli
