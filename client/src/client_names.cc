// SPDX-License-Identifier: MIT
//
// Client::Impl's waiting for services: WatchName() and WaitForService(),
// built on a subscription to the broker's switchboard.name.NAME events and
// on switchboard.Broker's Describe and StartService (docs/PROTOCOL.md 5.6,
// 6.2). NameWatch (name_watch.h) orders the answers and the events.
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/src/client_impl.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"
#include "wire/topic.h"

namespace switchboard {
namespace {

constexpr absl::string_view kBrokerService = "switchboard.Broker";
constexpr absl::string_view kNameTopicPrefix = "switchboard.name.";

// A name that can have an owner: the syntax of a topic (PROTOCOL.md 5.1),
// not under "switchboard." (the broker's).
absl::Status CheckWatchedName(absl::string_view name) {
  if (absl::Status s = wire::ValidateTopic(name); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed service name '", name, "': ", s.message()));
  }
  if (wire::IsReservedTopic(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("service name '", name,
                     "' is under \"switchboard.\", which belongs to the "
                     "broker: nobody else can own it"));
  }
  return absl::OkStatus();
}

// The pattern for `name`'s events: its own topic, or every name's when that
// topic would be longer than a topic may be (the watch ignores the others).
std::string EventPattern(absl::string_view name) {
  std::string topic = absl::StrCat(kNameTopicPrefix, name);
  if (topic.size() <= wire::kMaxTopicBytes) return topic;
  return absl::StrCat(kNameTopicPrefix, ">");
}

// What WaitForService() waits for, filled by its watch on the dispatch
// thread. Guarded by Client::Impl::mu_, whose waiters see it change.
struct Wait {
  bool answered = false;  // the first report or a failed question came
  uint64_t owner = 0;
  absl::Status error;
};

}  // namespace

absl::StatusOr<uint64_t> Client::Impl::WatchName(
    absl::string_view name, NameOwnerCallback callback,
    std::function<void(const absl::Status&)> on_error) {
  SB_RETURN_IF_ERROR(CheckWatchedName(name));
  auto watch = std::make_shared<client::NameWatch>(
      std::string(name), std::move(callback), std::move(on_error));
  const uint64_t id = subscriptions_.NextId();
  SubscribeOptions options;
  options.on_drop = [this, watch, id](const DropReport&) {
    AskOwner(id, watch, watch->OnDrops());
  };
  SB_ASSIGN_OR_RETURN(const uint64_t subscription,
                      SubscribeAs(
                          id, EventPattern(name),
                          [watch](const Message& message) {
                            v1::NameOwnerChanged change;
                            if (change.ParseFromArray(
                                    message.payload.data(),
                                    static_cast<int>(message.payload.size()))) {
                              watch->OnChange(change);
                            }
                          },
                          options));
  // Asked once the broker has the subscription: every change after the
  // answer comes as an event.
  AskOwner(subscription, watch, client::NameWatch::kFirstQuestion);
  return subscription;
}

void Client::Impl::AskOwner(uint64_t subscription,
                            const std::shared_ptr<client::NameWatch>& watch,
                            uint64_t generation) {
  v1::DescribeRequest request;
  request.set_name(watch->name());
  CallAsync(
      kBrokerService, "Describe", Payload(request.SerializeAsString()),
      kDefaultCallTimeout,
      [this, subscription, watch, generation](absl::StatusOr<Payload> reply) {
        absl::StatusOr<uint64_t> owner;
        v1::Description description;
        if (reply.ok()) {
          if (description.ParseFromArray(reply->data(),
                                         static_cast<int>(reply->size()))) {
            owner = description.owner();
          } else {
            owner = absl::InternalError("broker sent a malformed Description");
          }
        } else if (reply.status().code() == absl::StatusCode::kNotFound) {
          owner = 0;  // nobody owns the name
        } else {
          owner = reply.status();
        }
        // The connection is gone (or closing): the watch ends with
        // it, unreported.
        if (!owner.ok() && !connected()) return;
        // Run as the subscription's callback: not once it ended.
        subscriptions_.RunAsCallback(
            subscription, [&] { watch->OnAnswer(generation, owner); });
      });
}

absl::StatusOr<uint64_t> Client::Impl::WaitForService(
    absl::string_view name, absl::Duration timeout,
    const WaitForServiceOptions& options) {
  SB_RETURN_IF_ERROR(CheckWatchedName(name));
  if (OnDispatchThread()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "WaitForService(", name,
        ") cannot run on the dispatch thread (in a handler or callback), "
        "which delivers the events it waits for; use WatchName() there"));
  }
  if (own_loop_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "WaitForService(", name,
        ") needs a dispatch thread to deliver the events it waits for; in "
        "own-loop mode use WatchName()"));
  }
  const absl::Time deadline = absl::Now() + timeout;
  auto wait = std::make_shared<Wait>();
  SB_ASSIGN_OR_RETURN(const uint64_t watch,
                      WatchName(
                          name,
                          [this, wait](const NameOwner& report) {
                            absl::MutexLock lock(&mu_);
                            wait->answered = true;
                            // The first owner seen is the answer, even if it
                            // left since.
                            if (wait->owner == 0) wait->owner = report.owner;
                          },
                          [this, wait](const absl::Status& error) {
                            absl::MutexLock lock(&mu_);
                            wait->answered = true;
                            if (wait->error.ok()) wait->error = error;
                          }));
  absl::StatusOr<uint64_t> result = [&]() -> absl::StatusOr<uint64_t> {
    // The answer about the current owner, whatever `timeout` (it is bounded
    // by the question's own timeout).
    {
      absl::MutexLock lock(&mu_);
      auto answered = [this, &wait]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return wait->answered || link_.closed();
      };
      mu_.Await(absl::Condition(&answered));
      if (wait->owner != 0) return wait->owner;
      if (!wait->error.ok()) return wait->error;
      if (link_.closed()) return closed_;
    }
    if (options.start_activatable && absl::Now() < deadline) {
      // Answers at once if the name was claimed meanwhile; starts the
      // program of an activatable name and answers once it claimed the
      // name; NOT_FOUND for any other name, which the events then report.
      v1::StartServiceRequest start;
      start.set_name(std::string(name));
      absl::StatusOr<Payload> reply = Call(
          kBrokerService, "StartService", Payload(start.SerializeAsString()),
          start.GetTypeName(), deadline - absl::Now());
      if (reply.ok()) {
        v1::StartServiceResult started;
        if (!started.ParseFromArray(reply->data(),
                                    static_cast<int>(reply->size()))) {
          return absl::InternalError(
              "broker sent a malformed StartServiceResult");
        }
        return started.owner();
      }
      if (reply.status().code() != absl::StatusCode::kNotFound &&
          reply.status().code() != absl::StatusCode::kDeadlineExceeded) {
        return reply.status();
      }
    }
    absl::MutexLock lock(&mu_);
    auto owned = [this, &wait]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return wait->owner != 0 || !wait->error.ok() || link_.closed();
    };
    mu_.AwaitWithDeadline(absl::Condition(&owned), deadline);
    if (wait->owner != 0) return wait->owner;
    if (!wait->error.ok()) return wait->error;
    if (link_.closed()) return closed_;
    return absl::DeadlineExceededError(absl::StrCat(
        name, " had no owner within ", absl::FormatDuration(timeout)));
  }();
  // The watch's end is best effort: on a lost connection it ended anyway.
  Unsubscribe(watch).IgnoreError();
  return result;
}

}  // namespace switchboard
