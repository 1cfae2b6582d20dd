// SPDX-License-Identifier: MIT
#include "client/src/running_streams.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "client/src/library_thread.h"

namespace switchboard::client {

RunningStreams::RunningStreams(int max_running) : max_running_(max_running) {}

RunningStreams::~RunningStreams() {
  absl::MutexLock lock(&mu_);
  SB_CHECK(running_.empty() && finished_.empty())
      << "stream threads still running";
}

absl::Status RunningStreams::Start(uint64_t id,
                                   std::shared_ptr<StreamWriter::Impl> writer,
                                   absl::AnyInvocable<void()> body) {
  JoinFinished();
  absl::MutexLock lock(&mu_);
  if (stopped_) return absl::UnavailableError("the client is closing");
  if (static_cast<int>(running_.size()) >= max_running_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the callee already runs ", max_running_,
                     " streams, its most at once"));
  }
  const uint64_t key = ++last_key_;
  Running& entry = running_[key];
  entry.call_id = id;
  entry.writer = std::move(writer);
  by_call_[id] = key;
  // Started under the lock, so the thread's Finished() finds its entry.
  absl::Status started = StartLibraryThread(
      "a stream handler's thread", kStreamThreadName, entry.thread,
      [this, key, body = std::move(body)]() mutable {
        body();
        body = nullptr;  // its captures go before the thread is joined
        Finished(key);
      });
  if (!started.ok()) {
    by_call_.erase(id);
    running_.erase(key);
  }
  return started;
}

void RunningStreams::Finished(uint64_t key) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(key);
  SB_CHECK(it != running_.end()) << "unknown stream " << key;
  if (auto call = by_call_.find(it->second.call_id);
      call != by_call_.end() && call->second == key) {
    by_call_.erase(call);
  }
  finished_.push_back(std::move(it->second.thread));
  running_.erase(it);
}

RunningStreams::Running* RunningStreams::FindLocked(uint64_t id) {
  auto call = by_call_.find(id);
  if (call == by_call_.end()) return nullptr;
  auto it = running_.find(call->second);
  return it == running_.end() ? nullptr : &it->second;
}

void RunningStreams::JoinFinished() {
  std::vector<std::thread> finished;
  {
    absl::MutexLock lock(&mu_);
    finished.swap(finished_);
  }
  for (std::thread& thread : finished) thread.join();
}

bool RunningStreams::Grant(uint64_t id, uint32_t grant) {
  absl::MutexLock lock(&mu_);
  Running* running = FindLocked(id);
  if (running == nullptr) return false;
  running->writer->Grant(grant);
  return true;
}

bool RunningStreams::Cancel(uint64_t id, bool from_broker) {
  absl::MutexLock lock(&mu_);
  Running* running = FindLocked(id);
  if (running == nullptr) return false;
  running->writer->Cancel(from_broker);
  return true;
}

void RunningStreams::FailAll(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  for (auto& [key, entry] : running_) entry.writer->Fail(status);
  by_call_.clear();
}

void RunningStreams::StopAll(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    for (auto& [key, entry] : running_) entry.writer->Fail(status);
    by_call_.clear();
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return running_.empty();
    };
    mu_.Await(absl::Condition(&idle));
  }
  JoinFinished();
}

int RunningStreams::running() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(running_.size());
}

}  // namespace switchboard::client
