// SPDX-License-Identifier: MIT
//
// Own-loop mode (client.h, "Your own loop"): a client connected with
// Threading::kOwnLoop starts no thread; the test's own thread polls fd()
// and calls Process(), and serving, calling, subscribing, publishing,
// async calls, streams and reconnecting all work with every handler and
// callback on that thread. Against the real broker, with ordinary clients
// (dispatch thread) on the other side.
#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/stream.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/echo_service.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerOptions;
using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::EchoService;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::TempDir;

constexpr absl::Duration kTimeout = absl::Seconds(30);

// The threads of this process, from /proc/self/task.
std::set<int> Threads() {
  std::set<int> out;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    int tid;
    if (absl::SimpleAtoi(entry.path().filename().string(), &tid)) {
      out.insert(tid);
    }
  }
  return out;
}

// The application's loop: polls the client's descriptor, at most until
// ProcessTimeout(), and calls Process(), until `done` or the timeout. Some
// conditions are met by other threads, which do not touch the descriptor:
// it looks at `done` at least every kTick, as a loop with a timer would.
constexpr absl::Duration kTick = absl::Milliseconds(10);
bool RunLoopUntil(Client& client, const std::function<bool()>& done,
                  absl::Duration timeout = kTimeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    const absl::Duration wait =
        std::min({client.ProcessTimeout(), left, kTick});
    pollfd p{client.fd(), POLLIN, 0};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(wait)) + 1;
    if (::poll(&p, 1, ms) < 0 && errno != EINTR) return false;
    if (!client.Process().ok()) return false;
  }
  return true;
}

ConnectOptions OwnLoop(const BrokerProcess& broker, const std::string& name) {
  ConnectOptions options = broker.connect_options(name);
  options.threading = Threading::kOwnLoop;
  return options;
}

class OwnLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    other_ = ConnectOrDie(broker_, "other");
    ASSERT_THAT(other_->Serve(EchoService("test.other")), IsOk());
  }

  std::unique_ptr<Client> ConnectOwnLoop(const std::string& name) {
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(broker_.address(), OwnLoop(broker_, name));
    EXPECT_THAT(client, IsOk());
    return client.ok() ? *std::move(client) : nullptr;
  }

  BrokerProcess broker_;
  std::unique_ptr<Client> other_;  // an ordinary client, with its thread
};

TEST_F(OwnLoopTest, StartsNoThreadAndHasADescriptorToPoll) {
  const std::set<int> before = Threads();
  std::unique_ptr<Client> client = ConnectOwnLoop("own");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(Threads(), before);
  EXPECT_GE(client->fd(), 0);
  EXPECT_EQ(other_->fd(), -1);
  EXPECT_EQ(client->ProcessTimeout(), absl::ZeroDuration());  // first read
  ASSERT_THAT(client->Process(), IsOk());
  EXPECT_EQ(client->ProcessTimeout(), absl::InfiniteDuration());
  EXPECT_THAT(other_->Process(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(client->WaitForService("test.other", absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::HasSubstr("WatchName")));
  // A synchronous call needs no loop: the caller reads its own reply.
  EXPECT_THAT(client->Call("test.other", "Echo", Payload("sync"), kTimeout),
              IsOkAndHolds(Payload("sync")));
  EXPECT_EQ(Threads(), before);
}

TEST_F(OwnLoopTest, HandlersAndCallbacksRunInsideProcessOnTheLoopThread) {
  // Before the client: its last callbacks may run in its destructor.
  const std::thread::id loop = std::this_thread::get_id();
  std::atomic<int> off_loop{0};
  int received = 0;
  std::atomic<int> heard{0};
  std::optional<absl::StatusOr<Payload>> async;
  std::unique_ptr<Client> client = ConnectOwnLoop("own");
  ASSERT_NE(client, nullptr);
  auto on_loop = [&] {
    if (std::this_thread::get_id() != loop) ++off_loop;
  };

  // Serving: a handler, called by the ordinary client from another thread.
  Service own("test.own");
  own.AddMethod(
      "Echo",
      [&](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
        on_loop();
        EXPECT_THAT(client->Process(),
                    StatusIs(absl::StatusCode::kFailedPrecondition));
        return Payload(std::string(request.view()));
      });
  ASSERT_THAT(client->Serve(std::move(own)), IsOk());
  std::optional<absl::StatusOr<Payload>> served;
  absl::Mutex mu;
  std::thread caller([&] {
    absl::StatusOr<Payload> reply =
        other_->Call("test.own", "Echo", Payload("hi"), kTimeout);
    absl::MutexLock lock(&mu);
    served = std::move(reply);
  });
  ASSERT_TRUE(RunLoopUntil(*client, [&] {
    absl::MutexLock lock(&mu);
    return served.has_value();
  }));
  caller.join();
  EXPECT_THAT(*served, IsOkAndHolds(Payload("hi")));

  // Subscribing: messages the ordinary client publishes.
  absl::StatusOr<Subscription> subscription =
      client->Subscribe("test.in", [&](const Message& message) {
        on_loop();
        EXPECT_EQ(message.payload.view(), std::to_string(received));
        ++received;
      });
  ASSERT_THAT(subscription, IsOk());
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(other_->Publish("test.in", Payload(std::to_string(i))), IsOk());
  }
  ASSERT_TRUE(RunLoopUntil(*client, [&] { return received == 5; }));

  // Publishing: Process() writes what Publish() queued.
  absl::StatusOr<Subscription> listening = other_->Subscribe(
      "test.out", [&](const Message&) { heard.fetch_add(1); });
  ASSERT_THAT(listening, IsOk());
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(client->Publish("test.out", Payload("x")), IsOk());
  }
  ASSERT_TRUE(RunLoopUntil(*client, [&] { return heard.load() == 5; }));

  // An async call: its callback runs inside Process().
  client->CallAsync("test.other", "Echo", Payload("later"), kTimeout,
                    [&](absl::StatusOr<Payload> reply) {
                      on_loop();
                      async = std::move(reply);
                    });
  ASSERT_TRUE(RunLoopUntil(*client, [&] { return async.has_value(); }));
  EXPECT_THAT(*async, IsOkAndHolds(Payload("later")));
  EXPECT_EQ(off_loop.load(), 0);
}

TEST_F(OwnLoopTest, StreamMessagesAreTakenAfterProcess) {
  std::unique_ptr<Client> client = ConnectOwnLoop("own");
  ASSERT_NE(client, nullptr);
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      client->CallStream("test.other", "Count", Payload());
  ASSERT_THAT(stream, IsOk());
  std::string got;
  bool ended = false;
  ASSERT_TRUE(RunLoopUntil(*client, [&] {
    while (true) {
      absl::StatusOr<std::optional<Payload>> next = (*stream)->Next();
      // Nothing there yet: Next() does not wait in own-loop mode.
      if (!next.ok()) {
        EXPECT_THAT(next, StatusIs(absl::StatusCode::kFailedPrecondition));
        return false;
      }
      if (!next->has_value()) {
        ended = true;
        return true;
      }
      got += std::string((*next)->view());
    }
  }));
  EXPECT_TRUE(ended);
  EXPECT_EQ(got, "012");
}

TEST(OwnLoopRestartTest, ReconnectsInsideProcess) {
  TempDir dir("switchboard-own-loop");
  BrokerOptions options;
  options.dir = dir.path();
  auto broker = std::make_unique<BrokerProcess>(options);
  ASSERT_TRUE(broker->started());
  // Before the client: its last callbacks may run in its destructor.
  std::vector<ConnectionState> states;
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(broker->address(), OwnLoop(*broker, "own"));
  ASSERT_THAT(client, IsOk());
  (*client)->OnConnectionChange(
      [&](const ConnectionEvent& event) { states.push_back(event.state); });
  ASSERT_THAT((*client)->Serve(EchoService("test.own")), IsOk());

  ASSERT_THAT(broker->Stop(SIGKILL), StatusIs(absl::StatusCode::kAborted));
  ASSERT_TRUE(RunLoopUntil(**client, [&] { return !states.empty(); }));
  EXPECT_EQ(states.front(), ConnectionState::kDisconnected);
  // While disconnected, a request fails at once: only Process() reconnects.
  EXPECT_THAT((*client)->Ping(kTimeout),
              StatusIs(absl::StatusCode::kUnavailable));
  broker.reset();
  broker = std::make_unique<BrokerProcess>(options);
  ASSERT_TRUE(broker->started());
  ASSERT_TRUE(RunLoopUntil(
      **client, [&] { return states.back() == ConnectionState::kConnected; }));
  // Its name is back: an ordinary client calls it while the loop runs.
  std::unique_ptr<Client> other = ConnectOrDie(*broker, "other");
  std::atomic<bool> answered{false};
  absl::StatusOr<Payload> reply;
  std::thread caller([&] {
    reply = other->Call("test.own", "Echo", Payload("back"), kTimeout);
    answered.store(true);
  });
  ASSERT_TRUE(RunLoopUntil(**client, [&] { return answered.load(); }));
  caller.join();
  EXPECT_THAT(reply, IsOkAndHolds(Payload("back")));
}

}  // namespace
}  // namespace switchboard
