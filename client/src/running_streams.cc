// SPDX-License-Identifier: MIT
#include "client/src/running_streams.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"

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
  Running& entry = running_[id];
  entry.writer = std::move(writer);
  // Started under the lock, so the thread's Finished() finds its entry.
  entry.thread = std::thread([this, id, body = std::move(body)]() mutable {
    body();
    body = nullptr;  // its captures go before the thread is joined
    Finished(id);
  });
  return absl::OkStatus();
}

void RunningStreams::Finished(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(id);
  SB_CHECK(it != running_.end()) << "unknown stream " << id;
  finished_.push_back(std::move(it->second.thread));
  running_.erase(it);
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
  auto it = running_.find(id);
  if (it == running_.end()) return false;
  it->second.writer->Grant(grant);
  return true;
}

bool RunningStreams::Cancel(uint64_t id, bool from_broker) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(id);
  if (it == running_.end()) return false;
  it->second.writer->Cancel(from_broker);
  return true;
}

void RunningStreams::FailAll(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, entry] : running_) entry.writer->Fail(status);
}

void RunningStreams::StopAll(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    for (auto& [id, entry] : running_) entry.writer->Fail(status);
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
