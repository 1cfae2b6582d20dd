// SPDX-License-Identifier: MIT
//
// Client::WaitForService() and Client::WatchName() through the real broker:
// an owned name returns at once, a name claimed while waiting returns its
// owner, a timeout names the name, a lost broker ends the wait without
// reconnect and not with it; a watch
// reports the owner it started with, then a release, a claim, a
// replacement and an owner's disconnect, in order; bad names are refused.
#include <csignal>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/clients.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::GetBrokerStatus;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(20);

ServeOptions Replaceable() {
  ServeOptions options;
  options.allow_replacement = true;
  return options;
}

ServeOptions Replace() {
  ServeOptions options;
  options.claim = NameClaim::kReplace;
  return options;
}

// Records a watch's reports as "owner<-previous", "*" marking the first.
class Reports {
 public:
  NameOwnerCallback Callback() {
    return [this](const NameOwner& report) {
      absl::MutexLock lock(&mu_);
      reports_.push_back(absl::StrCat(report.initial ? "*" : "", report.name,
                                      " ", report.owner, "<-",
                                      report.previous_owner));
    };
  }
  // Waits until there are `count` reports, and returns them all.
  std::vector<std::string> WaitForCount(size_t count) {
    WaitFor(
        [&] {
          absl::MutexLock lock(&mu_);
          return reports_.size() >= count;
        },
        kTimeout);
    absl::MutexLock lock(&mu_);
    return reports_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> reports_ ABSL_GUARDED_BY(mu_);
};

class WaitForServiceTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    waiter_ = ConnectOrDie(broker_, "waiter");
    observer_ = ConnectOrDie(broker_, "observer");
  }

  // Whether the broker lists a subscription of `client` to `pattern`.
  bool Subscribed(const Client& client, const std::string& pattern) {
    absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(*observer_);
    if (!status.ok()) return false;
    for (const v1::SubscriptionStatus& s : status->subscriptions()) {
      if (s.connection_id() == client.connection_id() &&
          s.pattern() == pattern) {
        return true;
      }
    }
    return false;
  }

  BrokerProcess broker_{GetParam()};
  // Before the clients: their dispatch threads may report to it until they
  // are destroyed.
  Reports reports_;
  std::unique_ptr<Client> waiter_;
  std::unique_ptr<Client> observer_;  // asks the broker for its status
};

TEST_P(WaitForServiceTest, AnOwnedNameReturnsItsOwnerAtOnce) {
  std::unique_ptr<Client> owner = ConnectOrDie(broker_, "owner");
  ASSERT_THAT(owner->Serve(Service("test.owned")), IsOk());
  EXPECT_THAT(waiter_->WaitForService("test.owned", kTimeout),
              IsOkAndHolds(owner->connection_id()));
  // A zero timeout still gets the broker's answer about the current owner.
  EXPECT_THAT(waiter_->WaitForService("test.owned", absl::ZeroDuration()),
              IsOkAndHolds(owner->connection_id()));
}

TEST_P(WaitForServiceTest, ANameClaimedWhileWaitingReturnsItsOwner) {
  std::future<absl::StatusOr<uint64_t>> waited =
      std::async(std::launch::async, [&] {
        return waiter_->WaitForService("test.later", absl::InfiniteDuration());
      });
  // Waiting: subscribed to the name's events.
  ASSERT_TRUE(WaitFor(
      [&] { return Subscribed(*waiter_, "switchboard.name.test.later"); },
      kTimeout));
  std::unique_ptr<Client> owner = ConnectOrDie(broker_, "owner");
  ASSERT_THAT(owner->Serve(Service("test.later")), IsOk());
  EXPECT_THAT(waited.get(), IsOkAndHolds(owner->connection_id()));
  // The wait's subscription ended with it.
  EXPECT_TRUE(WaitFor(
      [&] { return !Subscribed(*waiter_, "switchboard.name.test.later"); },
      kTimeout));
}

TEST_P(WaitForServiceTest, ATimeoutNamesTheName) {
  absl::StatusOr<uint64_t> waited =
      waiter_->WaitForService("test.never", absl::Milliseconds(200));
  EXPECT_THAT(waited, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(waited.status().message(), HasSubstr("test.never"));
}

TEST_P(WaitForServiceTest, WithoutReconnectALostBrokerEndsTheWait) {
  ConnectOptions options = broker_.connect_options("fixed");
  options.reconnect.enabled = false;
  absl::StatusOr<std::unique_ptr<Client>> fixed =
      Client::Connect(broker_.address(), options);
  ASSERT_THAT(fixed, IsOk());
  std::future<absl::StatusOr<uint64_t>> waited =
      std::async(std::launch::async, [&] {
        return (*fixed)->WaitForService("test.gone", absl::InfiniteDuration());
      });
  ASSERT_TRUE(
      WaitFor([&] { return Subscribed(**fixed, "switchboard.name.test.gone"); },
              kTimeout));
  ASSERT_THAT(broker_.Stop(), IsOk());
  EXPECT_THAT(waited.get(), StatusIs(absl::StatusCode::kUnavailable));
}

// With reconnect (the default) a restart does not end the wait: the owner
// that appears on the new broker does.
TEST(WaitForServiceRestartTest, TheWaitGoesOnAcrossABrokerRestart) {
  testing::TempDir dir("switchboard-wait-restart");
  testing::BrokerOptions options;
  options.dir = dir.path();
  auto broker = std::make_unique<BrokerProcess>(options);
  ASSERT_TRUE(broker->started());
  std::unique_ptr<Client> waiter = ConnectOrDie(*broker, "waiter");
  std::future<absl::StatusOr<uint64_t>> waited =
      std::async(std::launch::async, [&] {
        return waiter->WaitForService("test.later", absl::InfiniteDuration());
      });
  {
    std::unique_ptr<Client> observer = ConnectOrDie(*broker, "observer");
    // The wait has begun once the broker answered who owns the name (nobody):
    // the watch subscribed first.
    ASSERT_TRUE(WaitFor(
        [&] {
          absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(*observer);
          if (!status.ok()) return false;
          for (const v1::SubscriptionStatus& s : status->subscriptions()) {
            if (s.pattern() == "switchboard.name.test.later") return true;
          }
          return false;
        },
        kTimeout));
  }
  ASSERT_THAT(broker->Stop(SIGKILL), StatusIs(absl::StatusCode::kAborted));
  broker.reset();
  broker = std::make_unique<BrokerProcess>(options);
  ASSERT_TRUE(broker->started());
  std::unique_ptr<Client> service = ConnectOrDie(*broker, "service");
  ASSERT_THAT(service->Serve(Service("test.later")), IsOk());
  EXPECT_THAT(waited.get(), IsOkAndHolds(service->connection_id()));
}

TEST_P(WaitForServiceTest, WaitingInAHandlerIsRefused) {
  Service service("test.handler");
  service.AddMethod(
      "Wait", [&](const CallInfo&, const Payload&) -> absl::StatusOr<Payload> {
        return waiter_->WaitForService("test.other", kTimeout).status();
      });
  ASSERT_THAT(waiter_->Serve(std::move(service)), IsOk());
  EXPECT_THAT(observer_->Call("test.handler", "Wait", "", kTimeout),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_P(WaitForServiceTest, BadNamesAreRefused) {
  for (const char* name : {"", "test..name", "test.*", "test.>",
                           "switchboard.Broker", "switchboard.anything"}) {
    EXPECT_THAT(waiter_->WaitForService(name, kTimeout),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << "'" << name << "'";
    EXPECT_THAT(waiter_->WatchName(name, nullptr),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << "'" << name << "'";
  }
}

TEST_P(WaitForServiceTest, AWatchSeesTheOwnerThenEachChangeInOrder) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(Service("test.watched")), IsOk());
  const uint64_t a_id = a->connection_id();
  absl::StatusOr<Subscription> watch =
      waiter_->WatchName("test.watched", reports_.Callback());
  ASSERT_THAT(watch, IsOk());
  ASSERT_THAT(reports_.WaitForCount(1),
              ElementsAre(absl::StrCat("*test.watched ", a_id, "<-0")));

  ASSERT_THAT(a->Release("test.watched"), IsOk());
  ASSERT_EQ(reports_.WaitForCount(2).size(), 2u);

  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  ASSERT_THAT(b->Serve(Service("test.watched"), Replaceable()), IsOk());
  const uint64_t b_id = b->connection_id();
  ASSERT_EQ(reports_.WaitForCount(3).size(), 3u);

  std::unique_ptr<Client> c = ConnectOrDie(broker_, "c");
  ASSERT_THAT(c->Serve(Service("test.watched"), Replace()), IsOk());
  const uint64_t c_id = c->connection_id();
  ASSERT_EQ(reports_.WaitForCount(4).size(), 4u);

  c.reset();  // an owner that disconnects loses the name
  EXPECT_THAT(reports_.WaitForCount(5),
              ElementsAre(absl::StrCat("*test.watched ", a_id, "<-0"),
                          absl::StrCat("test.watched 0<-", a_id),
                          absl::StrCat("test.watched ", b_id, "<-0"),
                          absl::StrCat("test.watched ", c_id, "<-", b_id),
                          absl::StrCat("test.watched 0<-", c_id)));
  EXPECT_THAT(watch->Unsubscribe(), IsOk());
}

TEST_P(WaitForServiceTest, AWatchOfAnUnownedNameStartsWithNoOwner) {
  absl::StatusOr<Subscription> watch =
      waiter_->WatchName("test.free", reports_.Callback());
  ASSERT_THAT(watch, IsOk());
  ASSERT_THAT(reports_.WaitForCount(1), ElementsAre("*test.free 0<-0"));
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(Service("test.free")), IsOk());
  EXPECT_THAT(
      reports_.WaitForCount(2),
      ElementsAre("*test.free 0<-0",
                  absl::StrCat("test.free ", a->connection_id(), "<-0")));
}

TEST_P(WaitForServiceTest, ALongNameIsWatchedToo) {
  // "switchboard.name." and this name exceed a topic's 255 bytes: the watch
  // takes every name's events and keeps this one's.
  const std::string name = absl::StrCat("test.", std::string(245, 'n'));
  std::unique_ptr<Client> other = ConnectOrDie(broker_, "other");
  absl::StatusOr<Subscription> watch =
      waiter_->WatchName(name, reports_.Callback());
  ASSERT_THAT(watch, IsOk());
  ASSERT_EQ(reports_.WaitForCount(1).size(), 1u);
  ASSERT_THAT(other->Serve(Service("test.unrelated")), IsOk());
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  ASSERT_THAT(a->Serve(Service(name)), IsOk());
  EXPECT_THAT(reports_.WaitForCount(2),
              ElementsAre(absl::StrCat("*", name, " 0<-0"),
                          absl::StrCat(name, " ", a->connection_id(), "<-0")));
  EXPECT_THAT(waiter_->WaitForService(name, kTimeout),
              IsOkAndHolds(a->connection_id()));
}

INSTANTIATE_TEST_SUITE_P(AllTransports, WaitForServiceTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
