// SPDX-License-Identifier: MIT
#include "client/src/schema.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "switchboard/service.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::client {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> FileNames(
    const google::protobuf::FileDescriptorSet& files) {
  std::vector<std::string> names;
  for (const auto& file : files.file()) names.push_back(file.name());
  return names;
}

TEST(SchemaTest, FilesComeAfterTheirImportsAndOnlyOnce) {
  // broker.proto imports descriptor.proto, schema.proto (which imports
  // descriptor.proto too) and identity.proto.
  EXPECT_THAT(FileNames(FilesDefining({v1::Description::descriptor(),
                                       v1::MonitorEvent::descriptor(),
                                       v1::MethodSchema::descriptor()})),
              ElementsAre("google/protobuf/descriptor.proto",
                          "switchboard/v1/identity.proto",
                          "switchboard/v1/schema.proto",
                          "switchboard/v1/broker.proto"));
}

TEST(SchemaTest, NullTypesAreSkipped) {
  EXPECT_EQ(FilesDefining({nullptr}).file_size(), 0);
  EXPECT_EQ(TypeName(nullptr), "");
  EXPECT_EQ(TypeName(v1::MethodSchema::descriptor()),
            "switchboard.v1.MethodSchema");
}

TEST(SchemaTest, ServiceSchemaListsEveryMethodWithItsTypes) {
  Service service("test.schema");
  service.AddMethod(
      "Raw", [](const CallInfo&, const Payload&) -> absl::StatusOr<Payload> {
        return Payload();
      });
  service.AddMethod<v1::DescribeRequest, v1::Description>(
      "Describe",
      [](const CallInfo&, const v1::DescribeRequest&)
          -> absl::StatusOr<v1::Description> { return v1::Description(); });
  service.AddStreamMethod<v1::MonitorRequest, v1::MonitorEvent>(
      "Watch", [](const CallInfo&, const v1::MonitorRequest&, StreamWriter&) {
        return absl::OkStatus();
      });
  const v1::ServiceSchema schema = BuildServiceSchema(service);
  ASSERT_EQ(schema.methods_size(), 3);
  EXPECT_EQ(schema.methods(0).name(), "Describe");
  EXPECT_EQ(schema.methods(0).request_type(), "switchboard.v1.DescribeRequest");
  EXPECT_EQ(schema.methods(0).response_type(), "switchboard.v1.Description");
  EXPECT_FALSE(schema.methods(0).streaming());
  EXPECT_EQ(schema.methods(1).name(), "Raw");
  EXPECT_EQ(schema.methods(1).request_type(), "");
  EXPECT_EQ(schema.methods(1).response_type(), "");
  EXPECT_EQ(schema.methods(2).name(), "Watch");
  EXPECT_EQ(schema.methods(2).response_type(), "switchboard.v1.MonitorEvent");
  EXPECT_TRUE(schema.methods(2).streaming());
  EXPECT_THAT(FileNames(schema.files()),
              ElementsAre("google/protobuf/descriptor.proto",
                          "switchboard/v1/identity.proto",
                          "switchboard/v1/schema.proto",
                          "switchboard/v1/broker.proto"));
}

TEST(SchemaTest, TheFilesBuildIntoAFreshPool) {
  const google::protobuf::FileDescriptorSet files =
      FilesDefining({v1::MonitorEvent::descriptor()});
  google::protobuf::DescriptorPool pool;
  for (const auto& file : files.file()) {
    ASSERT_NE(pool.BuildFile(file), nullptr) << file.name();
  }
  EXPECT_NE(pool.FindMessageTypeByName("switchboard.v1.MonitorEvent"), nullptr);
}

}  // namespace
}  // namespace switchboard::client
