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
#include "switchboard/shared_buffer.h"

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

// switchboard-memfd's caller: the frame arrives as the reply's buffer 0, a
// SharedBuffer that maps the memfd read-only. The Payload it returns views
// that mapping and holds the buffer, so releasing the reply unmaps the frame
// and closes its descriptor. Any failure ends the round with a message that
// says why: a broker or library that does not pass descriptors fails every
// call alike, and a round of identical losses would say less.
class SwitchboardMemfdCaller : public Caller {
 public:
  explicit SwitchboardMemfdCaller(std::unique_ptr<Client> client)
      : client_(std::move(client)) {}

  absl::StatusOr<Payload> Call(const Payload& request) override {
    absl::StatusOr<Payload> reply =
        client_->Call(ServiceName(Workload::kBigFrame),
                      MethodName(Workload::kBigFrame), request, kCallTimeout);
    if (!reply.ok()) return Fail(reply.status());
    if (reply->buffers().size() != 1) {
      return Fail(absl::DataLossError(absl::StrCat(
          "reply carries ", reply->buffers().size(), " buffers, expected 1")));
    }
    auto frame = std::make_shared<const SharedBuffer>(reply->buffers()[0]);
    if (frame->fd() < 0) {
      return Fail(absl::FailedPreconditionError(
          "the frame arrived inline, not as a memfd (the broker or the "
          "client library did not pass the descriptor)"));
    }
    absl::string_view pixels = frame->data();
    return Payload(std::move(frame), pixels);
  }
  bool usable() const override { return usable_; }

 private:
  absl::Status Fail(const absl::Status& status) {
    usable_ = false;
    return absl::Status(status.code(),
                        absl::StrCat("switchboard-memfd: ", status.message()));
  }

  std::unique_ptr<Client> client_;
  bool usable_ = true;
};

// The GetFrame handler of `system`. Runs on the server's dispatch thread.
// Inline: the pool's frame as the payload's bytes, shared, not copied.
// Memfd: an empty message with the pool's frame attached as buffer 0; the
// pool is never refilled, so sealing kSizeOnly and reusing each buffer for
// every fourth call is safe.
absl::StatusOr<MethodHandler> BigFrameHandler(System system) {
  if (system == System::kSwitchboard) {
    std::vector<std::shared_ptr<const std::string>> pool = RenderBigFramePool();
    return MethodHandler(
        [pool](const CallInfo&,
               const Payload& request) -> absl::StatusOr<Payload> {
          return Payload(pool[BigFrameIndex(request)]);
        });
  }
  std::vector<SharedBuffer> pool;
  for (size_t index = 0; index < kBigFramePoolSize; ++index) {
    absl::StatusOr<SharedBuffer> frame =
        SharedBuffer::Create(kBigFrameReplyBytes, "bench-frame");
    if (!frame.ok()) return frame.status();
    RenderBigFrame(index, frame->mutable_data().data());
    if (absl::Status s = frame->Seal(SharedBuffer::Sealing::kSizeOnly);
        !s.ok()) {
      return s;
    }
    pool.push_back(*std::move(frame));
  }
  return MethodHandler(
      [pool](const CallInfo&,
             const Payload& request) -> absl::StatusOr<Payload> {
        return Payload(std::string(), {pool[BigFrameIndex(request)]});
      });
}

}  // namespace

absl::StatusOr<std::unique_ptr<Caller>> ConnectSwitchboardCaller(
    absl::string_view address, System system, Workload workload) {
  ConnectOptions options;
  options.client_name = "switchboard-bench-client";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(address, options);
  if (!client.ok()) return client.status();
  if (system == System::kSwitchboardMemfd) {
    return std::make_unique<SwitchboardMemfdCaller>(*std::move(client));
  }
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
