// SPDX-License-Identifier: MIT
//
// switchboard_test_callee: a service in its own process, so a test can kill
// it with SIGKILL in the middle of a call. It serves one name with two
// methods and reports on stdout what happens, one line each:
//
//   ready              the name is registered; calls may come
//   called Hang ID     a Hang call from connection ID has started
//   streaming ID       a Stream call from connection ID sent its first message
//
// Methods: "Echo" answers with the request; "Hang" never answers (its
// handler blocks until the process dies); "Stream" (a streaming method)
// sends the messages "0", "1", "2", ... for as long as the caller grants
// credit, until Write() fails. Exit codes: 1 if connecting or
// registering fails, 2 on a usage error; otherwise it runs until killed.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "base/flags.h"
#include "switchboard/client.h"
#include "switchboard/service.h"

namespace {

int Run(const std::string& address, const std::string& token_file,
        const std::string& service_name) {
  switchboard::ConnectOptions options;
  options.client_name = "switchboard_test_callee";
  options.token_file = token_file;
  absl::StatusOr<std::unique_ptr<switchboard::Client>> client =
      switchboard::Client::Connect(address, options);
  if (!client.ok()) {
    std::cerr << "connect " << address << ": " << client.status() << "\n";
    return 1;
  }
  // Never notified: Hang handlers wait here until the process is killed.
  absl::Notification never;
  switchboard::Service service(service_name);
  service.AddMethod(
      "Echo",
      [](const switchboard::CallInfo&, const switchboard::Payload& request)
          -> absl::StatusOr<switchboard::Payload> {
        return switchboard::Payload::Copy(request.view());
      });
  service.AddMethod(
      "Hang",
      [&never](const switchboard::CallInfo& call, const switchboard::Payload&)
          -> absl::StatusOr<switchboard::Payload> {
        std::cout << "called Hang " << call.caller << std::endl;
        never.WaitForNotification();
        return switchboard::Payload();
      });
  service.AddStreamMethod(
      "Stream",
      [](const switchboard::CallInfo& call, const switchboard::Payload&,
         switchboard::StreamWriter& writer) -> absl::Status {
        for (uint64_t i = 0;; ++i) {
          absl::Status written =
              writer.Write(switchboard::Payload(std::to_string(i)));
          if (!written.ok()) return written;
          if (i == 0) std::cout << "streaming " << call.caller << std::endl;
        }
      });
  absl::StatusOr<switchboard::NameState> state =
      (*client)->Serve(std::move(service));
  if (!state.ok()) {
    std::cerr << "serve " << service_name << ": " << state.status() << "\n";
    return 1;
  }
  std::cout << "ready" << std::endl;
  while (true) ::pause();
}

}  // namespace

int main(int argc, char** argv) {
  std::string address;
  std::string token_file;
  std::string service = "test.callee";
  switchboard::FlagParser flags(
      "switchboard_test_callee",
      "Serves Echo, Hang and Stream for integration tests, until killed.");
  flags.AddString("address", &address, "ADDRESS", "Broker address.");
  flags.AddString("token-file", &token_file, "PATH", "TCP token file.");
  flags.AddString("service", &service, "NAME", "Service name to serve.");
  flags.ParseOrExit(argc, argv);
  return Run(address, token_file, service);
}
