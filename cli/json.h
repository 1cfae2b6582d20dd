// SPDX-License-Identifier: MIT
//
// JSON for the `switchboard` tool: protobuf messages to and from protobuf's
// JSON mapping (.proto field names, every field printed), and a small builder
// for the tool's own objects (subscribe lines, top snapshots), which embed
// message JSON.
#ifndef SWITCHBOARD_CLI_JSON_H_
#define SWITCHBOARD_CLI_JSON_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"

namespace switchboard::cli {

// One line of compact JSON, or indented JSON when `indent` (for people).
// Errors: kInternal if protobuf cannot print it (an Any of unknown type).
absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& m,
                                          bool indent = false);

// Fills `out` from `json`; unknown fields are errors. Errors:
// kInvalidArgument "JSON for TYPE: <where and what is wrong>".
absl::Status MessageFromJson(absl::string_view json,
                             google::protobuf::Message& out);

// Parses `bytes` into `out`. Errors: kInvalidArgument if they are not a
// valid message of its type.
absl::Status MessageFromBytes(absl::string_view bytes,
                              google::protobuf::Message& out);

// "2026-11-21T17:02:03.123456Z": a time in UTC with microseconds, as the
// tool's JSON writes times.
std::string JsonTime(absl::Time time);

// `text` as a JSON string literal, quotes included.
std::string JsonString(absl::string_view text);

// `object` (one JSON object) with the member `key`: `raw_value` (JSON
// text) added last.
std::string AddMember(absl::string_view object, absl::string_view key,
                      absl::string_view raw_value);

// Builds one JSON object, members in the order added.
class JsonObject {
 public:
  JsonObject& Add(absl::string_view key, absl::string_view value);
  JsonObject& Add(absl::string_view key, const char* value) {
    return Add(key, absl::string_view(value));
  }
  JsonObject& Add(absl::string_view key, uint64_t value);
  JsonObject& Add(absl::string_view key, double value);
  JsonObject& AddBool(absl::string_view key, bool value);
  // `json` is inserted as it is: an object, array or literal.
  JsonObject& AddRaw(absl::string_view key, absl::string_view json);
  std::string Build() const { return body_ + "}"; }

 private:
  void AddKey(absl::string_view key);
  std::string body_ = "{";
};

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_JSON_H_
