// SPDX-License-Identifier: MIT
//
// SchemaRegistry: what connections said about their types
// (docs/PROTOCOL.md 5.1, 5.6). A REGISTER_NAME may carry a ServiceSchema
// (the name's methods and the files defining their types) and
// switchboard.Broker/RegisterTypes adds the files of published types. The
// registry checks every file set by building it, keeps the methods per
// (connection, name) and the files per connection, and answers Describe: a
// name's methods and files, or the files defining a type.
//
// Checking is apart from keeping (docs/ARCHITECTURE.md, "Schemas"):
//   MakeJob()  on the loop thread: the payload and a reference to what the
//              session keeps now (KeptFiles, immutable, shared);
//   Check()    on any thread, touching nothing of the registry: parses the
//              payload, builds its files in a scratch descriptor pool, and
//              compares them with the kept ones; the verdict holds the
//              session's files with the new ones added;
//   Commit*()  on the loop thread: checks the limits and the uid's quota
//              and takes the verdict's files in place of the session's.
// So the costly part can run off the loop (SchemaChecker), and what is
// kept is the files' serialized bytes and an index of the symbols they
// define (8 bytes of hash and a file number each), never a descriptor
// pool, which costs 20-50 times the bytes.
//
// Nothing a client sends here can disturb another client: each connection's
// files are its own, and a file that clashes with one the same connection
// sent before is refused. Memory is bounded per connection
// (kMaxSchemaBytesPerSession) and per uid (Quota::kSchemaBytes), and freed
// when the connection goes.
#ifndef SWITCHBOARD_DAEMON_CORE_SCHEMAS_H_
#define SWITCHBOARD_DAEMON_CORE_SCHEMAS_H_

#include <cstddef>
#include <cstdint>
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
#include "google/protobuf/descriptor.pb.h"
#include "switchboard/v1/schema.pb.h"

namespace switchboard::core {

// Serialized schemas and type files one connection may have the broker
// keep, in total.
inline constexpr size_t kMaxSchemaBytesPerSession = size_t{4} << 20;

// The files one connection made the broker keep, with their index
// (schemas.cc). Immutable once made: the registry and the jobs checking
// new files against it share it, from any thread.
struct KeptFiles;

// A schema to check: a REGISTER_NAME payload (a ServiceSchema) or a
// switchboard.Broker/RegisterTypes request (a RegisterTypesRequest), and
// the sender's files when it was made.
struct SchemaJob {
  enum class Kind { kService, kTypes };
  Kind kind = Kind::kTypes;
  std::string payload;
  // Names the job to the registry (FinishJob()).
  uint64_t ticket = 0;
  std::shared_ptr<const KeptFiles> kept;  // null: the session keeps none
};

// What Check() found.
struct SchemaVerdict {
  uint64_t ticket = 0;
  // Why the payload is refused before its files are looked at (not a
  // ServiceSchema or RegisterTypesRequest; bad method names or types).
  absl::Status parsed;
  // Why its files are refused (do not build, miss an import, define a
  // method's type nowhere, differ from the kept files of their names).
  absl::Status built;
  // Why they are refused if they fit the limits: a symbol one of the new
  // files defines is defined by a kept file too.
  absl::Status clash;
  // kService: the schema without its files.
  v1::ServiceSchema methods;
  // The job's files, and those files with the new ones (when `built` is
  // OK), which cost `added_bytes` more.
  std::shared_ptr<const KeptFiles> base;
  std::shared_ptr<const KeptFiles> kept;
  size_t added_bytes = 0;
};

class SchemaRegistry {
 public:
  // `accounts`, if given, must outlive the registry; the bytes a session
  // makes it keep are checked against and charged to its uid there
  // (Quota::kSchemaBytes).
  explicit SchemaRegistry(UidAccounts* accounts = nullptr);
  ~SchemaRegistry();
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

  // A job checking `payload` for `session`, against what it keeps now.
  // The registry remembers the job until FinishJob() or ForgetSession().
  SchemaJob MakeJob(SessionId session, SchemaJob::Kind kind,
                    absl::string_view payload);
  // Checks `job`. Reads only the job: safe on any thread, and the heavy
  // part (parsing and building cost up to 50 times the payload's bytes,
  // freed when it returns).
  static SchemaVerdict Check(const SchemaJob& job);
  // Whether the job `ticket` of `session` is still wanted (the session has
  // not gone since); forgets it either way.
  bool FinishJob(SessionId session, uint64_t ticket);

  // Takes `verdict`'s schema (built OK) as what `session` serves under
  // `name`, replacing what it said before, and its files as the session's.
  // Errors (nothing is kept): kResourceExhausted past
  // kMaxSchemaBytesPerSession or the uid's quota; kAborted if the
  // session's files changed since the job was made.
  absl::Status CommitService(SessionId session, absl::string_view name,
                             SchemaVerdict verdict);
  // Takes `verdict`'s files (RegisterTypes). Errors as CommitService().
  absl::Status CommitTypes(SessionId session, SchemaVerdict verdict);

  // The three steps at once, for a schema already parsed. Errors: those of
  // Check() (kInvalidArgument) and of CommitService().
  absl::Status SetService(SessionId session, absl::string_view name,
                          v1::ServiceSchema schema);
  // `session` no longer owns or queues for `name`.
  void DropService(SessionId session, absl::string_view name);
  // Adds type files for `session` (RegisterTypes) at once. Errors as
  // SetService().
  absl::Status AddTypes(SessionId session,
                        const google::protobuf::FileDescriptorSet& files);
  // `session` is gone: everything it sent is freed, its jobs unwanted.
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
  // The bytes charged for what `session` keeps: its files' and methods'
  // serialized sizes.
  size_t BytesOf(SessionId session) const;
  // Jobs made and neither finished nor forgotten.
  size_t jobs_in_flight() const { return jobs_.size(); }

 private:
  struct Service {
    v1::ServiceSchema methods;  // without files
    size_t bytes = 0;
  };
  struct SessionSchemas {
    std::shared_ptr<const KeptFiles> files;  // null until it sends some
    size_t bytes = 0;  // the files' and the services' bytes
    // By name, what the session serves under it.
    absl::flat_hash_map<std::string, Service> services;
  };

  // The limits and the quota for `added` more bytes of `session`, and the
  // check that its files are still `base`.
  absl::Status CheckCommit(SessionId session, const SchemaVerdict& verdict,
                           size_t added) const;
  // Takes `verdict`'s files and charges `added` bytes.
  SessionSchemas& Keep(SessionId session, SchemaVerdict& verdict, size_t added);
  const v1::MethodSchema* FindMethod(SessionId session, absl::string_view name,
                                     absl::string_view method) const;

  UidAccounts* accounts_;  // may be null
  absl::flat_hash_map<SessionId, SessionSchemas> sessions_;
  // Jobs wanted, by ticket.
  absl::flat_hash_map<uint64_t, SessionId> jobs_;
  uint64_t next_ticket_ = 1;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_SCHEMAS_H_
