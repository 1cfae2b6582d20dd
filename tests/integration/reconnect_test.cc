// SPDX-License-Identifier: MIT
//
// Reconnecting across broker restarts (client.h, "Reconnect"): the broker
// is killed (SIGKILL) or stopped (SIGTERM) while clients call, serve,
// stream, publish and subscribe, and a new broker is started on the same
// socket, also the way a systemd socket unit starts one
// (systemd-socket-activate). Every client comes back by itself: names owned by
// the same programs, subscriptions delivering, every call and stream ended
// exactly once, every subscriber told of the gap. No test asserts how long the
// reconnect took; the SIGKILL test prints it ("reconnected in") for the
// record.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/service.h"
#include "switchboard/stream.h"
#include "tests/testing/async_results.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/echo_service.h"
#include "tests/testing/socket_activation.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait_for.h"

namespace switchboard {
namespace {

using ::switchboard::testing::AsyncResults;
using ::switchboard::testing::BrokerOptions;
using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::EchoService;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::SocketActivatedBroker;
using ::switchboard::testing::SocketActivationOptions;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::TempDir;
using ::switchboard::testing::WaitFor;
using ::testing::HasSubstr;

// Long enough never to expire on a loaded machine when things work.
constexpr absl::Duration kTimeout = absl::Seconds(30);

// Records a client's connection events.
class ConnectionLog {
 public:
  ConnectionCallback Callback() {
    return [this](const ConnectionEvent& event) {
      absl::MutexLock lock(&mu_);
      events_.push_back(event);
    };
  }
  std::vector<ConnectionEvent> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  int Count(ConnectionState state) const {
    absl::MutexLock lock(&mu_);
    int count = 0;
    for (const ConnectionEvent& event : events_) count += event.state == state;
    return count;
  }
  bool WaitFor(ConnectionState state, int count = 1) const {
    return testing::WaitFor([&] { return Count(state) >= count; }, kTimeout);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<ConnectionEvent> events_ ABSL_GUARDED_BY(mu_);
};

// A subscriber's messages and drop reports.
class Inbox {
 public:
  MessageCallback OnMessage() {
    return [this](const Message& message) {
      absl::MutexLock lock(&mu_);
      last_ = std::string(message.payload.view());
      ++messages_;
    };
  }
  DropCallback OnDrop() {
    return [this](const DropReport& report) {
      absl::MutexLock lock(&mu_);
      reasons_.push_back(report.reason);
    };
  }
  int messages() const {
    absl::MutexLock lock(&mu_);
    return messages_;
  }
  std::string last() const {
    absl::MutexLock lock(&mu_);
    return last_;
  }
  int gap_reports() const {
    absl::MutexLock lock(&mu_);
    int count = 0;
    for (const std::string& reason : reasons_) count += reason == "reconnected";
    return count;
  }

 private:
  mutable absl::Mutex mu_;
  int messages_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> reasons_ ABSL_GUARDED_BY(mu_);
};

// A client called `name` connected to `address`; nullptr (and the test
// fails) if it cannot connect.
std::unique_ptr<Client> ConnectNamed(const std::string& address,
                                     const std::string& name,
                                     ConnectOptions options = {}) {
  options.client_name = name;
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(address, options);
  EXPECT_THAT(client, IsOk());
  return client.ok() ? *std::move(client) : nullptr;
}

// Names the tests of the suites parameterized by the signal that stops the
// broker.
std::string SignalName(const ::testing::TestParamInfo<int>& param) {
  return param.param == SIGKILL ? "Sigkill" : "Sigterm";
}

class ReconnectTest : public ::testing::Test {
 protected:
  void SetUp() override { StartBroker(); }

  void StartBroker() {
    BrokerOptions options;
    options.dir = dir_.path();
    broker_ = std::make_unique<BrokerProcess>(options);
    ASSERT_TRUE(broker_->started());
  }

  // Stops the broker with `signal`: SIGTERM is a clean exit, SIGKILL ends
  // it (kAborted).
  void StopBroker(int signal) {
    if (signal == SIGKILL) {
      EXPECT_THAT(broker_->Stop(signal), StatusIs(absl::StatusCode::kAborted));
    } else {
      EXPECT_THAT(broker_->Stop(signal), IsOkAndHolds(0));
    }
  }

  // Stops the broker with `signal` and starts a new one on the same socket.
  void RestartBroker(int signal) {
    StopBroker(signal);
    broker_.reset();
    StartBroker();
  }

  std::unique_ptr<Client> Connect(const std::string& name,
                                  ConnectOptions options = {}) {
    return ConnectNamed(broker_->address(), name, std::move(options));
  }

  TempDir dir_{"switchboard-reconnect"};
  std::unique_ptr<BrokerProcess> broker_;
};

// Calls in a loop from its own thread; every call ends exactly once (a
// synchronous call returns once), and only with OK, kUnavailable (in flight
// at the break) or kNotFound (made after the caller was back and before the
// service was).
class CallLoop {
 public:
  explicit CallLoop(Client& client)
      : thread_([this, &client] {
          for (int i = 0; !stop_.load(); ++i) {
            absl::StatusOr<Payload> reply = client.Call(
                "test.echo", "Echo", Payload(absl::StrCat(i)), kTimeout);
            absl::MutexLock lock(&mu_);
            if (reply.ok()) {
              ++ok_;
              if (reply->view() != absl::StrCat(i)) ++wrong_;
            } else if (reply.status().code() ==
                       absl::StatusCode::kUnavailable) {
              ++unavailable_;
            } else if (reply.status().code() == absl::StatusCode::kNotFound) {
              ++not_found_;  // reconnected before the service was back
            } else {
              ++other_;
              last_other_ = reply.status();
            }
          }
        }) {}
  ~CallLoop() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  int ok() const {
    absl::MutexLock lock(&mu_);
    return ok_;
  }
  int unavailable() const {
    absl::MutexLock lock(&mu_);
    return unavailable_;
  }
  int not_found() const {
    absl::MutexLock lock(&mu_);
    return not_found_;
  }
  int wrong() const {
    absl::MutexLock lock(&mu_);
    return wrong_;
  }
  int other() const {
    absl::MutexLock lock(&mu_);
    return other_;
  }
  absl::Status last_other() const {
    absl::MutexLock lock(&mu_);
    return last_other_;
  }

 private:
  mutable absl::Mutex mu_;
  int ok_ ABSL_GUARDED_BY(mu_) = 0;
  int unavailable_ ABSL_GUARDED_BY(mu_) = 0;
  int not_found_ ABSL_GUARDED_BY(mu_) = 0;
  int wrong_ ABSL_GUARDED_BY(mu_) = 0;
  int other_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_other_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Publishes in a loop; a publish made while disconnected waits for the
// reconnect, so at most the one that met the break fails.
class PublishLoop {
 public:
  explicit PublishLoop(Client& client)
      : thread_([this, &client] {
          for (int i = 0; !stop_.load(); ++i) {
            absl::Status published = client.Publish(
                "load.ticks", Payload(absl::StrCat(i)), "", kTimeout);
            absl::MutexLock lock(&mu_);
            if (!published.ok()) failures_.push_back(published);
          }
        }) {}
  ~PublishLoop() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  std::vector<absl::Status> failures() const {
    absl::MutexLock lock(&mu_);
    return failures_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The broker goes away under load (killed, or stopped cleanly) and a new
// one starts on the same socket: everything works again by itself.
class RestartUnderLoadTest : public ReconnectTest,
                             public ::testing::WithParamInterface<int> {};

TEST_P(RestartUnderLoadTest, EverythingComesBack) {
  const int signal = GetParam();
  // Before the clients: their callbacks use these until they are destroyed.
  ConnectionLog service_log, caller_log, publisher_log, sub_log[2];
  Inbox inbox[2];
  std::unique_ptr<Client> service = Connect("service");
  std::unique_ptr<Client> caller = Connect("caller");
  std::unique_ptr<Client> streamer = Connect("streamer");
  std::unique_ptr<Client> publisher = Connect("publisher");
  std::unique_ptr<Client> subscriber[2] = {Connect("sub0"), Connect("sub1")};
  ASSERT_TRUE(service && caller && streamer && publisher && subscriber[0] &&
              subscriber[1]);
  service->OnConnectionChange(service_log.Callback());
  caller->OnConnectionChange(caller_log.Callback());
  publisher->OnConnectionChange(publisher_log.Callback());
  ASSERT_THAT(service->Serve(EchoService("test.echo")), IsOk());
  Subscription subscriptions[2];  // restored with their connections
  for (int i = 0; i < 2; ++i) {
    subscriber[i]->OnConnectionChange(sub_log[i].Callback());
    SubscribeOptions options;
    options.on_drop = inbox[i].OnDrop();
    absl::StatusOr<Subscription> subscription =
        subscriber[i]->Subscribe("load.>", inbox[i].OnMessage(), options);
    ASSERT_THAT(subscription, IsOk());
    subscriptions[i] = *std::move(subscription);
  }

  // Load: calls, a stream, messages.
  CallLoop calls(*caller);
  PublishLoop publishes(*publisher);
  StreamOptions stream_options;
  stream_options.window = 4;
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      streamer->CallStream("test.echo", "Ticks", Payload(), stream_options);
  ASSERT_THAT(stream, IsOk());
  ASSERT_THAT((*stream)->Next(), IsOk());  // the stream is running
  ASSERT_TRUE(WaitFor(
      [&] {
        return calls.ok() > 10 && inbox[0].messages() > 10 &&
               inbox[1].messages() > 10;
      },
      kTimeout));

  const absl::Time stopped = absl::Now();
  RestartBroker(signal);
  const absl::Time restarted = absl::Now();

  // Everyone reconnects and restores by itself.
  ASSERT_TRUE(service_log.WaitFor(ConnectionState::kConnected));
  ASSERT_TRUE(caller_log.WaitFor(ConnectionState::kConnected));
  ASSERT_TRUE(publisher_log.WaitFor(ConnectionState::kConnected));
  ASSERT_TRUE(sub_log[0].WaitFor(ConnectionState::kConnected));
  ASSERT_TRUE(sub_log[1].WaitFor(ConnectionState::kConnected));
  // From here on the service has its name back: no call meets NOT_FOUND
  // or UNAVAILABLE any more but the one that may be in flight now.
  const int ok_before = calls.ok();
  const int failed_before = calls.not_found() + calls.unavailable();
  const int messages_before[2] = {inbox[0].messages(), inbox[1].messages()};
  ASSERT_TRUE(WaitFor(
      [&] {
        return calls.ok() > ok_before + 10 &&
               inbox[0].messages() > messages_before[0] + 10 &&
               inbox[1].messages() > messages_before[1] + 10;
      },
      kTimeout));
  const absl::Time working = absl::Now();
  std::cout << "reconnected in " << absl::FormatDuration(working - restarted)
            << " after the new broker was ready ("
            << absl::FormatDuration(working - stopped)
            << " after the old one was stopped)\n";

  // The name is served by the same program, on its new connection.
  std::unique_ptr<Client> newcomer = Connect("newcomer");
  ASSERT_NE(newcomer, nullptr);
  absl::StatusOr<Payload> reply =
      newcomer->Call("test.echo", "Echo", Payload("hello"), kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->view(), "hello");
  absl::StatusOr<uint64_t> owner =
      newcomer->WaitForService("test.echo", absl::ZeroDuration());
  ASSERT_THAT(owner, IsOk());
  EXPECT_EQ(*owner, service->connection_id());

  // The stream in flight ended once, with kUnavailable, after the messages
  // that arrived before the break; its end then stays the same.
  absl::StatusOr<std::optional<Payload>> next;
  do {
    next = (*stream)->Next();
  } while (next.ok() && next->has_value());
  EXPECT_THAT(next, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT((*stream)->Next(), StatusIs(absl::StatusCode::kUnavailable));

  calls.Stop();
  publishes.Stop();
  EXPECT_EQ(calls.wrong(), 0);
  EXPECT_EQ(calls.other(), 0) << calls.last_other();
  // The call in flight at the break; after a SIGTERM also one made between
  // the broker's answer to that call and the news of its shutdown.
  EXPECT_LE(calls.unavailable(), signal == SIGTERM ? 2 : 1);
  EXPECT_LE(calls.not_found() + calls.unavailable(), failed_before + 1);
  const std::vector<absl::Status> publish_failures = publishes.failures();
  EXPECT_LE(publish_failures.size(), 1u);
  for (const absl::Status& failure : publish_failures) {
    EXPECT_THAT(failure, StatusIs(absl::StatusCode::kUnavailable));
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(inbox[i].gap_reports(), 1) << "subscriber " << i;
    // kDisconnected, then kConnected; failed attempts in between.
    std::vector<ConnectionEvent> events = sub_log[i].events();
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events.front().state, ConnectionState::kDisconnected);
    EXPECT_FALSE(events.front().reason.ok());
    EXPECT_EQ(events.back().state, ConnectionState::kConnected);
    EXPECT_EQ(events.back().connection_id, subscriber[i]->connection_id());
    EXPECT_TRUE(subscriber[i]->connected());
  }
  if (signal == SIGTERM) {
    // A clean stop announces itself, and the reason says so to a client
    // that only reads (one that writes may meet the closed socket first).
    EXPECT_THAT(std::string(sub_log[0].events().front().reason.message()),
                HasSubstr("shutting down"));
  }
}

INSTANTIATE_TEST_SUITE_P(Signals, RestartUnderLoadTest,
                         ::testing::Values(SIGKILL, SIGTERM), SignalName);

// Holds a client's reconnect back: its kDisconnected report (on the
// dispatch thread, which reconnects next) waits for Release().
class ReconnectGate {
 public:
  ConnectionCallback Callback() {
    return [this](const ConnectionEvent& event) {
      if (event.state == ConnectionState::kDisconnected) {
        disconnected_.Notify();
        release_.WaitForNotificationWithTimeout(kTimeout);
      }
      if (event.state == ConnectionState::kConnected) connected_.Notify();
    };
  }
  bool WaitDisconnected() {
    return disconnected_.WaitForNotificationWithTimeout(kTimeout);
  }
  void Release() { release_.Notify(); }
  bool WaitConnected() {
    return connected_.WaitForNotificationWithTimeout(kTimeout);
  }

 private:
  absl::Notification disconnected_;
  absl::Notification release_;
  absl::Notification connected_;
};

TEST_F(ReconnectTest, NameTakenDuringTheGapIsReportedLost) {
  // Before the client: its callbacks use these until it is destroyed.
  ReconnectGate gate;
  absl::Mutex mu;
  std::vector<std::pair<std::string, bool>> changes;
  std::unique_ptr<Client> owner = Connect("owner");
  ASSERT_NE(owner, nullptr);
  owner->OnConnectionChange(gate.Callback());
  owner->OnNameChange([&](absl::string_view name, bool owned) {
    absl::MutexLock lock(&mu);
    changes.emplace_back(std::string(name), owned);
  });
  ASSERT_THAT(owner->Serve(EchoService("test.taken")), IsOk());
  ASSERT_THAT(owner->Serve(EchoService("test.kept")), IsOk());

  RestartBroker(SIGKILL);
  ASSERT_TRUE(gate.WaitDisconnected());
  // Another program claims one of the names before the owner is back.
  std::unique_ptr<Client> impostor = Connect("impostor");
  ASSERT_NE(impostor, nullptr);
  ASSERT_THAT(impostor->Serve(EchoService("test.taken")), IsOk());
  gate.Release();
  ASSERT_TRUE(gate.WaitConnected());

  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return !changes.empty();
      },
      kTimeout));
  {
    absl::MutexLock lock(&mu);
    EXPECT_THAT(changes, ::testing::ElementsAre(
                             std::make_pair(std::string("test.taken"), false)));
  }
  // The other name came back to its owner; the lost one is not served any
  // more (Release says so).
  absl::StatusOr<uint64_t> kept =
      impostor->WaitForService("test.kept", absl::ZeroDuration());
  ASSERT_THAT(kept, IsOk());
  EXPECT_EQ(*kept, owner->connection_id());
  absl::StatusOr<uint64_t> taken =
      impostor->WaitForService("test.taken", absl::ZeroDuration());
  ASSERT_THAT(taken, IsOk());
  EXPECT_EQ(*taken, impostor->connection_id());
  EXPECT_THAT(owner->Release("test.taken"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ReconnectTest, AQueuedClaimantBackFirstTakesTheName) {
  // Before the clients: their callbacks use these until they are destroyed.
  ReconnectGate first_gate;
  absl::Notification first_lost, second_gained;
  std::unique_ptr<Client> first = Connect("first");
  std::unique_ptr<Client> second = Connect("second");
  ASSERT_TRUE(first && second);
  first->OnConnectionChange(first_gate.Callback());
  first->OnNameChange([&](absl::string_view name, bool owned) {
    if (name == "test.queue" && !owned) first_lost.Notify();
  });
  second->OnNameChange([&](absl::string_view name, bool owned) {
    if (name == "test.queue" && owned) second_gained.Notify();
  });
  ASSERT_THAT(first->Serve(EchoService("test.queue")), IsOk());
  ServeOptions queue;
  queue.claim = NameClaim::kQueue;
  ASSERT_THAT(second->Serve(EchoService("test.queue"), queue),
              ::switchboard::testing::IsOkAndHolds(NameState::kQueued));

  RestartBroker(SIGKILL);
  ASSERT_TRUE(first_gate.WaitDisconnected());
  // The queued client is back first: the name is free, so it owns it now.
  ASSERT_TRUE(second_gained.WaitForNotificationWithTimeout(kTimeout));
  first_gate.Release();
  // The old owner claimed it without queueing: it lost the name.
  ASSERT_TRUE(first_lost.WaitForNotificationWithTimeout(kTimeout));
  absl::StatusOr<uint64_t> owner =
      first->WaitForService("test.queue", absl::ZeroDuration());
  ASSERT_THAT(owner, IsOk());
  EXPECT_EQ(*owner, second->connection_id());
}

TEST_F(ReconnectTest, CallsMadeWhileDisconnectedWaitForTheReconnect) {
  // Before the clients: their callbacks may run until they are destroyed.
  AsyncResults short_async, long_async;
  ConnectionLog service_log;
  ReconnectGate gate;
  std::unique_ptr<Client> service = Connect("service");
  std::unique_ptr<Client> caller = Connect("caller");
  ASSERT_TRUE(service && caller);
  service->OnConnectionChange(service_log.Callback());
  ASSERT_THAT(service->Serve(EchoService("test.echo")), IsOk());
  caller->OnConnectionChange(gate.Callback());

  RestartBroker(SIGKILL);
  ASSERT_TRUE(gate.WaitDisconnected());
  // The service is back (its name too) before the caller may be.
  ASSERT_TRUE(service_log.WaitFor(ConnectionState::kConnected));
  EXPECT_FALSE(caller->connected());
  // Started while the caller cannot reconnect: a call with a short timeout
  // fails kUnavailable at its deadline, sync or async; others wait and go
  // through once the gate opens.
  EXPECT_THAT(
      caller->Call("test.echo", "Echo", Payload("x"), absl::Milliseconds(50)),
      StatusIs(absl::StatusCode::kUnavailable,
               HasSubstr("no connection came back in time")));
  // Async calls park; the dispatch thread (held by the gate) fails the
  // short one at its deadline once it runs again, before it reconnects.
  caller->CallAsync("test.echo", "Echo", Payload("short"),
                    absl::Milliseconds(1), short_async.Callback());
  caller->CallAsync("test.echo", "Echo", Payload("long"), kTimeout,
                    long_async.Callback());
  absl::StatusOr<Payload> waited;
  absl::Notification waiting_started;
  std::thread waiting([&] {
    waiting_started.Notify();
    waited = caller->Call("test.echo", "Echo", Payload("waited"), kTimeout);
  });
  waiting_started.WaitForNotification();
  // Waiting out the short call's deadline (not synchronisation): it must
  // have passed when the gate opens.
  absl::SleepFor(absl::Milliseconds(2));
  gate.Release();
  waiting.join();
  ASSERT_TRUE(short_async.WaitForCount(1, kTimeout));
  EXPECT_THAT(short_async.Results(),
              ::testing::ElementsAre(StatusIs(absl::StatusCode::kUnavailable)));
  ASSERT_THAT(waited, IsOk());
  EXPECT_EQ(waited->view(), "waited");
  ASSERT_TRUE(long_async.WaitForCount(1, kTimeout));
  EXPECT_THAT(long_async.Results(), ::testing::ElementsAre(IsOk()));
  EXPECT_TRUE(caller->connected());
}

// A CallAsync() made while disconnected is parked; cancelling its
// PendingCall then ends it at once and it is never sent.
TEST_F(ReconnectTest, ACallCancelledWhileParkedIsNeverSent) {
  // Declared before the clients, whose callbacks use them.
  absl::Mutex mu;
  std::vector<std::string> received;  // guarded by mu
  ReconnectGate service_gate, gate;
  std::unique_ptr<Client> service = Connect("service");
  std::unique_ptr<Client> caller = Connect("caller");
  ASSERT_TRUE(service && caller);
  Service recorder("test.recorder");
  recorder.AddMethod(
      "Record",
      [&](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
        absl::MutexLock lock(&mu);
        received.emplace_back(request.view());
        return Payload(std::string(request.view()));
      });
  ASSERT_THAT(service->Serve(std::move(recorder)), IsOk());
  service->OnConnectionChange(service_gate.Callback());
  caller->OnConnectionChange(gate.Callback());

  RestartBroker(SIGKILL);
  service_gate.Release();
  ASSERT_TRUE(gate.WaitDisconnected());
  AsyncResults cancelled_result, kept_result;
  PendingCall cancelled =
      caller->CallAsync("test.recorder", "Record", Payload("cancelled"),
                        kTimeout, cancelled_result.Callback());
  PendingCall kept =
      caller->CallAsync("test.recorder", "Record", Payload("kept"), kTimeout,
                        kept_result.Callback());
  ASSERT_TRUE(cancelled && kept);
  EXPECT_TRUE(cancelled.Cancel());
  EXPECT_FALSE(cancelled.Cancel());
  // The service serves its name again before the caller comes back.
  ASSERT_TRUE(service_gate.WaitConnected());
  gate.Release();
  ASSERT_TRUE(gate.WaitConnected());

  ASSERT_TRUE(kept_result.WaitForCount(1, kTimeout));
  EXPECT_THAT(kept_result.Results(), ::testing::ElementsAre(IsOk()));
  ASSERT_TRUE(cancelled_result.WaitForCount(1, kTimeout));
  EXPECT_THAT(cancelled_result.Results(),
              ::testing::ElementsAre(StatusIs(absl::StatusCode::kCancelled)));
  // Parked calls go out in the order made: had the cancelled one gone, the
  // service would have had it before "kept".
  absl::MutexLock lock(&mu);
  EXPECT_THAT(received, ::testing::ElementsAre("kept"));
}

TEST_F(ReconnectTest, UnsubscribedWhileDisconnectedStaysUnsubscribed) {
  // Before the client: its callbacks use these until it is destroyed.
  ReconnectGate gate;
  Inbox gone, kept;
  std::unique_ptr<Client> subscriber = Connect("subscriber");
  ASSERT_NE(subscriber, nullptr);
  subscriber->OnConnectionChange(gate.Callback());
  absl::StatusOr<Subscription> gone_subscription =
      subscriber->Subscribe("test.gone", gone.OnMessage());
  absl::StatusOr<Subscription> kept_subscription =
      subscriber->Subscribe("test.kept", kept.OnMessage());
  ASSERT_THAT(gone_subscription, IsOk());
  ASSERT_THAT(kept_subscription, IsOk());

  RestartBroker(SIGKILL);
  ASSERT_TRUE(gate.WaitDisconnected());
  EXPECT_THAT(gone_subscription->Unsubscribe(), IsOk());
  gate.Release();
  ASSERT_TRUE(gate.WaitConnected());

  std::unique_ptr<Client> publisher = Connect("publisher");
  ASSERT_NE(publisher, nullptr);
  absl::StatusOr<PublishResult> to_gone =
      publisher->PublishConfirmed("test.gone", Payload("1"));
  ASSERT_THAT(to_gone, IsOk());
  EXPECT_EQ(to_gone->delivered, 0u);
  absl::StatusOr<PublishResult> to_kept =
      publisher->PublishConfirmed("test.kept", Payload("2"));
  ASSERT_THAT(to_kept, IsOk());
  EXPECT_EQ(to_kept->delivered, 1u);
  ASSERT_TRUE(WaitFor([&] { return kept.messages() == 1; }, kTimeout));
  EXPECT_EQ(gone.messages(), 0);
}

TEST_F(ReconnectTest, WithReconnectOffTheClientStaysClosed) {
  ConnectOptions options;
  options.reconnect.enabled = false;
  ConnectionLog log;  // before the client, whose callbacks use it
  std::unique_ptr<Client> client = Connect("fixed", options);
  ASSERT_NE(client, nullptr);
  client->OnConnectionChange(log.Callback());
  RestartBroker(SIGKILL);
  ASSERT_TRUE(log.WaitFor(ConnectionState::kClosed));
  EXPECT_FALSE(client->connected());
  EXPECT_THAT(client->Ping(kTimeout), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(log.Count(ConnectionState::kConnected), 0);
  EXPECT_EQ(log.Count(ConnectionState::kReconnecting), 0);
}

TEST_F(ReconnectTest, GivesUpAfterTheConfiguredTime) {
  ConnectOptions options;
  options.reconnect.first_delay = absl::Milliseconds(5);
  options.reconnect.max_delay = absl::Milliseconds(20);
  options.reconnect.give_up_after = absl::Milliseconds(200);
  ConnectionLog log;  // before the client, whose callbacks use it
  std::unique_ptr<Client> client = Connect("impatient", options);
  ASSERT_NE(client, nullptr);
  client->OnConnectionChange(log.Callback());
  StopBroker(SIGKILL);  // and no new broker
  ASSERT_TRUE(log.WaitFor(ConnectionState::kClosed));
  std::vector<ConnectionEvent> events = log.events();
  EXPECT_EQ(events.front().state, ConnectionState::kDisconnected);
  EXPECT_GE(log.Count(ConnectionState::kReconnecting), 1);
  EXPECT_THAT(events.back().reason,
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("gave up reconnecting")));
  EXPECT_THAT(client->Ping(kTimeout),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("gave up reconnecting")));
}

TEST_F(ReconnectTest, ClosingWhileReconnectingEndsWaitsAndParkedCalls) {
  AsyncResults parked;
  ConnectionLog log;
  std::unique_ptr<Client> client = Connect("closing");
  ASSERT_NE(client, nullptr);
  client->OnConnectionChange(log.Callback());
  StopBroker(SIGKILL);  // and no new broker
  ASSERT_TRUE(log.WaitFor(ConnectionState::kReconnecting));
  client->CallAsync("test.echo", "Echo", Payload(), kTimeout,
                    parked.Callback());
  client.reset();  // runs the parked call's callback, once
  ASSERT_TRUE(parked.WaitForCount(1, kTimeout));
  EXPECT_THAT(parked.Results(),
              ::testing::ElementsAre(StatusIs(absl::StatusCode::kCancelled)));
}

// The broker runs the way switchboard.socket starts it: under
// systemd-socket-activate, which listens first and execs switchboardd when
// a client connects. Restarted, a new socket-activated broker listens on the
// same path, and the clients' reconnects start it.
class SocketActivatedRestartTest : public ::testing::TestWithParam<int> {
 protected:
  // How soon after the new broker listens everything must work again.
  static constexpr absl::Duration kBackWithin = absl::Seconds(2);

  void SetUp() override { StartBroker(); }

  void StartBroker() {
    SocketActivationOptions options;
    options.dir = dir_.path();
    broker_ = std::make_unique<SocketActivatedBroker>(options);
    ASSERT_TRUE(broker_->started());
  }

  std::unique_ptr<Client> Connect(const std::string& name) {
    return ConnectNamed(broker_->unix_address(), name);
  }

  TempDir dir_{"sb-reconnect-sa"};
  std::unique_ptr<SocketActivatedBroker> broker_;
};

// What is left of `deadline`, never negative.
absl::Duration Left(absl::Time deadline) {
  return std::max(deadline - absl::Now(), absl::ZeroDuration());
}

TEST_P(SocketActivatedRestartTest, NamesCallsAndSubscriptionsComeBack) {
  const int signal = GetParam();
  // Before the clients: their callbacks use these until they are destroyed.
  ConnectionLog service_log, user_log;
  Inbox inbox;
  std::unique_ptr<Client> service = Connect("service");
  std::unique_ptr<Client> user = Connect("user");
  ASSERT_TRUE(service && user);
  ASSERT_TRUE(broker_->BrokerRunning());
  service->OnConnectionChange(service_log.Callback());
  user->OnConnectionChange(user_log.Callback());
  ASSERT_THAT(service->Serve(EchoService("test.echo")),
              IsOkAndHolds(NameState::kOwner));
  SubscribeOptions subscribe_options;
  subscribe_options.on_drop = inbox.OnDrop();
  absl::StatusOr<Subscription> subscription =
      user->Subscribe("news.>", inbox.OnMessage(), subscribe_options);
  ASSERT_THAT(subscription, IsOk());
  EXPECT_THAT(user->Call("test.echo", "Echo", Payload("before"), kTimeout),
              IsOkAndHolds("before"));
  absl::StatusOr<PublishResult> before =
      service->PublishConfirmed("news.before", Payload("before"));
  ASSERT_THAT(before, IsOk());
  EXPECT_EQ(before->delivered, 1u);
  ASSERT_TRUE(WaitFor([&] { return inbox.messages() == 1; }, kTimeout));

  if (signal == SIGKILL) {
    EXPECT_THAT(broker_->Stop(SIGKILL, kTimeout),
                StatusIs(absl::StatusCode::kAborted));
    // The killed broker leaves its socket file behind; the next one must
    // listen there all the same.
    EXPECT_TRUE(std::filesystem::exists(broker_->path("bus")));
  } else {
    EXPECT_THAT(broker_->Stop(SIGTERM, kTimeout), IsOkAndHolds(0));
  }
  ASSERT_TRUE(service_log.WaitFor(ConnectionState::kDisconnected));
  ASSERT_TRUE(user_log.WaitFor(ConnectionState::kDisconnected));
  broker_.reset();
  StartBroker();
  const absl::Time deadline = absl::Now() + kBackWithin;

  // The clients' reconnects start the new broker and restore what they had.
  ASSERT_TRUE(::switchboard::testing::WaitFor(
      [&] {
        return service_log.Count(ConnectionState::kConnected) >= 1 &&
               user_log.Count(ConnectionState::kConnected) >= 1;
      },
      Left(deadline)))
      << "not both reconnected within " << kBackWithin;
  EXPECT_TRUE(broker_->BrokerRunning());
  // The name is the same client's again, on its new connection.
  absl::StatusOr<uint64_t> owner =
      user->WaitForService("test.echo", Left(deadline));
  ASSERT_THAT(owner, IsOk());
  EXPECT_EQ(*owner, service->connection_id());
  EXPECT_THAT(user->Call("test.echo", "Echo", Payload("after"), Left(deadline)),
              IsOkAndHolds("after"));
  // The subscription was told of the gap, and delivers again.
  ASSERT_TRUE(::switchboard::testing::WaitFor(
      [&] { return inbox.gap_reports() == 1; }, Left(deadline)))
      << "no gap report within " << kBackWithin;
  absl::StatusOr<PublishResult> after =
      service->PublishConfirmed("news.after", Payload("after"));
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->delivered, 1u);
  EXPECT_TRUE(::switchboard::testing::WaitFor(
      [&] { return inbox.messages() == 2 && inbox.last() == "after"; },
      Left(deadline)))
      << "the new message did not arrive within " << kBackWithin;
  EXPECT_EQ(inbox.gap_reports(), 1);
}

INSTANTIATE_TEST_SUITE_P(Signals, SocketActivatedRestartTest,
                         ::testing::Values(SIGKILL, SIGTERM), SignalName);

}  // namespace
}  // namespace switchboard
