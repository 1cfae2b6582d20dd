// SPDX-License-Identifier: MIT
#include "daemon/server/schema_worker.h"

#include <utility>

namespace switchboard::server {

SchemaWorker::SchemaWorker(io::EventLoop& loop, SessionHook hold,
                           SessionHook release, size_t inline_bytes)
    : loop_(loop),
      hold_(std::move(hold)),
      release_(std::move(release)),
      inline_bytes_(inline_bytes),
      thread_([this] { RunThread(); }) {}

SchemaWorker::~SchemaWorker() {
  {
    absl::MutexLock lock(&shared_->mutex);
    shared_->stop = true;
    shared_->queue.clear();
  }
  thread_.join();
}

void SchemaWorker::Start(core::SessionId session, core::SchemaJob job,
                         Done done) {
  if (job.payload.size() <= inline_bytes_) {
    done(core::SchemaRegistry::Check(job));
    return;
  }
  const uint64_t number = next_number_++;
  ++jobs_threaded_;
  waiting_.emplace(number, Waiting{session, std::move(done)});
  hold_(session);
  absl::MutexLock lock(&shared_->mutex);
  shared_->queue.push_back(Queued{number, std::move(job)});
}

void SchemaWorker::RunThread() {
  Shared& shared = *shared_;
  const std::weak_ptr<Shared> weak = shared_;
  while (true) {
    Queued next;
    {
      absl::MutexLock lock(&shared.mutex);
      shared.mutex.Await(absl::Condition(
          +[](Shared* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mutex) {
            return s->stop || !s->queue.empty();
          },
          &shared));
      if (shared.stop) return;
      next = std::move(shared.queue.front());
      shared.queue.pop_front();
    }
    core::SchemaVerdict verdict = core::SchemaRegistry::Check(next.job);
    // The job's payload and scratch memory go here, off the loop.
    next.job = core::SchemaJob();
    loop_.Post([this, weak, number = next.number,
                verdict = std::move(verdict)]() mutable {
      if (weak.lock() == nullptr) return;  // the worker is gone
      Finish(number, std::move(verdict));
    });
  }
}

void SchemaWorker::Finish(uint64_t number, core::SchemaVerdict verdict) {
  auto it = waiting_.find(number);
  if (it == waiting_.end()) return;
  Waiting waiting = std::move(it->second);
  waiting_.erase(it);
  waiting.done(std::move(verdict));
  release_(waiting.session);
}

}  // namespace switchboard::server
