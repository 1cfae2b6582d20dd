// SPDX-License-Identifier: MIT
//
// install_app ADDRESS: a program written as any application would be, with
// only the installed headers and library. Prints the library's version,
// serves install.test/Echo, calls itself through the broker and asks the
// broker for its status, with the public protocol types
// (switchboard/v1/broker.pb.h). Exits 0 when all of it worked, 1 otherwise.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/version.h"

namespace {

using switchboard::v1::BrokerStatus;
using switchboard::v1::DescribeRequest;
using switchboard::v1::GetStatusRequest;

absl::Status Run(const std::string& address) {
  SB_ASSIGN_OR_RETURN(std::unique_ptr<switchboard::Client> client,
                      switchboard::Client::Connect(address));
  switchboard::Service echo("install.test");
  echo.AddMethod<DescribeRequest, DescribeRequest>(
      "Echo",
      [](const switchboard::CallInfo&, const DescribeRequest& request)
          -> absl::StatusOr<DescribeRequest> { return request; });
  SB_RETURN_IF_ERROR(client->Serve(std::move(echo)).status());

  DescribeRequest request;
  request.set_name("hello from outside the tree");
  SB_ASSIGN_OR_RETURN(
      DescribeRequest reply,
      client->Call<DescribeRequest>("install.test", "Echo", request));
  if (reply.name() != request.name()) {
    return absl::InternalError("echo returned '" + reply.name() + "'");
  }
  std::printf("echo: %s\n", reply.name().c_str());

  SB_ASSIGN_OR_RETURN(
      BrokerStatus status,
      client->Call<BrokerStatus>("switchboard.Broker", "GetStatus",
                                 GetStatusRequest()));
  std::printf("broker: %s\n", status.version().c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: install_app ADDRESS\n");
    return 2;
  }
  std::printf("library: %s (headers %s)\n", switchboard::Version(),
              SWITCHBOARD_VERSION_STRING);
  if (absl::Status status = Run(argv[1]); !status.ok()) {
    std::fprintf(stderr, "install_app: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
