// SPDX-License-Identifier: MIT
//
// The `switchboard` tool's view of the bus: status, list, connections and
// describe, printed for people (tables, .proto text) and as JSON, which the
// tests parse into the documented messages (docs/CLI.md). Also the exit
// codes of usage errors, unknown names and types, and a missing broker.
// The real switchboardd runs with switchboard_test_echo and video-server.
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/peer_identity.h"
#include "switchboard/message.h"
#include "switchboard/service.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/child_process.h"
#include "tests/testing/cli_process.h"
#include "tests/testing/cli_test_base.h"
#include "tests/testing/clients.h"
#include "tests/testing/json_output.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"
#include "wire/frame.h"
#include "wire/prefix.h"

namespace switchboard::testing {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::IsSupersetOf;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kEchoFile[] = "switchboard/testing/schema_echo.proto";
constexpr char kVideoFile[] = "video.proto";

class CliIntrospectionTest : public CliTestBase {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CliTestBase::SetUp());
    ASSERT_NO_FATAL_FAILURE(StartEcho());
    ASSERT_NO_FATAL_FAILURE(StartVideoServer());
  }
};

// The whitespace-separated cells of the table row whose first cell is
// `first`, or an empty vector if no row starts with it.
std::vector<std::string> RowStartingWith(absl::string_view table,
                                         absl::string_view first) {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<std::string> cells =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (!cells.empty() && cells[0] == first) return cells;
  }
  return {};
}

// The row of a table with one-word headers whose first cell is `first`, as
// header -> cell; empty if there is no such row or its cells do not match
// the headers one to one.
std::map<std::string, std::string> CellsByHeader(absl::string_view table,
                                                 absl::string_view first) {
  const std::vector<std::string> headers =
      absl::StrSplit(table.substr(0, table.find('\n')), ' ', absl::SkipEmpty());
  const std::vector<std::string> cells = RowStartingWith(table, first);
  std::map<std::string, std::string> row;
  if (cells.size() != headers.size()) return row;
  for (size_t i = 0; i < cells.size(); ++i) row[headers[i]] = cells[i];
  return row;
}

// The cells of the row that contains the cell `cell`.
std::vector<std::string> RowContaining(absl::string_view table,
                                       absl::string_view cell) {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<std::string> cells =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (absl::c_linear_search(cells, cell)) return cells;
  }
  return {};
}

// Whether the first line of `table` holds every header of `headers`, in
// that order.
bool HasHeaderRow(absl::string_view table,
                  const std::vector<std::string>& headers) {
  const absl::string_view first = table.substr(0, table.find('\n'));
  size_t at = 0;
  for (const std::string& header : headers) {
    at = first.find(header, at);
    if (at == absl::string_view::npos) return false;
    at += header.size();
  }
  return true;
}

// Whether the JSON object `json` has every key of `keys` at its top level:
// the tool prints .proto field names and every field, defaults included.
void ExpectKeys(absl::string_view json, const std::vector<std::string>& keys) {
  absl::StatusOr<google::protobuf::Struct> object = ParseJsonObject(json);
  ASSERT_THAT(object, IsOk());
  for (const std::string& key : keys) {
    EXPECT_TRUE(object->fields().contains(key))
        << "no \"" << key << "\" in " << json;
  }
}

// Writes `contents` to a new file at `path`.
bool WriteFile(const std::string& path, absl::string_view contents) {
  std::ofstream out(path);
  out << contents;
  return static_cast<bool>(out);
}

const v1::NameInfo* FindName(const v1::NameList& list, absl::string_view name) {
  for (const v1::NameInfo& info : list.names()) {
    if (info.name() == name) return &info;
  }
  return nullptr;
}

const v1::MethodSchema* FindMethod(
    const google::protobuf::RepeatedPtrField<v1::MethodSchema>& methods,
    absl::string_view name) {
  for (const v1::MethodSchema& method : methods) {
    if (method.name() == name) return &method;
  }
  return nullptr;
}

std::vector<std::string> FileNames(const v1::Description& description) {
  std::vector<std::string> names;
  for (const auto& file : description.files().file()) {
    names.push_back(file.name());
  }
  return names;
}

TEST_F(CliIntrospectionTest, StatusPrintsTheBrokersFigures) {
  absl::StatusOr<v1::BrokerStatus> expected = GetBrokerStatus(*client_);
  ASSERT_THAT(expected, IsOk());

  const CliResult human = Run({"status"});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_THAT(human.stdout_text, HasSubstr(expected->version()));
  EXPECT_THAT(human.stdout_text, HasSubstr(broker_.unix_address()));
  EXPECT_THAT(human.stdout_text, HasSubstr(absl::StrCat(broker_.pid())));
  EXPECT_THAT(human.stderr_text, IsEmpty());

  const CliResult json = Run({"status", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<v1::BrokerStatus> status =
      ParseJson<v1::BrokerStatus>(json.stdout_text);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(status->version(), expected->version());
  EXPECT_EQ(status->pid(), static_cast<uint32_t>(broker_.pid()));
  EXPECT_THAT(status->addresses(), Contains(broker_.unix_address()));
  // The services, this test's client and the tool itself.
  EXPECT_GE(status->connections(), 4u);
  EXPECT_GE(status->names(), 2u);
  EXPECT_GT(status->frames_in(), expected->frames_in());
  EXPECT_GT(status->uptime_us(), 0u);
  ExpectKeys(json.stdout_text,
             {"uptime_us", "frames_in_per_s", "buffers_refused",
              "protocol_errors", "messages_dropped"});
}

TEST_F(CliIntrospectionTest, StatusShowsUsageAgainstTheLimits) {
  absl::StatusOr<v1::BrokerStatus> expected = GetBrokerStatus(*client_);
  ASSERT_THAT(expected, IsOk());
  const v1::ResourceUse& limits = expected->resources();
  ASSERT_GT(limits.max_connections(), 0u);
  const CliResult human = Run({"status"});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_THAT(human.stdout_text, HasSubstr(" descriptors")) << human;
  EXPECT_THAT(human.stdout_text, HasSubstr(" per receiver)")) << human;
  EXPECT_THAT(human.stdout_text,
              HasSubstr(absl::StrCat("uid ", ::getuid(), ": ")))
      << human;
  EXPECT_THAT(human.stdout_text, HasSubstr("closed before HELLO")) << human;
  EXPECT_THAT(human.stdout_text, HasSubstr(" names, ")) << human;
  EXPECT_THAT(human.stdout_text, HasSubstr(" schemas")) << human;

  const CliResult json = Run({"status", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<v1::BrokerStatus> status =
      ParseJson<v1::BrokerStatus>(json.stdout_text);
  ASSERT_THAT(status, IsOk());
  const v1::ResourceUse& resources = status->resources();
  EXPECT_EQ(resources.max_connections(), limits.max_connections());
  EXPECT_EQ(resources.max_fds_in_flight_per_receiver(),
            limits.max_fds_in_flight_per_receiver());
  EXPECT_GT(resources.resident_bytes(), 0u);
  // The services, this test's client and the tool itself, all this uid's.
  ASSERT_EQ(resources.uids_size(), 1) << json;
  EXPECT_EQ(resources.uids(0).uid(), ::getuid());
  EXPECT_GE(resources.uids(0).connections(), 4u);
  // The services' names and schemas, charged to their uid, and the quotas.
  EXPECT_GE(resources.uids(0).names(), 2u);
  EXPECT_GT(resources.uids(0).schema_bytes(), 0u);
  EXPECT_EQ(resources.max_names_per_uid(), limits.max_names_per_uid());
  EXPECT_GT(resources.max_names_per_uid(), 0u);
}

TEST_F(CliIntrospectionTest, StatusListsTheSubscriptions) {
  absl::StatusOr<Subscription> subscription =
      client_->Subscribe("test.status.>", [](const Message&) {});
  ASSERT_THAT(subscription, IsOk());
  const CliResult human = Run({"status"});
  ASSERT_EQ(human.exit_code, 0) << human;
  const size_t table = human.stdout_text.find("CONNECTION");
  ASSERT_NE(table, std::string::npos) << human;
  const absl::string_view subscriptions =
      absl::string_view(human.stdout_text).substr(table);
  EXPECT_TRUE(
      HasHeaderRow(subscriptions, {"CONNECTION", "SUB", "PATTERN", "POLICY",
                                   "QUEUED", "LIMIT", "DELIVERED", "DROPPED"}))
      << human;
  EXPECT_THAT(RowContaining(subscriptions, "test.status.>"),
              Contains("drop_oldest"))
      << human;

  const CliResult json = Run({"status", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<v1::BrokerStatus> status =
      ParseJson<v1::BrokerStatus>(json.stdout_text);
  ASSERT_THAT(status, IsOk());
  ASSERT_EQ(status->subscriptions_size(), 1) << json;
  EXPECT_EQ(status->subscriptions(0).pattern(), "test.status.>");
  EXPECT_EQ(status->subscriptions(0).connection_id(), client_->connection_id());
}

TEST_F(CliIntrospectionTest, TheAddressMayComeFromTheEnvironment) {
  absl::StatusOr<ProgramResult> result =
      RunProgram({"/usr/bin/env",
                  absl::StrCat("SWITCHBOARD_ADDRESS=", broker_.unix_address()),
                  SwitchboardCliPath(), "status", "--json"},
                 kCliTimeout);
  ASSERT_THAT(result, IsOk());
  ASSERT_EQ(result->exit_code, 0) << result->stderr_text;
  absl::StatusOr<v1::BrokerStatus> status =
      ParseJson<v1::BrokerStatus>(result->stdout_text);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(status->pid(), static_cast<uint32_t>(broker_.pid()));
}

TEST_F(CliIntrospectionTest, ListShowsEveryNameWithItsOwner) {
  const uint64_t echo_id = EchoConnectionId();
  const uint64_t video_id = VideoConnectionId();

  const CliResult human = Run({"list"});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_TRUE(HasHeaderRow(human.stdout_text, {"NAME", "OWNER", "CLIENT", "PID",
                                               "UID", "METHODS", "EXE"}))
      << human;
  using Row = std::map<std::string, std::string>;
  Row echo_row = CellsByHeader(human.stdout_text, "test.echo");
  const Row echo_cells = {{"NAME", "test.echo"},
                          {"OWNER", absl::StrCat(":", echo_id)},
                          {"CLIENT", "switchboard_test_echo"},
                          {"PID", absl::StrCat(echo_->pid())},
                          {"UID", "0"},
                          {"METHODS", "6"}};
  EXPECT_THAT(echo_row, IsSupersetOf(echo_cells)) << human;
  EXPECT_THAT(echo_row["EXE"], EndsWith("/switchboard_test_echo"));
  const Row video_cells = {{"NAME", "video.frames"},
                           {"OWNER", absl::StrCat(":", video_id)},
                           {"CLIENT", "video-server"},
                           {"PID", absl::StrCat(video_->pid())},
                           {"METHODS", "3"}};
  EXPECT_THAT(CellsByHeader(human.stdout_text, "video.frames"),
              IsSupersetOf(video_cells))
      << human;

  const CliResult json = Run({"list", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<v1::NameList> list = ParseJson<v1::NameList>(json.stdout_text);
  ASSERT_THAT(list, IsOk());
  std::vector<std::string> names;
  for (const v1::NameInfo& info : list->names()) names.push_back(info.name());
  EXPECT_TRUE(absl::c_is_sorted(names)) << json;
  const v1::NameInfo* echo = FindName(*list, "test.echo");
  ASSERT_NE(echo, nullptr) << json;
  EXPECT_EQ(echo->owner(), echo_id);
  EXPECT_EQ(echo->owner_name(), "switchboard_test_echo");
  EXPECT_EQ(echo->pid(), static_cast<uint32_t>(echo_->pid()));
  EXPECT_THAT(echo->exe(), EndsWith("/switchboard_test_echo"));
  EXPECT_EQ(echo->methods_size(), 6);
  const v1::MethodSchema* count = FindMethod(echo->methods(), "Count");
  ASSERT_NE(count, nullptr) << json;
  EXPECT_EQ(count->request_type(), "switchboard.testing.CountRequest");
  EXPECT_EQ(count->response_type(), "switchboard.testing.Tick");
  EXPECT_TRUE(count->streaming());
  const v1::MethodSchema* raw = FindMethod(echo->methods(), "Raw");
  ASSERT_NE(raw, nullptr) << json;
  EXPECT_THAT(raw->request_type(), IsEmpty());
  const v1::NameInfo* video = FindName(*list, "video.frames");
  ASSERT_NE(video, nullptr) << json;
  EXPECT_EQ(video->owner(), video_id);
  const v1::MethodSchema* get_frame = FindMethod(video->methods(), "GetFrame");
  ASSERT_NE(get_frame, nullptr) << json;
  EXPECT_EQ(get_frame->request_type(),
            "switchboard.examples.video.GetFrameRequest");
  EXPECT_EQ(get_frame->response_type(), "switchboard.examples.video.Frame");
  // Every NameInfo prints all its fields, defaults included.
  EXPECT_THAT(json.stdout_text, HasSubstr("\"owner_name\""));
  EXPECT_THAT(json.stdout_text, HasSubstr("\"queued\""));
}

TEST_F(CliIntrospectionTest, ConnectionsShowsEveryConnection) {
  const uint64_t echo_id = EchoConnectionId();

  const CliResult human = Run({"connections"});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_TRUE(HasHeaderRow(
      human.stdout_text,
      {"ID", "CLIENT", "PID", "UID", "TRANSPORT", "UNIT", "FRAMES IN",
       "FRAMES OUT", "BYTES IN", "BYTES OUT", "QUEUED", "SUBS", "NAMES"}))
      << human;
  const std::vector<std::string> echo_row =
      RowContaining(human.stdout_text, "switchboard_test_echo");
  ASSERT_GE(echo_row.size(), 5u) << human;
  EXPECT_THAT(echo_row[0],
              AnyOf(absl::StrCat(echo_id), absl::StrCat(":", echo_id)));
  EXPECT_EQ(echo_row[1], "switchboard_test_echo");
  EXPECT_EQ(echo_row[2], absl::StrCat(echo_->pid()));
  EXPECT_EQ(echo_row[3], "0");
  EXPECT_EQ(echo_row[4], "unix");
  // The echo service's systemd unit, as its cgroup says ("-" if none).
  std::ifstream cgroup(absl::StrCat("/proc/", echo_->pid(), "/cgroup"));
  const std::string unit = io::UnitFromCgroup(
      std::string(std::istreambuf_iterator<char>(cgroup), {}));
  EXPECT_EQ(echo_row[5], unit.empty() ? "-" : unit);
  EXPECT_EQ(echo_row.back(), "test.echo");
  EXPECT_THAT(RowContaining(human.stdout_text, "cli-test"), Not(IsEmpty()))
      << human;

  const CliResult json = Run({"connections", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<v1::ConnectionList> list =
      ParseJson<v1::ConnectionList>(json.stdout_text);
  ASSERT_THAT(list, IsOk());
  const v1::ConnectionInfo* echo = nullptr;
  for (const v1::ConnectionInfo& connection : list->connections()) {
    if (connection.connection_id() == echo_id) echo = &connection;
  }
  ASSERT_NE(echo, nullptr) << json;
  EXPECT_EQ(echo->client_name(), "switchboard_test_echo");
  EXPECT_EQ(echo->pid(), static_cast<uint32_t>(echo_->pid()));
  EXPECT_EQ(echo->transport(), "unix");
  EXPECT_THAT(echo->exe(), EndsWith("/switchboard_test_echo"));
  EXPECT_EQ(echo->identity().pid(), static_cast<uint32_t>(echo_->pid()));
  EXPECT_EQ(echo->identity().exe(), echo->exe());
  EXPECT_EQ(echo->identity().unit(), unit);
  EXPECT_EQ(echo->identity().pid_start_time(),
            io::ProcessStartTime(static_cast<uint32_t>(echo_->pid())));
  EXPECT_TRUE(echo->identity().process_verified());
  EXPECT_THAT(echo->names(), ElementsAre("test.echo"));
  EXPECT_GT(echo->frames_in(), 0u);
  EXPECT_GT(echo->connected_unix_us(), 0u);
  EXPECT_THAT(json.stdout_text, HasSubstr("\"queued_fds\""));
  EXPECT_THAT(json.stdout_text, HasSubstr("\"calls_serving\""));
}

// The broker answers ListNames and ListConnections a page at a time; the
// tool follows next_page_token until the end, so it shows every name of
// thousands held by several connections, each once, in order.
TEST_F(CliIntrospectionTest, ListAndConnectionsShowEveryPage) {
  constexpr int kOwners = 6;
  constexpr int kNamesEach = 500;
  std::vector<std::unique_ptr<Client>> owners;
  std::set<std::string> expected = {"test.echo", "video.frames"};
  for (int owner = 0; owner < kOwners; ++owner) {
    owners.push_back(ConnectOrDie(broker_, absl::StrCat("owner-", owner)));
    for (int i = 0; i < kNamesEach; ++i) {
      const std::string name = absl::StrCat("paged.", i, ".", owner);
      ASSERT_THAT(owners.back()->Serve(Service(name)), IsOk()) << name;
      expected.insert(name);
    }
  }

  // One page is not all of it: a client that knows nothing of pages sees
  // only the first and a token it ignores.
  absl::StatusOr<v1::NameList> first = client_->Call<v1::NameList>(
      "switchboard.Broker", "ListNames", v1::ListNamesRequest(), kWaitTimeout);
  ASSERT_THAT(first, IsOk());
  EXPECT_LT(static_cast<size_t>(first->names_size()), expected.size());
  EXPECT_FALSE(first->next_page_token().empty());

  const CliResult json = Run({"list", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.stderr_text;
  absl::StatusOr<v1::NameList> list = ParseJson<v1::NameList>(json.stdout_text);
  ASSERT_THAT(list, IsOk());
  std::vector<std::string> names;
  for (const v1::NameInfo& info : list->names()) names.push_back(info.name());
  EXPECT_EQ(names, std::vector<std::string>(expected.begin(), expected.end()));
  EXPECT_TRUE(list->next_page_token().empty());

  const CliResult human = Run({"list"});
  ASSERT_EQ(human.exit_code, 0) << human.stderr_text;
  size_t rows = 0;
  for (absl::string_view line : absl::StrSplit(human.stdout_text, '\n')) {
    if (absl::StartsWith(line, "paged.")) ++rows;
  }
  EXPECT_EQ(rows, static_cast<size_t>(kOwners * kNamesEach));

  const CliResult connections = Run({"connections", "--json"});
  ASSERT_EQ(connections.exit_code, 0) << connections.stderr_text;
  absl::StatusOr<v1::ConnectionList> described =
      ParseJson<v1::ConnectionList>(connections.stdout_text);
  ASSERT_THAT(described, IsOk());
  std::map<uint64_t, int> names_of;
  for (const v1::ConnectionInfo& connection : described->connections()) {
    names_of[connection.connection_id()] = connection.names_size();
  }
  for (const std::unique_ptr<Client>& owner : owners) {
    EXPECT_EQ(names_of[owner->connection_id()], kNamesEach);
  }
}

TEST_F(CliIntrospectionTest, DescribeANameShowsItsMethodsAndTheirTypes) {
  const CliResult human = Run({"describe", "test.echo"});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_THAT(human.stdout_text,
              StartsWith(absl::StrCat("test.echo (owner :", EchoConnectionId(),
                                      ")\n")));
  EXPECT_THAT(human.stdout_text,
              HasSubstr(absl::StrCat("// switchboard.testing.AllKinds (",
                                     kEchoFile, ")")));
  EXPECT_THAT(
      human.stdout_text,
      AllOf(HasSubstr("rpc Echo(switchboard.testing.AllKinds) returns "
                      "(switchboard.testing.AllKinds)"),
            HasSubstr("rpc Count(switchboard.testing.CountRequest) returns "
                      "(stream switchboard.testing.Tick)"),
            HasSubstr("rpc Raw(bytes) returns (bytes)"),
            HasSubstr("message AllKinds {"), HasSubstr("message Shape {"),
            HasSubstr("message Label {"), HasSubstr("enum Color {"),
            HasSubstr("COLOR_BLUE = 3;"), HasSubstr("message Tick {")));

  const CliResult json = Run({"describe", "test.echo", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<v1::Description> description =
      ParseJson<v1::Description>(json.stdout_text);
  ASSERT_THAT(description, IsOk());
  EXPECT_EQ(description->name(), "test.echo");
  EXPECT_EQ(description->owner(), EchoConnectionId());
  EXPECT_EQ(description->methods_size(), 6);
  const v1::MethodSchema* echo = FindMethod(description->methods(), "Echo");
  ASSERT_NE(echo, nullptr) << json;
  EXPECT_EQ(echo->request_type(), "switchboard.testing.AllKinds");
  EXPECT_FALSE(echo->streaming());
  EXPECT_THAT(FileNames(*description), Contains(kEchoFile));
  // FileDescriptorSet in protobuf's JSON mapping, with .proto field names.
  EXPECT_THAT(json.stdout_text, HasSubstr("\"message_type\""));
}

TEST_F(CliIntrospectionTest, DescribeShowsTheVideoExamplesTypes) {
  const CliResult human = Run({"describe", "video.frames"});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_THAT(
      human.stdout_text,
      AllOf(HasSubstr("rpc GetFrame(switchboard.examples.video.GetFrameRequest)"
                      " returns (switchboard.examples.video.Frame)"),
            HasSubstr("rpc PlayClip(switchboard.examples.video.PlayClipRequest)"
                      " returns (stream switchboard.examples.video.ClipFrame)"),
            HasSubstr("message ClipFrame {")));
  const CliResult json = Run({"--json", "describe", "video.frames"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<v1::Description> description =
      ParseJson<v1::Description>(json.stdout_text);
  ASSERT_THAT(description, IsOk());
  EXPECT_THAT(FileNames(*description), Contains(kVideoFile));
}

TEST_F(CliIntrospectionTest, DescribeATypeShowsItsDefinition) {
  const CliResult human =
      Run({"describe", "--type=switchboard.testing.Shape.Label"});
  ASSERT_EQ(human.exit_code, 0) << human;
  // Label and Point, the type of its field `anchor`.
  EXPECT_THAT(human.stdout_text, HasSubstr("message Label {"));
  EXPECT_THAT(human.stdout_text, HasSubstr("message Point {"));

  const CliResult json =
      Run({"describe", "--type", "switchboard.testing.Point", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<v1::Description> description =
      ParseJson<v1::Description>(json.stdout_text);
  ASSERT_THAT(description, IsOk());
  EXPECT_THAT(FileNames(*description), Contains(kEchoFile));
  EXPECT_THAT(description->methods(), IsEmpty());
}

TEST_F(CliIntrospectionTest, ANameClaimedWithoutASchemaHasNoMethods) {
  // A client other than the library may claim a name with no schema.
  absl::StatusOr<RawConnection> raw = RawConnection::Connect(broker_.address());
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(raw->Handshake(""), IsOk());
  v1::Header header;
  header.mutable_register_name()->set_name("test.bare");
  ASSERT_THAT(raw->SendFrame(wire::Kind::kRegisterName, 1, header), IsOk());
  absl::StatusOr<wire::Frame> reply = raw->ReadFrame(kWaitTimeout);
  ASSERT_THAT(reply, IsOk());
  absl::StatusOr<v1::Header> reply_header = reply->ParseHeader();
  ASSERT_THAT(reply_header, IsOk());
  ASSERT_EQ(reply_header->reply().code(), 0)
      << reply_header->ShortDebugString();

  const CliResult human = Run({"describe", "test.bare"});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_THAT(human.stdout_text, HasSubstr("(no schema")) << human;
  const CliResult json = Run({"describe", "test.bare", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<v1::Description> description =
      ParseJson<v1::Description>(json.stdout_text);
  ASSERT_THAT(description, IsOk());
  EXPECT_EQ(description->name(), "test.bare");
  EXPECT_THAT(description->methods(), IsEmpty());
  const CliResult list = Run({"list"});
  ASSERT_EQ(list.exit_code, 0) << list;
  EXPECT_EQ(CellsByHeader(list.stdout_text, "test.bare")["METHODS"], "0")
      << list;
}

TEST_F(CliIntrospectionTest, DescribingWhatNobodyServesIsNotFound) {
  const CliResult name = Run({"describe", "test.nobody"});
  EXPECT_EQ(name.exit_code, 4) << name;
  EXPECT_THAT(name.stderr_text, StartsWith(ErrorPrefix("NOT_FOUND"))) << name;
  EXPECT_THAT(name.stdout_text, IsEmpty());

  const CliResult type = Run({"describe", "--type=switchboard.testing.Nope"});
  EXPECT_EQ(type.exit_code, 4) << type;
  EXPECT_THAT(type.stderr_text, StartsWith(ErrorPrefix("NOT_FOUND"))) << type;
}

TEST_F(CliIntrospectionTest, UsageErrorsExitTwo) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"frobnicate"},
           {"status", "--no-such-flag"},
           {"call", "test.echo"},
           {"describe"},
           {"wait"},
           {"list", "extra"},
           {"describe", "test.echo", "--type=switchboard.testing.Point"},
           {"subscribe", "a.b", "--cuont=1"}}) {
    const CliResult result = Run(args);
    EXPECT_EQ(result.exit_code, 2)
        << ::testing::PrintToString(args) << ": " << result;
    EXPECT_THAT(result.stderr_text, StartsWith(ErrorPrefix("INVALID_ARGUMENT")))
        << ::testing::PrintToString(args);
    EXPECT_THAT(result.stderr_text, HasSubstr("--help"))
        << ::testing::PrintToString(args);
    EXPECT_THAT(result.stdout_text, IsEmpty())
        << ::testing::PrintToString(args);
  }
}

TEST_F(CliIntrospectionTest, HelpListsTheCommands) {
  const CliResult help = Run({"--help"});
  EXPECT_EQ(help.exit_code, 0) << help;
  for (const char* command :
       {"status", "list", "connections", "describe", "call", "publish",
        "subscribe", "monitor", "top", "wait"}) {
    EXPECT_THAT(help.stdout_text, HasSubstr(command));
  }
  const CliResult call_help = Run({"call", "--help"});
  EXPECT_EQ(call_help.exit_code, 0) << call_help;
  EXPECT_THAT(call_help.stdout_text, HasSubstr("--raw"));
  const CliResult help_call = Run({"help", "call"});
  EXPECT_EQ(help_call.exit_code, 0) << help_call;
  EXPECT_EQ(help_call.stdout_text, call_help.stdout_text);
}

// Over TCP the tool reads the token file the environment names, and the
// broker knows no pid or executable of its connections.
TEST(CliTcpTest, ConnectionsOverTcp) {
  BrokerProcess broker(Transport::kTcp);
  ASSERT_TRUE(broker.started());
  absl::StatusOr<ProgramResult> result = RunProgram(
      {"/usr/bin/env",
       absl::StrCat("SWITCHBOARD_TOKEN_FILE=", broker.token_file()),
       SwitchboardCliPath(), absl::StrCat("--address=", broker.tcp_address()),
       "connections", "--json"},
      kCliTimeout);
  ASSERT_THAT(result, IsOk());
  ASSERT_EQ(result->exit_code, 0) << result->stderr_text;
  absl::StatusOr<v1::ConnectionList> list =
      ParseJson<v1::ConnectionList>(result->stdout_text);
  ASSERT_THAT(list, IsOk());
  ASSERT_EQ(list->connections_size(), 1) << result->stdout_text;
  const v1::ConnectionInfo& tool = list->connections(0);
  EXPECT_EQ(tool.client_name(), "switchboard");
  EXPECT_EQ(tool.transport(), "tcp");
  EXPECT_THAT(tool.exe(), IsEmpty());

  // A wrong token is refused: permission denied.
  const std::string wrong_token = absl::StrCat(broker.dir(), "/wrong-token");
  ASSERT_TRUE(WriteFile(wrong_token, "not the token\n"));
  absl::StatusOr<ProgramResult> refused = RunProgram(
      {"/usr/bin/env", absl::StrCat("SWITCHBOARD_TOKEN_FILE=", wrong_token),
       SwitchboardCliPath(), absl::StrCat("--address=", broker.tcp_address()),
       "status"},
      kCliTimeout);
  ASSERT_THAT(refused, IsOk());
  EXPECT_EQ(refused->exit_code, 6) << refused->stderr_text;
  EXPECT_THAT(refused->stderr_text,
              StartsWith(ErrorPrefix("PERMISSION_DENIED")));
}

TEST(CliWithoutBrokerTest, NoBrokerIsUnavailable) {
  const absl::StatusOr<CliResult> result =
      RunCli("unix:/nonexistent/switchboard-test/bus", {"status"});
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 7) << *result;
  EXPECT_THAT(result->stderr_text, StartsWith(ErrorPrefix("UNAVAILABLE")))
      << *result;
}

}  // namespace
}  // namespace switchboard::testing
