// SPDX-License-Identifier: MIT
//
// switchboard_test_echo: a typed service in its own process, for the tests
// of the `switchboard` tool. It serves one name (default "test.echo") with a
// schema built from schema_echo.proto, so the tool can turn JSON into its
// requests and its replies back into JSON:
//
//   Echo      AllKinds -> AllKinds     answers with its request
//   Fail      FailRequest -> AllKinds  answers with the status it was given
//   Slow      SlowRequest -> AllKinds  waits delay_ms (at most until just
//                                      past the call's deadline), then
//                                      answers AllKinds{text}
//   Count     CountRequest -> stream Tick   Ticks 0 to count-1
//   Announce  AnnounceRequest -> Announced  publishes the AllKinds on the
//                                      topic, typed, then answers
//   Raw       bytes -> bytes           answers with its request (no schema)
//
// It prints "ready" on stdout once it owns the name, and runs until killed.
// Exit codes: 1 if connecting or registering fails, 2 on a usage error.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/testing/schema_echo.pb.h"

namespace switchboard::testing {
namespace {

// How far past the caller's deadline Slow waits at most, so that the call
// surely expires first without blocking the service for long afterwards.
constexpr absl::Duration kPastDeadline = absl::Milliseconds(200);

absl::StatusOr<AllKinds> Slow(const CallInfo& call,
                              const SlowRequest& request) {
  const absl::Time due =
      std::min(absl::Now() + absl::Milliseconds(request.delay_ms()),
               call.deadline + kPastDeadline);
  absl::SleepFor(due - absl::Now());
  AllKinds reply;
  reply.set_text(request.text());
  return reply;
}

absl::Status Count(const CountRequest& request, StreamWriter& writer) {
  for (uint32_t i = 0; i < request.count(); ++i) {
    Tick tick;
    tick.set_index(i);
    tick.set_text(request.text());
    if (absl::Status written = writer.Write(tick); !written.ok()) {
      return written;
    }
  }
  return absl::OkStatus();
}

Service MakeService(const std::string& name, Client& client) {
  Service service(name);
  service.AddMethod<AllKinds, AllKinds>(
      "Echo",
      [](const CallInfo&, const AllKinds& request) -> absl::StatusOr<AllKinds> {
        return request;
      });
  service.AddMethod<FailRequest, AllKinds>(
      "Fail",
      [](const CallInfo&,
         const FailRequest& request) -> absl::StatusOr<AllKinds> {
        absl::Status status(static_cast<absl::StatusCode>(request.code()),
                            request.message());
        if (status.ok()) return AllKinds();
        return status;
      });
  service.AddMethod<SlowRequest, AllKinds>("Slow", Slow);
  service.AddStreamMethod<CountRequest, Tick>(
      "Count", [](const CallInfo&, const CountRequest& request,
                  StreamWriter& writer) { return Count(request, writer); });
  service.AddMethod<AnnounceRequest, Announced>(
      "Announce",
      [&client](const CallInfo&,
                const AnnounceRequest& request) -> absl::StatusOr<Announced> {
        absl::Status published =
            client.Publish(request.topic(), request.message());
        if (!published.ok()) return published;
        Announced reply;
        reply.set_topic(request.topic());
        return reply;
      });
  service.AddMethod(
      "Raw",
      [](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
        return Payload::Copy(request.view());
      });
  return service;
}

int Run(const std::string& address, const std::string& service_name) {
  ConnectOptions options;
  options.client_name = "switchboard_test_echo";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(address, options);
  if (!client.ok()) {
    std::cerr << "connect " << address << ": " << client.status() << "\n";
    return 1;
  }
  absl::StatusOr<NameState> state =
      (*client)->Serve(MakeService(service_name, **client));
  if (!state.ok()) {
    std::cerr << "serve " << service_name << ": " << state.status() << "\n";
    return 1;
  }
  std::cout << "ready" << std::endl;
  while (true) ::pause();
}

}  // namespace
}  // namespace switchboard::testing

int main(int argc, char** argv) {
  std::string address;
  std::string service = "test.echo";
  switchboard::FlagParser flags(
      "switchboard_test_echo",
      "Serves Echo, Fail, Slow, Count, Announce and Raw with a schema, for "
      "the tests of the switchboard tool, until killed.");
  flags.AddString("address", &address, "ADDRESS", "Broker address.");
  flags.AddString("service", &service, "NAME", "Service name to serve.");
  std::vector<std::string> args = flags.ParseOrExit(argc, argv);
  if (!args.empty()) {
    std::cerr << "switchboard_test_echo: unexpected argument " << args[0]
              << "\n";
    return 2;
  }
  return switchboard::testing::Run(address, service);
}
