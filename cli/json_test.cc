// SPDX-License-Identifier: MIT
#include "json.h"

#include <memory>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "gtest/gtest.h"

namespace switchboard::cli {
namespace {

using google::protobuf::FieldDescriptorProto;

// test.v1.Clip { string name = 1; uint64 frame_count = 2; bytes data = 3; }
// built at run time, as the tool builds the types the broker describes.
class DynamicJsonTest : public testing::Test {
 protected:
  void SetUp() override {
    google::protobuf::FileDescriptorProto file;
    file.set_name("test/clip.proto");
    file.set_package("test.v1");
    file.set_syntax("proto3");
    auto* clip = file.add_message_type();
    clip->set_name("Clip");
    AddField(clip, "name", 1, FieldDescriptorProto::TYPE_STRING);
    AddField(clip, "frame_count", 2, FieldDescriptorProto::TYPE_UINT64);
    AddField(clip, "data", 3, FieldDescriptorProto::TYPE_BYTES);
    ASSERT_NE(pool_.BuildFile(file), nullptr);
    type_ = pool_.FindMessageTypeByName("test.v1.Clip");
    ASSERT_NE(type_, nullptr);
  }

  static void AddField(google::protobuf::DescriptorProto* message,
                       const char* name, int number,
                       FieldDescriptorProto::Type type) {
    auto* field = message->add_field();
    field->set_name(name);
    field->set_number(number);
    field->set_type(type);
    field->set_label(FieldDescriptorProto::LABEL_OPTIONAL);
  }

  std::unique_ptr<google::protobuf::Message> NewClip() {
    return std::unique_ptr<google::protobuf::Message>(
        factory_.GetPrototype(type_)->New());
  }

  google::protobuf::DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_{&pool_};
  const google::protobuf::Descriptor* type_ = nullptr;
};

TEST_F(DynamicJsonTest, RoundTripsWithProtoNamesAndDefaults) {
  std::unique_ptr<google::protobuf::Message> clip = NewClip();
  ASSERT_TRUE(
      MessageFromJson(R"({"name":"intro","frame_count":"48"})", *clip).ok());
  absl::StatusOr<std::string> json = MessageToJson(*clip);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json, R"({"name":"intro","frame_count":"48","data":""})");

  std::unique_ptr<google::protobuf::Message> copy = NewClip();
  ASSERT_TRUE(MessageFromBytes(clip->SerializeAsString(), *copy).ok());
  EXPECT_EQ(*MessageToJson(*copy), *json);
}

TEST_F(DynamicJsonTest, AcceptsLowerCamelCaseToo) {
  std::unique_ptr<google::protobuf::Message> clip = NewClip();
  ASSERT_TRUE(MessageFromJson(R"({"frameCount":7})", *clip).ok());
  EXPECT_EQ(*MessageToJson(*clip),
            R"({"name":"","frame_count":"7","data":""})");
}

TEST_F(DynamicJsonTest, IndentedForPeople) {
  std::unique_ptr<google::protobuf::Message> clip = NewClip();
  ASSERT_TRUE(MessageFromJson(R"({"name":"a"})", *clip).ok());
  absl::StatusOr<std::string> json = MessageToJson(*clip, /*indent=*/true);
  ASSERT_TRUE(json.ok());
  EXPECT_NE(json->find("{\n  \"name\": \"a\",\n  \"frame_count\""),
            std::string::npos)
      << *json;
  EXPECT_NE(json->back(), '\n');
}

TEST_F(DynamicJsonTest, UnknownFieldIsInvalidArgumentNamingTheType) {
  std::unique_ptr<google::protobuf::Message> clip = NewClip();
  absl::Status status = MessageFromJson(R"({"nmae":"x"})", *clip);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("test.v1.Clip"), absl::string_view::npos);
  EXPECT_NE(status.message().find("nmae"), absl::string_view::npos)
      << status.message();
}

TEST_F(DynamicJsonTest, SyntaxErrorsAreOneLineWithTheByteOffset) {
  std::unique_ptr<google::protobuf::Message> clip = NewClip();
  absl::Status status = MessageFromJson(R"({"name": "a" "data": ""})", *clip);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message().find('\n'), absl::string_view::npos)
      << status.message();
  EXPECT_NE(status.message().find("at byte 13"), absl::string_view::npos)
      << status.message();
  EXPECT_NE(status.message().find(R"("a" <here>"data")"),
            absl::string_view::npos)
      << status.message();

  status = MessageFromJson(R"({"name":)", *clip);
  EXPECT_EQ(status.message().find('\n'), absl::string_view::npos)
      << status.message();
  EXPECT_NE(status.message().find("at the end of the input (byte 8)"),
            absl::string_view::npos)
      << status.message();
}

TEST_F(DynamicJsonTest, MalformedJsonAndWrongTypesAreInvalidArgument) {
  std::unique_ptr<google::protobuf::Message> clip = NewClip();
  EXPECT_EQ(MessageFromJson("{\"name\":", *clip).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MessageFromJson(R"({"frame_count":"many"})", *clip).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DynamicJsonTest, BytesThatAreNotTheTypeAreInvalidArgument) {
  std::unique_ptr<google::protobuf::Message> clip = NewClip();
  EXPECT_EQ(MessageFromBytes("\xff\xff\xff", *clip).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(JsonStringTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(JsonString("a\"b\\c\nd\x01"), R"("a\"b\\c\nd\u0001")");
}

TEST(AddMemberTest, AddsTheMemberLast) {
  EXPECT_EQ(
      AddMember(R"({"code":0,"status_message":""})", "message", R"({"x":1})"),
      R"({"code":0,"status_message":"","message":{"x":1}})");
  EXPECT_EQ(AddMember("{}", "message", "[]"), R"({"message":[]})");
  EXPECT_EQ(AddMember("{\"a\":1}\n", "b", "2"), R"({"a":1,"b":2})");
}

TEST(JsonObjectTest, BuildsMembersInOrder) {
  EXPECT_EQ(JsonObject()
                .Add("topic", "chat.room.lobby")
                .Add("sender", uint64_t{3})
                .Add("rate", 1.5)
                .AddBool("ok", true)
                .AddRaw("message", R"({"a":1})")
                .Build(),
            R"({"topic":"chat.room.lobby","sender":3,"rate":1.500,)"
            R"("ok":true,"message":{"a":1}})");
  EXPECT_EQ(JsonObject().Build(), "{}");
}

}  // namespace
}  // namespace switchboard::cli
