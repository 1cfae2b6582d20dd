// SPDX-License-Identifier: MIT
//
// The router's part in service activation (docs/ARCHITECTURE.md,
// "Activation"): holding a call to an unowned activatable name while its
// program starts, forwarding the held calls once the name is claimed, and
// failing them when the program does not claim it. Activations decides
// what is held; the server starts the programs (start_activation_).
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/core/frames.h"
#include "daemon/core/router.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::core {

void Router::SetActivatableServices(std::vector<ActivatableService> services) {
  activations_.SetServices(std::move(services));
}

void Router::HoldCall(const Peer& from, wire::Frame frame, const v1::Call& call,
                      const ActivatableService& service, absl::Time deadline,
                      absl::Time now, bool start_only) {
  const RequestId caller_request_id(frame.request_id());
  absl::StatusOr<std::optional<uint64_t>> attempt =
      activations_.Hold(service,
                        HeldCall{from,
                                 caller_request_id,
                                 deadline,
                                 call,
                                 std::move(frame),
                                 {},
                                 start_only},
                        now);
  if (!attempt.ok()) {
    ++stats_.calls_refused;
    if (!monitors_.empty()) {
      MonitorAnswer(from.id, RequestId(), call.service(), call.method(),
                    attempt.status());
    }
    Answer(from.id, caller_request_id, attempt.status());
    return;
  }
  ++stats_.calls_held;
  if (!attempt->has_value()) return;
  ++stats_.activations;
  const absl::Status started =
      start_activation_
          ? start_activation_(service, **attempt)
          : absl::FailedPreconditionError("this broker starts no programs");
  if (!started.ok()) {
    OnActivationFailed(service.name, **attempt, started.message());
  }
}

void Router::ReleaseHeldCalls(absl::string_view name) {
  if (!activations_.Activating(name)) return;
  const std::optional<SessionId> owner = names_.OwnerOf(name);
  if (!owner) return;
  for (HeldCall& held : activations_.TakeClaimed(name)) {
    const Peer from = held.from;
    const RequestId caller_request_id = held.caller_request_id;
    if (held.start_only) {
      v1::StartServiceResult result;
      result.set_owner(owner->value());
      Deliver(from.id, BuildReply(caller_request_id, absl::OkStatus(),
                                  result.SerializeAsString()));
      continue;
    }
    ForwardCall(from, std::move(held.frame), held.call, *owner, held.deadline);
    if (!calls_.IsPending(from.id, caller_request_id)) continue;
    for (wire::Frame& credit : held.credits) OnCredit(from, std::move(credit));
  }
}

void Router::FailHeldCall(const HeldCall& held, const absl::Status& status) {
  if (!monitors_.empty()) {
    MonitorAnswer(held.from.id, RequestId(), held.call.service(),
                  held.call.method(), status);
  }
  Answer(held.from.id, held.caller_request_id, status);
}

void Router::FailActivation(const Activations::Failure& failure,
                            absl::string_view reason) {
  ++stats_.activations_failed;
  const absl::Status status = absl::UnavailableError(absl::StrCat(
      "activation of ", failure.service.name, " failed: ", reason));
  for (const HeldCall& held : failure.calls) {
    ++stats_.calls_unavailable;
    FailHeldCall(held, status);
  }
}

void Router::OnActivationFailed(absl::string_view name, uint64_t attempt,
                                absl::string_view reason) {
  if (std::optional<Activations::Failure> failure =
          activations_.Fail(name, attempt)) {
    FailActivation(*failure, reason);
  }
}

}  // namespace switchboard::core
