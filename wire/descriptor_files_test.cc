// SPDX-License-Identifier: MIT
#include "wire/descriptor_files.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::wire {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Names(const google::protobuf::FileDescriptorSet& set) {
  std::vector<std::string> names;
  for (const auto& file : set.file()) names.push_back(file.name());
  return names;
}

TEST(AppendWithImportsTest, ImportsComeFirstAndEachFileOnce) {
  google::protobuf::FileDescriptorSet set;
  // broker.proto imports descriptor.proto, schema.proto (which imports
  // descriptor.proto too) and identity.proto.
  AppendWithImports(v1::BrokerStatus::descriptor()->file(), set);
  AppendWithImports(v1::MethodSchema::descriptor()->file(), set);
  EXPECT_THAT(Names(set), ElementsAre("google/protobuf/descriptor.proto",
                                      "switchboard/v1/identity.proto",
                                      "switchboard/v1/schema.proto",
                                      "switchboard/v1/broker.proto"));
}

TEST(AppendWithImportsTest, AFileAlreadyHeldIsLeftOut) {
  google::protobuf::FileDescriptorSet set;
  AppendWithImports(v1::MethodSchema::descriptor()->file(), set);
  AppendWithImports(v1::MethodSchema::descriptor()->file(), set);
  EXPECT_THAT(Names(set), ElementsAre("google/protobuf/descriptor.proto",
                                      "switchboard/v1/schema.proto"));
}

}  // namespace
}  // namespace switchboard::wire
