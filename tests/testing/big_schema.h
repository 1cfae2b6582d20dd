// SPDX-License-Identifier: MIT
//
// Large generated schemas for the tests of the broker's schema checking
// (docs/ARCHITECTURE.md "Schemas"): one file of many small messages, the
// shape that costs a descriptor pool the most per byte.
#ifndef SWITCHBOARD_TESTS_TESTING_BIG_SCHEMA_H_
#define SWITCHBOARD_TESTS_TESTING_BIG_SCHEMA_H_

#include <cstddef>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.pb.h"
#include "switchboard/v1/schema.pb.h"

namespace switchboard::testing {

// File `name` in package `package` of messages M0, M1, ... with five
// fields each, at least `bytes` serialized.
inline google::protobuf::FileDescriptorProto ManyMessagesFile(
    absl::string_view name, absl::string_view package, size_t bytes) {
  using google::protobuf::FieldDescriptorProto;
  google::protobuf::FileDescriptorProto file;
  file.set_name(std::string(name));
  file.set_package(std::string(package));
  file.set_syntax("proto3");
  size_t size = 0;
  for (int m = 0; size < bytes; ++m) {
    google::protobuf::DescriptorProto* message = file.add_message_type();
    message->set_name(absl::StrCat("M", m));
    for (int i = 1; i <= 5; ++i) {
      FieldDescriptorProto* field = message->add_field();
      field->set_name(absl::StrCat("field_", i));
      field->set_number(i);
      field->set_type(i % 2 == 0 ? FieldDescriptorProto::TYPE_STRING
                                 : FieldDescriptorProto::TYPE_INT64);
      field->set_label(FieldDescriptorProto::LABEL_OPTIONAL);
    }
    size += message->ByteSizeLong() + 4;  // and its tag and length
  }
  return file;
}

// A schema of method Get (big.M0 -> big.M1) whose file is about `bytes`.
inline v1::ServiceSchema ManyMessagesSchema(size_t bytes) {
  v1::ServiceSchema schema;
  v1::MethodSchema* method = schema.add_methods();
  method->set_name("Get");
  method->set_request_type("big.M0");
  method->set_response_type("big.M1");
  *schema.mutable_files()->add_file() =
      ManyMessagesFile("big.proto", "big", bytes);
  return schema;
}

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_BIG_SCHEMA_H_
