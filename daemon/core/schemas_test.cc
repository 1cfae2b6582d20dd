// SPDX-License-Identifier: MIT
//
// SchemaRegistry: the schemas and type files connections send
// (docs/PROTOCOL.md 5.1, 5.6), checked by building them.
#include "daemon/core/schemas.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/schema.pb.h"
#include "wire/descriptor_files.h"

namespace switchboard::core {
namespace {

using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;
using testing::HasSubstr;

const SessionId kOne(1);
const SessionId kTwo(2);
const SessionId kThree(3);

// broker.proto with schema.proto and descriptor.proto before it.
FileDescriptorSet BrokerSchemaFiles() {
  FileDescriptorSet files;
  wire::AppendWithImports(v1::MonitorEvent::descriptor()->file(), files);
  return files;
}

std::vector<std::string> NamesOf(const FileDescriptorSet& files) {
  std::vector<std::string> names;
  for (const FileDescriptorProto& file : files.file()) {
    names.push_back(file.name());
  }
  return names;
}

v1::MethodSchema Method(absl::string_view name, absl::string_view request,
                        absl::string_view response) {
  v1::MethodSchema method;
  method.set_name(std::string(name));
  method.set_request_type(std::string(request));
  method.set_response_type(std::string(response));
  return method;
}

v1::ServiceSchema MonitorSchema() {
  v1::ServiceSchema schema;
  *schema.add_methods() = Method("Watch", "switchboard.v1.MonitorRequest",
                                 "switchboard.v1.MonitorEvent");
  schema.mutable_methods(0)->set_streaming(true);
  *schema.add_methods() = Method("Raw", "", "");
  *schema.mutable_files() = BrokerSchemaFiles();
  return schema;
}

// A file of its own, "NAME", defining message PACKAGE.Thing with one field
// called FIELD.
FileDescriptorProto ThingFile(absl::string_view name, absl::string_view package,
                              absl::string_view field) {
  FileDescriptorProto file;
  file.set_name(std::string(name));
  file.set_package(std::string(package));
  file.set_syntax("proto3");
  google::protobuf::DescriptorProto* message = file.add_message_type();
  message->set_name("Thing");
  google::protobuf::FieldDescriptorProto* f = message->add_field();
  f->set_name(std::string(field));
  f->set_number(1);
  f->set_type(google::protobuf::FieldDescriptorProto::TYPE_STRING);
  f->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  return file;
}

FileDescriptorSet SetOf(const FileDescriptorProto& file) {
  FileDescriptorSet files;
  *files.add_file() = file;
  return files;
}

// A valid file of at least `bytes` serialized: messages of fields with
// long names.
FileDescriptorProto BigFile(absl::string_view name, size_t bytes) {
  FileDescriptorProto file;
  file.set_name(std::string(name));
  file.set_package("big");
  file.set_syntax("proto3");
  const std::string padding(200, 'f');
  for (int m = 0; file.ByteSizeLong() < bytes; ++m) {
    google::protobuf::DescriptorProto* message = file.add_message_type();
    message->set_name(absl::StrCat("M", m));
    for (int i = 1; i <= 100; ++i) {
      google::protobuf::FieldDescriptorProto* f = message->add_field();
      f->set_name(absl::StrCat(padding, i));
      f->set_number(i);
      f->set_type(google::protobuf::FieldDescriptorProto::TYPE_INT32);
      f->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
    }
  }
  return file;
}

TEST(SchemaParseTest, AnEmptyPayloadIsAnEmptySchema) {
  absl::StatusOr<v1::ServiceSchema> schema = SchemaRegistry::Parse("");
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_EQ(schema->methods_size(), 0);
  EXPECT_EQ(schema->files().file_size(), 0);
}

TEST(SchemaParseTest, GarbageIsRefused) {
  EXPECT_EQ(SchemaRegistry::Parse("\xff\xff\xff").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SchemaParseTest, MethodsNeedDistinctNames) {
  v1::ServiceSchema schema;
  *schema.add_methods() = Method("A", "", "");
  *schema.add_methods() = Method("A", "", "");
  absl::Status twice =
      SchemaRegistry::Parse(schema.SerializeAsString()).status();
  EXPECT_EQ(twice.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(twice.message()), HasSubstr("'A'"));

  schema.mutable_methods(1)->set_name("");
  EXPECT_EQ(SchemaRegistry::Parse(schema.SerializeAsString()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SchemaParseTest, TypesMustBeProtobufNames) {
  for (absl::string_view bad : {"a..b", ".a", "a.", "1a.b", "a-b", "a b"}) {
    v1::ServiceSchema schema;
    *schema.add_methods() = Method("A", bad, "");
    EXPECT_EQ(SchemaRegistry::Parse(schema.SerializeAsString()).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
    schema.mutable_methods(0)->set_request_type("");
    schema.mutable_methods(0)->set_response_type(std::string(bad));
    EXPECT_EQ(SchemaRegistry::Parse(schema.SerializeAsString()).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  v1::ServiceSchema good;
  *good.add_methods() = Method("A", "a.b_2.C", "");
  EXPECT_TRUE(SchemaRegistry::Parse(good.SerializeAsString()).ok());
}

TEST(SchemaRegistryTest, GeneratedFilesAreAcceptedAndDescribeTheService) {
  SchemaRegistry registry;
  ASSERT_TRUE(registry.SetService(kOne, "bus.monitor", MonitorSchema()).ok());
  EXPECT_GT(registry.BytesOf(kOne), 0u);

  const std::vector<v1::MethodSchema> methods =
      registry.MethodsOf(kOne, "bus.monitor");
  ASSERT_EQ(methods.size(), 2u);
  EXPECT_EQ(methods[0].name(), "Watch");
  EXPECT_EQ(methods[0].request_type(), "switchboard.v1.MonitorRequest");
  EXPECT_TRUE(methods[0].streaming());
  EXPECT_EQ(methods[1].name(), "Raw");
  EXPECT_EQ(methods[1].request_type(), "");
  EXPECT_EQ(registry.RequestTypeOf(kOne, "bus.monitor", "Watch"),
            "switchboard.v1.MonitorRequest");
  EXPECT_EQ(registry.ResponseTypeOf(kOne, "bus.monitor", "Watch"),
            "switchboard.v1.MonitorEvent");
  EXPECT_EQ(registry.ResponseTypeOf(kOne, "bus.monitor", "Raw"), "");
  EXPECT_EQ(registry.ResponseTypeOf(kOne, "bus.monitor", "Nope"), "");

  // Each file after its imports, and nothing the types do not need.
  EXPECT_EQ(NamesOf(registry.FilesOf(kOne, "bus.monitor")),
            NamesOf(BrokerSchemaFiles()));
  EXPECT_TRUE(registry.MethodsOf(kTwo, "bus.monitor").empty());
  EXPECT_TRUE(registry.MethodsOf(kOne, "bus.other").empty());
  EXPECT_EQ(registry.FilesOf(kOne, "bus.other").file_size(), 0);
}

TEST(SchemaRegistryTest, ASetMissingAnImportIsRefusedNamingTheFile) {
  SchemaRegistry registry;
  v1::ServiceSchema schema = MonitorSchema();
  // Without descriptor.proto, which both others import.
  schema.mutable_files()->mutable_file()->DeleteSubrange(0, 1);
  const absl::Status refused = registry.SetService(kOne, "bus.monitor", schema);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("switchboard/v1/schema.proto"));
  EXPECT_TRUE(registry.MethodsOf(kOne, "bus.monitor").empty());
  EXPECT_EQ(registry.BytesOf(kOne), 0u);
}

TEST(SchemaRegistryTest, AMethodNamingAnUndefinedTypeIsRefused) {
  SchemaRegistry registry;
  v1::ServiceSchema schema = MonitorSchema();
  *schema.add_methods() = Method("Other", "switchboard.v1.NoSuchThing", "");
  const absl::Status refused = registry.SetService(kOne, "bus.monitor", schema);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("switchboard.v1.NoSuchThing"));
  EXPECT_TRUE(registry.MethodsOf(kOne, "bus.monitor").empty());

  // A type the files define, but no file at all.
  v1::ServiceSchema bare;
  *bare.add_methods() = Method("A", "switchboard.v1.MonitorEvent", "");
  EXPECT_EQ(registry.SetService(kOne, "bus.bare", bare).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SchemaRegistryTest, AFileClashingWithTheSessionsEarlierOneIsRefused) {
  SchemaRegistry registry;
  ASSERT_TRUE(
      registry.AddTypes(kOne, SetOf(ThingFile("thing.proto", "t", "a"))).ok());
  const size_t bytes = registry.BytesOf(kOne);
  // The same file again is fine and costs nothing.
  EXPECT_TRUE(
      registry.AddTypes(kOne, SetOf(ThingFile("thing.proto", "t", "a"))).ok());
  EXPECT_EQ(registry.BytesOf(kOne), bytes);

  const absl::Status differs =
      registry.AddTypes(kOne, SetOf(ThingFile("thing.proto", "t", "b")));
  EXPECT_EQ(differs.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(differs.message()), HasSubstr("thing.proto"));
  // Another file defining the same type.
  const absl::Status clash =
      registry.AddTypes(kOne, SetOf(ThingFile("other.proto", "t", "a")));
  EXPECT_EQ(clash.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.BytesOf(kOne), bytes);

  // A refused set leaves nothing behind, not even its files that built.
  FileDescriptorSet mixed = SetOf(ThingFile("fine.proto", "v", "a"));
  *mixed.add_file() = ThingFile("other.proto", "t", "a");
  EXPECT_EQ(registry.AddTypes(kOne, mixed).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.BytesOf(kOne), bytes);
  EXPECT_FALSE(registry.FilesDefining("v.Thing").has_value());
  EXPECT_TRUE(
      registry.AddTypes(kOne, SetOf(ThingFile("fine.proto", "v", "b"))).ok());

  // What the session kept is the first file.
  std::optional<FileDescriptorSet> files = registry.FilesDefining("t.Thing");
  ASSERT_TRUE(files.has_value());
  ASSERT_EQ(files->file_size(), 1);
  EXPECT_EQ(files->file(0).message_type(0).field(0).name(), "a");
}

TEST(SchemaRegistryTest, SessionsMaySendDifferentFilesOfOneName) {
  SchemaRegistry registry;
  ASSERT_TRUE(
      registry.AddTypes(kTwo, SetOf(ThingFile("thing.proto", "t", "two")))
          .ok());
  ASSERT_TRUE(
      registry.AddTypes(kThree, SetOf(ThingFile("thing.proto", "t", "three")))
          .ok());
  ASSERT_TRUE(
      registry.AddTypes(kOne, SetOf(ThingFile("one.proto", "u", "one"))).ok());

  auto field_of = [&](absl::string_view type, SessionId prefer) {
    std::optional<FileDescriptorSet> files =
        registry.FilesDefining(type, prefer);
    if (!files || files->file_size() != 1) return std::string("(none)");
    return files->file(0).message_type(0).field(0).name();
  };
  // The lowest session that defines it, unless the asker does.
  EXPECT_EQ(field_of("t.Thing", SessionId()), "two");
  EXPECT_EQ(field_of("t.Thing", kOne), "two");
  EXPECT_EQ(field_of("t.Thing", kThree), "three");
  EXPECT_EQ(field_of("u.Thing", kThree), "one");
  EXPECT_FALSE(registry.FilesDefining("t.Nothing").has_value());
  EXPECT_FALSE(registry.FilesDefining("").has_value());

  registry.ForgetSession(kTwo);
  EXPECT_EQ(field_of("t.Thing", SessionId()), "three");
  EXPECT_EQ(registry.BytesOf(kTwo), 0u);
  EXPECT_EQ(registry.session_count(), 2u);
}

TEST(SchemaRegistryTest, FilesDefiningFindsEnumsWithTheirImports) {
  SchemaRegistry registry;
  ASSERT_TRUE(registry.AddTypes(kOne, BrokerSchemaFiles()).ok());
  std::optional<FileDescriptorSet> files =
      registry.FilesDefining("switchboard.v1.MonitorEvent.Kind");
  ASSERT_TRUE(files.has_value());
  EXPECT_EQ(NamesOf(*files), NamesOf(BrokerSchemaFiles()));
  files = registry.FilesDefining("switchboard.v1.MethodSchema");
  ASSERT_TRUE(files.has_value());
  EXPECT_EQ(NamesOf(*files),
            (std::vector<std::string>{"google/protobuf/descriptor.proto",
                                      "switchboard/v1/schema.proto"}));
}

TEST(SchemaRegistryTest, SchemasArePerNameAndGoWithTheirName) {
  SchemaRegistry registry;
  ASSERT_TRUE(registry.SetService(kOne, "bus.a", MonitorSchema()).ok());
  v1::ServiceSchema raw;
  *raw.add_methods() = Method("Ping", "", "");
  ASSERT_TRUE(registry.SetService(kOne, "bus.b", raw).ok());
  EXPECT_EQ(registry.MethodsOf(kOne, "bus.b").size(), 1u);

  const size_t bytes = registry.BytesOf(kOne);
  registry.DropService(kOne, "bus.b");
  EXPECT_TRUE(registry.MethodsOf(kOne, "bus.b").empty());
  EXPECT_LT(registry.BytesOf(kOne), bytes);
  EXPECT_EQ(registry.MethodsOf(kOne, "bus.a").size(), 2u);
  registry.DropService(kOne, "bus.b");  // twice is harmless
  registry.DropService(kTwo, "bus.a");  // so is a stranger's

  // Replacing a name's schema keeps only the new methods.
  ASSERT_TRUE(registry.SetService(kOne, "bus.a", raw).ok());
  ASSERT_EQ(registry.MethodsOf(kOne, "bus.a").size(), 1u);
  EXPECT_EQ(registry.MethodsOf(kOne, "bus.a")[0].name(), "Ping");

  registry.ForgetSession(kOne);
  EXPECT_TRUE(registry.MethodsOf(kOne, "bus.a").empty());
  EXPECT_EQ(registry.BytesOf(kOne), 0u);
  EXPECT_EQ(registry.session_count(), 0u);
}

TEST(SchemaRegistryTest, EachSessionMayKeepFourMebibytes) {
  SchemaRegistry registry;
  const FileDescriptorSet big =
      SetOf(BigFile("big.proto", kMaxSchemaBytesPerSession * 5 / 8));
  v1::ServiceSchema schema;
  *schema.add_methods() = Method("Get", "big.M0", "big.M1");
  *schema.mutable_files() = big;
  ASSERT_TRUE(registry.SetService(kOne, "bus.big", schema).ok());
  const size_t bytes = registry.BytesOf(kOne);
  EXPECT_GT(bytes, kMaxSchemaBytesPerSession / 2);
  // Saying the same again, under one name or another, costs nothing more
  // than the methods.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(registry.SetService(kOne, "bus.big", schema).ok());
    ASSERT_TRUE(registry.AddTypes(kOne, big).ok());
  }
  EXPECT_EQ(registry.BytesOf(kOne), bytes);

  const absl::Status over = registry.AddTypes(
      kOne, SetOf(BigFile("more.proto", kMaxSchemaBytesPerSession / 2)));
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted) << over;
  EXPECT_EQ(registry.BytesOf(kOne), bytes);
  EXPECT_FALSE(registry.FilesDefining("big.M0", kOne) == std::nullopt);

  // Another session has its own allowance.
  EXPECT_TRUE(registry.AddTypes(kTwo, big).ok());
  // Once the first lets go, it may send the second file.
  registry.ForgetSession(kOne);
  EXPECT_TRUE(registry
                  .AddTypes(kOne, SetOf(BigFile("more.proto",
                                                kMaxSchemaBytesPerSession / 2)))
                  .ok());
}

}  // namespace
}  // namespace switchboard::core
