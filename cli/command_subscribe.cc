// SPDX-License-Identifier: MIT
//
// `switchboard subscribe PATTERN`: one JSON line per message on the topics
// PATTERN matches, and one per drop the broker reports, until Ctrl-C,
// --count messages or --timeout.
#include <string>
#include <variant>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "broker.h"
#include "commands.h"
#include "inbox.h"
#include "json.h"
#include "schemas.h"
#include "signals.h"
#include "switchboard/status_macros.h"

namespace switchboard::cli {
namespace {

using Received = std::variant<Message, DropReport>;

std::string MessageLine(const Message& message, Schemas& schemas) {
  JsonObject line;
  line.Add("time", JsonTime(message.received))
      .Add("topic", message.topic)
      .Add("sender", message.sender)
      .Add("type", message.message_type);
  absl::StatusOr<std::string> json = absl::NotFoundError("no type");
  if (!message.message_type.empty()) {
    json = schemas.ToJson(message.message_type, message.payload.view(), false);
  }
  if (json.ok()) {
    line.AddRaw("message", *json);
  } else {
    line.Add("payload_base64", absl::Base64Escape(message.payload.view()));
  }
  if (!message.payload.buffers().empty()) {
    line.Add("buffers", uint64_t{message.payload.buffers().size()});
  }
  return line.Build();
}

std::string DropLine(uint64_t count, uint64_t total, absl::string_view reason) {
  return JsonObject()
      .Add("time", JsonTime(absl::Now()))
      .Add("dropped", count)
      .Add("total", total)
      .Add("reason", reason)
      .Build();
}

}  // namespace

absl::Status RunSubscribe(const Options& options) {
  // Outlives the signal watcher and the client's threads: both push into it.
  static Inbox<Received>* const inbox = new Inbox<Received>();
  WatchTerminationSignals([](int) { inbox->Interrupt(); });
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  const absl::Time deadline = options.timeout.has_value()
                                  ? absl::Now() + *options.timeout
                                  : absl::InfiniteFuture();
  SubscribeOptions subscribe;
  subscribe.on_drop = [](const DropReport& drop) { inbox->Push(drop); };
  // Messages come for as long as the handle lives: to the end of this run.
  SB_ASSIGN_OR_RETURN(Subscription subscription,
                      client->Subscribe(
                          options.args[0],
                          [](const Message& m) { inbox->Push(m); }, subscribe));
  Schemas schemas(*client, kDefaultTimeout);
  int64_t received = 0;
  // Drops reported so far: `total` in the drop lines counts both, so it is
  // every message of the subscription lost, whoever dropped it.
  uint64_t dropped_by_broker = 0;  // the broker's own running total
  uint64_t dropped_here = 0;  // by this tool, for want of room in the inbox
  while (options.count == 0 || received < options.count) {
    Inbox<Received>::Next next =
        inbox->Take(deadline, [&client] { return client->connected(); });
    if (!next.item.has_value()) {
      switch (next.end) {
        case InboxEnd::kInterrupted:
          return absl::OkStatus();
        case InboxEnd::kDisconnected:
          return absl::UnavailableError(
              "the connection to the broker was lost");
        case InboxEnd::kDeadline:
          if (options.count == 0) return absl::OkStatus();
          return absl::DeadlineExceededError(
              absl::StrCat("only ", received, " of ", options.count,
                           " messages came within ",
                           absl::FormatDuration(*options.timeout)));
      }
    }
    if (next.dropped_before > 0) {
      dropped_here += next.dropped_before;
      PrintLine(DropLine(next.dropped_before, dropped_by_broker + dropped_here,
                         "the switchboard tool fell behind and dropped them "
                         "itself"));
    }
    if (const auto* message = std::get_if<Message>(&*next.item)) {
      PrintLine(MessageLine(*message, schemas));
      ++received;
    } else {
      const DropReport& drop = std::get<DropReport>(*next.item);
      dropped_by_broker = drop.total;
      PrintLine(
          DropLine(drop.count, dropped_by_broker + dropped_here, drop.reason));
    }
  }
  return absl::OkStatus();
}

}  // namespace switchboard::cli
