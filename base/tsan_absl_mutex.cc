// SPDX-License-Identifier: MIT
//
// ThreadSanitizer builds only (SWITCHBOARD_TSAN): tells ThreadSanitizer what
// absl::Mutex and absl::CondVar do.
//
// Abseil reports its locks to ThreadSanitizer itself, but only when Abseil is
// compiled with -fsanitize=thread. The system's Abseil is not: its lock and
// unlock are atomics and futex calls that ThreadSanitizer never sees, so every
// access to data guarded by an absl::Mutex would look like a race. This file,
// linked into every executable of the ThreadSanitizer build, defines the
// Mutex and CondVar functions that take, release or wait on a lock. Being in
// the executable, these definitions come first in symbol lookup, so they win
// over the shared library's, both for our code and for Abseil's own calls
// (absl::Notification locks through the same functions). Each reports to
// ThreadSanitizer the way Abseil's own annotations do (the
// __tsan_mutex_* interface) and calls the library's function, found with
// dlsym(RTLD_NEXT).
//
// What ThreadSanitizer then checks: data races on guarded data, and the lock
// order (lock-order-inversion reports). Accesses made by a Condition's
// function while the lock is being taken or released are not checked (they
// run inside the library, under the lock).
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#if !defined(__has_feature) || !__has_feature(thread_sanitizer)
#error "tsan_absl_mutex.cc is only for -fsanitize=thread builds"
#endif

namespace {

#define SWITCHBOARD_STRINGIFY_INNER(x) #x
#define SWITCHBOARD_STRINGIFY(x) SWITCHBOARD_STRINGIFY_INNER(x)

// The library's definition of the member function whose mangled name is
// _ZN4absl<inline namespace><suffix>, e.g. suffix "5Mutex4LockEv". The suffix
// does not depend on the inline namespace's name (substitutions count
// scopes, not letters).
void* RealFunction(const char* suffix) {
  const std::string ns =
      SWITCHBOARD_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name =
      "_ZN4absl" + std::to_string(ns.size()) + ns + std::string(suffix);
  void* function = dlsym(RTLD_NEXT, name.c_str());
  if (function == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found: %s\n", name.c_str(),
                 dlerror());
    std::abort();
  }
  return function;
}

// The library's function as a pointer of type F (the member function's
// parameters with `this` first). Callers keep it in a function-local static.
template <typename F>
F Real(const char* suffix) {
  return reinterpret_cast<F>(RealFunction(suffix));
}

using Mutex = absl::Mutex;
using Condition = absl::Condition;

// The mutexes this thread holds in reader mode, so that Await and
// CondVar::Wait, which release and retake the lock in the mode it is held
// in, report that mode.
thread_local std::vector<const Mutex*> reader_held;

unsigned HeldMode(const Mutex* mu) {
  return std::find(reader_held.begin(), reader_held.end(), mu) !=
                 reader_held.end()
             ? __tsan_mutex_read_lock
             : 0;
}

void ForgetReader(const Mutex* mu) {
  auto it = std::find(reader_held.begin(), reader_held.end(), mu);
  if (it != reader_held.end()) reader_held.erase(it);
}

// Whether this thread is inside one of the functions below. The library's
// functions call each other through the same symbols (LockWhenWithTimeout
// calls LockWhenWithDeadline, CondVar::WaitWithTimeout calls
// WaitWithDeadline): only the outermost call reports to ThreadSanitizer.
thread_local bool inside = false;

class Outermost {
 public:
  Outermost() : nested_(inside) { inside = true; }
  ~Outermost() { inside = nested_; }
  Outermost(const Outermost&) = delete;
  Outermost& operator=(const Outermost&) = delete;

  bool nested() const { return nested_; }

 private:
  const bool nested_;
};

// Wraps a call that takes the lock in `mode` (0 or __tsan_mutex_read_lock).
template <typename Call>
auto Acquire(Mutex* mu, unsigned mode, Call call) {
  Outermost outermost;
  if (outermost.nested()) return call();
  __tsan_mutex_pre_lock(mu, mode);
  auto result = call();
  __tsan_mutex_post_lock(mu, mode, 0);
  if (mode & __tsan_mutex_read_lock) reader_held.push_back(mu);
  return result;
}

// Wraps a call that releases the lock and takes it again before it returns
// (Await, CondVar::Wait): ThreadSanitizer sees an unlock and a lock.
template <typename Call>
auto ReleaseAndRetake(Mutex* mu, Call call) {
  Outermost outermost;
  if (outermost.nested()) return call();
  const unsigned mode = HeldMode(mu);
  __tsan_mutex_pre_unlock(mu, mode);
  auto result = call();
  __tsan_mutex_post_unlock(mu, mode);
  __tsan_mutex_pre_lock(mu, mode);
  __tsan_mutex_post_lock(mu, mode, 0);
  return result;
}

// Wraps a call that releases the lock held in `mode`.
template <typename Call>
void Release(Mutex* mu, unsigned mode, Call call) {
  Outermost outermost;
  if (outermost.nested()) return call();
  if (mode & __tsan_mutex_read_lock) ForgetReader(mu);
  __tsan_mutex_pre_unlock(mu, mode);
  call();
  __tsan_mutex_post_unlock(mu, mode);
}

// What Acquire and ReleaseAndRetake return for a call that returns void.
struct Unit {};

// Wraps a call that may take the lock in `mode` and says whether it did.
template <typename Call>
bool TryAcquire(Mutex* mu, unsigned mode, Call call) {
  Outermost outermost;
  if (outermost.nested()) return call();
  __tsan_mutex_pre_lock(mu, mode | __tsan_mutex_try_lock);
  const bool locked = call();
  __tsan_mutex_post_lock(mu,
                         mode | __tsan_mutex_try_lock |
                             (locked ? 0 : __tsan_mutex_try_lock_failed),
                         0);
  if (locked && (mode & __tsan_mutex_read_lock)) reader_held.push_back(mu);
  return locked;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex4LockEv");
  Acquire(this, 0, [&] { return (real(this), Unit{}); });
}

void Mutex::ReaderLock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  Acquire(this, __tsan_mutex_read_lock, [&] { return (real(this), Unit{}); });
}

bool Mutex::TryLock() {
  static const auto real = Real<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  return TryAcquire(this, 0, [&] { return real(this); });
}

bool Mutex::ReaderTryLock() {
  static const auto real = Real<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  return TryAcquire(this, __tsan_mutex_read_lock, [&] { return real(this); });
}

void Mutex::Unlock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex6UnlockEv");
  Release(this, 0, [&] { real(this); });
}

void Mutex::ReaderUnlock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  Release(this, __tsan_mutex_read_lock, [&] { real(this); });
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      "5Mutex8LockWhenERKNS0_9ConditionE");
  Acquire(this, 0, [&] { return (real(this, cond), Unit{}); });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Acquire(this, __tsan_mutex_read_lock,
          [&] { return (real(this, cond), Unit{}); });
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Acquire(this, 0, [&] { return real(this, cond, timeout); });
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Acquire(this, 0, [&] { return real(this, cond, deadline); });
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Acquire(this, __tsan_mutex_read_lock,
                 [&] { return real(this, cond, timeout); });
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Acquire(this, __tsan_mutex_read_lock,
                 [&] { return real(this, cond, deadline); });
}

void Mutex::Await(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      "5Mutex5AwaitERKNS0_9ConditionE");
  ReleaseAndRetake(this, [&] { return (real(this, cond), Unit{}); });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return ReleaseAndRetake(this, [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return ReleaseAndRetake(this, [&] { return real(this, cond, deadline); });
}

void CondVar::Wait(Mutex* mu) {
  static const auto real =
      Real<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  ReleaseAndRetake(mu, [&] { return (real(this, mu), Unit{}); });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  return ReleaseAndRetake(mu, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  return ReleaseAndRetake(mu, [&] { return real(this, mu, deadline); });
}

ABSL_NAMESPACE_END
}  // namespace absl
