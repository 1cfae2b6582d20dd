// SPDX-License-Identifier: MIT
//
// The broker's listings through the client library against the real
// switchboardd (docs/PROTOCOL.md 5.1, 5.6): a served Service's schema in
// ListNames and Describe, this process in ListConnections, GetStatus's
// addresses, pid and traffic, types registered by a typed Publish, and a
// Monitor that sees a call and its reply.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "io/peer_identity.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/stream.h"
#include "switchboard/testing/echo.pb.h"
#include "switchboard/testing/schema_echo.pb.h"
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
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;
using ::testing::Contains;
using ::testing::Gt;

constexpr absl::string_view kBroker = "switchboard.Broker";
constexpr absl::Duration kTimeout = absl::Seconds(20);

std::string OwnExe() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path));
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string();
}

// test.echo: Repeat (typed) and RepeatMany (typed stream).
Service EchoService() {
  Service service("test.echo");
  service.AddMethod<testing::RepeatRequest, testing::RepeatResponse>(
      "Repeat",
      [](const CallInfo& call, const testing::RepeatRequest& request)
          -> absl::StatusOr<testing::RepeatResponse> {
        testing::RepeatResponse response;
        for (int i = 0; i < request.times(); ++i) {
          response.mutable_text()->append(request.text());
        }
        response.set_caller(call.caller);
        return response;
      });
  service.AddStreamMethod<testing::RepeatRequest, testing::RepeatResponse>(
      "RepeatMany", [](const CallInfo&, const testing::RepeatRequest&,
                       StreamWriter&) { return absl::OkStatus(); });
  return service;
}

Service RawService() {
  Service service("test.raw");
  service.AddMethod(
      "Bytes",
      [](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
        return request;
      });
  return service;
}

const v1::NameInfo* FindName(const v1::NameList& list, absl::string_view name) {
  for (const v1::NameInfo& info : list.names()) {
    if (info.name() == name) return &info;
  }
  return nullptr;
}

const v1::MethodSchema* FindMethod(const v1::NameInfo& info,
                                   absl::string_view name) {
  for (const v1::MethodSchema& method : info.methods()) {
    if (method.name() == name) return &method;
  }
  return nullptr;
}

// Builds `files` in a pool of their own; whether it then defines `type`.
bool FilesDefine(const google::protobuf::FileDescriptorSet& files,
                 absl::string_view type) {
  google::protobuf::DescriptorPool pool;
  for (const google::protobuf::FileDescriptorProto& file : files.file()) {
    if (pool.BuildFile(file) == nullptr) {
      ADD_FAILURE() << "file " << file.name() << " does not build";
      return false;
    }
  }
  const std::string name(type);
  return pool.FindMessageTypeByName(name) != nullptr ||
         pool.FindEnumTypeByName(name) != nullptr;
}

class AdminTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    server_ = ConnectOrDie(broker_, "server");
    client_ = ConnectOrDie(broker_, "client");
  }

  bool unix_socket() const { return GetParam() == Transport::kUnix; }

  absl::StatusOr<v1::NameList> ListNames() {
    return client_->Call<v1::NameList>(kBroker, "ListNames",
                                       v1::ListNamesRequest(), kTimeout);
  }
  absl::StatusOr<v1::ConnectionInfo> ConnectionOf(uint64_t id) {
    absl::StatusOr<v1::ConnectionList> list = client_->Call<v1::ConnectionList>(
        kBroker, "ListConnections", v1::ListConnectionsRequest(), kTimeout);
    if (!list.ok()) return list.status();
    for (const v1::ConnectionInfo& info : list->connections()) {
      if (info.connection_id() == id) return info;
    }
    return absl::NotFoundError(absl::StrCat("no connection :", id));
  }
  absl::StatusOr<v1::Description> Describe(absl::string_view name,
                                           absl::string_view type) {
    v1::DescribeRequest request;
    request.set_name(std::string(name));
    request.set_type(std::string(type));
    return client_->Call<v1::Description>(kBroker, "Describe", request,
                                          kTimeout);
  }
  absl::StatusOr<v1::BrokerStatus> Status() {
    return client_->Call<v1::BrokerStatus>(kBroker, "GetStatus",
                                           v1::GetStatusRequest(), kTimeout);
  }

  BrokerProcess broker_{GetParam()};
  std::unique_ptr<Client> server_;
  std::unique_ptr<Client> client_;
};

TEST_P(AdminTest, AServedServiceIsListedWithItsTypes) {
  ASSERT_THAT(server_->Serve(EchoService()), IsOk());
  ASSERT_THAT(server_->Serve(RawService()), IsOk());

  absl::StatusOr<v1::NameList> list = ListNames();
  ASSERT_THAT(list, IsOk());
  const v1::NameInfo* echo = FindName(*list, "test.echo");
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->owner(), server_->connection_id());
  EXPECT_EQ(echo->owner_name(), "server");
  EXPECT_EQ(echo->uid(), ::getuid());
  EXPECT_EQ(echo->pid(), unix_socket() ? static_cast<uint32_t>(::getpid()) : 0);
  EXPECT_EQ(echo->exe(), unix_socket() ? OwnExe() : "");
  EXPECT_EQ(echo->queued(), 0u);
  const v1::MethodSchema* repeat = FindMethod(*echo, "Repeat");
  ASSERT_NE(repeat, nullptr);
  EXPECT_EQ(repeat->request_type(), "switchboard.testing.RepeatRequest");
  EXPECT_EQ(repeat->response_type(), "switchboard.testing.RepeatResponse");
  EXPECT_FALSE(repeat->streaming());
  const v1::MethodSchema* many = FindMethod(*echo, "RepeatMany");
  ASSERT_NE(many, nullptr);
  EXPECT_TRUE(many->streaming());
  EXPECT_EQ(many->response_type(), "switchboard.testing.RepeatResponse");

  const v1::NameInfo* raw = FindName(*list, "test.raw");
  ASSERT_NE(raw, nullptr);
  ASSERT_EQ(raw->methods_size(), 1);
  EXPECT_EQ(raw->methods(0).name(), "Bytes");
  EXPECT_EQ(raw->methods(0).request_type(), "");
  EXPECT_EQ(raw->methods(0).response_type(), "");

  absl::StatusOr<v1::Description> described = Describe("test.echo", "");
  ASSERT_THAT(described, IsOk());
  EXPECT_EQ(described->owner(), server_->connection_id());
  EXPECT_EQ(described->methods_size(), 2);
  EXPECT_TRUE(
      FilesDefine(described->files(), "switchboard.testing.RepeatRequest"));
  EXPECT_TRUE(
      FilesDefine(described->files(), "switchboard.testing.RepeatResponse"));
  absl::StatusOr<v1::Description> raw_described = Describe("test.raw", "");
  ASSERT_THAT(raw_described, IsOk());
  EXPECT_EQ(raw_described->files().file_size(), 0);
  EXPECT_THAT(Describe("test.nobody", ""),
              StatusIs(absl::StatusCode::kNotFound));

  // By type, the server's files answer.
  absl::StatusOr<v1::Description> by_type =
      Describe("", "switchboard.testing.RepeatResponse");
  ASSERT_THAT(by_type, IsOk());
  EXPECT_TRUE(
      FilesDefine(by_type->files(), "switchboard.testing.RepeatResponse"));
}

TEST_P(AdminTest, ListConnectionsShowsThisProcessAndItsTraffic) {
  ASSERT_THAT(server_->Serve(EchoService()), IsOk());
  absl::StatusOr<Subscription> subscription =
      server_->Subscribe("test.>", [](const Message&) {});
  ASSERT_THAT(subscription, IsOk());
  absl::StatusOr<v1::ConnectionInfo> server =
      ConnectionOf(server_->connection_id());
  ASSERT_THAT(server, IsOk());
  EXPECT_EQ(server->client_name(), "server");
  EXPECT_EQ(server->transport(), unix_socket() ? "unix" : "tcp");
  EXPECT_EQ(server->uid(), ::getuid());
  EXPECT_EQ(server->pid(),
            unix_socket() ? static_cast<uint32_t>(::getpid()) : 0);
  EXPECT_EQ(server->exe(), unix_socket() ? OwnExe() : "");
  // The whole identity, as the kernel gave it at accept; on TCP only the
  // uid the broker assumes for its token holders.
  const v1::Identity& identity = server->identity();
  EXPECT_EQ(identity.uid(), ::getuid());
  if (unix_socket()) {
    EXPECT_EQ(identity.gid(), ::getgid());
    EXPECT_EQ(identity.pid(), static_cast<uint32_t>(::getpid()));
    EXPECT_EQ(identity.pid_start_time(), io::ProcessStartTime(::getpid()));
    EXPECT_EQ(identity.exe(), OwnExe());
    EXPECT_TRUE(identity.process_verified());
  } else {
    EXPECT_EQ(identity.pid(), 0u);
    EXPECT_EQ(identity.exe(), "");
    EXPECT_FALSE(identity.process_verified());
  }
  EXPECT_THAT(server->names(), Contains("test.echo"));
  EXPECT_EQ(server->subscriptions(), 1u);
  EXPECT_GT(server->connected_unix_us(), 0u);

  absl::StatusOr<v1::ConnectionInfo> before =
      ConnectionOf(client_->connection_id());
  ASSERT_THAT(before, IsOk());
  EXPECT_GT(before->frames_in(), 0u);
  EXPECT_GT(before->bytes_in(), 0u);
  EXPECT_GT(before->frames_out(), 0u);
  EXPECT_GT(before->bytes_out(), 0u);
  EXPECT_EQ(before->names_size(), 0);
  testing::RepeatRequest request;
  request.set_text("ab");
  request.set_times(3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(client_->Call<testing::RepeatResponse>("test.echo", "Repeat",
                                                       request, kTimeout),
                IsOk());
  }
  absl::StatusOr<v1::ConnectionInfo> after =
      ConnectionOf(client_->connection_id());
  ASSERT_THAT(after, IsOk());
  EXPECT_GT(after->frames_in(), before->frames_in());
  EXPECT_GT(after->bytes_in(), before->bytes_in());
  EXPECT_GT(after->frames_out(), before->frames_out());
  EXPECT_GT(after->bytes_out(), before->bytes_out());
}

TEST_P(AdminTest, GetStatusShowsTheBrokerAndItsRates) {
  absl::StatusOr<v1::BrokerStatus> status = Status();
  ASSERT_THAT(status, IsOk());
  EXPECT_THAT(status->addresses(), Contains(broker_.unix_address()));
  if (!unix_socket()) {
    EXPECT_THAT(status->addresses(), Contains(broker_.tcp_address()));
  }
  EXPECT_EQ(status->pid(), static_cast<uint32_t>(broker_.pid()));
  EXPECT_EQ(status->uid(), ::getuid());
  EXPECT_GT(status->bytes_in(), 0u);
  EXPECT_GT(status->bytes_out(), 0u);

  // Traffic across at least two one-second samples shows as rates.
  bool rates = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        if (!client_->Ping().ok()) return false;
        absl::StatusOr<v1::BrokerStatus> now = Status();
        rates = now.ok() && now->frames_in_per_s() > 0 &&
                now->frames_out_per_s() > 0 && now->bytes_in_per_s() > 0 &&
                now->bytes_out_per_s() > 0;
        return rates;
      },
      kTimeout));
  EXPECT_TRUE(rates);
}

TEST_P(AdminTest, ATypedPublishRegistersItsType) {
  constexpr absl::string_view kType = "switchboard.testing.Tick";
  EXPECT_THAT(Describe("", kType), StatusIs(absl::StatusCode::kNotFound));
  testing::Tick tick;
  ASSERT_THAT(server_->Publish("test.ticks", tick), IsOk());
  // The library registers the type on its own, without waiting.
  std::optional<v1::Description> found;
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<v1::Description> description = Describe("", kType);
        if (description.ok()) found = *std::move(description);
        return found.has_value();
      },
      kTimeout));
  EXPECT_TRUE(FilesDefine(found->files(), kType));
}

TEST_P(AdminTest, AMonitorSeesACallAndItsReply) {
  ASSERT_THAT(server_->Serve(EchoService()), IsOk());
  v1::MonitorRequest watch;
  watch.set_pattern("test.echo.*");
  absl::StatusOr<std::unique_ptr<ReplyStream>> monitor =
      client_->CallStream(kBroker, "Monitor", watch);
  ASSERT_THAT(monitor, IsOk());
  // The same connection's CALL reaches the broker after the Monitor call.
  testing::RepeatRequest request;
  request.set_text("hi");
  request.set_times(2);
  ASSERT_THAT(client_->Call<testing::RepeatResponse>("test.echo", "Repeat",
                                                     request, kTimeout),
              IsOk());

  absl::StatusOr<std::optional<v1::MonitorEvent>> call =
      (*monitor)->Next<v1::MonitorEvent>();
  ASSERT_THAT(call, IsOk());
  ASSERT_TRUE(call->has_value());
  const v1::MonitorEvent& c = **call;
  EXPECT_EQ(c.kind(), v1::MonitorEvent::KIND_CALL);
  EXPECT_EQ(c.service(), "test.echo");
  EXPECT_EQ(c.method(), "Repeat");
  EXPECT_EQ(c.from(), client_->connection_id());
  EXPECT_EQ(c.from_name(), "client");
  EXPECT_EQ(c.to(), server_->connection_id());
  EXPECT_EQ(c.type(), "switchboard.testing.RepeatRequest");
  testing::RepeatRequest seen;
  ASSERT_TRUE(seen.ParseFromString(c.payload()));
  EXPECT_EQ(seen.text(), "hi");
  EXPECT_EQ(c.payload_size(), c.payload().size());
  EXPECT_GT(c.call_id(), 0u);

  absl::StatusOr<std::optional<v1::MonitorEvent>> reply =
      (*monitor)->Next<v1::MonitorEvent>();
  ASSERT_THAT(reply, IsOk());
  ASSERT_TRUE(reply->has_value());
  const v1::MonitorEvent& r = **reply;
  EXPECT_EQ(r.kind(), v1::MonitorEvent::KIND_REPLY);
  EXPECT_EQ(r.call_id(), c.call_id());
  EXPECT_EQ(r.from(), server_->connection_id());
  EXPECT_EQ(r.to(), client_->connection_id());
  EXPECT_EQ(r.code(), 0);
  EXPECT_EQ(r.type(), "switchboard.testing.RepeatResponse");
  testing::RepeatResponse answer;
  ASSERT_TRUE(answer.ParseFromString(r.payload()));
  EXPECT_EQ(answer.text(), "hihi");
  EXPECT_EQ(r.missed_before(), 0u);

  (*monitor)->Cancel();
  EXPECT_THAT((*monitor)->Next(), StatusIs(absl::StatusCode::kCancelled));
}

INSTANTIATE_TEST_SUITE_P(AllTransports, AdminTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
