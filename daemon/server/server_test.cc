// SPDX-License-Identifier: MIT
//
// The server in-process, driven over real sockets by a raw-frame client:
// the handshake, routing through sockets, the errors that close a session,
// quotas and shutdown. (Tests through the client library live in tests/.)
#include "daemon/server/server.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "io/connect.h"
#include "io/fd_passing.h"
#include "io/private_file.h"
#include "switchboard/v1/broker.pb.h"
#include "wire/frame_decoder.h"

namespace switchboard::server {
namespace {

// A blocking client that speaks raw frames, with a receive timeout so a
// broken test fails instead of hanging.
class RawClient {
 public:
  explicit RawClient(const io::Address& address)
      : decoder_(wire::Limits{.max_fds_per_frame = 253}) {
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

  // Sends `bytes`, passing `fds` with the first of them.
  void SendWithFds(absl::string_view bytes, const std::vector<int>& fds) {
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    absl::StatusOr<size_t> sent =
        io::SendWithFds(fd_.get(), absl::MakeConstSpan(&iov, 1), fds);
    ASSERT_TRUE(sent.ok()) << sent.status();
    ASSERT_GT(*sent, 0u);
    SendBytes(bytes.substr(*sent));
  }

  // The next frame; an error on EOF, timeout or a decode failure.
  absl::StatusOr<wire::Frame> Receive() {
    while (true) {
      absl::StatusOr<std::optional<wire::Frame>> next = decoder_.Next();
      if (!next.ok()) return next.status();
      if (next->has_value()) return std::move(**next);
      absl::Span<char> span = decoder_.WritableSpan();
      pollfd ready{fd_.get(), POLLIN, 0};
      if (::poll(&ready, 1, 10'000) != 1) {
        return absl::DeadlineExceededError("nothing to read");
      }
      absl::StatusOr<io::Received> got =
          io::RecvWithFds(fd_.get(), span, received_fds_);
      if (!got.ok()) return got.status();
      if (got->end_of_stream) return absl::UnavailableError("EOF");
      decoder_.Commit(got->bytes);
    }
  }

  // Descriptors received so far, in order; the test takes them.
  std::vector<Fd>& received_fds() { return received_fds_; }

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
                    absl::string_view token = "", bool fds = false) {
    v1::Header header;
    header.mutable_hello()->set_client_name(std::string(name));
    header.mutable_hello()->set_token(std::string(token));
    if (fds) header.mutable_hello()->add_features("fds");
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
  std::vector<Fd> received_fds_;
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

class ServerTest : public ::testing::Test {
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

TEST_F(ServerTest, PartialFrameWithoutProgressGetsDeadlineExceeded) {
  config_.frame_progress_timeout = absl::Milliseconds(50);
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient client(broker.address());
  client.Hello();
  wire::Frame call = RawClient::Build(wire::Kind::kCall, 1, CallHeader("x"),
                                      std::string(200000, 'p'));
  client.SendBytes(call.bytes().substr(0, 1000));
  const v1::Header header = client.ReceiveHeader(wire::Kind::kError);
  EXPECT_EQ(header.error().code(),
            static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_NE(header.error().message().find("--frame-progress-timeout"),
            std::string::npos);
  EXPECT_NE(header.error().message().find("1000 bytes"), std::string::npos);
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

// --- Buffers as file descriptors (PROTOCOL.md 2.5) ---

size_t OpenFdCount() {
  size_t count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the directory's own descriptor
}

// A memfd holding `text`, size-sealed unless `seal` is false.
Fd Buffer(absl::string_view text, bool seal = true) {
  Fd fd(::memfd_create("server-test", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(::write(fd.get(), text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
  if (seal) {
    EXPECT_EQ(::fcntl(fd.get(), F_ADD_SEALS,
                      F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
              0);
  }
  return fd;
}

std::string ContentsOf(const Fd& fd) {
  char buffer[256];
  const ssize_t n = ::pread(fd.get(), buffer, sizeof buffer, 0);
  return n < 0 ? "" : std::string(buffer, static_cast<size_t>(n));
}

wire::Frame FrameWithFds(wire::Kind kind, uint64_t id, const v1::Header& header,
                         uint8_t fd_count, absl::string_view payload = "") {
  wire::Prefix prefix;
  prefix.kind = kind;
  prefix.request_id = id;
  prefix.fd_count = fd_count;
  return wire::Frame::Build(prefix, header, payload);
}

class ServerFdsTest : public ServerTest {
 protected:
  ServerFdsTest() { config_.limits.max_fds_per_frame = 16; }

  // Connects the service (owning "video") and the caller, both taking
  // descriptors unless told otherwise.
  void Connect(const BrokerThread& broker, bool caller_fds = true,
               bool service_fds = true) {
    service_.emplace(broker.address());
    caller_.emplace(broker.address());
    EXPECT_EQ(service_->Hello("service", "", service_fds).features_size(),
              service_fds ? 1 : 0);
    caller_->Hello("caller", "", caller_fds);
    service_->Send(RawClient::Build(wire::Kind::kRegisterName, 1,
                                    RegisterHeader("video")));
    EXPECT_EQ(service_->ReceiveHeader(wire::Kind::kReply).reply().code(), 0);
  }

  // Sends a CALL with `buffers` and returns the reply or ERROR the caller
  // gets back, or the CALL the service received (in `call`).
  void SendCall(uint64_t id, const std::vector<const Fd*>& buffers) {
    std::vector<int> fds;
    for (const Fd* fd : buffers) fds.push_back(fd->get());
    wire::Frame frame =
        FrameWithFds(wire::Kind::kCall, id, CallHeader("video"),
                     static_cast<uint8_t>(fds.size()), "request");
    caller_->SendWithFds(frame.bytes(), fds);
  }

  std::optional<RawClient> service_;
  std::optional<RawClient> caller_;
};

TEST_F(ServerFdsTest, WelcomeListsFdsOnlyOnUnixAndWhenAsked) {
  config_.addresses.push_back(*io::Address::Parse("tcp:127.0.0.1:0"));
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok()) << broker.status();
  RawClient asks(broker.address());
  v1::Welcome welcome = asks.Hello("asks", "", true);
  ASSERT_EQ(welcome.features_size(), 1);
  EXPECT_EQ(welcome.features(0), "fds");
  EXPECT_EQ(welcome.max_fds_per_frame(), 16u);

  RawClient quiet(broker.address());
  welcome = quiet.Hello("quiet");
  EXPECT_EQ(welcome.features_size(), 0);
  EXPECT_EQ(welcome.max_fds_per_frame(), 16u);

  absl::StatusOr<std::string> token =
      io::ReadPrivateFile(config_.token_file, 100);
  ASSERT_TRUE(token.ok());
  RawClient tcp(broker.address(1));
  welcome = tcp.Hello("tcp", *token, true);
  EXPECT_EQ(welcome.features_size(), 0);
  EXPECT_EQ(welcome.max_fds_per_frame(), 0u);
}

TEST_F(ServerFdsTest, BuffersTravelWithCallAndReplyAndTheFlagSaysWhoTakesThem) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  Connect(broker);
  Fd one = Buffer("first buffer");
  Fd two = Buffer("second buffer");
  SendCall(7, {&one, &two});
  wire::Frame call(wire::Prefix{}, nullptr);
  service_->ReceiveHeader(wire::Kind::kCall, &call);
  EXPECT_EQ(call.prefix().fd_count, 2);
  EXPECT_EQ(call.prefix().flags, wire::kFlagSenderAcceptsFds);
  EXPECT_EQ(call.payload(), "request");
  ASSERT_EQ(service_->received_fds().size(), 2u);
  EXPECT_EQ(ContentsOf(service_->received_fds()[0]), "first buffer");
  EXPECT_EQ(ContentsOf(service_->received_fds()[1]), "second buffer");

  Fd answer = Buffer("the frame");
  wire::Frame reply = FrameWithFds(wire::Kind::kReply, call.request_id(),
                                   v1::Header(), 1, "response");
  service_->SendWithFds(reply.bytes(), {answer.get()});
  wire::Frame got(wire::Prefix{}, nullptr);
  caller_->ReceiveHeader(wire::Kind::kReply, &got);
  EXPECT_EQ(got.request_id(), 7u);
  EXPECT_EQ(got.prefix().fd_count, 1);
  ASSERT_EQ(caller_->received_fds().size(), 1u);
  EXPECT_EQ(ContentsOf(caller_->received_fds()[0]), "the frame");
}

TEST_F(ServerFdsTest, ManyFramesWithDescriptorsInOneBurstKeepTheirOrder) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  Connect(broker);
  // 40 calls with 8 buffers each in one sendmsg: 320 descriptors, more than
  // one SCM_RIGHTS message may carry, so the broker splits its writes.
  std::string burst;
  std::vector<Fd> buffers;
  std::vector<int> fds;
  for (uint64_t id = 1; id <= 40; ++id) {
    absl::StrAppend(
        &burst, FrameWithFds(wire::Kind::kCall, id, CallHeader("video"), 8, "r")
                    .bytes());
    for (int i = 0; i < 8; ++i) {
      buffers.push_back(Buffer(absl::StrCat(id, "/", i)));
      fds.push_back(buffers.back().get());
    }
  }
  // At most 253 per sendmsg: the first 31 frames' worth, then the rest.
  const size_t split = 31 * burst.size() / 40;
  caller_->SendWithFds(burst.substr(0, split),
                       std::vector<int>(fds.begin(), fds.begin() + 248));
  caller_->SendWithFds(burst.substr(split),
                       std::vector<int>(fds.begin() + 248, fds.end()));
  for (uint64_t id = 1; id <= 40; ++id) {
    service_->ReceiveHeader(wire::Kind::kCall);
  }
  ASSERT_EQ(service_->received_fds().size(), 320u);
  for (uint64_t id = 1; id <= 40; ++id) {
    for (int i = 0; i < 8; ++i) {
      EXPECT_EQ(ContentsOf(service_->received_fds()[(id - 1) * 8 + i]),
                absl::StrCat(id, "/", i));
    }
  }
}

TEST_F(ServerFdsTest, UnsealedBufferIsRefusedNamingIt) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  Connect(broker);
  Fd sealed = Buffer("ok");
  Fd loose = Buffer("loose", false);
  SendCall(7, {&sealed, &loose});
  v1::Header header = caller_->ReceiveHeader(wire::Kind::kReply);
  EXPECT_EQ(header.reply().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(header.reply().message(),
            "buffer 1 is not sealed: it lacks "
            "F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL");
}

TEST_F(ServerFdsTest, WriteSealIsDemandedWhenConfigured) {
  config_.require_write_seal = true;
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  Connect(broker);
  Fd buffer = Buffer("size-sealed only");
  SendCall(7, {&buffer});
  v1::Header header = caller_->ReceiveHeader(wire::Kind::kReply);
  EXPECT_EQ(header.reply().message(),
            "buffer 0 is not sealed: it lacks F_SEAL_WRITE");
}

TEST_F(ServerFdsTest, CalleeThatTakesNoDescriptorsFailsThePrecondition) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  Connect(broker, /*caller_fds=*/true, /*service_fds=*/false);
  Fd buffer = Buffer("x");
  SendCall(7, {&buffer});
  EXPECT_EQ(caller_->ReceiveHeader(wire::Kind::kReply).reply().code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
}

// Each case ends the connection with ERROR `code`.
void ExpectErrorAndClose(RawClient& client, absl::StatusCode code) {
  v1::Header header = client.ReceiveHeader(wire::Kind::kError);
  EXPECT_EQ(header.error().code(), static_cast<int>(code))
      << header.error().message();
  EXPECT_TRUE(client.ReceivesEof());
}

TEST_F(ServerFdsTest, FewerDescriptorsThanClaimedCloseTheConnection) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  Connect(broker);
  Fd buffer = Buffer("x");
  caller_->SendWithFds(
      FrameWithFds(wire::Kind::kCall, 7, CallHeader("video"), 2).bytes(),
      {buffer.get()});
  ExpectErrorAndClose(*caller_, absl::StatusCode::kInvalidArgument);
}

TEST_F(ServerFdsTest, UnclaimedDescriptorsCloseTheConnection) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  Connect(broker);
  Fd buffer = Buffer("x");
  caller_->SendWithFds(
      FrameWithFds(wire::Kind::kCall, 7, CallHeader("video"), 0).bytes(),
      {buffer.get()});
  ExpectErrorAndClose(*caller_, absl::StatusCode::kInvalidArgument);
}

TEST_F(ServerFdsTest, DescriptorsOnAPingCloseTheConnection) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  Connect(broker);
  Fd buffer = Buffer("x");
  caller_->SendWithFds(
      FrameWithFds(wire::Kind::kPing, 7, v1::Header(), 1).bytes(),
      {buffer.get()});
  ExpectErrorAndClose(*caller_, absl::StatusCode::kInvalidArgument);
}

TEST_F(ServerFdsTest, MoreThanTheLimitPerFrameIsRefusedNamingIt) {
  config_.limits.max_fds_per_frame = 2;
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  Connect(broker);
  Fd buffer = Buffer("x");
  caller_->SendWithFds(
      FrameWithFds(wire::Kind::kCall, 7, CallHeader("video"), 3).bytes(),
      {buffer.get(), buffer.get(), buffer.get()});
  v1::Header header = caller_->ReceiveHeader(wire::Kind::kError);
  EXPECT_EQ(header.error().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(header.error().limit_name(), "max_fds_per_frame");
  EXPECT_EQ(header.error().limit_value(), 2u);
}

TEST_F(ServerFdsTest, DescriptorsHeldForAStalledReceiverAreLimited) {
  config_.router.max_fds_in_flight = 4;
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  Connect(broker);
  // The service reads nothing: 8 MiB of calls fill its socket and the rest
  // waits in the broker's queue for it.
  const std::string big(4 << 20, 'b');
  std::thread sender([&] {
    caller_->Send(
        RawClient::Build(wire::Kind::kCall, 1, CallHeader("video"), big));
    caller_->Send(
        RawClient::Build(wire::Kind::kCall, 2, CallHeader("video"), big));
  });
  sender.join();
  Fd buffer = Buffer("x");
  SendCall(3, {&buffer, &buffer, &buffer});  // fits: none held yet
  SendCall(4, {&buffer, &buffer, &buffer});  // 6 > 4
  wire::Frame refused(wire::Prefix{}, nullptr);
  v1::Header header = caller_->ReceiveHeader(wire::Kind::kReply, &refused);
  EXPECT_EQ(refused.request_id(), 4u);
  EXPECT_EQ(header.reply().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted))
      << header.reply().message();
}

TEST_F(ServerFdsTest, NoDescriptorLeaksAcrossDeliveriesRefusalsAndClosings) {
  const size_t baseline = OpenFdCount();
  {
    BrokerThread broker(config_);
    ASSERT_TRUE(broker.status().ok());
    const size_t broker_baseline = OpenFdCount();
    Connect(broker, /*caller_fds=*/true, /*service_fds=*/true);
    Fd sealed = Buffer("sealed");
    Fd loose = Buffer("loose", false);
    for (uint64_t id = 1; id <= 300; ++id) {
      if (id % 3 == 0) {
        SendCall(id, {&loose, &sealed});  // refused
        EXPECT_EQ(caller_->ReceiveHeader(wire::Kind::kReply).reply().code(),
                  static_cast<int>(absl::StatusCode::kInvalidArgument));
        continue;
      }
      SendCall(id, {&sealed, &sealed});
      wire::Frame call(wire::Prefix{}, nullptr);
      service_->ReceiveHeader(wire::Kind::kCall, &call);
      service_->received_fds().clear();
      if (id % 3 == 1) {
        service_->SendWithFds(
            FrameWithFds(wire::Kind::kReply, call.request_id(), v1::Header(), 1)
                .bytes(),
            {sealed.get()});
      } else {
        // Refused reply: the caller gets the error instead.
        service_->SendWithFds(
            FrameWithFds(wire::Kind::kReply, call.request_id(), v1::Header(), 1)
                .bytes(),
            {loose.get()});
      }
      caller_->ReceiveHeader(wire::Kind::kReply);
      caller_->received_fds().clear();
    }
    // A connection closed in the middle of a frame whose descriptors came.
    {
      RawClient quitter(broker.address());
      quitter.Hello("quitter", "", true);
      const wire::Frame frame = FrameWithFds(
          wire::Kind::kCall, 1, CallHeader("video"), 2, std::string(1000, 'x'));
      quitter.SendWithFds(frame.bytes().substr(0, 100),
                          {sealed.get(), sealed.get()});
    }
    // One with descriptors queued to it that it never reads.
    {
      RawClient idle(broker.address());
      idle.Hello("idle", "", true);
      idle.Send(RawClient::Build(wire::Kind::kRegisterName, 1,
                                 RegisterHeader("idle")));
      idle.ReceiveHeader(wire::Kind::kReply);
      for (uint64_t id = 1000; id < 1010; ++id) {
        std::vector<int> fds(4, sealed.get());
        caller_->SendWithFds(
            FrameWithFds(wire::Kind::kCall, id, CallHeader("idle"), 4).bytes(),
            fds);
      }
      caller_->Send(RawClient::Build(wire::Kind::kPing, 2000, v1::Header()));
      caller_->ReceiveHeader(wire::Kind::kReply);  // the calls were routed
    }
    // The callee went away: the caller hears UNAVAILABLE for each call.
    for (int i = 0; i < 10; ++i) caller_->ReceiveHeader(wire::Kind::kReply);
    caller_.reset();
    service_.reset();
    for (int i = 0; i < 500; ++i) {
      const size_t sessions =
          broker.OnLoop([](Server& server) { return server.session_count(); });
      if (sessions == 0) break;
      ::usleep(10'000);
    }
    // Closed sessions are freed after the loop iteration that closed them.
    broker.OnLoop([](Server&) { return 0; });
    // sealed and loose are still open here.
    EXPECT_EQ(OpenFdCount(), broker_baseline + 2);
  }
  EXPECT_EQ(OpenFdCount(), baseline);
}

// A MESSAGE as the router shares it: the publisher's frame, kind MESSAGE,
// sender stamped, request id not yet set.
std::shared_ptr<const wire::Frame> SharedMessage(absl::string_view topic,
                                                 absl::string_view payload) {
  v1::Header header;
  header.mutable_publish()->set_topic(std::string(topic));
  wire::Frame frame =
      RawClient::Build(wire::Kind::kMessage, 0, header, payload);
  frame.set_sender(77, 1000, 4242);
  return std::make_shared<const wire::Frame>(std::move(frame));
}

TEST_F(ServerTest, SharedMessageReachesTwoSessionsWithTheirOwnRequestIds) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient first(broker.address());
  RawClient second(broker.address());
  const core::SessionId first_id(first.Hello("first").connection_id());
  const core::SessionId second_id(second.Hello("second").connection_id());

  const uint64_t frames_out = broker.OnLoop([&](Server& server) {
    const uint64_t before = server.stats().frames_out;
    std::shared_ptr<const wire::Frame> message =
        SharedMessage("news.local", "extra");
    core::Outbox& outbox = server.OutboxForTest();
    outbox.SendMessage(first_id, 11, message);
    outbox.SendMessage(second_id, 22, message);
    outbox.SendMessage(first_id, 12, message);  // a second subscription
    // Nothing is written before the iteration ends.
    EXPECT_EQ(outbox.QueuedMessages(first_id, 11).messages, 1u);
    EXPECT_EQ(outbox.QueuedMessages(first_id, 12).messages, 1u);
    EXPECT_EQ(outbox.QueuedMessages(second_id, 22).bytes,
              message->bytes().size());
    // The queue is charged its bookkeeping too.
    EXPECT_EQ(outbox.QueuedBytes(first_id),
              2 * (message->bytes().size() + OutputQueue::EntryBytes()));
    // An unknown session gets nothing and has nothing queued.
    outbox.SendMessage(core::SessionId(999), 1, message);
    EXPECT_EQ(outbox.QueuedMessages(core::SessionId(999), 1).messages, 0u);
    EXPECT_EQ(outbox.DropOldestMessage(core::SessionId(999), 1), 0u);
    return server.stats().frames_out - before;
  });
  EXPECT_EQ(frames_out, 3u);

  for (auto [client, id] :
       {std::pair{&first, 11}, std::pair{&first, 12}, std::pair{&second, 22}}) {
    wire::Frame frame(wire::Prefix{}, nullptr);
    v1::Header header = client->ReceiveHeader(wire::Kind::kMessage, &frame);
    EXPECT_EQ(frame.request_id(), static_cast<uint64_t>(id));
    EXPECT_EQ(frame.prefix().sender, 77u);
    EXPECT_EQ(frame.prefix().sender_uid, 1000u);
    EXPECT_EQ(frame.prefix().sender_pid, 4242u);
    EXPECT_EQ(header.publish().topic(), "news.local");
    EXPECT_EQ(frame.payload(), "extra");
  }
  EXPECT_EQ(broker.OnLoop([&](Server& server) {
    return server.OutboxForTest().QueuedBytes(first_id) +
           server.OutboxForTest().QueuedBytes(second_id);
  }),
            0u);
}

TEST_F(ServerTest, MessagesForAClosingSessionAreNotQueued) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient client(broker.address());
  const core::SessionId id(client.Hello().connection_id());
  const size_t queued = broker.OnLoop([&](Server& server) {
    core::Outbox& outbox = server.OutboxForTest();
    outbox.CloseWithError(id, absl::InvalidArgumentError("test"));
    outbox.SendMessage(id, 1, SharedMessage("news", "late"));
    return outbox.QueuedMessages(id, 1).messages;
  });
  EXPECT_EQ(queued, 0u);
  EXPECT_EQ(client.ReceiveHeader(wire::Kind::kError).error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(client.ReceivesEof());
}

TEST_F(ServerTest, StalledSubscriberStaysBoundedWhileOldestMessagesAreDropped) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient subscriber(broker.address());
  const core::SessionId id(subscriber.Hello().connection_id());
  // The subscriber reads nothing while 256 messages of 64 KiB (16 MiB, far
  // more than a socket holds) are sent, each in its own loop iteration so
  // the broker writes what the socket takes; the subscription is held at
  // 8 messages, as the router does for DROP_OLDEST.
  constexpr size_t kMessages = 256;
  constexpr size_t kLimit = 8;
  const std::string payload(64 << 10, 'm');
  size_t frame_bytes = 0;
  size_t most_queued = 0;
  size_t dropped = 0;
  for (size_t i = 0; i < kMessages; ++i) {
    broker.OnLoop([&](Server& server) {
      core::Outbox& outbox = server.OutboxForTest();
      std::shared_ptr<const wire::Frame> message =
          SharedMessage("video.frames", absl::StrCat(i, ":", payload));
      frame_bytes = std::max(frame_bytes, message->bytes().size());
      outbox.SendMessage(id, 5, std::move(message));
      while (outbox.QueuedMessages(id, 5).messages > kLimit) {
        if (outbox.DropOldestMessage(id, 5) == 0) {
          ADD_FAILURE() << "nothing to drop";
          break;
        }
        ++dropped;
      }
      most_queued = std::max(most_queued, outbox.QueuedBytes(id));
      return 0;
    });
  }
  EXPECT_GT(dropped, 0u);
  // The limit, plus at most one message partly written.
  EXPECT_LE(most_queued, (kLimit + 1) * frame_bytes);

  // What arrives is in order, ends with the newest, and skips what was
  // dropped.
  size_t received = 0;
  int64_t last = -1;
  while (last != static_cast<int64_t>(kMessages) - 1) {
    wire::Frame frame(wire::Prefix{}, nullptr);
    subscriber.ReceiveHeader(wire::Kind::kMessage, &frame);
    if (frame.kind() != wire::Kind::kMessage) break;
    EXPECT_EQ(frame.request_id(), 5u);
    absl::string_view text = frame.payload();
    const int64_t index =
        std::stoll(std::string(text.substr(0, text.find(':'))));
    EXPECT_GT(index, last);
    last = index;
    ++received;
  }
  EXPECT_EQ(received + dropped, kMessages);
  EXPECT_EQ(broker.OnLoop([&](Server& server) {
    return server.OutboxForTest().QueuedBytes(id);
  }),
            0u);
}

TEST_F(ServerTest, ErrorOvertakesMessagesAStalledSubscriberHasNotStarted) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient subscriber(broker.address());
  const core::SessionId id(subscriber.Hello().connection_id());
  // 128 messages of 64 KiB wait for a subscriber that reads nothing (8 MiB,
  // far more than its socket holds); then the session ends with an ERROR.
  constexpr int kMessages = 128;
  const std::string payload(64 << 10, 'm');
  for (int i = 0; i < kMessages; ++i) {
    broker.OnLoop([&](Server& server) {
      server.OutboxForTest().SendMessage(
          id, 5, SharedMessage("video.frames", absl::StrCat(i, ":", payload)));
      return 0;
    });
  }
  broker.OnLoop([&](Server& server) {
    server.OutboxForTest().CloseWithError(
        id, absl::ResourceExhaustedError("subscription 5 overflowed"));
    return 0;
  });
  // What had started arrives whole and in order, then the ERROR at once.
  int received = 0;
  while (true) {
    absl::StatusOr<wire::Frame> frame = subscriber.Receive();
    ASSERT_TRUE(frame.ok()) << frame.status();
    if (frame->kind() == wire::Kind::kError) break;
    ASSERT_EQ(frame->kind(), wire::Kind::kMessage);
    absl::string_view text = frame->payload();
    EXPECT_EQ(text.substr(0, text.find(':')), absl::StrCat(received));
    ++received;
  }
  EXPECT_LT(received, kMessages);
  EXPECT_TRUE(subscriber.ReceivesEof());
}

// The next switchboard.connection.* message `watcher` receives.
v1::ConnectionEvent NextConnectionEvent(RawClient& watcher,
                                        std::string* topic) {
  wire::Frame frame(wire::Prefix{}, nullptr);
  v1::Header header = watcher.ReceiveHeader(wire::Kind::kMessage, &frame);
  *topic = header.publish().topic();
  v1::ConnectionEvent event;
  EXPECT_TRUE(event.ParseFromString(std::string(frame.payload())));
  return event;
}

TEST_F(ServerTest, RouterHearsOfOpenedSessionsAndWhyTheyClosed) {
  BrokerThread broker(config_);
  ASSERT_TRUE(broker.status().ok());
  RawClient watcher(broker.address());
  watcher.Hello("watcher");
  v1::Header subscribe;
  subscribe.mutable_subscribe()->set_subscription_id(9);
  subscribe.mutable_subscribe()->set_pattern("switchboard.connection.>");
  watcher.Send(RawClient::Build(wire::Kind::kSubscribe, 1, subscribe));
  EXPECT_EQ(watcher.ReceiveHeader(wire::Kind::kReply).reply().code(), 0);

  std::string topic;
  uint64_t visitor_id = 0;
  {
    RawClient visitor(broker.address());
    visitor_id = visitor.Hello("visitor").connection_id();
    v1::ConnectionEvent opened = NextConnectionEvent(watcher, &topic);
    EXPECT_EQ(topic, "switchboard.connection.opened");
    EXPECT_EQ(opened.connection_id(), visitor_id);
    EXPECT_EQ(opened.client_name(), "visitor");
    EXPECT_EQ(opened.transport(), "unix");
    EXPECT_EQ(opened.uid(), ::getuid());
    EXPECT_EQ(opened.pid(), static_cast<uint32_t>(::getpid()));
  }
  v1::ConnectionEvent closed = NextConnectionEvent(watcher, &topic);
  EXPECT_EQ(topic, "switchboard.connection.closed");
  EXPECT_EQ(closed.connection_id(), visitor_id);
  EXPECT_EQ(closed.reason(), "closed by the client");

  // A protocol error: the reason is the error the client was sent.
  RawClient broken(broker.address());
  const uint64_t broken_id = broken.Hello("broken").connection_id();
  EXPECT_EQ(NextConnectionEvent(watcher, &topic).connection_id(), broken_id);
  broken.SendBytes(std::string(wire::kPrefixBytes, 'x'));
  const v1::Header error = broken.ReceiveHeader(wire::Kind::kError);
  ASSERT_FALSE(error.error().message().empty());
  closed = NextConnectionEvent(watcher, &topic);
  EXPECT_EQ(topic, "switchboard.connection.closed");
  EXPECT_EQ(closed.connection_id(), broken_id);
  EXPECT_NE(closed.reason().find(error.error().message()), std::string::npos)
      << closed.reason() << " vs " << error.error().message();
}

}  // namespace
}  // namespace switchboard::server
