// SPDX-License-Identifier: MIT
//
// SchemaWorker: the server's core::SchemaChecker. A schema job of more
// than `inline_bytes` is checked on one thread of its own, so that
// building a client's descriptors (up to 4 MiB of them, tens of times that
// in time and scratch memory) never stalls the loop; smaller ones are
// checked at once, which costs less than the trip to the thread.
//
// Jobs wait in a queue, in arrival order, and run one at a time: one
// thread bounds the scratch memory to that of one job. Each connection has
// at most one job at a time, since its input is held meanwhile, and the
// job's payload is a frame the connection's quotas already admitted.
//
// Order: `hold(session)` is called when a job of `session` goes to the
// thread; when its verdict is back, on the loop thread (EventLoop::Post()),
// the job's `done` runs and then `release(session)`: the server holds the
// session's input in between, so its later frames reach the router after
// the verdict (schema_checker.h). A verdict for a session that left is
// dropped by the router (SchemaRegistry::FinishJob()).
//
// Destroying the worker (on the loop thread) stops and joins the thread
// after the job it runs; queued jobs and verdicts not yet handed over are
// dropped without calling `done`.
#ifndef SWITCHBOARD_DAEMON_SERVER_SCHEMA_WORKER_H_
#define SWITCHBOARD_DAEMON_SERVER_SCHEMA_WORKER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "daemon/core/ids.h"
#include "daemon/core/schema_checker.h"
#include "daemon/core/schemas.h"
#include "io/event_loop.h"

namespace switchboard::server {

class SchemaWorker final : public core::SchemaChecker {
 public:
  using SessionHook = absl::AnyInvocable<void(core::SessionId)>;

  // Jobs whose payload is at most this are checked at once: building 16
  // KiB of descriptors takes well under a millisecond.
  static constexpr size_t kDefaultInlineBytes = size_t{16} << 10;

  // `loop` must outlive the worker.
  SchemaWorker(io::EventLoop& loop, SessionHook hold, SessionHook release,
               size_t inline_bytes = kDefaultInlineBytes);
  ~SchemaWorker() override;
  SchemaWorker(const SchemaWorker&) = delete;
  SchemaWorker& operator=(const SchemaWorker&) = delete;

  void Start(core::SessionId session, core::SchemaJob job, Done done) override;

  // Jobs handed to the thread whose verdict was not handed over yet.
  size_t jobs_in_flight() const { return waiting_.size(); }
  // Jobs checked on the thread, in all.
  uint64_t jobs_threaded() const { return jobs_threaded_; }

 private:
  struct Queued {
    uint64_t number;
    core::SchemaJob job;
  };
  // What the thread and the loop share; the loop's posted functions reach
  // it through a weak_ptr, so that those run after the worker is gone do
  // nothing.
  struct Shared {
    absl::Mutex mutex;
    std::deque<Queued> queue ABSL_GUARDED_BY(mutex);
    bool stop ABSL_GUARDED_BY(mutex) = false;
  };
  struct Waiting {
    core::SessionId session;
    Done done;
  };

  void RunThread();
  // On the loop thread: hands job `number`'s verdict over.
  void Finish(uint64_t number, core::SchemaVerdict verdict);

  io::EventLoop& loop_;
  SessionHook hold_;
  SessionHook release_;
  const size_t inline_bytes_;
  // Loop thread only.
  absl::flat_hash_map<uint64_t, Waiting> waiting_;
  uint64_t next_number_ = 1;
  uint64_t jobs_threaded_ = 0;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::thread thread_;  // last: started when the rest is ready
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_SCHEMA_WORKER_H_
