// SPDX-License-Identifier: MIT
//
// Calls through the real broker with the real client library: replies,
// typed protobuf methods, errors, concurrency, async calls, ordering,
// deadlines, quotas, a callee that dies mid-call, and the sender identity
// the broker stamps. Every suite runs over both transports.
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/testing/echo.pb.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/async_results.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/child_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/echo_service.h"
#include "tests/testing/raw_clients.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"
#include "wire/prefix.h"

namespace switchboard {
namespace {

using ::switchboard::testing::AsyncResults;
using ::switchboard::testing::BrokerOptions;
using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ChildProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::ConnectRaw;
using ::switchboard::testing::ConnectRawCallee;
using ::switchboard::testing::EchoService;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::RepeatRequest;
using ::switchboard::testing::RepeatResponse;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Long enough never to expire on a loaded machine when things work.
constexpr absl::Duration kTimeout = absl::Seconds(20);
// How soon the broker must report a failure it can see at once (a dead
// callee, an expired deadline): generous for sanitizer builds on a shared
// machine, yet far below the call timeouts involved.
constexpr absl::Duration kPromptly = absl::Seconds(5);

// The kit's EchoService, and "Fail", which answers FAILED_PRECONDITION.
Service EchoAndFailService(const std::string& name) {
  Service service = EchoService(name);
  service.AddMethod(
      "Fail",
      [](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
        return absl::FailedPreconditionError(
            absl::StrCat("not ready for ", request.view()));
      });
  return service;
}

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
  Service service = EchoService(name);
  service.AddMethod("Block",
                    [gate](const CallInfo&,
                           const Payload& request) -> absl::StatusOr<Payload> {
                      ++gate->entered;
                      gate->open.WaitForNotificationWithTimeout(kTimeout);
                      return Payload::Copy(request.view());
                    });
  return service;
}

class CallTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.started()); }

  BrokerProcess broker_{GetParam()};
};

TEST_P(CallTest, ReplyReachesTheCaller) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  ASSERT_THAT(service->Serve(EchoService("test.echo")),
              IsOkAndHolds(NameState::kOwner));
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  EXPECT_THAT(caller->Call("test.echo", "Echo", "ping", kTimeout),
              IsOkAndHolds("ping"));
}

TEST_P(CallTest, EmptyAndLargeBinaryPayloadsArriveUnchanged) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  ASSERT_THAT(service->Serve(EchoService("test.echo")), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");

  EXPECT_THAT(caller->Call("test.echo", "Echo", "", kTimeout),
              IsOkAndHolds(""));
  std::string large(4 << 20, '\0');
  for (size_t i = 0; i < large.size(); ++i) {
    large[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  }
  absl::StatusOr<Payload> reply =
      caller->Call("test.echo", "Echo", Payload::Copy(large), kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->size(), large.size());
  EXPECT_TRUE(reply->view() == large) << "large payload changed in transit";
}

TEST_P(CallTest, ACallerMayCallAServiceItServesItself) {
  std::unique_ptr<Client> client = ConnectOrDie(broker_);
  ASSERT_THAT(client->Serve(EchoService("test.self")), IsOk());
  EXPECT_THAT(client->Call("test.self", "Echo", "me", kTimeout),
              IsOkAndHolds("me"));
}

TEST_P(CallTest, TypedCallCarriesProtobufMessagesAndTypeNames) {
  // Declared before the clients: their threads may use it until they close.
  absl::Mutex mu;
  std::string seen_request_type;
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  Service typed("test.typed");
  typed.AddMethod<RepeatRequest, RepeatResponse>(
      "Repeat",
      [&](const CallInfo& call,
          const RepeatRequest& request) -> absl::StatusOr<RepeatResponse> {
        {
          absl::MutexLock lock(&mu);
          seen_request_type = call.request_type;
        }
        RepeatResponse response;
        for (int i = 0; i < request.times(); ++i) {
          response.mutable_text()->append(request.text());
        }
        response.set_caller(call.caller);
        return response;
      });
  ASSERT_THAT(service->Serve(std::move(typed)), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");

  RepeatRequest request;
  request.set_text("ab");
  request.set_times(3);
  absl::StatusOr<RepeatResponse> response =
      caller->Call<RepeatResponse>("test.typed", "Repeat", request, kTimeout);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->text(), "ababab");
  EXPECT_EQ(response->caller(), caller->connection_id());
  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen_request_type, "switchboard.testing.RepeatRequest");
}

TEST_P(CallTest, TypedMethodRejectsARequestThatDoesNotParse) {
  std::atomic<bool> handler_ran{false};
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  Service typed("test.typed");
  typed.AddMethod<RepeatRequest, RepeatResponse>(
      "Repeat",
      [&](const CallInfo&,
          const RepeatRequest&) -> absl::StatusOr<RepeatResponse> {
        handler_ran = true;
        return RepeatResponse();
      });
  ASSERT_THAT(service->Serve(std::move(typed)), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  // Field 1 announced as 100 bytes long, then nothing.
  EXPECT_THAT(
      caller->Call("test.typed", "Repeat", "\x0a\x64", kTimeout),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RepeatRequest")));
  EXPECT_FALSE(handler_ran);
}

TEST_P(CallTest, TypedCallReportsAReplyThatDoesNotParseAsInternal) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  Service bad("test.bad_reply");
  bad.AddMethod("Repeat",
                [](const CallInfo&, const Payload&) -> absl::StatusOr<Payload> {
                  // Field 1 announced as 100 bytes long, then nothing.
                  return Payload("\x0a\x64");
                });
  ASSERT_THAT(service->Serve(std::move(bad)), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  RepeatRequest request;
  request.set_text("x");
  EXPECT_THAT(
      caller->Call<RepeatResponse>("test.bad_reply", "Repeat", request,
                                   kTimeout),
      StatusIs(absl::StatusCode::kInternal, HasSubstr("RepeatResponse")));
}

TEST_P(CallTest, HandlerErrorReachesTheCallerUnchanged) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  ASSERT_THAT(service->Serve(EchoAndFailService("test.echo")), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  EXPECT_THAT(
      caller->Call("test.echo", "Fail", "lunch", kTimeout),
      StatusIs(absl::StatusCode::kFailedPrecondition, "not ready for lunch"));
}

TEST_P(CallTest, CallToANameNobodyOwnsFailsWithNotFound) {
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  EXPECT_THAT(caller->Call("test.nobody", "Echo", "x", kTimeout),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(CallTest, CallToAnUnknownMethodFailsWithUnimplemented) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  ASSERT_THAT(service->Serve(EchoService("test.echo")), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  EXPECT_THAT(caller->Call("test.echo", "NoSuchMethod", "x", kTimeout),
              StatusIs(absl::StatusCode::kUnimplemented));
  // The service is still there for the methods it has.
  EXPECT_THAT(caller->Call("test.echo", "Echo", "y", kTimeout),
              IsOkAndHolds("y"));
}

TEST_P(CallTest, MalformedServiceOrMethodNameFailsWithInvalidArgument) {
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  for (const char* bad : {"", "a..b", ".a", "a.", "a b", "a/b"}) {
    EXPECT_THAT(caller->Call(bad, "Echo", "x", kTimeout),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << "service \"" << bad << "\"";
  }
  EXPECT_THAT(caller->Call("test.echo", "", "x", kTimeout),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(caller->Call("test.echo", "Bad Method", "x", kTimeout),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(caller->Ping(kTimeout), IsOk());
}

TEST_P(CallTest, PingReachesTheBroker) {
  std::unique_ptr<Client> client = ConnectOrDie(broker_);
  EXPECT_TRUE(client->connected());
  EXPECT_THAT(client->Ping(kTimeout), IsOk());
}

TEST_P(CallTest, ConnectionIdsAreUniqueAndNeverReused) {
  std::set<uint64_t> ids;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 4; ++i) {
      clients.push_back(ConnectOrDie(broker_));
      const uint64_t id = clients.back()->connection_id();
      EXPECT_NE(id, 0u);
      EXPECT_TRUE(ids.insert(id).second)
          << "connection id :" << id << " was handed out twice";
    }
  }
}

TEST_P(CallTest, ManyThreadsCallingThroughOneClientEachGetTheirOwnReply) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  ASSERT_THAT(service->Serve(EchoService("test.echo")), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");

  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 50;
  std::atomic<int> ok{0};
  std::vector<std::string> failures[kThreads];
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        const std::string request = absl::StrCat("thread ", t, " call ", i);
        absl::StatusOr<Payload> reply =
            caller->Call("test.echo", "Echo", Payload::Copy(request), kTimeout);
        if (reply.ok() && reply->view() == request) {
          ++ok;
        } else {
          failures[t].push_back(absl::StrCat(
              request, ": ",
              reply.ok() ? absl::StrCat("got \"", reply->view(), "\"")
                         : reply.status().ToString()));
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kThreads * kCallsPerThread);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_THAT(failures[t], ::testing::IsEmpty()) << "thread " << t;
  }
}

TEST_P(CallTest, ManyClientsCallingConcurrentlyEachGetTheirOwnReply) {
  std::atomic<int> served{0};
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  Service echo("test.echo");
  echo.AddMethod(
      "Echo",
      [&served](const CallInfo& call,
                const Payload& request) -> absl::StatusOr<Payload> {
        ++served;
        // The reply names the caller the broker stamped, so a
        // mix-up between callers shows.
        return Payload(absl::StrCat(call.caller, ":", request.view()));
      });
  ASSERT_THAT(service->Serve(std::move(echo)), IsOk());

  constexpr int kClients = 4;
  constexpr int kThreadsPerClient = 3;
  constexpr int kCallsPerThread = 30;
  std::vector<std::unique_ptr<Client>> callers;
  for (int c = 0; c < kClients; ++c) {
    callers.push_back(ConnectOrDie(broker_, absl::StrCat("caller", c)));
  }
  absl::Mutex mu;
  int ok = 0;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    for (int t = 0; t < kThreadsPerClient; ++t) {
      threads.emplace_back([&, c, t] {
        Client& caller = *callers[c];
        for (int i = 0; i < kCallsPerThread; ++i) {
          const std::string request = absl::StrCat(c, "/", t, "/", i);
          const std::string expected =
              absl::StrCat(caller.connection_id(), ":", request);
          absl::StatusOr<Payload> reply = caller.Call(
              "test.echo", "Echo", Payload::Copy(request), kTimeout);
          absl::MutexLock lock(&mu);
          if (reply.ok() && reply->view() == expected) {
            ++ok;
          } else {
            failures.push_back(absl::StrCat(
                request, ": ",
                reply.ok() ? absl::StrCat("got \"", reply->view(), "\"")
                           : reply.status().ToString()));
          }
        }
      });
    }
  }
  for (std::thread& thread : threads) thread.join();
  constexpr int kTotal = kClients * kThreadsPerClient * kCallsPerThread;
  EXPECT_EQ(ok, kTotal);
  EXPECT_THAT(failures, ::testing::IsEmpty());
  EXPECT_EQ(served.load(), kTotal);
}

TEST_P(CallTest, AsyncCallsEachCompleteExactlyOnce) {
  // Declared before the clients: callbacks may run until the caller closes.
  constexpr int kCalls = 200;
  absl::Mutex mu;
  std::map<int, int> completions;  // call index -> callbacks run
  std::vector<std::string> wrong;
  AsyncResults barrier;
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  ASSERT_THAT(service->Serve(EchoService("test.echo")), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");

  for (int i = 0; i < kCalls; ++i) {
    // Every fifth call goes to a name nobody owns: errors count too.
    const bool to_nobody = i % 5 == 0;
    caller->CallAsync(
        to_nobody ? "test.nobody" : "test.echo", "Echo",
        Payload(absl::StrCat(i)), kTimeout,
        [&, i, to_nobody](absl::StatusOr<Payload> reply) {
          absl::MutexLock lock(&mu);
          ++completions[i];
          const bool right =
              to_nobody ? absl::IsNotFound(reply.status())
                        : reply.ok() && reply->view() == absl::StrCat(i);
          if (!right) {
            wrong.push_back(absl::StrCat(
                i, ": ",
                reply.ok() ? reply->ToString() : reply.status().ToString()));
          }
        });
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return completions.size() == kCalls;
      },
      kTimeout));
  // Callbacks run in arrival order on one thread: once a later call's
  // callback ran, no duplicate of an earlier one is still queued.
  caller->CallAsync("test.echo", "Echo", "barrier", kTimeout,
                    barrier.Callback());
  ASSERT_TRUE(barrier.WaitForCount(1, kTimeout));
  absl::MutexLock lock(&mu);
  for (const auto& [index, count] : completions) {
    EXPECT_EQ(count, 1) << "call " << index;
  }
  EXPECT_THAT(wrong, ::testing::IsEmpty());
}

TEST_P(CallTest, CallsFromOneCallerReachTheCalleeInOrder) {
  constexpr int kCalls = 300;
  absl::Mutex mu;
  std::vector<int> arrivals;
  std::atomic<int> done{0};
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  Service recorder("test.recorder");
  recorder.AddMethod(
      "Record",
      [&](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
        int n = -1;
        EXPECT_TRUE(absl::SimpleAtoi(request.view(), &n));
        absl::MutexLock lock(&mu);
        arrivals.push_back(n);
        return Payload();
      });
  ASSERT_THAT(service->Serve(std::move(recorder)), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");

  for (int i = 0; i < kCalls; ++i) {
    caller->CallAsync("test.recorder", "Record", Payload(absl::StrCat(i)),
                      kTimeout, [&done](absl::StatusOr<Payload> reply) {
                        EXPECT_THAT(reply, IsOk());
                        ++done;
                      });
  }
  ASSERT_TRUE(WaitFor([&] { return done.load() == kCalls; }, kTimeout));
  absl::MutexLock lock(&mu);
  ASSERT_EQ(arrivals.size(), static_cast<size_t>(kCalls));
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(arrivals[i], i) << "call " << i << " arrived out of order";
  }
}

TEST_P(CallTest, SynchronousCallInsideAHandlerGetsItsReply) {
  std::unique_ptr<Client> backend = ConnectOrDie(broker_, "backend");
  ASSERT_THAT(backend->Serve(EchoService("test.backend")), IsOk());
  std::unique_ptr<Client> frontend = ConnectOrDie(broker_, "frontend");
  Client* frontend_ptr = frontend.get();
  Service front("test.frontend");
  front.AddMethod(
      "Relay",
      [frontend_ptr](const CallInfo&,
                     const Payload& request) -> absl::StatusOr<Payload> {
        absl::StatusOr<Payload> inner = frontend_ptr->Call(
            "test.backend", "Echo", Payload::Copy(request.view()), kTimeout);
        if (!inner.ok()) return inner.status();
        return Payload(absl::StrCat("relayed ", inner->view()));
      });
  ASSERT_THAT(frontend->Serve(std::move(front)), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  EXPECT_THAT(caller->Call("test.frontend", "Relay", "hi", kTimeout),
              IsOkAndHolds("relayed hi"));
}

TEST_P(CallTest, SlowCalleeGivesTheCallerDeadlineExceededPromptly) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(service->Serve(BlockingService("test.slow", gate)), IsOk());
  absl::Cleanup open_gate = [gate] { gate->Open(); };
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");

  constexpr absl::Duration kCallTimeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  EXPECT_THAT(caller->Call("test.slow", "Block", "first", kCallTimeout),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_GE(elapsed, kCallTimeout - absl::Milliseconds(5));
  EXPECT_LT(elapsed, kCallTimeout + kPromptly);

  // The callee answers late; that reply must not reach the caller as the
  // answer to a later call.
  EXPECT_TRUE(WaitFor([&] { return gate->entered.load() == 1; }, kTimeout));
  gate->Open();
  EXPECT_THAT(caller->Call("test.slow", "Echo", "second", kTimeout),
              IsOkAndHolds("second"));
  EXPECT_THAT(caller->Call("test.slow", "Block", "third", kTimeout),
              IsOkAndHolds("third"));
}

// The broker itself enforces deadlines: a caller that never gives up on its
// own (a raw connection) still gets DEADLINE_EXCEEDED, the callee gets a
// CANCEL, and the callee's late reply is dropped.
TEST_P(CallTest, BrokerExpiresTheCallCancelsTheCalleeAndDropsTheLateReply) {
  absl::StatusOr<RawConnection> callee = ConnectRawCallee(broker_, "test.raw");
  ASSERT_THAT(callee, IsOk());
  absl::StatusOr<RawConnection> caller = ConnectRaw(broker_);
  ASSERT_THAT(caller, IsOk());
  v1::Header call;
  call.mutable_call()->set_service("test.raw");
  call.mutable_call()->set_method("Wait");
  call.mutable_call()->set_timeout_us(200'000);
  const absl::Time start = absl::Now();
  ASSERT_THAT(caller->SendFrame(wire::Kind::kCall, 77, call, "req"), IsOk());

  absl::StatusOr<wire::Frame> forwarded = callee->ReadFrame(kTimeout);
  ASSERT_THAT(forwarded, IsOk());
  ASSERT_EQ(forwarded->kind(), wire::Kind::kCall);
  EXPECT_EQ(forwarded->payload(), "req");
  const uint64_t broker_id = forwarded->request_id();
  EXPECT_NE(broker_id, 0u);

  absl::StatusOr<wire::Frame> expired = caller->ReadFrame(kTimeout);
  ASSERT_THAT(expired, IsOk());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(200) + kPromptly);
  ASSERT_EQ(expired->kind(), wire::Kind::kReply);
  EXPECT_EQ(expired->request_id(), 77u);
  absl::StatusOr<v1::Header> expired_header = expired->ParseHeader();
  ASSERT_THAT(expired_header, IsOk());
  EXPECT_EQ(expired_header->reply().code(),
            static_cast<int>(absl::StatusCode::kDeadlineExceeded));

  absl::StatusOr<wire::Frame> cancel = callee->ReadFrame(kTimeout);
  ASSERT_THAT(cancel, IsOk());
  EXPECT_EQ(cancel->kind(), wire::Kind::kCancel);
  EXPECT_EQ(cancel->request_id(), broker_id);

  // The late reply, then a PING: once the callee's PING is answered the
  // broker has handled the late reply too (it handles a connection's frames
  // in order).
  ASSERT_THAT(callee->SendFrame(wire::Kind::kReply, broker_id, v1::Header(),
                                "too late"),
              IsOk());
  ASSERT_THAT(callee->SendFrame(wire::Kind::kPing, 2, v1::Header()), IsOk());
  absl::StatusOr<wire::Frame> pong = callee->ReadFrame(kTimeout);
  ASSERT_THAT(pong, IsOk());
  EXPECT_EQ(pong->kind(), wire::Kind::kReply);
  EXPECT_EQ(pong->request_id(), 2u);
  // The caller's next frame is the answer to its own PING, not "too late".
  ASSERT_THAT(caller->SendFrame(wire::Kind::kPing, 78, v1::Header()), IsOk());
  absl::StatusOr<wire::Frame> caller_pong = caller->ReadFrame(kTimeout);
  ASSERT_THAT(caller_pong, IsOk());
  EXPECT_EQ(caller_pong->kind(), wire::Kind::kReply);
  EXPECT_EQ(caller_pong->request_id(), 78u);
  EXPECT_NE(caller_pong->payload(), "too late");
}

TEST_P(CallTest, ClosingTheCallerEndsItsPendingCallsWithCancelled) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(service->Serve(BlockingService("test.slow", gate)), IsOk());
  absl::Cleanup open_gate = [gate] { gate->Open(); };
  AsyncResults result;
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  caller->CallAsync("test.slow", "Block", "x", kTimeout, result.Callback());
  ASSERT_TRUE(WaitFor([&] { return gate->entered.load() == 1; }, kTimeout));
  caller.reset();
  EXPECT_THAT(result.Results(),
              ElementsAre(StatusIs(absl::StatusCode::kCancelled)));
  // The broker forgot the call: the callee's eventual reply harms nobody
  // and the service keeps serving.
  gate->Open();
  std::unique_ptr<Client> other = ConnectOrDie(broker_, "other");
  EXPECT_THAT(other->Call("test.slow", "Block", "y", kTimeout),
              IsOkAndHolds("y"));
}

TEST_P(CallTest, CallerDisconnectingCancelsItsCallsAtTheCallee) {
  absl::StatusOr<RawConnection> callee = ConnectRawCallee(broker_, "test.raw");
  ASSERT_THAT(callee, IsOk());

  AsyncResults result;
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  caller->CallAsync("test.raw", "Wait", "x", kTimeout, result.Callback());
  absl::StatusOr<wire::Frame> call = callee->ReadFrame(kTimeout);
  ASSERT_THAT(call, IsOk());
  ASSERT_EQ(call->kind(), wire::Kind::kCall);
  caller.reset();

  absl::StatusOr<wire::Frame> cancel = callee->ReadFrame(kPromptly);
  ASSERT_THAT(cancel, IsOk());
  EXPECT_EQ(cancel->kind(), wire::Kind::kCancel);
  EXPECT_EQ(cancel->request_id(), call->request_id());
  // Ended by the library as the caller closed.
  EXPECT_THAT(result.Results(),
              ElementsAre(StatusIs(absl::StatusCode::kCancelled)));
}

TEST_P(CallTest, CalleeDisconnectingEndsAllItsPendingCallsWithUnavailable) {
  absl::StatusOr<RawConnection> callee = ConnectRawCallee(broker_, "test.raw");
  ASSERT_THAT(callee, IsOk());

  constexpr int kCalls = 10;
  AsyncResults results;
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  for (int i = 0; i < kCalls; ++i) {
    caller->CallAsync("test.raw", "Wait", "x", kTimeout, results.Callback());
  }
  for (int i = 0; i < kCalls; ++i) {
    absl::StatusOr<wire::Frame> call = callee->ReadFrame(kTimeout);
    ASSERT_THAT(call, IsOk());
    ASSERT_EQ(call->kind(), wire::Kind::kCall);
  }
  callee->Close();
  ASSERT_TRUE(results.WaitForCount(kCalls, kPromptly));
  EXPECT_THAT(results.Results(),
              ::testing::AllOf(
                  ::testing::SizeIs(kCalls),
                  ::testing::Each(StatusIs(absl::StatusCode::kUnavailable))));
}

TEST_P(CallTest, CalleeKilledMidCallGivesTheCallerUnavailablePromptly) {
  std::vector<std::string> argv = {
      testing::TestCalleePath(), absl::StrCat("--address=", broker_.address()),
      "--service=test.callee"};
  if (GetParam() == Transport::kTcp) {
    argv.push_back(absl::StrCat("--token-file=", broker_.token_file()));
  }
  absl::StatusOr<ChildProcess> callee = ChildProcess::Start(argv, "");
  ASSERT_THAT(callee, IsOk());
  ASSERT_THAT(callee->ReadLine(kTimeout), IsOkAndHolds("ready"));
  AsyncResults result;
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  ASSERT_THAT(caller->Call("test.callee", "Echo", "alive", kTimeout),
              IsOkAndHolds("alive"));

  caller->CallAsync("test.callee", "Hang", "x", kTimeout, result.Callback());
  // The callee says when the call reached its handler: the caller's id, as
  // the broker stamped it.
  EXPECT_THAT(
      callee->ReadLine(kTimeout),
      IsOkAndHolds(absl::StrCat("called Hang ", caller->connection_id())));
  const absl::Time kill_time = absl::Now();
  EXPECT_THAT(callee->Stop(SIGKILL, kTimeout),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("signal 9")));

  ASSERT_TRUE(result.WaitForCount(1, kPromptly))
      << "no result " << absl::FormatDuration(kPromptly)
      << " after the callee died";
  EXPECT_LT(absl::Now() - kill_time, kPromptly);
  EXPECT_THAT(result.Results(),
              ElementsAre(StatusIs(absl::StatusCode::kUnavailable)));
  // Its name went with it.
  EXPECT_THAT(caller->Call("test.callee", "Echo", "x", kTimeout),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(CallTest, CalleeSeesTheCallersConnectionIdUidAndPid) {
  absl::Mutex mu;
  CallInfo seen;
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  Service who("test.who");
  who.AddMethod(
      "Who",
      [&](const CallInfo& call, const Payload&) -> absl::StatusOr<Payload> {
        absl::MutexLock lock(&mu);
        seen = call;
        return Payload();
      });
  ASSERT_THAT(service->Serve(std::move(who)), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  ASSERT_THAT(caller->Call("test.who", "Who", "", kTimeout), IsOk());

  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen.service, "test.who");
  EXPECT_EQ(seen.method, "Who");
  EXPECT_EQ(seen.caller, caller->connection_id());
  EXPECT_EQ(seen.caller_uid, ::getuid());
  // Over TCP the broker vouches for the token owner's uid but knows no pid
  // (docs/PROTOCOL.md 2.1).
  EXPECT_EQ(seen.caller_pid, GetParam() == Transport::kUnix
                                 ? static_cast<uint32_t>(::getpid())
                                 : 0u);
}

TEST_P(CallTest, ForgedSenderFieldsAreOverwrittenByTheBroker) {
  absl::Mutex mu;
  CallInfo seen;
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  Service who("test.who");
  who.AddMethod(
      "Who",
      [&](const CallInfo& call, const Payload&) -> absl::StatusOr<Payload> {
        absl::MutexLock lock(&mu);
        seen = call;
        return Payload("seen");
      });
  ASSERT_THAT(service->Serve(std::move(who)), IsOk());

  absl::StatusOr<std::string> token = broker_.ReadToken();
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<RawConnection> forger =
      RawConnection::Connect(broker_.address());
  ASSERT_THAT(forger, IsOk());
  absl::StatusOr<v1::Welcome> welcome = forger->Handshake(*token);
  ASSERT_THAT(welcome, IsOk());
  v1::Header call;
  call.mutable_call()->set_service("test.who");
  call.mutable_call()->set_method("Who");
  call.mutable_call()->set_timeout_us(20'000'000);
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kCall;
  prefix.request_id = 5;
  prefix.sender = service->connection_id();  // pretend to be someone else
  prefix.sender_uid = 4242;
  prefix.sender_pid = 1;
  ASSERT_THAT(forger->SendFrame(wire::Frame::Build(prefix, call)), IsOk());
  absl::StatusOr<wire::Frame> reply = forger->ReadFrame(kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->kind(), wire::Kind::kReply);
  EXPECT_EQ(reply->payload(), "seen");
  // The reply is stamped with the callee's identity.
  EXPECT_EQ(reply->prefix().sender, service->connection_id());

  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen.caller, welcome->connection_id());
  EXPECT_EQ(seen.caller_uid, ::getuid());
  EXPECT_EQ(seen.caller_pid, GetParam() == Transport::kUnix
                                 ? static_cast<uint32_t>(::getpid())
                                 : 0u);
}

INSTANTIATE_TEST_SUITE_P(AllTransports, CallTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

// A broker with small quotas.
class CallQuotaTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.started()); }

  static constexpr int kMaxPendingCalls = 2;
  static constexpr int kMaxPayloadBytes = 64 * 1024;
  static constexpr int kMaxQueuedBytes = 1 << 20;
  static constexpr absl::Duration kDefaultCallTimeout = absl::Milliseconds(500);
  BrokerProcess broker_{
      GetParam(),
      {absl::StrCat("--max-pending-calls=", kMaxPendingCalls),
       absl::StrCat("--max-payload-bytes=", kMaxPayloadBytes),
       absl::StrCat("--max-queued-bytes=", kMaxQueuedBytes),
       absl::StrCat("--call-timeout=",
                    absl::ToInt64Milliseconds(kDefaultCallTimeout), "ms")}};
};

TEST_P(CallQuotaTest, CallsBeyondTheCalleesPendingLimitFailAtOnce) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  auto gate = std::make_shared<Gate>();
  ASSERT_THAT(service->Serve(BlockingService("test.slow", gate)), IsOk());
  absl::Cleanup open_gate = [gate] { gate->Open(); };
  AsyncResults first;
  AsyncResults second;
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");

  // Both calls are pending at the broker: the first blocks the callee's
  // handler, the second waits behind it.
  caller->CallAsync("test.slow", "Block", "1", kTimeout, first.Callback());
  caller->CallAsync("test.slow", "Block", "2", kTimeout, second.Callback());
  ASSERT_TRUE(WaitFor([&] { return gate->entered.load() == 1; }, kTimeout));

  // The broker handles this caller's frames in order, so it counts both
  // before this one.
  const absl::Time start = absl::Now();
  EXPECT_THAT(caller->Call("test.slow", "Echo", "3", kTimeout),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_LT(absl::Now() - start, kPromptly);
  EXPECT_THAT(first.Results(), ::testing::IsEmpty());
  EXPECT_THAT(second.Results(), ::testing::IsEmpty());

  gate->Open();
  ASSERT_TRUE(first.WaitForCount(1, kTimeout));
  ASSERT_TRUE(second.WaitForCount(1, kTimeout));
  EXPECT_THAT(first.Replies(), ElementsAre(IsOkAndHolds("1")));
  EXPECT_THAT(second.Replies(), ElementsAre(IsOkAndHolds("2")));
  // With the queue drained, calls go through again.
  EXPECT_THAT(caller->Call("test.slow", "Echo", "4", kTimeout),
              IsOkAndHolds("4"));
}

TEST_P(CallQuotaTest, PayloadOverTheLimitFailsAndTheClientKeepsWorking) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  ASSERT_THAT(service->Serve(EchoService("test.echo")), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  EXPECT_EQ(caller->max_payload_bytes(),
            static_cast<uint64_t>(kMaxPayloadBytes));

  EXPECT_THAT(
      caller->Call("test.echo", "Echo",
                   Payload(std::string(kMaxPayloadBytes + 1, 'x')), kTimeout),
      StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(
      caller->Call("test.echo", "Echo",
                   Payload(std::string(kMaxPayloadBytes, 'y')), kTimeout),
      IsOkAndHolds(std::string(kMaxPayloadBytes, 'y')));
  EXPECT_TRUE(caller->connected());
}

TEST_P(CallQuotaTest, ReplyOverTheLimitReachesTheCallerAsAnError) {
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  Service big("test.big");
  big.AddMethod("Big",
                [](const CallInfo&, const Payload&) -> absl::StatusOr<Payload> {
                  return Payload(std::string(kMaxPayloadBytes + 1, 'z'));
                });
  ASSERT_THAT(service->Serve(std::move(big)), IsOk());
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  EXPECT_THAT(caller->Call("test.big", "Big", "", kTimeout),
              StatusIs(absl::StatusCode::kResourceExhausted));
  // The callee's library refused to send it; nobody was disconnected.
  EXPECT_TRUE(service->connected());
  EXPECT_THAT(caller->Ping(kTimeout), IsOk());
  EXPECT_THAT(service->Ping(kTimeout), IsOk());
}

TEST_P(CallQuotaTest, CallWithoutATimeoutGetsTheBrokersDefault) {
  absl::StatusOr<RawConnection> callee = ConnectRawCallee(broker_, "test.raw");
  ASSERT_THAT(callee, IsOk());
  absl::StatusOr<RawConnection> caller = ConnectRaw(broker_);
  ASSERT_THAT(caller, IsOk());
  v1::Header call;
  call.mutable_call()->set_service("test.raw");
  call.mutable_call()->set_method("Wait");
  call.mutable_call()->set_timeout_us(0);  // the broker's --call-timeout
  const absl::Time start = absl::Now();
  ASSERT_THAT(caller->SendFrame(wire::Kind::kCall, 1, call), IsOk());
  absl::StatusOr<wire::Frame> reply = caller->ReadFrame(kTimeout);
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_THAT(reply, IsOk());
  ASSERT_EQ(reply->kind(), wire::Kind::kReply);
  absl::StatusOr<v1::Header> header = reply->ParseHeader();
  ASSERT_THAT(header, IsOk());
  EXPECT_EQ(header->reply().code(),
            static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_GE(elapsed, kDefaultCallTimeout);
  EXPECT_LT(elapsed, kDefaultCallTimeout + kPromptly);
}

INSTANTIATE_TEST_SUITE_P(AllTransports, CallQuotaTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

// A broker with a small per-connection queue.
class QueueQuotaTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.started()); }

  static constexpr int kMaxQueuedBytes = 1 << 20;
  BrokerProcess broker_{GetParam(),
                        {absl::StrCat("--max-queued-bytes=", kMaxQueuedBytes)}};
};

// A callee that stops reading costs only its own queue: calls to it are
// refused once the broker holds --max-queued-bytes for it, while everyone
// else carries on.
TEST_P(QueueQuotaTest, CallsToACalleeThatStopsReadingFailOnceItsQueueIsFull) {
  absl::StatusOr<RawConnection> stuck = ConnectRawCallee(broker_, "test.stuck");
  ASSERT_THAT(stuck, IsOk());
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  ASSERT_THAT(service->Serve(EchoService("test.echo")), IsOk());
  AsyncResults results;
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");

  // Far more than the queue limit plus what socket buffers can hold
  // (loopback TCP buffers grow to a few MiB).
  constexpr int kCalls = 100;
  const std::string payload(256 * 1024, 'q');
  for (int i = 0; i < kCalls; ++i) {
    caller->CallAsync("test.stuck", "Take", Payload::Copy(payload), kTimeout,
                      results.Callback());
  }
  EXPECT_TRUE(WaitFor(
      [&] { return results.Count(absl::StatusCode::kResourceExhausted) > 0; },
      kPromptly))
      << "no call to a callee that reads nothing was refused after " << kCalls
      << " calls of " << payload.size() << " bytes";
  // The caller and other services are not affected.
  EXPECT_THAT(caller->Call("test.echo", "Echo", "fine", kTimeout),
              IsOkAndHolds("fine"));
  // Once the stuck callee goes, its queued calls end too.
  stuck->Close();
  ASSERT_TRUE(results.WaitForCount(kCalls, kTimeout));
  EXPECT_THAT(
      results.Results(),
      ::testing::AllOf(::testing::SizeIs(kCalls),
                       ::testing::Each(::testing::AnyOf(
                           StatusIs(absl::StatusCode::kResourceExhausted),
                           StatusIs(absl::StatusCode::kUnavailable)))));
}

INSTANTIATE_TEST_SUITE_P(AllTransports, QueueQuotaTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
