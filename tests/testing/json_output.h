// SPDX-License-Identifier: MIT
//
// Reading the JSON the `switchboard` tool prints, with protobuf's own JSON
// parser: into the message type the output is documented to be
// (switchboard.v1.NameList, ...), strictly, so an unknown or misspelt field
// fails the test; or, for objects that are not one message (subscribe and
// monitor lines), into a google.protobuf.Struct.
#ifndef SWITCHBOARD_TESTS_TESTING_JSON_OUTPUT_H_
#define SWITCHBOARD_TESTS_TESTING_JSON_OUTPUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"

namespace switchboard::testing {

// Parses `json` into `message` (cleared first). Errors: kInvalidArgument
// with the parser's explanation and the text.
absl::Status ParseJsonInto(absl::string_view json,
                           google::protobuf::Message& message);

template <typename T>
absl::StatusOr<T> ParseJson(absl::string_view json) {
  T message;
  if (absl::Status parsed = ParseJsonInto(json, message); !parsed.ok()) {
    return parsed;
  }
  return message;
}

// Parses a JSON object of any shape.
absl::StatusOr<google::protobuf::Struct> ParseJsonObject(
    absl::string_view json);

// `value` as compact JSON text, e.g. to parse a nested object as a message.
std::string ToJson(const google::protobuf::Value& value);

// An integer printed as a JSON number, or as a string as protobuf prints
// 64-bit integers. Errors: kInvalidArgument for anything else.
absl::StatusOr<uint64_t> ToUint64(const google::protobuf::Value& value);

// The non-empty lines of `text` (JSON Lines output).
std::vector<std::string> NonEmptyLines(absl::string_view text);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_JSON_OUTPUT_H_
