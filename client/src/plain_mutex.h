// SPDX-License-Identifier: MIT
//
// PlainMutex: a std::mutex with Abseil's thread-safety annotations, for
// locks taken once per message. absl::Mutex costs more per lock where it is
// built with deadlock detection on (Debian's Abseil: every lock walks its
// lock graph), which a publisher paying one lock per message measurably
// feels. Waiting goes through std::condition_variable_any, which takes a
// PlainMutex as it is (lock() / unlock()).
#ifndef SWITCHBOARD_CLIENT_SRC_PLAIN_MUTEX_H_
#define SWITCHBOARD_CLIENT_SRC_PLAIN_MUTEX_H_

#include <mutex>

#include "absl/base/thread_annotations.h"

namespace switchboard::client {

class ABSL_LOCKABLE PlainMutex {
 public:
  PlainMutex() = default;
  PlainMutex(const PlainMutex&) = delete;
  PlainMutex& operator=(const PlainMutex&) = delete;

  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds a PlainMutex for its scope.
class ABSL_SCOPED_LOCKABLE PlainMutexLock {
 public:
  explicit PlainMutexLock(PlainMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_->lock();
  }
  ~PlainMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->unlock(); }
  PlainMutexLock(const PlainMutexLock&) = delete;
  PlainMutexLock& operator=(const PlainMutexLock&) = delete;

 private:
  PlainMutex* const mu_;
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_PLAIN_MUTEX_H_
