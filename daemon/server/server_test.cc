// SPDX-License-Identifier: MIT
//
// The server in-process, driven over real sockets by a raw-frame client:
// the handshake, routing through sockets, the errors that close a session,
// quotas and shutdown. (Tests through the client library live in tests/.)
#include "daemon/server/server.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "io/connect.h"
#include "io/private_file.h"
#include "wire/frame_decoder.h"

namespace switchboard::server {
namespace {

// A blocking client that speaks raw frames, with a receive timeout so a
// broken test fails instead of hanging.
class RawClient {
 public:
  explicit RawClient(const io::Address& address) : decoder_(wire::Limits{}) {
    absl::StatusOr<Fd> fd = io::ConnectStream(address);
    EXPECT_TRUE(fd.ok()) << fd.status();
    if (fd.ok()) fd_ = *std::move(fd);
    timeval timeout{10, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }

  void SendBytes(absl::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n =
          ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << "send failed";
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  void Send(const wire::Frame& frame) { SendBytes(frame.bytes()); }

  // The next frame; an error on EOF, timeout or a decode failure.
  absl::StatusOr<wire::Frame> Receive() {
    while (true) {
      absl::StatusOr<std::optional<wire::Frame>> next = decoder_.Next();
      if (!next.ok()) return next.status();
      if (next->has_value()) return std::move(**next);
      absl::Span<char> span = decoder_.WritableSpan();
      const ssize_t n = ::read(fd_.get(), span.data(), span.size());
      if (n == 0) return absl::UnavailableError("EOF");
      if (n < 0) return absl::ErrnoToStatus(errno, "read");
      decoder_.Commit(static_cast<size_t>(n));
    }
  }

  v1::Header ReceiveHeader(wire::Kind kind, wire::Frame* frame_out = nullptr) {
    absl::StatusOr<wire::Frame> frame = Receive();
    EXPECT_TRUE(frame.ok()) << frame.status();
    if (!frame.ok()) return v1::Header();
    EXPECT_EQ(frame->kind(), kind) << wire::KindName(frame->kind());
    absl::StatusOr<v1::Header> header = frame->ParseHeader();
    EXPECT_TRUE(header.ok());
    if (frame_out != nullptr) *frame_out = std::move(*frame);
    return header.ok() ? *header : v1::Header();
  }

  // True once the broker has closed its side and nothing else arrived.
  bool ReceivesEof() {
    absl::StatusOr<wire::Frame> frame = Receive();
    return !frame.ok() && frame.status().message() == "EOF";
  }

  // Sends HELLO and returns the WELCOME.
  v1::Welcome Hello(absl::string_view name = "test",
                    absl::string_view token = "") {
    v1::Header header;
    header.mutable_hello()->set_client_name(std::string(name));
    header.mutable_hello()->set_token(std::string(token));
    Send(Build(wire::Kind::kHello, 0, header));
    return ReceiveHeader(wire::Kind::kWelcome).welcome();
  }

  static wire::Frame Build(wire::Kind kind, uint64_t id,
                           const v1::Header& header,
                           absl::string_view payload = "") {
    wire::Prefix prefix;
    prefix.kind = kind;
    prefix.request_id = id;
    return wire::Frame::Build(prefix, header, payload);
  }

  int fd() const { return fd_.get(); }

 private:
  Fd fd_;
  wire::FrameDecoder decoder_;
};

// Runs a Server on its own loop thread for the length of a test.
class BrokerThread {
 public:
  explicit BrokerThread(const ServerConfig& config) {
    std::promise<absl::Status> started;
    thread_ = std::thread([this, config, &started] {
      absl::StatusOr<std::unique_ptr<io::EventLoop>> loop =
          io::EventLoop::Create();
      if (!loop.ok()) {
        started.set_value(loop.status());
        return;
      }
      absl::StatusOr<std::unique_ptr<Server>> server =
          Server::Create(**loop, config);
      if (!server.ok()) {
        started.set_value(server.status());
        return;
      }
      loop_ = loop->get();
      server_ = server->get();
      addresses_ = (*server)->listening_addresses();
      started.set_value(absl::OkStatus());
      EXPECT_TRUE((*loop)->Run().ok());
      server->reset();
    });
    status_ = started.get_future().get();
  }
  ~BrokerThread() {
    if (loop_ != nullptr) loop_->Stop();
    thread_.join();
  }

  const absl::Status& status() const { return status_; }
  const io::Address& address(size_t i = 0) const { return addresses_[i]; }

  // Runs `fn` on the loop thread and waits for it.
  template <typename Fn>
  auto OnLoop(Fn fn) {
    std::promise<decltype(fn(*server_))> result;
    loop_->Post([&] { result.set_value(fn(*server_)); });
    return result.get_future().get();
  }

  // Starts a graceful shutdown; the returned future is ready when done.
  std::future<void> Shutdown() {
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> future = done->get_future();
    loop_->Post([this, done] {
      server_->Shutdown("test", absl::Seconds(1),
                        [done] { done->set_value(); });
    });
    return future;
  }

 private:
  std::thread thread_;
  absl::Status status_;
  io::EventLoop* loop_ = nullptr;
  Server* server_ = nullptr;
  std::vector<io::Address> addresses_;
};

class ServerTest : public testing::Test {
 protected:
  ServerTest() {
    char pattern[] = "/tmp/sb-server-test-XXXXXX";
    EXPECT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    config_.addresses.push_back(
        *io::Address::Parse(absl::StrCat("unix:", dir_, "/bus")));
    config_.token_file = dir_ + "/token";
  }
  ~ServerTest() override {
    EXPECT_EQ(std::system(absl::StrCat("rm -rf '", dir_, "'").c_str()), 0);
  }

  std::string dir_;
  ServerConfig config_;
};

v1::Header CallHeader(absl::string_view service, uint64_t timeout_us = 0) {
  v1::Header header;
  header.mutable_call()->set_service(std::string(service));
  header.mutable_call()->set_method("Get");
  header.mutable_call()->set_timeout_us(timeout_us);
  return header;
}

v1::Header RegisterHeader(absl::string_view name) {
  v1::Header header;
  header.mutable_register_name()->set_name(std::string(name));
  return header;
}

TEST_F(ServerTest, HelloGetsWelcomeWithIncreasingConnectionIds) {
  config_.limits.max_payload_bytes = 12345;
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok()) << broker.status();
  RawClient first(broker.address());
  RawClient second(broker.address());
  v1::Welcome welcome = first.Hello();
  EXPECT_EQ(welcome.connection_id(), 1u);
  EXPECT_EQ(welcome.max_payload_bytes(), 12345u);
  EXPECT_EQ(welcome.max_header_bytes(), 65536u);
  EXPECT_EQ(welcome.broker_version(), "0.1.0");
  EXPECT_EQ(second.Hello().connection_id(), 2u);
}

TEST_F(ServerTest, CallAndReplyTravelBetweenTwoClientsWithStampedSenders) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient service(broker.address());
  RawClient caller(broker.address());
  const uint64_t service_id = service.Hello("service").connection_id();
  const uint64_t caller_id = caller.Hello("caller").connection_id();
  service.Send(
      RawClient::Build(wire::Kind::kRegisterName, 1, RegisterHeader("echo")));
  EXPECT_EQ(service.ReceiveHeader(wire::Kind::kReply).reply().code(), 0);

  caller.Send(
      RawClient::Build(wire::Kind::kCall, 7, CallHeader("echo"), "ping"));
  wire::Frame call(wire::Prefix{}, nullptr);
  service.ReceiveHeader(wire::Kind::kCall, &call);
  EXPECT_EQ(call.prefix().sender, caller_id);
  EXPECT_EQ(call.prefix().sender_uid, ::getuid());
  EXPECT_EQ(call.prefix().sender_pid, static_cast<uint32_t>(::getpid()));
  EXPECT_EQ(call.payload(), "ping");

  wire::Prefix prefix;
  prefix.kind = wire::Kind::kReply;
  prefix.request_id = call.request_id();
  service.Send(wire::Frame::Build(prefix, "", "pong"));
  absl::StatusOr<wire::Frame> reply = caller.Receive();
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->kind(), wire::Kind::kReply);
  EXPECT_EQ(reply->request_id(), 7u);
  EXPECT_EQ(reply->prefix().sender, service_id);
  EXPECT_EQ(reply->payload(), "pong");
}

TEST_F(ServerTest, LargeFramePassesThroughIntact) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient service(broker.address());
  RawClient caller(broker.address());
  service.Hello();
  caller.Hello();
  service.Send(
      RawClient::Build(wire::Kind::kRegisterName, 1, RegisterHeader("big")));
  service.ReceiveHeader(wire::Kind::kReply);
  std::string payload(8 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>(i * 7);
  // Sent from another thread: the broker forwards while we still send.
  std::thread sender([&] {
    caller.Send(
        RawClient::Build(wire::Kind::kCall, 1, CallHeader("big"), payload));
  });
  absl::StatusOr<wire::Frame> call = service.Receive();
  sender.join();
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_TRUE(call->payload() == payload);
}

TEST_F(ServerTest, PipelinedPingsAreAnsweredInOrder) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient client(broker.address());
  client.Hello();
  std::string batch;
  for (uint64_t id = 1; id <= 500; ++id) {
    wire::Prefix prefix;
    prefix.kind = wire::Kind::kPing;
    prefix.request_id = id;
    batch += std::string(wire::Frame::Build(prefix, "", "").bytes());
  }
  client.SendBytes(batch);
  for (uint64_t id = 1; id <= 500; ++id) {
    absl::StatusOr<wire::Frame> reply = client.Receive();
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_EQ(reply->request_id(), id);
  }
}

TEST_F(ServerTest, WrongVersionGetsUnimplementedListingVersionOneThenClose) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient client(broker.address());
  v1::Header hello;
  hello.mutable_hello();
  wire::Frame frame = RawClient::Build(wire::Kind::kHello, 0, hello);
  std::string bytes(frame.bytes());
  bytes[wire::kOffsetVersion] = 2;
  client.SendBytes(bytes);
  wire::Frame error(wire::Prefix{}, nullptr);
  v1::Header header = client.ReceiveHeader(wire::Kind::kError, &error);
  EXPECT_EQ(header.error().code(),
            static_cast<int>(absl::StatusCode::kUnimplemented));
  ASSERT_EQ(header.error().supported_versions_size(), 1);
  EXPECT_EQ(header.error().supported_versions(0), 1u);
  EXPECT_EQ(error.bytes()[wire::kOffsetVersion], 1);
  EXPECT_TRUE(client.ReceivesEof());
}

TEST_F(ServerTest, FirstFrameOtherThanHelloGetsInvalidArgumentThenClose) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient client(broker.address());
  client.Send(RawClient::Build(wire::Kind::kPing, 1, v1::Header()));
  EXPECT_EQ(client.ReceiveHeader(wire::Kind::kError).error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(client.ReceivesEof());
}

TEST_F(ServerTest, GarbageGetsOneErrorAndClosesOnlyThatSession) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient bystander(broker.address());
  bystander.Hello();
  RawClient client(broker.address());
  client.Hello();
  client.SendBytes(std::string(100, 'G'));
  EXPECT_EQ(client.ReceiveHeader(wire::Kind::kError).error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(client.ReceivesEof());
  // Nobody else noticed.
  client.Send(RawClient::Build(wire::Kind::kPing, 1, v1::Header()));
  bystander.Send(RawClient::Build(wire::Kind::kPing, 9, v1::Header()));
  absl::StatusOr<wire::Frame> pong = bystander.Receive();
  ASSERT_TRUE(pong.ok());
  EXPECT_EQ(pong->request_id(), 9u);
}

TEST_F(ServerTest, OversizedPayloadIsRefusedNamingTheLimitBeforeItIsSent) {
  config_.limits.max_payload_bytes = 1024;
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient client(broker.address());
  client.Hello();
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kCall;
  prefix.request_id = 1;
  prefix.payload_length = 1 << 30;
  char head[wire::kPrefixBytes];
  wire::EncodePrefix(prefix, head);
  client.SendBytes(absl::string_view(head, sizeof head));  // prefix only
  v1::Header header = client.ReceiveHeader(wire::Kind::kError);
  EXPECT_EQ(header.error().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(header.error().limit_name(), "max_payload_bytes");
  EXPECT_EQ(header.error().limit_value(), 1024u);
  EXPECT_TRUE(client.ReceivesEof());
}

TEST_F(ServerTest, HugeFirstFrameIsRefusedBeforeItIsReceived) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient client(broker.address());
  // A "HELLO" announcing 60 MiB of payload, followed by 1 MiB of it: the
  // broker must refuse it without taking in more than a HELLO's worth.
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kHello;
  prefix.payload_length = 60 << 20;
  std::string bytes(wire::kPrefixBytes, '\0');
  wire::EncodePrefix(prefix, bytes.data());
  bytes += std::string(1 << 20, 'x');
  std::thread sender([&] {
    // Fails once the broker closes; that is the point.
    ::send(client.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  });
  v1::Header header = client.ReceiveHeader(wire::Kind::kError);
  sender.join();
  EXPECT_EQ(header.error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(header.error().message().find("HELLO"), std::string::npos);
}

TEST_F(ServerTest, HelloPipelinedWithACallStillWorks) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient client(broker.address());
  v1::Header hello;
  hello.mutable_hello()->set_client_name("eager");
  wire::Prefix ping;
  ping.kind = wire::Kind::kPing;
  ping.request_id = 4;
  std::string bytes(RawClient::Build(wire::Kind::kHello, 0, hello).bytes());
  bytes +=
      std::string(RawClient::Build(wire::Kind::kCall, 3, CallHeader("none"),
                                   std::string(200 << 10, 'p'))
                      .bytes());
  bytes += std::string(wire::Frame::Build(ping, "", "").bytes());
  std::thread sender([&] { client.SendBytes(bytes); });
  client.ReceiveHeader(wire::Kind::kWelcome);
  wire::Frame reply(wire::Prefix{}, nullptr);
  EXPECT_EQ(client.ReceiveHeader(wire::Kind::kReply, &reply).reply().code(),
            static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_EQ(reply.request_id(), 3u);
  client.ReceiveHeader(wire::Kind::kReply, &reply);
  EXPECT_EQ(reply.request_id(), 4u);
  sender.join();
}

TEST_F(ServerTest, StreamEndingInsideAFrameGetsAnErrorNamingIt) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient client(broker.address());
  client.Hello();
  wire::Frame call =
      RawClient::Build(wire::Kind::kCall, 1, CallHeader("x"), "payload");
  client.SendBytes(call.bytes().substr(0, 50));
  ASSERT_EQ(::shutdown(client.fd(), SHUT_WR), 0);
  v1::Header header = client.ReceiveHeader(wire::Kind::kError);
  EXPECT_EQ(header.error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(header.error().message().find("50 bytes"), std::string::npos);
  EXPECT_TRUE(client.ReceivesEof());
}

TEST_F(ServerTest,
       SilentConnectionGetsDeadlineExceededAfterTheHandshakeTimeout) {
  config_.handshake_timeout = absl::Milliseconds(50);
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient client(broker.address());
  EXPECT_EQ(client.ReceiveHeader(wire::Kind::kError).error().code(),
            static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(client.ReceivesEof());
}

TEST_F(ServerTest, TcpNeedsTheTokenFromTheTokenFile) {
  config_.addresses.push_back(*io::Address::Parse("tcp:127.0.0.1:0"));
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok()) << broker.status();
  const io::Address& tcp = broker.address(1);
  EXPECT_NE(tcp.port, 0);
  absl::StatusOr<std::string> token =
      io::ReadPrivateFile(config_.token_file, 100);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->size(), 64u);

  RawClient without(tcp);
  v1::Header hello;
  hello.mutable_hello()->set_client_name("no token");
  without.Send(RawClient::Build(wire::Kind::kHello, 0, hello));
  EXPECT_EQ(without.ReceiveHeader(wire::Kind::kError).error().code(),
            static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_TRUE(without.ReceivesEof());

  RawClient wrong(tcp);
  hello.mutable_hello()->set_token(std::string(64, '0'));
  wrong.Send(RawClient::Build(wire::Kind::kHello, 0, hello));
  EXPECT_EQ(wrong.ReceiveHeader(wire::Kind::kError).error().code(),
            static_cast<int>(absl::StatusCode::kPermissionDenied));

  RawClient right(tcp);
  v1::Welcome welcome = right.Hello("with token", *token);
  EXPECT_GT(welcome.connection_id(), 0u);
  right.Send(RawClient::Build(wire::Kind::kPing, 3, v1::Header()));
  wire::Frame pong(wire::Prefix{}, nullptr);
  right.ReceiveHeader(wire::Kind::kReply, &pong);
  EXPECT_EQ(pong.request_id(), 3u);
}

TEST_F(ServerTest, CalleeDisconnectingMidCallEndsTheCallWithUnavailable) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient caller(broker.address());
  caller.Hello();
  {
    RawClient service(broker.address());
    service.Hello();
    service.Send(
        RawClient::Build(wire::Kind::kRegisterName, 1, RegisterHeader("gone")));
    service.ReceiveHeader(wire::Kind::kReply);
    caller.Send(RawClient::Build(wire::Kind::kCall, 5, CallHeader("gone")));
    service.ReceiveHeader(wire::Kind::kCall);
  }  // the service closes its socket without replying
  wire::Frame reply(wire::Prefix{}, nullptr);
  v1::Header header = caller.ReceiveHeader(wire::Kind::kReply, &reply);
  EXPECT_EQ(reply.request_id(), 5u);
  EXPECT_EQ(header.reply().code(),
            static_cast<int>(absl::StatusCode::kUnavailable));
  // The name went with it.
  caller.Send(RawClient::Build(wire::Kind::kCall, 6, CallHeader("gone")));
  EXPECT_EQ(caller.ReceiveHeader(wire::Kind::kReply).reply().code(),
            static_cast<int>(absl::StatusCode::kNotFound));
}

TEST_F(ServerTest, DeadlineEndsTheCallAndCancelsItAtTheCallee) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient service(broker.address());
  RawClient caller(broker.address());
  service.Hello();
  caller.Hello();
  service.Send(
      RawClient::Build(wire::Kind::kRegisterName, 1, RegisterHeader("slow")));
  service.ReceiveHeader(wire::Kind::kReply);
  caller.Send(
      RawClient::Build(wire::Kind::kCall, 5, CallHeader("slow", 50'000)));
  wire::Frame call(wire::Prefix{}, nullptr);
  service.ReceiveHeader(wire::Kind::kCall, &call);
  EXPECT_EQ(caller.ReceiveHeader(wire::Kind::kReply).reply().code(),
            static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  absl::StatusOr<wire::Frame> cancel = service.Receive();
  ASSERT_TRUE(cancel.ok());
  EXPECT_EQ(cancel->kind(), wire::Kind::kCancel);
  EXPECT_EQ(cancel->request_id(), call.request_id());
}

TEST_F(ServerTest, CallsToAClientThatStopsReadingAreRefusedOnceItsQueueIsFull) {
  config_.router.max_queued_bytes = 1 << 20;
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient service(broker.address());
  RawClient caller(broker.address());
  service.Hello();
  caller.Hello();
  service.Send(
      RawClient::Build(wire::Kind::kRegisterName, 1, RegisterHeader("stuck")));
  service.ReceiveHeader(wire::Kind::kReply);
  // The service never reads again. 64 x 512 KiB is far more than its socket
  // buffer and its quota together.
  const std::string payload(512 << 10, 'x');
  std::thread sender([&] {
    for (uint64_t id = 1; id <= 64; ++id) {
      caller.Send(RawClient::Build(wire::Kind::kCall, id, CallHeader("stuck"),
                                   payload));
    }
  });
  absl::StatusOr<wire::Frame> refused = caller.Receive();
  sender.join();
  ASSERT_TRUE(refused.ok()) << refused.status();
  absl::StatusOr<v1::Header> header = refused->ParseHeader();
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->reply().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  const size_t queued = broker.OnLoop(
      [](Server& server) { return server.router().calls().size(); });
  EXPECT_LT(queued, 64u);
}

TEST_F(ServerTest, ShutdownTellsEveryClientThenClosesAndRemovesTheSocket) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient client(broker.address());
  client.Hello();
  RawClient silent(broker.address());  // still in the handshake
  std::future<void> done = broker.Shutdown();
  v1::Header event = client.ReceiveHeader(wire::Kind::kEvent);
  EXPECT_EQ(event.event().shutting_down().reason(), "test");
  EXPECT_TRUE(client.ReceivesEof());
  EXPECT_EQ(silent.ReceiveHeader(wire::Kind::kError).error().code(),
            static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_EQ(done.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  struct stat st;
  EXPECT_NE(::stat((dir_ + "/bus").c_str(), &st), 0);
}

TEST_F(ServerTest, SecondBrokerOnTheSamePathRefusesToStart) {
  BrokerThread first(config_);
  ASSERT_TRUE(first.status().ok());
  BrokerThread second(config_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(second.status().message(),
            absl::StrCat("another broker is already listening on unix:", dir_,
                         "/bus"));
}

}  // namespace
}  // namespace switchboard::server
