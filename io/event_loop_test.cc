// SPDX-License-Identifier: MIT
#include "io/event_loop.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "io/signal_watch.h"

namespace switchboard::io {
namespace {

std::unique_ptr<EventLoop> NewLoop() {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  EXPECT_TRUE(loop.ok()) << loop.status();
  return *std::move(loop);
}

// Stops `loop` after `limit` so a broken test fails instead of hanging.
EventLoop::Timer Watchdog(EventLoop& loop,
                          absl::Duration limit = absl::Seconds(10)) {
  return loop.RunAfter(limit, [&loop] {
    ADD_FAILURE() << "watchdog fired";
    loop.Stop();
  });
}

TEST(EventLoopTest, TimersRunInDeadlineOrderThenArmingOrder) {
  auto loop = NewLoop();
  std::vector<std::string> ran;
  const absl::Time base = loop->Now();
  auto c =
      loop->RunAt(base + absl::Milliseconds(30), [&] { ran.push_back("c"); });
  auto a =
      loop->RunAt(base + absl::Milliseconds(10), [&] { ran.push_back("a"); });
  auto b1 =
      loop->RunAt(base + absl::Milliseconds(20), [&] { ran.push_back("b1"); });
  auto b2 =
      loop->RunAt(base + absl::Milliseconds(20), [&] { ran.push_back("b2"); });
  auto stop = loop->RunAt(base + absl::Milliseconds(40), [&] { loop->Stop(); });
  auto dog = Watchdog(*loop);
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(ran, (std::vector<std::string>{"a", "b1", "b2", "c"}));
  EXPECT_GE(loop->Now() - base, absl::Milliseconds(40));
  EXPECT_FALSE(a.pending());
}

TEST(EventLoopTest, CancelledTimerNeverRuns) {
  auto loop = NewLoop();
  bool ran = false;
  EventLoop::Timer timer =
      loop->RunAfter(absl::Milliseconds(5), [&] { ran = true; });
  EXPECT_TRUE(timer.pending());
  timer.Cancel();
  EXPECT_FALSE(timer.pending());
  {
    EventLoop::Timer dropped =
        loop->RunAfter(absl::Milliseconds(5), [&] { ran = true; });
  }  // destroying the handle cancels too
  auto stop = loop->RunAfter(absl::Milliseconds(20), [&] { loop->Stop(); });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_FALSE(ran);
  EXPECT_EQ(loop->pending_timers_for_test(), 0u);
}

TEST(EventLoopTest, ManyArmedAndCancelledTimersDoNotAccumulate) {
  auto loop = NewLoop();
  for (int i = 0; i < 10000; ++i) {
    EventLoop::Timer timer = loop->RunAfter(absl::Hours(1), [] {});
  }
  EXPECT_EQ(loop->pending_timers_for_test(), 0u);
}

TEST(EventLoopTest, TimerArmedAtNowInsideACallbackWaitsForTheNextIteration) {
  auto loop = NewLoop();
  int runs = 0;
  int iterations = 0;
  loop->SetAfterEventsHook([&] { ++iterations; });
  EventLoop::Timer again;
  std::function<void()> rearm = [&] {
    if (++runs == 3) {
      loop->Stop();
      return;
    }
    again = loop->RunAt(loop->Now(), rearm);
  };
  EventLoop::Timer first = loop->RunAt(loop->Now(), rearm);
  auto dog = Watchdog(*loop);
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(runs, 3);
  EXPECT_GE(iterations, 3);
}

TEST(EventLoopTest, PostFromAnotherThreadRunsOnTheLoopInOrder) {
  auto loop = NewLoop();
  std::vector<int> seen;
  std::thread::id loop_thread;
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i) {
      loop->Post([&, i] {
        seen.push_back(i);
        loop_thread = std::this_thread::get_id();
        if (i == 99) loop->Stop();
      });
    }
  });
  auto dog = Watchdog(*loop);
  ASSERT_TRUE(loop->Run().ok());
  poster.join();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_EQ(loop_thread, std::this_thread::get_id());
}

TEST(EventLoopTest, StopBeforeRunReturnsAtOnce) {
  auto loop = NewLoop();
  loop->Stop();
  EXPECT_TRUE(loop->Run().ok());
}

struct Counted {
  explicit Counted(int* counter) : deleted(counter) {}
  ~Counted() { ++*deleted; }
  int* deleted;
};

TEST(EventLoopTest, DeleteSoonFreesAfterTheIterationsHook) {
  auto loop = NewLoop();
  int deleted = 0;
  int deleted_when_hook_ran = -1;
  loop->SetAfterEventsHook([&] {
    if (deleted_when_hook_ran < 0) deleted_when_hook_ran = deleted;
  });
  loop->Post([&] {
    loop->DeleteSoon(std::make_unique<Counted>(&deleted));
    EXPECT_EQ(deleted, 0);
    loop->Stop();
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(deleted_when_hook_ran, 0);
  EXPECT_EQ(deleted, 1);
}

TEST(EventLoopTest, DeleteSoonOutsideRunIsFreedByTheDestructor) {
  int deleted = 0;
  {
    auto loop = NewLoop();
    loop->DeleteSoon(std::make_unique<Counted>(&deleted));
  }
  EXPECT_EQ(deleted, 1);
}

class Pipe {
 public:
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
  void Write(absl::string_view bytes) {
    EXPECT_EQ(::write(write_end.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }
  Fd read_end;
  Fd write_end;
};

TEST(EventLoopTest, WatchReportsReadableFdUntilDrained) {
  auto loop = NewLoop();
  Pipe pipe;
  std::string got;
  int calls = 0;
  absl::StatusOr<EventLoop::Watch> watch =
      loop->WatchFd(pipe.read_end.get(), EPOLLIN, [&](uint32_t events) {
        EXPECT_TRUE(events & EPOLLIN);
        ++calls;
        char c;
        // One byte per wakeup: level-triggered, so the rest comes next time.
        if (::read(pipe.read_end.get(), &c, 1) == 1) got.push_back(c);
        if (got == "abc") loop->Stop();
      });
  ASSERT_TRUE(watch.ok()) << watch.status();
  pipe.Write("abc");
  auto dog = Watchdog(*loop);
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(got, "abc");
  EXPECT_EQ(calls, 3);
}

TEST(EventLoopTest, WatchDestroyedInsideItsOwnCallbackIsSafe) {
  auto loop = NewLoop();
  Pipe first;
  Pipe second;
  int first_calls = 0;
  int second_calls = 0;
  auto first_watch = std::make_unique<EventLoop::Watch>();
  auto second_watch = std::make_unique<EventLoop::Watch>();
  // Each callback destroys both watches: whichever epoll reports second in
  // the same batch must not run.
  auto destroy_both = [&] {
    first_watch.reset();
    second_watch.reset();
  };
  *first_watch = *loop->WatchFd(first.read_end.get(), EPOLLIN, [&](uint32_t) {
    ++first_calls;
    destroy_both();
  });
  *second_watch = *loop->WatchFd(second.read_end.get(), EPOLLIN, [&](uint32_t) {
    ++second_calls;
    destroy_both();
  });
  first.Write("x");
  second.Write("y");
  EventLoop::Timer stop =
      loop->RunAfter(absl::Milliseconds(50), [&] { loop->Stop(); });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(first_calls + second_calls, 1);
}

TEST(EventLoopTest, SetEventsSwitchesBetweenReadAndWriteInterest) {
  auto loop = NewLoop();
  Pipe pipe;
  int writable = 0;
  absl::StatusOr<EventLoop::Watch> watch =
      loop->WatchFd(pipe.write_end.get(), 0, [&](uint32_t events) {
        if (events & EPOLLOUT) ++writable;
        loop->Stop();
      });
  ASSERT_TRUE(watch.ok());
  EXPECT_EQ(watch->events(), 0u);
  ASSERT_TRUE(watch->SetEvents(EPOLLOUT).ok());
  auto dog = Watchdog(*loop);
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(writable, 1);
  EXPECT_EQ(watch->events(), static_cast<uint32_t>(EPOLLOUT));
}

TEST(EventLoopTest, AfterEventsHookRunsAfterAllCallbacksOfTheIteration) {
  auto loop = NewLoop();
  Pipe a;
  Pipe b;
  std::vector<std::string> order;
  auto wa = loop->WatchFd(a.read_end.get(), EPOLLIN, [&](uint32_t) {
    char c;
    while (::read(a.read_end.get(), &c, 1) == 1) {
    }
    order.push_back("a");
  });
  auto wb = loop->WatchFd(b.read_end.get(), EPOLLIN, [&](uint32_t) {
    char c;
    while (::read(b.read_end.get(), &c, 1) == 1) {
    }
    order.push_back("b");
  });
  loop->SetAfterEventsHook([&] {
    order.push_back("hook");
    if (order.size() >= 3) loop->Stop();
  });
  a.Write("1");
  b.Write("2");
  auto dog = Watchdog(*loop);
  ASSERT_TRUE(loop->Run().ok());
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[2], "hook");
}

TEST(EventLoopTest, SignalWatchDeliversSignalsOnTheLoop) {
  auto loop = NewLoop();
  int got = 0;
  absl::StatusOr<std::unique_ptr<SignalWatch>> signals =
      SignalWatch::Create(*loop, {SIGUSR1}, [&](int signal) {
        got = signal;
        loop->Stop();
      });
  ASSERT_TRUE(signals.ok()) << signals.status();
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
  auto dog = Watchdog(*loop);
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(got, SIGUSR1);
}

}  // namespace
}  // namespace switchboard::io
