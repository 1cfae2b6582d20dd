// SPDX-License-Identifier: MIT
//
// BrokerService: switchboard.Broker, the service the router answers itself
// (docs/PROTOCOL.md 5.6).
#include "daemon/core/broker_service.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/core/frames.h"
#include "daemon/core/router.h"
#include "daemon/core/router_test_fixture.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/schema.pb.h"
#include "wire/descriptor_files.h"

namespace switchboard::core {
namespace {

wire::Frame StatusCall(uint64_t id, absl::string_view method = "GetStatus") {
  v1::GetStatusRequest request;
  return Call(id, kBrokerService, request.SerializeAsString(), 0, method);
}

google::protobuf::FileDescriptorSet BrokerFiles() {
  google::protobuf::FileDescriptorSet files;
  wire::AppendWithImports(v1::MonitorEvent::descriptor()->file(), files);
  return files;
}

std::vector<std::string> FileNames(
    const google::protobuf::FileDescriptorSet& files) {
  std::vector<std::string> names;
  for (const auto& file : files.file()) names.push_back(file.name());
  return names;
}

// A schema of one method; with files when it names types.
v1::ServiceSchema OneMethod(absl::string_view method,
                            absl::string_view request = "",
                            absl::string_view response = "") {
  v1::ServiceSchema schema;
  v1::MethodSchema* entry = schema.add_methods();
  entry->set_name(std::string(method));
  entry->set_request_type(std::string(request));
  entry->set_response_type(std::string(response));
  if (!request.empty() || !response.empty()) {
    *schema.mutable_files() = BrokerFiles();
  }
  return schema;
}

v1::ServiceSchema VideoSchema() {
  return OneMethod("GetFrame", "switchboard.v1.MonitorRequest",
                   "switchboard.v1.MonitorEvent");
}

wire::Frame RegisterWith(uint64_t id, absl::string_view name,
                         const v1::ServiceSchema& schema,
                         v1::NameFlag flag = v1::NAME_FLAG_FAIL_IF_OWNED,
                         bool allow_replacement = false) {
  const v1::Header header =
      *Register(id, name, flag, allow_replacement).ParseHeader();
  return FrameOf(wire::Kind::kRegisterName, id, &header,
                 schema.SerializeAsString());
}

class BrokerServiceTest : public RouterTest {
 protected:
  BrokerServiceTest() = default;
  explicit BrokerServiceTest(const RouterConfig& config) : RouterTest(config) {}

  v1::BrokerStatus GetStatus(const Peer& from, absl::Time now) {
    Handle(from, StatusCall(5), now);
    std::vector<FakeOutbox::Sent> sent = outbox_.Take();
    v1::BrokerStatus status;
    EXPECT_EQ(sent.size(), 1u);
    if (sent.size() != 1) return status;
    EXPECT_EQ(sent[0].to, from.id);
    EXPECT_EQ(sent[0].frame.request_id(), 5u);
    EXPECT_EQ(sent[0].frame.prefix().sender, 0u);
    EXPECT_TRUE(ReplyStatus(sent[0].frame).ok()) << ReplyStatus(sent[0].frame);
    EXPECT_TRUE(status.ParseFromString(std::string(sent[0].frame.payload())));
    return status;
  }

  // Calls switchboard.Broker/`method` from kCaller; the reply's status, and
  // its payload parsed into `reply` when OK.
  absl::Status BrokerCall(absl::string_view method,
                          const google::protobuf::Message& request,
                          google::protobuf::Message* reply,
                          const Peer& from = kCaller) {
    Handle(from,
           Call(77, kBrokerService, request.SerializeAsString(), 0, method));
    std::vector<FakeOutbox::Sent> sent = outbox_.Take();
    EXPECT_EQ(sent.size(), 1u);
    if (sent.size() != 1) return absl::UnknownError("no single reply");
    EXPECT_EQ(sent[0].to, from.id);
    EXPECT_EQ(sent[0].frame.request_id(), 77u);
    const absl::Status status = ReplyStatus(sent[0].frame);
    if (status.ok() && reply != nullptr) {
      EXPECT_TRUE(reply->ParseFromString(std::string(sent[0].frame.payload())));
    }
    return status;
  }

  v1::NameList ListNames() {
    v1::NameList names;
    EXPECT_TRUE(
        BrokerCall(kListNamesMethod, v1::ListNamesRequest(), &names).ok());
    return names;
  }

  // One page of ListNames or ListConnections.
  absl::StatusOr<v1::NameList> NamesPage(uint32_t page_size,
                                         absl::string_view token) {
    v1::ListNamesRequest request;
    request.set_page_size(page_size);
    request.set_page_token(std::string(token));
    v1::NameList page;
    SB_RETURN_IF_ERROR(BrokerCall(kListNamesMethod, request, &page));
    return page;
  }
  absl::StatusOr<v1::ConnectionList> ConnectionsPage(uint32_t page_size,
                                                     absl::string_view token) {
    v1::ListConnectionsRequest request;
    request.set_page_size(page_size);
    request.set_page_token(std::string(token));
    v1::ConnectionList page;
    SB_RETURN_IF_ERROR(BrokerCall(kListConnectionsMethod, request, &page));
    return page;
  }

  // Claims `count` names "svc.N" (N from `first`), spread over kCaller,
  // kCallee and kThird in turn.
  void RegisterMany(int first, int count) {
    const Peer* owners[] = {&kCaller, &kCallee, &kThird};
    for (int i = first; i < first + count; ++i) {
      Handle(*owners[i % 3], Register(100 + i, absl::StrCat("svc.", i)));
    }
    outbox_.Take();
  }

  absl::StatusOr<v1::Description> Describe(absl::string_view name,
                                           absl::string_view type) {
    v1::DescribeRequest request;
    request.set_name(std::string(name));
    request.set_type(std::string(type));
    v1::Description description;
    SB_RETURN_IF_ERROR(BrokerCall(kDescribeMethod, request, &description));
    return description;
  }

  // Opens kCaller, kCallee and kThird as the server would.
  void OpenSessions() {
    router_.OnSessionOpened(
        SessionInfo{kCaller, "caller", "unix", "/bin/caller", kT0, {}}, kT0);
    router_.OnSessionOpened(
        SessionInfo{kCallee, "callee", "unix", "/bin/callee", kT0, {}}, kT0);
    router_.OnSessionOpened(
        SessionInfo{kThird, "third", "tcp", "", kT0 + absl::Seconds(1), {}},
        kT0);
  }

  // Expects one REPLY to `to`, OK and holding a RegisterNameResult in
  // `state`.
  void ExpectRegistered(SessionId to, v1::RegisterNameResult::State state) {
    std::vector<FakeOutbox::Sent> sent = outbox_.Take();
    ASSERT_GE(sent.size(), 1u);
    EXPECT_EQ(sent[0].to, to);
    ASSERT_TRUE(ReplyStatus(sent[0].frame).ok()) << ReplyStatus(sent[0].frame);
    v1::RegisterNameResult result;
    ASSERT_TRUE(result.ParseFromString(std::string(sent[0].frame.payload())));
    EXPECT_EQ(result.state(), state);
  }
};

TEST_F(BrokerServiceTest, GetStatusReportsCountersAndEverySubscription) {
  router_.OnSessionOpened(SessionInfo{kCaller, "caller", "unix", "", kT0, {}},
                          kT0);
  router_.OnSessionOpened(SessionInfo{kCallee, "callee", "unix", "", kT0, {}},
                          kT0);
  ServeVideo();
  ForwardCall(7);
  v1::Header subscribe;
  subscribe.mutable_subscribe()->set_subscription_id(3);
  subscribe.mutable_subscribe()->set_pattern("t.>");
  subscribe.mutable_subscribe()->set_max_messages(2);
  subscribe.mutable_subscribe()->set_policy(v1::OVERFLOW_POLICY_DROP_NEWEST);
  Handle(kCallee, FrameOf(wire::Kind::kSubscribe, 8, &subscribe));
  outbox_.Take();
  v1::Header publish;
  publish.mutable_publish()->set_topic("t.x");
  for (int i = 0; i < 3; ++i) {
    Handle(kThird, FrameOf(wire::Kind::kPublish, 0, &publish, "abc"));
  }
  const size_t message_bytes = outbox_.messages[0].frame->bytes().size();
  outbox_.total_traffic = Traffic{10, 20, 300, 400};
  router_.SampleTraffic(kT0);
  outbox_.total_traffic = Traffic{30, 60, 1300, 2400};
  router_.SampleTraffic(kT0 + absl::Milliseconds(500));
  outbox_.total_traffic = Traffic{31, 61, 1301, 2401};

  const v1::BrokerStatus status =
      GetStatus(kCaller, kT0 + absl::Milliseconds(1500));
  EXPECT_EQ(status.version(), "9.8.7");
  EXPECT_EQ(status.uptime_us(), 13'500'000u);  // started 12 s before kT0
  EXPECT_EQ(status.connections(), 2u);
  EXPECT_EQ(status.names(), 1u);
  EXPECT_EQ(status.calls(), 2u);  // the forwarded one and this one
  EXPECT_EQ(status.publishes(), 3u);
  EXPECT_EQ(status.messages_delivered(), 2u);
  EXPECT_EQ(status.messages_dropped(), 1u);
  // Totals now; rates between the last two samples (0.5 s apart).
  EXPECT_EQ(status.frames_in(), 31u);
  EXPECT_EQ(status.frames_out(), 61u);
  EXPECT_EQ(status.bytes_in(), 1301u);
  EXPECT_EQ(status.bytes_out(), 2401u);
  EXPECT_DOUBLE_EQ(status.frames_in_per_s(), 40.0);
  EXPECT_DOUBLE_EQ(status.frames_out_per_s(), 80.0);
  EXPECT_DOUBLE_EQ(status.bytes_in_per_s(), 2000.0);
  EXPECT_DOUBLE_EQ(status.bytes_out_per_s(), 4000.0);
  ASSERT_EQ(status.subscriptions_size(), 1);
  EXPECT_EQ(status.subscription_count(), 1u);
  const v1::SubscriptionStatus& s = status.subscriptions(0);
  EXPECT_EQ(s.connection_id(), kCallee.id.value());
  EXPECT_EQ(s.subscription_id(), 3u);
  EXPECT_EQ(s.pattern(), "t.>");
  EXPECT_EQ(s.policy(), "drop_newest");
  EXPECT_EQ(s.max_messages(), 2u);
  EXPECT_EQ(s.max_bytes(), 1000u);
  EXPECT_EQ(s.queued_messages(), 2u);
  EXPECT_EQ(s.queued_bytes(), 2 * message_bytes);
  EXPECT_EQ(s.delivered(), 2u);
  EXPECT_EQ(s.dropped(), 1u);
}

TEST_F(BrokerServiceTest, OtherMethodsStreamsAndBuffersAreRefused) {
  Handle(kCaller, StatusCall(5, "Shutdown"));
  ExpectAnswer(kCaller.id, 5, absl::StatusCode::kUnimplemented);

  wire::Frame stream = StatusCall(6);
  v1::Header header = *stream.ParseHeader();
  header.mutable_call()->mutable_stream()->set_initial_credit(1);
  Handle(kCaller, FrameOf(wire::Kind::kCall, 6, &header));
  ExpectAnswer(kCaller.id, 6, absl::StatusCode::kInvalidArgument);

  wire::Frame with_fds = StatusCall(7);
  with_fds.set_fds(EventFds(1));
  Handle(kCaller, std::move(with_fds));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kInvalidArgument);

  Handle(kCaller, Call(8, kBrokerService, "\xff\xff", 0, "GetStatus"));
  ExpectAnswer(kCaller.id, 8, absl::StatusCode::kInvalidArgument);
  Handle(kCaller, StatusCall(0));
  ExpectAnswer(kCaller.id, 0, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router_.calls().size(), 0u);
}

TEST_F(BrokerServiceTest, ListNamesShowsOwnersWithTheirSchemas) {
  OpenSessions();
  Handle(kCallee, RegisterWith(1, "video.frames", VideoSchema()));
  ExpectRegistered(kCallee.id, v1::RegisterNameResult::STATE_OWNER);
  Handle(kThird, RegisterWith(1, "video.frames", OneMethod("Other"),
                              v1::NAME_FLAG_QUEUE));
  ExpectRegistered(kThird.id, v1::RegisterNameResult::STATE_QUEUED);
  Handle(kThird, Register(2, "audio"));  // without schema
  ExpectRegistered(kThird.id, v1::RegisterNameResult::STATE_OWNER);

  const v1::NameList list = ListNames();
  ASSERT_EQ(list.names_size(), 2);
  const v1::NameInfo& audio = list.names(0);
  EXPECT_EQ(audio.name(), "audio");
  EXPECT_EQ(audio.owner(), kThird.id.value());
  EXPECT_EQ(audio.owner_name(), "third");
  EXPECT_EQ(audio.exe(), "");
  EXPECT_EQ(audio.methods_size(), 0);
  EXPECT_EQ(audio.queued(), 0u);
  const v1::NameInfo& video = list.names(1);
  EXPECT_EQ(video.name(), "video.frames");
  EXPECT_EQ(video.owner(), kCallee.id.value());
  EXPECT_EQ(video.owner_name(), "callee");
  EXPECT_EQ(video.uid(), kCallee.uid);
  EXPECT_EQ(video.pid(), kCallee.pid);
  EXPECT_EQ(video.exe(), "/bin/callee");
  EXPECT_EQ(video.queued(), 1u);
  ASSERT_EQ(video.methods_size(), 1);
  EXPECT_EQ(video.methods(0).name(), "GetFrame");
  EXPECT_EQ(video.methods(0).request_type(), "switchboard.v1.MonitorRequest");
  EXPECT_EQ(video.methods(0).response_type(), "switchboard.v1.MonitorEvent");
}

TEST_F(BrokerServiceTest, ARefusedSchemaLeavesTheNameUnclaimed) {
  OpenSessions();
  v1::ServiceSchema undefined =
      OneMethod("GetFrame", "switchboard.v1.NoSuchType", "");
  Handle(kCallee, RegisterWith(1, "video.frames", undefined));
  ExpectAnswer(kCallee.id, 1, absl::StatusCode::kInvalidArgument);
  v1::ServiceSchema missing_import = VideoSchema();
  missing_import.mutable_files()->mutable_file()->DeleteSubrange(0, 1);
  Handle(kCallee, RegisterWith(2, "video.frames", missing_import));
  ExpectAnswer(kCallee.id, 2, absl::StatusCode::kInvalidArgument);
  const v1::Header claim = *Register(3, "video.frames").ParseHeader();
  Handle(kCallee, FrameOf(wire::Kind::kRegisterName, 3, &claim, "\xff\xff"));
  ExpectAnswer(kCallee.id, 3, absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(router_.names().OwnerOf("video.frames"), std::nullopt);
  EXPECT_EQ(ListNames().names_size(), 0);
  EXPECT_TRUE(router_.schemas().MethodsOf(kCallee.id, "video.frames").empty());
  // A good schema afterwards is taken.
  Handle(kCallee, RegisterWith(4, "video.frames", VideoSchema()));
  ExpectRegistered(kCallee.id, v1::RegisterNameResult::STATE_OWNER);
  EXPECT_EQ(ListNames().names(0).methods_size(), 1);
}

// Larger than all one connection may keep: refused on its size, before
// the bytes are parsed (garbage would otherwise be INVALID_ARGUMENT).
TEST_F(BrokerServiceTest, ASchemaOverTheLimitIsRefusedBeforeItIsParsed) {
  OpenSessions();
  const std::string oversized(kMaxSchemaBytesPerSession + 1, '\xff');
  const v1::Header claim = *Register(1, "video.frames").ParseHeader();
  Handle(kCallee, FrameOf(wire::Kind::kRegisterName, 1, &claim, oversized));
  ExpectAnswer(kCallee.id, 1, absl::StatusCode::kResourceExhausted);
  Handle(kCaller, Call(2, kBrokerService, oversized, 0, kRegisterTypesMethod));
  ExpectAnswer(kCaller.id, 2, absl::StatusCode::kResourceExhausted);
  // Just within the limit, the same garbage is parsed and refused for
  // what it is.
  const std::string within(kMaxSchemaBytesPerSession, '\xff');
  Handle(kCallee, FrameOf(wire::Kind::kRegisterName, 3, &claim, within));
  ExpectAnswer(kCallee.id, 3, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router_.names().OwnerOf("video.frames"), std::nullopt);
  EXPECT_EQ(router_.schemas().BytesOf(kCallee.id), 0u);
  EXPECT_EQ(router_.schemas().BytesOf(kCaller.id), 0u);
}

TEST_F(BrokerServiceTest, TheNextOwnerBringsItsOwnSchema) {
  OpenSessions();
  Handle(kCallee, RegisterWith(1, "video.frames", VideoSchema()));
  Handle(kThird, RegisterWith(1, "video.frames", OneMethod("Other"),
                              v1::NAME_FLAG_QUEUE));
  outbox_.Take();
  router_.ForgetSession(kCallee.id);
  outbox_.Take();
  v1::NameList list = ListNames();
  ASSERT_EQ(list.names_size(), 1);
  EXPECT_EQ(list.names(0).owner(), kThird.id.value());
  ASSERT_EQ(list.names(0).methods_size(), 1);
  EXPECT_EQ(list.names(0).methods(0).name(), "Other");

  // Released, then claimed again without schema: no methods.
  Handle(kThird, Release(2, "video.frames"));
  Handle(kThird, Register(3, "video.frames"));
  outbox_.Take();
  list = ListNames();
  ASSERT_EQ(list.names_size(), 1);
  EXPECT_EQ(list.names(0).methods_size(), 0);
}

TEST_F(BrokerServiceTest, AReplacedOwnersSchemaGoes) {
  OpenSessions();
  Handle(kCallee, RegisterWith(1, "video.frames", VideoSchema(),
                               v1::NAME_FLAG_FAIL_IF_OWNED, true));
  Handle(kThird, RegisterWith(1, "video.frames", OneMethod("Other"),
                              v1::NAME_FLAG_REPLACE));
  outbox_.Take();
  const v1::NameList list = ListNames();
  ASSERT_EQ(list.names_size(), 1);
  EXPECT_EQ(list.names(0).owner(), kThird.id.value());
  ASSERT_EQ(list.names(0).methods_size(), 1);
  EXPECT_EQ(list.names(0).methods(0).name(), "Other");
  EXPECT_TRUE(router_.schemas().MethodsOf(kCallee.id, "video.frames").empty());
}

TEST_F(BrokerServiceTest, ListConnectionsShowsEachConnection) {
  OpenSessions();
  Handle(kCallee, Register(1, "video.frames"));
  Handle(kCallee, Register(2, "audio.out"));
  v1::Header subscribe;
  subscribe.mutable_subscribe()->set_subscription_id(3);
  subscribe.mutable_subscribe()->set_pattern("t.>");
  subscribe.mutable_subscribe()->set_max_messages(1);
  subscribe.mutable_subscribe()->set_policy(v1::OVERFLOW_POLICY_DROP_NEWEST);
  Handle(kThird, FrameOf(wire::Kind::kSubscribe, 3, &subscribe));
  subscribe.mutable_subscribe()->set_subscription_id(4);
  Handle(kThird, FrameOf(wire::Kind::kSubscribe, 4, &subscribe));
  v1::Header publish;
  publish.mutable_publish()->set_topic("t.x");
  Handle(kCaller, FrameOf(wire::Kind::kPublish, 0, &publish, "a"));
  Handle(kCaller, FrameOf(wire::Kind::kPublish, 0, &publish, "b"));
  Handle(kCaller, Call(7, "video.frames"));
  Handle(kCaller, Call(8, "video.frames"));
  outbox_.Take();
  outbox_.traffic[kCallee.id] = Traffic{5, 6, 700, 800};
  outbox_.queued[kCaller.id] = 0;
  outbox_.queued_fds[kCallee.id] = 2;

  v1::ConnectionList list;
  ASSERT_TRUE(
      BrokerCall(kListConnectionsMethod, v1::ListConnectionsRequest(), &list)
          .ok());
  ASSERT_EQ(list.connections_size(), 3);
  const v1::ConnectionInfo& caller = list.connections(0);
  EXPECT_EQ(caller.connection_id(), kCaller.id.value());
  EXPECT_EQ(caller.client_name(), "caller");
  EXPECT_EQ(caller.uid(), kCaller.uid);
  EXPECT_EQ(caller.pid(), kCaller.pid);
  EXPECT_EQ(caller.exe(), "/bin/caller");
  EXPECT_EQ(caller.transport(), "unix");
  EXPECT_EQ(caller.connected_unix_us(),
            static_cast<uint64_t>(absl::ToUnixMicros(kT0)));
  EXPECT_EQ(caller.calls_waiting(), 2u);
  EXPECT_EQ(caller.calls_serving(), 0u);
  EXPECT_EQ(caller.names_size(), 0);
  EXPECT_EQ(caller.frames_in(), 0u);

  const v1::ConnectionInfo& callee = list.connections(1);
  EXPECT_EQ(callee.connection_id(), kCallee.id.value());
  EXPECT_EQ(callee.frames_in(), 5u);
  EXPECT_EQ(callee.frames_out(), 6u);
  EXPECT_EQ(callee.bytes_in(), 700u);
  EXPECT_EQ(callee.bytes_out(), 800u);
  EXPECT_EQ(callee.queued_fds(), 2u);
  EXPECT_EQ(callee.calls_waiting(), 0u);
  EXPECT_EQ(callee.calls_serving(), 2u);
  EXPECT_EQ(
      std::vector<std::string>(callee.names().begin(), callee.names().end()),
      (std::vector<std::string>{"audio.out", "video.frames"}));

  const v1::ConnectionInfo& third = list.connections(2);
  EXPECT_EQ(third.transport(), "tcp");
  EXPECT_EQ(third.exe(), "");
  EXPECT_EQ(third.connected_unix_us(),
            static_cast<uint64_t>(absl::ToUnixMicros(kT0 + absl::Seconds(1))));
  EXPECT_EQ(third.subscriptions(), 2u);
  EXPECT_EQ(third.messages_dropped(), 2u);  // one per subscription
  // Two messages of one byte each wait, one per subscription.
  EXPECT_EQ(third.queued_bytes(), outbox_.QueuedBytes(kThird.id));
  EXPECT_GT(third.queued_bytes(), 0u);
}

// Every page's entries in order: owned names, then activatable ones.
std::vector<std::string> Entries(const v1::NameList& page) {
  std::vector<std::string> entries;
  for (const v1::NameInfo& name : page.names()) {
    entries.push_back(absl::StrCat("owned ", name.name()));
  }
  for (const v1::ActivatableName& name : page.activatable()) {
    entries.push_back(absl::StrCat("activatable ", name.name()));
  }
  return entries;
}

TEST_F(BrokerServiceTest, ListNamesPagesCoverEveryNameOnceInOrder) {
  OpenSessions();
  RegisterMany(0, 23);
  std::vector<ActivatableService> services(3);
  services[0].name = "act.b";
  services[1].name = "act.a";
  services[2].name = "svc.4";  // owned too
  for (ActivatableService& service : services) service.command = {"/bin/x"};
  router_.SetActivatableServices(services);

  std::vector<std::string> expected;
  for (const std::string& name : router_.names().Names()) {
    expected.push_back(absl::StrCat("owned ", name));
  }
  for (const char* name : {"act.a", "act.b", "svc.4"}) {
    expected.push_back(absl::StrCat("activatable ", name));
  }
  ASSERT_EQ(expected.size(), 26u);

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    absl::StatusOr<v1::NameList> page = NamesPage(4, token);
    ASSERT_TRUE(page.ok()) << page.status();
    const std::vector<std::string> entries = Entries(*page);
    EXPECT_GE(entries.size(), 1u);
    EXPECT_LE(entries.size(), 4u);
    seen.insert(seen.end(), entries.begin(), entries.end());
    token = page->next_page_token();
    ASSERT_LT(++pages, 100) << "the pages never end";
  } while (!token.empty());
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(pages, 7);  // 26 entries, 4 a page

  // The whole listing fits the default page.
  const v1::NameList all = ListNames();
  EXPECT_EQ(Entries(all), expected);
  EXPECT_EQ(all.next_page_token(), "");
}

TEST_F(BrokerServiceTest, ListNamesPagesFollowChangesBetweenPages) {
  OpenSessions();
  RegisterMany(10, 10);  // svc.10 ... svc.19
  absl::StatusOr<v1::NameList> first = NamesPage(4, "");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(Entries(*first),
            (std::vector<std::string>{"owned svc.10", "owned svc.11",
                                      "owned svc.12", "owned svc.13"}));
  ASSERT_NE(first->next_page_token(), "");

  // Between pages: the last name listed goes, a name not yet listed goes,
  // one comes before the page boundary and two after it.
  Handle(kCallee, Release(2, "svc.13"));  // 13 % 3 == 1: kCallee's
  Handle(kCaller, Release(3, "svc.15"));  // kCaller owns svc.15
  Handle(kThird, Register(4, "svc.1"));
  Handle(kThird, Register(5, "svc.17a"));
  Handle(kThird, Register(6, "svc.99"));
  outbox_.Take();

  std::vector<std::string> seen = Entries(*first);
  std::string token = first->next_page_token();
  while (!token.empty()) {
    absl::StatusOr<v1::NameList> page = NamesPage(4, token);
    ASSERT_TRUE(page.ok()) << page.status();
    const std::vector<std::string> entries = Entries(*page);
    seen.insert(seen.end(), entries.begin(), entries.end());
    token = page->next_page_token();
  }
  // Each name there throughout exactly once, in order; the one gone before
  // its page is not listed, the ones that came after the boundary are.
  EXPECT_EQ(seen,
            (std::vector<std::string>{
                "owned svc.10", "owned svc.11", "owned svc.12", "owned svc.13",
                "owned svc.14", "owned svc.16", "owned svc.17", "owned svc.17a",
                "owned svc.18", "owned svc.19", "owned svc.99"}));
}

TEST_F(BrokerServiceTest, ListNamesPageSizesAreLoweredToTheMaximum) {
  OpenSessions();
  const size_t count = BrokerService::kMaxPageSize + 7;
  RegisterMany(0, static_cast<int>(count));
  ASSERT_EQ(router_.names().name_count(), count);

  absl::StatusOr<v1::NameList> page = NamesPage(0, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(static_cast<size_t>(page->names_size()),
            BrokerService::kDefaultPageSize);
  EXPECT_NE(page->next_page_token(), "");

  page = NamesPage(std::numeric_limits<uint32_t>::max(), "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(static_cast<size_t>(page->names_size()),
            BrokerService::kMaxPageSize);
  // The rest on the next page, which is the last.
  page =
      NamesPage(std::numeric_limits<uint32_t>::max(), page->next_page_token());
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->names_size(), 7);
  EXPECT_EQ(page->next_page_token(), "");
}

TEST_F(BrokerServiceTest, APageOfNamesLooksAtThePageNotTheTable) {
  OpenSessions();
  RegisterMany(0, 3000);
  absl::StatusOr<v1::NameList> page = NamesPage(3, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->names_size(), 3);
  // The three listed and the one that shows the page is not the last.
  EXPECT_EQ(router_.broker_service().entries_visited_for_test(), 4u);
  page = NamesPage(3, page->next_page_token());
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(router_.broker_service().entries_visited_for_test(), 4u);
}

TEST_F(BrokerServiceTest, APageTokenTheBrokerDidNotMakeIsRefused) {
  OpenSessions();
  RegisterMany(0, 3);
  for (const char* token :
       {"svc.1", "owned:bad..name", "activatable:/x", "3", "\xff"}) {
    const absl::Status status = NamesPage(0, token).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_NE(status.message().find("page_token"), absl::string_view::npos)
        << status;
  }
  for (const char* token : {"owned:svc.1", "x", "-1", "1.5"}) {
    const absl::Status status = ConnectionsPage(0, token).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_NE(status.message().find("not one ListConnections gave"),
              absl::string_view::npos)
        << status;
  }
  // A name that went since its page is no obstacle: the next page starts
  // after it.
  absl::StatusOr<v1::NameList> page = NamesPage(0, "owned:svc.0a");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Entries(*page),
            (std::vector<std::string>{"owned svc.1", "owned svc.2"}));
}

TEST_F(BrokerServiceTest, ListConnectionsPagesCoverEveryConnectionOnce) {
  for (uint64_t id = 1; id <= 11; ++id) {
    router_.OnSessionOpened(
        SessionInfo{
            Peer{SessionId(id * 10), 1000, 1}, "c", "unix", "", kT0, {}},
        kT0);
  }
  absl::StatusOr<v1::ConnectionList> page = ConnectionsPage(4, "");
  ASSERT_TRUE(page.ok()) << page.status();
  std::vector<uint64_t> seen;
  for (const auto& c : page->connections()) seen.push_back(c.connection_id());
  EXPECT_EQ(seen, (std::vector<uint64_t>{10, 20, 30, 40}));

  // One listed and one not yet listed go, one comes.
  router_.ForgetSession(SessionId(40), "closed");
  router_.ForgetSession(SessionId(70), "closed");
  router_.OnSessionOpened(
      SessionInfo{Peer{SessionId(200), 1000, 1}, "c", "unix", "", kT0, {}},
      kT0);
  outbox_.Take();
  std::string token = page->next_page_token();
  int pages = 1;
  while (!token.empty()) {
    page = ConnectionsPage(4, token);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->connections_size(), 4);
    for (const auto& c : page->connections()) seen.push_back(c.connection_id());
    token = page->next_page_token();
    ++pages;
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{10, 20, 30, 40, 50, 60, 80, 90, 100,
                                         110, 200}));
  EXPECT_EQ(pages, 3);
}

TEST_F(BrokerServiceTest, APageOfConnectionsLooksAtThePageNotTheTable) {
  for (uint64_t id = 1; id <= 3000; ++id) {
    router_.OnSessionOpened(
        SessionInfo{Peer{SessionId(id), 1000, 1}, "c", "unix", "", kT0, {}},
        kT0);
  }
  outbox_.Take();
  absl::StatusOr<v1::ConnectionList> page = ConnectionsPage(3, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->connections_size(), 3);
  // The three listed and the one that shows the page is not the last.
  EXPECT_EQ(router_.broker_service().entries_visited_for_test(), 4u);
  page = ConnectionsPage(3, page->next_page_token());
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->connections(0).connection_id(), 4u);
  EXPECT_EQ(router_.broker_service().entries_visited_for_test(), 4u);
}

TEST_F(BrokerServiceTest, APageEndsEarlyOnceItsReplyIsLarge) {
  OpenSessions();
  // Each connection owns names that take more than half the page's bytes.
  const std::string stem(200, 'n');
  const size_t per_connection = BrokerService::kMaxPageBytes / 2 / 200 + 1;
  uint64_t request = 1;
  for (const Peer* owner : {&kCaller, &kCallee, &kThird}) {
    for (size_t i = 0; i < per_connection; ++i) {
      const std::string name = absl::StrCat(stem, ".", request);
      Handle(*owner, Register(request++, name));
    }
  }
  outbox_.Take();
  std::vector<int> page_sizes;
  size_t largest = 0;
  std::string token;
  do {
    absl::StatusOr<v1::ConnectionList> page = ConnectionsPage(0, token);
    ASSERT_TRUE(page.ok()) << page.status();
    page_sizes.push_back(page->connections_size());
    for (const auto& c : page->connections()) {
      ASSERT_EQ(static_cast<size_t>(c.names_size()), per_connection);
      largest = std::max(largest, c.ByteSizeLong());
    }
    EXPECT_LT(page->ByteSizeLong(), BrokerService::kMaxPageBytes + largest);
    token = page->next_page_token();
  } while (!token.empty());
  // Two connections pass the budget; the third waits for the next page.
  EXPECT_EQ(page_sizes, (std::vector<int>{2, 1}));
}

TEST_F(BrokerServiceTest, DescribeANameOrAType) {
  OpenSessions();
  Handle(kCallee, RegisterWith(1, "video.frames", VideoSchema()));
  Handle(kThird, RegisterWith(1, "audio", OneMethod("Raw")));
  outbox_.Take();

  absl::StatusOr<v1::Description> video = Describe("video.frames", "");
  ASSERT_TRUE(video.ok()) << video.status();
  EXPECT_EQ(video->name(), "video.frames");
  EXPECT_EQ(video->owner(), kCallee.id.value());
  ASSERT_EQ(video->methods_size(), 1);
  EXPECT_EQ(video->methods(0).request_type(), "switchboard.v1.MonitorRequest");
  EXPECT_EQ(FileNames(video->files()), FileNames(BrokerFiles()));

  absl::StatusOr<v1::Description> audio = Describe("audio", "");
  ASSERT_TRUE(audio.ok()) << audio.status();
  ASSERT_EQ(audio->methods_size(), 1);
  EXPECT_EQ(audio->files().file_size(), 0);

  absl::StatusOr<v1::Description> type =
      Describe("", "switchboard.v1.MonitorEvent.Kind");
  ASSERT_TRUE(type.ok()) << type.status();
  EXPECT_EQ(type->name(), "");
  EXPECT_EQ(FileNames(type->files()), FileNames(BrokerFiles()));

  EXPECT_EQ(Describe("nobody.home", "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Describe("", "no.such.Type").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Describe("", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Describe("audio", "switchboard.v1.MonitorEvent").status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status broker = Describe(kBrokerService, "").status();
  EXPECT_EQ(broker.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(broker.message().find("broker.proto"), absl::string_view::npos);
  EXPECT_EQ(BrokerCall(kDescribeMethod, v1::GetStatusRequest(), nullptr).code(),
            absl::StatusCode::kInvalidArgument);  // neither set

  // The owner gone, its name and types are no longer described.
  router_.ForgetSession(kCallee.id);
  outbox_.Take();
  EXPECT_EQ(Describe("video.frames", "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Describe("", "switchboard.v1.MonitorEvent").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(BrokerServiceTest, RegisterTypesKeepsFilesForDescribe) {
  OpenSessions();
  v1::RegisterTypesRequest request;
  *request.mutable_files() = BrokerFiles();
  v1::RegisterTypesResult result;
  ASSERT_TRUE(BrokerCall(kRegisterTypesMethod, request, &result, kThird).ok());
  absl::StatusOr<v1::Description> type =
      Describe("", "switchboard.v1.BrokerStatus");
  ASSERT_TRUE(type.ok()) << type.status();
  EXPECT_EQ(FileNames(type->files()), FileNames(BrokerFiles()));
  EXPECT_GT(router_.schemas().BytesOf(kThird.id), 0u);

  v1::RegisterTypesRequest broken = request;
  broken.mutable_files()->mutable_file()->DeleteSubrange(0, 1);
  EXPECT_EQ(BrokerCall(kRegisterTypesMethod, broken, nullptr, kCaller).code(),
            absl::StatusCode::kInvalidArgument);
  Handle(kCaller, Call(9, kBrokerService, "\xff\xff", 0, kRegisterTypesMethod));
  ExpectAnswer(kCaller.id, 9, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router_.schemas().BytesOf(kCaller.id), 0u);

  router_.ForgetSession(kThird.id);
  outbox_.Take();
  EXPECT_EQ(Describe("", "switchboard.v1.BrokerStatus").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(BrokerServiceTest, NobodyMayClaimTheBrokersName) {
  Handle(kCallee, Register(1, kBrokerService));
  ExpectAnswer(kCallee.id, 1, absl::StatusCode::kInvalidArgument);
  // The broker still answers.
  EXPECT_EQ(GetStatus(kCaller, kT0).version(), "9.8.7");
}

TEST_F(BrokerServiceTest, AStatusThatDoesNotFitTheCallersQueueIsRefused) {
  outbox_.queued[kCaller.id] = 999;
  Handle(kCaller, StatusCall(5));
  ExpectAnswer(kCaller.id, 5, absl::StatusCode::kResourceExhausted);
}

TEST_F(BrokerServiceTest, AStatusIsAnsweredEvenWhenTheCallersUidIsAtItsQuota) {
  // So that `switchboard status` can show a uid at its quota why.
  outbox_.uid_room[kCaller.id] = absl::ResourceExhaustedError("uid quota");
  Handle(kCaller, StatusCall(5));
  ExpectAnswer(kCaller.id, 5, absl::StatusCode::kOk);
  EXPECT_EQ(router_.stats().replies_over_quota, 0u);
}

// Per-uid quotas: schema bytes are charged to the sender's uid. The quota
// holds one copy of the broker's files and half another.
size_t BrokerFilesBytes() {
  SchemaRegistry registry;
  EXPECT_TRUE(registry.AddTypes(SessionId(1), BrokerFiles()).ok());
  return registry.BytesOf(SessionId(1));
}

class BrokerServiceQuotaTest : public BrokerServiceTest {
 protected:
  BrokerServiceQuotaTest()
      : BrokerServiceTest(QuotaConfig(BrokerFilesBytes() * 3 / 2)) {}
};

TEST_F(BrokerServiceQuotaTest, SchemaBytesAreCountedOverAllOfAUidsConnections) {
  const size_t bytes = BrokerFilesBytes();
  ASSERT_GT(bytes, 0u);
  v1::RegisterTypesRequest request;
  *request.mutable_files() = BrokerFiles();
  ASSERT_TRUE(BrokerCall(kRegisterTypesMethod, request, nullptr, kCaller).ok());
  EXPECT_EQ(Held(1000, Quota::kSchemaBytes), bytes);
  // Each connection keeps its own copy, so the second one is refused.
  const absl::Status refused =
      BrokerCall(kRegisterTypesMethod, request, nullptr, kCallerTwin);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.message(),
            absl::StrCat("uid 1000's schemas take ", bytes, " bytes; ", bytes,
                         " more would pass its limit of ", bytes * 3 / 2,
                         " bytes (--max-schema-bytes-per-uid)"));
  EXPECT_EQ(router_.schemas().BytesOf(kCallerTwin.id), 0u);
  // Another uid is not touched.
  EXPECT_TRUE(BrokerCall(kRegisterTypesMethod, request, nullptr, kThird).ok());
  // The first connection gone, the second fits.
  router_.ForgetSession(kCaller.id, "test");
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kSchemaBytes), 0u);
  EXPECT_TRUE(
      BrokerCall(kRegisterTypesMethod, request, nullptr, kCallerTwin).ok());
}

TEST_F(BrokerServiceQuotaTest, StatusListsEachUidsShare) {
  Handle(kCallee, Register(1, "video.frames"));
  outbox_.Take();
  const v1::BrokerStatus status = GetStatus(kCaller, kT0);
  const v1::ResourceUse& use = status.resources();
  EXPECT_EQ(use.max_names_per_uid(), 2u);
  EXPECT_EQ(use.max_subscriptions_per_uid(), 3u);
  EXPECT_EQ(use.max_pending_calls_per_uid(), 2u);
  EXPECT_EQ(use.max_schema_bytes_per_uid(), BrokerFilesBytes() * 3 / 2);
  ASSERT_EQ(use.uids_size(), 2);  // the callee's and the caller's uids
  EXPECT_EQ(use.uids(0).uid(), 1000u);
  EXPECT_EQ(use.uids(0).names(), 0u);
  EXPECT_EQ(use.uids(1).uid(), 1001u);
  EXPECT_EQ(use.uids(1).names(), 1u);
}

}  // namespace
}  // namespace switchboard::core
