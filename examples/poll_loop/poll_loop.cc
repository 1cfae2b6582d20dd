// SPDX-License-Identifier: MIT
//
// poll-loop: a Switchboard client driven from the application's own poll()
// loop (Threading::kOwnLoop), beside a timer and stdin: the shape of a GUI
// or event-library main loop. The client starts no thread; its handlers and
// callbacks run in Process(), on this program's only thread.
//
//   - serves demo.poll_loop/Echo, which answers with its request;
//   - subscribes to demo.poll_loop.lines and prints each line it receives;
//   - publishes every line read from stdin on demo.poll_loop.lines;
//   - publishes "tick N" on demo.poll_loop.ticks every --interval.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "switchboard/client.h"

namespace {

using switchboard::Client;
using switchboard::ConnectOptions;
using switchboard::Payload;
using switchboard::Service;

constexpr char kService[] = "demo.poll_loop";
constexpr char kLinesTopic[] = "demo.poll_loop.lines";
constexpr char kTicksTopic[] = "demo.poll_loop.ticks";

struct Options {
  std::string address;
  absl::Duration interval = absl::Seconds(1);
  int64_t ticks = 0;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  switchboard::FlagParser flags(
      "poll-loop",
      "A Switchboard client in a plain poll() loop, with no library thread: "
      "serves\ndemo.poll_loop/Echo, prints the lines published on "
      "demo.poll_loop.lines,\npublishes each line of stdin there, and "
      "publishes \"tick N\" on\ndemo.poll_loop.ticks every --interval.");
  flags.AddString("address", &options.address, "ADDRESS",
                  "Broker to connect to: unix:PATH or tcp:127.0.0.1:PORT\n"
                  "                            (empty: $SWITCHBOARD_ADDRESS, "
                  "else the default address)");
  flags.AddDuration("interval", &options.interval, "The timer's period");
  flags.AddInt("ticks", &options.ticks, "N",
               "Exit after N ticks (0: at the end of stdin)");
  flags.set_epilogue(
      "Example, in two terminals:\n"
      "  poll-loop\n"
      "  switchboard call demo.poll_loop Echo hello\n\n"
      "Exit status: 0 at the end (of stdin, or after --ticks), or on SIGINT "
      "or\nSIGTERM; 1 if it cannot connect or the client fails; 2 for a "
      "usage error.\n");
  std::vector<std::string> args = flags.ParseOrExit(argc, argv);
  std::string problem;
  if (!args.empty()) {
    problem = absl::StrCat("unexpected argument '", args[0], "'");
  } else if (options.interval <= absl::ZeroDuration()) {
    problem = "--interval must be positive";
  } else if (options.ticks < 0) {
    problem = "--ticks must not be negative";
  }
  if (!problem.empty()) {
    absl::FPrintF(stderr, "poll-loop: %s (see --help)\n", problem);
    std::exit(2);
  }
  return options;
}

// The "Threads:" line of /proc/self/status.
std::string ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "Threads:")) {
      return std::string(absl::StripAsciiWhitespace(line.substr(8)));
    }
  }
  return "?";
}

int Fail(absl::string_view what, const absl::Status& status) {
  absl::FPrintF(stderr, "poll-loop: %s: %s\n", what, status.ToString());
  return 1;
}

int Run(const Options& options) {
  // SIGINT and SIGTERM arrive as a readable descriptor in the loop.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  const int signal_fd = signalfd(-1, &stop, SFD_CLOEXEC);
  const int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (signal_fd < 0 || timer_fd < 0) {
    return Fail("setting up", absl::ErrnoToStatus(errno, "signalfd/timerfd"));
  }
  const timespec period = absl::ToTimespec(options.interval);
  const itimerspec timer{period, period};
  timerfd_settime(timer_fd, 0, &timer, nullptr);

  ConnectOptions connect;
  connect.client_name = "poll-loop";
  connect.threading = switchboard::Threading::kOwnLoop;
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(options.address, connect);
  if (!client.ok()) return Fail("cannot connect", client.status());

  Service echo(kService);
  echo.AddMethod("Echo",
                 [](const switchboard::CallInfo& call,
                    const Payload& request) -> absl::StatusOr<Payload> {
                   absl::PrintF("poll-loop: Echo from :%d: %s\n", call.caller,
                                request.view());
                   return Payload(std::string(request.view()));
                 });
  if (auto served = (*client)->Serve(std::move(echo)); !served.ok()) {
    return Fail(absl::StrCat("cannot serve ", kService), served.status());
  }
  auto lines = (*client)->Subscribe(
      kLinesTopic, [](const switchboard::Message& message) {
        absl::PrintF("poll-loop: line from :%d: %s\n", message.sender,
                     message.payload.view());
      });
  if (!lines.ok()) return Fail("cannot subscribe", lines.status());
  absl::PrintF(
      "poll-loop: serving %s on %s as :%d; threads in this process: %s\n",
      kService, (*client)->address(), (*client)->connection_id(),
      ThreadCount());
  std::fflush(stdout);

  bool stdin_open = true;
  std::string pending;  // stdin bytes after the last newline
  int64_t ticks = 0;
  while (true) {
    // The client's descriptor, with the timeout it asks for, beside the
    // program's own descriptors: one poll() for everything.
    std::vector<pollfd> fds = {{(*client)->fd(), POLLIN, 0},
                               {signal_fd, POLLIN, 0},
                               {timer_fd, POLLIN, 0}};
    if (stdin_open) fds.push_back({STDIN_FILENO, POLLIN, 0});
    const absl::Duration wait = (*client)->ProcessTimeout();
    const int timeout_ms =
        wait == absl::InfiniteDuration()
            ? -1
            : static_cast<int>(absl::ToInt64Milliseconds(wait)) + 1;
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
      return Fail("poll", absl::ErrnoToStatus(errno, "poll"));
    }
    if (fds[1].revents != 0) break;  // SIGINT or SIGTERM
    if (fds[2].revents != 0) {
      uint64_t expirations = 0;
      if (::read(timer_fd, &expirations, sizeof expirations) > 0) {
        ++ticks;
        absl::Status published = (*client)->Publish(
            kTicksTopic, Payload(absl::StrCat("tick ", ticks)));
        if (!published.ok()) return Fail("cannot publish", published);
        absl::PrintF("poll-loop: tick %d\n", ticks);
        if (options.ticks > 0 && ticks >= options.ticks) break;
      }
    }
    if (stdin_open && fds[3].revents != 0) {
      char buffer[4096];
      const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (n <= 0) {
        stdin_open = false;
        if (options.ticks == 0) break;
      } else {
        pending.append(buffer, static_cast<size_t>(n));
        for (size_t end; (end = pending.find('\n')) != std::string::npos;) {
          absl::Status published =
              (*client)->Publish(kLinesTopic, Payload(pending.substr(0, end)));
          if (!published.ok()) return Fail("cannot publish", published);
          pending.erase(0, end + 1);
        }
      }
    }
    // Runs the handlers and callbacks that are due and writes what the
    // publishes above queued; never waits.
    if (absl::Status processed = (*client)->Process(); !processed.ok()) {
      return Fail("Process", processed);
    }
    std::fflush(stdout);
  }
  // What the last publishes queued goes out before the client closes.
  (*client)->Process().IgnoreError();
  absl::PrintF("poll-loop: done after %d ticks\n", ticks);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(ParseOptions(argc, argv)); }
