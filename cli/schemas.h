// SPDX-License-Identifier: MIT
//
// Message types learned from the broker during one run of the tool: the
// schemas services sent with their names and the types publishers
// registered, fetched with switchboard.Broker/Describe (docs/PROTOCOL.md 5.6)
// and built into one DescriptorPool, so messages can be made and decoded as
// DynamicMessages. The broker's own types (switchboard.v1.*) are known
// without asking. Each name and type is asked for at most once per run. Not
// thread-safe: one thread uses it.
#ifndef SWITCHBOARD_CLI_SCHEMAS_H_
#define SWITCHBOARD_CLI_SCHEMAS_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "switchboard/client.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::cli {

class Schemas {
 public:
  // `client` must outlive this. `timeout` bounds each Describe call.
  Schemas(Client& client, absl::Duration timeout);

  // switchboard.Broker/Describe, except that the broker's own service and
  // types (switchboard.Broker, switchboard.v1.*), which the broker does not
  // describe, are described from the tool's generated code. Does not touch
  // the pool. Errors: those of the call (kNotFound, kInvalidArgument, ...).
  absl::StatusOr<v1::Description> Describe(const v1::DescribeRequest& request);

  // Describes an owned name and adds its files to the pool. Errors:
  // kNotFound (no owner), kInvalidArgument (its files do not build), and
  // those of the call.
  absl::StatusOr<const v1::Description*> DescribeName(absl::string_view name);

  // The descriptor of a full message type name, asking the broker if the
  // pool lacks it. Errors: kNotFound (nobody defined it), kInvalidArgument;
  // a type that failed once fails again without asking.
  absl::StatusOr<const google::protobuf::Descriptor*> FindType(
      absl::string_view type);

  // A new empty message of `type` (from this pool or the generated one).
  std::unique_ptr<google::protobuf::Message> NewMessage(
      const google::protobuf::Descriptor* type);

  // `bytes` decoded as a message of `type` and printed as JSON (indented
  // when `indent`). Errors: those of FindType(); kInvalidArgument if the
  // bytes are not such a message.
  absl::StatusOr<std::string> ToJson(absl::string_view type,
                                     absl::string_view bytes, bool indent);

  // Adds files (each after its imports); files the pool has are skipped.
  // Errors: kInvalidArgument naming the file that does not build.
  absl::Status AddFiles(const google::protobuf::FileDescriptorSet& files);

 private:
  Client& client_;
  absl::Duration timeout_;
  // Falls back to the generated pool, which holds switchboard.v1 and the
  // well-known types, so files that import them build here.
  google::protobuf::DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_;  // after pool_: uses it
  absl::flat_hash_map<std::string, v1::Description> names_;
  // Types the broker did not know, so a stream of messages of an unknown
  // type costs one Describe, not one per message.
  absl::flat_hash_map<std::string, absl::Status> unknown_types_;
};

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_SCHEMAS_H_
