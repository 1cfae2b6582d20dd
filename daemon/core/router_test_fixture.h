// SPDX-License-Identifier: MIT
//
// Test-only: the fake Outbox and the fixture shared by the tests of the
// router and its parts (router_test.cc, call_router*_test.cc,
// topic_router_test.cc, broker_service_test.cc, monitor_hub_test.cc), which
// drive them through the router's entry points. The fake records every frame
// and message the router queues, in one sequence, and models each
// subscription's queue so a test can fill it, "write" it and watch what the
// policies discard.
#ifndef SWITCHBOARD_DAEMON_CORE_ROUTER_TEST_FIXTURE_H_
#define SWITCHBOARD_DAEMON_CORE_ROUTER_TEST_FIXTURE_H_

#include <sys/eventfd.h>

#include <deque>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "daemon/core/router.h"
#include "gtest/gtest.h"

namespace switchboard::core {

class FakeOutbox : public Outbox {
 public:
  // A frame queued with Send().
  struct Sent {
    SessionId to;
    wire::Frame frame;
    uint64_t seq = 0;  // order among everything queued
  };
  // A message queued with SendMessage().
  struct Message {
    SessionId to;
    uint64_t subscription = 0;
    std::shared_ptr<const wire::Frame> frame;
    uint64_t seq = 0;
  };
  struct Closed {
    SessionId session;
    absl::Status reason;
    bool with_error;
  };

  void Send(SessionId session, wire::Frame frame) override {
    if (gone_.contains(session)) return;
    sent.push_back(Sent{session, std::move(frame), ++seq_});
  }
  void SendMessage(SessionId session, uint64_t subscription,
                   std::shared_ptr<const wire::Frame> message) override {
    if (gone_.contains(session)) return;
    queues_[{session, subscription}].push_back(message);
    messages.push_back(
        Message{session, subscription, std::move(message), ++seq_});
  }
  // Each message of the run as SendMessage() would queue it.
  void SendRun(SessionId session, uint64_t subscription,
               std::shared_ptr<const wire::PublishRun> run) override {
    ++runs;
    const absl::string_view bytes = run->bytes();
    for (size_t offset = 0; offset < bytes.size();
         offset += wire::PublishRun::FrameBytesAt(bytes.data() + offset)) {
      SendMessage(session, subscription,
                  std::make_shared<const wire::Frame>(run->CopyFrame(offset)));
    }
  }
  // Like Send(); a report still in `sent` and not written (Write()) takes
  // the next one's place, which keeps its position in the sequence.
  void SendDropReport(SessionId session, uint64_t subscription,
                      wire::Frame report) override {
    if (gone_.contains(session)) return;
    if (const std::optional<size_t> unsent =
            UnsentReport(session, subscription)) {
      sent[*unsent].frame = std::move(report);
      return;
    }
    Send(session, std::move(report));
    unsent_reports_[{session, subscription}] = seq_;
  }
  bool HasUnsentDropReport(SessionId session,
                           uint64_t subscription) const override {
    return UnsentReport(session, subscription).has_value();
  }
  Queued QueuedMessages(SessionId session,
                        uint64_t subscription) const override {
    Queued result;
    auto it = queues_.find({session, subscription});
    if (it == queues_.end()) return result;
    for (const auto& message : it->second) {
      ++result.messages;
      result.bytes += message->bytes().size();
    }
    return result;
  }
  // The fake's socket takes nothing unless a test says it takes everything.
  void WriteNow(SessionId session) override {
    ++writes_now[session];
    if (write_now_drains) Write(session);
  }
  size_t DropOldestMessage(SessionId session, uint64_t subscription) override {
    auto it = queues_.find({session, subscription});
    if (it == queues_.end() || it->second.empty()) return 0;
    const size_t bytes = it->second.front()->bytes().size();
    it->second.pop_front();
    return bytes;
  }
  // Test-set bytes plus the messages still queued.
  size_t QueuedBytes(SessionId session) const override {
    auto it = queued.find(session);
    size_t bytes = it == queued.end() ? 0 : it->second;
    for (const auto& [key, queue] : queues_) {
      if (key.first != session) continue;
      for (const auto& message : queue) bytes += message->bytes().size();
    }
    return bytes;
  }
  size_t QueuedFds(SessionId session) const override {
    auto it = queued_fds.find(session);
    return it == queued_fds.end() ? 0 : it->second;
  }
  // A test-set refusal, as at the session's uid quota or the broker's
  // ceiling; OK otherwise. Records what was asked.
  absl::Status CheckUidRoom(SessionId session, size_t bytes,
                            size_t fds) override {
    uid_room_asked.push_back({session, bytes, fds});
    auto it = uid_room.find(session);
    return it == uid_room.end() ? absl::OkStatus() : it->second;
  }
  Traffic SessionTraffic(SessionId session) const override {
    auto it = traffic.find(session);
    return it == traffic.end() ? Traffic() : it->second;
  }
  Traffic TotalTraffic() const override { return total_traffic; }
  bool AcceptsFds(SessionId session) const override {
    return accepts_fds.contains(session);
  }
  void CloseWithError(SessionId session, const absl::Status& reason) override {
    Close(session, reason, true);
  }
  void Disconnect(SessionId session, const absl::Status& reason) override {
    Close(session, reason, false);
  }

  // After this, a close marks the session closing at once, so what is
  // later queued for it is dropped, and ForgetClosed() hands it to
  // router.ForgetSession(), as the server does after each router call
  // (the contract in outbox.h). The fixture calls ForgetClosed() after
  // every frame it handles.
  void ForgetOnClose(Router& router) { router_ = &router; }
  // Tells the router about the sessions closed since the last call, and
  // those that this closes in turn.
  void ForgetClosed() {
    while (!to_forget_.empty()) {
      for (const Closed& c : std::exchange(to_forget_, {})) {
        router_->ForgetSession(c.session, c.reason.message());
      }
    }
  }

  // The session's socket took everything: its message queues are empty,
  // and its drop reports are written.
  void Write(SessionId session) {
    for (auto& [key, queue] : queues_) {
      if (key.first == session) queue.clear();
    }
    for (auto it = unsent_reports_.begin(); it != unsent_reports_.end();) {
      it = it->first.first == session ? unsent_reports_.erase(it) : ++it;
    }
  }
  // The messages of one subscription that wait to be written.
  std::vector<std::shared_ptr<const wire::Frame>> QueueOf(
      SessionId session, uint64_t subscription) const {
    auto it = queues_.find({session, subscription});
    if (it == queues_.end()) return {};
    return {it->second.begin(), it->second.end()};
  }

  // Removes and returns what was sent with Send() so far.
  std::vector<Sent> Take() { return std::exchange(sent, {}); }
  std::vector<Message> TakeMessages() { return std::exchange(messages, {}); }

  std::vector<Sent> sent;
  std::vector<Message> messages;
  int runs = 0;  // SendRun() calls
  std::vector<Closed> closed;
  // WriteNow() calls per session, and whether WriteNow() writes everything.
  absl::flat_hash_map<SessionId, int> writes_now;
  bool write_now_drains = false;
  absl::flat_hash_map<SessionId, size_t> queued;
  absl::flat_hash_map<SessionId, size_t> queued_fds;
  absl::flat_hash_map<SessionId, absl::Status> uid_room;
  struct RoomAsked {
    SessionId session;
    size_t bytes = 0;
    size_t fds = 0;
  };
  std::vector<RoomAsked> uid_room_asked;
  absl::flat_hash_set<SessionId> accepts_fds;
  absl::flat_hash_map<SessionId, Traffic> traffic;
  Traffic total_traffic;

 private:
  // The index in `sent` of the report queued last for the subscription,
  // if it is still there and not written.
  std::optional<size_t> UnsentReport(SessionId session,
                                     uint64_t subscription) const {
    auto it = unsent_reports_.find({session, subscription});
    if (it == unsent_reports_.end()) return std::nullopt;
    for (size_t i = 0; i < sent.size(); ++i) {
      if (sent[i].seq == it->second) return i;
    }
    return std::nullopt;  // taken by the test
  }

  void Close(SessionId session, const absl::Status& reason, bool with_error) {
    closed.push_back(Closed{session, reason, with_error});
    if (router_ == nullptr || !gone_.insert(session).second) return;
    Write(session);  // its queues go with it
    to_forget_.push_back(Closed{session, reason, with_error});
  }

  Router* router_ = nullptr;
  std::vector<Closed> to_forget_;
  absl::flat_hash_set<SessionId> gone_;
  std::map<std::pair<SessionId, uint64_t>,
           std::deque<std::shared_ptr<const wire::Frame>>>
      queues_;
  std::map<std::pair<SessionId, uint64_t>, uint64_t> unsent_reports_;
  uint64_t seq_ = 0;
};

inline const Peer kCaller{SessionId(1), 1000, 111};
inline const Peer kCallee{SessionId(2), 1001, 222};
inline const Peer kThird{SessionId(3), 1002, 333};
// A second connection of kCaller's uid, for the per-uid quotas.
inline const Peer kCallerTwin{SessionId(7), 1000, 777};
inline const absl::Time kT0 = absl::FromUnixSeconds(5000);

inline wire::Frame FrameOf(wire::Kind kind, uint64_t request_id,
                           const v1::Header* header,
                           absl::string_view payload = "") {
  wire::Prefix prefix;
  prefix.kind = kind;
  prefix.request_id = request_id;
  // Whatever a client writes as its identity must be overwritten.
  prefix.sender = 999;
  prefix.sender_uid = 999;
  prefix.sender_pid = 999;
  if (header == nullptr) return wire::Frame::Build(prefix, "", payload);
  return wire::Frame::Build(prefix, *header, payload);
}

inline wire::Frame Call(uint64_t id, absl::string_view service,
                        absl::string_view payload = "request",
                        uint64_t timeout_us = 0,
                        absl::string_view method = "GetFrame") {
  v1::Header header;
  header.mutable_call()->set_service(std::string(service));
  header.mutable_call()->set_method(std::string(method));
  header.mutable_call()->set_timeout_us(timeout_us);
  return FrameOf(wire::Kind::kCall, id, &header, payload);
}

inline wire::Frame Reply(uint64_t id, absl::string_view payload = "response") {
  return FrameOf(wire::Kind::kReply, id, nullptr, payload);
}

inline wire::Frame Register(uint64_t id, absl::string_view name,
                            v1::NameFlag flag = v1::NAME_FLAG_FAIL_IF_OWNED,
                            bool allow_replacement = false) {
  v1::Header header;
  header.mutable_register_name()->set_name(std::string(name));
  header.mutable_register_name()->set_flag(flag);
  header.mutable_register_name()->set_allow_replacement(allow_replacement);
  return FrameOf(wire::Kind::kRegisterName, id, &header);
}

inline wire::Frame Release(uint64_t id, absl::string_view name) {
  v1::Header header;
  header.mutable_release_name()->set_name(std::string(name));
  return FrameOf(wire::Kind::kReleaseName, id, &header);
}

// Descriptors for frames that carry buffers; the router's buffer check is
// faked, so any descriptor will do.
inline std::vector<Fd> EventFds(size_t count) {
  std::vector<Fd> fds;
  for (size_t i = 0; i < count; ++i) {
    fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
    EXPECT_TRUE(fds.back().valid());
  }
  return fds;
}

// The status a broker REPLY carries.
inline absl::Status ReplyStatus(const wire::Frame& frame) {
  EXPECT_EQ(frame.kind(), wire::Kind::kReply);
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  EXPECT_TRUE(header.ok());
  if (!header.ok() || !header->has_reply()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(header->reply().code()),
                      header->reply().message());
}

class RouterTest : public testing::Test {
 protected:
  RouterTest() : RouterTest(Config()) {}
  explicit RouterTest(const RouterConfig& config)
      : router_(config, outbox_, [this](const std::vector<Fd>& fds) {
          checked_fds_ += fds.size();
          return buffer_check_;
        }) {}

  static RouterConfig Config() {
    RouterConfig config;
    config.max_pending_calls = 3;
    config.max_queued_bytes = 1000;
    config.default_call_timeout = absl::Seconds(30);
    config.max_subscriptions = 4;
    config.broker_version = "9.8.7";
    config.started = kT0 - absl::Seconds(12);
    return config;
  }

  // Hands `frame` to the router, then the sessions it closed back to it
  // (with ForgetOnClose()), as the server does.
  void Handle(const Peer& from, wire::Frame frame, absl::Time now = kT0) {
    router_.OnFrame(from, std::move(frame), now);
    outbox_.ForgetClosed();
  }

  // kCallee owns "video.frames"; the registration reply is discarded.
  void ServeVideo() {
    Handle(kCallee, Register(1, "video.frames"));
    outbox_.Take();
  }

  // Sends a CALL from kCaller and returns the frame the callee got.
  wire::Frame ForwardCall(uint64_t id, uint64_t timeout_us = 0) {
    Handle(kCaller, Call(id, "video.frames", "request", timeout_us));
    std::vector<FakeOutbox::Sent> sent = outbox_.Take();
    EXPECT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].to, kCallee.id);
    return std::move(sent[0].frame);
  }

  // Expects exactly one broker REPLY to `to` with `request_id` and `code`.
  void ExpectAnswer(SessionId to, uint64_t request_id, absl::StatusCode code) {
    std::vector<FakeOutbox::Sent> sent = outbox_.Take();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].to, to);
    EXPECT_EQ(sent[0].frame.request_id(), request_id);
    EXPECT_EQ(sent[0].frame.prefix().sender, 0u);
    EXPECT_EQ(ReplyStatus(sent[0].frame).code(), code)
        << ReplyStatus(sent[0].frame);
  }

  // Config() with small per-uid quotas: 2 names, 3 subscriptions, 2
  // pending calls; schema bytes as given.
  static RouterConfig QuotaConfig(size_t max_schema_bytes = size_t{1} << 20) {
    RouterConfig config = Config();
    config.uid_limits.max_names = 2;
    config.uid_limits.max_subscriptions = 3;
    config.uid_limits.max_pending_calls = 2;
    config.uid_limits.max_schema_bytes = max_schema_bytes;
    return config;
  }

  // Expects one broker REPLY to `to` refusing `request_id` with
  // RESOURCE_EXHAUSTED and exactly `message`.
  void ExpectRefused(SessionId to, uint64_t request_id,
                     absl::string_view message) {
    std::vector<FakeOutbox::Sent> sent = outbox_.Take();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].to, to);
    EXPECT_EQ(sent[0].frame.request_id(), request_id);
    const absl::Status status = ReplyStatus(sent[0].frame);
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
    EXPECT_EQ(status.message(), message);
  }

  // Expects the router's accounts to agree with its tables: each uid of
  // `peers` is charged exactly what its sessions among `peers` hold in the
  // tables (so list every live session of those uids; gone ones hold
  // nothing). A refund missed on any path shows up here.
  void ExpectAccountsMatchTables(std::initializer_list<Peer> peers) const {
    absl::flat_hash_map<uint32_t, Usage> expected;
    for (const Peer& peer : peers) {
      Usage& usage = expected[peer.uid];
      usage.of(Quota::kNames) += router_.names().ClaimsOf(peer.id);
      usage.of(Quota::kSubscriptions) +=
          router_.subscriptions().CountFor(peer.id);
      usage.of(Quota::kPendingCalls) += router_.calls().CountForCaller(peer.id);
      usage.of(Quota::kSchemaBytes) += router_.schemas().BytesOf(peer.id);
    }
    for (const auto& [uid, usage] : expected) {
      EXPECT_EQ(router_.accounts().UsageOf(uid).held, usage.held)
          << "uid " << uid;
    }
  }

  // What `uid` holds of `quota` in the router's accounts.
  size_t Held(uint32_t uid, Quota quota) const {
    return router_.accounts().UsageOf(uid).of(quota);
  }

  FakeOutbox outbox_;
  // What the fake buffer check answers, and how many descriptors it saw.
  absl::Status buffer_check_;
  size_t checked_fds_ = 0;
  Router router_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_ROUTER_TEST_FIXTURE_H_
