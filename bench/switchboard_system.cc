// SPDX-License-Identifier: MIT
#include "bench/switchboard_system.h"

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/child_process.h"
#include "switchboard/client.h"
#include "switchboard/service.h"

namespace switchboard::bench {
namespace {

// Generous: a call that takes this long is lost, not merely slow.
constexpr absl::Duration kCallTimeout = absl::Seconds(10);

const char* ServiceName(Workload workload) {
  return workload == Workload::kRtt ? "bench.rtt" : "bench.bigframe";
}

const char* MethodName(Workload workload) {
  return workload == Workload::kRtt ? "Echo" : "GetFrame";
}

class SwitchboardCaller : public Caller {
 public:
  SwitchboardCaller(std::unique_ptr<Client> client, Workload workload)
      : client_(std::move(client)),
        service_(ServiceName(workload)),
        method_(MethodName(workload)) {}

  absl::StatusOr<Payload> Call(const Payload& request) override {
    return client_->Call(service_, method_, request, kCallTimeout);
  }
  bool usable() const override { return client_->connected(); }

 private:
  std::unique_ptr<Client> client_;
  const char* service_;
  const char* method_;
};

// The GetFrame handler of `system`. Runs on the server's dispatch thread.
// The pool's frame as the payload's bytes, shared, not copied.
absl::StatusOr<MethodHandler> BigFrameHandler(System system) {
  if (system == System::kSwitchboard) {
    std::vector<std::shared_ptr<const std::string>> pool = RenderBigFramePool();
    return MethodHandler(
        [pool](const CallInfo&,
               const Payload& request) -> absl::StatusOr<Payload> {
          return Payload(pool[BigFrameIndex(request)]);
        });
  }
  return absl::InvalidArgumentError(
      absl::StrCat(SystemName(system), " has no switchboard server"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Caller>> ConnectSwitchboardCaller(
    absl::string_view address, [[maybe_unused]] System system,
    Workload workload) {
  ConnectOptions options;
  options.client_name = "switchboard-bench-client";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(address, options);
  if (!client.ok()) return client.status();
  return std::make_unique<SwitchboardCaller>(*std::move(client), workload);
}

int RunSwitchboardServer(System system, Workload workload,
                         absl::string_view address) {
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "switchboard-bench switchboard-server: %s\n",
                 status.ToString().c_str());
    return 1;
  };
  // The rtt echo shares the received request's frame; no copies.
  MethodHandler handler =
      [](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
    return request;
  };
  if (workload == Workload::kBigFrame) {
    absl::StatusOr<MethodHandler> frames = BigFrameHandler(system);
    if (!frames.ok()) return fail(frames.status());
    handler = *std::move(frames);
  }
  ConnectOptions options;
  options.client_name = "switchboard-bench-server";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(address, options);
  if (!client.ok()) return fail(client.status());

  Service service(ServiceName(workload));
  service.AddMethod(MethodName(workload), std::move(handler));
  absl::StatusOr<NameState> state = (*client)->Serve(std::move(service));
  if (!state.ok()) return fail(state.status());
  if (*state != NameState::kOwner) {
    return fail(absl::AlreadyExistsError(
        absl::StrCat(ServiceName(workload), " is owned by someone else")));
  }
  if (absl::Status s = AnnounceReady(); !s.ok()) return fail(s);
  WaitForStopCue();
  return 0;
}

}  // namespace switchboard::bench
