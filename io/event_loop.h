// SPDX-License-Identifier: MIT
//
// EventLoop: the single-threaded epoll loop the broker runs on (and that the
// client library's I/O thread can run on). It dispatches readiness of watched
// fds, runs timers kept in a min-heap (the epoll_wait timeout comes from the
// earliest one, so arming or cancelling a timer costs no syscall), runs
// functions posted from other threads, calls an "after events" hook once per
// iteration, and frees objects handed to DeleteSoon() at the end of the
// iteration.
//
// One iteration, in this order:
//   1. epoll_wait, without a timeout: timers wake it through a timerfd that
//      is set to the earliest deadline, and set again only when that moves
//      earlier, so most iterations and most timers cost no timer syscall
//      (and no kernel timer armed per wait, which is costly on a VM);
//   2. fd callbacks, in the order epoll reported them (posted functions run
//      here too, when the loop's wake-up eventfd is among them);
//   3. timers whose deadline has passed;
//   4. the after-events hook (the broker flushes every session's output
//      here, so all input of the iteration is handled before any output);
//   5. deferred deletes.
//
// Watches are level-triggered: a callback that leaves data unread (to cap
// the work done for one fd per wakeup) is called again next iteration.
//
// Threads: everything but Post() and Stop() must be called on the loop
// thread, which is the thread that created the loop until Run() is called,
// then the thread running Run(). Debug builds check this.
#ifndef SWITCHBOARD_IO_EVENT_LOOP_H_
#define SWITCHBOARD_IO_EVENT_LOOP_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/fd.h"

namespace switchboard::io {

class EventLoop {
 public:
  // Called with the epoll event bits (EPOLLIN, EPOLLOUT, EPOLLHUP, ...).
  using FdCallback = absl::AnyInvocable<void(uint32_t events)>;

  // A registered fd. Owned by the object that owns the fd: destroying the
  // Watch (or reset()) removes the fd from epoll, so declare it after the Fd
  // it watches and it goes first. The loop must outlive every Watch. A Watch
  // may be destroyed inside its own callback.
  class Watch {
   public:
    Watch() = default;
    Watch(Watch&& other) noexcept;
    Watch& operator=(Watch&& other) noexcept;
    ~Watch() { reset(); }

    // Replaces the event mask (EPOLLIN, EPOLLOUT, ...); no syscall when it is
    // unchanged. Errors from epoll_ctl as ErrnoToStatus.
    absl::Status SetEvents(uint32_t events);
    uint32_t events() const;
    bool active() const { return state_ != nullptr; }
    // Stops watching now. The callback is not called again.
    void reset();

   private:
    friend class EventLoop;
    struct State {
      int fd;
      uint32_t events;
      FdCallback callback;
      bool live = true;  // false once removed; epoll may still report it
    };
    Watch(EventLoop* loop, std::unique_ptr<State> state);

    EventLoop* loop_ = nullptr;
    std::unique_ptr<State> state_;
  };

  // A pending timer. Destroying it or Cancel() cancels it; both are no-ops
  // once it has run. The loop must outlive every Timer.
  class Timer {
   public:
    Timer() = default;
    Timer(Timer&& other) noexcept;
    Timer& operator=(Timer&& other) noexcept;
    ~Timer() { Cancel(); }

    void Cancel();
    // True until the timer has run or been cancelled.
    bool pending() const;

   private:
    friend class EventLoop;
    Timer(EventLoop* loop, uint64_t id) : loop_(loop), id_(id) {}

    EventLoop* loop_ = nullptr;
    uint64_t id_ = 0;
  };

  // Errors: from epoll_create1 or eventfd (e.g. too many open files).
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Starts watching `fd` (which the caller owns and keeps open while the
  // Watch lives) for `events`. Errors from epoll_ctl as ErrnoToStatus.
  absl::StatusOr<Watch> WatchFd(int fd, uint32_t events, FdCallback callback);

  // Runs `callback` once, at the first iteration at or after `deadline`
  // (a Now() value). Timers with equal deadlines run in the order armed.
  [[nodiscard]] Timer RunAt(absl::Time deadline,
                            absl::AnyInvocable<void()> callback);
  [[nodiscard]] Timer RunAfter(absl::Duration delay,
                               absl::AnyInvocable<void()> callback) {
    return RunAt(Now() + delay, std::move(callback));
  }

  // Runs `fn` on the loop thread during a later iteration. Thread-safe;
  // functions posted from one thread run in the order posted.
  void Post(absl::AnyInvocable<void()> fn);

  // Takes `object` and destroys it at the end of the current iteration (or
  // the next one, when called outside Run()), after every callback of the
  // iteration has returned: the way to destroy an object from inside its own
  // callback.
  template <typename T>
  void DeleteSoon(std::unique_ptr<T> object) {
    if (object == nullptr) return;
    deferred_deletes_.emplace_back(object.release(),
                                   [](void* p) { delete static_cast<T*>(p); });
  }

  // Called once per iteration after all fd callbacks and timers (step 4).
  void SetAfterEventsHook(absl::AnyInvocable<void()> hook) {
    after_events_ = std::move(hook);
  }

  // Runs iterations until Stop(). Errors: epoll_wait failing with anything
  // but EINTR. Returns at once (with OK) if Stop() was called before.
  absl::Status Run();
  // Makes Run() return after the current iteration. Callable from any thread
  // and from a signal handler (an atomic store and a write to an eventfd).
  void Stop();

  // The monotonic clock, as an absl::Time (compare it only with other Now()
  // values), read once per iteration when epoll_wait returns.
  absl::Time Now() const { return now_; }

  // Debug builds: crash unless called on the loop thread.
  void AssertOnLoopThread() const;

  size_t pending_timers_for_test() const { return timer_callbacks_.size(); }

 private:
  struct TimerEntry {
    absl::Time deadline;
    uint64_t id;  // also the arming order: ids only grow
  };
  struct LaterDeadline {
    bool operator()(const TimerEntry& a, const TimerEntry& b) const {
      return a.deadline != b.deadline ? a.deadline > b.deadline : a.id > b.id;
    }
  };

  EventLoop(Fd epoll_fd, Fd wake_fd, Fd timer_fd);
  absl::Status RunOnce();
  // Sets the timerfd to the earliest deadline if that is earlier than what
  // it is set to. Returns the epoll_wait timeout: -1, or a fallback computed
  // from the deadline if the timerfd could not be set.
  int ArmTimerFd();
  int TimeoutMillis() const;
  void RunDueTimers();
  void RunPosted();
  void FreeDeferred();
  void Unwatch(std::unique_ptr<Watch::State> state);
  void CancelTimer(uint64_t id);
  void CompactTimerHeap();
  static absl::Time MonotonicNow();

  Fd epoll_fd_;
  Fd wake_fd_;
  Fd timer_fd_;
  // When timer_fd_ fires; InfiniteFuture() when it is not set. It may be
  // earlier than every live timer (the one it was set for was cancelled):
  // that costs one spare wake-up, after which it is set again.
  absl::Time timer_fd_deadline_ = absl::InfiniteFuture();
  std::thread::id loop_thread_;
  std::atomic<bool> stop_{false};
  absl::Time now_;

  // Timers: a min-heap of (deadline, id) and the callbacks by id. Cancelling
  // erases the callback only; its heap entry is skipped when it surfaces, and
  // the heap is rebuilt when dead entries outnumber the live ones.
  std::vector<TimerEntry> timer_heap_;
  absl::flat_hash_map<uint64_t, absl::AnyInvocable<void()>> timer_callbacks_;
  uint64_t next_timer_id_ = 1;

  absl::Mutex posted_mutex_;
  std::vector<absl::AnyInvocable<void()>> posted_
      ABSL_GUARDED_BY(posted_mutex_);

  absl::AnyInvocable<void()> after_events_;
  std::vector<std::unique_ptr<void, void (*)(void*)>> deferred_deletes_;
  // Watches removed during this iteration: epoll may still have reported
  // their fd in the current batch, so their state lives until it ends.
  std::vector<std::unique_ptr<Watch::State>> retired_watches_;
  // Declared last: destroyed first, while retired_watches_ still exists.
  Watch wake_watch_;
  Watch timer_watch_;
};

}  // namespace switchboard::io

#endif  // SWITCHBOARD_IO_EVENT_LOOP_H_
