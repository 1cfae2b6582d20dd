// SPDX-License-Identifier: MIT
//
// RunningStreams: the stream handlers a client is running as a callee, each
// on a thread of its own (a handler waits for the caller's credit, so it
// cannot run on the dispatch thread). Keyed by the broker's request id of
// the call, so CREDIT and CANCEL frames reach the right StreamWriter. At
// most `max_running` at once; StopAll() ends every stream and joins every
// thread, which the client does before it closes.
#ifndef SWITCHBOARD_CLIENT_SRC_RUNNING_STREAMS_H_
#define SWITCHBOARD_CLIENT_SRC_RUNNING_STREAMS_H_

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "client/src/stream_writer.h"

namespace switchboard::client {

class RunningStreams {
 public:
  explicit RunningStreams(int max_running);
  // Requires StopAll() to have run (checked).
  ~RunningStreams();
  RunningStreams(const RunningStreams&) = delete;
  RunningStreams& operator=(const RunningStreams&) = delete;

  // Runs `body` on a new thread for call `id`, whose credit and end
  // `writer` tracks. Errors: kResourceExhausted when max_running streams
  // run already, or when no thread can be started; kUnavailable after
  // StopAll(). `body` is dropped then.
  absl::Status Start(uint64_t id, std::shared_ptr<StreamWriter::Impl> writer,
                     absl::AnyInvocable<void()> body);

  // CREDIT and CANCEL for call `id`; false (and ignored) for a call not
  // running here. `from_broker`: the broker sent the CANCEL (deadline or
  // caller gone).
  bool Grant(uint64_t id, uint32_t grant);
  bool Cancel(uint64_t id, bool from_broker);

  // Fails every running stream's writer with `status` (the connection is
  // lost); the handlers return on their own. Their call ids are forgotten
  // at once: a new connection's calls may reuse them while the old
  // handlers are still returning.
  void FailAll(const absl::Status& status);
  // Fails every writer with `status`, refuses new streams and joins every
  // thread. Must not run on one of the threads it joins.
  void StopAll(const absl::Status& status);

  int running() const;

 private:
  struct Running {
    uint64_t call_id = 0;
    std::shared_ptr<StreamWriter::Impl> writer;
    std::thread thread;
  };
  void Finished(uint64_t key);
  void JoinFinished();
  // The running stream of call `id` on the current connection, or null.
  Running* FindLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int max_running_;
  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // By a key of their own (a counter), since call ids repeat across
  // connections; by_call_ maps the current connection's call ids to keys.
  uint64_t last_key_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, Running> running_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, uint64_t> by_call_ ABSL_GUARDED_BY(mu_);
  // Threads whose handler returned, joined by the next Start() or StopAll().
  std::vector<std::thread> finished_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_RUNNING_STREAMS_H_
