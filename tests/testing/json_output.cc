// SPDX-License-Identifier: MIT
#include "tests/testing/json_output.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"

namespace switchboard::testing {

absl::Status ParseJsonInto(absl::string_view json,
                           google::protobuf::Message& message) {
  message.Clear();
  const google::protobuf::util::Status parsed =
      google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(json.data(), json.size()), &message);
  if (parsed.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("not a ", message.GetTypeName(), " in JSON (",
                   std::string(parsed.message()), "): ", json));
}

absl::StatusOr<google::protobuf::Struct> ParseJsonObject(
    absl::string_view json) {
  return ParseJson<google::protobuf::Struct>(json);
}

std::string ToJson(const google::protobuf::Value& value) {
  std::string json;
  // Empty on failure, which then parses as nothing.
  if (!google::protobuf::util::MessageToJsonString(value, &json).ok()) {
    return "";
  }
  return json;
}

absl::StatusOr<uint64_t> ToUint64(const google::protobuf::Value& value) {
  uint64_t number = 0;
  if (value.has_string_value() &&
      absl::SimpleAtoi(value.string_value(), &number)) {
    return number;
  }
  if (value.has_number_value() && value.number_value() >= 0 &&
      value.number_value() ==
          static_cast<double>(static_cast<uint64_t>(value.number_value()))) {
    return static_cast<uint64_t>(value.number_value());
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not an unsigned integer: ", ToJson(value)));
}

std::vector<std::string> NonEmptyLines(absl::string_view text) {
  return absl::StrSplit(text, '\n', absl::SkipWhitespace());
}

}  // namespace switchboard::testing
