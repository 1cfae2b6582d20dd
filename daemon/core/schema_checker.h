// SPDX-License-Identifier: MIT
//
// SchemaChecker: where the router has a schema job checked
// (SchemaRegistry::Check(), docs/ARCHITECTURE.md "Schemas"). Building a
// client's descriptors costs tens of times their bytes in time and memory,
// so the server checks large ones on a thread of its own
// (server::SchemaWorker) while the loop serves everyone else; core stays
// free of threads and only sees this interface. InlineSchemaChecker checks
// at once, for core's tests and fuzzers.
//
// The contract that keeps a session's frames in order: from Start() until
// `done` has run, the server hands the router no further frame of that
// session. Other sessions go on.
#ifndef SWITCHBOARD_DAEMON_CORE_SCHEMA_CHECKER_H_
#define SWITCHBOARD_DAEMON_CORE_SCHEMA_CHECKER_H_

#include <utility>

#include "absl/functional/any_invocable.h"
#include "daemon/core/ids.h"
#include "daemon/core/schemas.h"

namespace switchboard::core {

class SchemaChecker {
 public:
  using Done = absl::AnyInvocable<void(SchemaVerdict)>;

  virtual ~SchemaChecker() = default;

  // Checks `job`, sent by `session`, and calls `done` with the verdict on
  // the loop thread: before Start() returns, or in a later iteration of
  // the loop. `done` is not called if the checker is destroyed first.
  virtual void Start(SessionId session, SchemaJob job, Done done) = 0;
};

// Checks each job at once, on the caller's thread.
class InlineSchemaChecker final : public SchemaChecker {
 public:
  void Start(SessionId, SchemaJob job, Done done) override {
    done(SchemaRegistry::Check(job));
  }
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_SCHEMA_CHECKER_H_
