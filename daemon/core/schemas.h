// SPDX-License-Identifier: MIT
//
// SchemaRegistry: what connections said about their types
// (docs/PROTOCOL.md 5.1, 5.6). A REGISTER_NAME may carry a ServiceSchema
// (the name's methods and the files defining their types) and
// switchboard.Broker/RegisterTypes adds the files of published types. The
// registry checks every file set by building it, keeps the methods per
// (connection, name) and the files per connection in one descriptor pool of
// that connection's own, and answers Describe: a name's methods and files,
// or the files defining a type.
//
// Nothing a client sends here can disturb another client: each connection's
// files live in its own pool, and a file that clashes with one the same
// connection sent before is refused. Memory is bounded per connection
// (kMaxSchemaBytesPerSession) and freed when the connection goes.
#ifndef SWITCHBOARD_DAEMON_CORE_SCHEMAS_H_
#define SWITCHBOARD_DAEMON_CORE_SCHEMAS_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/core/ids.h"
#include "daemon/core/uid_accounts.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "switchboard/v1/schema.pb.h"

namespace switchboard::core {

// Serialized schemas and type files one connection may have the broker
// keep, in total.
inline constexpr size_t kMaxSchemaBytesPerSession = size_t{4} << 20;

class SchemaRegistry {
 public:
  // `accounts`, if given, must outlive the registry; the bytes a session
  // makes it keep are checked against and charged to its uid there
  // (Quota::kSchemaBytes).
  explicit SchemaRegistry(UidAccounts* accounts = nullptr)
      : accounts_(accounts) {}
  SchemaRegistry(const SchemaRegistry&) = delete;
  SchemaRegistry& operator=(const SchemaRegistry&) = delete;

  // Why a schema or type files of `bytes` serialized bytes are refused
  // before they are parsed: larger than everything one connection may keep
  // (kResourceExhausted naming the limit). Parsing and building cost many
  // times the bytes, so such a request must not get that far.
  static absl::Status CheckSize(size_t bytes);

  // Parses a REGISTER_NAME payload. An empty payload is an empty schema.
  // Errors: kInvalidArgument if it is not a ServiceSchema, names a method
  // twice or not at all, or its methods' types are not well-formed names.
  static absl::StatusOr<v1::ServiceSchema> Parse(absl::string_view payload);

  // Takes `schema` (from Parse) as what `session` serves under `name`,
  // replacing what it said before. Its files join the session's pool.
  // Errors (nothing is kept): kInvalidArgument if a file does not build
  // (a missing import, a clash with a file the session sent before) or a
  // method's type is not defined by the files; kResourceExhausted past
  // kMaxSchemaBytesPerSession.
  absl::Status SetService(SessionId session, absl::string_view name,
                          v1::ServiceSchema schema);
  // `session` no longer owns or queues for `name`.
  void DropService(SessionId session, absl::string_view name);
  // Adds type files for `session` (RegisterTypes). Errors as SetService().
  absl::Status AddTypes(SessionId session,
                        const google::protobuf::FileDescriptorSet& files);
  // `session` is gone: everything it sent is freed.
  void ForgetSession(SessionId session);

  // The methods `session` said it serves under `name`; empty if it sent no
  // schema.
  std::vector<v1::MethodSchema> MethodsOf(SessionId session,
                                          absl::string_view name) const;
  // The files defining every type of `session`'s methods under `name`,
  // each after its imports.
  google::protobuf::FileDescriptorSet FilesOf(SessionId session,
                                              absl::string_view name) const;
  // The files defining message or enum `type`, from the first session
  // (lowest id) that defined it, preferring `prefer` if it did. nullopt if
  // none did.
  std::optional<google::protobuf::FileDescriptorSet> FilesDefining(
      absl::string_view type, SessionId prefer = SessionId()) const;
  // The reply type `session` gave `method` of `name`, or "".
  std::string ResponseTypeOf(SessionId session, absl::string_view name,
                             absl::string_view method) const;
  std::string RequestTypeOf(SessionId session, absl::string_view name,
                            absl::string_view method) const;

  size_t session_count() const { return sessions_.size(); }
  size_t BytesOf(SessionId session) const;

 private:
  UidAccounts* accounts_;  // may be null
  struct SessionSchemas {
    std::unique_ptr<google::protobuf::DescriptorPool> pool =
        std::make_unique<google::protobuf::DescriptorPool>();
    // The files in `pool`, in the order built.
    std::vector<std::string> files;
    size_t bytes = 0;
    // By name, what the session serves under it.
    absl::flat_hash_map<std::string, v1::ServiceSchema> services;
  };

  // Builds `files` into `session`'s pool; checks first, so that a refused
  // set leaves the pool as it was.
  absl::Status AddFiles(SessionId session,
                        const google::protobuf::FileDescriptorSet& files,
                        size_t bytes, const v1::ServiceSchema* methods);
  // Rebuilds `schemas.pool` from its first `keep` files, dropping those
  // built after them.
  static void TruncatePool(SessionSchemas& schemas, size_t keep);
  const v1::MethodSchema* FindMethod(SessionId session, absl::string_view name,
                                     absl::string_view method) const;

  absl::flat_hash_map<SessionId, std::unique_ptr<SessionSchemas>> sessions_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_SCHEMAS_H_
