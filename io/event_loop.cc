// SPDX-License-Identifier: MIT
#include "io/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "base/log.h"

namespace switchboard::io {
namespace {

// Events taken from the kernel per epoll_wait; more simply wait for the next
// iteration (level-triggered, so nothing is lost).
constexpr int kMaxEventsPerWait = 256;

}  // namespace

// --- Watch ---

EventLoop::Watch::Watch(EventLoop* loop, std::unique_ptr<State> state)
    : loop_(loop), state_(std::move(state)) {}

EventLoop::Watch::Watch(Watch&& other) noexcept
    : loop_(std::exchange(other.loop_, nullptr)),
      state_(std::move(other.state_)) {}

EventLoop::Watch& EventLoop::Watch::operator=(Watch&& other) noexcept {
  if (this != &other) {
    reset();
    loop_ = std::exchange(other.loop_, nullptr);
    state_ = std::move(other.state_);
  }
  return *this;
}

void EventLoop::Watch::reset() {
  if (state_ != nullptr) loop_->Unwatch(std::move(state_));
  loop_ = nullptr;
}

uint32_t EventLoop::Watch::events() const {
  return state_ != nullptr ? state_->events : 0;
}

absl::Status EventLoop::Watch::SetEvents(uint32_t events) {
  if (state_ == nullptr) {
    return absl::FailedPreconditionError("SetEvents on an inactive watch");
  }
  loop_->AssertOnLoopThread();
  if (state_->events == events) return absl::OkStatus();
  epoll_event event{};
  event.events = events;
  event.data.ptr = state_.get();
  if (::epoll_ctl(loop_->epoll_fd_.get(), EPOLL_CTL_MOD, state_->fd, &event) !=
      0) {
    return absl::ErrnoToStatus(errno, "epoll_ctl(EPOLL_CTL_MOD)");
  }
  state_->events = events;
  return absl::OkStatus();
}

// --- Timer ---

EventLoop::Timer::Timer(Timer&& other) noexcept
    : loop_(std::exchange(other.loop_, nullptr)),
      id_(std::exchange(other.id_, 0)) {}

EventLoop::Timer& EventLoop::Timer::operator=(Timer&& other) noexcept {
  if (this != &other) {
    Cancel();
    loop_ = std::exchange(other.loop_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void EventLoop::Timer::Cancel() {
  if (loop_ != nullptr) loop_->CancelTimer(id_);
  loop_ = nullptr;
  id_ = 0;
}

bool EventLoop::Timer::pending() const {
  return loop_ != nullptr && loop_->timer_callbacks_.contains(id_);
}

// --- EventLoop ---

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  Fd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd) return absl::ErrnoToStatus(errno, "epoll_create1");
  Fd wake_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_fd) return absl::ErrnoToStatus(errno, "eventfd");
  Fd timer_fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer_fd) return absl::ErrnoToStatus(errno, "timerfd_create");
  const int wake = wake_fd.get();
  const int timer = timer_fd.get();
  std::unique_ptr<EventLoop> loop(new EventLoop(
      std::move(epoll_fd), std::move(wake_fd), std::move(timer_fd)));
  absl::StatusOr<Watch> watch =
      loop->WatchFd(wake, EPOLLIN, [loop = loop.get()](uint32_t) {
        uint64_t count;
        // Resets the eventfd counter; EAGAIN only means another read won.
        while (::read(loop->wake_fd_.get(), &count, sizeof count) < 0 &&
               errno == EINTR) {
        }
        loop->RunPosted();
      });
  if (!watch.ok()) return watch.status();
  loop->wake_watch_ = *std::move(watch);
  // The due timers themselves run in RunDueTimers(); this only notes that
  // the timerfd is no longer set.
  watch = loop->WatchFd(timer, EPOLLIN, [loop = loop.get()](uint32_t) {
    uint64_t expirations;
    while (::read(loop->timer_fd_.get(), &expirations, sizeof expirations) <
               0 &&
           errno == EINTR) {
    }
    loop->timer_fd_deadline_ = absl::InfiniteFuture();
  });
  if (!watch.ok()) return watch.status();
  loop->timer_watch_ = *std::move(watch);
  return loop;
}

EventLoop::EventLoop(Fd epoll_fd, Fd wake_fd, Fd timer_fd)
    : epoll_fd_(std::move(epoll_fd)),
      wake_fd_(std::move(wake_fd)),
      timer_fd_(std::move(timer_fd)),
      loop_thread_(std::this_thread::get_id()),
      now_(MonotonicNow()) {}

EventLoop::~EventLoop() {
  wake_watch_.reset();
  timer_watch_.reset();
  // Deferred objects may own watches and timers of this loop: free them while
  // the loop is still whole.
  FreeDeferred();
  retired_watches_.clear();
}

void EventLoop::AssertOnLoopThread() const {
#ifndef NDEBUG
  SB_CHECK(std::this_thread::get_id() == loop_thread_)
      << "EventLoop used from a thread other than its loop thread";
#endif
}

absl::Time EventLoop::MonotonicNow() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::TimeFromTimespec(ts);
}

absl::StatusOr<EventLoop::Watch> EventLoop::WatchFd(int fd, uint32_t events,
                                                    FdCallback callback) {
  AssertOnLoopThread();
  auto state = std::make_unique<Watch::State>(
      Watch::State{fd, events, std::move(callback)});
  epoll_event event{};
  event.events = events;
  event.data.ptr = state.get();
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    return absl::ErrnoToStatus(errno, "epoll_ctl(EPOLL_CTL_ADD)");
  }
  return Watch(this, std::move(state));
}

void EventLoop::Unwatch(std::unique_ptr<Watch::State> state) {
  AssertOnLoopThread();
  // The fd is still open here (the Watch goes before its Fd), so the kernel
  // entry is removed explicitly rather than by close().
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, state->fd, nullptr);
  state->live = false;
  retired_watches_.push_back(std::move(state));
}

EventLoop::Timer EventLoop::RunAt(absl::Time deadline,
                                  absl::AnyInvocable<void()> callback) {
  AssertOnLoopThread();
  const uint64_t id = next_timer_id_++;
  timer_callbacks_.emplace(id, std::move(callback));
  timer_heap_.push_back(TimerEntry{deadline, id});
  std::push_heap(timer_heap_.begin(), timer_heap_.end(), LaterDeadline());
  return Timer(this, id);
}

void EventLoop::CancelTimer(uint64_t id) {
  AssertOnLoopThread();
  if (timer_callbacks_.erase(id) == 0) return;
  // Cancelled entries stay in the heap until they surface; rebuild it when
  // they dominate, so a steady arm-and-cancel pattern keeps it small.
  if (timer_heap_.size() > 64 &&
      timer_heap_.size() > 2 * timer_callbacks_.size()) {
    CompactTimerHeap();
  }
}

void EventLoop::CompactTimerHeap() {
  std::erase_if(timer_heap_, [this](const TimerEntry& entry) {
    return !timer_callbacks_.contains(entry.id);
  });
  std::make_heap(timer_heap_.begin(), timer_heap_.end(), LaterDeadline());
}

int EventLoop::ArmTimerFd() {
  if (timer_heap_.empty()) return -1;  // a set timerfd just wakes us once
  const absl::Time deadline = timer_heap_.front().deadline;
  if (deadline >= timer_fd_deadline_) return -1;
  itimerspec spec{};
  spec.it_value = absl::ToTimespec(deadline);
  // All zeros would disarm it; a deadline that has passed fires at once.
  if (spec.it_value.tv_sec <= 0 && spec.it_value.tv_nsec <= 0) {
    spec.it_value = timespec{0, 1};
  }
  if (::timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) !=
      0) {
    SB_LOG(ERROR) << "timerfd_settime: " << std::strerror(errno)
                  << "; using an epoll_wait timeout instead";
    return TimeoutMillis();
  }
  timer_fd_deadline_ = deadline;
  return -1;
}

int EventLoop::TimeoutMillis() const {
  // The top may be a cancelled entry: that costs one early wake-up, which
  // pops it.
  if (timer_heap_.empty()) return -1;
  const absl::Duration wait = timer_heap_.front().deadline - MonotonicNow();
  if (wait <= absl::ZeroDuration()) return 0;
  // Round up: waking a little late is fine, waking early costs an iteration.
  const int64_t ms = absl::ToInt64Milliseconds(wait + absl::Microseconds(999));
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

void EventLoop::RunDueTimers() {
  // Timers armed while this runs wait for the next iteration, so a callback
  // that re-arms itself at Now() cannot keep the loop here forever.
  const uint64_t last_id = next_timer_id_ - 1;
  while (!timer_heap_.empty()) {
    const TimerEntry top = timer_heap_.front();
    // The usual case, every iteration: nothing due, decided without a
    // lookup. (A cancelled entry on top waits for its deadline too.)
    if (top.deadline > now_ || top.id > last_id) return;
    std::pop_heap(timer_heap_.begin(), timer_heap_.end(), LaterDeadline());
    timer_heap_.pop_back();
    auto it = timer_callbacks_.find(top.id);
    if (it == timer_callbacks_.end()) continue;  // cancelled
    absl::AnyInvocable<void()> callback = std::move(it->second);
    timer_callbacks_.erase(it);
    callback();
  }
}

void EventLoop::Post(absl::AnyInvocable<void()> fn) {
  bool was_empty;
  {
    absl::MutexLock lock(&posted_mutex_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  // One wake-up per batch: later posts find the queue non-empty.
  if (was_empty) {
    const uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof one);
    (void)ignored;  // EAGAIN: the counter is saturated, a wake-up is pending
  }
}

void EventLoop::RunPosted() {
  std::vector<absl::AnyInvocable<void()>> batch;
  {
    absl::MutexLock lock(&posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::Stop() {
  stop_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof one);
  (void)ignored;
}

void EventLoop::FreeDeferred() {
  // Destructors may defer more deletes; keep going until none are left.
  while (!deferred_deletes_.empty()) {
    std::vector<std::unique_ptr<void, void (*)(void*)>> batch;
    batch.swap(deferred_deletes_);
  }
}

absl::Status EventLoop::Run() {
  loop_thread_ = std::this_thread::get_id();
  absl::Status status;
  while (!stop_.load(std::memory_order_acquire)) {
    status = RunOnce();
    if (!status.ok()) break;
  }
  stop_.store(false, std::memory_order_relaxed);
  return status;
}

absl::Status EventLoop::RunOnce() {
  // A hook or callback of the previous iteration may have left deferred
  // deletes or posted work; those never need a timeout of their own because
  // deletes run below and posts wrote the eventfd.
  epoll_event events[kMaxEventsPerWait];
  const int n =
      ::epoll_wait(epoll_fd_.get(), events, kMaxEventsPerWait, ArmTimerFd());
  if (n < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "epoll_wait");
  now_ = MonotonicNow();
  for (int i = 0; i < n; ++i) {
    auto* state = static_cast<Watch::State*>(events[i].data.ptr);
    // A callback earlier in this batch may have removed this watch.
    if (state->live) state->callback(events[i].events);
  }
  RunDueTimers();
  if (after_events_) after_events_();
  FreeDeferred();
  retired_watches_.clear();
  return absl::OkStatus();
}

}  // namespace switchboard::io
