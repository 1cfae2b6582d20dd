// SPDX-License-Identifier: MIT
//
// The client library's handles through the real broker. A Subscription
// ends its subscription when dropped (the broker stops listing it), moves
// without ending or duplicating it, can be released to Client::Unsubscribe,
// may outlive its Client, and may be dropped inside its own callback or on
// the dispatch thread while another thread destroys the Client. A
// PendingCall's Cancel() reaches the callee as a CANCEL and ends the call
// exactly once with CANCELLED, only while the call is pending, also when
// it races the reply; dropping a PendingCall cancels nothing. Every suite
// runs over both transports.
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/pending_call.h"
#include "switchboard/subscription.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/async_results.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/clients.h"
#include "tests/testing/echo_service.h"
#include "tests/testing/message_log.h"
#include "tests/testing/raw_clients.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"
#include "wire/prefix.h"

namespace switchboard {
namespace {

using ::switchboard::testing::AsyncResults;
using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::ConnectRawCallee;
using ::switchboard::testing::EchoService;
using ::switchboard::testing::GetBrokerStatus;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::MessageLog;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Long enough never to expire on a loaded machine when things work.
constexpr absl::Duration kTimeout = absl::Seconds(20);

// Holds handlers of a "Block" method until Open(). A handler gives up after
// kTimeout so that a failing test cannot hang in a client's destructor.
struct Gate {
  absl::Notification open;
  std::atomic<int> entered{0};

  void Open() {
    if (!open.HasBeenNotified()) open.Notify();
  }
};

// "Block" waits for the gate, then answers with the request.
Service BlockingService(const std::string& name, std::shared_ptr<Gate> gate) {
  Service service(name);
  service.AddMethod("Block",
                    [gate](const CallInfo&,
                           const Payload& request) -> absl::StatusOr<Payload> {
                      ++gate->entered;
                      gate->open.WaitForNotificationWithTimeout(kTimeout);
                      return Payload::Copy(request.view());
                    });
  return service;
}

class HandlesTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    publisher_ = ConnectOrDie(broker_, "publisher");
  }

  // How many subscriptions took a message published on `topic`.
  absl::StatusOr<uint32_t> Delivered(absl::string_view topic,
                                     absl::string_view text) {
    absl::StatusOr<PublishResult> result =
        publisher_->PublishConfirmed(topic, Payload::Copy(text));
    if (!result.ok()) return result.status();
    return result->delivered;
  }

  // The ids of the subscriptions the broker lists for `connection`.
  std::vector<uint64_t> Listed(uint64_t connection) {
    std::vector<uint64_t> ids;
    absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(*publisher_);
    EXPECT_THAT(status, IsOk());
    if (!status.ok()) return ids;
    for (const v1::SubscriptionStatus& s : status->subscriptions()) {
      if (s.connection_id() == connection) ids.push_back(s.subscription_id());
    }
    return ids;
  }

  BrokerProcess broker_{GetParam()};
  std::unique_ptr<Client> publisher_;
};

TEST_P(HandlesTest, DroppingTheHandleEndsTheSubscription) {
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  MessageLog log;
  uint64_t id = 0;
  {
    absl::StatusOr<Subscription> subscription =
        subscriber->Subscribe("handles.drop", log.OnMessage());
    ASSERT_THAT(subscription, IsOk());
    ASSERT_TRUE(*subscription);
    id = subscription->id();
    EXPECT_NE(id, 0u);
    EXPECT_THAT(Delivered("handles.drop", "before"), IsOkAndHolds(1u));
    ASSERT_TRUE(log.WaitForMessages(1, kTimeout));
    EXPECT_THAT(Listed(subscriber->connection_id()), ElementsAre(id));
    absl::StatusOr<SubscriptionStats> stats = subscription->stats();
    ASSERT_THAT(stats, IsOk());
    EXPECT_EQ(stats->pattern, "handles.drop");
  }
  EXPECT_THAT(subscriber->GetSubscriptionStats(id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Listed(subscriber->connection_id()), IsEmpty());
  EXPECT_THAT(Delivered("handles.drop", "after"), IsOkAndHolds(0u));
  ASSERT_THAT(subscriber->Ping(), IsOk());
  EXPECT_THAT(log.Payloads(), ElementsAre("before"));
}

TEST_P(HandlesTest, MovingAHandleKeepsExactlyOneLiveSubscription) {
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  const uint64_t connection = subscriber->connection_id();
  absl::StatusOr<Subscription> first =
      subscriber->Subscribe("handles.first", [](const Message&) {});
  ASSERT_THAT(first, IsOk());
  const uint64_t first_id = first->id();

  Subscription moved(*std::move(first));
  EXPECT_FALSE(*first);
  EXPECT_EQ(first->id(), 0u);
  EXPECT_EQ(moved.id(), first_id);
  *first = Subscription();  // an empty handle ends nothing
  EXPECT_THAT(Listed(connection), ElementsAre(first_id));
  EXPECT_THAT(Delivered("handles.first", "1"), IsOkAndHolds(1u));

  // Assignment ends the target's subscription and takes the source's.
  absl::StatusOr<Subscription> second =
      subscriber->Subscribe("handles.second", [](const Message&) {});
  ASSERT_THAT(second, IsOk());
  const uint64_t second_id = second->id();
  EXPECT_THAT(Listed(connection), UnorderedElementsAre(first_id, second_id));
  *second = std::move(moved);
  EXPECT_FALSE(moved);
  EXPECT_EQ(second->id(), first_id);
  EXPECT_THAT(subscriber->GetSubscriptionStats(second_id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Listed(connection), ElementsAre(first_id));
  EXPECT_THAT(Delivered("handles.second", "2"), IsOkAndHolds(0u));
  EXPECT_THAT(Delivered("handles.first", "3"), IsOkAndHolds(1u));

  // Into a vector and out again: still the one subscription.
  std::vector<Subscription> kept;
  kept.push_back(*std::move(second));
  kept.emplace_back();
  kept.emplace_back();  // the vector grows: its handles move
  EXPECT_THAT(Listed(connection), ElementsAre(first_id));
  EXPECT_EQ(kept[0].id(), first_id);
  kept.clear();
  EXPECT_THAT(Listed(connection), IsEmpty());
  EXPECT_THAT(Delivered("handles.first", "4"), IsOkAndHolds(0u));
}

TEST_P(HandlesTest, AReleasedSubscriptionLivesUntilClientUnsubscribe) {
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  const uint64_t connection = subscriber->connection_id();
  MessageLog log;
  absl::StatusOr<Subscription> subscription =
      subscriber->Subscribe("handles.released", log.OnMessage());
  ASSERT_THAT(subscription, IsOk());
  const uint64_t id = subscription->id();
  EXPECT_EQ(subscription->Release(), id);
  EXPECT_FALSE(*subscription);
  EXPECT_EQ(subscription->Release(), 0u);
  EXPECT_THAT(subscription->Unsubscribe(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  *subscription = Subscription();  // dropping the emptied handle ends nothing

  EXPECT_THAT(Delivered("handles.released", "kept"), IsOkAndHolds(1u));
  ASSERT_TRUE(log.WaitForMessages(1, kTimeout));
  EXPECT_THAT(subscriber->GetSubscriptionStats(id), IsOk());
  EXPECT_THAT(Listed(connection), ElementsAre(id));

  ASSERT_THAT(subscriber->Unsubscribe(id), IsOk());
  EXPECT_THAT(Listed(connection), IsEmpty());
  EXPECT_THAT(Delivered("handles.released", "gone"), IsOkAndHolds(0u));
  ASSERT_THAT(subscriber->Ping(), IsOk());
  EXPECT_THAT(log.Payloads(), ElementsAre("kept"));
}

TEST_P(HandlesTest, AHandleWhoseSubscriptionClientUnsubscribeEndedSaysSo) {
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  absl::StatusOr<Subscription> subscription =
      subscriber->Subscribe("handles.ended", [](const Message&) {});
  ASSERT_THAT(subscription, IsOk());
  ASSERT_THAT(subscriber->Unsubscribe(subscription->id()), IsOk());
  EXPECT_THAT(subscription->stats(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(subscription->Unsubscribe(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(*subscription);
  EXPECT_TRUE(subscriber->connected());
}

TEST_P(HandlesTest, HandlesThatOutliveTheirClientAreHarmless) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(service->Serve(BlockingService("test.gate", gate)), IsOk());
  absl::Cleanup open_gate = [gate] { gate->Open(); };

  std::unique_ptr<Client> client = ConnectOrDie(broker_, "client");
  const uint64_t connection = client->connection_id();
  MessageLog log;
  absl::StatusOr<Subscription> dropped =
      client->Subscribe("handles.dropped", log.OnMessage());
  ASSERT_THAT(dropped, IsOk());
  absl::StatusOr<Subscription> ended =
      client->Subscribe("handles.ended", log.OnMessage());
  ASSERT_THAT(ended, IsOk());
  absl::StatusOr<Subscription> released =
      client->Subscribe("handles.released", log.OnMessage());
  ASSERT_THAT(released, IsOk());
  absl::StatusOr<Subscription> watch =
      client->WatchName("test.gate", [](const NameOwner&) {});
  ASSERT_THAT(watch, IsOk());
  const uint64_t released_id = released->id();
  AsyncResults result;
  PendingCall call =
      client->CallAsync("test.gate", "Block", "x", kTimeout, result.Callback());
  ASSERT_TRUE(call);
  ASSERT_TRUE(WaitFor([&] { return gate->entered.load() == 1; }, kTimeout));

  client.reset();
  EXPECT_THAT(result.Results(),
              ElementsAre(StatusIs(absl::StatusCode::kCancelled)));
  EXPECT_FALSE(call.Cancel());
  EXPECT_EQ(result.Results().size(), 1u);
  EXPECT_THAT(ended->stats(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ended->Unsubscribe(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_FALSE(*ended);
  EXPECT_EQ(released->Release(), released_id);
  { Subscription gone = *std::move(dropped); }
  *watch = Subscription();
  PendingCall moved = std::move(call);
  EXPECT_FALSE(moved.Cancel());
  // The broker forgot the connection's subscriptions with it.
  EXPECT_TRUE(WaitFor([&] { return Listed(connection).empty(); }, kTimeout));
}

TEST_P(HandlesTest, AHandleDroppedInsideItsOwnCallbackEndsTheSubscription) {
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  // Published after the others: once it arrives, the dispatch thread has
  // handled (or discarded) every message published before it.
  MessageLog barrier;
  absl::StatusOr<Subscription> barrier_subscription =
      subscriber->Subscribe("handles.barrier", barrier.OnMessage());
  ASSERT_THAT(barrier_subscription, IsOk());

  struct Holder {
    absl::Mutex mu;
    std::optional<Subscription> handle ABSL_GUARDED_BY(mu);
    int calls ABSL_GUARDED_BY(mu) = 0;
    absl::Notification dropped;
  };
  auto holder = std::make_shared<Holder>();
  absl::StatusOr<Subscription> subscription =
      subscriber->Subscribe("handles.self", [holder](const Message&) {
        std::optional<Subscription> mine;
        {
          absl::MutexLock lock(&holder->mu);
          ++holder->calls;
          mine = std::move(holder->handle);
          holder->handle.reset();
        }
        mine.reset();  // unsubscribes, inside the subscription's callback
        if (!holder->dropped.HasBeenNotified()) holder->dropped.Notify();
      });
  ASSERT_THAT(subscription, IsOk());
  const uint64_t id = subscription->id();
  {
    absl::MutexLock lock(&holder->mu);
    holder->handle = *std::move(subscription);
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(publisher_->Publish("handles.self", Payload(absl::StrCat(i))),
                IsOk());
  }
  ASSERT_THAT(publisher_->Publish("handles.barrier", Payload("end")), IsOk());
  ASSERT_TRUE(holder->dropped.WaitForNotificationWithTimeout(kTimeout));
  ASSERT_TRUE(barrier.WaitForMessages(1, kTimeout));
  {
    absl::MutexLock lock(&holder->mu);
    EXPECT_EQ(holder->calls, 1);
  }
  EXPECT_THAT(subscriber->GetSubscriptionStats(id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Listed(subscriber->connection_id()),
              ElementsAre(barrier_subscription->id()));
  EXPECT_THAT(Delivered("handles.self", "after"), IsOkAndHolds(0u));
  EXPECT_TRUE(subscriber->connected());
}

// Three threads: X drops a handle whose callback runs on the dispatch
// thread, so X waits for that callback; the callback then drops another
// handle; meanwhile a third thread destroys the Client, which waits for X.
// The callback's drop must neither wait for the destructor nor touch the
// connection the destructor is about to close.
TEST_P(HandlesTest, DroppingHandlesWhileTheClientIsDestroyedDoesNotDeadlock) {
  std::unique_ptr<Client> client = ConnectOrDie(broker_, "client");
  struct Shared {
    absl::Notification in_callback;
    absl::Notification go;
    absl::Mutex mu;
    std::optional<Subscription> other ABSL_GUARDED_BY(mu);
  };
  auto shared = std::make_shared<Shared>();
  absl::StatusOr<Subscription> blocking =
      client->Subscribe("handles.block", [shared](const Message&) {
        if (!shared->in_callback.HasBeenNotified()) {
          shared->in_callback.Notify();
        }
        // Bounded, so that a failing test cannot hang here.
        shared->go.WaitForNotificationWithTimeout(kTimeout);
        std::optional<Subscription> other;
        {
          absl::MutexLock lock(&shared->mu);
          other = std::move(shared->other);
        }
        other.reset();  // on the dispatch thread, the Client going away
      });
  ASSERT_THAT(blocking, IsOk());
  const uint64_t blocking_id = blocking->id();
  absl::StatusOr<Subscription> other =
      client->Subscribe("handles.other", [](const Message&) {});
  ASSERT_THAT(other, IsOk());
  {
    absl::MutexLock lock(&shared->mu);
    shared->other = *std::move(other);
  }
  // Tells, once the Client began its destructor, that it detached its
  // handles.
  absl::StatusOr<Subscription> probe =
      client->Subscribe("handles.probe", [](const Message&) {});
  ASSERT_THAT(probe, IsOk());

  Subscription blocking_handle = *std::move(blocking);
  std::thread dropper;
  std::thread destroyer;
  std::atomic<bool> destroyed{false};
  absl::Cleanup join = [&] {
    if (!shared->go.HasBeenNotified()) shared->go.Notify();
    if (dropper.joinable()) dropper.join();
    if (destroyer.joinable()) destroyer.join();
  };
  ASSERT_THAT(publisher_->Publish("handles.block", Payload("x")), IsOk());
  ASSERT_TRUE(shared->in_callback.WaitForNotificationWithTimeout(kTimeout));

  dropper = std::thread([&blocking_handle] {
    blocking_handle = Subscription();  // waits for the running callback
  });
  // The subscription is gone from the library's table once the dropper
  // waits for its callback.
  ASSERT_TRUE(WaitFor(
      [&] {
        return client->GetSubscriptionStats(blocking_id).status().code() ==
               absl::StatusCode::kNotFound;
      },
      kTimeout));
  destroyer = std::thread([&] {
    client.reset();
    destroyed.store(true);
  });
  ASSERT_TRUE(WaitFor([&] { return !probe->stats().ok(); }, kTimeout));
  EXPECT_FALSE(destroyed.load());  // it waits for the dropper
  shared->go.Notify();
  if (!WaitFor([&] { return destroyed.load(); }, kTimeout)) {
    ADD_FAILURE() << "~Client still waits: a deadlock";
    std::abort();  // the threads cannot be joined
  }
  EXPECT_THAT(probe->Unsubscribe(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_P(HandlesTest, CancelReachesTheCalleeAndEndsTheCallOnceWithCancelled) {
  absl::StatusOr<RawConnection> callee = ConnectRawCallee(broker_, "test.raw");
  ASSERT_THAT(callee, IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  AsyncResults result;
  PendingCall call =
      caller->CallAsync("test.raw", "Wait", "x", kTimeout, result.Callback());
  ASSERT_TRUE(call);
  absl::StatusOr<wire::Frame> forwarded = callee->ReadFrame(kTimeout);
  ASSERT_THAT(forwarded, IsOk());
  ASSERT_EQ(forwarded->kind(), wire::Kind::kCall);

  EXPECT_TRUE(call.Cancel());
  ASSERT_TRUE(result.WaitForCount(1, kTimeout));
  EXPECT_THAT(result.Results(),
              ElementsAre(StatusIs(absl::StatusCode::kCancelled)));
  // The callee is told, as for a call whose deadline passed.
  absl::StatusOr<wire::Frame> cancel = callee->ReadFrame(kTimeout);
  ASSERT_THAT(cancel, IsOk());
  EXPECT_EQ(cancel->kind(), wire::Kind::kCancel);
  EXPECT_EQ(cancel->request_id(), forwarded->request_id());
  EXPECT_EQ(cancel->prefix().sender, caller->connection_id());

  // The callee's late reply, then a PING: once the PING is answered the
  // broker has handled the reply (a connection's frames in order), and
  // the caller's own PING answer comes after anything sent to it before.
  ASSERT_THAT(callee->SendFrame(wire::Kind::kReply, forwarded->request_id(),
                                v1::Header(), "too late"),
              IsOk());
  ASSERT_THAT(callee->SendFrame(wire::Kind::kPing, 2, v1::Header()), IsOk());
  absl::StatusOr<wire::Frame> pong = callee->ReadFrame(kTimeout);
  ASSERT_THAT(pong, IsOk());
  EXPECT_EQ(pong->kind(), wire::Kind::kReply);
  ASSERT_THAT(caller->Ping(), IsOk());
  // An async call behind it: its callback runs after anything queued.
  AsyncResults barrier;
  caller->CallAsync("switchboard.Broker", "GetStatus", Payload(), kTimeout,
                    barrier.Callback());
  ASSERT_TRUE(barrier.WaitForCount(1, kTimeout));
  EXPECT_FALSE(call.Cancel());
  EXPECT_THAT(result.Results(),
              ElementsAre(StatusIs(absl::StatusCode::kCancelled)));
}

TEST_P(HandlesTest, CancelAfterTheReplyReturnsFalseAndRunsNothing) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  ASSERT_THAT(service->Serve(EchoService("test.echo")), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  AsyncResults result;
  PendingCall call = caller->CallAsync("test.echo", "Echo", "answered",
                                       kTimeout, result.Callback());
  ASSERT_TRUE(result.WaitForCount(1, kTimeout));
  EXPECT_FALSE(call.Cancel());
  EXPECT_FALSE(call.Cancel());
  // Callbacks run in order: once this one ran, a callback the Cancel()
  // calls had queued would have run too.
  AsyncResults barrier;
  caller->CallAsync("test.echo", "Echo", "barrier", kTimeout,
                    barrier.Callback());
  ASSERT_TRUE(barrier.WaitForCount(1, kTimeout));
  EXPECT_THAT(result.Replies(), ElementsAre(IsOkAndHolds("answered")));
}

TEST_P(HandlesTest, DroppingAPendingCallDoesNotCancelIt) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(service->Serve(BlockingService("test.gate", gate)), IsOk());
  absl::Cleanup open_gate = [gate] { gate->Open(); };
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  AsyncResults result;
  {
    PendingCall call = caller->CallAsync("test.gate", "Block", "kept", kTimeout,
                                         result.Callback());
    ASSERT_TRUE(call);
    ASSERT_TRUE(WaitFor([&] { return gate->entered.load() == 1; }, kTimeout));
  }
  gate->Open();
  ASSERT_TRUE(result.WaitForCount(1, kTimeout));
  EXPECT_THAT(result.Replies(), ElementsAre(IsOkAndHolds("kept")));
}

TEST_P(HandlesTest, ACallThatCannotStartGivesAnEmptyHandle) {
  BrokerProcess small(GetParam(), {"--max-payload-bytes=1024"});
  ASSERT_TRUE(small.started());
  std::unique_ptr<Client> caller = ConnectOrDie(small, "caller");
  AsyncResults result;
  PendingCall call =
      caller->CallAsync("test.any", "Big", Payload(std::string(2048, 'b')),
                        kTimeout, result.Callback());
  EXPECT_FALSE(call);
  EXPECT_FALSE(call.Cancel());
  ASSERT_TRUE(result.WaitForCount(1, kTimeout));
  EXPECT_THAT(result.Results(),
              ElementsAre(StatusIs(absl::StatusCode::kResourceExhausted)));
}

// Calls whose handler, as it returns, hands the call to threads that
// cancel it: each Cancel() races the reply on its way back through the
// broker. Several threads start the calls and several cancel them.
struct CancelRace {
  absl::Mutex mu;
  std::deque<int> replied ABSL_GUARDED_BY(mu);  // calls whose handler ran
  std::vector<std::optional<PendingCall>> calls ABSL_GUARDED_BY(mu);
  int taken ABSL_GUARDED_BY(mu) = 0;

  explicit CancelRace(int count) { calls.resize(count); }

  // Cancellers: the next call to cancel once its handler ran and its
  // handle is here; nullopt when all were taken or none came in time.
  std::optional<std::pair<int, PendingCall>> Next(int count) {
    absl::MutexLock lock(&mu);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return taken == count ||
             (!replied.empty() && calls[replied.front()].has_value());
    };
    if (!mu.AwaitWithTimeout(absl::Condition(&ready), kTimeout) ||
        taken == count) {
      return std::nullopt;
    }
    const int i = replied.front();
    replied.pop_front();
    ++taken;
    PendingCall call = *std::move(calls[i]);
    calls[i].reset();
    return std::make_pair(i, std::move(call));
  }
};

// Whichever wins each race, the callback runs exactly once, with CANCELLED
// exactly when Cancel() said it cancelled.
TEST_P(HandlesTest, CancelRacingTheReplyEndsEveryCallExactlyOnce) {
  constexpr int kStarters = 4;
  constexpr int kCancellers = 3;
  constexpr int kCallsEach = 250;
  constexpr int kCalls = kStarters * kCallsEach;
  struct Outcome {
    std::atomic<int> calls{0};
    std::atomic<int> code{-1};
  };
  // Declared before the clients, whose callbacks use them until they go.
  std::vector<Outcome> outcomes(kCalls);
  std::vector<char> cancelled(kCalls, 0);  // each index written by one thread
  auto race = std::make_shared<CancelRace>(kCalls);
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  Service echo("test.echo");
  echo.AddMethod("Echo",
                 [race](const CallInfo&,
                        const Payload& request) -> absl::StatusOr<Payload> {
                   int i = 0;
                   if (absl::SimpleAtoi(request.view(), &i)) {
                     absl::MutexLock lock(&race->mu);
                     race->replied.push_back(i);
                   }
                   return Payload::Copy(request.view());
                 });
  ASSERT_THAT(service->Serve(std::move(echo)), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");

  std::vector<std::thread> threads;
  for (int t = 0; t < kStarters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t * kCallsEach; i < (t + 1) * kCallsEach; ++i) {
        PendingCall call = caller->CallAsync(
            "test.echo", "Echo", Payload(absl::StrCat(i)), kTimeout,
            [&outcomes, i](absl::StatusOr<Payload> reply) {
              outcomes[i].code.store(static_cast<int>(reply.status().code()));
              outcomes[i].calls.fetch_add(1);
            });
        absl::MutexLock lock(&race->mu);
        race->calls[i] = std::move(call);
      }
    });
  }
  for (int t = 0; t < kCancellers; ++t) {
    threads.emplace_back([&] {
      while (std::optional<std::pair<int, PendingCall>> next =
                 race->Next(kCalls)) {
        cancelled[next->first] = next->second.Cancel();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const Outcome& outcome : outcomes) {
          if (outcome.calls.load() == 0) return false;
        }
        return true;
      },
      kTimeout));
  // Late replies and the broker's answers to the CANCELs come before this
  // call's reply, and callbacks run in order.
  AsyncResults barrier;
  caller->CallAsync("test.echo", "Echo", "barrier", kTimeout,
                    barrier.Callback());
  ASSERT_TRUE(barrier.WaitForCount(1, kTimeout));
  int cancels = 0;
  for (int i = 0; i < kCalls; ++i) {
    SCOPED_TRACE(absl::StrCat("call ", i));
    EXPECT_EQ(outcomes[i].calls.load(), 1);
    const absl::StatusCode expected =
        cancelled[i] ? absl::StatusCode::kCancelled : absl::StatusCode::kOk;
    EXPECT_EQ(outcomes[i].code.load(), static_cast<int>(expected));
    cancels += cancelled[i];
  }
  // Which side wins each race is up to the machine; only report it.
  RecordProperty("cancelled", cancels);
  EXPECT_TRUE(caller->connected());
}

INSTANTIATE_TEST_SUITE_P(AllTransports, HandlesTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
