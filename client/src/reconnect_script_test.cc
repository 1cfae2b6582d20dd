// SPDX-License-Identifier: MIT
//
// The client's reconnect (client.h, "Reconnect"; docs/ARCHITECTURE.md,
// "Client library") against a scripted broker end: a ScriptedBroker in this
// process listens on a Unix socket in a temporary folder, answers the
// client as switchboardd would (docs/PROTOCOL.md) and breaks the connection
// when a test says so, the way a broker that stops, refuses or goes away
// does. The real switchboard::Client is driven through its public API only.
// Tests wait for what the scripted side read and for what the client
// reported, each with a deadline; tests/integration/reconnect_test.cc covers
// the same ground against the real broker.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/service.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame.h"
#include "wire/frame_decoder.h"
#include "wire/prefix.h"

namespace switchboard::reconnect_script {
namespace {

using ::testing::HasSubstr;

// Long enough never to expire on a loaded machine when things work.
constexpr absl::Duration kTimeout = absl::Seconds(30);
// How long a closed client is watched for a connection attempt it must not
// make. A negative check: a client that wrongly reconnects does so at once
// (its first attempt is immediate), well inside this.
constexpr absl::Duration kNoAttemptWait = absl::Milliseconds(300);
// WELCOME's connection id for the n-th connection (1, 2, ...).
constexpr uint64_t kFirstConnectionId = 100;
// Request id of the CALLs the scripted broker sends on a caller's behalf.
constexpr uint64_t kScriptedCallId = 500;

// What a test waits for: items added by another thread, read under a lock.
template <typename T>
class Recorder {
 public:
  void Add(T item) {
    absl::MutexLock lock(&mu_);
    items_.push_back(std::move(item));
  }
  std::vector<T> items() const {
    absl::MutexLock lock(&mu_);
    return items_;
  }
  // Waits until `done` holds for the items; false if kTimeout passed first.
  bool WaitUntil(const std::function<bool(const std::vector<T>&)>& done) const {
    absl::MutexLock lock(&mu_);
    auto holds = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done(items_);
    };
    return mu_.AwaitWithTimeout(absl::Condition(&holds), kTimeout);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<T> items_ ABSL_GUARDED_BY(mu_);
};

// One frame the scripted broker read from the client.
struct ReadFrame {
  int connection = 0;  // 1 for the first connection accepted, 2, ...
  wire::Kind kind = wire::Kind::kPing;
  uint64_t request_id = 0;
  v1::Header header;
  std::string payload;
  // Answers (WELCOME, REPLY) written on this connection before the read
  // that brought this frame: a client that waits for each answer before
  // its next request sends its k-th frame after k answers.
  int answers_before = 0;
};

std::vector<ReadFrame> OnConnection(const std::vector<ReadFrame>& frames,
                                    int connection) {
  std::vector<ReadFrame> out;
  for (const ReadFrame& frame : frames) {
    if (frame.connection == connection) out.push_back(frame);
  }
  return out;
}

// Plays switchboardd's end for one client connection at a time, on a
// thread of its own that does all the socket work: accepts a connection,
// answers HELLO with WELCOME, REGISTER_NAME, SUBSCRIBE, PING and calls to
// switchboard.Broker as the broker does, and records every frame it reads.
// Calls to other services stay unanswered, in flight. The methods below
// run their part on that thread and return once it is done.
class ScriptedBroker {
 public:
  ScriptedBroker() {
    char dir[] = "/tmp/sb-script-XXXXXX";
    if (::mkdtemp(dir) == nullptr) {
      ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
      return;
    }
    dir_ = dir;
    socket_path_ = dir_ + "/bus";
    listener_ = Listen(socket_path_);
    thread_ = std::thread([this] { Loop(); });
  }
  ~ScriptedBroker() {
    if (thread_.joinable()) {
      RunOnBrokerThread([this] { stopping_ = true; });
      thread_.join();
    }
    ::unlink(socket_path_.c_str());
    ::rmdir(dir_.c_str());
  }
  ScriptedBroker(const ScriptedBroker&) = delete;
  ScriptedBroker& operator=(const ScriptedBroker&) = delete;

  std::string address() const { return "unix:" + socket_path_; }
  const Recorder<ReadFrame>& frames() const { return frames_; }

  // Waits until `count` frames of `kind` were read on `connection`.
  bool WaitForFrames(int connection, wire::Kind kind, int count = 1) const {
    return frames_.WaitUntil([&](const std::vector<ReadFrame>& frames) {
      int seen = 0;
      for (const ReadFrame& frame : OnConnection(frames, connection)) {
        seen += frame.kind == kind;
      }
      return seen >= count;
    });
  }

  // Closes the current connection, as a broker that crashed.
  void CloseConnection() {
    RunOnBrokerThread([this] { connection_.reset(); });
  }
  // Sends ERROR with `status`, then closes, as the broker does for a limit
  // or a protocol error (docs/PROTOCOL.md 7).
  void CloseWithError(const absl::Status& status) {
    RunOnBrokerThread([this, status] {
      SendError(status);
      connection_.reset();
    });
  }
  // Sends EVENT shutting_down, then closes, as a broker that stops cleanly.
  void CloseShuttingDown(absl::string_view reason) {
    RunOnBrokerThread([this, reason = std::string(reason)] {
      v1::Header header;
      header.mutable_event()->mutable_shutting_down()->set_reason(reason);
      Send(wire::Kind::kEvent, 0, header);
      connection_.reset();
    });
  }
  // The next REGISTER_NAME of `name` is answered ALREADY_EXISTS, as when
  // another connection owns it.
  void RefuseNextClaim(absl::string_view name) {
    RunOnBrokerThread(
        [this, name = std::string(name)] { refused_names_.insert(name); });
  }
  // The next REGISTER_NAME of `name` is answered QUEUED, as when another
  // connection owns it and this one waits in line.
  void QueueNextClaim(absl::string_view name) {
    RunOnBrokerThread(
        [this, name = std::string(name)] { queued_names_.insert(name); });
  }
  // Right after the next answer that gives `name` to the client, a caller's
  // CALL of `method` with `request` follows (request id kScriptedCallId), as
  // when a caller was waiting for the name.
  void CallAfterNextClaim(absl::string_view name, absl::string_view method,
                          absl::string_view request) {
    RunOnBrokerThread([this, name = std::string(name),
                       method = std::string(method),
                       request = std::string(request)] {
      call_after_claim_ = {name, method, request};
    });
  }
  // The next frame of `kind` read is not answered: the connection closes
  // instead, as a broker that crashed while handling it, or after an ERROR
  // with `error` if it is not OK.
  void CloseOnNext(wire::Kind kind, absl::Status error = absl::OkStatus()) {
    RunOnBrokerThread([this, kind, error] {
      close_on_ = kind;
      close_error_ = error;
    });
  }
  // Stops accepting: connection attempts wait in the listener's backlog.
  void StopAccepting() {
    RunOnBrokerThread([this] { accepting_ = false; });
  }
  // Stops accepting once `count` connections were accepted in all.
  void StopAcceptingAfter(int count) {
    RunOnBrokerThread([this, count] {
      accept_limit_ = count;
      accepting_ = connection_number_ < accept_limit_;
    });
  }
  // Whether a connection attempt reaches the listener within `wait`.
  // After StopAccepting().
  bool ConnectionAttemptWithin(absl::Duration wait) {
    bool attempted = false;
    RunOnBrokerThread([&] {
      pollfd listener{listener_.get(), POLLIN, 0};
      attempted = ::poll(&listener, 1,
                         static_cast<int>(absl::ToInt64Milliseconds(wait))) > 0;
    });
    return attempted;
  }
  // Closes the listening socket: connection attempts fail from now on.
  void StopListening() {
    RunOnBrokerThread([this] {
      accepting_ = false;
      listener_.reset();
    });
  }

 private:
  struct ScriptedCall {
    std::string service;
    std::string method;
    std::string request;
  };

  static Fd Listen(const std::string& path) {
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (!fd.valid() ||
        ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address),
               sizeof address) != 0 ||
        ::listen(fd.get(), 8) != 0) {
      ADD_FAILURE() << "listen on " << path << ": " << std::strerror(errno);
    }
    return fd;
  }

  void RunOnBrokerThread(std::function<void()> task) {
    absl::Notification done;
    {
      absl::MutexLock lock(&tasks_mu_);
      tasks_.push_back([&] {
        task();
        done.Notify();
      });
    }
    const uint64_t one = 1;
    EXPECT_EQ(::write(wake_.get(), &one, sizeof one),
              static_cast<ssize_t>(sizeof one));
    done.WaitForNotification();
  }

  void RunTasks() {
    uint64_t count;
    const ssize_t ignored = ::read(wake_.get(), &count, sizeof count);
    (void)ignored;
    std::deque<std::function<void()>> tasks;
    {
      absl::MutexLock lock(&tasks_mu_);
      tasks.swap(tasks_);
    }
    for (std::function<void()>& task : tasks) task();
  }

  void Loop() {
    while (!stopping_) {
      pollfd fds[3] = {{wake_.get(), POLLIN, 0},
                       {accepting_ ? listener_.get() : -1, POLLIN, 0},
                       {connection_.get(), POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        ADD_FAILURE() << "poll: " << std::strerror(errno);
        return;
      }
      if (fds[0].revents != 0) {
        RunTasks();
        continue;  // the tasks may have changed what to watch
      }
      if (fds[1].revents != 0) Accept();
      if (fds[2].revents != 0) ReadConnection();
    }
  }

  void Accept() {
    Fd accepted(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!accepted.valid()) return;
    connection_ = std::move(accepted);
    decoder_ = wire::FrameDecoder(wire::Limits{});
    ++connection_number_;
    answers_ = 0;
    accepting_ = connection_number_ < accept_limit_;
  }

  void ReadConnection() {
    absl::Span<char> span = decoder_.WritableSpan();
    const ssize_t n =
        ::recv(connection_.get(), span.data(), span.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {  // the client closed its end
      connection_.reset();
      return;
    }
    decoder_.Commit(static_cast<size_t>(n));
    const int answers_before = answers_;
    while (connection_.valid()) {
      absl::StatusOr<std::optional<wire::Frame>> frame = decoder_.Next();
      if (!frame.ok()) {
        ADD_FAILURE() << "bad frame from the client: " << frame.status();
        connection_.reset();
        return;
      }
      if (!frame->has_value()) return;
      Handle(**frame, answers_before);
    }
  }

  void Handle(const wire::Frame& frame, int answers_before) {
    absl::StatusOr<v1::Header> header = frame.ParseHeader();
    if (!header.ok()) {
      ADD_FAILURE() << "bad header from the client: " << header.status();
      return;
    }
    frames_.Add(ReadFrame{connection_number_, frame.kind(), frame.request_id(),
                          *header, std::string(frame.payload()),
                          answers_before});
    if (close_on_ == frame.kind()) {
      close_on_.reset();
      if (!close_error_.ok()) SendError(close_error_);
      connection_.reset();
      return;
    }
    Answer(frame.kind(), frame.request_id(), *header);
  }

  // As switchboardd answers (docs/PROTOCOL.md 4.1, 5).
  void Answer(wire::Kind kind, uint64_t id, const v1::Header& header) {
    switch (kind) {
      case wire::Kind::kHello:
        return Welcome();
      case wire::Kind::kRegisterName:
        return AnswerClaim(id, header.register_name().name());
      case wire::Kind::kSubscribe:
        return Reply(id, absl::OkStatus(),
                     LimitsInForce(header.subscribe()).SerializeAsString());
      case wire::Kind::kCall:
        // switchboard.Broker/RegisterTypes: RegisterTypesResult is empty.
        if (header.call().service() == "switchboard.Broker") {
          Reply(id, absl::OkStatus());
        }
        return;
      case wire::Kind::kPing:
      case wire::Kind::kReleaseName:
      case wire::Kind::kUnsubscribe:
        return Reply(id, absl::OkStatus());
      default:
        return;  // PUBLISH without a request id, CANCEL, CREDIT, REPLY
    }
  }

  void Welcome() {
    v1::Header header;
    v1::Welcome* welcome = header.mutable_welcome();
    welcome->set_connection_id(kFirstConnectionId + connection_number_);
    welcome->set_max_payload_bytes(64 << 20);
    welcome->set_max_header_bytes(64 << 10);
    welcome->set_max_fds_per_frame(16);
    welcome->add_features("fds");
    welcome->set_broker_version("scripted");
    Send(wire::Kind::kWelcome, 0, header);
  }

  void AnswerClaim(uint64_t id, const std::string& name) {
    if (refused_names_.erase(name) > 0) {
      // name_registry.cc's OwnedError, from core's BuildReply.
      return Reply(id, absl::AlreadyExistsError(absl::StrCat(
                           "service name '", name, "' is owned by :99")));
    }
    v1::RegisterNameResult result;
    result.set_state(queued_names_.erase(name) > 0
                         ? v1::RegisterNameResult::STATE_QUEUED
                         : v1::RegisterNameResult::STATE_OWNER);
    Reply(id, absl::OkStatus(), result.SerializeAsString());
    if (result.state() == v1::RegisterNameResult::STATE_OWNER &&
        call_after_claim_.service == name) {
      v1::Header header;
      header.mutable_call()->set_service(name);
      header.mutable_call()->set_method(call_after_claim_.method);
      header.mutable_call()->set_timeout_us(
          absl::ToInt64Microseconds(kTimeout));
      Send(wire::Kind::kCall, kScriptedCallId, header,
           call_after_claim_.request);
      call_after_claim_ = {};
    }
  }

  // The broker's defaults for 0 limits and an unspecified policy.
  static v1::SubscribeResult LimitsInForce(const v1::Subscribe& subscribe) {
    v1::SubscribeResult result;
    result.set_max_messages(
        subscribe.max_messages() != 0 ? subscribe.max_messages() : 1024);
    result.set_max_bytes(subscribe.max_bytes() != 0 ? subscribe.max_bytes()
                                                    : 8 << 20);
    result.set_policy(subscribe.policy() != v1::OVERFLOW_POLICY_UNSPECIFIED
                          ? subscribe.policy()
                          : v1::OVERFLOW_POLICY_DROP_OLDEST);
    return result;
  }

  void SendError(const absl::Status& status) {
    v1::Header header;
    header.mutable_error()->set_code(static_cast<int32_t>(status.code()));
    header.mutable_error()->set_message(std::string(status.message()));
    Send(wire::Kind::kError, 0, header);
  }

  // An OK REPLY has an empty header; an error one carries code and message.
  void Reply(uint64_t id, const absl::Status& status,
             absl::string_view payload = {}) {
    v1::Header header;
    if (!status.ok()) {
      header.mutable_reply()->set_code(static_cast<int32_t>(status.code()));
      header.mutable_reply()->set_message(std::string(status.message()));
    }
    Send(wire::Kind::kReply, id, header, payload);
  }

  void Send(wire::Kind kind, uint64_t id, const v1::Header& header,
            absl::string_view payload = {}) {
    wire::Prefix prefix;
    prefix.kind = kind;
    prefix.request_id = id;
    const wire::Frame frame = wire::Frame::Build(prefix, header, payload);
    absl::string_view bytes = frame.bytes();
    while (!bytes.empty()) {
      const ssize_t n =
          ::send(connection_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // the client is gone
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    if (kind == wire::Kind::kWelcome || kind == wire::Kind::kReply) ++answers_;
  }

  std::string dir_;
  std::string socket_path_;
  Recorder<ReadFrame> frames_;
  Fd wake_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  absl::Mutex tasks_mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(tasks_mu_);

  // The broker thread's own (written before it starts, or by its tasks).
  Fd listener_;
  Fd connection_;
  wire::FrameDecoder decoder_{wire::Limits{}};
  int connection_number_ = 0;
  int answers_ = 0;
  bool accepting_ = true;
  bool stopping_ = false;
  absl::flat_hash_set<std::string> refused_names_;
  absl::flat_hash_set<std::string> queued_names_;
  ScriptedCall call_after_claim_;
  std::optional<wire::Kind> close_on_;
  absl::Status close_error_;
  int accept_limit_ = std::numeric_limits<int>::max();

  std::thread thread_;  // last: starts once everything above exists
};

ConnectOptions FastReconnect() {
  ConnectOptions options;
  options.client_name = "reconnect-script-test";
  options.reconnect.first_delay = absl::Milliseconds(1);
  options.reconnect.max_delay = absl::Milliseconds(20);
  return options;
}

int Count(const std::vector<ConnectionEvent>& events, ConnectionState state) {
  int count = 0;
  for (const ConnectionEvent& event : events) count += event.state == state;
  return count;
}

// kDisconnected first, then only kReconnecting, then `last`.
void ExpectOneGap(const std::vector<ConnectionEvent>& events,
                  ConnectionState last) {
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().state, ConnectionState::kDisconnected);
  EXPECT_EQ(events.front().reason.code(), absl::StatusCode::kUnavailable)
      << events.front().reason;
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i].state, ConnectionState::kReconnecting) << i;
  }
  EXPECT_EQ(events.back().state, last);
}

v1::Subscribe SubscribeRequest(uint64_t id, absl::string_view pattern,
                               uint32_t max_messages, uint64_t max_bytes,
                               v1::OverflowPolicy policy) {
  v1::Subscribe subscribe;
  subscribe.set_subscription_id(id);
  subscribe.set_pattern(std::string(pattern));
  subscribe.set_max_messages(max_messages);
  subscribe.set_max_bytes(max_bytes);
  subscribe.set_policy(policy);
  return subscribe;
}

v1::RegisterName ClaimRequest(absl::string_view name, v1::NameFlag flag,
                              bool allow_replacement) {
  v1::RegisterName claim;
  claim.set_name(std::string(name));
  claim.set_flag(flag);
  claim.set_allow_replacement(allow_replacement);
  return claim;
}

struct NameChange {
  std::string name;
  bool owned = false;
};

class ReconnectScriptTest : public ::testing::Test {
 protected:
  void Connect(const ConnectOptions& options = FastReconnect()) {
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(broker_.address(), options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    client_->OnConnectionChange(
        [this](const ConnectionEvent& event) { connections_.Add(event); });
  }

  bool WaitForState(ConnectionState state) {
    return connections_.WaitUntil(
        [&](const std::vector<ConnectionEvent>& events) {
          return Count(events, state) > 0;
        });
  }

  // A call answered through the dispatch thread, which runs callbacks in
  // order: once it is back, whatever that thread had queued before it
  // (drop and name reports, call results) has run.
  void RoundTripThroughDispatch() {
    absl::Notification answered;
    client_->CallAsync("switchboard.Broker", "GetStatus", Payload(), kTimeout,
                       [&](const absl::StatusOr<Payload>& reply) {
                         EXPECT_TRUE(reply.ok()) << reply.status();
                         answered.Notify();
                       });
    ASSERT_TRUE(answered.WaitForNotificationWithTimeout(kTimeout));
  }

  SubscribeOptions Reported(SubscribeOptions options = {}) {
    options.on_drop = [this](const DropReport& report) { drops_.Add(report); };
    return options;
  }

  // Declared before the client, whose callbacks add to them.
  ScriptedBroker broker_;
  Recorder<ConnectionEvent> connections_;
  Recorder<DropReport> drops_;
  Recorder<NameChange> names_;
  std::unique_ptr<Client> client_;
};

TEST_F(ReconnectScriptTest,
       CallsInFlightEndUnavailableOnceAndTheClientComesBack) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  Recorder<absl::Status> async_results;
  client_->CallAsync("script.peer", "Async", Payload("a"), kTimeout,
                     [&](absl::StatusOr<Payload> reply) {
                       async_results.Add(reply.status());
                     });
  absl::StatusOr<Payload> sync_result;
  std::thread caller([&] {
    sync_result = client_->Call("script.peer", "Sync", Payload("s"), kTimeout);
  });
  ASSERT_TRUE(broker_.WaitForFrames(1, wire::Kind::kCall, 2));

  broker_.CloseConnection();
  caller.join();
  EXPECT_EQ(sync_result.status().code(), absl::StatusCode::kUnavailable)
      << sync_result.status();
  ASSERT_TRUE(WaitForState(ConnectionState::kConnected));
  ASSERT_NO_FATAL_FAILURE(
      ExpectOneGap(connections_.items(), ConnectionState::kConnected));
  EXPECT_EQ(connections_.items().back().connection_id, kFirstConnectionId + 2);
  EXPECT_EQ(client_->connection_id(), kFirstConnectionId + 2);
  EXPECT_TRUE(client_->connected());

  // The async call ended once, and neither call was sent again.
  ASSERT_NO_FATAL_FAILURE(RoundTripThroughDispatch());
  ASSERT_EQ(async_results.items().size(), 1u);
  EXPECT_EQ(async_results.items()[0].code(), absl::StatusCode::kUnavailable);
  for (const ReadFrame& frame : OnConnection(broker_.frames().items(), 2)) {
    EXPECT_NE(frame.header.call().service(), "script.peer")
        << frame.header.ShortDebugString();
  }
}

TEST_F(ReconnectScriptTest, RestoresNamesThenSubscriptionsThenTypesInTurn) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  // Served in this order; restored in name order.
  ASSERT_TRUE(client_
                  ->Serve(Service("script.beta"),
                          {NameClaim::kReplace, /*allow_replacement=*/true})
                  .ok());
  ASSERT_TRUE(client_->Serve(Service("script.alpha")).ok());
  SubscribeOptions limited;
  limited.max_messages = 7;
  limited.max_bytes = 4096;
  limited.policy = OverflowPolicy::kDropNewest;
  absl::StatusOr<Subscription> news = client_->Subscribe(
      "news.>", [](const Message&) {}, Reported(limited));
  ASSERT_TRUE(news.ok()) << news.status();
  absl::StatusOr<Subscription> video = client_->Subscribe(
      "video.*", [](const Message&) {}, Reported());
  ASSERT_TRUE(video.ok()) << video.status();
  ASSERT_TRUE(client_->Publish("news.today", v1::ConnectionEvent()).ok());
  ASSERT_TRUE(broker_.WaitForFrames(1, wire::Kind::kCall));  // RegisterTypes

  broker_.CloseConnection();
  ASSERT_TRUE(WaitForState(ConnectionState::kConnected));
  ASSERT_NO_FATAL_FAILURE(RoundTripThroughDispatch());

  const std::vector<ReadFrame> frames =
      OnConnection(broker_.frames().items(), 2);
  ASSERT_GE(frames.size(), 6u);  // then the round trip's call
  EXPECT_EQ(frames[0].kind, wire::Kind::kHello);
  EXPECT_EQ(frames[1].kind, wire::Kind::kRegisterName);
  EXPECT_EQ(frames[1].header.register_name().ShortDebugString(),
            ClaimRequest("script.alpha", v1::NAME_FLAG_FAIL_IF_OWNED, false)
                .ShortDebugString());
  EXPECT_EQ(frames[2].kind, wire::Kind::kRegisterName);
  EXPECT_EQ(frames[2].header.register_name().ShortDebugString(),
            ClaimRequest("script.beta", v1::NAME_FLAG_REPLACE, true)
                .ShortDebugString());
  // The limits the first broker put in force (its defaults for video.*).
  EXPECT_EQ(frames[3].kind, wire::Kind::kSubscribe);
  EXPECT_EQ(frames[3].header.subscribe().ShortDebugString(),
            SubscribeRequest(news->id(), "news.>", 7, 4096,
                             v1::OVERFLOW_POLICY_DROP_NEWEST)
                .ShortDebugString());
  EXPECT_EQ(frames[4].kind, wire::Kind::kSubscribe);
  EXPECT_EQ(frames[4].header.subscribe().ShortDebugString(),
            SubscribeRequest(video->id(), "video.*", 1024, 8 << 20,
                             v1::OVERFLOW_POLICY_DROP_OLDEST)
                .ShortDebugString());
  EXPECT_EQ(frames[5].kind, wire::Kind::kCall);
  EXPECT_EQ(frames[5].header.call().service(), "switchboard.Broker");
  EXPECT_EQ(frames[5].header.call().method(), "RegisterTypes");
  v1::RegisterTypesRequest types;
  ASSERT_TRUE(types.ParseFromString(frames[5].payload));
  std::vector<std::string> files;
  for (const auto& file : types.files().file()) files.push_back(file.name());
  EXPECT_THAT(files, ::testing::Contains("switchboard/v1/broker.proto"));
  // Each request went out only once the previous one was answered.
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(frames[i].answers_before, static_cast<int>(i))
        << "frame " << i << " " << wire::KindName(frames[i].kind);
  }

  std::vector<DropReport> reports = drops_.items();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].subscription, news->id());
  EXPECT_EQ(reports[1].subscription, video->id());
  for (const DropReport& report : reports) {
    EXPECT_EQ(report.reason, "reconnected");
    EXPECT_EQ(report.count, 0u);
  }
}

TEST_F(ReconnectScriptTest, ABreakWhileRestoringRestoresAgainOnTheNextOne) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  ASSERT_TRUE(client_->Serve(Service("script.alpha")).ok());
  absl::StatusOr<Subscription> news = client_->Subscribe(
      "news.>", [](const Message&) {}, Reported());
  ASSERT_TRUE(news.ok()) << news.status();

  // The second connection breaks once the name is back, at the
  // subscription's restore.
  broker_.CloseOnNext(wire::Kind::kSubscribe);
  broker_.CloseConnection();
  ASSERT_TRUE(WaitForState(ConnectionState::kConnected));
  ASSERT_NO_FATAL_FAILURE(RoundTripThroughDispatch());

  // One gap reported, whatever happened inside it.
  const std::vector<ConnectionEvent> events = connections_.items();
  ASSERT_NO_FATAL_FAILURE(ExpectOneGap(events, ConnectionState::kConnected));
  EXPECT_EQ(events.back().connection_id, kFirstConnectionId + 3);
  EXPECT_EQ(Count(events, ConnectionState::kDisconnected), 1);
  std::vector<wire::Kind> second;
  for (const ReadFrame& frame : OnConnection(broker_.frames().items(), 2)) {
    second.push_back(frame.kind);
  }
  EXPECT_THAT(second, ::testing::ElementsAre(wire::Kind::kHello,
                                             wire::Kind::kRegisterName,
                                             wire::Kind::kSubscribe));
  std::vector<wire::Kind> third;
  for (const ReadFrame& frame : OnConnection(broker_.frames().items(), 3)) {
    third.push_back(frame.kind);
  }
  EXPECT_THAT(third, ::testing::ElementsAre(
                         wire::Kind::kHello, wire::Kind::kRegisterName,
                         wire::Kind::kSubscribe, wire::Kind::kCall));
  // One report for the one gap.
  const std::vector<DropReport> reports = drops_.items();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].subscription, news->id());
  EXPECT_EQ(reports[0].reason, "reconnected");
}

TEST_F(ReconnectScriptTest, ANameRefusedOnRestoreIsReportedLost) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  client_->OnNameChange([this](absl::string_view name, bool owned) {
    names_.Add({std::string(name), owned});
  });
  ASSERT_TRUE(client_->Serve(Service("script.kept")).ok());
  ASSERT_TRUE(client_->Serve(Service("script.taken")).ok());

  broker_.RefuseNextClaim("script.taken");
  broker_.CloseConnection();
  ASSERT_TRUE(WaitForState(ConnectionState::kConnected));
  ASSERT_NO_FATAL_FAILURE(RoundTripThroughDispatch());
  const std::vector<NameChange> changes = names_.items();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].name, "script.taken");
  EXPECT_FALSE(changes[0].owned);
  // No longer served: a new Serve() goes to the broker (which now says yes)
  // instead of failing "already serves".
  EXPECT_TRUE(client_->Serve(Service("script.taken")).ok());
}

TEST_F(ReconnectScriptTest, AQueuedNameGivenOnRestoreIsReportedGained) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  client_->OnNameChange([this](absl::string_view name, bool owned) {
    names_.Add({std::string(name), owned});
  });
  broker_.QueueNextClaim("script.line");
  absl::StatusOr<NameState> state =
      client_->Serve(Service("script.line"), {NameClaim::kQueue});
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, NameState::kQueued);

  broker_.CloseConnection();  // the new broker has no other claimant
  ASSERT_TRUE(WaitForState(ConnectionState::kConnected));
  ASSERT_NO_FATAL_FAILURE(RoundTripThroughDispatch());
  const std::vector<ReadFrame> frames =
      OnConnection(broker_.frames().items(), 2);
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(frames[1].header.register_name().ShortDebugString(),
            ClaimRequest("script.line", v1::NAME_FLAG_QUEUE, false)
                .ShortDebugString());
  const std::vector<NameChange> changes = names_.items();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].name, "script.line");
  EXPECT_TRUE(changes[0].owned);
}

TEST_F(ReconnectScriptTest, ACallThatArrivesDuringTheRestoreIsAnswered) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  Service echo("script.echo");
  echo.AddMethod(
      "Echo",
      [](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
        return Payload(std::string(request.data(), request.size()));
      });
  ASSERT_TRUE(client_->Serve(std::move(echo)).ok());
  absl::StatusOr<Subscription> news = client_->Subscribe(
      "news.>", [](const Message&) {}, Reported());
  ASSERT_TRUE(news.ok()) << news.status();

  // The caller's CALL reaches the client right behind the claim's answer,
  // while the subscription is still to be restored.
  broker_.CallAfterNextClaim("script.echo", "Echo", "hello");
  broker_.CloseConnection();
  ASSERT_TRUE(broker_.WaitForFrames(2, wire::Kind::kReply));
  std::vector<wire::Kind> kinds;
  const ReadFrame* reply = nullptr;
  const std::vector<ReadFrame> frames =
      OnConnection(broker_.frames().items(), 2);
  for (const ReadFrame& frame : frames) {
    kinds.push_back(frame.kind);
    if (frame.kind == wire::Kind::kReply) reply = &frame;
  }
  // The handler may run before or after the rest of the restore.
  EXPECT_THAT(kinds, ::testing::UnorderedElementsAre(
                         wire::Kind::kHello, wire::Kind::kRegisterName,
                         wire::Kind::kSubscribe, wire::Kind::kReply));
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->request_id, kScriptedCallId);
  EXPECT_EQ(reply->header.reply().code(), 0);
  EXPECT_EQ(reply->payload, "hello");
}

TEST_F(ReconnectScriptTest, AnErrorOtherThanUnavailableClosesForGood) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  SubscribeOptions options;
  options.policy = OverflowPolicy::kDisconnect;
  absl::StatusOr<Subscription> news = client_->Subscribe(
      "news.>", [](const Message&) {}, options);
  ASSERT_TRUE(news.ok()) << news.status();

  broker_.StopAccepting();
  broker_.CloseWithError(absl::ResourceExhaustedError(
      "subscription 1 (news.>) overflowed; its policy is disconnect"));
  ASSERT_TRUE(WaitForState(ConnectionState::kClosed));
  const std::vector<ConnectionEvent> events = connections_.items();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason.code(), absl::StatusCode::kResourceExhausted)
      << events[0].reason;
  EXPECT_THAT(events[0].reason.message(), HasSubstr("overflowed"));
  EXPECT_FALSE(broker_.ConnectionAttemptWithin(kNoAttemptWait));
  EXPECT_FALSE(client_->connected());
  EXPECT_FALSE(client_->Ping(kTimeout).ok());
}

TEST_F(ReconnectScriptTest, AnErrorWhileRestoringClosesForGood) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  ASSERT_TRUE(client_->Serve(Service("script.alpha")).ok());

  broker_.StopAcceptingAfter(2);
  broker_.CloseOnNext(wire::Kind::kRegisterName,
                      absl::ResourceExhaustedError("too many names"));
  broker_.CloseConnection();
  ASSERT_TRUE(WaitForState(ConnectionState::kClosed));
  const std::vector<ConnectionEvent> events = connections_.items();
  ASSERT_NO_FATAL_FAILURE(ExpectOneGap(events, ConnectionState::kClosed));
  EXPECT_EQ(events.back().reason.code(), absl::StatusCode::kResourceExhausted)
      << events.back().reason;
  EXPECT_FALSE(broker_.ConnectionAttemptWithin(kNoAttemptWait));
  EXPECT_FALSE(client_->connected());
}

TEST_F(ReconnectScriptTest, WithReconnectOffTheFirstBreakCloses) {
  ConnectOptions options = FastReconnect();
  options.reconnect.enabled = false;
  ASSERT_NO_FATAL_FAILURE(Connect(options));

  broker_.StopAccepting();
  broker_.CloseConnection();
  ASSERT_TRUE(WaitForState(ConnectionState::kClosed));
  const std::vector<ConnectionEvent> events = connections_.items();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason.code(), absl::StatusCode::kUnavailable)
      << events[0].reason;
  EXPECT_FALSE(broker_.ConnectionAttemptWithin(kNoAttemptWait));
  EXPECT_FALSE(client_->connected());
  EXPECT_EQ(client_->Ping(kTimeout).code(), absl::StatusCode::kUnavailable);
}

TEST_F(ReconnectScriptTest, GivesUpWhenNoBrokerComesBackInTime) {
  ConnectOptions options = FastReconnect();
  options.reconnect.give_up_after = absl::Milliseconds(100);
  ASSERT_NO_FATAL_FAILURE(Connect(options));

  broker_.StopListening();
  broker_.CloseConnection();
  ASSERT_TRUE(WaitForState(ConnectionState::kClosed));
  const std::vector<ConnectionEvent> events = connections_.items();
  ASSERT_NO_FATAL_FAILURE(ExpectOneGap(events, ConnectionState::kClosed));
  EXPECT_EQ(events.back().reason.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(events.back().reason.message(), HasSubstr("gave up"));
  EXPECT_FALSE(client_->connected());
  EXPECT_EQ(client_->Ping(kTimeout).code(), absl::StatusCode::kUnavailable);
}

TEST_F(ReconnectScriptTest, ACleanStopIsReconnectedAcross) {
  ASSERT_NO_FATAL_FAILURE(Connect());

  broker_.CloseShuttingDown("SIGTERM");
  ASSERT_TRUE(WaitForState(ConnectionState::kConnected));
  const std::vector<ConnectionEvent> events = connections_.items();
  ASSERT_NO_FATAL_FAILURE(ExpectOneGap(events, ConnectionState::kConnected));
  EXPECT_THAT(events.front().reason.message(), HasSubstr("shutting down"));
  EXPECT_TRUE(client_->Ping(kTimeout).ok());
}

}  // namespace
}  // namespace switchboard::reconnect_script
