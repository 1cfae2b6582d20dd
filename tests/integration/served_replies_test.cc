// SPDX-License-Identifier: MIT
//
// When a service's replies leave: each as soon as its handler returns, not
// when the dispatch thread has handled every call it read with it. The
// service's handlers block until the test releases them call by call, and
// the calls are pipelined so that the service reads them all in one go (the
// broker is seen to have written them all to its socket while a first call
// still holds the dispatch thread). Assertions are on order and outcome,
// never on how long anything took.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

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
#include "switchboard/service.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;

// Long enough never to expire on a loaded machine when things work.
constexpr absl::Duration kTimeout = absl::Seconds(20);
// How soon a reply whose handler returned must reach its caller: generous
// for sanitizer builds on a shared machine, yet far below kTimeout, the
// longest a wrongly held reply would wait for the handlers after it.
constexpr absl::Duration kPromptly = absl::Seconds(5);
// Pipelined calls after the first one, which holds the dispatch thread
// while they arrive.
constexpr int kCalls = 20;

// One latch per call index: a "Hold" handler waits for its call's latch.
// A handler gives up after kTimeout so that a failing test cannot hang in a
// client's destructor.
class Latches {
 public:
  explicit Latches(int count) {
    for (int i = 0; i < count; ++i) {
      latches_.push_back(std::make_unique<absl::Notification>());
    }
  }
  void Release(int index) {
    if (!latches_[index]->HasBeenNotified()) latches_[index]->Notify();
  }
  void ReleaseAll() {
    for (size_t i = 0; i < latches_.size(); ++i) Release(static_cast<int>(i));
  }
  // Handler side: records the entry, then waits for the latch.
  void Hold(int index) {
    {
      absl::MutexLock lock(&mu_);
      ++entered_;
    }
    latches_[index]->WaitForNotificationWithTimeout(kTimeout);
  }
  int entered() {
    absl::MutexLock lock(&mu_);
    return entered_;
  }

 private:
  std::vector<std::unique_ptr<absl::Notification>> latches_;
  absl::Mutex mu_;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
};

// "Hold" waits for the latch of the call index its request carries, then
// answers with the request; "Quick" answers with the request at once.
Service HoldingService(const std::string& name, Latches& latches) {
  Service service(name);
  service.AddMethod(
      "Hold",
      [&latches](const CallInfo&,
                 const Payload& request) -> absl::StatusOr<Payload> {
        int index = 0;
        if (!absl::SimpleAtoi(request.view(), &index)) {
          return absl::InvalidArgumentError("not a call index");
        }
        latches.Hold(index);
        return Payload::Copy(request.view());
      });
  service.AddMethod(
      "Quick",
      [](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
        return Payload::Copy(request.view());
      });
  return service;
}

// The outcomes of async calls by call index, each with how many times its
// callback ran.
class Outcomes {
 public:
  explicit Outcomes(int count) : results_(count), calls_(count, 0) {}

  CallCallback Callback(int index) {
    return [this, index](absl::StatusOr<Payload> result) {
      absl::MutexLock lock(&mu_);
      ++calls_[index];
      results_[index] = std::move(result);
    };
  }
  bool Ended(int index) {
    absl::MutexLock lock(&mu_);
    return calls_[index] > 0;
  }
  bool WaitEnded(int index, absl::Duration timeout) {
    return WaitFor([&] { return Ended(index); }, timeout);
  }
  // Indexes in [first, last] whose call has ended.
  std::vector<int> EndedIn(int first, int last) {
    absl::MutexLock lock(&mu_);
    std::vector<int> ended;
    for (int i = first; i <= last; ++i) {
      if (calls_[i] > 0) ended.push_back(i);
    }
    return ended;
  }
  absl::StatusOr<Payload> Result(int index) {
    absl::MutexLock lock(&mu_);
    return results_[index];
  }
  int Calls(int index) {
    absl::MutexLock lock(&mu_);
    return calls_[index];
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::StatusOr<Payload>> results_ ABSL_GUARDED_BY(mu_);
  std::vector<int> calls_ ABSL_GUARDED_BY(mu_);
};

class ServedRepliesTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.started()); }

  // Waits until the broker has written `calls` calls to connection `id`
  // (they wait in its socket for it to read, none in the broker's queue)
  // and none of them is answered yet.
  bool WaitUntilDelivered(Client& admin, uint64_t id, uint32_t calls) {
    return WaitFor(
        [&] {
          absl::StatusOr<v1::ConnectionList> list =
              admin.Call<v1::ConnectionList>(
                  "switchboard.Broker", "ListConnections",
                  v1::ListConnectionsRequest(), kTimeout);
          if (!list.ok()) return false;
          for (const v1::ConnectionInfo& info : list->connections()) {
            if (info.connection_id() == id) {
              return info.calls_serving() == calls && info.queued_bytes() == 0;
            }
          }
          return false;
        },
        kTimeout);
  }

  BrokerProcess broker_{GetParam()};
};

TEST_P(ServedRepliesTest, EachReplyLeavesWhenItsHandlerReturns) {
  // Index 0 holds the dispatch thread while calls 1..kCalls arrive.
  Latches latches(kCalls + 1);
  Outcomes outcomes(kCalls + 1);
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  std::unique_ptr<Client> admin = ConnectOrDie(broker_, "admin");
  // Runs before the clients are destroyed: no handler may still wait then.
  absl::Cleanup release = [&] { latches.ReleaseAll(); };
  ASSERT_THAT(service->Serve(HoldingService("test.hold", latches)),
              IsOkAndHolds(NameState::kOwner));

  caller->CallAsync("test.hold", "Hold", "0", kTimeout, outcomes.Callback(0));
  ASSERT_TRUE(WaitFor([&] { return latches.entered() == 1; }, kTimeout));
  for (int i = 1; i <= kCalls; ++i) {
    caller->CallAsync("test.hold", "Hold", absl::StrCat(i), kTimeout,
                      outcomes.Callback(i));
  }
  ASSERT_TRUE(WaitUntilDelivered(*admin, service->connection_id(),
                                 static_cast<uint32_t>(kCalls + 1)));
  latches.Release(0);
  ASSERT_TRUE(outcomes.WaitEnded(0, kTimeout));

  // Call i's reply arrives while calls i+1.. are still held by their
  // handlers (which the service runs one at a time, in order).
  for (int i = 1; i <= kCalls; ++i) {
    EXPECT_THAT(outcomes.EndedIn(i, kCalls), ::testing::IsEmpty())
        << "before call " << i << " was released";
    latches.Release(i);
    ASSERT_TRUE(outcomes.WaitEnded(i, kPromptly))
        << "call " << i << "'s handler returned but its reply did not arrive "
        << "while the calls after it are held";
    EXPECT_THAT(outcomes.Result(i), IsOkAndHolds(absl::StrCat(i)));
    EXPECT_THAT(outcomes.EndedIn(i + 1, kCalls), ::testing::IsEmpty())
        << "after call " << i << " was released";
  }
  for (int i = 0; i <= kCalls; ++i) EXPECT_EQ(outcomes.Calls(i), 1) << i;
}

TEST_P(ServedRepliesTest, QuickRepliesAreNotHeldPastTheirDeadlineBySlowOnes) {
  // Calls 1..kQuick are answered at once; calls kQuick+1..kCalls are held
  // until their caller has seen them expire. All share one deadline.
  constexpr int kQuick = kCalls / 2;
  // Every call's deadline. Long enough for the quick calls to be answered
  // on a loaded machine; the slow ones outlast it whatever it is.
  constexpr absl::Duration kDeadline = absl::Seconds(5);
  const int marker = kCalls + 1;  // a last quick call, after everything
  Latches latches(kCalls + 1);
  Outcomes outcomes(kCalls + 2);
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  std::unique_ptr<Client> admin = ConnectOrDie(broker_, "admin");
  absl::Cleanup release = [&] { latches.ReleaseAll(); };
  ASSERT_THAT(service->Serve(HoldingService("test.hold", latches)),
              IsOkAndHolds(NameState::kOwner));

  caller->CallAsync("test.hold", "Hold", "0", kTimeout, outcomes.Callback(0));
  ASSERT_TRUE(WaitFor([&] { return latches.entered() == 1; }, kTimeout));
  for (int i = 1; i <= kCalls; ++i) {
    caller->CallAsync("test.hold", i <= kQuick ? "Quick" : "Hold",
                      absl::StrCat(i), kDeadline, outcomes.Callback(i));
  }
  ASSERT_TRUE(WaitUntilDelivered(*admin, service->connection_id(),
                                 static_cast<uint32_t>(kCalls + 1)));
  latches.Release(0);

  // Each slow call is released only once its caller has its outcome, so
  // its handler returns after its deadline.
  for (int i = kQuick + 1; i <= kCalls; ++i) {
    ASSERT_TRUE(outcomes.WaitEnded(i, kTimeout)) << "call " << i;
    EXPECT_THAT(outcomes.Result(i),
                StatusIs(absl::StatusCode::kDeadlineExceeded))
        << "call " << i;
    latches.Release(i);
  }
  // The late replies went before the marker's on the service's connection,
  // and callbacks run in order: once the marker's has run, any second
  // outcome of an earlier call would have too.
  caller->CallAsync("test.hold", "Quick", absl::StrCat(marker), kTimeout,
                    outcomes.Callback(marker));
  ASSERT_TRUE(outcomes.WaitEnded(marker, kTimeout));
  EXPECT_THAT(outcomes.Result(marker), IsOkAndHolds(absl::StrCat(marker)));

  EXPECT_THAT(outcomes.Result(0), IsOkAndHolds("0"));
  for (int i = 1; i <= kQuick; ++i) {
    EXPECT_THAT(outcomes.Result(i), IsOkAndHolds(absl::StrCat(i)))
        << "quick call " << i;
  }
  for (int i = 0; i <= marker; ++i) EXPECT_EQ(outcomes.Calls(i), 1) << i;
}

// A handler may make a synchronous call of its own (here, to the broker)
// also when its CALL was read by another thread of the same client: the
// dispatch thread runs such a handler before it reads again, and must not
// hold the reader role meanwhile, or the handler's call would wait for
// itself until its deadline. The service's own thread keeps pinging so
// that it is often the one reading when a CALL comes.
TEST_P(ServedRepliesTest, AHandlersOwnCallWorksWhileAnotherThreadReads) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  Client* self = service.get();
  Service nested("test.nested");
  nested.AddMethod("PingThenEcho",
                   [self](const CallInfo&,
                          const Payload& request) -> absl::StatusOr<Payload> {
                     if (absl::Status pinged = self->Ping(absl::Seconds(2));
                         !pinged.ok()) {
                       return pinged;
                     }
                     return Payload::Copy(request.view());
                   });
  ASSERT_THAT(service->Serve(std::move(nested)), IsOk());

  // Messages keep arriving for the service, so that its socket is often
  // readable when the dispatch thread wakes for a CALL another thread read.
  absl::StatusOr<Subscription> noise =
      service->Subscribe("test.noise", [](const Message&) {});
  ASSERT_THAT(noise, IsOk());
  std::unique_ptr<Client> publisher = ConnectOrDie(broker_, "publisher");
  std::atomic<bool> stop{false};
  std::atomic<int> pings_failed{0};
  std::thread reader([&] {
    while (!stop.load()) {
      if (!service->Ping(absl::Seconds(5)).ok()) ++pings_failed;
      // Pauses leave the reader role free for the dispatch thread to take
      // in between (they shape the load; nothing waits on them).
      absl::SleepFor(absl::Microseconds(100));
    }
  });
  std::thread noisy([&] {
    while (!stop.load()) {
      publisher->Publish("test.noise", Payload("n")).IgnoreError();
    }
  });
  // Calls in bursts, so that more CALL frames arrive while the first waits
  // for the dispatch thread.
  constexpr int kRounds = 20;
  constexpr int kBurst = 50;
  Outcomes outcomes(kRounds * kBurst);
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kBurst; ++i) {
      caller->CallAsync("test.nested", "PingThenEcho", Payload("x"),
                        absl::Seconds(5),
                        outcomes.Callback(round * kBurst + i));
    }
    for (int i = 0; i < kBurst; ++i) {
      ASSERT_TRUE(outcomes.WaitEnded(round * kBurst + i, absl::Seconds(30)));
    }
  }
  int failed = 0;
  absl::Status first_failure;
  for (int i = 0; i < kRounds * kBurst; ++i) {
    if (!outcomes.Result(i).ok() && failed++ == 0) {
      first_failure = outcomes.Result(i).status();
    }
  }
  stop.store(true);
  reader.join();
  noisy.join();
  EXPECT_EQ(failed, 0) << "first failure: " << first_failure;
  EXPECT_EQ(pings_failed.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(AllTransports, ServedRepliesTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
